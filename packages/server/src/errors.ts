/**
 * @module errors
 * The one mapping from errors to HTTP responses: `StepwiseError` codes through the
 * protocol's status table, malformed JSON as 400, anything else as 500 (logged).
 * Body shape: `{ error, code, status }` (the `status` key is what the official SDK reads).
 */
import { httpStatusForCode, StepwiseError } from "@stepwise/protocol";

export interface ErrorBody {
  error: string;
  code: string;
  status: number;
}

export function errorBody(error: unknown): ErrorBody {
  if (StepwiseError.is(error)) return { error: error.message, code: error.code, status: httpStatusForCode[error.code] };
  if (error instanceof SyntaxError) return { error: `malformed JSON: ${error.message}`, code: "invalid_json", status: 400 };
  return { error: (error as Error)?.message ?? String(error), code: "internal", status: 500 };
}
