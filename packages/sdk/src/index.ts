/**
 * @module @stepwise/sdk
 * What users import to write functions. It never imports the engine.
 */

export { consoleLogger, type EventPayload, type Logger, StepwiseError, type StoredEvent, silentLogger, type Trigger } from "@stepwise/protocol";
export { type ClientOptions, Inngest, type SendPayload, Stepwise } from "./client.ts";
export { EventValidationError, NonRetriableError, RetryAfterError, StepError } from "./errors.ts";
export { CallExecution, type StepRequest } from "./execution/call.ts";
export type { Jsonify } from "./execution/json.ts";
export { type Context, type FailureContext, type FunctionOptions, type Handler, StepwiseFunction } from "./function.ts";
export { type ConnectionOptions, envVars } from "./http/env.ts";
export * from "./middleware/index.ts";
export { MiddlewareError } from "./middleware/runtime.ts";
export { createServeHandler, type ServeHandler, type ServeOptions, type ServeRequest, type ServeResponse } from "./serve/handler.ts";
export type { InvokeOptions, StepIdInput, StepTools, WaitForEventOptions, WaitForSignalOptions } from "./step/index.ts";
