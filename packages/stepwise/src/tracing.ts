/**
 * @module stepwise/tracing
 * OpenTelemetry traces for an engine inside your process: `startTracing()` starts the
 * OpenTelemetry SDK for traces from the standard `OTEL_*` variables (off unless one of
 * `OTEL_TRACES_EXPORTER`, `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
 * is set), then `createEngine({ tracing: tracing.enabled })` emits run, call and step spans.
 * Setting up the SDK yourself instead: give its tracer provider `idGenerator: new StepwiseIdGenerator()`
 * and pass `tracing: true` (the global provider) or `tracing: { tracerProvider }`.
 *
 * @example
 * import { createEngine } from "stepwise/engine";
 * import { startTracing } from "stepwise/tracing";
 * const tracing = await startTracing();
 * const engine = await createEngine({ database: "./stepwise.db", tracing: tracing.enabled });
 * // on shutdown: await engine.close(); await tracing.shutdown();
 */
export { SpanName, StepwiseIdGenerator, TraceAttribute, type TracingOption } from "@stepwise/engine";
export { startTracing, type Tracing, tracingConfigured, tracingEnvVars } from "@stepwise/server/tracing";
