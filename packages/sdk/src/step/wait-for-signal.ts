import { formatDuration, OpCode } from "@stepwise/protocol";
import type { StepRequest } from "../execution/call.ts";
import { readStepId, type StepIdInput } from "./step-id.ts";

export interface WaitForSignalOptions {
  /** The signal's name, unique to what is awaited (e.g. `"approval-order-42"`). */
  signal: string;
  /** How long to wait (`"1h"`, ms); on timeout the step returns `null`. */
  timeout: string | number;
  /**
   * When another wait on the same signal is live (Inngest's semantics): `"fail"` (the
   * default) fails this step with a `SignalConflictError`; `"replace"` takes the signal
   * over: the next `sendSignal` resumes this wait, and the replaced one stays pending
   * until its timeout.
   */
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
    if (options.onConflict !== undefined) {
      if (options.onConflict !== "fail" && options.onConflict !== "replace") {
        throw new TypeError(`step.waitForSignal("${id}"): "onConflict" must be "fail" or "replace", got ${JSON.stringify(options.onConflict)}`);
      }
      opts.conflict = options.onConflict;
    }
    return (await request({ id, ...(displayName ? { displayName } : {}), op: OpCode.WaitForSignal, name: options.signal, opts })) as {
      signal: string;
      data: Data;
    } | null;
  };
}
