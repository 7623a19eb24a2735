/**
 * @module middleware
 * Middleware for Stepwise functions: Inngest v3's `InngestMiddleware` ({ name, init })
 * and v4's class form (`Middleware.BaseMiddleware`), both run by the same per-call
 * runtime, plus the shipped `loggerMiddleware`. See docs/middleware.md.
 */
export { BaseMiddleware, Middleware, type MiddlewareClass } from "./base.ts";
export type {
  MemoizedStepEntry,
  OnRegisterArgs,
  OnRunCompleteArgs,
  OnRunErrorArgs,
  OnStepCompleteArgs,
  OnStepErrorArgs,
  RunArgs,
  StepArgs,
  StepInfo,
  StepType,
  TransformFunctionInputArgs,
  TransformSendEventArgs,
  WrapFunctionHandlerArgs,
  WrapSendEventArgs,
  WrapStepArgs,
  WrapStepHandlerArgs,
} from "./hook-args.ts";
export { type LoggerMiddlewareOptions, loggerMiddleware, ReplayAwareLogger } from "./logger.ts";
export {
  type FunctionRunArgs,
  type FunctionRunHooks,
  type HookResult,
  InngestMiddleware,
  type MaybePromise,
  type MemoizedStep,
  type MiddlewareClient,
  type MiddlewareOptions,
  type MiddlewareRegisterReturn,
  type RunContextInfo,
  type RunOutcome,
  type SendEventHooks,
  StepwiseMiddleware,
  type TransformInputArgs,
  type TransformInputResult,
  type TransformOutputArgs,
} from "./middleware.ts";
export type { MiddlewareContext, MiddlewareEntry, MiddlewareStack } from "./types.ts";
