import { OpCode, parseDuration } from "@stepwise/protocol";
import type { StepRequest } from "../execution/call.ts";
import type { Jsonify } from "../execution/json.ts";
import { insideStep } from "./fetch.ts";
import { readStepId, type StepIdInput } from "./step-id.ts";

/** Most retries a step may ask for (Inngest's limit for a function). */
export const maxStepRetries = 20;

/**
 * Backoff between a step's attempts: a fixed duration (`"5s"`, ms), or exponential:
 * `initial` × `factor`^(attempt − 1), capped at `max`.
 */
export type StepBackoff = string | number | { initial: string | number; factor?: number; max?: string | number };

/** `step.run`'s id with a per-step policy (beyond Inngest). */
export interface StepRunOptions {
  id: string;
  /** Shown in place of the id. */
  name?: string;
  /** Retries of this step, overriding the function's `retries` for it (0–20). */
  retries?: number;
  /** Longest one attempt may take (`"30s"`, ms): then its signal aborts and the attempt fails with `StepTimeoutError`. */
  timeout?: string | number;
  /** Delay between attempts (default: the engine's exponential backoff). */
  backoff?: StepBackoff;
  /** `"race"`: this step is a branch of a race, as inside `group.parallel` (the official SDK's option). */
  parallelMode?: "race";
}

/** The policy as carried in the op's `opts`, in milliseconds. */
export interface StepPolicyOpts {
  parallelMode?: "race";
  retries?: number;
  timeoutMs?: number;
  backoff?: { initialMs: number; factor: number; maxMs: number };
}

/** An attempt of a step ran past its `timeout` (retried per the step's policy). */
export class StepTimeoutError extends Error {
  override readonly name = "StepTimeoutError";
  constructor(
    readonly stepId: string,
    readonly timeoutMs: number,
  ) {
    super(`step "${stepId}" timed out after ${timeoutMs} ms`);
  }
}

function duration(value: unknown, where: string, field: string): number {
  if (typeof value !== "string" && typeof value !== "number") throw new TypeError(`${where}: "${field}" must be a duration ("30s") or milliseconds`);
  let ms: number;
  try {
    ms = parseDuration(value, `${where}.${field}`);
  } catch (error) {
    throw new TypeError(`${where}: "${field}" is not a valid duration: ${(error as Error).message}`);
  }
  if (!(ms > 0)) throw new TypeError(`${where}: "${field}" must be more than 0`);
  return ms;
}

/** Validates a step's policy options; errors name the field. */
export function readStepPolicy(input: StepIdInput | StepRunOptions, where: string): StepPolicyOpts {
  if (typeof input !== "object" || input === null) return {};
  const { retries, timeout, backoff, parallelMode } = input as StepRunOptions;
  const policy: StepPolicyOpts = {};
  if (parallelMode !== undefined) {
    if (parallelMode !== "race") throw new TypeError(`${where}: "parallelMode" must be "race", got ${JSON.stringify(parallelMode)}`);
    policy.parallelMode = parallelMode;
  }
  if (retries !== undefined) {
    if (!Number.isInteger(retries) || retries < 0 || retries > maxStepRetries) {
      throw new TypeError(`${where}: "retries" must be an integer from 0 to ${maxStepRetries}, got ${JSON.stringify(retries)}`);
    }
    policy.retries = retries;
  }
  if (timeout !== undefined) policy.timeoutMs = duration(timeout, where, "timeout");
  if (backoff !== undefined) {
    if (typeof backoff === "object" && backoff !== null) {
      const initialMs = duration(backoff.initial, where, "backoff.initial");
      const factor = backoff.factor ?? 2;
      if (typeof factor !== "number" || !Number.isFinite(factor) || factor < 1) {
        throw new TypeError(`${where}: "backoff.factor" must be a number of at least 1, got ${JSON.stringify(backoff.factor)}`);
      }
      const maxMs = backoff.max === undefined ? 24 * 60 * 60 * 1000 : duration(backoff.max, where, "backoff.max");
      if (maxMs < initialMs) throw new TypeError(`${where}: "backoff.max" must not be less than "backoff.initial"`);
      policy.backoff = { initialMs, factor, maxMs };
    } else {
      const ms = duration(backoff, where, "backoff");
      policy.backoff = { initialMs: ms, factor: 1, maxMs: ms };
    }
  }
  return policy;
}

/**
 * `step.run(id, fn)`: runs `fn` once, durably. Its JSON result is stored; later calls
 * of the run return the stored result without running `fn` again. A throw retries
 * this step alone with backoff; after the last attempt `step.run` throws `StepError`.
 * `fn` receives an `AbortSignal`: aborted on the step's timeout, when the run is
 * cancelled, or when the engine loses this call's lease.
 */
export function createRun(request: (r: StepRequest) => Promise<unknown>) {
  return function run<T>(idInput: StepIdInput | StepRunOptions, fn: (signal: AbortSignal) => T | Promise<T>): Promise<Jsonify<Awaited<T>>> {
    const { id, displayName } = readStepId(idInput, "step.run");
    if (typeof fn !== "function") return Promise.reject(new TypeError(`step.run("${id}"): the second argument must be a function`));
    let policy: StepPolicyOpts;
    try {
      policy = readStepPolicy(idInput, `step.run("${id}")`);
    } catch (error) {
      return Promise.reject(error);
    }
    const opts = Object.keys(policy).length ? { opts: { ...policy } as Record<string, unknown> } : {};
    return request({
      id,
      ...(displayName ? { displayName } : {}),
      op: OpCode.StepPlanned,
      ...opts,
      fn: (signal) => insideStep(id, () => fn(signal)),
    }) as Promise<Jsonify<Awaited<T>>>;
  };
}
