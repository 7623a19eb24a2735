/**
 * @module serialized-error
 * The one serialize/deserialize pair for errors that are persisted or sent on the wire.
 * The shape is the Inngest protocol's: `{ name, message, stack?, cause?, __serialized: true }`.
 */

export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  cause?: SerializedError;
  __serialized?: true;
}

export function serializeError(value: unknown, depth = 0): SerializedError {
  if (value instanceof Error) {
    const out: SerializedError = {
      name: value.name || "Error",
      message: value.message,
      __serialized: true,
    };
    if (value.stack) out.stack = value.stack;
    if (value.cause !== undefined && depth < 5) out.cause = serializeError(value.cause, depth + 1);
    return out;
  }
  if (isSerializedError(value)) return value;
  let message: string;
  try {
    message = typeof value === "string" ? value : (JSON.stringify(value) ?? String(value));
  } catch {
    message = String(value);
  }
  return { name: "Error", message, __serialized: true };
}

export function isSerializedError(value: unknown): value is SerializedError {
  return (
    typeof value === "object" && value !== null && typeof (value as SerializedError).name === "string" && typeof (value as SerializedError).message === "string"
  );
}

/** Rebuilds an `Error` (same name, message and stack) from its serialized form. */
export function deserializeError(value: SerializedError): Error {
  const error = new Error(value.message, value.cause ? { cause: deserializeError(value.cause) } : {});
  error.name = value.name;
  if (value.stack) error.stack = value.stack;
  return error;
}
