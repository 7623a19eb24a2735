/**
 * @module call-runner
 * Processes one claimed queue item: loads the run, calls the function against its
 * memoized steps (checkpointing each step as it completes), and commits what the
 * result means in one transaction.
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
  StepwiseError,
  serializeError,
} from "@stepwise/protocol";
import type { FunctionRegistry } from "../events/function-registry.ts";
import { planIngest } from "../events/intake.ts";
import type { Clock } from "../ports/clock.ts";
import { type QueueItem, QueueItemKind, type RunState, type RunStatus, type StepRecord, StepStatus, type Store, terminalStatuses } from "../ports/store.ts";
import { stepFromOp, type Transition, transitionFor } from "../runs/transition.ts";

export interface CallRunnerDeps {
  store: Store;
  registry: FunctionRegistry;
  clock: Clock;
  logger: Logger;
  retryDelayScale: number;
  /** New queue items exist: look for work. */
  wake(): void;
  runEnded(runId: string, status: RunStatus): void;
}

/** How long an item waits when its function is not registered in this process. */
const unknownFunctionRetryMs = 60_000;

export class CallRunner {
  constructor(private readonly deps: CallRunnerDeps) {}

  async process(item: QueueItem): Promise<void> {
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
    if (item.kind === QueueItemKind.Sleep) {
      await this.wakeFromSleep(state, item);
      return;
    }
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
    });
    await this.commit(transition);
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
            await this.deps.store.saveStep(step);
            state.steps.push(step);
            attempt = 0;
            onCheckpoint();
          }
        : undefined;
    try {
      return await fn.execute({
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
  }

  private async wakeFromSleep(state: RunState, item: QueueItem) {
    const now = this.deps.clock.now();
    const sleeping = state.steps.find((s) => s.id === item.stepId);
    const steps: StepRecord[] = sleeping ? [{ ...sleeping, status: StepStatus.Completed, output: null, endedAt: now }] : [];
    await this.deps.store.commitTransition({
      runId: state.run.id,
      itemId: item.id,
      steps,
      discoveryWhenIdle: { runId: state.run.id, kind: QueueItemKind.Discovery, attempt: 0, availableAt: now },
    });
    this.deps.wake();
  }

  /** Writes a transition with the system events it emits and the runs they start. */
  async commit(transition: Transition): Promise<void> {
    const { params, events, ended } = transition;
    const emit = events.length > 0 ? planIngest(events, this.deps.registry, this.deps.clock.now()) : undefined;
    await this.deps.store.commitTransition(emit ? { ...params, emit } : params);
    if (ended) this.deps.runEnded(params.runId, ended);
    if (params.enqueue?.length || params.discoveryWhenIdle || params.reschedule || emit?.runs.length) this.deps.wake();
  }
}

function jsonBytes(value: unknown): number {
  return value === undefined || value === null ? 4 : Buffer.byteLength(JSON.stringify(value));
}
