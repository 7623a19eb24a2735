/**
 * @module tracing
 * The OpenTelemetry SDK for a Stepwise server (or an app embedding the engine), and the
 * W3C trace headers the server reads and writes.
 *
 * `startTracing()` starts `@opentelemetry/sdk-node` for traces only, configured by the
 * standard `OTEL_*` variables, which the SDK itself reads (`OTEL_EXPORTER_OTLP_ENDPOINT`,
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_EXPORTER_OTLP_PROTOCOL`, `OTEL_SERVICE_NAME`,
 * `OTEL_TRACES_EXPORTER`, `OTEL_TRACES_SAMPLER`, `OTEL_PROPAGATORS`, `OTEL_RESOURCE_ATTRIBUTES`, …),
 * with the engine's `StepwiseIdGenerator`. Tracing is off unless configured: it starts only
 * when `OTEL_TRACES_EXPORTER`, `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
 * is set, and `OTEL_SDK_DISABLED` is not `true`.
 */
import { createHash, randomBytes } from "node:crypto";
import { type Context, context, defaultTextMapGetter, defaultTextMapSetter, ROOT_CONTEXT, trace } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { StepwiseIdGenerator } from "@stepwise/engine";

/** The variables that turn tracing on (any one of them set, not empty). */
export const tracingEnvVars = ["OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] as const;

/** Whether `env` asks for traces: one of `tracingEnvVars` set, `OTEL_SDK_DISABLED` not true, `OTEL_TRACES_EXPORTER` not `none`. */
export function tracingConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === "true") return false;
  if (env.OTEL_TRACES_EXPORTER?.trim().toLowerCase() === "none") return false;
  return tracingEnvVars.some((name) => (env[name] ?? "").trim() !== "");
}

export interface Tracing {
  /** Whether the SDK was started: pass `tracing: enabled` to the engine. */
  readonly enabled: boolean;
  /** Flushes spans not exported yet, and stops the SDK. */
  shutdown(): Promise<void>;
}

/**
 * Starts the OpenTelemetry SDK for traces when the environment configures it (see the
 * module notes); otherwise does nothing and returns `{ enabled: false }`.
 *
 * @example
 * const tracing = await startTracing();
 * const engine = await createEngine({ database, tracing: tracing.enabled });
 * // on shutdown: await engine.close(); await tracing.shutdown();
 */
export async function startTracing(options: { env?: NodeJS.ProcessEnv; serviceName?: string } = {}): Promise<Tracing> {
  const env = options.env ?? process.env;
  if (!tracingConfigured(env)) return { enabled: false, shutdown: async () => {} };
  const { NodeSDK } = await import("@opentelemetry/sdk-node");
  const named = (env.OTEL_SERVICE_NAME ?? "") !== "" || /(^|,)\s*service\.name\s*=/.test(env.OTEL_RESOURCE_ATTRIBUTES ?? "");
  const sdk = new NodeSDK({
    idGenerator: new StepwiseIdGenerator(),
    // traces only: no metric readers or log processors from the environment's defaults
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [],
    ...(named ? {} : { serviceName: options.serviceName ?? "stepwise" }),
  });
  sdk.start();
  let stopped: Promise<void> | undefined;
  return {
    enabled: true,
    shutdown: () => {
      stopped ??= sdk.shutdown().catch(() => {});
      return stopped;
    },
  };
}

const w3c = new W3CTraceContextPropagator();

/** The context named by a request's `traceparent` (and `tracestate`) header: `ROOT_CONTEXT` without a valid one. */
export function contextFromHeaders(header: (name: string) => string | undefined): Context {
  const traceparent = header("traceparent");
  if (!traceparent) return ROOT_CONTEXT;
  const tracestate = header("tracestate");
  return w3c.extract(ROOT_CONTEXT, { traceparent, ...(tracestate ? { tracestate } : {}) }, defaultTextMapGetter);
}

/** Runs `fn` inside the span a request's `traceparent` names (as is, without one). */
export function withRequestContext<T>(header: (name: string) => string | undefined, fn: () => T): T {
  if (!header("traceparent")) return fn();
  return context.with(contextFromHeaders(header), fn);
}

/**
 * Adds `traceparent` (and `tracestate`) for the span active now to `headers`: a served
 * call's request, so the app's spans join the run's trace. Without an active span (tracing
 * off) and with `runId`, a `traceparent` of the run's own: its trace id derived from the
 * run id (every call of a run in one trace), a fresh span id. Inngest's executor sends one
 * on every call, and the official SDK attributes spans (AI calls' step metadata) only
 * under one.
 */
export function injectTraceHeaders(headers: Record<string, string>, runId?: string): void {
  const active = context.active();
  if (trace.getSpanContext(active)) w3c.inject(active, headers, defaultTextMapSetter);
  else if (runId) headers.traceparent = runTraceparent(runId);
}

/** `00-<trace id from the run id>-<random span id>-01`. */
export function runTraceparent(runId: string): string {
  const traceId = createHash("sha256").update(runId).digest("hex").slice(0, 32);
  return `00-${traceId}-${randomBytes(8).toString("hex")}-01`;
}

/**
 * A served call about to be sent to `url` inside the active (call) span: its request gets
 * `traceparent`, the span `url.full`; the returned function records the answer's status
 * (`http.response.status_code`; none when no answer came). `undefined` without an active span.
 */
export function traceServedCall(headers: Record<string, string>, url: string, runId?: string): ((status: number | undefined) => void) | undefined {
  injectTraceHeaders(headers, runId);
  const span = trace.getActiveSpan();
  if (!span) return undefined;
  if (!span.isRecording()) return undefined;
  span.setAttribute("url.full", url);
  return (status) => {
    if (status !== undefined) span.setAttribute("http.response.status_code", status);
  };
}

const noTraceContext = new Uint8Array(0);

/**
 * A Connect call's `userTraceCtx`: the active span's headers as JSON
 * (`{"traceparent": …, "tracestate": …}`, which the official SDK's worker reads as the
 * call's `traceparent`/`tracestate` headers); without an active span, the run's (see `injectTraceHeaders`), or empty.
 */
export function connectTraceContext(runId?: string): Uint8Array {
  const headers: Record<string, string> = {};
  injectTraceHeaders(headers, runId);
  if (!headers.traceparent) return noTraceContext;
  return new TextEncoder().encode(JSON.stringify({ traceparent: headers.traceparent, tracestate: headers.tracestate ?? "" }));
}
