/**
 * @module errors
 * Errors user code throws to steer retries, and the error it sees when a step has
 * failed for good. Each is recognised by `name` as well as by class, so copies of this
 * package (or the official SDK's errors) behave the same.
 */
import { deserializeError, parseDuration, resolveInstant, type SerializedError } from "@stepwise/protocol";

/**
 * Throw from a step or a handler to fail at once, without retries. In a step, the
 * handler receives a `StepError` it may catch; in a handler, the run fails.
 *
 * @example
 * if (!user) throw new NonRetriableError(`user ${id} does not exist`);
 */
export class NonRetriableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "NonRetriableError";
  }

  static is(value: unknown): value is NonRetriableError {
    return value instanceof NonRetriableError || (value instanceof Error && value.name === "NonRetriableError");
  }
}

/**
 * A run received an event its function does not accept: an event in a call that
 * matches none of its triggers, or a waitForEvent result with another name. Final:
 * the run fails without retries (as the official SDK does).
 */
export class EventValidationError extends NonRetriableError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "EventValidationError";
  }
}

/**
 * Throw to retry no sooner than `retryAfter`: milliseconds, a duration string such as
 * `"30s"`, or a `Date`. It still counts as an attempt; when attempts run out the step
 * (or run) fails as with any other error.
 *
 * @example
 * if (res.status === 429) throw new RetryAfterError("rate limited", res.headers.get("retry-after") + "s");
 */
export class RetryAfterError extends Error {
  readonly retryAfter: number | string | Date;

  constructor(message: string, retryAfter: number | string | Date, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "RetryAfterError";
    this.retryAfter = retryAfter;
    if (typeof retryAfter !== "object") parseDuration(retryAfter, "RetryAfterError.retryAfter");
  }

  /** The instant (epoch ms) of the next attempt. */
  retryAt(now: number): number {
    return resolveInstant(this.retryAfter, now, "RetryAfterError.retryAfter");
  }

  static is(value: unknown): value is RetryAfterError {
    return value instanceof Error && value.name === "RetryAfterError" && "retryAfter" in value;
  }
}

/**
 * What `await step.run(...)` throws once that step has failed for good (retries used
 * up, or a `NonRetriableError`). `cause` is the step's last error, rebuilt with its
 * name, message and stack. Catch it to recover; left uncaught, the run fails without
 * further retries.
 */
export class StepError extends Error {
  /** The step's id as written in code. */
  readonly stepId: string;

  constructor(stepId: string, error: SerializedError) {
    super(error.message, { cause: deserializeError(error) });
    this.name = "StepError";
    this.stepId = stepId;
  }

  static is(value: unknown): value is StepError {
    return value instanceof Error && value.name === "StepError";
  }
}
