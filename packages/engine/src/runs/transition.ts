/**
 * @module transition
 * What a call's result means for its run, as plain data: the rules of the run state
 * machine live here, pure, and the store only writes what this returns.
 *
 * Run states: Queued → Running → Completed | Failed | Cancelled.
 * - The handler returned → Completed.
 * - The handler threw → the call is retried with backoff while attempts remain
 *   (not for NonRetriableError or an uncaught StepError), then Failed.
 * - Steps:
 *   StepRun / StepFailed  memoize; discover again once no parallel branch is pending.
 *   StepError             retry the step with backoff; past the last attempt → StepFailed.
 *   StepPlanned           each branch becomes its own queue item.
 *   race ops              (`opts.parallelMode: "race"`) discover again as soon as one settles;
 *                         once the handler moves past the race (a new op, or it ended),
 *                         branches still Planned are Abandoned and their items dropped.
 *   Sleep                 a queue item due when the sleep ends.
 *   DeferAdd / DeferAbort recorded as steps (never memo); the run's end starts the defers (defers.ts).
 * - The app was not reachable (served calls: no SDK answered) → the call runs again on
 *   the outage backoff, its attempt unspent, with `waitingOn: { kind: "app" }` on the run;
 *   past the outage budget → Failed with `AppUnreachableError`.
 */
import {
  type EventMeta,
  type ExecutionResult,
  type FunctionConfig,
  limits,
  type Op,
  OpCode,
  parseDuration,
  resolveInstant,
  type SerializedError,
  StepwiseError,
  SystemEvent,
  serializeError,
  validateEventMeta,
} from "@stepwise/protocol";
import type { EventInput } from "../events/intake.ts";
import { preparePauseExpression } from "../expressions/pause-expression.ts";
import {
  type NewQueueItem,
  PauseKind,
  type PauseRecord,
  type QueueItem,
  QueueItemKind,
  type RunState,
  RunStatus,
  type StepRecord,
  StepStatus,
  signalEventName,
  type TransitionParams,
} from "../ports/store.ts";
import { gatewayInput, gatewayOpCode } from "../runner/gateway.ts";
import { type AppOutagePolicy, clampRetryAt, outageDelayMs, retryDelayMs } from "../scheduler/backoff.ts";
import { deferStepFromOp, scheduleDefers } from "./defers.ts";

export interface TransitionContext {
  state: RunState;
  item: QueueItem;
  config: FunctionConfig;
  now: number;
  retryDelayScale: number;
  /** How a served run waits for an unreachable app. */
  outage: AppOutagePolicy;
  /** A step completed in this call, so the attempt counter restarted at 0. */
  checkpointed: boolean;
  /** When the call began: a wait found in it matches events received since then. */
  callStartedAt: number;
  /** Looks up an invoke target by composite id. */
  resolveFunction(id: string): FunctionConfig | undefined;
  /** The live waits on each signal a new `step.waitForSignal` of this call waits on (read before the call's commit). */
  signalWaiters?: ReadonlyMap<string, readonly PauseRecord[]>;
}

/** A run to start directly with this event (step.invoke), bypassing trigger matching. */
export interface Invocation {
  functionId: string;
  event: SystemEventInput;
}

/** After the commit, look for events that already match this new pause (lookback, races). */
export interface PausePostCheck {
  pause: PauseRecord;
  since: number;
}

export interface SystemEventInput {
  name: string;
  data: Record<string, unknown>;
  meta?: EventMeta;
}

export interface Transition {
  params: TransitionParams;
  /** Set when the run ended. */
  ended?: RunStatus;
  /** System events to emit with the transition. */
  events: SystemEventInput[];
  invocations?: Invocation[];
  postChecks?: PausePostCheck[];
  /** Enqueued only when no other work item of the run remains (the last parallel branch). */
  discoverWhenIdle?: NewQueueItem;
  /** A targeted step of a run in its parallel phase settled: the phase ends if this is the last branch (`discoverWhenIdle` enqueued). */
  endsParallelWhenIdle?: boolean;
  /** A race branch settled: enqueued now unless a discovery of the run is queued (it reads this result) or running (then after its lease). */
  discoverSoon?: NewQueueItem;
  /** Events `step.sendEvent` sent, stored with this transition (their ids were returned already). */
  sent?: { inputs: EventInput[]; ids: string[]; ordered?: string[][] };
}

/** How long an invoke waits for its result by default (Inngest: about a year). */
export const defaultInvokeTimeoutMs = limits.sleepMs;

/** The step record for an op, at `attempts` attempts. */
export function stepFromOp(runId: string, op: Op, status: StepRecord["status"], attempts: number, now: number): StepRecord {
  const userId = op.userland?.id ?? op.name ?? op.id;
  const step: StepRecord = {
    runId,
    id: op.id,
    name: op.userland?.index !== undefined ? `${userId}:${op.userland.index}` : userId,
    op: gatewayOpCode(op) ?? op.op,
    status,
    attempts,
  };
  if (op.displayName && op.displayName !== userId) step.displayName = op.displayName;
  if (op.timing) {
    step.startedAt = Math.round(op.timing.a / 1e6);
    step.endedAt = Math.round((op.timing.a + op.timing.b) / 1e6);
  }
  if (status === StepStatus.Completed) step.output = op.data ?? null;
  if (op.error) step.error = op.error;
  const input = inputOf(op);
  if (input !== undefined) step.input = input;
  if (op.metadata?.length) step.metadata = op.metadata;
  if (status === StepStatus.Errored || status === StepStatus.Failed || status === StepStatus.Completed) step.endedAt ??= now;
  return step;
}

/** What a step was asked to do, for people reading the run: a sleep's duration, a wait's event and expression, an invoke's target and payload, a run's extra arguments. */
export function inputOf(op: Op): unknown {
  const opts = op.opts ?? {};
  switch (op.op) {
    case OpCode.Sleep:
      return { duration: op.name ?? "" };
    case OpCode.WaitForEvent:
      return { event: op.name, ...opts };
    case OpCode.WaitForSignal:
    case OpCode.InvokeFunction:
      return opts;
    default:
      return gatewayInput(op) ?? (opts.input !== undefined ? { args: opts.input } : undefined);
  }
}

export function transitionFor(result: ExecutionResult, ctx: TransitionContext): Transition {
  // a run that ends (Completed or Failed) starts its defers (see defers.ts)
  const defers = { runId: ctx.state.run.id, functionId: ctx.config.id, known: ctx.state.steps, now: ctx.now };
  if (result.type === "function-rejected" && result.unreachable) return scheduleDefers(unreachable(result.error, ctx), defers);
  const answered = answeredTransition(result, ctx);
  // the app answered: the run no longer waits for it
  if (ctx.state.run.waitingOn?.kind === "app") answered.params = { ...answered.params, waitingOn: null };
  return scheduleDefers(answered, defers, result.deferred);
}

/** The app was not reachable: call again later without spending an attempt, until the outage budget is spent. */
function unreachable(error: SerializedError, ctx: TransitionContext): Transition {
  const previous = ctx.state.run.waitingOn?.kind === "app" ? ctx.state.run.waitingOn : undefined;
  const since = previous?.since ?? ctx.callStartedAt;
  const { budgetMs } = ctx.outage;
  if (ctx.now - since >= budgetMs) {
    const failed = endRun(ctx, RunStatus.Failed, {
      error: {
        name: "AppUnreachableError",
        message: `the app serving function "${ctx.config.slug}" was unreachable for ${spoken(ctx.now - since)}, past the ${spoken(budgetMs)} outage budget (appOutage.budgetMs); last error: ${error.message}`,
      },
    });
    failed.params = { ...failed.params, waitingOn: null };
    return failed;
  }
  const failures = (previous?.failures ?? 0) + 1;
  const until = Math.min(ctx.now + outageDelayMs(failures, ctx.outage), since + budgetMs);
  return {
    params: {
      runId: ctx.state.run.id,
      itemId: ctx.item.id,
      reschedule: { availableAt: until, attempt: ctx.checkpointed ? 0 : ctx.item.attempt, kind: ctx.item.kind },
      waitingOn: { kind: "app", since, until, failures, reason: error.message },
    },
    events: [],
  };
}

/** A duration for people: milliseconds under 10 s, then seconds. */
function spoken(ms: number): string {
  return ms < 10_000 ? `${Math.round(ms)} ms` : `${Math.round(ms / 1000)} s`;
}

function answeredTransition(result: ExecutionResult, ctx: TransitionContext): Transition {
  switch (result.type) {
    case "function-resolved":
      return abandonPending(ctx, endRun(ctx, RunStatus.Completed, { output: result.data }));
    case "function-rejected": {
      const attempt = ctx.checkpointed ? 0 : ctx.item.attempt;
      if (result.retriable && attempt + 1 <= ctx.config.retries) {
        return retry(ctx, attempt, result.retryAt);
      }
      return abandonPending(ctx, endRun(ctx, RunStatus.Failed, { error: result.error }));
    }
    case "steps":
      return stepsTransition(result.ops, result.retryAt, ctx);
  }
}

/** Whether an op is a branch of a race (`group.parallel`, or the official SDK's `parallelMode`). */
function isRace(op: Op): boolean {
  return op.opts?.parallelMode === "race";
}

/** The step as abandoned: a branch that was planned but will never run. */
function abandoned(step: StepRecord, now: number): StepRecord {
  return { ...step, status: StepStatus.Abandoned, endedAt: now };
}

/** The handler ended: branches still planned never run; show them as abandoned. */
function abandonPending(ctx: TransitionContext, t: Transition): Transition {
  const pending = ctx.state.steps.filter((s) => s.status === StepStatus.Planned);
  if (pending.length === 0) return t;
  return { ...t, params: { ...t.params, steps: [...(t.params.steps ?? []), ...pending.map((s) => abandoned(s, ctx.now))] } };
}

/** A step's own `retries` (`step.run({ id, retries })`), else the function's. */
function stepRetries(op: Op, ctx: TransitionContext): number {
  const own = op.opts?.retries;
  return typeof own === "number" && Number.isInteger(own) && own >= 0 ? own : ctx.config.retries;
}

/** When a step with its own `backoff` runs again after failed attempt `attempt` (scaled as every delay is). */
function stepBackoffAt(op: Op, attempt: number, ctx: TransitionContext): number | undefined {
  const b = op.opts?.backoff as { initialMs?: unknown; factor?: unknown; maxMs?: unknown } | undefined;
  if (!b || typeof b.initialMs !== "number" || typeof b.factor !== "number" || typeof b.maxMs !== "number") return undefined;
  return ctx.now + Math.round(Math.min(b.maxMs, b.initialMs * b.factor ** attempt) * ctx.retryDelayScale);
}

function retry(ctx: TransitionContext, attempt: number, retryAt: number | undefined, steps?: StepRecord[], backoffAt?: number): Transition {
  const availableAt =
    retryAt !== undefined ? clampRetryAt(retryAt, ctx.now, ctx.retryDelayScale) : (backoffAt ?? ctx.now + retryDelayMs(attempt, ctx.retryDelayScale));
  return {
    // the held item runs again as what it was processed as (a woken sleep continues as discovery)
    params: {
      runId: ctx.state.run.id,
      itemId: ctx.item.id,
      reschedule: { availableAt, attempt: attempt + 1, kind: ctx.item.kind },
      ...(steps ? { steps } : {}),
    },
    events: [],
  };
}

function stepsTransition(ops: Op[], retryAt: number | undefined, ctx: TransitionContext): Transition {
  const runId = ctx.state.run.id;
  const known = new Set(ctx.state.steps.map((s) => s.id));
  const newSteps = ops.filter((op) => !known.has(op.id)).length;
  if (known.size + newSteps > limits.stepsPerRun) {
    return endRun(ctx, RunStatus.Failed, {
      error: { name: "StepLimitError", message: `run ${runId} has more than ${limits.stepsPerRun} steps; split the work with step.invoke or step.sendEvent` },
    });
  }
  const steps: StepRecord[] = [];
  const enqueue: NewQueueItem[] = [];
  const pauses: PauseRecord[] = [];
  const invocations: Invocation[] = [];
  const postChecks: PausePostCheck[] = [];
  let discover = false;
  /** A race branch settled: discover at once, not once every branch is done. */
  let discoverNow = false;
  const cancelItems: { kind: QueueItemKind; stepId: string }[] = [];
  // the handler moved past a race: the branches it still reports as planned lost
  if (ctx.item.kind !== QueueItemKind.Step && newSteps > 0) {
    const byId = new Map(ctx.state.steps.map((s) => [s.id, s]));
    for (const op of ops) {
      const prior = byId.get(op.id);
      if (op.op !== OpCode.StepPlanned || !isRace(op) || prior?.status !== StepStatus.Planned) continue;
      steps.push(abandoned(prior, ctx.now));
      cancelItems.push({ kind: QueueItemKind.Step, stepId: op.id });
    }
  }
  const attempt = ctx.checkpointed ? 0 : ctx.item.attempt;
  for (const op of ops) {
    switch (op.op) {
      case OpCode.StepRun:
        steps.push(stepFromOp(runId, op, StepStatus.Completed, attempt + 1, ctx.now));
        discover = true;
        if (isRace(op)) discoverNow = true;
        break;
      case OpCode.StepFailed:
        steps.push(stepFromOp(runId, op, StepStatus.Failed, attempt + 1, ctx.now));
        discover = true;
        if (isRace(op)) discoverNow = true;
        break;
      case OpCode.StepError:
        if (attempt + 1 <= stepRetries(op, ctx)) {
          return retry(ctx, attempt, retryAt, [stepFromOp(runId, op, StepStatus.Errored, attempt + 1, ctx.now)], stepBackoffAt(op, attempt, ctx));
        }
        steps.push(stepFromOp(runId, op, StepStatus.Failed, attempt + 1, ctx.now));
        discover = true;
        if (isRace(op)) discoverNow = true;
        break;
      case OpCode.StepPlanned:
        if (known.has(op.id)) break;
        steps.push(stepFromOp(runId, op, StepStatus.Planned, 0, ctx.now));
        enqueue.push({ runId, kind: QueueItemKind.Step, stepId: op.id, attempt: 0, availableAt: ctx.now });
        break;
      case OpCode.Sleep: {
        if (known.has(op.id)) break;
        let wakeAt: number;
        try {
          wakeAt = resolveInstant(op.name ?? "", ctx.now, `step.sleep("${op.userland?.id ?? op.id}")`);
        } catch (error) {
          return endRun(ctx, RunStatus.Failed, { error: serializeError(error) });
        }
        const step = stepFromOp(runId, op, StepStatus.Sleeping, 0, ctx.now);
        step.startedAt = ctx.now;
        step.wakeAt = wakeAt;
        steps.push(step);
        enqueue.push({ runId, kind: QueueItemKind.Sleep, stepId: op.id, attempt: 0, availableAt: Math.max(ctx.now, wakeAt) });
        break;
      }
      case OpCode.WaitForEvent:
      case OpCode.WaitForSignal:
      case OpCode.InvokeFunction: {
        if (known.has(op.id)) break;
        let planned: PlannedPause;
        try {
          planned = op.op === OpCode.WaitForEvent ? planWait(op, ctx) : op.op === OpCode.WaitForSignal ? planSignal(op, ctx) : planInvoke(op, ctx);
        } catch (error) {
          return endRun(ctx, RunStatus.Failed, { error: serializeError(error) });
        }
        if ("failed" in planned) {
          steps.push(planned.failed);
          discover = true;
          break;
        }
        const step = stepFromOp(runId, op, StepStatus.Waiting, 0, ctx.now);
        step.startedAt = ctx.now;
        step.wakeAt = planned.pause.expiresAt;
        steps.push(step);
        pauses.push(planned.pause);
        enqueue.push({ runId, kind: QueueItemKind.PauseTimeout, stepId: op.id, attempt: 0, availableAt: planned.pause.expiresAt });
        if (planned.invocation) invocations.push(planned.invocation);
        if (planned.postCheckSince !== undefined) postChecks.push({ pause: planned.pause, since: planned.postCheckSince });
        break;
      }
      case OpCode.DeferAdd:
      case OpCode.DeferAbort:
        if (known.has(op.id)) break;
        steps.push(deferStepFromOp(runId, op, ctx.now));
        discover = true;
        break;
      default:
        return endRun(ctx, RunStatus.Failed, {
          error: { name: "UnsupportedStepError", message: `step "${op.userland?.id ?? op.id}" uses ${op.op}, which this engine does not run` },
        });
    }
  }
  const params: TransitionParams = {
    runId,
    itemId: ctx.item.id,
    steps,
    enqueue,
    ...(pauses.length ? { pauses } : {}),
    ...(cancelItems.length ? { cancelItems } : {}),
  };
  // a result settled beside work it planned (a step.fetch beside a parallel step.run): that work's end discovers;
  // a discovery now could run the planned step inline as well
  if (!discoverNow && enqueue.length > 0) discover = false;
  return {
    params,
    events: [],
    invocations,
    postChecks,
    ...(discover || discoverNow
      ? { [discoverNow ? "discoverSoon" : "discoverWhenIdle"]: { runId, kind: QueueItemKind.Discovery, attempt: 0, availableAt: ctx.now } }
      : {}),
  };
}

type PlannedPause = { pause: PauseRecord; invocation?: Invocation; postCheckSince?: number } | { failed: StepRecord };

function stepLabel(ctx: TransitionContext, op: Op, tool: string) {
  return `function "${ctx.config.slug}": ${tool}("${op.userland?.id ?? op.id}")`;
}

/** step.waitForEvent: a pause on the event name, indexed when the expression allows. */
function planWait(op: Op, ctx: TransitionContext): PlannedPause {
  const where = stepLabel(ctx, op, "step.waitForEvent");
  const opts = op.opts ?? {};
  const timeoutMs = parseDuration((opts.timeout as string | number | undefined) ?? "", `${where}.timeout`);
  const lookbackMs = opts.lookback === undefined ? 0 : parseDuration(opts.lookback as string | number, `${where}.lookback`);
  const prepared = preparePauseExpression(opts.if as string | undefined, ctx.state.events[0], `${where}.if`);
  const createdAt = Math.min(ctx.callStartedAt, ctx.now);
  const pause: PauseRecord = {
    id: `${ctx.state.run.id}:${op.id}`,
    runId: ctx.state.run.id,
    kind: PauseKind.Wait,
    stepId: op.id,
    eventName: op.name ?? "",
    ...prepared,
    createdAt,
    expiresAt: ctx.now + timeoutMs,
  };
  return { pause, postCheckSince: createdAt - lookbackMs };
}

/**
 * step.waitForSignal: a pause indexed by the signal's name, resumed by `sendSignal`.
 * `onConflict` (Inngest's semantics): `"fail"` (the default) fails this step when another
 * wait on the signal is live; `"replace"` takes the signal over: `sendSignal` resumes the
 * newest wait, and the replaced one stays pending until its timeout.
 */
function planSignal(op: Op, ctx: TransitionContext): PlannedPause {
  const where = stepLabel(ctx, op, "step.waitForSignal");
  const opts = op.opts ?? {};
  const signal = String(opts.signal ?? op.name ?? "");
  if (signal === "") throw new StepwiseError("invalid_argument", `${where}: "signal" is required`);
  const timeoutMs = parseDuration((opts.timeout as string | number | undefined) ?? "", `${where}.timeout`);
  const conflict = opts.conflict ?? "fail";
  if (conflict !== "fail" && conflict !== "replace") {
    throw new StepwiseError("invalid_argument", `${where}.onConflict must be "fail" or "replace", got ${JSON.stringify(conflict)}`);
  }
  const id = `${ctx.state.run.id}:${op.id}`;
  const others = (ctx.signalWaiters?.get(signal) ?? []).filter((p) => p.id !== id);
  if (conflict === "fail" && others.length > 0) {
    // Inngest's default: a signal names one wait; a second wait on it fails (onConflict: "replace" takes it over)
    const failed = stepFromOp(ctx.state.run.id, op, StepStatus.Failed, 1, ctx.now);
    failed.error = {
      name: "SignalConflictError",
      message: `${where}: signal ${JSON.stringify(signal)} is already waited on by run ${others[0]?.runId}; use onConflict: "replace" to take it over`,
    };
    return { failed };
  }
  const pause: PauseRecord = {
    id,
    runId: ctx.state.run.id,
    kind: PauseKind.Signal,
    stepId: op.id,
    eventName: signalEventName,
    indexPath: "data.signal",
    indexValue: JSON.stringify(signal),
    exact: true,
    createdAt: ctx.now,
    expiresAt: ctx.now + timeoutMs,
  };
  return { pause };
}

/** step.invoke: start the target run now and pause until its `function.finished`. */
function planInvoke(op: Op, ctx: TransitionContext): PlannedPause {
  const where = stepLabel(ctx, op, "step.invoke");
  const opts = op.opts ?? {};
  const functionId = String(opts.function_id ?? "");
  const target = ctx.resolveFunction(functionId);
  if (!target) {
    const failed = stepFromOp(ctx.state.run.id, op, StepStatus.Failed, 1, ctx.now);
    failed.error = { name: "Error", message: `Could not find function with ID "${functionId}" (${where}: no function "${functionId}" is registered)` };
    return { failed };
  }
  const timeoutMs = opts.timeout === undefined ? defaultInvokeTimeoutMs : parseDuration(opts.timeout as string | number, `${where}.timeout`);
  const correlationId = `${ctx.state.run.id}.${op.id}`;
  const payload = (opts.payload ?? {}) as { data?: Record<string, unknown>; meta?: unknown };
  const meta = validateEventMeta(payload.meta, `${where}.payload`);
  const pause: PauseRecord = {
    id: `${ctx.state.run.id}:${op.id}`,
    runId: ctx.state.run.id,
    kind: PauseKind.Invoke,
    stepId: op.id,
    eventName: SystemEvent.FunctionFinished,
    indexPath: "data.correlation_id",
    indexValue: JSON.stringify(correlationId),
    exact: true,
    createdAt: ctx.now,
    expiresAt: ctx.now + timeoutMs,
  };
  const invocation: Invocation = {
    functionId: target.id,
    event: {
      name: SystemEvent.FunctionInvoked,
      data: { ...(payload.data ?? {}), _inngest: { fn_id: target.id, correlation_id: correlationId } },
      ...(meta ? { meta } : {}),
    },
  };
  return { pause, invocation };
}

/** Ends the run: final status, queue cleared, system events. */
export function endRun(
  ctx: Pick<TransitionContext, "state" | "config" | "now"> & { item?: QueueItem },
  status: RunStatus,
  outcome: { output?: unknown; error?: SerializedError },
): Transition {
  const run = ctx.state.run;
  const event = ctx.state.events[0] ?? null;
  const correlationId =
    event?.name === SystemEvent.FunctionInvoked ? (event.data._inngest as { correlation_id?: string } | undefined)?.correlation_id : undefined;
  const base = { function_id: ctx.config.id, run_id: run.id, event, events: ctx.state.events, ...(correlationId ? { correlation_id: correlationId } : {}) };
  const events: SystemEventInput[] = [];
  if (status === RunStatus.Failed) {
    events.push({ name: SystemEvent.FunctionFailed, data: { function_id: ctx.config.id, run_id: run.id, error: outcome.error ?? null, event } });
  }
  if (status === RunStatus.Cancelled) events.push({ name: SystemEvent.FunctionCancelled, data: { ...base, error: outcome.error ?? null } });
  events.push({
    name: SystemEvent.FunctionFinished,
    data: status === RunStatus.Completed ? { ...base, result: outcome.output ?? null } : { ...base, error: outcome.error ?? null },
  });
  const runUpdate: NonNullable<TransitionParams["run"]> = { status, endedAt: ctx.now };
  if (outcome.output !== undefined) runUpdate.output = outcome.output;
  if (outcome.error !== undefined) runUpdate.error = outcome.error;
  return {
    params: { runId: run.id, ...(ctx.item ? { itemId: ctx.item.id } : {}), run: runUpdate, clearQueue: true },
    ended: status,
    events,
  };
}
