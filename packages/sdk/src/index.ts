/**
 * @module @stepwise/sdk
 * What users import to write functions. It never imports the engine.
 */

export { consoleLogger, type EventPayload, type Logger, StepwiseError, type StoredEvent, silentLogger, type Trigger } from "@stepwise/protocol";
export { type AiModel, type AnthropicOptions, anthropic, gemini, type ModelOptions, models, openai } from "./ai/models.ts";
export { type AnyStepwise, type ClientEvents, type ClientOptions, type EventsOfClient, Inngest, type SendPayload, Stepwise } from "./client.ts";
export { createDefer, type DeferContext, type DeferOptions, type DeferParent, DeferredFunction } from "./defer.ts";
export { EventValidationError, NonRetriableError, RetryAfterError, StepError } from "./errors.ts";
export {
  type AnyEventType,
  type CreatedEvent,
  type CreateEventOptions,
  EventType,
  eventType,
  isEventType,
  type SchemaData,
  staticSchema,
} from "./events/event-type.ts";
export {
  type AnyEventSchemas,
  type EventDefinition,
  EventSchemas,
  type EventsOf,
  type LiteralEventSchema,
  type SchemaEventDefinition,
} from "./events/schemas.ts";
export type { StandardSchemaV1 } from "./events/standard-schema.ts";
export type {
  AnyData,
  CronEvent,
  EventMap,
  EventShape,
  FunctionEvent,
  NamedEvent,
  ReceivedEvent,
  SendPayloadOf,
  TriggerInput,
  TriggersInput,
  UntypedEvents,
  UntypedSendPayload,
  WaitForEventResult,
} from "./events/types.ts";
export { CallExecution, type StepRequest } from "./execution/call.ts";
export type { DeferHandle } from "./execution/defers.ts";
export type { Jsonify } from "./execution/json.ts";
export { type Context, type DeferFn, type FailureContext, type FailureEventData, type FunctionOptions, type Handler, StepwiseFunction } from "./function.ts";
export { type ConnectionOptions, envVars } from "./http/env.ts";
export * from "./middleware/index.ts";
export { MiddlewareError } from "./middleware/runtime.ts";
export {
  type ChannelDef,
  type ChannelInput,
  type ChannelInstance,
  type ClientRealtime,
  channel,
  getSubscriptionToken,
  type InferTopicData,
  type Message as RealtimeMessage,
  realtime,
  type Subscription,
  type SubscriptionToken,
  subscribe,
  type TokenMessage,
  type TopicConfig,
  type TopicRef,
  type TopicsConfig,
  topic,
} from "./realtime/index.ts";
export { createServeHandler, type ServeHandler, type ServeOptions, type ServeRequest, type ServeResponse } from "./serve/handler.ts";
export { fetch } from "./step/fetch.ts";
export { group, type ParallelOptions } from "./step/group.ts";
export type {
  DurableFetch,
  GatewayResponse,
  InferOptions,
  InvokeOptions,
  InvokeResult,
  InvokeTarget,
  MetadataBuilder,
  RealtimePublisher,
  RealtimeStepTools,
  ScoreOptions,
  SendSignalOptions,
  StepAi,
  StepFetch,
  StepIdInput,
  StepMetadata,
  StepTools,
  WaitForEventOptions,
  WaitForSignalOptions,
} from "./step/index.ts";
export { type StepBackoff, type StepRunOptions, StepTimeoutError } from "./step/run.ts";
export type { SendEventOptions } from "./step/send-event.ts";
