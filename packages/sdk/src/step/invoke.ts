import { formatDuration, OpCode } from "@stepwise/protocol";
import type { StepRequest } from "../execution/call.ts";
import { readStepId, type StepIdInput } from "./step-id.ts";

export interface InvokeOptions {
  /** The function to run: its object, or its composite id `"<appId>-<functionId>"`. */
  function: { config: { id: string } } | string;
  data?: Record<string, unknown>;
  /** How long to wait for the result (default 1 year); on timeout the step throws. */
  timeout?: string | number;
}

/** `step.invoke(id, { function, data })`: runs another function and returns its result; its failure throws. */
export function createInvoke(request: (r: StepRequest) => Promise<unknown>) {
  return function invoke<Result = unknown>(idInput: StepIdInput, options: InvokeOptions): Promise<Result> {
    const { id, displayName } = readStepId(idInput, "step.invoke");
    const target = typeof options?.function === "string" ? options.function : options?.function?.config?.id;
    if (typeof target !== "string" || target === "") return Promise.reject(new TypeError(`step.invoke("${id}"): "function" must be a function or its id`));
    const opts: Record<string, unknown> = { function_id: target, payload: { data: options.data ?? {} } };
    if (options.timeout !== undefined) opts.timeout = typeof options.timeout === "number" ? formatDuration(options.timeout) : options.timeout;
    return request({ id, ...(displayName ? { displayName } : {}), op: OpCode.InvokeFunction, opts }) as Promise<Result>;
  };
}
