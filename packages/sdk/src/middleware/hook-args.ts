/**
 * @module middleware/hook-args
 * The argument types of the v4 class hooks (also reachable as `Middleware.<Name>`).
 */
import type { EventPayload, FunctionHandle, Memo } from "@stepwise/protocol";
import type { Context } from "../function.ts";
import type { MiddlewareClient } from "./middleware.ts";

/** The kind of step a hook is about. */
export type StepType = "run" | "sendEvent" | "sleep" | "waitForEvent" | "waitForSignal" | "invoke" | "realtime.publish" | (string & {});

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
export interface WrapStepArgs extends StepArgs {
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
