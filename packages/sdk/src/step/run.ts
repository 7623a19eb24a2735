import { OpCode } from "@stepwise/protocol";
import type { StepRequest } from "../execution/call.ts";
import type { Jsonify } from "../execution/json.ts";
import { readStepId, type StepIdInput } from "./step-id.ts";

/**
 * `step.run(id, fn)`: runs `fn` once, durably. Its JSON result is stored; later calls
 * of the run return the stored result without running `fn` again. A throw retries
 * this step alone with backoff; after the last attempt `step.run` throws `StepError`.
 */
export function createRun(request: (r: StepRequest) => Promise<unknown>) {
  return function run<T>(idInput: StepIdInput, fn: () => T | Promise<T>): Promise<Jsonify<Awaited<T>>> {
    const { id, displayName } = readStepId(idInput, "step.run");
    if (typeof fn !== "function") return Promise.reject(new TypeError(`step.run("${id}"): the second argument must be a function`));
    return request({ id, ...(displayName ? { displayName } : {}), op: OpCode.StepPlanned, fn }) as Promise<Jsonify<Awaited<T>>>;
  };
}
