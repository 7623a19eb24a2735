/**
 * @module sync-runs
 * Runs an app executes by itself and only reports (Inngest's durable endpoints,
 * inngest-protocol §10.5): an HTTP route wrapped by `inngest.endpoint()` runs its steps
 * in the request and checkpoints them here. The engine records such a run (its
 * `inngest/http.request` event, its steps, its end) but never calls anything for it: the
 * run has no queue items while the app runs it.
 *
 * When the app cannot finish in its request (a sleep, a wait, an invoke, a step that
 * failed and will be retried) it checkpoints that op and answers its client with a
 * redirect to the run's output; from then on the engine drives the run like any other,
 * through the driver `EngineOptions.durableEndpoints` gives for its function (the
 * server's re-entry request to the endpoint). The engine enqueues a discovery call, so
 * the app itself reports the op again in the first async call and the usual transition
 * rules apply to it; a failed step's call waits for its retry backoff first. Without a
 * driver, such an op ends the run with an error naming it.
 */
import { type Op, OpCode, type SerializedError, StepwiseError } from "@stepwise/protocol";
import { type EventInput, toEventRecord } from "../events/intake.ts";
import type { Clock } from "../ports/clock.ts";
import { QueueItemKind, RunStatus, StepStatus, type Store, terminalStatuses } from "../ports/store.ts";
import { stepFromOp } from "../runs/transition.ts";
import { retryDelayMs } from "../scheduler/backoff.ts";

export interface SyncRunDeps {
  store: Store;
  clock: Clock;
  /** True for functions the engine runs (such runs never take sync checkpoints). */
  isRegistered(functionId: string): boolean;
  /** True when the engine can call this function's endpoint again (a run of it may go async). */
  canContinue(functionId: string): boolean;
  retryDelayScale: number;
  /** New work was enqueued. */
  wake(): void;
  runEnded(runId: string, status: RunStatus): void;
}

export class SyncRuns {
  constructor(private readonly deps: SyncRunDeps) {}

  /**
   * Records a new sync run `runId` of `functionId`, triggered by `event`, then applies
   * `ops`. Repeated for a live run of the same function (a retried request), it only
   * applies the ops; "conflict" when the id belongs to another run or the run has ended.
   */
  async start(params: { runId: string; functionId: string; event: EventInput; ops: readonly Op[] }): Promise<void> {
    const { store, clock } = this.deps;
    const existing = await store.getRun(params.runId);
    if (existing) {
      // a retried start (its answer was lost) goes on with the same run; any other run id is taken
      if (existing.functionId !== params.functionId) throw new StepwiseError("conflict", `run_id: a run ${params.runId} exists already`);
      return this.apply(params.runId, params.ops);
    }
    const now = clock.now();
    const record = toEventRecord(params.event, now);
    await store.ingestEvents({
      events: [record],
      runs: [{ id: params.runId, functionId: params.functionId, status: RunStatus.Running, eventIds: [record.internalId], createdAt: now, startedAt: now }],
      items: [],
    });
    await this.apply(params.runId, params.ops);
  }

  /** Applies checkpointed ops to a live sync run: steps are stored once each, `RunComplete` ends it. */
  async apply(runId: string, ops: readonly Op[]): Promise<void> {
    const { store, clock } = this.deps;
    const run = await store.getRun(runId);
    if (!run) throw new StepwiseError("not_found", `no run with id ${runId}`);
    if (this.deps.isRegistered(run.functionId)) throw new StepwiseError("conflict", `run ${runId} is executed by this server; it takes no sync checkpoints`);
    if (terminalStatuses.has(run.status)) throw new StepwiseError("conflict", `run ${runId} has ended (${run.status})`);
    const state = await store.loadRunState(runId);
    const done = new Set(state?.steps.filter((s) => s.status === StepStatus.Completed).map((s) => s.id));
    for (const op of ops) {
      const now = clock.now();
      switch (op.op) {
        case OpCode.StepRun:
          if (!done.has(op.id)) await store.saveStep(stepFromOp(runId, op, StepStatus.Completed, 1, now));
          done.add(op.id);
          break;
        case OpCode.RunComplete:
          return this.end(runId, RunStatus.Completed, { output: op.data ?? null });
        default: {
          if (this.deps.canContinue(run.functionId)) return this.continueAsync(runId, op);
          const cause: SerializedError | undefined = op.error;
          return this.end(runId, RunStatus.Failed, {
            error: {
              name: "UnsupportedStepError",
              message: `durable endpoint run ${runId} went async at step "${op.userland?.id ?? op.displayName ?? op.id}" (${op.op})${cause ? `: ${cause.message}` : ""}; continuing a durable endpoint asynchronously is not supported yet`,
            },
          });
        }
      }
    }
  }

  /** Hands the run to the engine: its next call (now, or after a failed step's backoff) re-enters the endpoint. */
  private async continueAsync(runId: string, op: Op): Promise<void> {
    const now = this.deps.clock.now();
    const failedStep = op.op === OpCode.StepError;
    await this.deps.store.commitTransition({
      runId,
      enqueue: [
        {
          runId,
          kind: QueueItemKind.Discovery,
          attempt: failedStep ? 1 : 0,
          availableAt: failedStep ? now + retryDelayMs(0, this.deps.retryDelayScale) : now,
        },
      ],
    });
    this.deps.wake();
  }

  private async end(runId: string, status: RunStatus, result: { output?: unknown; error?: SerializedError }) {
    const endedAt = this.deps.clock.now();
    await this.deps.store.commitTransition({ runId, run: { status, ...result, endedAt }, clearQueue: true });
    this.deps.runEnded(runId, status);
  }
}
