/**
 * @module errors
 * The one error class the engine, stores and server throw, with a closed set of codes
 * and the single table that maps each code to an HTTP status. SDK errors that user code
 * throws to steer retries (NonRetriableError, RetryAfterError, StepError) live in the SDK.
 */

export const ErrorCode = {
  InvalidEvent: "invalid_event",
  InvalidConfig: "invalid_config",
  InvalidExpression: "invalid_expression",
  InvalidArgument: "invalid_argument",
  LimitExceeded: "limit_exceeded",
  NotFound: "not_found",
  NotRegistered: "not_registered",
  Timeout: "timeout",
  Closed: "closed",
  Conflict: "conflict",
  Internal: "internal",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** HTTP status for each code: the only place this mapping lives. */
export const httpStatusForCode: Readonly<Record<ErrorCode, number>> = {
  invalid_event: 400,
  invalid_config: 400,
  invalid_expression: 400,
  invalid_argument: 400,
  limit_exceeded: 413,
  not_found: 404,
  not_registered: 409,
  timeout: 408,
  closed: 503,
  conflict: 409,
  internal: 500,
};

const brand = Symbol.for("stepwise.StepwiseError");

/**
 * An error raised by Stepwise itself (not by user code). `code` is stable and safe to
 * branch on; `message` names the offending value and what to do about it.
 */
export class StepwiseError extends Error {
  readonly code: ErrorCode;
  readonly [brand] = true;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StepwiseError";
    this.code = code;
  }

  /** True for any StepwiseError, even one from another copy of this package. */
  static is(value: unknown): value is StepwiseError {
    return typeof value === "object" && value !== null && brand in value;
  }
}
