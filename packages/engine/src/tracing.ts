/**
 * @module tracing
 * OpenTelemetry traces of runs, through `@opentelemetry/api` only: the application (or
 * the Stepwise server) sets up an SDK, and `EngineOptions.tracing` turns spans on. Off,
 * the engine holds no `RunTracing` and creates no span objects.
 *
 * A run is one trace, however long it lasts and wherever its calls run:
 * - when a run is created its trace context is chosen and stored with it
 *   (`RunRecord.traceContext`): a W3C `traceparent` `00-<trace id>-<run span id>-<flags>`,
 *   in the trace of the span the run was started inside (a `client.send` in an active span,
 *   a `traceparent` header on `POST /e/:key`, the step that sent or invoked it), else in a
 *   new trace; followed by `/<span id>` of that span when there is one;
 * - every call of the run (`stepwise.call`) and every step it reports (`stepwise.step`) is
 *   a child of the run span, named by the stored context, on whichever node runs it;
 * - the node that ends the run emits the run span itself (`stepwise.run`), from the run's
 *   creation to its end, under the stored span id. An SDK span id is normally random: the
 *   tracer provider must use `StepwiseIdGenerator`, which hands out the run's recorded ids
 *   for that one span (`@stepwise/server`'s `startTracing` sets it up).
 */
import { randomBytes } from "node:crypto";
import {
  type Attributes,
  type Context,
  context,
  isSpanContextValid,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  type TracerProvider,
  trace,
} from "@opentelemetry/api";
import type { ExecutionResult, Logger, Op, SerializedError } from "@stepwise/protocol";
import type { QueueItem, RunRecord, RunStatus } from "./ports/store.ts";

/** `EngineOptions.tracing`: `true` uses the global tracer provider (`trace.setGlobalTracerProvider`, as an SDK's `start()` sets it). */
export type TracingOption = boolean | { tracerProvider?: TracerProvider };

/** Span names, as documented in docs/operations.md ("Traces"). */
export const SpanName = { Run: "stepwise.run", Call: "stepwise.call", Step: "stepwise.step" } as const;

/** Attribute keys (docs/operations.md, "Traces"). */
export const Attr = {
  FunctionId: "stepwise.function.id",
  RunId: "stepwise.run.id",
  EventName: "stepwise.event.name",
  RunStatus: "stepwise.run.status",
  RunAttempt: "stepwise.run.attempt",
  CallKind: "stepwise.call.kind",
  CallAttempt: "stepwise.call.attempt",
  CallOutcome: "stepwise.call.outcome",
  StepId: "stepwise.step.id",
  StepName: "stepwise.step.name",
  StepOp: "stepwise.step.op",
  StepAttempt: "stepwise.step.attempt",
  StepError: "stepwise.step.error",
} as const;

const tracerName = "stepwise";

// ── the run span's recorded ids ───────────────────────────────────────────────

const idSlot = Symbol.for("stepwise.tracing.next-ids");
interface IdSlot {
  traceId?: string;
  spanId?: string;
}
const slots = globalThis as { [idSlot]?: IdSlot };

/**
 * An OpenTelemetry SDK `IdGenerator` (pass it as `idGenerator` to a tracer provider or
 * `NodeSDK`): random ids, except for a run span, which takes the ids recorded when the
 * run was created, so that the call and step spans made earlier (elsewhere) are its children.
 */
export class StepwiseIdGenerator {
  generateTraceId(): string {
    const slot = slots[idSlot];
    const id = slot?.traceId;
    if (slot && id) {
      slot.traceId = undefined;
      return id;
    }
    return randomHex(16);
  }
  generateSpanId(): string {
    const slot = slots[idSlot];
    const id = slot?.spanId;
    if (slot && id) {
      slot.spanId = undefined;
      return id;
    }
    return randomHex(8);
  }
}

function randomHex(bytes: number): string {
  for (;;) {
    const hex = randomBytes(bytes).toString("hex");
    if (!/^0+$/.test(hex)) return hex;
  }
}

// ── stored trace context ──────────────────────────────────────────────────────

interface StoredContext {
  traceId: string;
  runSpanId: string;
  traceFlags: number;
  /** The span the run was started inside (its sender's). */
  parentSpanId?: string;
}

const storedPattern = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:\/([0-9a-f]{16}))?$/;

export function parseTraceContext(value: string | undefined): StoredContext | undefined {
  const match = value ? storedPattern.exec(value) : null;
  if (!match) return undefined;
  const [, traceId, runSpanId, flags, parentSpanId] = match as unknown as [string, string, string, string, string | undefined];
  return { traceId, runSpanId, traceFlags: Number.parseInt(flags, 16), ...(parentSpanId ? { parentSpanId } : {}) };
}

/** A new run's trace context, inside the span active in `parent` (if any). */
export function newTraceContext(parent: Context = context.active()): string {
  const span = trace.getSpanContext(parent);
  const inside = span && isSpanContextValid(span) ? span : undefined;
  const traceId = inside?.traceId ?? randomHex(16);
  const flags = (inside ? inside.traceFlags & 1 : 1).toString(16).padStart(2, "0");
  return `00-${traceId}-${randomHex(8)}-${flags}${inside ? `/${inside.spanId}` : ""}`;
}

/** The context of the run's span (stored), for its children. */
function runContext(stored: StoredContext): Context {
  return trace.setSpanContext(ROOT_CONTEXT, { traceId: stored.traceId, spanId: stored.runSpanId, traceFlags: stored.traceFlags, isRemote: true });
}

// ── the engine's side ─────────────────────────────────────────────────────────

/** What is known of a run whose call ran here: for its run span. */
interface KnownRun {
  run: RunRecord;
  eventName: string | undefined;
  attempt: number;
}

/** One call of a run: its span, and its steps as spans under the run's. */
export class CallTrace {
  private stepFrom = Date.now();
  constructor(
    private readonly tracer: Tracer,
    private readonly span: Span,
    readonly context: Context,
    private readonly parent: Context,
    private readonly base: Attributes,
  ) {}

  /** Runs `fn` with the call's span active (a served call's request carries it as `traceparent`). */
  within<T>(fn: () => T): T {
    return context.with(this.context, fn);
  }

  /** A step's outcome, reported or checkpointed now: a span from the previous step's end (or the call's start). */
  step(op: Op, attempt: number) {
    if (op.op === "StepPlanned") return;
    const now = Date.now();
    const error = op.error as SerializedError | undefined;
    const span = this.tracer.startSpan(
      SpanName.Step,
      {
        kind: SpanKind.INTERNAL,
        startTime: this.stepFrom,
        attributes: {
          ...this.base,
          [Attr.StepId]: op.id,
          [Attr.StepName]: op.displayName ?? op.name ?? op.id,
          [Attr.StepOp]: op.op,
          [Attr.StepAttempt]: attempt,
          ...(error ? { [Attr.StepError]: `${error.name ?? "Error"}: ${error.message ?? ""}` } : {}),
        },
      },
      this.parent,
    );
    if (error) span.setStatus({ code: SpanStatusCode.ERROR, message: error.message ?? "" });
    span.end(now);
    this.stepFrom = now;
  }

  /** The call returned `result` (its steps not checkpointed are recorded here). */
  end(result: ExecutionResult, attempt: number) {
    if (result.type === "steps") for (const op of result.ops) this.step(op, attempt + 1);
    this.span.setAttribute(Attr.CallOutcome, result.type);
    if (result.type === "function-rejected") this.span.setStatus({ code: SpanStatusCode.ERROR, message: result.error.message ?? "" });
    this.span.end();
  }

  /** The call ended without a result (its lease was lost, the engine failed). */
  fail(error: unknown) {
    this.span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
    this.span.end();
  }
}

export class RunTracing {
  private readonly tracer: Tracer;
  private readonly known = new Map<string, KnownRun>();
  private warned = false;

  constructor(
    option: Exclude<TracingOption, false>,
    private readonly logger: Logger,
  ) {
    this.tracer = (option === true ? trace.getTracerProvider() : (option.tracerProvider ?? trace.getTracerProvider())).getTracer(tracerName);
  }

  /** Gives each new run without one a trace context: inside the span active in `parent`, or in `parentRun`'s trace. */
  stampRuns(runs: readonly RunRecord[], parent: Context = context.active(), parentRun?: string) {
    const inRun = parentRun ? this.known.get(parentRun)?.run.traceContext : undefined;
    const stored = parseTraceContext(inRun);
    const from = stored ? runContext(stored) : parent;
    for (const run of runs) if (run.traceContext === undefined) run.traceContext = newTraceContext(from);
  }

  /** A call of `run` begins here (`undefined` when the run has no trace context: tracing was off when it was created). */
  startCall(run: RunRecord, eventName: string | undefined, item: QueueItem): CallTrace | undefined {
    const stored = parseTraceContext(run.traceContext);
    if (!stored) return undefined;
    this.known.set(run.id, { run, eventName, attempt: item.attempt });
    const parent = runContext(stored);
    const base: Attributes = { [Attr.FunctionId]: run.functionId, [Attr.RunId]: run.id };
    const span = this.tracer.startSpan(
      SpanName.Call,
      { kind: SpanKind.INTERNAL, attributes: { ...base, [Attr.CallKind]: item.kind, [Attr.CallAttempt]: item.attempt } },
      parent,
    );
    return new CallTrace(this.tracer, span, trace.setSpan(parent, span), parent, base);
  }

  /** No call of the run is in flight here any more. */
  forget(runId: string) {
    this.known.delete(runId);
  }

  /** The run ended (here): its span, from its creation to now. */
  runEnded(runId: string, status: RunStatus, error: SerializedError | undefined, load: () => Promise<{ run: RunRecord; eventName?: string } | undefined>) {
    const known = this.known.get(runId);
    if (known) return this.emitRun(known, status, error);
    void load()
      .then((found) => found && this.emitRun({ run: found.run, eventName: found.eventName, attempt: -1 }, status, error))
      .catch(() => {});
  }

  private emitRun({ run, eventName, attempt }: KnownRun, status: RunStatus, error: SerializedError | undefined) {
    const stored = parseTraceContext(run.traceContext);
    if (!stored) return;
    const parent = stored.parentSpanId
      ? trace.setSpanContext(ROOT_CONTEXT, { traceId: stored.traceId, spanId: stored.parentSpanId, traceFlags: stored.traceFlags, isRemote: true })
      : ROOT_CONTEXT;
    const attributes: Attributes = {
      [Attr.FunctionId]: run.functionId,
      [Attr.RunId]: run.id,
      [Attr.RunStatus]: status,
      ...(eventName !== undefined ? { [Attr.EventName]: eventName } : {}),
      ...(attempt >= 0 ? { [Attr.RunAttempt]: attempt } : {}),
    };
    slots[idSlot] = { traceId: stored.traceId, spanId: stored.runSpanId };
    let span: Span;
    try {
      span = this.tracer.startSpan(SpanName.Run, { kind: SpanKind.CONSUMER, startTime: run.createdAt, attributes }, parent);
    } finally {
      slots[idSlot] = undefined;
    }
    if (span.isRecording() && !sameIds(span.spanContext(), stored) && !this.warned) {
      this.warned = true;
      this.logger.warn(
        "stepwise: tracing: a run span did not get the id its steps were recorded under; set up the OpenTelemetry SDK with `idGenerator: new StepwiseIdGenerator()` (from @stepwise/engine)",
      );
    }
    if (status === "Failed") span.setStatus({ code: SpanStatusCode.ERROR, message: error?.message ?? status });
    else if (status === "Completed") span.setStatus({ code: SpanStatusCode.OK });
    span.end();
    this.known.delete(run.id);
  }
}

function sameIds(span: SpanContext, stored: StoredContext): boolean {
  return span.spanId === stored.runSpanId && span.traceId === stored.traceId;
}
