/**
 * @module backoff
 * When a failed attempt runs again: exponential from 1 s, doubling per attempt, capped
 * at 24 h, with ±25% jitter so a burst of failures does not retry in lockstep.
 * `scale` shrinks every delay (tests and local development want milliseconds).
 */

export const backoffBaseMs = 1_000;
export const backoffMaxMs = 24 * 60 * 60 * 1000;

export function retryDelayMs(attempt: number, scale = 1, random: () => number = Math.random): number {
  const exponential = Math.min(backoffMaxMs, backoffBaseMs * 2 ** Math.max(0, attempt));
  const jitter = 0.75 + random() * 0.5;
  return Math.round(exponential * jitter * scale);
}

/** A retry time a user asked for (RetryAfterError), clamped to 1 s – 24 h from now, then scaled. */
export function clampRetryAt(retryAt: number, now: number, scale = 1): number {
  const delay = Math.min(backoffMaxMs, Math.max(backoffBaseMs, retryAt - now));
  return now + Math.round(delay * scale);
}
