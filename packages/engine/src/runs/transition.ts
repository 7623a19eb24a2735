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
 *   Sleep                 a queue item due when the sleep ends.
 */
import {
  type ExecutionResult,
  type FunctionConfig,
  limits,
  type Op,
  OpCode,
  resolveInstant,
  type SerializedError,
  SystemEvent,
  serializeError,
} from "@stepwise/protocol";
import {
  type NewQueueItem,
  type QueueItem,
  QueueItemKind,
  type RunState,
  RunStatus,
  type StepRecord,
  StepStatus,
  type TransitionParams,
} from "../ports/store.ts";
import { clampRetryAt, retryDelayMs } from "../scheduler/backoff.ts";

export interface TransitionContext {
  state: RunState;
  item: QueueItem;
  config: FunctionConfig;
  now: number;
  retryDelayScale: number;
  /** A step completed in this call, so the attempt counter restarted at 0. */
  checkpointed: boolean;
}

export interface SystemEventInput {
  name: string;
  data: Record<string, unknown>;
}

export interface Transition {
  params: TransitionParams;
  /** Set when the run ended. */
  ended?: RunStatus;
  /** System events to emit with the transition. */
  events: SystemEventInput[];
}

/** The step record for an op, at `attempts` attempts. */
export function stepFromOp(runId: string, op: Op, status: StepRecord["status"], attempts: number, now: number): StepRecord {
  const userId = op.userland?.id ?? op.name ?? op.id;
  const step: StepRecord = {
    runId,
    id: op.id,
    name: op.userland?.index !== undefined ? `${userId}:${op.userland.index}` : userId,
    op: op.op,
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
  if (status === StepStatus.Errored || status === StepStatus.Failed || status === StepStatus.Completed) step.endedAt ??= now;
  return step;
}

export function transitionFor(result: ExecutionResult, ctx: TransitionContext): Transition {
  switch (result.type) {
    case "function-resolved":
      return endRun(ctx, RunStatus.Completed, { output: result.data });
    case "function-rejected": {
      const attempt = ctx.checkpointed ? 0 : ctx.item.attempt;
      if (result.retriable && attempt + 1 <= ctx.config.retries) {
        return retry(ctx, attempt, result.retryAt);
      }
      return endRun(ctx, RunStatus.Failed, { error: result.error });
    }
    case "steps":
      return stepsTransition(result.ops, result.retryAt, ctx);
  }
}

function retry(ctx: TransitionContext, attempt: number, retryAt: number | undefined, steps?: StepRecord[]): Transition {
  const availableAt = retryAt !== undefined ? clampRetryAt(retryAt, ctx.now, ctx.retryDelayScale) : ctx.now + retryDelayMs(attempt, ctx.retryDelayScale);
  return {
    params: { runId: ctx.state.run.id, itemId: ctx.item.id, reschedule: { availableAt, attempt: attempt + 1 }, ...(steps ? { steps } : {}) },
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
  let discover = false;
  const attempt = ctx.checkpointed ? 0 : ctx.item.attempt;
  for (const op of ops) {
    switch (op.op) {
      case OpCode.StepRun:
        steps.push(stepFromOp(runId, op, StepStatus.Completed, attempt + 1, ctx.now));
        discover = true;
        break;
      case OpCode.StepFailed:
        steps.push(stepFromOp(runId, op, StepStatus.Failed, attempt + 1, ctx.now));
        discover = true;
        break;
      case OpCode.StepError:
        if (attempt + 1 <= ctx.config.retries) {
          return retry(ctx, attempt, retryAt, [stepFromOp(runId, op, StepStatus.Errored, attempt + 1, ctx.now)]);
        }
        steps.push(stepFromOp(runId, op, StepStatus.Failed, attempt + 1, ctx.now));
        discover = true;
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
      default:
        return endRun(ctx, RunStatus.Failed, {
          error: { name: "UnsupportedStepError", message: `step "${op.userland?.id ?? op.id}" uses ${op.op}, which this engine does not run yet` },
        });
    }
  }
  const params: TransitionParams = {
    runId,
    itemId: ctx.item.id,
    steps,
    enqueue,
    ...(discover ? { discoveryWhenIdle: { runId, kind: QueueItemKind.Discovery, attempt: 0, availableAt: ctx.now } } : {}),
  };
  return { params, events: [] };
}

/** Ends the run: final status, queue cleared, system events. */
export function endRun(
  ctx: Pick<TransitionContext, "state" | "config" | "now"> & { item?: QueueItem },
  status: RunStatus,
  outcome: { output?: unknown; error?: SerializedError },
): Transition {
  const run = ctx.state.run;
  const event = ctx.state.events[0] ?? null;
  const base = { function_id: ctx.config.id, run_id: run.id, event, events: ctx.state.events };
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
