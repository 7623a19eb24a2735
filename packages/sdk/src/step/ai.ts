/**
 * @module ai
 * `step.ai.infer(id, { model, body })`: the engine calls the model provider while the
 * function is not running (an `AIGateway` op) and memoizes its JSON response, which the
 * step resolves with. The provider key travels in the op to the engine, which sends it in
 * the provider's auth header and never stores it.
 *
 * `step.ai.wrap(id, fn, ...args)`: runs `fn(...args)` as a step (like `step.run`), marked
 * as an AI call (`opts.type: "step.ai.wrap"`, its arguments stored as `opts.input`).
 */
import { OpCode } from "@stepwise/protocol";
import { type AiModel, models } from "../ai/models.ts";
import type { StepRequest } from "../execution/call.ts";
import type { Jsonify } from "../execution/json.ts";
import { insideStep } from "./fetch.ts";
import { readStepId, type StepIdInput } from "./step-id.ts";

export interface InferOptions<Body extends Record<string, unknown> = Record<string, unknown>> {
  model: AiModel;
  /** The provider's request body (`messages`, `contents`, `max_tokens`, …). */
  body: Body;
}

export interface StepAi {
  /** Calls the model through the engine, durably; returns the provider's JSON response. A non-2xx answer is a step error. */
  infer<Response = unknown>(id: StepIdInput, options: InferOptions): Promise<Response>;
  /** Runs `fn(...args)` once as a step marked as an AI call; returns its JSON result. */
  wrap<Args extends unknown[], T>(id: StepIdInput, fn: (...args: Args) => T | Promise<T>, ...args: Args): Promise<Jsonify<Awaited<T>>>;
  models: typeof models;
}

export function createAi(request: (r: StepRequest) => Promise<unknown>): StepAi {
  return {
    infer(idInput, options) {
      const { id, displayName } = readStepId(idInput, "step.ai.infer");
      const model = options?.model;
      if (!model || typeof model.url !== "string")
        return Promise.reject(new TypeError(`step.ai.infer("${id}"): "model" must be a model (openai(), anthropic(), gemini())`));
      if (!options.body || typeof options.body !== "object") return Promise.reject(new TypeError(`step.ai.infer("${id}"): "body" must be an object`));
      const { model: _model, body, ...rest } = options;
      const copy = { ...model };
      model.onCall?.(copy, body);
      const opts: Record<string, unknown> = {
        type: "step.ai.infer",
        url: copy.url,
        ...(copy.headers ? { headers: copy.headers } : {}),
        auth_key: copy.authKey,
        format: copy.format,
        body,
        ...rest,
      };
      return request({ id, ...(displayName ? { displayName } : {}), op: OpCode.AIGateway, opts }) as Promise<never>;
    },
    wrap(idInput, fn, ...args) {
      const { id, displayName } = readStepId(idInput, "step.ai.wrap");
      if (typeof fn !== "function") return Promise.reject(new TypeError(`step.ai.wrap("${id}"): the second argument must be a function`));
      const opts = { type: "step.ai.wrap", ...(args.length ? { input: args } : {}) };
      return request({
        id,
        ...(displayName ? { displayName } : {}),
        op: OpCode.StepPlanned,
        opts,
        fn: () => insideStep(id, () => fn(...args)),
      }) as Promise<never>;
    },
    models,
  };
}
