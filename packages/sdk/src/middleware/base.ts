/**
 * @module middleware/base
 * Inngest v4's middleware form: a class extending `Middleware.BaseMiddleware`, listed
 * (the class, not an instance) in `middleware`. A fresh instance is made for every call
 * (and every `client.send`), so fields are call-scoped state.
 */
import type * as Args from "./hook-args.ts";
import type {
  OnRegisterArgs,
  OnRunCompleteArgs,
  OnRunErrorArgs,
  OnStepCompleteArgs,
  OnStepErrorArgs,
  RunArgs,
  StepArgs,
  TransformFunctionInputArgs,
  TransformSendEventArgs,
  WrapFunctionHandlerArgs,
  WrapSendEventArgs,
  WrapStepArgs,
  WrapStepHandlerArgs,
} from "./hook-args.ts";
import type { MaybePromise, MiddlewareClient } from "./middleware.ts";

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
  /**
   * Wraps the value every step tool returns (all step kinds, memoized or not), once per
   * step per call. `next()` settles when the step does: not on calls that end by
   * reporting the step. A step the middleware starts itself before `next()` is not
   * wrapped by it again.
   */
  wrapStep?(arg: WrapStepArgs): Promise<unknown>;
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

/** Inngest v4's `Middleware` namespace: `Middleware.BaseMiddleware`, and the hooks' argument types. */
export const Middleware = { BaseMiddleware };

/** The argument types of the v4 hooks, as `Middleware.<Name>`. */
export declare namespace Middleware {
  type Client = MiddlewareClient;
  type Class = MiddlewareClass;
  type StepType = Args.StepType;
  type StepInfo = Args.StepInfo;
  type MemoizedStep = Args.MemoizedStepEntry;
  type TransformFunctionInputArgs = Args.TransformFunctionInputArgs;
  type TransformSendEventArgs = Args.TransformSendEventArgs;
  type OnRegisterArgs = Args.OnRegisterArgs;
  type RunArgs = Args.RunArgs;
  type OnRunStartArgs = Args.RunArgs;
  type OnMemoizationEndArgs = Args.RunArgs;
  type OnRunCompleteArgs = Args.OnRunCompleteArgs;
  type OnRunErrorArgs = Args.OnRunErrorArgs;
  type StepArgs = Args.StepArgs;
  type OnStepStartArgs = Args.StepArgs;
  type OnStepCompleteArgs = Args.OnStepCompleteArgs;
  type OnStepErrorArgs = Args.OnStepErrorArgs;
  type WrapFunctionHandlerArgs = Args.WrapFunctionHandlerArgs;
  type WrapStepHandlerArgs = Args.WrapStepHandlerArgs;
  type WrapStepArgs = Args.WrapStepArgs;
  type WrapSendEventArgs = Args.WrapSendEventArgs;
}
