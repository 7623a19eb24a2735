/**
 * @module middleware/base
 * Inngest v4's middleware form: a class extending `Middleware.BaseMiddleware`, listed
 * (the class, not an instance) in `middleware`. A fresh instance is made for every call
 * (and every `client.send`), so fields are call-scoped state.
 */
import type { EventPayload, FunctionHandle, Memo } from "@stepwise/protocol";
import type { Context } from "../function.ts";
import type { MaybePromise, MiddlewareClient } from "./middleware.ts";

/** The kind of step a hook is about. */
export type StepType = "run" | "sendEvent" | "sleep" | "waitForEvent" | "waitForSignal" | "invoke" | (string & {});

/** A step as v4 hooks see it. */
export interface StepInfo {
  /** Hashed step id. */
  hashedId: string;
  /** Whether the result comes from memoized state. */
  memoized: boolean;
  /** The step's id and display name, as given to the step tool. */
  options: { id: string; name?: string };
  stepType: StepType;
}

/** A memoized step as `transformFunctionInput` sees it. */
export type MemoizedStepEntry = { type: "data"; data: unknown } | { type: "error"; error: NonNullable<Extract<Memo, { error: unknown }>["error"]> };

/** The argument (and the return value) of `transformFunctionInput`. */
export interface TransformFunctionInputArgs<TCtx extends Context = Context> {
  ctx: TCtx;
  readonly fn: FunctionHandle;
  /** Memoized steps by hashed id. */
  steps: Record<string, MemoizedStepEntry>;
}

/** The argument (and the return value) of `transformSendEvent`. */
export interface TransformSendEventArgs {
  events: EventPayload[];
  /** The function sending (`step.sendEvent`), or null for `client.send`. */
  readonly fn: FunctionHandle | null;
}

/** The arguments of the v4 hooks. */
export interface OnRegisterArgs {
  readonly client: MiddlewareClient;
  readonly fn: FunctionHandle | null;
}
export interface RunArgs {
  readonly ctx: Context;
  readonly fn: FunctionHandle;
}
export interface OnRunCompleteArgs extends RunArgs {
  readonly output: unknown;
}
export interface OnRunErrorArgs extends RunArgs {
  readonly error: Error;
  /** No retry follows (retries exhausted or a non-retriable error). */
  readonly isFinalAttempt: boolean;
}
export interface StepArgs extends RunArgs {
  readonly stepInfo: StepInfo;
}
export interface OnStepCompleteArgs extends StepArgs {
  readonly output: unknown;
}
export interface OnStepErrorArgs extends StepArgs {
  readonly error: Error;
  readonly isFinalAttempt: boolean;
}
export interface WrapFunctionHandlerArgs extends RunArgs {
  next(): Promise<unknown>;
}
export interface WrapStepHandlerArgs extends StepArgs {
  next(): Promise<unknown>;
}
export interface WrapSendEventArgs {
  readonly events: readonly EventPayload[];
  readonly fn: FunctionHandle | null;
  next(): Promise<{ ids: string[] }>;
}

/**
 * Base class of v4-style middleware. Override the hooks you need. Observation hooks
 * (`on*`) are reported to the client's logger when they throw and never fail a call;
 * `transform*` and `wrap*` hooks are part of the call, and their errors fail it.
 *
 * @example
 * class Timing extends Middleware.BaseMiddleware {
 *   readonly id = "timing";
 *   override async wrapStepHandler({ next, stepInfo }) {
 *     const started = Date.now();
 *     try { return await next(); } finally { metrics.record(stepInfo.options.id, Date.now() - started); }
 *   }
 * }
 * new Stepwise({ id: "app", middleware: [Timing] });
 */
export abstract class BaseMiddleware {
  readonly client: MiddlewareClient;
  /** Names the middleware in logs and errors. */
  abstract readonly id: string;

  constructor({ client }: { client: MiddlewareClient }) {
    this.client = client;
  }

  /** Static, optional: called once when the class is added to a client (`fn: null`) or a function. */
  static onRegister?(args: OnRegisterArgs): void;
  /** Every call, first: may return a changed `ctx` (dependency injection) or `steps`. */
  transformFunctionInput?(arg: TransformFunctionInputArgs): MaybePromise<TransformFunctionInputArgs>;
  /** Once per run: on its first call (attempt 0, nothing memoized). */
  onRunStart?(arg: RunArgs): MaybePromise<void>;
  /** Once per call, when memoized steps have all been replayed (at once when there are none). */
  onMemoizationEnd?(arg: RunArgs): MaybePromise<void>;
  /** Wraps the handler; `next()` settles only when the handler does (not when a call ends by reporting steps). */
  wrapFunctionHandler?(arg: WrapFunctionHandlerArgs): Promise<unknown>;
  /** Before the work of a `step.run` or `step.sendEvent` runs. */
  onStepStart?(arg: StepArgs): MaybePromise<void>;
  /** Wraps each attempt of a `step.run` or `step.sendEvent`'s work; may change its output or error. */
  wrapStepHandler?(arg: WrapStepHandlerArgs): Promise<unknown>;
  /** The step's work returned. */
  onStepComplete?(arg: OnStepCompleteArgs): MaybePromise<void>;
  /** The step's work threw. */
  onStepError?(arg: OnStepErrorArgs): MaybePromise<void>;
  /** The handler returned. */
  onRunComplete?(arg: OnRunCompleteArgs): MaybePromise<void>;
  /** The handler threw. */
  onRunError?(arg: OnRunErrorArgs): MaybePromise<void>;
  /** Every send (`client.send`, `step.sendEvent`): may return changed events. */
  transformSendEvent?(arg: TransformSendEventArgs): MaybePromise<TransformSendEventArgs>;
  /** Wraps every send. */
  wrapSendEvent?(arg: WrapSendEventArgs): Promise<{ ids: string[] }>;
}

/** A v4 middleware class, as listed in `middleware`. */
export type MiddlewareClass = (new (args: {
  client: MiddlewareClient;
}) => BaseMiddleware) & {
  onRegister?(args: OnRegisterArgs): void;
};

/** Inngest v4's `Middleware` namespace: `Middleware.BaseMiddleware`. */
export const Middleware = { BaseMiddleware };
