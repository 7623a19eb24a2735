/**
 * @module middleware/runtime
 * Runs middleware: registration (v3 `init` once per client or function, v4 `onRegister`),
 * the hooks of one send, and the hooks of one call (`CallMiddleware`), which
 * `StepwiseFunction.execute` and `CallExecution` call at fixed points, the same
 * in-process and served.
 *
 * Order: entries run in registration order (client's, then the function's). As in
 * Inngest v3, `afterMemoization`, `afterExecution` and both `transformOutput` hooks run
 * in reverse order (the last registered first), so wrapping pairs nest like an onion;
 * v4 `wrap*` hooks nest with the first registered outermost.
 */
import type { EventPayload, ExecutionInput, FunctionHandle, Logger, Memo, Op } from "@stepwise/protocol";
import type { Context } from "../function.ts";
import type { BaseMiddleware, MiddlewareClass } from "./base.ts";
import type { MemoizedStepEntry, StepInfo, StepType } from "./hook-args.ts";
import {
  type FunctionRunHooks,
  type HookResult,
  InngestMiddleware,
  type MemoizedStep,
  type MiddlewareClient,
  type MiddlewareRegisterReturn,
  type RunOutcome,
  type SendEventHooks,
  type TransformInputArgs,
  type TransformInputResult,
} from "./middleware.ts";
import type { MiddlewareStack } from "./types.ts";

/** A middleware entry once added to a client or function. */
export type RegisteredMiddleware = { kind: "v3"; name: string; hooks: Promise<MiddlewareRegisterReturn> } | { kind: "v4"; name: string; cls: MiddlewareClass };

/**
 * A hook threw. The call fails with this error (retried like any function error); its
 * message names the middleware and the hook, and `cause` is what was thrown.
 */
export class MiddlewareError extends Error {
  override readonly name = "MiddlewareError";
  constructor(
    readonly middleware: string,
    readonly hook: string,
    cause: unknown,
  ) {
    super(`middleware "${middleware}" failed in ${hook}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/** Validates a `middleware` option and registers each entry (v3 `init`, v4 `onRegister`). */
export function registerMiddleware(
  entries: MiddlewareStack | undefined,
  client: MiddlewareClient,
  fn: FunctionHandle | null,
  field: string,
): RegisteredMiddleware[] {
  if (entries === undefined) return [];
  if (!Array.isArray(entries)) throw new TypeError(`${field}: "middleware" must be an array, received ${typeof entries}`);
  return entries.map((entry: unknown, index): RegisteredMiddleware => {
    if (entry instanceof InngestMiddleware) {
      const hooks = (async () => {
        try {
          return (await entry.init(fn ? { client, fn } : { client })) ?? {};
        } catch (error) {
          throw new MiddlewareError(entry.name, "init", error);
        }
      })();
      hooks.catch(() => {}); // reported when a call or send awaits it
      return { kind: "v3", name: entry.name, hooks };
    }
    if (typeof entry === "function" && typeof entry.prototype === "object") {
      const cls = entry as MiddlewareClass;
      cls.onRegister?.({ client, fn });
      return { kind: "v4", name: cls.name || `middleware[${index}]`, cls };
    }
    throw new TypeError(`${field}: "middleware[${index}]" must be an InngestMiddleware or a class extending Middleware.BaseMiddleware`);
  });
}

/** Calls `fn` and wraps what it throws in a `MiddlewareError`. */
async function guarded<T>(middleware: string, hook: string, fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof MiddlewareError) throw error;
    throw new MiddlewareError(middleware, hook, error);
  }
}

/** Creates this request's instance of a v4 class. */
function instantiate(entry: Extract<RegisteredMiddleware, { kind: "v4" }>, client: MiddlewareClient): BaseMiddleware {
  try {
    return new entry.cls({ client });
  } catch (error) {
    throw new MiddlewareError(entry.name, "constructor", error);
  }
}

/** Sends `payload` through the send hooks of `stack`, delivering with `deliver`. */
export async function sendWithMiddleware(
  stack: readonly RegisteredMiddleware[],
  client: MiddlewareClient,
  fn: FunctionHandle | null,
  payload: unknown,
  deliver: (payloads: unknown) => Promise<{ ids: string[] }>,
): Promise<{ ids: string[] }> {
  const layers: { name: string; v3?: SendEventHooks; v4?: BaseMiddleware }[] = [];
  for (const entry of stack) {
    if (entry.kind === "v3") {
      const registered = await entry.hooks;
      const hooks = registered.onSendEvent ? await guarded(entry.name, "onSendEvent", () => registered.onSendEvent?.()) : undefined;
      if (hooks) layers.push({ name: entry.name, v3: hooks });
    } else {
      layers.push({ name: entry.name, v4: instantiate(entry, client) });
    }
  }
  let payloads = (Array.isArray(payload) ? [...payload] : [payload]) as EventPayload[];
  for (const layer of layers) {
    const { v3, v4 } = layer;
    if (v3?.transformInput) {
      const out = await guarded(layer.name, "onSendEvent.transformInput", () => v3.transformInput?.({ payloads }));
      if (out?.payloads) payloads = out.payloads as EventPayload[];
    }
    if (v4?.transformSendEvent) {
      const out = await guarded(layer.name, "transformSendEvent", () => v4.transformSendEvent?.({ events: payloads, fn }));
      if (out?.events) payloads = out.events;
    }
  }
  let next = () => deliver(Array.isArray(payload) || payloads.length !== 1 ? payloads : payloads[0]);
  for (const layer of [...layers].reverse()) {
    const wrap = layer.v4?.wrapSendEvent?.bind(layer.v4);
    if (!wrap) continue;
    const inner = next;
    next = () => wrap({ events: payloads, fn, next: inner });
  }
  let result = await next();
  for (const layer of [...layers].reverse()) {
    const transform = layer.v3?.transformOutput?.bind(layer.v3);
    if (!transform) continue;
    const out = await guarded(layer.name, "onSendEvent.transformOutput", () => transform({ result, payloads }));
    if (out?.result) result = { ...result, ...out.result };
  }
  return result;
}

/** A step as the call hooks see it. */
export interface CallStep {
  hashedId: string;
  /** The id given to the step tool. */
  id: string;
  displayName: string;
  stepType: StepType;
  /** The op being reported, without its id (v3 `transformOutput`'s `step`). */
  op: Omit<Op, "id">;
}

/** What a call needs of middleware; `CallExecution` calls it at fixed points. */
export interface CallHooks {
  /** Before the handler starts. */
  beforeMemoization(): Promise<void>;
  /** Memoization ended; idempotent. */
  memoizationEnd(): Promise<void>;
  /** Right before the handler starts (after memoization ended, if nothing was memoized). */
  handlerStart(): Promise<void>;
  /** After the first step work, step report or handler end; idempotent. */
  afterExecution(): Promise<void>;
  /** Wraps the value a step tool returns (every step kind, memoized or not). */
  wrapStep(step: CallStep, memoized: boolean, next: () => Promise<unknown>): Promise<unknown>;
  /** Runs a step's work inside the step hooks. */
  runStep(step: CallStep, work: () => Promise<unknown>, isFinalAttempt: (error: unknown) => boolean): Promise<unknown>;
  /** A step's (with `step`) or the function's outcome, transformed. */
  transformOutput(outcome: RunOutcome, step?: CallStep): Promise<RunOutcome>;
  /** The handler (inside `wrapFunctionHandler`s) settled with `outcome`, before any transform. */
  handlerEnded(outcome: RunOutcome, isFinalAttempt: boolean): Promise<void>;
  /** The function ended with `outcome`, transformed. */
  finished(outcome: RunOutcome): Promise<void>;
}

interface Layer {
  name: string;
  v3?: FunctionRunHooks;
  v4?: BaseMiddleware;
}

/** Copies `fields` onto a copy of `ctx`, keeping accessors such as `attempt` live. */
function mergeContext<T extends object>(ctx: T, fields: Record<string, unknown>): T {
  return Object.defineProperties({}, { ...Object.getOwnPropertyDescriptors(ctx), ...Object.getOwnPropertyDescriptors(fields) }) as T;
}

/** The middleware of one call: one hook set per v3 entry, one instance per v4 class. */
export class CallMiddleware implements CallHooks {
  private readonly once = new Map<string, Promise<void>>();
  /** v4 instances inside their own `wrapStep` (before calling `next`). */
  private readonly wrapping = new Set<BaseMiddleware>();
  /** The handler context: set by the caller, then extended by `transformInput`. */
  ctx!: Context;

  private constructor(
    private readonly layers: Layer[],
    private readonly fn: FunctionHandle,
    private readonly logger: Logger,
    private readonly firstCall: boolean,
  ) {}

  /**
   * Runs `onFunctionRun` of every v3 entry and makes this call's v4 instances. Set
   * `ctx` (the handler context before middleware) before calling the other methods.
   */
  static async start(
    stack: readonly RegisteredMiddleware[],
    client: MiddlewareClient,
    fn: FunctionHandle,
    input: ExecutionInput,
    reqArgs: readonly unknown[] = [],
  ): Promise<CallMiddleware> {
    const layers: Layer[] = [];
    const { event, events, runId, attempt } = input;
    const info = { ctx: { event, events, runId, attempt }, fn, steps: memoList(input.memo), reqArgs };
    for (const entry of stack) {
      if (entry.kind === "v3") {
        const registered = await entry.hooks;
        const hooks = registered.onFunctionRun ? await guarded(entry.name, "onFunctionRun", () => registered.onFunctionRun?.(info)) : undefined;
        if (hooks) layers.push({ name: entry.name, v3: hooks });
      } else {
        layers.push({ name: entry.name, v4: instantiate(entry, client) });
      }
    }
    return new CallMiddleware(layers, fn, client.logger, input.attempt === 0 && input.memo.size === 0);
  }

  /** v3 `transformInput` and v4 `transformFunctionInput`, in order: the handler context and memo to use. */
  async transformInput(memo: ReadonlyMap<string, Memo>, reqArgs: readonly unknown[] = []): Promise<ReadonlyMap<string, Memo>> {
    let current = memo;
    for (const layer of this.layers) {
      const { v3, v4 } = layer;
      if (v3?.transformInput) {
        const steps = memoList(current);
        const out: Awaited<HookResult<TransformInputResult>> = await guarded(layer.name, "onFunctionRun.transformInput", () =>
          v3.transformInput?.({ ctx: mergeContext(this.ctx, {}) as unknown as TransformInputArgs["ctx"], fn: this.fn, steps, reqArgs }),
        );
        if (out?.ctx) this.ctx = mergeContext(this.ctx, out.ctx);
        if (out?.steps) current = new Map(steps.map((step, i) => [step.id, toMemo({ ...step, ...out.steps?.[i] })]));
      }
      if (v4?.transformFunctionInput) {
        const steps: Record<string, MemoizedStepEntry> = {};
        for (const [id, entry] of current) steps[id] = "error" in entry ? { type: "error", error: entry.error } : { type: "data", data: entry.data };
        const out = await guarded(layer.name, "transformFunctionInput", () => v4.transformFunctionInput?.({ ctx: this.ctx, fn: this.fn, steps }));
        if (out?.ctx) this.ctx = out.ctx;
        if (out?.steps)
          current = new Map(Object.entries(out.steps).map(([id, entry]) => [id, entry.type === "error" ? { error: entry.error } : { data: entry.data }]));
      }
    }
    return current;
  }

  /** Wraps the handler in v4 `wrapFunctionHandler`s, the first registered outermost. */
  wrapHandler(handler: () => unknown): () => Promise<unknown> {
    let next = async () => handler();
    for (const layer of [...this.layers].reverse()) {
      const wrap = layer.v4?.wrapFunctionHandler?.bind(layer.v4);
      if (!wrap) continue;
      const inner = next;
      next = () => wrap({ ctx: this.ctx, fn: this.fn, next: inner });
    }
    return next;
  }

  /** v4 `onRunStart`, on the first call of a run (attempt 0, nothing memoized). */
  async handlerStart(): Promise<void> {
    if (this.firstCall) await this.observe("onRunStart", (mw) => mw.onRunStart?.({ ctx: this.ctx, fn: this.fn }));
  }

  beforeMemoization(): Promise<void> {
    return this.onceForward("beforeMemoization");
  }

  memoizationEnd(): Promise<void> {
    return this.cached("memoizationEnd", async () => {
      await this.onceBackward("afterMemoization");
      await this.observe("onMemoizationEnd", (mw) => mw.onMemoizationEnd?.({ ctx: this.ctx, fn: this.fn }));
      await this.onceForward("beforeExecution");
    });
  }

  afterExecution(): Promise<void> {
    return this.onceBackward("afterExecution");
  }

  wrapStep(step: CallStep, memoized: boolean, found: () => Promise<unknown>): Promise<unknown> {
    const stepInfo = toStepInfo(step, memoized);
    let next = found;
    for (const layer of [...this.layers].reverse()) {
      const mw = layer.v4;
      const wrap = mw?.wrapStep?.bind(mw);
      if (!mw || !wrap) continue;
      const inner = next;
      next = () => {
        // A step the middleware starts inside its own wrapStep is not wrapped by it again.
        if (this.wrapping.has(mw)) return inner();
        this.wrapping.add(mw);
        let result: Promise<unknown>;
        try {
          result = wrap({
            ctx: this.ctx,
            fn: this.fn,
            stepInfo,
            next: () => {
              this.wrapping.delete(mw);
              return inner();
            },
          });
        } finally {
          this.wrapping.delete(mw);
        }
        return result;
      };
    }
    return next();
  }

  async runStep(step: CallStep, work: () => Promise<unknown>, isFinalAttempt: (error: unknown) => boolean): Promise<unknown> {
    const stepInfo = toStepInfo(step, false);
    await this.observe("onStepStart", (mw) => mw.onStepStart?.({ ctx: this.ctx, fn: this.fn, stepInfo }));
    let next = work;
    for (const layer of [...this.layers].reverse()) {
      const wrap = layer.v4?.wrapStepHandler?.bind(layer.v4);
      if (!wrap) continue;
      const inner = next;
      next = () => wrap({ ctx: this.ctx, fn: this.fn, stepInfo, next: inner });
    }
    try {
      const output = await next();
      await this.observe("onStepComplete", (mw) => mw.onStepComplete?.({ ctx: this.ctx, fn: this.fn, stepInfo, output }));
      return output;
    } catch (error) {
      const final = isFinalAttempt(error);
      await this.observe("onStepError", (mw) => mw.onStepError?.({ ctx: this.ctx, fn: this.fn, stepInfo, error: asError(error), isFinalAttempt: final }));
      throw error;
    }
  }

  async transformOutput(outcome: RunOutcome, step?: CallStep): Promise<RunOutcome> {
    let result = outcome;
    for (const layer of [...this.layers].reverse()) {
      const transform = layer.v3?.transformOutput?.bind(layer.v3);
      if (!transform) continue;
      const out = await guarded(layer.name, "onFunctionRun.transformOutput", () => transform({ result: { ...result }, ...(step ? { step: step.op } : {}) }));
      if (out?.result) result = { ...result, ...out.result };
    }
    return result;
  }

  async finished(outcome: RunOutcome): Promise<void> {
    const result = outcome.error !== undefined ? { error: outcome.error } : { data: outcome.data };
    for (const layer of this.layers) {
      const finished = layer.v3?.finished?.bind(layer.v3);
      if (finished) await guarded(layer.name, "onFunctionRun.finished", () => finished({ result }));
    }
  }

  /** v4 `onRunComplete` / `onRunError`, with the handler's own output or error. */
  async handlerEnded(outcome: RunOutcome, isFinalAttempt: boolean): Promise<void> {
    if (outcome.error !== undefined)
      await this.observe("onRunError", (mw) => mw.onRunError?.({ ctx: this.ctx, fn: this.fn, error: asError(outcome.error), isFinalAttempt }));
    else await this.observe("onRunComplete", (mw) => mw.onRunComplete?.({ ctx: this.ctx, fn: this.fn, output: outcome.data }));
  }

  /** v3 `beforeResponse`, last in every call. */
  beforeResponse(): Promise<void> {
    return this.onceForward("beforeResponse");
  }

  private cached(key: string, run: () => Promise<void>): Promise<void> {
    let done = this.once.get(key);
    if (!done) {
      done = run();
      this.once.set(key, done);
    }
    return done;
  }

  private onceForward(hook: BlankHook): Promise<void> {
    return this.cached(hook, () => this.blank(hook, this.layers));
  }

  private onceBackward(hook: BlankHook): Promise<void> {
    return this.cached(hook, () => this.blank(hook, [...this.layers].reverse()));
  }

  private async blank(hook: BlankHook, layers: Layer[]): Promise<void> {
    for (const layer of layers) {
      const fn = layer.v3?.[hook]?.bind(layer.v3);
      if (fn) await guarded(layer.name, `onFunctionRun.${hook}`, fn);
    }
  }

  /** Runs a v4 observation hook of every instance; what it throws is logged, as the official SDK does. */
  private async observe(hook: string, run: (mw: BaseMiddleware) => unknown): Promise<void> {
    for (const layer of this.layers) {
      if (!layer.v4 || typeof (layer.v4 as unknown as Record<string, unknown>)[hook] !== "function") continue;
      try {
        await run(layer.v4);
      } catch (error) {
        this.logger.error(`middleware "${layer.name}" failed in ${hook}`, error);
      }
    }
  }
}

type BlankHook = "beforeMemoization" | "afterMemoization" | "beforeExecution" | "afterExecution" | "beforeResponse";

function toStepInfo(step: CallStep, memoized: boolean): StepInfo {
  return { hashedId: step.hashedId, memoized, options: { id: step.id, name: step.displayName }, stepType: step.stepType };
}

function memoList(memo: ReadonlyMap<string, Memo>): MemoizedStep[] {
  return [...memo].map(([id, entry]) => ({ id, ...entry }));
}

function toMemo(step: MemoizedStep): Memo {
  return step.error !== undefined ? { error: step.error } : { data: step.data };
}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}
