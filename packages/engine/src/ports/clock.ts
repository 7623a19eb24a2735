/**
 * @module clock
 * Time as the engine sees it, timers included: every wait the engine arms (the next due
 * queue item, the next cron tick, lease heartbeats) goes through the clock, so a test
 * kit's manual clock can run days of sleeps in milliseconds (see testing/manual-clock.ts).
 */
export interface Clock {
  now(): number;
  /** Calls `fn` once the clock reaches `at`. Returns the cancel function. */
  setTimer(at: number, fn: () => void): () => void;
  /** Called when time jumps (manual clocks only); the engine then looks for due work. */
  subscribe?(listener: () => void): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(at, fn) {
    const timer = setTimeout(fn, Math.max(0, at - Date.now()));
    return () => clearTimeout(timer);
  },
};
