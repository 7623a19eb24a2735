/**
 * @module engine
 * The durable engine: registers functions, takes events, and drives runs through a
 * `Store`. It owns no database and no HTTP; stores and servers plug into it.
 */
import {
  type ClientHandle,
  consoleLogger,
  type FunctionHandle,
  type Logger,
  type MetadataTarget,
  type Op,
  StepwiseError,
  SystemEvent,
  validateEvents,
  validateMetadataUpdates,
} from "@stepwise/protocol";
import { FunctionRegistry } from "./events/function-registry.ts";
import { addRouteItems, clonePlan, type IngestPlan, planIngest, planRun, toEventRecord } from "./events/intake.ts";
import { PauseRouter } from "./events/pause-router.ts";
import { Admission, pausedKey } from "./flow-control/admission.ts";
import { concurrencyLabel } from "./flow-control/concurrency.ts";
import { type EngineMetrics, safely, timedStore } from "./metrics.ts";
import { type Clock, systemClock } from "./ports/clock.ts";
import { createInProcessNotifier, type Notifier } from "./ports/notifier.ts";
import { createInProcessRealtimeBus, type RealtimeBus } from "./ports/realtime.ts";
import {
  type EventRecord,
  type IngestScript,
  type ListRunsFilter,
  type ReplayJob,
  type RunRecord,
  RunStatus,
  type StepRecord,
  type Store,
  type SweepResult,
  signalEventName,
  terminalStatuses,
  type WaitingOn,
} from "./ports/store.ts";
import { type RetentionOptions, type RetentionPeriod, type RetentionPolicy, retentionPolicy, sweepParams, sweptKinds } from "./retention.ts";
import { CallRunner } from "./runner/call-runner.ts";
import { checkedGatewayOptions, type GatewayOptions } from "./runner/gateway.ts";
import { SyncRuns } from "./runner/sync-runs.ts";
import { Worker } from "./runner/worker.ts";
import { foldRunMetadata, hasMetadata, type RunMetadata } from "./runs/metadata.ts";
import { ReplayJobs } from "./runs/replay-jobs.ts";
import { derivedRunId, type RunWait, runningWait, stepsBefore } from "./runs/rerun.ts";
import { cancelReasons, cancelTransition, resumeTransition } from "./runs/resume.ts";
import { type AppOutagePolicy, defaultAppOutagePolicy } from "./scheduler/backoff.ts";
import { CronScheduler } from "./scheduler/cron.ts";
import { fault } from "./testing/faults.ts";
import { RunTracing, type TracingOption } from "./tracing.ts";

export interface EngineOptions {
  store: Store;
  clock?: Clock;
  logger?: Logger;
  /** Calls in flight at once. (Default: 64.) */
  concurrency?: number;
  /** How long a claimed item stays leased without a heartbeat; a crashed process's work is retaken after it. (Default: 30,000 ms.) */
  leaseMs?: number;
  /**
   * Multiplies every retry delay. Production backoff starts at ~1 s and doubles up to
   * 24 h; tests and local development use e.g. `0.01` (10 ms, 20 ms, …). (Default: 1.)
   */
  retryDelayScale?: number;
  /**
   * Served functions whose app is not reachable (connection refused or reset, a timeout
   * before the reply, a proxy's 502/503/504, a reply without SDK headers): the call is
   * retried on this backoff, without spending the function's `retries`, for up to
   * `budgetMs` from the first failed call; then the run fails with `AppUnreachableError`.
   * While it waits the run shows `waitingOn: { kind: "app", since, until, failures, reason }`.
   * (Default: `{ budgetMs: 24 h, minDelayMs: 1,000, maxDelayMs: 30,000 }`; not scaled by `retryDelayScale`.)
   */
  appOutage?: Partial<AppOutagePolicy>;
  /** How long `close()` waits for in-flight calls before leaving them leased. (Default: 10,000 ms.) */
  closeTimeoutMs?: number;
  /** Largest accepted event, in bytes. (Default: 512 KiB.) */
  maxEventBytes?: number;
  /** Wake-ups for new work; pass one shared by processes (e.g. Postgres LISTEN/NOTIFY). (Default: in-process.) */
  notifier?: Notifier;
  /**
   * Realtime messages (`realtime.publish`, `step.realtime.publish`, `subscribe`): pass one
   * shared by processes (`PostgresStore.realtime`) for subscribers on other nodes. (Default: in-process.)
   */
  realtime?: RealtimeBus;
  /**
   * Longest a worker waits before looking at the queue again, for work that other
   * processes enqueued without a notifier reaching this one. (Default: 1,000 ms.)
   */
  pollMs?: number;
  /**
   * Instrumentation hooks (runs started and ended, step durations, lease expiries, events
   * stored, flow-control waits, store write latency). The engine depends on no metrics
   * library; `@stepwise/server` wires these to prom-client. (Default: none.)
   */
  metrics?: EngineMetrics;
  /**
   * `step.fetch` and `step.ai.infer` requests, which the engine makes between calls:
   * `timeoutMs` per request (default 120,000; a timeout is a step error, retried), and the
   * `fetch` implementation (default: the global one).
   */
  gateway?: GatewayOptions;
  /**
   * Drivers for durable-endpoint runs (`startSyncRun`) that cannot finish in their
   * request: given a run's function id, the handle that calls the endpoint again (the
   * server's re-entry request), or `undefined` for ids it does not own. With it, an
   * endpoint that sleeps, waits or has a step to retry goes on asynchronously; without
   * it, such a run fails with `UnsupportedStepError`. (Default: none.)
   */
  durableEndpoints?: (functionId: string) => FunctionHandle | undefined;
  /**
   * OpenTelemetry spans for runs (`stepwise.run`), their calls (`stepwise.call`) and steps
   * (`stepwise.step`), through `@opentelemetry/api`: `true` uses the global tracer provider,
   * `{ tracerProvider }` a given one. Its SDK must use `StepwiseIdGenerator` (see
   * `@stepwise/server`'s `startTracing`, which sets one up from the `OTEL_*` variables).
   * Off, the engine creates no spans and stores no trace context. (Default: off.)
   */
  tracing?: TracingOption;
  /**
   * How long finished runs (with their steps and pauses) and events are kept: a duration
   * for both (`"7d"`, `"12h"`, or ms, at least 1s), `{ runs, events }` to set them apart,
   * or `false` to keep everything. A function's `retention: { runs }` overrides `runs` for
   * its runs. An event stays while any stored run refers to it. Deleted in the background,
   * every minute, in batches of 500 rows. (Default: "7d" for both.)
   */
  retention?: RetentionOptions | RetentionPeriod;
  /** Runs a bulk replay reruns per batch (one store transaction each). (Default: 100.) */
  replayBatchSize?: number;
}

/** What `Engine.rerun` may change: where the new run starts over, and its input. */
export interface RerunOptions {
  /**
   * A step of the original run (its name as listed, e.g. `"charge"` or `"send:2"`, or its
   * hashed id): the steps that completed before it are copied to the new run, memoized,
   * and the new run executes this step and those after it again.
   */
  fromStep?: string;
  /** New event data: the new run is triggered by a copy of the first event with this `data` (stored as a new event, routed nowhere else). */
  data?: Record<string, unknown>;
}

/** A run of the "stuck or slow" view, with what it waits on. */
export interface StuckRun {
  id: string;
  functionId: string;
  status: RunStatus;
  createdAt: number;
  startedAt?: number;
  waitingOn: RunWait;
}

/** The outage policy from `EngineOptions.appOutage`: defaults filled in, each field checked. */
function appOutagePolicy(given: Partial<AppOutagePolicy> | undefined): AppOutagePolicy {
  const policy = { ...defaultAppOutagePolicy, ...given };
  for (const field of ["budgetMs", "minDelayMs", "maxDelayMs"] as const) {
    const value = policy[field];
    if (typeof value !== "number" || !Number.isFinite(value) || value < (field === "budgetMs" ? 0 : 1)) {
      throw new StepwiseError(
        "invalid_argument",
        `appOutage.${field}: expected a number of milliseconds${field === "budgetMs" ? "" : " ≥ 1"}, received ${JSON.stringify(value)}`,
      );
    }
  }
  if (policy.maxDelayMs < policy.minDelayMs) {
    throw new StepwiseError("invalid_argument", `appOutage.maxDelayMs: ${policy.maxDelayMs} is less than appOutage.minDelayMs (${policy.minDelayMs})`);
  }
  return policy;
}

/** How often retention and expired flow-control state are swept, rows per kind per batch, and how long one pass may take. */
const sweepEveryMs = 60_000;
const sweepBatch = 500;
const sweepBudgetMs = 10_000;

export interface RunDetails extends RunRecord {
  steps: StepRecord[];
  /**
   * Why the run is not executing (beyond Inngest): `{ kind: "concurrency", key, limit }` for a
   * queued run waiting for a slot of its concurrency key; `{ kind: "throttle" | "debounce" | "batch", key, until }`
   * for a queued run held by flow control; `{ kind: "app", since, until, failures, reason }` for a running
   * served run whose app is not reachable (see `EngineOptions.appOutage`).
   */
  waitingOn?: WaitingOn;
  /** Metadata and scores written by its steps or over the API (absent when none). */
  metadata?: RunMetadata;
}

export type RunEndedListener = (runId: string, status: RunStatus) => void;
export type RunStartedListener = (runId: string, functionId: string) => void;
export type Activity =
  | { kind: "event"; eventId: string }
  | { kind: "run.started"; runId: string; functionId: string }
  | { kind: "run.ended"; runId: string; status: RunStatus };
export type ActivityListener = (activity: Activity) => void;

export class Engine {
  readonly store: Store;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly registry = new FunctionRegistry();
  private readonly worker: Worker;
  private readonly runner: CallRunner;
  private readonly syncRuns: SyncRuns;
  private readonly router: PauseRouter;
  private readonly admission: Admission;
  private readonly cron: CronScheduler;
  private unsubscribeClock: (() => void) | undefined;
  private unsubscribeNotifier: (() => void) | undefined;
  private cancelSweep: (() => void) | undefined;
  private readonly notifier: Notifier;
  /** Realtime messages of this engine's functions and subscribers (`EngineOptions.realtime`). */
  readonly realtime: RealtimeBus;
  private readonly listeners = new Set<RunEndedListener>();
  private readonly startListeners = new Set<RunStartedListener>();
  private readonly activityListeners = new Set<ActivityListener>();

  private notify(activity: Activity) {
    for (const listener of this.activityListeners) listener(activity);
  }
  private readonly clients = new Set<ClientHandle>();
  private readonly maxEventBytes: number | undefined;
  private readonly closeTimeoutMs: number;
  private state: "new" | "started" | "closed" = "new";
  private readonly metrics: EngineMetrics | undefined;
  private readonly tracing: RunTracing | undefined;
  private readonly retention: RetentionPolicy;
  private drained: Promise<number> | undefined;
  private closing: Promise<void> | undefined;
  private readonly replays: ReplayJobs;

  constructor(options: EngineOptions) {
    this.metrics = options.metrics;
    this.retention = retentionPolicy(options.retention);
    this.store = options.metrics ? timedStore(options.store, options.metrics) : options.store;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? consoleLogger;
    this.tracing = options.tracing ? new RunTracing(options.tracing, this.logger) : undefined;
    this.maxEventBytes = options.maxEventBytes;
    this.closeTimeoutMs = options.closeTimeoutMs ?? 10_000;
    this.notifier = options.notifier ?? createInProcessNotifier();
    this.realtime = options.realtime ?? createInProcessRealtimeBus();
    this.admission = new Admission({ registry: this.registry });
    this.runner = new CallRunner({
      admission: this.admission,
      maxEventBytes: options.maxEventBytes,
      store: this.store,
      registry: this.registry,
      clock: this.clock,
      logger: this.logger,
      retryDelayScale: options.retryDelayScale ?? 1,
      outage: appOutagePolicy(options.appOutage),
      ...(options.metrics ? { metrics: options.metrics } : {}),
      ...(options.gateway ? { gateway: checkedGatewayOptions(options.gateway) } : {}),
      ...(this.tracing ? { tracing: this.tracing } : {}),
      router: () => this.router,
      wake: () => this.notifier.notify(),
      sendSignal: (signal, data) => this.sendSignal(signal, data),
      realtime: this.realtime,
      runEnded: (runId, status) => {
        for (const listener of this.listeners) listener(runId, status);
      },
      runStarted: (runId, functionId) => {
        for (const listener of this.startListeners) listener(runId, functionId);
      },
    });
    const endpoints = options.durableEndpoints;
    this.registry.setAdopter(endpoints);
    this.syncRuns = new SyncRuns({
      store: this.store,
      clock: this.clock,
      retryDelayScale: options.retryDelayScale ?? 1,
      isRegistered: (functionId) => this.registry.get(functionId) !== undefined,
      canContinue: (functionId) => endpoints?.(functionId) !== undefined,
      wake: () => this.notifier.notify(),
      runEnded: (runId, status) => {
        for (const listener of this.listeners) listener(runId, status);
      },
    });
    this.router = new PauseRouter({
      store: this.store,
      clock: this.clock,
      registry: this.registry,
      logger: this.logger,
      commit: (transition) => this.runner.commit(transition),
      cancelled: (runId) => this.runner.markCancelled(runId),
    });
    this.cron = new CronScheduler({
      store: this.store,
      clock: this.clock,
      registry: this.registry,
      logger: this.logger,
      wake: () => this.notifier.notify(),
      admit: (plan, now) => this.admissionScript(plan, now),
    });
    this.replays = new ReplayJobs({
      store: this.store,
      clock: this.clock,
      logger: this.logger,
      batchSize: options.replayBatchSize ?? 100,
      active: () => this.state !== "closed" && this.drained === undefined,
      replayBatch: (job, runs) => this.replayBatch(job, runs),
    });
    this.worker = new Worker(
      this.store,
      this.clock,
      { concurrency: options.concurrency ?? 64, leaseMs: options.leaseMs ?? 30_000, pollMs: options.pollMs ?? 1_000 },
      (item, signal) => this.runner.process(item, signal),
      this.logger,
      () => this.hook((m) => m.leaseExpired?.()),
    );
  }

  /**
   * The ingest script for a plan: flow control decides on state read inside the ingest
   * transaction, and the events' routing is recorded there as follow-up items. Runs on a
   * copy each time (a retried transaction runs it again). `onDecided` sees the final plan.
   */
  private admissionScript(plan: IngestPlan, now: number, onDecided?: (decided: IngestPlan) => void): IngestScript {
    // every ingest of new runs comes through here first: tracing on, each gets its trace context
    this.tracing?.stampRuns(plan.runs);
    return {
      now,
      flowKeys: this.admission.flowKeys(plan),
      decide: (view) => {
        const decided = clonePlan(plan);
        this.admission.admit(decided, now, view);
        addRouteItems(decided, view, now);
        onDecided?.(decided);
        return decided;
      },
    };
  }

  /**
   * Applies ops checkpointed out of band by a call in flight in this engine (a served
   * app's `POST /v1/checkpoint/{runId}/async`): `callId` is the one the engine gave the
   * call (`ExecutionInput.callId`). Each step is written fenced by the call's lease, once.
   * Throws `LeaseLostError` (code "conflict") when that call is not in flight here, lost
   * its lease or its run was cancelled; nothing is written then.
   */
  checkpoint(runId: string, callId: string, ops: readonly Op[]): Promise<void> {
    return this.runner.checkpoint(runId, callId, ops);
  }

  /**
   * Durable endpoints (an app runs the function itself and reports, inngest-protocol
   * §10.5): records run `runId` of `functionId` triggered by `event` and applies `ops`
   * (steps; `RunComplete` ends it). The engine never calls anything for such a run.
   * A repeated start of a live run of the same function only applies `ops`; "conflict" when the id is another run's or the run has ended.
   */
  startSyncRun(params: {
    runId: string;
    functionId: string;
    event: { name: string; data?: Record<string, unknown>; id?: string; ts?: number };
    ops: readonly Op[];
  }): Promise<void> {
    return this.syncRuns.start({ ...params, event: { ...params.event, data: params.event.data ?? {} } });
  }

  /**
   * Applies ops a durable endpoint checkpointed to its live run (see `startSyncRun`):
   * steps once each, `RunComplete` ends the run, an op that would need the engine to
   * continue the run ends it with an error naming it. "not_found" / "conflict" when the run
   * is unknown, has ended, or is a run this engine executes.
   */
  checkpointSyncRun(runId: string, ops: readonly Op[]): Promise<void> {
    return this.syncRuns.apply(runId, ops);
  }

  /**
   * Registers functions (and their onFailure companions) and routes `client.send` to
   * this engine. Trigger expressions are compiled now: a bad one throws, naming the
   * function and field, and nothing is registered.
   */
  register(params: { client?: ClientHandle; functions: readonly FunctionHandle[] }): this {
    this.registry.register(params.functions);
    if (this.state === "started") void this.cron.sync().catch((error) => this.logger.error(`stepwise: cron sync failed: ${(error as Error).message}`));
    if (params.client) {
      params.client.bindSender((events) => this.send(events));
      params.client.bindMetadataWriter?.((runId, updates, target) => this.addRunMetadata(runId, updates, target));
      params.client.bindRealtime?.(this.realtime);
      this.clients.add(params.client);
    }
    return this;
  }

  /** Removes functions (by composite id) and their companions; their queued runs wait until one is registered again. */
  unregister(functionIds: readonly string[]): void {
    for (const id of functionIds) {
      for (const companion of this.registry.get(id)?.companions ?? []) this.registry.unregister(companion.config.id);
      this.registry.unregister(id);
    }
  }

  functions(): FunctionHandle[] {
    return this.registry.all();
  }

  /** Calls `listener` on every change a dashboard shows: events stored, runs started and ended here. */
  onActivity(listener: ActivityListener): () => void {
    const offs = [
      this.onRunStarted((runId, functionId) => listener({ kind: "run.started", runId, functionId })),
      this.onRunEnded((runId, status) => listener({ kind: "run.ended", runId, status })),
    ];
    this.activityListeners.add(listener);
    return () => {
      for (const off of offs) off();
      this.activityListeners.delete(listener);
    };
  }

  /**
   * Starts a run of a function directly, with an `inngest/function.invoked` event carrying
   * `data` (the dashboard's Invoke). Works for functions without triggers too.
   */
  async invoke(functionId: string, data: Record<string, unknown> = {}): Promise<{ runId: string; eventId: string }> {
    const fn = this.registry.get(functionId);
    if (!fn) throw new StepwiseError("not_found", `invoke: Could not find function with ID "${functionId}" (none is registered with this engine)`);
    const now = this.clock.now();
    const event = toEventRecord({ name: SystemEvent.FunctionInvoked, data }, now);
    const planned = planRun(fn.config, [event], now);
    const plan: IngestPlan = { events: [event], runs: [planned.run], items: planned.items, pauses: planned.pauses, ids: [event.internalId] };
    let decided = plan;
    await this.store.ingestEvents(
      plan,
      this.admissionScript(plan, now, (d) => {
        decided = d;
      }),
    );
    this.countIngest(decided);
    this.notify({ kind: "event", eventId: event.internalId });
    this.notifier.notify();
    return { runId: planned.run.id, eventId: event.internalId };
  }

  /**
   * Runs a run's function again, with the same triggering events or, with `data`, an edited
   * copy of the first. With `fromStep`, the steps that completed before that step are
   * copied to the new run, memoized: it executes that step and the ones after it again.
   * The new run links to the original (`rerunOf`, and `rerunFromStep`). Returns its id.
   */
  async rerun(runId: string, options: RerunOptions = {}): Promise<string> {
    const state = await this.store.loadRunState(runId);
    if (!state) throw new StepwiseError("not_found", `rerun: no run with id ${runId}`);
    const now = this.clock.now();
    const { plan, events } = await this.rerunPlan(state.run, state.steps, now, options);
    await this.store.ingestEvents(plan, this.rerunScript(plan, events, now));
    for (const event of plan.events) this.notify({ kind: "event", eventId: event.internalId });
    this.notifier.notify();
    return plan.runs[0]?.id as string;
  }

  /** The ingest of one rerun: its run (id `newRunId`), first items, copied steps and, with `data`, its new event. */
  private async rerunPlan(run: RunRecord, steps: readonly StepRecord[], now: number, options: RerunOptions, newRunId?: string) {
    const fn = this.registry.get(run.functionId);
    if (!fn) throw new StepwiseError("not_registered", `rerun: function "${run.functionId}" is not registered here`);
    let events = (await Promise.all(run.eventIds.map((id) => this.store.getEvent(id)))).filter((e): e is NonNullable<typeof e> => !!e);
    const fresh: EventRecord[] = [];
    if (options.data) {
      const first = events[0];
      const edited = toEventRecord({ name: first?.name ?? SystemEvent.FunctionInvoked, data: options.data, ...(first ? { user: first.user } : {}) }, now);
      fresh.push(edited);
      events = [edited, ...events.slice(1)];
    }
    const planned = newRunId ? planRun(fn.config, events, now, now, newRunId) : planRun(fn.config, events, now);
    planned.run.rerunOf = run.id;
    let copied: StepRecord[] = [];
    if (options.fromStep !== undefined) {
      copied = stepsBefore(steps, options.fromStep, planned.run.id, run.id);
      planned.run.rerunFromStep = steps.find((s) => s.name === options.fromStep || s.id === options.fromStep)?.name ?? options.fromStep;
    }
    const plan: IngestPlan = {
      events: fresh,
      runs: [planned.run],
      items: planned.items,
      pauses: planned.pauses,
      ids: fresh.map((e) => e.internalId),
      ...(copied.length ? { steps: copied } : {}),
    };
    return { plan, events };
  }

  /**
   * Flow control decides on a rerun as on any new run (on its events); its events are not
   * routed to waiting runs again (they were when they arrived; an edited copy goes nowhere).
   */
  private rerunScript(plan: IngestPlan, events: readonly EventRecord[], now: number): IngestScript {
    const withEvents = { ...plan, events: [...events] };
    return {
      now,
      flowKeys: this.admission.flowKeys(withEvents),
      decide: (view) => {
        const decided = clonePlan(withEvents);
        this.admission.admit(decided, now, view);
        return decided;
      },
    };
  }

  /**
   * One batch of a bulk replay, in one ingest: each run id derived from the job and the
   * original run (its time part the job's creation, before which every replayed run was
   * created); runs already written are skipped.
   */
  private async replayBatch(job: ReplayJob, runs: readonly RunRecord[]): Promise<void> {
    const merged: IngestPlan = { events: [], runs: [], items: [], pauses: [], ids: [], skipExistingRuns: true };
    const events: EventRecord[] = [];
    const at = this.clock.now();
    for (const run of runs) {
      const { plan, events: own } = await this.rerunPlan(run, [], at, {}, derivedRunId(job.createdAt, job.id, run.id));
      merged.runs.push(...plan.runs);
      merged.items.push(...plan.items);
      merged.pauses.push(...plan.pauses);
      events.push(...own);
    }
    await this.store.ingestEvents(merged, this.rerunScript(merged, events, at));
    this.notifier.notify();
  }

  /**
   * Starts a bulk replay in the background: every run of `functionId` created in
   * [from, to) whose status is one of `statuses` (default Failed and Cancelled) is rerun,
   * newest first, in batches (`replayBatchSize`). Returns the job (`total` counted now);
   * read its progress with `getReplay`. The job is stored: after a restart it resumes, and
   * no run is replayed twice.
   */
  async startReplay(filter: { functionId: string; statuses?: RunStatus[]; from?: number; to?: number }): Promise<ReplayJob> {
    if (this.state === "closed") throw new StepwiseError("closed", "startReplay: the engine is closed");
    if (!this.registry.get(filter.functionId)) throw new StepwiseError("not_found", `startReplay: no function "${filter.functionId}" is registered`);
    const statuses = filter.statuses?.length ? [...new Set(filter.statuses)] : [RunStatus.Failed, RunStatus.Cancelled];
    return this.replays.create({ ...filter, statuses });
  }

  getReplay(jobId: string): Promise<ReplayJob | undefined> {
    return this.store.getReplayJob(jobId);
  }

  listReplays(limit = 20): Promise<ReplayJob[]> {
    return this.store.listReplayJobs({ limit });
  }

  /** Starts a failed (or interrupted) replay again from where it stopped. */
  async resumeReplay(jobId: string): Promise<ReplayJob> {
    const job = await this.store.getReplayJob(jobId);
    if (!job) throw new StepwiseError("not_found", `resumeReplay: no replay with id ${jobId}`);
    if (job.state !== "completed") {
      const { error: _e, ...rest } = job;
      await this.store.saveReplayJob({ ...rest, state: "running", updatedAt: this.clock.now() });
      this.replays.start(jobId);
    }
    return (await this.store.getReplayJob(jobId)) as ReplayJob;
  }

  /** Resolves once a replay has stopped running in this engine (completed, failed, or the engine closing). */
  replaySettled(jobId: string): Promise<void> {
    return this.replays.settled(jobId);
  }

  /**
   * The "stuck or slow" view: the oldest queued runs and the longest running runs (at most
   * `limit` each), each with what it waits on, and the queue's figures.
   */
  async stuckRuns(limit = 20): Promise<{ queue: Awaited<ReturnType<Store["queueStats"]>>; queued: StuckRun[]; running: StuckRun[] }> {
    const now = this.clock.now();
    const [queue, queued, running] = await Promise.all([
      this.store.queueStats(now),
      this.store.listOldestRuns({ status: RunStatus.Queued, limit }),
      this.store.listOldestRuns({ status: RunStatus.Running, limit }),
    ]);
    const brief = (run: RunRecord, waitingOn: RunWait): StuckRun => ({
      id: run.id,
      functionId: run.functionId,
      status: run.status,
      createdAt: run.createdAt,
      ...(run.startedAt !== undefined ? { startedAt: run.startedAt } : {}),
      waitingOn,
    });
    return {
      queue,
      queued: await Promise.all(
        queued.map(async (run) => {
          const slot = await this.store.concurrencyWait(run.id, now);
          const wait: RunWait = slot
            ? { kind: "concurrency", key: concurrencyLabel(slot.key), limit: slot.limit }
            : (run.waitingOn ?? { kind: "worker", since: run.createdAt });
          return brief(run, wait);
        }),
      ),
      running: await Promise.all(running.map(async (run) => brief(run, runningWait(run, await this.store.listSteps(run.id))))),
    };
  }

  /** Cancels every unended run of a function created in [from, to) (optionally of one status). Returns how many. */
  async cancelRuns(filter: { functionId: string; status?: RunStatus; from?: number; to?: number }): Promise<number> {
    let count = 0;
    for await (const run of this.pageRuns(filter)) {
      if (terminalStatuses.has(run.status)) continue;
      await this.cancelRun(run.id);
      count++;
    }
    return count;
  }

  /** Reruns every Failed or Cancelled (or `status`) run of a function created in [from, to). Returns the new run ids. */
  async replayRuns(filter: { functionId: string; status?: RunStatus; from?: number; to?: number }): Promise<string[]> {
    const replayable = new Set<RunStatus>(filter.status ? [filter.status] : [RunStatus.Failed, RunStatus.Cancelled]);
    const ids: string[] = [];
    for await (const run of this.pageRuns(filter)) if (replayable.has(run.status)) ids.push(await this.rerun(run.id));
    return ids;
  }

  private async *pageRuns(filter: ListRunsFilter) {
    let before: string | undefined;
    for (;;) {
      const page = await this.store.listRuns({ ...filter, limit: 500, ...(before ? { before } : {}) });
      yield* page;
      if (page.length < 500) return;
      before = page.at(-1)?.id;
    }
  }

  /**
   * Resolves the newest `step.waitForSignal` waiting on `signal` (a wait with `onConflict: "replace"` takes a signal over) with `{ signal, data }`.
   * Returns its run id, or rejects with `not_found` when nothing waits on that signal.
   */
  async sendSignal(signal: string, data: unknown = null): Promise<{ runId: string }> {
    if (typeof signal !== "string" || signal === "") throw new StepwiseError("invalid_argument", 'sendSignal: "signal" must be a non-empty string');
    const now = this.clock.now();
    const waiting = (await this.store.findPauses({ eventName: signalEventName, indexPath: "data.signal", indexValue: JSON.stringify(signal) }))
      .filter((p) => p.expiresAt >= now)
      // the newest wait first: a wait with onConflict "replace" took the signal over from older ones
      .sort((a, b) => b.createdAt - a.createdAt);
    const event = toEventRecord({ name: signalEventName, data: { signal, data } }, now);
    for (const pause of waiting) {
      if (await this.runner.commit(resumeTransition(pause, event, now))) return { runId: pause.runId };
    }
    throw new StepwiseError("not_found", `sendSignal: no run is waiting for signal ${JSON.stringify(signal)}`);
  }

  /** Stops new events (and cron ticks) from starting runs of a function; runs already started go on. */
  async pause(functionId: string): Promise<void> {
    if (!this.registry.get(functionId)) throw new StepwiseError("not_found", `pause: no function "${functionId}" is registered`);
    await this.store.ingestEvents({
      events: [],
      runs: [],
      items: [],
      flowState: [{ key: pausedKey(functionId), value: true, expiresAt: Number.MAX_SAFE_INTEGER }],
    });
    this.registry.setPaused(functionId, true);
  }

  async resume(functionId: string): Promise<void> {
    await this.store.ingestEvents({ events: [], runs: [], items: [], flowState: [{ key: pausedKey(functionId), value: null, expiresAt: 0 }] });
    this.registry.setPaused(functionId, false);
  }

  /** Whether this node has seen `functionId` paused (its own pause, or the state at start). */
  isPaused(functionId: string): boolean {
    return this.registry.isPaused(functionId);
  }

  /**
   * The registered functions that are paused, read from the store: a pause made on any
   * node shows here (and this node's own view is brought up to date).
   */
  async pausedFunctions(): Promise<Set<string>> {
    const ids = this.registry.all().map((fn) => fn.config.id);
    const state = await this.store.getFlowState(ids.map(pausedKey), this.clock.now());
    for (const id of ids) this.registry.setPaused(id, state.has(pausedKey(id)));
    return new Set(ids.filter((id) => state.has(pausedKey(id))));
  }

  /** Why an event started no run, or `undefined` when it started some (or they were skipped, which their runs say). */
  async eventOutcome(event: EventRecord): Promise<string | undefined> {
    if (event.duplicate) return "deduplicated: an event with this id was received in the last 24 h";
    if ((await this.store.listRuns({ eventId: event.internalId, limit: 1 })).length) return undefined;
    const candidates = this.registry
      .all()
      .filter((fn) =>
        fn.config.triggers.some((t) => "event" in t && (t.event === event.name || (t.event.endsWith("*") && event.name.startsWith(t.event.slice(0, -1))))),
      );
    if (candidates.length === 0) return "no function triggers on this event name";
    const paused = await this.pausedFunctions();
    if (candidates.every((fn) => paused.has(fn.config.id))) return "every matching function is paused";
    return "no trigger expression (if) matched, or flow control (debounce, batch, idempotency) merged or dropped it";
  }

  /**
   * True when this engine has nothing to do right now: no call in flight, no claim of due
   * work under way or requested (its last claim found no more), no cron check running.
   * New work (an event, a timer, the clock moving) makes it false again. The test kit
   * (`stepwise/test`) waits for this on a manual clock; with real time it is a snapshot.
   */
  isIdle(): boolean {
    return this.state !== "started" || (this.worker.idle && !this.cron.busy);
  }

  /** Calls `listener` whenever a run starts here (its first call is claimed). Returns the unsubscribe function. */
  onRunStarted(listener: RunStartedListener): () => void {
    this.startListeners.add(listener);
    return () => this.startListeners.delete(listener);
  }

  /** Starts claiming work. Runs left by a previous process resume once their leases expire. */
  async start(): Promise<void> {
    if (this.state === "closed") throw new StepwiseError("closed", "engine.start(): this engine was closed; create a new one");
    if (this.state === "started") return;
    this.state = "started";
    await this.pausedFunctions();
    this.unsubscribeNotifier = this.notifier.subscribe(() => this.worker.wake());
    this.worker.start();
    this.unsubscribeClock = this.clock.subscribe?.(() => {
      this.worker.wake();
      void this.cron.check();
    });
    this.scheduleSweep();
    await this.cron.start();
    await this.replays.resumeAll().catch((error) => this.logger.warn(`stepwise: resuming replays failed: ${(error as Error).message}`));
  }

  /**
   * Every `sweepEveryMs`, applies retention (finished runs, events) and deletes expired
   * flow-control state (throttle clocks, idempotency keys, …) in the background.
   */
  private scheduleSweep() {
    this.cancelSweep = this.clock.setTimer(this.clock.now() + sweepEveryMs, () => {
      void (async () => {
        try {
          await this.sweep();
        } catch (error) {
          // a pass cut short by close() is no failure: the next start goes on
          if (this.state === "started") this.logger.warn(`stepwise: retention sweep failed: ${(error as Error).message}`);
        }
        if (this.state === "started") this.scheduleSweep();
      })();
    });
  }

  /**
   * One retention pass: batches of at most `sweepBatch` rows per kind, each its own short
   * transaction, yielding to other work between batches, until nothing expired is left or
   * `sweepBudgetMs` is spent (the next pass goes on). Returns what it deleted.
   */
  private async sweep(): Promise<SweepResult> {
    const totals: SweepResult = { runs: 0, steps: 0, pauses: 0, events: 0, flowRows: 0, idempotencyKeys: 0 };
    const deadline = performance.now() + sweepBudgetMs;
    for (;;) {
      const configs = this.registry.all().map((fn) => fn.config);
      const result = await this.store.sweep(sweepParams(this.retention, configs, this.clock.now(), sweepBatch));
      for (const [field, kind] of sweptKinds) {
        totals[field] += result[field];
        if (result[field] > 0) safely(() => this.metrics?.retentionDeleted?.(kind, result[field]));
      }
      const more = result.runs >= sweepBatch || result.events >= sweepBatch || result.flowRows + result.idempotencyKeys >= sweepBatch;
      if (!more || this.state !== "started" || performance.now() > deadline) return totals;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /**
   * Stops claiming work, waits for in-flight calls (up to `closeTimeoutMs`; any left
   * stay leased and are retaken after the lease), unbinds clients and closes the store.
   */
  close(): Promise<void> {
    if (this.state === "closed" && !this.closing) return Promise.resolve();
    this.closing ??= (async () => {
      if (this.state === "started") await this.drain();
      this.state = "closed";
      await this.replays.stop();
      for (const client of this.clients) {
        client.bindSender(undefined);
        client.bindRealtime?.(undefined);
      }
      await this.store.close();
    })();
    return this.closing;
  }

  /**
   * Stops claiming work (and cron ticks) at once and waits for the calls in flight, up to
   * `closeTimeoutMs`; any left keep their leases, which lapse, and another node takes them
   * over. The engine still takes events and API calls meanwhile; call `close()` after.
   * Resolves with how many calls were left running. Idempotent.
   */
  drain(): Promise<number> {
    if (this.state !== "started") return Promise.resolve(0);
    this.drained ??= (async () => {
      this.unsubscribeClock?.();
      this.unsubscribeNotifier?.();
      this.cancelSweep?.();
      this.cron.stop();
      const [left] = await Promise.all([this.worker.stop(this.closeTimeoutMs), this.replays.stop()]);
      if (left > 0) this.logger.warn(`stepwise: stopped with ${left} calls still running; their runs resume elsewhere after the lease expires`);
      return left;
    })();
    return this.drained;
  }

  /** True once `drain()` (or `close()`) was called: this engine claims no new work. */
  get draining(): boolean {
    return this.drained !== undefined || this.state === "closed";
  }

  /** Calls in flight here now. */
  get inflightCalls(): number {
    return this.worker.inflightCount;
  }

  /** Calls a metrics hook, if any; a failing hook is ignored. */
  private hook(call: (metrics: EngineMetrics) => void) {
    const metrics = this.metrics;
    if (metrics) safely(() => call(metrics));
  }

  /** Reports what an ingest stored: events, and runs it put in a flow-control wait. */
  private countIngest(decided: IngestPlan) {
    this.hook((m) => {
      if (decided.events.length) m.eventsStored?.(decided.events.length);
      for (const run of decided.runs) if (run.waitingOn) m.flowControlWait?.(run.waitingOn.kind);
    });
  }

  /**
   * Stores events and starts the runs they trigger, in one transaction. Validates the
   * whole call first: a bad event rejects it naming the index and field; nothing is stored.
   */
  async send(payload: unknown, options: { internalIds?: readonly string[] } = {}): Promise<{ ids: string[] }> {
    if (this.state === "closed") throw new StepwiseError("closed", "send: the engine is closed");
    const inputs = validateEvents(payload, this.maxEventBytes !== undefined ? { maxBytes: this.maxEventBytes } : {});
    const now = this.clock.now();
    // ids from the SDK's seed header: a retried request re-sends the same ids, and an id
    // already stored is not stored (or run) again
    const plan = planIngest(inputs, this.registry, now, options.internalIds?.length === inputs.length ? options.internalIds : undefined);
    let decided = plan;
    await this.store.ingestEvents(
      plan,
      this.admissionScript(plan, now, (d) => {
        decided = d;
      }),
    );
    fault("after-ingest-commit");
    if (decided.items.length > 0 || decided.runUpdates?.length) this.notifier.notify();
    for (const event of plan.events) this.notify({ kind: "event", eventId: event.internalId });
    this.countIngest(decided);
    return { ids: plan.ids };
  }

  /**
   * Cancels a run that has not ended: it stops between steps, its sleeps, waits and
   * queue items are dropped, and `inngest/function.cancelled` is emitted. Returns the run
   * (unchanged if it had already ended); rejects with `not_found` for an unknown id.
   */
  async cancelRun(runId: string): Promise<RunDetails> {
    const state = await this.store.loadRunState(runId);
    if (!state) throw new StepwiseError("not_found", `cancelRun: no run with id ${runId}`);
    if (!terminalStatuses.has(state.run.status)) {
      const config = this.router.configOf(state.run.functionId);
      if (await this.runner.commit(cancelTransition(state, config, this.clock.now(), cancelReasons.api()))) this.runner.markCancelled(runId);
    }
    return (await this.getRun(runId)) as RunDetails;
  }

  async getRun(runId: string): Promise<RunDetails | undefined> {
    const run = await this.store.getRun(runId);
    if (!run) return undefined;
    const steps = await this.store.listSteps(runId);
    // a queued run waits for a slot of its concurrency key (derived now), or is held by flow control (stored)
    let waitingOn: WaitingOn | undefined;
    if (run.status === RunStatus.Queued) {
      const slot = await this.store.concurrencyWait(runId, this.clock.now());
      waitingOn = slot ? { kind: "concurrency", key: concurrencyLabel(slot.key), limit: slot.limit } : run.waitingOn;
    } else if (run.status === RunStatus.Running && run.waitingOn?.kind === "app") waitingOn = run.waitingOn;
    const { waitingOn: _stored, pendingKey: _p, finishAfterMs: _f, ...rest } = run;
    const metadata = foldRunMetadata(steps, await this.store.listRunMetadata(runId));
    return { ...rest, steps, ...(waitingOn ? { waitingOn } : {}), ...(hasMetadata(metadata) ? { metadata } : {}) };
  }

  /**
   * Writes metadata for a run (or, with `target.step_id`, one of its steps), as
   * `POST /v1/runs/:id/metadata` does: `updates` is `[{ kind, op: "set" | "merge", values }]`;
   * scores are kind `inngest.score`, `{ [name]: { value } }`. Rejects with `invalid_argument`
   * naming the field, or `not_found` for an unknown run.
   */
  async addRunMetadata(runId: string, updates: unknown, target: Omit<MetadataTarget, "run_id"> = {}): Promise<void> {
    const checked = validateMetadataUpdates(updates, "metadata");
    const record = { runId, target: { ...target, run_id: runId }, updates: checked, createdAt: this.clock.now() };
    if (!(await this.store.addRunMetadata(record))) throw new StepwiseError("not_found", `no run with id ${runId}`);
  }

  /** A run's metadata and scores (empty when none was written); undefined for an unknown run. */
  async runMetadata(runId: string): Promise<RunMetadata | undefined> {
    const run = await this.store.getRun(runId);
    if (!run) return undefined;
    return foldRunMetadata(await this.store.listSteps(runId), await this.store.listRunMetadata(runId));
  }

  listRuns(filter: ListRunsFilter = {}): Promise<RunRecord[]> {
    return this.store.listRuns(filter);
  }

  /** Calls `listener` whenever a run ends here. Returns the unsubscribe function. */
  onRunEnded(listener: RunEndedListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Resolves with the run once it has ended (Completed, Failed or Cancelled). Rejects
   * with a `timeout` error after `timeoutMs` (default 30 s), or `not_found`.
   */
  async waitForRun(runId: string, options: { timeoutMs?: number } = {}): Promise<RunDetails> {
    const timeoutMs = options.timeoutMs ?? 30_000;
    return new Promise<RunDetails>((resolve, reject) => {
      let settled = false;
      const check = async () => {
        const run = await this.getRun(runId);
        if (!run) return finish(undefined, new StepwiseError("not_found", `waitForRun: no run with id ${runId}`));
        if (terminalStatuses.has(run.status)) finish(run);
      };
      const finish = (run?: RunDetails, error?: Error) => {
        if (settled) return;
        settled = true;
        unsubscribe();
        clearTimeout(timer);
        clearInterval(poll);
        if (error) reject(error);
        else resolve(run as RunDetails);
      };
      // Runs ending in this process notify at once; the slow poll covers other processes.
      const unsubscribe = this.onRunEnded((id) => {
        if (id === runId) void check().catch((error) => finish(undefined, error));
      });
      const timer = setTimeout(() => finish(undefined, new StepwiseError("timeout", `waitForRun: run ${runId} did not end within ${timeoutMs} ms`)), timeoutMs);
      const poll = setInterval(() => void check().catch((error) => finish(undefined, error)), 1_000);
      void check().catch((error) => finish(undefined, error));
    });
  }
}

export function createEngine(options: EngineOptions): Engine {
  return new Engine(options);
}
