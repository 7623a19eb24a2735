/**
 * @module @stepwise/engine
 * The durable core: run state machine, queue, retries, timers, trigger matching.
 * It talks to storage only through `Store` and to functions only through `FunctionHandle`.
 */
export {
  type Activity,
  type ActivityListener,
  createEngine,
  Engine,
  type EngineOptions,
  type RerunOptions,
  type RunDetails,
  type RunEndedListener,
  type RunStartedListener,
  type StuckRun,
} from "./engine.ts";
export { toEventRecord } from "./events/intake.ts";
export { findPauseCandidates } from "./events/pause-router.ts";
export { type CompiledExpression, compileExpression } from "./expressions/cel.ts";
export { newId } from "./ids.ts";
export { type EngineMetrics, storeWriteMethods, timedStore } from "./metrics.ts";
export { type Clock, systemClock } from "./ports/clock.ts";
export { createInProcessNotifier, type Notifier } from "./ports/notifier.ts";
export { createInProcessRealtimeBus, InProcessRealtimeBus, type RealtimeBus, type RealtimeMessage } from "./ports/realtime.ts";
export * from "./ports/store.ts";
export { defaultRetentionMs, type RetentionOptions, type RetentionPeriod, retentionPolicy } from "./retention.ts";
export { defaultGatewayTimeoutMs, type GatewayOptions, redactUrl } from "./runner/gateway.ts";
export { foldRunMetadata, type MetadataByKind, type RunMetadata } from "./runs/metadata.ts";
export type { RunWait } from "./runs/rerun.ts";
export { type AppOutagePolicy, defaultAppOutagePolicy, outageDelayMs, retryDelayMs } from "./scheduler/backoff.ts";
export { nextTick, parseCron } from "./scheduler/cron.ts";
export { FaultInjectedError } from "./testing/faults.ts";
export { createManualClock, type ManualClock } from "./testing/manual-clock.ts";
export { Attr as TraceAttribute, newTraceContext, parseTraceContext, SpanName, StepwiseIdGenerator, type TracingOption } from "./tracing.ts";
