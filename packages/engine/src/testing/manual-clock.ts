/**
 * @module manual-clock
 * A clock tests move by hand. Its timers fire when it is moved past them, and an engine
 * given this clock looks for due work (sleeps, timeouts, cron ticks) each time it moves,
 * so time-based behaviour needs no real waiting.
 */
import type { Clock } from "../ports/clock.ts";

export interface ManualClock extends Clock {
  /** Moves time forward by `ms` and wakes subscribers. */
  advance(ms: number): void;
  /** Sets the time (never backwards) and wakes subscribers. */
  set(at: number | Date): void;
  /** When the earliest pending timer fires (`now()` for one already due), or `undefined` when none is armed. */
  nextTimerAt(): number | undefined;
}

export function createManualClock(start: number | Date = Date.UTC(2026, 0, 1)): ManualClock {
  let now = typeof start === "number" ? start : start.getTime();
  const listeners = new Set<() => void>();
  const timers = new Set<{ at: number; fn: () => void }>();
  let dueNow = 0;
  const notify = () => {
    for (const timer of [...timers].sort((a, b) => a.at - b.at)) {
      if (timer.at > now) continue;
      timers.delete(timer);
      timer.fn();
    }
    for (const listener of listeners) listener();
  };
  return {
    now: () => now,
    setTimer(at, fn) {
      const timer = { at, fn };
      if (at <= now) {
        // due already: fire on the next turn, as a real timer would
        dueNow++;
        let pending = true;
        const settle = () => {
          if (pending) dueNow--;
          pending = false;
        };
        const handle = setImmediate(() => {
          settle();
          fn();
        });
        return () => {
          settle();
          clearImmediate(handle);
        };
      }
      timers.add(timer);
      return () => timers.delete(timer);
    },
    advance(ms) {
      now += ms;
      notify();
    },
    set(at) {
      now = Math.max(now, typeof at === "number" ? at : at.getTime());
      notify();
    },
    nextTimerAt() {
      if (dueNow > 0) return now;
      let next: number | undefined;
      for (const timer of timers) if (next === undefined || timer.at < next) next = timer.at;
      return next;
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
