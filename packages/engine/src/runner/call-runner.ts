/**
 * @module call-runner
 * Processes one claimed queue item: a call of the function against its memoized steps
 * (checkpointing each step as it completes), a sleep's end, a wait's timeout, a run
 * timeout, or a follow-up (routing an event, a wait's look-back, a cancellation). Every
 * write carries the item's lease; a lost lease ends the call quietly, with nothing
 * written. Every outcome is one store transition whose script decides, on the run as
 * read in that transaction, what is left to enqueue; the events it emits, the runs they
 * start (through admission) and their follow-ups commit with it.
 */
import {
  type ExecutionInput,
  type ExecutionResult,
  type FunctionHandle,
  formatBytes,
  type Logger,
  limits,
  type Memo,
  type Op,
  OpCode,
  parseDuration,
  type SerializedError,
  StepwiseError,
  serializeError,
  validateEvents,
} from "@stepwise/protocol";
import type { FunctionRegistry } from "../events/function-registry.ts";
import { addRouteItems, addRun, clonePlan, type EventInput, type IngestPlan, planIngest, planRun, toEventRecord, toStoredEvent } from "../events/intake.ts";
import type { PauseRouter } from "../events/pause-router.ts";
import type { Admission } from "../flow-control/admission.ts";
import { concurrencyClaims } from "../flow-control/concurrency.ts";
import { newId } from "../ids.ts";
import { type EngineMetrics, safely } from "../metrics.ts";
import type { Clock } from "../ports/clock.ts";
import type { RealtimeBus } from "../ports/realtime.ts";
import {
  abandonedError,
  type ConcurrencyClaim,
  type Lease,
  LeaseLostError,
  type NewQueueItem,
  type PauseRecord,
  type QueueItem,
  QueueItemKind,
  type RunRecord,
  type RunState,
  type RunStatus,
  RunStatus as Status,
  type StepRecord,
  StepStatus,
  type Store,
  signalEventName,
  terminalStatuses,
  type WaitingOn,
} from "../ports/store.ts";
import { deferStepFromOp, defersOf, isDeferOp, isDeferStep } from "../runs/defers.ts";
import { cancelReasons, cancelTransition, pauseTimeoutTransition, sleepEndedStep } from "../runs/resume.ts";
import { stepFromOp, type Transition, transitionFor } from "../runs/transition.ts";
import type { AppOutagePolicy } from "../scheduler/backoff.ts";
import { fault } from "../testing/faults.ts";
import type { CallTrace, RunTracing } from "../tracing.ts";
import { type GatewayOptions, isGatewayOp, performGateways } from "./gateway.ts";
import { chainOrderedRuns, orderedNextOf, releaseOrdered, releasesOnEnd } from "./ordered.ts";

export interface CallRunnerDeps {
  store: Store;
  registry: FunctionRegistry;
  clock: Clock;
  logger: Logger;
  retryDelayScale: number;
  /** How a served run waits for an unreachable app. */
  outage: AppOutagePolicy;
  maxEventBytes: number | undefined;
  router(): PauseRouter;
  admission: Admission;
  /** New queue items exist: look for work. */
  wake(): void;
  runEnded(runId: string, status: RunStatus): void;
  /** `step.sendSignal` in-process: the engine's `sendSignal`. */
  sendSignal?(signal: string, data: unknown): Promise<{ runId: string }>;
  /** `step.realtime.publish` in-process: the engine's realtime bus. */
  realtime?: RealtimeBus;
  runStarted(runId: string, functionId: string): void;
  /** Instrumentation hooks (optional). */
  metrics?: EngineMetrics;
  /** How `step.fetch` / `step.ai.infer` requests are made. */
  gateway?: GatewayOptions;
  /** OpenTelemetry spans (optional: absent, tracing is off). */
  tracing?: RunTracing;
}

export type { WaitingOn };

/** Step states that mean another queue item of the run is pending. */
const pendingStatuses: ReadonlySet<string> = new Set([StepStatus.Planned, StepStatus.Sleeping, StepStatus.Waiting, StepStatus.Errored]);

/**
 * A run's parallel phase (inngest-protocol §8.4), as Inngest's executor keeps it: it begins
 * when a call answers more than one op; later served calls send `disable_immediate_execution`,
 * so each new step is planned and runs in a call of its own. For request version 2 it ends
 * when a targeted step settles as the run's last pending work (decided in the commit, with
 * the branches' concurrent calls serialized; a sleep's or wait's end does not end it), so
 * the calls after it checkpoint again. "begins", "may end" or nothing.
 */
function parallelPhase(state: RunState, item: QueueItem, result: ExecutionResult): "begins" | "may end" | undefined {
  if (result.type !== "steps") return undefined;
  if (result.ops.filter((op) => !isDeferOp(op)).length > 1) return state.run.parallel ? undefined : "begins";
  if (!state.run.parallel || item.kind !== QueueItemKind.Step) return undefined;
  if ((state.run.requestVersion ?? result.requestVersion ?? 0) < 2) return undefined;
  return result.ops.some((op) => op.op === OpCode.StepRun || op.op === OpCode.StepFailed) ? "may end" : undefined;
}
/** Items that are work of the run: while one is pending, a finished branch does not discover. */
const workKinds: ReadonlySet<string> = new Set([QueueItemKind.Discovery, QueueItemKind.Step, QueueItemKind.Sleep, QueueItemKind.PauseTimeout]);
/** Items that execute the function: they hold a slot of the run's concurrency keys while leased. */
/** The step id of a discovery deferred until a running one is done (a race branch settled meanwhile). */
const raceRecheck = "race-recheck";
const executingKinds: ReadonlySet<string> = new Set([QueueItemKind.Discovery, QueueItemKind.Step, QueueItemKind.Sleep]);

/** How long an item waits when its function is not registered in this process. */
const unknownFunctionRetryMs = 60_000;

class RunCancelledError extends Error {
  constructor(runId: string) {
    super(`run ${runId} was cancelled`);
    this.name = "RunCancelledError";
  }
}

/** A call about to run: its function, the run as loaded, the claimed item and its lease, the run's concurrency keys. */
interface ClaimedCall {
  fn: FunctionHandle;
  state: RunState;
  item: QueueItem;
  lease: Lease;
  claims: ConcurrencyClaim[];
  signal: AbortSignal;
}

/**
 * A call in flight in this process that accepts out-of-band checkpoints (a served app's
 * `POST /v1/checkpoint/{runId}/async`): applied one at a time, through the call's own
 * checkpoint callback, so each write is fenced by the call's lease.
 */
interface InflightCall {
  runId: string;
  token: number;
  apply(op: Op): Promise<void>;
  /** Checkpoints of this call run one after another. */
  chain: Promise<unknown>;
  /** Ops the engine cannot apply yet: the call's outcome reports them. */
  unsupported: Op[];
  /** A checkpoint failed for a reason that ends the call (a lost lease, a limit). */
  failure?: unknown;
}

/** The `callId` of a claimed call: `<itemId>.<lease token>` (item ids hold no dot). */
export function callIdOf(lease: Lease): string {
  return `${lease.itemId}.${lease.token}`;
}

/** Events `step.sendEvent` sent in this call, stored with the step's result. */
interface SentEvents {
  inputs: EventInput[];
  ids: string[];
  /** Ids of each `{ order: "preserve" }` send, in order (see ordered.ts). */
  ordered: string[][];
}

export class CallRunner {
  /** Runs with a call in flight here, and those of them cancelled meanwhile. */
  private readonly active = new Map<string, number>();
  private readonly cancelled = new Set<string>();
  /** The function of each run with a call in flight here (for metrics labels). */
  private readonly functionOf = new Map<string, string>();
  /** Calls taking out-of-band checkpoints, by queue item id. */
  private readonly inflight = new Map<string, InflightCall>();

  constructor(private readonly deps: CallRunnerDeps) {}

  /** The signals of in-flight calls, by run: aborted when the run is cancelled. */
  private readonly callAborts = new Map<string, Set<AbortController>>();

  /** A run was cancelled: an in-flight call of it stops at its next step, and its signal (a step's too) aborts now. */
  markCancelled(runId: string) {
    if (this.active.has(runId)) this.cancelled.add(runId);
    for (const controller of this.callAborts.get(runId) ?? []) controller.abort(new RunCancelledError(runId));
  }

  /**
   * Applies checkpointed ops to the call `callId` names, in flight in this process:
   * `StepRun`/`StepFailed` are persisted as if the call had reported them, once each (a
   * repeated op is skipped); ops the engine cannot apply are kept and reported as the
   * call's outcome. Throws `LeaseLostError` (code "conflict") when its lease was lost or
   * its run was cancelled: nothing is written.
   *
   * A call made by another node (a load balancer sent the checkpoint here) is applied
   * through the store, fenced by the same lease: its steps are written only while that
   * call still holds its lease. Ops other than steps are refused (409) there, so the SDK
   * returns them in its answer to the node that made the call.
   */
  async checkpoint(runId: string, callId: string, ops: readonly Op[]): Promise<void> {
    const dot = callId.lastIndexOf(".");
    const lease: Lease = { itemId: callId.slice(0, dot), token: Number(callId.slice(dot + 1)) };
    if (dot <= 0 || !Number.isSafeInteger(lease.token)) throw new LeaseLostError(lease);
    const call = this.inflight.get(lease.itemId);
    if (!call) return this.checkpointElsewhere(runId, lease, ops);
    if (call.token !== lease.token || call.runId !== runId || call.failure !== undefined) throw new LeaseLostError(lease);
    const applying = call.chain.then(async () => {
      if (call.failure !== undefined) throw new LeaseLostError(lease);
      for (const op of ops) {
        if (op.op === OpCode.StepRun || op.op === OpCode.StepFailed || isDeferOp(op)) {
          try {
            await call.apply(op);
          } catch (error) {
            call.failure = error;
            throw LeaseLostError.isLeaseLost(error) ? error : new LeaseLostError(lease);
          }
        } else if (!call.unsupported.some((u) => u.id === op.id && u.op === op.op)) call.unsupported.push(op);
      }
    });
    call.chain = applying.catch(() => undefined);
    await applying;
  }

  /** A checkpoint for a call another node made: its steps, written through the store's lease fence. */
  private async checkpointElsewhere(runId: string, lease: Lease, ops: readonly Op[]): Promise<void> {
    if (ops.some((op) => op.op !== OpCode.StepRun && op.op !== OpCode.StepFailed && !isDeferOp(op))) throw new LeaseLostError(lease);
    const state = await this.deps.store.loadRunState(runId);
    if (!state || terminalStatuses.has(state.run.status)) throw new LeaseLostError(lease);
    for (const op of ops) {
      // every op goes through the fence, a repeated one too (the store never overwrites a
      // finished step, so it is applied once, and a stale lease is refused either way)
      const status = op.op === OpCode.StepFailed ? StepStatus.Failed : StepStatus.Completed;
      const now = this.deps.clock.now();
      await this.deps.store.saveStep(isDeferOp(op) ? deferStepFromOp(runId, op, now) : stepFromOp(runId, op, status, 1, now), lease);
    }
  }

  async process(item: QueueItem, signal: AbortSignal = new AbortController().signal): Promise<void> {
    this.active.set(item.runId, (this.active.get(item.runId) ?? 0) + 1);
    try {
      await this.processItem(item, { itemId: item.id, token: item.token }, signal);
    } catch (error) {
      if (!LeaseLostError.isLeaseLost(error)) throw error;
      if (!signal.aborted) this.hook((m) => m.leaseExpired?.());
      this.deps.logger.warn(`stepwise: run ${item.runId || "-"}: ${(error as Error).message}; another worker has taken the work over`);
    } finally {
      const left = (this.active.get(item.runId) ?? 1) - 1;
      if (left > 0) this.active.set(item.runId, left);
      else {
        this.active.delete(item.runId);
        this.cancelled.delete(item.runId);
        this.functionOf.delete(item.runId);
        this.deps.tracing?.forget(item.runId);
      }
    }
  }

  private async processItem(claimed: QueueItem, lease: Lease, signal: AbortSignal): Promise<void> {
    let item = claimed;
    let settled: ReturnType<typeof sleepEndedStep> | undefined;
    const { store, registry, clock } = this.deps;
    switch (item.kind) {
      case QueueItemKind.Route: {
        const event = await store.getEvent(String(item.payload?.eventId ?? ""));
        if (event) await this.deps.router().route(event);
        await store.releaseItem(lease);
        return;
      }
      case QueueItemKind.PostCheck: {
        const { pause, since } = item.payload as { pause: PauseRecord; since: number };
        await this.deps.router().postCheck(pause, since);
        await store.releaseItem(lease);
        return;
      }
    }
    const state = await store.loadRunState(item.runId);
    if (!state || terminalStatuses.has(state.run.status)) {
      await store.commitTransition({ runId: item.runId, itemId: item.id, lease });
      return;
    }
    if (this.deps.metrics) this.functionOf.set(state.run.id, state.run.functionId);
    const fn = registry.driverFor(state.run.functionId);
    if (!fn) {
      this.deps.logger.warn(`stepwise: run ${state.run.id} belongs to function "${state.run.functionId}", which is not registered here; retrying in 60s`);
      await store.commitTransition({
        runId: item.runId,
        itemId: item.id,
        lease,
        reschedule: { availableAt: clock.now() + unknownFunctionRetryMs, attempt: item.attempt },
      });
      return;
    }
    const now = clock.now();
    const claims = concurrencyClaims(fn.config, state.events[0]);
    if (claimed.startedRun) {
      this.deps.runStarted(state.run.id, state.run.functionId);
      this.hook((m) => m.runStarted?.(state.run.functionId));
    }
    switch (item.kind) {
      case QueueItemKind.Cancel:
        await this.cancel(state, fn, (item.payload?.reason as SerializedError | undefined) ?? cancelReasons.api(), item, lease);
        return;
      case QueueItemKind.Sleep: {
        // Alone in the run, a finished sleep is memoized and the run continues in this
        // same call; beside pending parallel branches it only memoizes and lets the last
        // branch discover.
        const busy = state.steps.some((s) => s.id !== item.stepId && pendingStatuses.has(s.status));
        if (busy) return this.wakeFromSleep(state, item, lease, claims);
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
        if (step?.status === StepStatus.Waiting) await this.commit(pauseTimeoutTransition(item, step, now), lease, claims);
        else await store.commitTransition({ runId: item.runId, itemId: item.id, lease });
        return;
      }
      case QueueItemKind.StartTimeout:
        if (state.run.status === Status.Queued) await this.cancel(state, fn, cancelReasons.startTimeout(fn.config), item, lease);
        else await store.commitTransition({ runId: item.runId, itemId: item.id, lease });
        return;
      case QueueItemKind.FinishTimeout:
        await this.cancel(state, fn, cancelReasons.finishTimeout(fn.config), item, lease);
        return;
    }
    if (item.startedRun && fn.config.timeouts?.start !== undefined) {
      // The start-timeout item may sit behind this one in the queue: enforce it here too.
      const dueAt = Math.max(state.run.createdAt, state.events[0]?.ts ?? 0);
      if (now > dueAt + parseDuration(fn.config.timeouts.start)) return this.cancel(state, fn, cancelReasons.startTimeout(fn.config), item, lease);
    }
    if (this.cancelled.has(state.run.id)) await store.commitTransition({ runId: item.runId, itemId: item.id, lease });
    else await this.execute({ fn, state, item, lease, claims, signal }, clock.now(), settled);
  }

  private async execute(claimed: ClaimedCall, now: number, settled: ReturnType<typeof sleepEndedStep> | undefined) {
    const { registry, clock } = this.deps;
    const { fn, state, item, lease, claims, signal } = claimed;
    let checkpointed = false;
    const sent: SentEvents = { inputs: [], ids: [], ordered: [] };
    const traced = this.deps.tracing?.startCall(state.run, state.events[0]?.name, item);
    let called: ExecutionResult;
    try {
      called = await this.call(
        claimed,
        sent,
        () => {
          checkpointed = true;
        },
        traced,
      );
    } catch (error) {
      traced?.fail(error);
      throw error;
    }
    traced?.end(called, item.attempt);
    // step.fetch / step.ai.infer: the engine makes the request now, while the function is not running
    const result = signal.aborted ? called : await performGateways(called, this.deps.gateway ?? {}, signal);
    if (signal.aborted) return; // the lease is gone: another worker has this call; report nothing
    const transition = transitionFor(result, {
      state,
      item,
      config: fn.config,
      now: clock.now(),
      retryDelayScale: this.deps.retryDelayScale,
      outage: this.deps.outage,
      checkpointed,
      callStartedAt: now,
      resolveFunction: (id) => registry.get(id)?.config,
      signalWaiters: await this.signalWaiters(result),
    });
    if (settled) transition.params = { ...transition.params, settleSteps: [settled, ...(transition.params.settleSteps ?? [])] };
    // a served app chose its request version on this run's first call: keep it for later calls (§8.6)
    if (result.requestVersion !== undefined && state.run.requestVersion === undefined) {
      transition.params = { ...transition.params, requestVersion: result.requestVersion };
    }
    const phase = parallelPhase(state, item, result);
    if (phase === "begins") transition.params = { ...transition.params, parallel: true };
    if (phase === "may end") transition.endsParallelWhenIdle = true;
    // events sent by a step reported (not checkpointed) in this call go with its result
    if (sent.ids.length && result.type === "steps" && result.ops.some((op) => op.op === OpCode.StepRun)) transition.sent = sent;
    fault("before-transition-commit");
    await this.commit(transition, lease, claims);
  }

  private async cancel(state: RunState, fn: FunctionHandle, reason: SerializedError, item: QueueItem, lease: Lease) {
    if (await this.commit(cancelTransition(state, fn.config, this.deps.clock.now(), reason, { item }), lease)) this.markCancelled(state.run.id);
  }

  private async call(claimed: ClaimedCall, sent: SentEvents, onCheckpoint: () => void, traced?: CallTrace): Promise<ExecutionResult> {
    const { fn, state, item, lease, claims, signal } = claimed;
    const memo = new Map<string, Memo>();
    let stateBytes = 0;
    for (const step of state.steps) {
      if (isDeferStep(step)) continue; // defers reach the SDK as `defers`, not memo
      if (step.status === StepStatus.Completed) {
        memo.set(step.id, { data: step.output ?? null });
        stateBytes += jsonBytes(step.output);
      } else if (step.status === StepStatus.Failed && step.error) memo.set(step.id, { error: step.error });
    }
    // abandoned race branches last (after the winner in the stack): an SDK then sees them settled and can end the run
    for (const step of state.steps) if (step.status === StepStatus.Abandoned) memo.set(step.id, { error: abandonedError(step.name) });
    let attempt = item.attempt;
    // step durations: from the call's start, or the previous checkpoint, to each step's result
    let stepFrom = performance.now();
    const stepDone = () => {
      const at = performance.now();
      const seconds = (at - stepFrom) / 1000;
      stepFrom = at;
      this.hook((m) => m.stepDuration?.(fn.config.id, seconds));
    };
    const checkpoint =
      item.kind === QueueItemKind.Discovery
        ? async (op: Op) => {
            if (signal.aborted) throw new LeaseLostError(lease);
            if (this.cancelled.has(state.run.id)) throw new RunCancelledError(state.run.id);
            if (isDeferOp(op)) {
              // recorded once; scheduled when the run ends (defers.ts)
              if (state.steps.some((s) => s.id === op.id)) return;
              const step = deferStepFromOp(state.run.id, op, this.deps.clock.now());
              await this.deps.store.saveStep(step, lease);
              state.steps.push(step);
              return;
            }
            const failed = op.op === OpCode.StepFailed;
            // a checkpoint repeated (its answer was lost) is applied once
            if (state.steps.some((s) => s.id === op.id && s.status === (failed ? StepStatus.Failed : StepStatus.Completed))) return;
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
            // what this step sent is stored with its result, in one transaction (a failed step sent nothing)
            const events = { inputs: sent.inputs.splice(0), ids: sent.ids.splice(0), ordered: sent.ordered.splice(0) };
            fault("before-step-commit");
            if (events.ids.length && !failed) {
              await this.commit({ params: { runId: state.run.id, lease, steps: [step] }, events: [], sent: events }, lease, claims);
            } else await this.deps.store.saveStep(step, lease);
            fault("after-step-commit");
            stepDone();
            traced?.step(op, step.attempts);
            state.steps.push(step);
            attempt = 0;
            onCheckpoint();
          }
        : undefined;
    const sendEvents = async (payload: unknown, options?: { order?: "preserve" }) => {
      const inputs = validateEvents(payload, this.deps.maxEventBytes !== undefined ? { maxBytes: this.deps.maxEventBytes } : {});
      const ids = inputs.map(() => newId());
      sent.inputs.push(...inputs);
      sent.ids.push(...ids);
      if (options?.order === "preserve" && ids.length > 1) sent.ordered.push(ids);
      return { ids };
    };
    const inflight: InflightCall | undefined = checkpoint
      ? { runId: state.run.id, token: lease.token, apply: checkpoint, chain: Promise.resolve(), unsupported: [] }
      : undefined;
    if (inflight) this.inflight.set(item.id, inflight);
    // the call's signal: the lease's, and aborted as well when the run is cancelled meanwhile
    const controller = new AbortController();
    // a lease lost because the run was cancelled (on another node: its queue was cleared) aborts as a cancellation
    const followLease = () => {
      void this.deps.store.getRun(state.run.id).then(
        (run) => controller.abort(run?.status === Status.Cancelled ? new RunCancelledError(state.run.id) : signal.reason),
        () => controller.abort(signal.reason),
      );
    };
    if (signal.aborted) controller.abort(signal.reason);
    else signal.addEventListener("abort", followLease, { once: true });
    const aborts = this.callAborts.get(state.run.id) ?? new Set<AbortController>();
    aborts.add(controller);
    this.callAborts.set(state.run.id, aborts);
    let result: ExecutionResult;
    try {
      const input: ExecutionInput = {
        runId: state.run.id,
        event: state.events[0] as RunState["events"][number],
        events: state.events,
        memo,
        defers: defersOf(state.steps),
        attempt: item.attempt,
        maxAttempts: fn.config.retries + 1,
        signal: controller.signal,
        sendEvents,
        ...(this.deps.sendSignal
          ? { sendSignal: (name: string, data: unknown) => (this.deps.sendSignal as NonNullable<CallRunnerDeps["sendSignal"]>)(name, data) }
          : {}),
        ...(this.deps.realtime ? { realtime: this.deps.realtime } : {}),
        now: () => this.deps.clock.now(),
        ...(state.run.requestVersion !== undefined ? { requestVersion: state.run.requestVersion } : {}),
        ...(state.run.parallel ? { parallel: true } : {}),
        ...(item.kind === QueueItemKind.Step && item.stepId ? { targetStepId: item.stepId } : {}),
        callId: callIdOf(lease),
        ...(checkpoint ? { checkpoint } : {}),
      };
      // traced: the call's span is the active one while the function runs (served: its request carries it)
      const running = traced ? traced.within(() => fn.execute(input)) : fn.execute(input);
      // ordered fan-out: the next run of the chain may start once this one's handler has begun
      const orderedNext = orderedNextOf(item);
      if (orderedNext) fault("before-ordered-release");
      const released = orderedNext
        ? releaseOrdered(this.deps.store, orderedNext, this.deps.clock.now()).then(
            () => undefined,
            (e: unknown) => e,
          )
        : undefined;
      result = await running;
      // not released: the call is retried (and releases then)
      const releaseError = await released;
      if (releaseError !== undefined) throw releaseError;
    } catch (error) {
      return { type: "function-rejected", error: serializeError(error), retriable: true };
    } finally {
      if (inflight && this.inflight.get(item.id) === inflight) this.inflight.delete(item.id);
      signal.removeEventListener("abort", followLease);
      aborts.delete(controller);
      if (aborts.size === 0) this.callAborts.delete(state.run.id);
    }
    if (inflight) {
      await inflight.chain;
      const failure = inflight.failure;
      if (LeaseLostError.isLeaseLost(failure)) throw failure;
      // a cancelled run's outcome is skipped by the store; a limit is final; anything else is retried
      if (failure !== undefined) return { type: "function-rejected", error: serializeError(failure), retriable: !StepwiseError.is(failure) };
      if (inflight.unsupported.length) {
        // a checkpointed step.fetch / step.ai.infer is performed like a reported one
        return inflight.unsupported.every(isGatewayOp) ? { type: "steps", ops: [...inflight.unsupported] } : unsupportedOps(inflight.unsupported);
      }
    }
    // results reported rather than checkpointed (served functions, parallel branches) count too
    if (result.type === "steps") {
      if (this.deps.metrics) for (const op of result.ops) if (op.op === OpCode.StepRun) stepDone();
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

  private async wakeFromSleep(state: RunState, item: QueueItem, lease: Lease, claims: ConcurrencyClaim[]) {
    const now = this.deps.clock.now();
    const sleeping = state.steps.find((s) => s.id === item.stepId);
    const steps: StepRecord[] = sleeping ? [{ ...sleeping, status: StepStatus.Completed, output: null, endedAt: now }] : [];
    await this.commit(
      {
        params: { runId: state.run.id, itemId: item.id, steps },
        events: [],
        discoverWhenIdle: { runId: state.run.id, kind: QueueItemKind.Discovery, attempt: 0, availableAt: now },
      },
      lease,
      claims,
    );
  }

  /**
   * Writes a transition as one store script: on the run as read in the transaction it
   * adds the discovery of an idle run, the look-back checks of new waits, and the events
   * emitted (system events, `step.sendEvent`, invocations) with the runs they start
   * (admitted by flow control) and their routing. Returns false when the store skipped
   * it (the run had ended, or its pause was consumed already); throws `LeaseLostError`
   * when `lease` is stale. `claims`: the run's concurrency keys, when the caller knows them.
   */
  async commit(transition: Transition, lease?: Lease, claims?: ConcurrencyClaim[]): Promise<boolean> {
    const { registry, clock, store, admission } = this.deps;
    const { params, events, ended, invocations = [], postChecks = [], discoverWhenIdle, discoverSoon, sent, endsParallelWhenIdle } = transition;
    const now = clock.now();
    const inputs = [...events, ...(sent?.inputs ?? [])];
    const base = planIngest(inputs, registry, now, [...events.map(() => newId()), ...(sent?.ids ?? [])]);
    // runs this one starts (sent, invoked, its finish/failure events) are in its trace
    for (const invocation of invocations) {
      const target = registry.get(invocation.functionId);
      if (!target) continue;
      const record = toEventRecord(invocation.event, now);
      base.events.push(record);
      addRun(base, planRun(target.config, [record], now));
    }
    this.deps.tracing?.stampRuns(base.runs, undefined, params.runId);
    const enqueues = [...(params.enqueue ?? []), ...(discoverWhenIdle ? [discoverWhenIdle] : []), ...(discoverSoon ? [discoverSoon] : [])];
    const runClaims = enqueues.some((i) => executingKinds.has(i.kind) && !i.concurrency) ? (claims ?? (await this.claimsOf(params.runId))) : [];
    const withClaims = (item: NewQueueItem): NewQueueItem =>
      runClaims.length && executingKinds.has(item.kind) && !item.concurrency ? { ...item, concurrency: runClaims } : item;
    let emitted: IngestPlan | undefined;
    let enqueued = false;
    let releaseAfter: string[] = [];
    let parallelEnds = false;
    const applied = await store.transition(params.runId, {
      now,
      ...(lease ? { lease } : {}),
      flowKeys: admission.flowKeys(base),
      decide: (view) => {
        parallelEnds = false;
        const emit = clonePlan(base);
        admission.admit(emit, now, view);
        addRouteItems(emit, view, now);
        chainOrderedRuns(emit, sent?.ordered, now);
        const released = releasesOnEnd(view, params, now);
        if (released.runUpdates.length) Object.assign(emit, { runUpdates: [...(emit.runUpdates ?? []), ...released.runUpdates] });
        releaseAfter = released.after;
        const enqueue = (params.enqueue ?? []).map(withClaims);
        const cancelItems = [...(params.cancelItems ?? [])];
        const items = view.items();
        const isRecheck = (i: { kind: string; stepId?: string }) => i.kind === QueueItemKind.Discovery && i.stepId === raceRecheck;
        const recheck = items.find(isRecheck);
        const discoveries = items.filter((i) => i.id !== params.itemId && i.kind === QueueItemKind.Discovery && !isRecheck(i));
        const discoverNow = (item: NewQueueItem) => {
          enqueue.push(withClaims(item));
          // a discovery due now reads every result: a deferred recheck is not needed any more
          if (recheck) cancelItems.push({ kind: QueueItemKind.Discovery, stepId: raceRecheck });
        };
        if (discoverSoon) {
          // a race branch settled: discover now, one discovery at a time. A due one reads this result; one running
          // may have read the run before it: a recheck follows it (when it commits, or after its lease)
          if (discoveries.length === 0) discoverNow(discoverSoon);
          else if (discoveries.every((i) => i.availableAt > now) && !recheck) {
            enqueue.push(withClaims({ ...discoverSoon, stepId: raceRecheck, availableAt: Math.max(...discoveries.map((i) => i.availableAt)) + 1 }));
          }
        } else if (recheck && !params.clearQueue && !params.reschedule && items.find((i) => i.id === params.itemId)?.kind === QueueItemKind.Discovery) {
          // the discovery a recheck waited for is done. It planned work: that work's end discovers (a discovery now could run
          // a planned step inline, twice); it planned nothing: look again now, the branch's result is there
          if (enqueue.length > 0 || params.pauses?.length) cancelItems.push({ kind: QueueItemKind.Discovery, stepId: raceRecheck });
          else discoverNow({ runId: params.runId, kind: QueueItemKind.Discovery, attempt: 0, availableAt: now });
        }
        if (discoverWhenIdle) {
          const busy = items.some(
            (i) => i.id !== params.itemId && workKinds.has(i.kind) && !isRecheck(i) && !cancelItems.some((c) => c.kind === i.kind && c.stepId === i.stepId),
          );
          if (!busy) discoverNow(discoverWhenIdle);
          if (!busy && endsParallelWhenIdle) parallelEnds = true;
        }
        for (const { pause, since } of postChecks) {
          // a wait looks back over events that arrived before it existed: only when there are some
          if (since < pause.createdAt || view.hasEventsSince(pause.eventName, since)) {
            enqueue.push({
              runId: pause.runId,
              kind: QueueItemKind.PostCheck,
              stepId: pause.stepId ?? "",
              attempt: 0,
              availableAt: now,
              payload: { pause, since },
            });
          }
        }
        emitted = emit;
        enqueued = enqueue.length > 0 || !!params.reschedule;
        const hasEmit = emit.events.length > 0 || emit.runs.length > 0 || emit.items.length > 0 || !!emit.runUpdates?.length;
        return {
          ...params,
          ...(lease ? { lease } : {}),
          enqueue,
          ...(cancelItems.length ? { cancelItems } : {}),
          ...(hasEmit ? { emit } : {}),
          ...(parallelEnds ? { parallel: false } : {}),
        };
      },
    });
    if (!applied) {
      this.deps.wake();
      return false;
    }
    if (ended) {
      this.deps.runEnded(params.runId, ended);
      this.reportEnded(params.runId, ended);
      this.deps.tracing?.runEnded(params.runId, ended, params.run?.error, () => this.loadForTrace(params.runId));
    }
    for (const next of releaseAfter) {
      await releaseOrdered(store, next, clock.now()).catch((error: unknown) =>
        this.deps.logger.warn(`stepwise: run ${params.runId} ended; releasing run ${next} after it (ordered fan-out) failed: ${(error as Error).message}`),
      );
    }
    const stored = emitted as IngestPlan | undefined;
    if (this.deps.metrics && stored) {
      this.hook((m) => {
        if (stored.events.length) m.eventsStored?.(stored.events.length);
        for (const run of stored.runs) if (run.waitingOn) m.flowControlWait?.(run.waitingOn.kind);
      });
    }
    if (enqueued || (emitted && (emitted.runs.length > 0 || emitted.items.length > 0))) this.deps.wake();
    return true;
  }

  /** Calls a metrics hook, if any; a failing hook is ignored. */
  private hook(call: (metrics: EngineMetrics) => void) {
    const metrics = this.deps.metrics;
    if (metrics) safely(() => call(metrics));
  }

  /** Reports a run's end with its function (read from the store when no call of it is in flight here). */
  private reportEnded(runId: string, status: RunStatus) {
    if (!this.deps.metrics?.runEnded) return;
    const known = this.functionOf.get(runId);
    if (known) return this.hook((m) => m.runEnded?.(known, status));
    void this.deps.store
      .getRun(runId)
      .then((run) => run && this.hook((m) => m.runEnded?.(run.functionId, status)))
      .catch(() => {});
  }

  /** A run and its trigger's name, for its span (its end was committed where no call of it is in flight). */
  private async loadForTrace(runId: string): Promise<{ run: RunRecord; eventName?: string } | undefined> {
    const run = await this.deps.store.getRun(runId);
    if (!run) return undefined;
    const event = await this.deps.store.getEvent(run.eventIds[0] ?? "");
    return { run, ...(event ? { eventName: event.name } : {}) };
  }

  /** For each signal a new `step.waitForSignal` of this result waits on: the live waits on it already (its `onConflict`). */
  private async signalWaiters(result: ExecutionResult): Promise<Map<string, PauseRecord[]> | undefined> {
    if (result.type !== "steps") return undefined;
    const signals = new Set(result.ops.filter((op) => op.op === OpCode.WaitForSignal).map((op) => String(op.opts?.signal ?? op.name ?? "")));
    if (signals.size === 0) return undefined;
    const now = this.deps.clock.now();
    const waiters = new Map<string, PauseRecord[]>();
    for (const signal of signals) {
      const pauses = await this.deps.store.findPauses({ eventName: signalEventName, indexPath: "data.signal", indexValue: JSON.stringify(signal) });
      waiters.set(
        signal,
        pauses.filter((p) => p.expiresAt >= now),
      );
    }
    return waiters;
  }

  /** The concurrency keys of a run's function for its trigger event (none when it has no limit). */
  private async claimsOf(runId: string): Promise<ConcurrencyClaim[]> {
    const run = await this.deps.store.getRun(runId);
    const fn = run && this.deps.registry.get(run.functionId);
    if (!run || !fn?.config.concurrency) return [];
    const event = await this.deps.store.getEvent(run.eventIds[0] ?? "");
    return concurrencyClaims(fn.config, event ? toStoredEvent(event) : undefined);
  }
}

/** The outcome of a call that checkpointed ops this engine cannot run yet: a final, named error. */
function unsupportedOps(ops: readonly Op[]): ExecutionResult {
  const names = ops.map((op) => `${op.op} (step "${op.userland?.id ?? op.displayName ?? op.id}")`).join(", ");
  return {
    type: "function-rejected",
    error: { name: "UnsupportedStepError", message: `the function used ${names}, which this engine does not run yet` },
    retriable: false,
  };
}

function jsonBytes(value: unknown): number {
  return value === undefined || value === null ? 4 : Buffer.byteLength(JSON.stringify(value));
}
