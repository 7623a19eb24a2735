import { formatDuration, OpCode } from "@stepwise/protocol";
import type { AnyData } from "../events/types.ts";
import type { StepRequest } from "../execution/call.ts";
import type { Jsonify } from "../execution/json.ts";
import { readStepId, type StepIdInput } from "./step-id.ts";

/** What `step.invoke` can run: a function object, or its composite id `"<appId>-<functionId>"`. */
export type InvokeTarget = { config: { id: string } } | string;

/** The types a function carries for `step.invoke` (see `StepwiseFunction`). */
interface Typed<Event, Output> {
  readonly "~types"?: { event: Event; output: Output };
}

type DataOption<D> = Record<never, never> extends D ? { data?: D } : { data: D };

/** `data` as the invoked function's trigger event types it (required when that type has required fields). */
export type InvokeData<F> = F extends Typed<infer Event, unknown> ? DataOption<Event extends { data: infer D } ? D : AnyData> : { data?: AnyData };

export type InvokeOptions<F extends InvokeTarget = InvokeTarget> = {
  /** The function to run: its object, or its composite id `"<appId>-<functionId>"`. */
  function: F;
  /** How long to wait for the result (default 1 year); on timeout the step throws. */
  timeout?: string | number;
} & InvokeData<F>;

/** The invoked function's result as JSON (`null` for no result); `unknown` for an id. */
export type InvokeResult<F> = F extends Typed<unknown, infer Output> ? Jsonify<Awaited<Output>> : unknown;

/** `step.invoke(id, { function, data })`: runs another function and returns its result; its failure throws. */
export function createInvoke(request: (r: StepRequest) => Promise<unknown>) {
  return function invoke(idInput: StepIdInput, options: { function: InvokeTarget; data?: AnyData; timeout?: string | number }): Promise<unknown> {
    const { id, displayName } = readStepId(idInput, "step.invoke");
    const target = typeof options?.function === "string" ? options.function : options?.function?.config?.id;
    if (typeof target !== "string" || target === "") return Promise.reject(new TypeError(`step.invoke("${id}"): "function" must be a function or its id`));
    const opts: Record<string, unknown> = { function_id: target, payload: { data: options.data ?? {} } };
    if (options.timeout !== undefined) opts.timeout = typeof options.timeout === "number" ? formatDuration(options.timeout) : options.timeout;
    return request({ id, ...(displayName ? { displayName } : {}), op: OpCode.InvokeFunction, opts });
  };
}
