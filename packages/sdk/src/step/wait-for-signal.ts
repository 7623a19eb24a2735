import { formatDuration, OpCode } from "@stepwise/protocol";
import type { StepRequest } from "../execution/call.ts";
import { readStepId, type StepIdInput } from "./step-id.ts";

export interface WaitForSignalOptions {
  /** The signal's name, unique to what is awaited (e.g. `"approval-order-42"`). */
  signal: string;
  /** How long to wait (`"1h"`, ms); on timeout the step returns `null`. */
  timeout: string | number;
  /** What another wait on the same signal does (recorded; the oldest waiter receives the signal). */
  onConflict?: "replace" | "fail";
}

/**
 * `step.waitForSignal(id, { signal, timeout })`: waits until `engine.sendSignal(signal, data)`
 * (or `POST /v1/signals`) and returns `{ signal, data }`, or `null` on timeout.
 */
export function createWaitForSignal(request: (r: StepRequest) => Promise<unknown>) {
  return async function waitForSignal<Data = unknown>(idInput: StepIdInput, options: WaitForSignalOptions): Promise<{ signal: string; data: Data } | null> {
    const { id, displayName } = readStepId(idInput, "step.waitForSignal");
    if (!options || typeof options.signal !== "string" || options.signal === "") throw new TypeError(`step.waitForSignal("${id}"): "signal" is required`);
    if (options.timeout === undefined) throw new TypeError(`step.waitForSignal("${id}"): "timeout" is required`);
    const timeout = typeof options.timeout === "number" ? formatDuration(options.timeout) : options.timeout;
    const opts: Record<string, unknown> = { signal: options.signal, timeout };
    if (options.onConflict) opts.conflict = options.onConflict;
    return (await request({ id, ...(displayName ? { displayName } : {}), op: OpCode.WaitForSignal, name: options.signal, opts })) as {
      signal: string;
      data: Data;
    } | null;
  };
}
