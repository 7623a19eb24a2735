/**
 * @module json
 * Step results are JSON. A result is serialized once, checked against the size limit,
 * and parsed back, so the handler sees exactly what a replay will see (a `Date` is its
 * ISO string both times) and a run never behaves differently after a restart.
 */
import { formatBytes, limits } from "@stepwise/protocol";
import { NonRetriableError } from "../errors.ts";

/** Maps a type to what survives a JSON round trip. */
// biome-ignore lint/suspicious/noConfusingVoidType: handlers that return nothing are typed void
export type Jsonify<T> = T extends undefined | void
  ? null
  : T extends { toJSON(): infer J }
    ? J extends string
      ? string
      : J
    : T extends (infer U)[]
      ? Jsonify<U>[]
      : T extends (...args: never[]) => unknown
        ? never
        : T extends object
          ? { [K in keyof T]: Jsonify<T[K]> }
          : T;

/** The JSON form of a step result; throws a NonRetriableError naming the step if it has none. */
export function toStepJson(value: unknown, stepId: string): { text: string; value: unknown } {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (cause) {
    throw new NonRetriableError(
      `step "${stepId}" returned a value that is not JSON-serializable (${(cause as Error).message}); return plain data (objects, arrays, strings, numbers, booleans, null)`,
      { cause },
    );
  }
  if (text === undefined) return { text: "null", value: null };
  const bytes = Buffer.byteLength(text);
  if (bytes > limits.stepResultBytes) {
    throw new NonRetriableError(
      `step "${stepId}" returned ${formatBytes(bytes)}; the limit for one step result is ${formatBytes(limits.stepResultBytes)}. Store large data elsewhere and return a reference`,
    );
  }
  return { text, value: JSON.parse(text) };
}
