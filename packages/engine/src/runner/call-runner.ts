/**
 * @module call-runner
 * Processes one claimed queue item: a call of the function against its memoized steps
 * (checkpointing each step as it completes), a sleep's end, a wait's timeout, or a run
 * timeout. Every outcome is committed as one transition; events it emits are routed to
 * waiting runs after the commit.
 */
import {
  type ExecutionResult,
  type FunctionHandle,
  formatBytes,
  type Logger,
  limits,
  type Memo,
  type Op,
  OpCode,
  parseDuration,
  StepwiseError,
  serializeError,
} from "@stepwise/protocol";
import type { FunctionRegistry } from "../events/function-registry.ts";
import { addRun, planIngest, planRun, toEventRecord } from "../events/intake.ts";
import type { PauseRouter } from "../events/pause-router.ts";
import type { Admission } from "../flow-control/admission.ts";
import { ConcurrencySlots, concurrencyKeys } from "../flow-control/concurrency.ts";
import type { Clock } from "../ports/clock.ts";
import { fault } from "../testing/faults.ts";
import {
  type QueueItem,
  QueueItemKind,
  type RunState,
  type RunStatus,
  RunStatus as Status,
  type StepRecord,
  StepStatus,
  type Store,
  terminalStatuses,
  type WaitingOn,
} from "../ports/store.ts";
import { cancelReasons, cancelTransition, pauseTimeoutTransition, sleepEndedStep } from "../runs/resume.ts";
import { stepFromOp, type Transition, transitionFor } from "../runs/transition.ts";

export interface CallRunnerDeps {
  store: Store;
  registry: FunctionRegistry;
  clock: Clock;
  logger: Logger;
  retryDelayScale: number;
  router(): PauseRouter;
  admission(): Admission;
  /** New queue items exist: look for work. */
  wake(): void;
  runEnded(runId: string, status: RunStatus): void;
  runStarted(runId: string, functionId: string): void;
  /** The item waits for a concurrency slot; `unpark` when it has one. */
  park(itemId: string): void;
  unpark(itemId: string): void;
}

export type { WaitingOn };

/** Step states that mean another queue item of the run is pending. */
const pendingStatuses: ReadonlySet<string> = new Set([StepStatus.Planned, StepStatus.Sleeping, StepStatus.Waiting, StepStatus.Errored]);

/** How long an item waits when its function is not registered in this process. */
const unknownFunctionRetryMs = 60_000;

class RunCancelledError extends Error {
  constructor(runId: string) {
    super(`run ${runId} was cancelled`);
    this.name = "RunCancelledError";
  }
}

export class CallRunner {
  /** Runs with a call in flight here, and those of them cancelled meanwhile. */
  private readonly active = new Map<string, number>();
  private readonly cancelled = new Set<string>();
  private readonly slots = new ConcurrencySlots();
  /** Runs whose claimed call waits for a concurrency slot, and which slot. */
  readonly waitingOn = new Map<string, WaitingOn>();

  constructor(private readonly deps: CallRunnerDeps) {}

  /** A run was cancelled: an in-flight call of it stops at its next step. */
  markCancelled(runId: string) {
    if (this.active.has(runId)) this.cancelled.add(runId);
  }

  async process(item: QueueItem): Promise<void> {
    this.active.set(item.runId, (this.active.get(item.runId) ?? 0) + 1);
    try {
      await this.processItem(item);
    } finally {
      const left = (this.active.get(item.runId) ?? 1) - 1;
      if (left > 0) this.active.set(item.runId, left);
      else {
        this.active.delete(item.runId);
        this.cancelled.delete(item.runId);
      }
    }
  }

  private async processItem(claimed: QueueItem): Promise<void> {
    let item = claimed;
    let settled: ReturnType<typeof sleepEndedStep> | undefined;
    const { store, registry, clock } = this.deps;
    const state = await store.loadRunState(item.runId);
    if (!state || terminalStatuses.has(state.run.status)) {
      await store.commitTransition({ runId: item.runId, itemId: item.id });
      return;
    }
    const fn = registry.get(state.run.functionId);
    if (!fn) {
      this.deps.logger.warn(`stepwise: run ${state.run.id} belongs to function "${state.run.functionId}", which is not registered here; retrying in 60s`);
      await store.commitTransition({
        runId: item.runId,
        itemId: item.id,
        reschedule: { availableAt: clock.now() + unknownFunctionRetryMs, attempt: item.attempt },
      });
      return;
    }
    const now = clock.now();
    if (claimed.startedRun) this.deps.runStarted(state.run.id, state.run.functionId);
    switch (item.kind) {
      case QueueItemKind.Sleep: {
        // Alone in the run, a finished sleep is memoized and the run continues in this
        // same call; beside pending parallel branches it only memoizes and lets the last
        // branch discover.
        const busy = state.steps.some((s) => s.id !== item.stepId && pendingStatuses.has(s.status));
        if (busy) return this.wakeFromSleep(state, item);
        // The sleep's memo is written with this call's final commit; until then the
        // sleep item stays leased, so a crash replays this wake-up, never skips it.
        const step = state.steps.find((s) => s.id === item.stepId);
        if (step) {
          settled = sleepEndedStep(step.id, now);
          Object.assign(step, { status: settled.status, output: null, endedAt: now });
        }
        item = { ...item, kind: QueueItemKind.Discovery, attempt: 0 };
        break;
      }
      case QueueItemKind.PauseTimeout: {
        const step = state.steps.find((s) => s.id === item.stepId);
        if (step?.status === StepStatus.Waiting) await this.commit(pauseTimeoutTransition(item, step, now));
        else await store.commitTransition({ runId: item.runId, itemId: item.id });
        return;
      }
      case QueueItemKind.StartTimeout:
        if (state.run.status === Status.Queued) await this.cancel(state, fn, cancelReasons.startTimeout(fn.config), item);
        else await store.commitTransition({ runId: item.runId, itemId: item.id });
        return;
      case QueueItemKind.FinishTimeout:
        await this.cancel(state, fn, cancelReasons.finishTimeout(fn.config), item);
        return;
    }
    if (item.startedRun && fn.config.timeouts?.start !== undefined) {
      // The start-timeout item may sit behind this one in the queue: enforce it here too.
      const dueAt = Math.max(state.run.createdAt, state.events[0]?.ts ?? 0);
      if (now > dueAt + parseDuration(fn.config.timeouts.start)) return this.cancel(state, fn, cancelReasons.startTimeout(fn.config), item);
    }
    if (item.startedRun && fn.config.timeouts?.finish !== undefined) {
      const availableAt = now + parseDuration(fn.config.timeouts.finish);
      await store.commitTransition({ runId: state.run.id, enqueue: [{ runId: state.run.id, kind: QueueItemKind.FinishTimeout, attempt: 0, availableAt }] });
    }
    const release = await this.acquireSlots(fn, state, item);
    try {
      if (this.cancelled.has(state.run.id)) await store.commitTransition({ runId: item.runId, itemId: item.id });
      else await this.execute(fn, state, item, clock.now(), settled);
    } finally {
      release();
    }
  }

  /** Holds a slot of each of the function's concurrency keys, waiting (parked) if full. */
  private async acquireSlots(fn: FunctionHandle, state: RunState, item: QueueItem): Promise<() => void> {
    const keys = concurrencyKeys(fn.config, state.events[0]);
    if (keys.length === 0) return () => {};
    let parked = false;
    const release = await this.slots.acquire(keys, (key) => {
      parked = true;
      this.waitingOn.set(state.run.id, { kind: "concurrency", key: key.label, limit: key.limit });
      this.deps.park(item.id);
    });
    if (parked) {
      this.waitingOn.delete(state.run.id);
      this.deps.unpark(item.id);
    }
    return release;
  }

  private async execute(fn: FunctionHandle, state: RunState, item: QueueItem, now: number, settled: ReturnType<typeof sleepEndedStep> | undefined) {
    const { registry, clock } = this.deps;
    let checkpointed = false;
    const result = await this.call(fn, state, item, () => {
      checkpointed = true;
    });
    const transition = transitionFor(result, {
      state,
      item,
      config: fn.config,
      now: clock.now(),
      retryDelayScale: this.deps.retryDelayScale,
      checkpointed,
      callStartedAt: now,
      resolveFunction: (id) => registry.get(id)?.config,
    });
    if (settled) transition.params = { ...transition.params, settleSteps: [settled, ...(transition.params.settleSteps ?? [])] };
    fault("before-transition-commit");
    await this.commit(transition);
  }

  private async cancel(state: RunState, fn: FunctionHandle, reason: Parameters<typeof cancelTransition>[3], item?: QueueItem) {
    if (await this.commit(cancelTransition(state, fn.config, this.deps.clock.now(), reason, item ? { item } : {}))) this.markCancelled(state.run.id);
  }

  private async call(fn: FunctionHandle, state: RunState, item: QueueItem, onCheckpoint: () => void): Promise<ExecutionResult> {
    const memo = new Map<string, Memo>();
    let stateBytes = 0;
    for (const step of state.steps) {
      if (step.status === StepStatus.Completed) {
        memo.set(step.id, { data: step.output ?? null });
        stateBytes += jsonBytes(step.output);
      } else if (step.status === StepStatus.Failed && step.error) memo.set(step.id, { error: step.error });
    }
    let attempt = item.attempt;
    const checkpoint =
      item.kind === QueueItemKind.Discovery
        ? async (op: Op) => {
            if (this.cancelled.has(state.run.id)) throw new RunCancelledError(state.run.id);
            const failed = op.op === OpCode.StepFailed;
            if (!failed) {
              stateBytes += jsonBytes(op.data);
              if (stateBytes > limits.runStateBytes) {
                throw new StepwiseError(
                  "limit_exceeded",
                  `run ${state.run.id}: step results total ${formatBytes(stateBytes)}, past the ${formatBytes(limits.runStateBytes)} limit per run`,
                );
              }
            }
            const step = stepFromOp(state.run.id, op, failed ? StepStatus.Failed : StepStatus.Completed, attempt + 1, this.deps.clock.now());
            fault("before-step-commit");
            await this.deps.store.saveStep(step);
            fault("after-step-commit");
            state.steps.push(step);
            attempt = 0;
            onCheckpoint();
          }
        : undefined;
    let result: ExecutionResult;
    try {
      result = await fn.execute({
        runId: state.run.id,
        event: state.events[0] as RunState["events"][number],
        events: state.events,
        memo,
        attempt: item.attempt,
        maxAttempts: fn.config.retries + 1,
        ...(item.kind === QueueItemKind.Step && item.stepId ? { targetStepId: item.stepId } : {}),
        ...(checkpoint ? { checkpoint } : {}),
      });
    } catch (error) {
      return { type: "function-rejected", error: serializeError(error), retriable: true };
    }
    // results reported rather than checkpointed (served functions, parallel branches) count too
    if (result.type === "steps") {
      for (const op of result.ops) if (op.op === OpCode.StepRun) stateBytes += jsonBytes(op.data);
      if (stateBytes > limits.runStateBytes) {
        return {
          type: "function-rejected",
          error: {
            name: "StepwiseError",
            message: `run ${state.run.id}: step results total ${formatBytes(stateBytes)}, past the ${formatBytes(limits.runStateBytes)} limit per run`,
          },
          retriable: false,
        };
      }
    }
    return result;
  }

  private async wakeFromSleep(state: RunState, item: QueueItem) {
    const now = this.deps.clock.now();
    const sleeping = state.steps.find((s) => s.id === item.stepId);
    const steps: StepRecord[] = sleeping ? [{ ...sleeping, status: StepStatus.Completed, output: null, endedAt: now }] : [];
    await this.commit({
      params: {
        runId: state.run.id,
        itemId: item.id,
        steps,
        discoveryWhenIdle: { runId: state.run.id, kind: QueueItemKind.Discovery, attempt: 0, availableAt: now },
      },
      events: [],
    });
  }

  /**
   * Writes a transition with the events it emits and the runs they start (trigger
   * matches and invocations), then routes those events to waiting runs and runs the
   * new pauses' look-back checks. Returns false when the store skipped it.
   */
  async commit(transition: Transition): Promise<boolean> {
    const { registry, clock, store } = this.deps;
    const { params, events, ended, invocations = [], postChecks = [] } = transition;
    const now = clock.now();
    const emit = planIngest(events, registry, now);
    for (const invocation of invocations) {
      const target = registry.get(invocation.functionId);
      if (!target) continue;
      const record = toEventRecord(invocation.event, now);
      emit.events.push(record);
      addRun(emit, planRun(target.config, [record], now));
    }
    const applied = await this.deps.admission().serialize(emit, async () => {
      if (emit.runs.length) await this.deps.admission().admit(emit, now);
      return store.commitTransition(emit.events.length ? { ...params, emit } : params);
    });
    if (!applied) {
      this.deps.wake();
      return false;
    }
    if (ended) this.deps.runEnded(params.runId, ended);
    if (params.enqueue?.length || params.discoveryWhenIdle || params.reschedule || emit.runs.length) this.deps.wake();
    if (emit.events.length) await this.deps.router().route(emit.events);
    if (postChecks.length) await this.deps.router().postCheck(postChecks);
    return true;
  }
}

function jsonBytes(value: unknown): number {
  return value === undefined || value === null ? 4 : Buffer.byteLength(JSON.stringify(value));
}
