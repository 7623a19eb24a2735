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

/**
 * How a served run waits for an app that is not reachable: its own backoff, apart from
 * the function's retries, for up to `budgetMs` from the first failed call.
 */
export interface AppOutagePolicy {
  /** After this long unreachable the run fails. (Default: 24 h.) */
  budgetMs: number;
  /** The first retry's delay, doubling per failed call. (Default: 1,000 ms.) */
  minDelayMs: number;
  /** The longest delay between two calls. (Default: 30,000 ms.) */
  maxDelayMs: number;
}

export const defaultAppOutagePolicy: AppOutagePolicy = { budgetMs: 24 * 60 * 60 * 1000, minDelayMs: 1_000, maxDelayMs: 30_000 };

/** The delay before the next call of a run whose app was unreachable `failures` times in a row (1 for the first): doubling, capped, ±25% jitter. */
export function outageDelayMs(failures: number, policy: AppOutagePolicy, random: () => number = Math.random): number {
  const exponential = Math.min(policy.maxDelayMs, policy.minDelayMs * 2 ** Math.max(0, Math.min(failures - 1, 40)));
  return Math.max(1, Math.round(exponential * (0.75 + random() * 0.5)));
}
