/**
 * @module @stepwise/server
 * The HTTP face of an engine: Inngest's event API, app registration, the SDK run API and
 * the REST API, as a Hono app. Apps served over HTTP run through `HttpFunction`.
 */

export { createServer, type ServerOptions, type StepwiseServer } from "./app.ts";
export { type AppRecord, AppRegistry, type RegisterRequest } from "./apps/app-registry.ts";
export { type ApiTokenInfo, TokenStore, tokenFileFor } from "./auth/token-store.ts";
export {
  CloseCode,
  ConnectFunction,
  ConnectGateway,
  type ConnectGatewayOptions,
  type ConnectionInfo,
  connectRoutes,
  connectSubprotocol,
  type ForwardCall,
  forwardPath,
  forwardSignatureHeader,
  gatewayPath,
  signForward,
  verifyForward,
} from "./connect/index.ts";
/** The Connect protocol's protobuf messages (for tests and tools speaking it directly). */
export * as connectWire from "./connect/wire.ts";
export { canonicalJson } from "./driver/canonical-json.ts";
export { DurableEndpoints, type EndpointDriverOptions } from "./driver/endpoint-function.ts";
export { decodeResponse, HttpFunction, type HttpFunctionOptions } from "./driver/http-function.ts";
export { fromWire, type WireFunction } from "./driver/wire-config.ts";
export { errorBody } from "./errors.ts";
export { checkScope, RealtimeHub, type RealtimeHubOptions, realtimeConnectPath, wireMessage } from "./realtime/hub.ts";
export { RealtimeTokens, type RealtimeTokensOptions, type SubscriptionScope } from "./realtime/tokens.ts";
export { createMetrics, type StepwiseMetrics } from "./routes/metrics.ts";
export {
  connectTraceContext,
  contextFromHeaders,
  injectTraceHeaders,
  startTracing,
  type Tracing,
  traceServedCall,
  tracingConfigured,
  tracingEnvVars,
  withRequestContext,
} from "./tracing.ts";
