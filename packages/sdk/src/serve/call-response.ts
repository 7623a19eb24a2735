/**
 * @module call-response
 * Encodes what a call reported as the Inngest protocol's HTTP answer (inngest-protocol.md
 * §8.2): 206 + ops for step work, 200 + the return value when the function finished,
 * 500 (retriable) or 400 + `x-inngest-no-retry: true` (final) with the serialized error
 * when it threw; `retry-after` in whole seconds for a RetryAfterError.
 */
import { type ExecutionResult, hashStepId, OpCode, type SerializedError } from "@stepwise/protocol";

export interface EncodedResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** `Retry-After` for an instant: whole seconds from now, at least 0. */
export function retryAfterHeader(retryAt: number, now: number): string {
  return String(Math.max(0, Math.ceil((retryAt - now) / 1000)));
}

/**
 * The error a failed run reports. An uncaught `StepError` (a step that failed for good)
 * reports the step's own error, as the official SDK does.
 */
function reportedError(error: SerializedError): SerializedError {
  const reported = error.name === "StepError" && error.cause ? error.cause : error;
  return { ...reported, __serialized: true };
}

const runCompleteId = hashStepId("complete");

/** A serialized error as an SDK-internal problem (unknown function, unreadable body): 500, no retry header. */
export function internalError(message: string, cause?: unknown): EncodedResponse {
  const error = new Error(message, cause === undefined ? {} : { cause });
  return { status: 500, headers: {}, body: JSON.stringify({ type: "internal", name: error.name, message, stack: error.stack, __serialized: true }) };
}

export function toCallResponse(result: ExecutionResult, now = Date.now()): EncodedResponse {
  if (result.deferred?.length && result.type !== "steps") {
    // defers ride along: with the return as `[...defers, RunComplete]`; before an error,
    // alone (the server records them and calls again, and the error is reported then)
    const ops =
      result.type === "function-resolved" ? [...result.deferred, { id: runCompleteId, op: OpCode.RunComplete, data: result.data ?? null }] : result.deferred;
    return { status: 206, headers: {}, body: JSON.stringify(ops) };
  }
  switch (result.type) {
    case "function-resolved":
      return { status: 200, headers: {}, body: JSON.stringify(result.data ?? null) };
    case "function-rejected": {
      const headers: Record<string, string> = { "x-inngest-no-retry": String(!result.retriable) };
      if (result.retriable && result.retryAt !== undefined) headers["retry-after"] = retryAfterHeader(result.retryAt, now);
      return { status: result.retriable ? 500 : 400, headers, body: JSON.stringify(reportedError(result.error)) };
    }
    case "steps": {
      const headers: Record<string, string> = {};
      if (result.ops.some((op) => op.op === OpCode.StepFailed)) headers["x-inngest-no-retry"] = "true";
      else if (result.ops.some((op) => op.op === OpCode.StepError)) {
        headers["x-inngest-no-retry"] = "false";
        if (result.retryAt !== undefined) headers["retry-after"] = retryAfterHeader(result.retryAt, now);
      }
      return { status: 206, headers, body: JSON.stringify(result.ops) };
    }
  }
}
