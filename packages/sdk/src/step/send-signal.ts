import { OpCode } from "@stepwise/protocol";
import type { StepRequest } from "../execution/call.ts";
import { readStepId, type StepIdInput } from "./step-id.ts";

export interface SendSignalOptions {
  /** The signal's name, as a `step.waitForSignal` waits on it. */
  signal: string;
  /** JSON data handed to the waiting run (`{ signal, data }`). */
  data?: unknown;
}

/** Delivers a signal: the engine's `sendSignal` in-process, the server's API when served. */
export type SignalSender = (signal: string, data: unknown) => Promise<{ runId: string | undefined }>;

/**
 * `step.sendSignal(id, { signal, data })`: a durable step (memoized, sent once) that
 * resumes the run waiting on `signal`. Its op is the official SDK's: `StepPlanned` named
 * `sendSignal` with `opts: { type: "step.sendSignal", signal }`.
 */
export function createSendSignal(request: (r: StepRequest) => Promise<unknown>, sendSignal: SignalSender | undefined) {
  return function stepSendSignal(idInput: StepIdInput, options: SendSignalOptions): Promise<{ runId: string | undefined }> {
    const { id, displayName } = readStepId(idInput, "step.sendSignal");
    if (!options || typeof options.signal !== "string" || options.signal === "") {
      return Promise.reject(new TypeError(`step.sendSignal("${id}"): "signal" must be a non-empty string`));
    }
    const { signal, data = null } = options;
    return request({
      id,
      ...(displayName ? { displayName } : {}),
      op: OpCode.StepPlanned,
      name: "sendSignal",
      opts: { type: "step.sendSignal", signal },
      fn: async () => {
        if (!sendSignal) throw new Error(`step.sendSignal("${id}"): no signal sender in this call`);
        const { runId } = await sendSignal(signal, data);
        return runId === undefined ? {} : { runId };
      },
    }) as Promise<{ runId: string | undefined }>;
  };
}
