/** Time as the engine sees it; tests pass a manual clock (see testing/manual-clock.ts). */
export interface Clock {
  now(): number;
  /** Called when time jumps (manual clocks only); the engine then looks for due work. */
  subscribe?(listener: () => void): () => void;
}

export const systemClock: Clock = { now: () => Date.now() };
