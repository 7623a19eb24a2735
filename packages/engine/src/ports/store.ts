/**
 * @module store
 * The storage port. Every method is one domain transition and, where it writes, one
 * transaction: a crash at any instant loses nothing and completes nothing twice.
 * No database types cross this boundary; SQLite and Postgres implement it alike and
 * both run the conformance suite in `@stepwise/store-conformance`.
 *
 * Glossary: an *event* triggers *runs* of *functions*; a run is a sequence of *steps*
 * whose results are memoized; a *queue item* is work due at `availableAt` (a call to
 * discover the next steps, one planned step, a sleep's wake-up, or a follow-up of an
 * earlier commit); a claimed item is *leased* by pushing its `availableAt` to the
 * lease's end, so a dead worker's items become due again by themselves.
 *
 * The contract every store keeps (the conformance suite checks each rule, races included):
 *
 * 1. **Writes to a run are serialized.** `transition` locks the run, reads what its
 *    script decides on inside the same transaction and writes the script's answer in it;
 *    no check-then-act spans two transactions. Scripts are the engine's pure functions
 *    and run synchronously on the view the store hands them.
 * 2. **Leases are fenced.** A claim hands out a lease token per item (a generation
 *    number). A write made for a claimed item carries `{ itemId, token }`; when the item
 *    is gone or was claimed again since, the write throws `LeaseLostError` and changes
 *    nothing. A Completed or Failed step is never overwritten.
 * 3. **Nothing happens only in memory after a commit.** What follows from a commit
 *    (routing an event to waiting runs, a look-back check, a singleton cancel) is
 *    written in that commit as a queue item of its own (`route`, `post-check`, `cancel`),
 *    claimed and carried out like any other work, so a crash only delays it.
 * 4. **Flow control is decided where the data is.** Ingest scripts run inside the ingest
 *    transaction over the flow-state keys they name. Concurrency is a claim-time
 *    condition: an item carries its concurrency keys and is claimed only while each key
 *    has fewer live leases than its limit, so a run waiting for a slot stays `Queued`,
 *    holding no worker and no memory.
 * 5. **A run starts when its start-lane item is claimed**: the claim marks it Running,
 *    releases its `pendingKey` (the batch or debounce key it gathered events under) and
 *    enqueues its finish timeout, all in the claim's transaction.
 */
import { type MetadataTarget, type MetadataUpdate, type OpMetadata, type SerializedError, StepwiseError, type StoredEvent } from "@stepwise/protocol";

export const RunStatus = {
  Queued: "Queued",
  Running: "Running",
  Completed: "Completed",
  Failed: "Failed",
  Cancelled: "Cancelled",
  /** Never ran: flow control (rate limit, singleton) turned its event away; `error` says why. */
  Skipped: "Skipped",
} as const;
export type RunStatus = (typeof RunStatus)[keyof typeof RunStatus];

export const terminalStatuses: ReadonlySet<RunStatus> = new Set([RunStatus.Completed, RunStatus.Failed, RunStatus.Cancelled, RunStatus.Skipped]);

/** Flow-control state of one key (JSON value), kept until `expiresAt`. */
export interface FlowStateEntry {
  key: string;
  value: unknown;
  expiresAt: number;
}

export interface RunRecord {
  id: string;
  functionId: string;
  status: RunStatus;
  /** Internal ids of the triggering events, first one first. */
  eventIds: string[];
  output?: unknown;
  error?: SerializedError;
  createdAt: number;
  startedAt?: number;
  endedAt?: number;
  /** Why the run waits to start (flow control), while it is queued; or, while it runs, for its unreachable app. */
  waitingOn?: WaitingOn;
  /** How many times a call of this run lost its lease (its worker stalled or died) and was taken over. */
  leaseExpiries?: number;
  /** The batch or debounce key this queued run gathers events under; released when it starts. */
  pendingKey?: string;
  /** `timeouts.finish` in ms: when the run starts, a finish-timeout item is enqueued this far ahead. */
  finishAfterMs?: number;
  /** Served runs: the request version the app chose on the run's first call (sent back on later calls). */
  requestVersion?: number;
  /**
   * The run is in a parallel phase: a call reported more than one op, and not every branch
   * has settled since. Served calls then send `disable_immediate_execution`, so each step
   * runs in a call of its own, as Inngest does (which also ends the phase as we do).
   */
  parallel?: boolean;
  /**
   * Tracing on: the run's trace context, a W3C `traceparent` naming the run's span (every
   * call and step span of the run is its child, on any node), optionally followed by
   * `/<span id>` of the span it was started inside (a sender's). Written when the run is created.
   */
  traceContext?: string;
  /** A deferred run (`defer()`): the run that deferred it, which had ended when this one was created. */
  parentRunId?: string;
  /** The run this one is a rerun of (a rerun, a rerun from a step, a bulk replay). */
  rerunOf?: string;
  /** A rerun from a step: the step (its name) it executes again from; the steps before it were copied, memoized. */
  rerunFromStep?: string;
}

/** Why a run is not executing yet (beyond Inngest). */
export type WaitingOn =
  | { kind: "concurrency"; key: string; limit: number }
  | { kind: "throttle" | "debounce" | "batch" | "scheduled"; key?: string; until: number }
  /** Ordered fan-out (`step.sendEvent(…, { order: "preserve" })`): held until run `key`, the one before it, has begun. */
  | { kind: "order"; key: string }
  /**
   * A running run whose app was not reachable: its call is retried at `until`, without
   * spending the function's retries; `since` is when the outage began for this run,
   * `failures` how many calls in a row found the app unreachable, `reason` the last one's error.
   */
  | { kind: "app"; since: number; until: number; failures: number; reason: string };

export interface EventRecord extends StoredEvent {
  /** The id `send` returned (a ULID); `id` is the sender's id when one was given. */
  internalId: string;
  receivedAt: number;
  /** Its sender id was seen within 24 h: stored, started nothing. */
  duplicate?: boolean;
}

export const StepStatus = {
  /** Has a result. */
  Completed: "Completed",
  /** Failed for good; its error is memoized. */
  Failed: "Failed",
  /** Threw; a retry is scheduled. */
  Errored: "Errored",
  /** A parallel branch waiting for its own call. */
  Planned: "Planned",
  Sleeping: "Sleeping",
  Waiting: "Waiting",
  /** A branch never run: its race was won by another branch, or the run ended first. */
  Abandoned: "Abandoned",
} as const;
export type StepStatus = (typeof StepStatus)[keyof typeof StepStatus];

/**
 * The memo of an Abandoned step (listed after every other memo, so after its race's
 * winner): the official SDK sees it settled and can end the run; ours never settles it.
 */
export function abandonedError(name: string): SerializedError {
  return { name: "StepAbandonedError", message: `step "${name}" was abandoned: another branch of its race settled first` };
}

export interface StepRecord {
  runId: string;
  /** Hashed step id. */
  id: string;
  /** The id as written in code, with its repeat counter (`"send:2"`). */
  name: string;
  displayName?: string;
  /** The op that created it (StepRun, Sleep, WaitForEvent, ...). */
  op: string;
  status: StepStatus;
  attempts: number;
  output?: unknown;
  error?: SerializedError;
  /** What the step was asked to do (a sleep's duration, a wait's event and expression, …). */
  input?: unknown;
  startedAt?: number;
  endedAt?: number;
  /** When a sleeping or waiting step is due. */
  wakeAt?: number;
  /** The metadata its op carried (AI calls, user metadata, scores), as sent. */
  metadata?: OpMetadata[];
}

/** Metadata written for a run over the API (`POST /v1/runs/:id/metadata`), in the order received. */
export interface RunMetadataRecord {
  runId: string;
  /** The run, or one of its steps (`step_id`, …), as the writer named it. */
  target: MetadataTarget;
  updates: MetadataUpdate[];
  createdAt: number;
}

export const QueueItemKind = {
  /** Call the function to find (and run) its next steps. */
  Discovery: "discovery",
  /** Run one planned step. */
  Step: "step",
  /** A sleep is over: memoize it, then discover. */
  Sleep: "sleep",
  /** A wait or invoke timed out (if its pause is still there). */
  PauseTimeout: "pause-timeout",
  /** `timeouts.start`: cancel the run if it has not started. Not work: ignored by the idle check. */
  StartTimeout: "start-timeout",
  /** `timeouts.finish`: cancel the run if it has not ended. Not work: ignored by the idle check. */
  FinishTimeout: "finish-timeout",
  /** Follow-up: route a stored event (`payload.eventId`) to the pauses it satisfies. `runId` is empty. */
  Route: "route",
  /** Follow-up: a new wait looks for events that arrived before it existed (`payload.since`). */
  PostCheck: "post-check",
  /** Follow-up: cancel the run (`payload.reason`), e.g. a singleton `cancel`. */
  Cancel: "cancel",
} as const;
export type QueueItemKind = (typeof QueueItemKind)[keyof typeof QueueItemKind];

export interface NewQueueItem {
  runId: string;
  kind: QueueItemKind;
  /** The step a `step` or `sleep` item is about. */
  stepId?: string;
  /** Zero-based attempt of the work this item retries. */
  attempt: number;
  availableAt: number;
  /**
   * 0 (default): work of a run under way; 1: the start of a new run. Due lane-0 items are
   * claimed first, so a burst of new runs cannot delay wake-ups and next steps.
   */
  lane?: 0 | 1;
  /** Concurrency keys (at most 2) this item must hold a slot of while leased. */
  concurrency?: readonly ConcurrencyClaim[];
  /** What a follow-up item is about (JSON). */
  payload?: Record<string, unknown>;
}

export interface ConcurrencyClaim {
  key: string;
  limit: number;
}

export interface QueueItem extends NewQueueItem {
  id: string;
  /** The lease token of this claim: every write made for the item carries it. */
  token: number;
  /** This claim moved the run from Queued to Running. */
  startedRun?: boolean;
}

/** What `Store.queueStats` reports, for monitoring. */
export interface QueueStats {
  /** Queue items that are due (`availableAt <= now`) and not leased: work waiting for a worker. */
  due: number;
  /** Queue items leased by a worker now (calls in flight on some node). */
  leased: number;
  /** The `availableAt` of the oldest due, unleased item, or `null` when none is due. */
  oldestDueAt: number | null;
  /** Queued runs held by flow control, by `waitingOn.kind` (throttle, debounce, batch, scheduled). */
  waiting: Record<string, number>;
}

/** The right to write for a claimed item. */
export interface Lease {
  itemId: string;
  token: number;
}

/** A write for a claimed item whose lease was lost (expired and claimed again, or the item is gone): nothing was changed. */
export class LeaseLostError extends StepwiseError {
  constructor(lease: Lease) {
    super("conflict", `lease lost: queue item ${lease.itemId} (token ${lease.token}) was claimed again or removed; the write was refused`);
    this.name = "LeaseLostError";
  }
  static isLeaseLost(error: unknown): error is LeaseLostError {
    return error instanceof Error && error.name === "LeaseLostError";
  }
}

/** What a script may read inside a store transaction. All reads are synchronous and see the transaction's own writes. */
export interface TxView {
  /** A flow-state value that has not expired, if any. Only the keys the script named (`flowKeys`) may be read. */
  flow(key: string): unknown;
  runStatus(runId: string): RunStatus | undefined;
  /** Some pause waits on this event name. */
  hasPauses(eventName: string): boolean;
  /** Some event of this name was received at or after `since`. */
  hasEventsSince(eventName: string, since: number): boolean;
}

export interface IngestView extends TxView {
  /** Internal ids of this ingest's events that start nothing (see `IngestResult.duplicates`). */
  readonly duplicates: ReadonlySet<string>;
}

export interface RunView extends TxView {
  /** The run, read in this transaction (undefined when unknown). */
  readonly run: RunRecord | undefined;
  /** The run's queue items. */
  items(): QueueItem[];
  hasPause(pauseId: string): boolean;
}

/** A decision taken on state read in the write's own transaction. */
export interface IngestScript {
  readonly now: number;
  readonly flowKeys: readonly string[];
  /** Returns what to write: the runs, items, pauses, flow state and run updates (its `events` are ignored: they are stored already). */
  decide(view: IngestView): IngestParams;
}

export interface TransitionScript {
  readonly now: number;
  readonly lease?: Lease;
  readonly flowKeys?: readonly string[];
  /** Returns the transition to write, or undefined to write nothing. */
  decide(view: RunView): TransitionParams | undefined;
}

export const PauseKind = {
  /** `step.waitForEvent`: resumes the step with the event. */
  Wait: "wait",
  /** `step.invoke`: resumes the step with the invoked run's result. */
  Invoke: "invoke",
  /** `cancelOn`: cancels the run. */
  Cancel: "cancel",
  /** `step.waitForSignal`: resumes the step with `{ signal, data }` sent to that signal. */
  Signal: "signal",
} as const;

/** The internal event name signal pauses are indexed under. */
export const signalEventName = "stepwise/signal";
export type PauseKind = (typeof PauseKind)[keyof typeof PauseKind];

/**
 * A run waiting for an event. `expression` is CEL over `async` (the incoming event) with
 * the run's own `event.*` values already substituted. When it contains an equality on
 * `async.<indexPath>`, `indexValue` holds the JSON of the value it must equal, so
 * matching is a lookup.
 */
export interface PauseRecord {
  /** `<runId>:<stepId>` for steps, `<runId>:cancel:<n>` for cancelOn. */
  id: string;
  runId: string;
  kind: PauseKind;
  stepId?: string;
  eventName: string;
  expression?: string;
  indexPath?: string;
  indexValue?: string;
  /** True when the indexed equality is the whole expression: an index hit is a match. */
  exact?: boolean;
  createdAt: number;
  expiresAt: number;
}

/** An app serving functions over HTTP, as last synced (stored so every node can call it). */
export interface StoredApp {
  /** Its serve URL without query string: the key. */
  url: string;
  appName: string;
  sdk?: string;
  framework?: string;
  /** The function configs exactly as the app sent them (wire format). */
  functions: unknown[];
  syncedAt: number;
}

/**
 * A live Connect connection in the cluster's registry: which node holds a worker's socket
 * for an app, so a node with none can forward a call there. One row per (connection, app).
 */
export interface ConnectConnectionRecord {
  connectionId: string;
  appName: string;
  /** The node holding the socket (its random id for this process). */
  nodeId: string;
  /** Where other nodes reach that node (`--node-url`). */
  nodeUrl: string;
  /** `ready` takes calls; `draining` (after `WORKER_PAUSE`) does not. */
  state: "ready" | "draining";
  /** When the holding node last refreshed the row: older rows are of a node that died. */
  lastSeenAt: number;
}

export interface CronSchedule {
  functionId: string;
  expression: string;
  nextAt: number;
}

export interface RunState {
  run: RunRecord;
  events: StoredEvent[];
  steps: StepRecord[];
}

export interface IngestParams {
  readonly events: readonly EventRecord[];
  readonly runs: readonly RunRecord[];
  readonly items: readonly NewQueueItem[];
  readonly pauses?: readonly PauseRecord[];
  /**
   * Event-id de-duplication: an event whose sender id was already received at or after
   * this instant is stored but starts nothing (its runs, items and pauses are dropped).
   */
  readonly dedupeSince?: number;
  /** Flow-control state to write (`value: null` deletes the key). */
  readonly flowState?: readonly FlowStateEntry[];
  /** Queued runs to change: more events (batch), a newer event (debounce), a later or earlier start. */
  readonly runUpdates?: ReadonlyArray<{ runId: string; eventIds?: string[]; startAt?: number; waitingOn?: WaitingOn }>;
  /** Memoized steps of runs of this ingest (a rerun from a step copies the earlier steps), written with their runs. */
  readonly steps?: readonly StepRecord[];
  /**
   * Runs whose id is stored already are dropped, with their items, steps and pauses: a
   * replay batch (deterministic run ids) written again after a crash creates nothing twice.
   */
  readonly skipExistingRuns?: boolean;
}

export interface IngestResult {
  /**
   * Internal ids of events that started nothing: duplicates of a sender id seen within the
   * window, and events whose internal id was already stored (a retried request).
   */
  duplicates: string[];
}

export interface ClaimParams {
  readonly now: number;
  readonly limit: number;
  /** Claimed items stay invisible until this instant unless extended. */
  readonly leaseUntil: number;
}

export interface ClaimResult {
  items: QueueItem[];
  /** The earliest `availableAt` left in the queue after this claim, if any. */
  nextAvailableAt: number | null;
}

/** The end of one call, written atomically. */
export interface TransitionParams {
  readonly runId: string;
  /** The lease of the claimed item this write is made for: refused with `LeaseLostError` when stale. */
  readonly lease?: Lease;
  /**
   * Apply this transition only if this pause still exists (and delete it): the guard that
   * makes a run resume at most once when an event and a timeout race.
   */
  readonly consumePause?: string;
  /** The queue item the call held: deleted, unless `reschedule` says when it runs again. */
  readonly itemId?: string;
  readonly reschedule?: { availableAt: number; attempt: number; kind?: QueueItemKind };
  readonly run?: { status: RunStatus; output?: unknown; error?: SerializedError; endedAt?: number };
  /** Set (or, with `null`, clear) the run's `waitingOn`, whatever its status: a served run waiting for its app. */
  readonly waitingOn?: WaitingOn | null;
  /** Record the request version a served app answered with (set once per run). */
  readonly requestVersion?: number;
  /** Record that the run entered (true) or left (false) a parallel phase. */
  readonly parallel?: boolean;
  /** Steps to insert or replace. */
  readonly steps?: readonly StepRecord[];
  /** Existing steps to settle in place (a wait resumed, a sleep ended): status, result, end time. */
  readonly settleSteps?: ReadonlyArray<{ id: string; status: StepStatus; output?: unknown; error?: SerializedError; endedAt: number; attempts: number }>;
  readonly enqueue?: readonly NewQueueItem[];
  /** The run ended: remove every queue item and pause of the run. */
  readonly clearQueue?: boolean;
  /** Remove the run's items of this kind for this step (a wait's timeout, once resumed). */
  readonly cancelItems?: ReadonlyArray<{ kind: QueueItemKind; stepId: string }>;
  readonly pauses?: readonly PauseRecord[];
  /** Events emitted by this transition and the runs they start. */
  readonly emit?: IngestParams;
}

/**
 * One batch of retention (`Store.sweep`). Each kind is deleted in its own short
 * transaction of at most `limit` rows, so a sweep never holds long locks; repeating a
 * batch (another node sweeping at once) deletes nothing twice.
 */
export interface SweepParams {
  readonly now: number;
  /** Most runs, events and flow-state rows each deleted by this call (a run's steps and pauses go with it). */
  readonly limit: number;
  /**
   * Finished runs (Completed, Failed, Cancelled, Skipped) that ended before this instant
   * are deleted with their steps and pauses; undefined keeps them. Runs that are not
   * finished, or still have queue items, are never deleted.
   */
  readonly runsEndedBefore?: number;
  /** Per-function cutoffs, replacing `runsEndedBefore` for these functions (`null`: keep that function's runs). */
  readonly functions?: ReadonlyArray<{ readonly functionId: string; readonly runsEndedBefore: number | null }>;
  /**
   * Events received before this instant are deleted unless a stored run (finished or not,
   * batches included) or a pending route item still refers to them; undefined keeps them.
   */
  readonly eventsReceivedBefore?: number;
}

/** What one `Store.sweep` call deleted, by kind. */
export interface SweepResult {
  runs: number;
  steps: number;
  pauses: number;
  events: number;
  /** Expired flow-control rows (throttle, rate-limit, debounce, batch and singleton leftovers). */
  flowRows: number;
  /** Expired idempotency keys (flow-state rows of `idempotency` keys). */
  idempotencyKeys: number;
}

export interface ListRunsFilter {
  /** The internal event id `send` returned. */
  eventId?: string;
  functionId?: string;
  status?: RunStatus;
  limit?: number;
  /** Only runs created at or after this instant. */
  from?: number;
  /** Only runs created before this instant. */
  to?: number;
  /** Paging: runs older than this run id (ids sort by creation). */
  before?: string;
  /** Only the runs deferred by this run (`RunRecord.parentRunId`). */
  parentRunId?: string;
}

/** What `Store.runStats` reads: runs of one function created in [from, to). */
export interface RunStatsQuery {
  functionId: string;
  from: number;
  to: number;
  /** Width of a bucket in ms (runs are counted by the bucket of their creation time). */
  bucketMs: number;
  /** Most durations returned (newest runs first). (Stores cap it at 10,000.) */
  durationLimit: number;
}

export interface RunStats {
  /** Per bucket (its start, a multiple of `bucketMs`) the runs per status; buckets without runs are left out. */
  buckets: Array<{ at: number; counts: Partial<Record<RunStatus, number>> }>;
  /** `endedAt - startedAt` of the newest ended runs (at most `durationLimit`), each with its creation time. */
  durations: Array<{ createdAt: number; ms: number }>;
}

/** A bulk replay, run in the background in batches; its record makes it resumable after a crash. */
export interface ReplayJob {
  id: string;
  functionId: string;
  /** Replays runs of these statuses. */
  statuses: RunStatus[];
  /** Runs created in [from, to). */
  from?: number;
  to?: number;
  state: "running" | "completed" | "failed";
  /** Matching runs when the job was created. */
  total: number;
  /** Runs dealt with so far (replayed, or gone). */
  done: number;
  /** Paging: the id of the last run dealt with (runs are taken newest first). */
  cursor?: string;
  error?: string;
  createdAt: number;
  updatedAt: number;
}

export interface Store {
  /** Creates or upgrades the schema. Safe to call on every start. */
  migrate(): Promise<void>;
  close(): Promise<void>;

  /**
   * Stores events and the runs they start, with each run's first queue item. With a
   * script, the events are stored first, then `script.decide` (admission) runs in the
   * same transaction and its answer is written.
   */
  ingestEvents(params: IngestParams, script?: IngestScript): Promise<IngestResult>;
  /**
   * Leases up to `limit` due queue items, lane 0 first, oldest first, each with a new
   * token, skipping items whose concurrency keys are full (counting live leases); claiming
   * a start-lane item starts its run (rule 5).
   */
  claimQueueItems(params: ClaimParams): Promise<ClaimResult>;
  /** Extends the leases still held; returns the item ids whose lease was lost. */
  extendLeases(params: { leases: readonly Lease[]; leaseUntil: number }): Promise<string[]>;
  /** Deletes a claimed item (a follow-up done); false when its lease was lost. */
  releaseItem(lease: Lease): Promise<boolean>;
  /** Earliest `availableAt` in the queue. */
  nextAvailableAt(): Promise<number | null>;
  /** Monitoring figures read on a metrics scrape, in a few indexed queries (see `QueueStats`). */
  queueStats(now: number): Promise<QueueStats>;

  loadRunState(runId: string): Promise<RunState | undefined>;
  /** Checkpoint: one step's outcome, mid-call (fenced by `lease` when given). */
  saveStep(step: StepRecord, lease?: Lease): Promise<void>;
  /**
   * Writes the end of a call (or any run transition) in one transaction. Returns false,
   * applying nothing but the release of `itemId`, when `consumePause` was already gone or
   * the run had already ended (a cancellation won the race). Throws `LeaseLostError`,
   * changing nothing, when `lease` is stale.
   */
  commitTransition(params: TransitionParams): Promise<boolean>;
  /** Locks the run, calls `script.decide` on what the transaction reads, and commits its answer as `commitTransition` would. */
  transition(runId: string, script: TransitionScript): Promise<boolean>;
  /** The concurrency key a queued run's due item waits on, if its slots are full now. */
  concurrencyWait(runId: string, now: number): Promise<ConcurrencyClaim | undefined>;
  /** Deletes up to `limit` expired flow-state rows; returns how many. */
  sweepExpired(now: number, limit: number): Promise<number>;
  /**
   * Retention, one batch: deletes up to `limit` expired finished runs (with their steps
   * and pauses), up to `limit` expired events no stored run needs, and up to `limit`
   * expired flow-state rows. Call again while a kind returns `limit`.
   */
  sweep(params: SweepParams): Promise<SweepResult>;

  /** Flow-control state of these keys that has not expired at `now`. */
  getFlowState(keys: readonly string[], now: number): Promise<Map<string, unknown>>;

  /** Index paths in use by pauses on `eventName`. */
  pausePaths(eventName: string): Promise<string[]>;
  /** Pauses on `eventName` with this index value, or (indexPath undefined) the unindexed ones. */
  findPauses(params: { eventName: string; indexPath?: string; indexValue?: string }): Promise<PauseRecord[]>;
  /** Events named `name` received in [since, until], oldest first; `after` pages on from the last event of the previous page. */
  listEventsByName(params: { name: string; since: number; until: number; limit: number; after?: EventRecord }): Promise<EventRecord[]>;

  /** Adds a schedule unless one exists for (functionId, expression). */
  ensureCronSchedule(schedule: CronSchedule): Promise<void>;
  listCronSchedules(): Promise<CronSchedule[]>;
  /**
   * Moves a schedule from `fromAt` to `toAt` and, in the same transaction, writes
   * `emit` (the tick's event and run). Returns false if another process moved it first.
   */
  advanceCronSchedule(
    params: { functionId: string; expression: string; fromAt: number; toAt: number; emit?: IngestParams },
    script?: IngestScript,
  ): Promise<boolean>;

  /** Stores an app's latest sync, replacing the previous one for its URL. */
  saveApp(app: StoredApp): Promise<void>;
  listApps(): Promise<StoredApp[]>;

  /** Writes or refreshes registry rows of live Connect connections, keyed by (connectionId, appName). */
  saveConnectConnections(rows: readonly ConnectConnectionRecord[]): Promise<void>;
  /** Deletes the rows of one connection, and/or every row last seen before `seenBefore`; returns how many. */
  deleteConnectConnections(params: { connectionId?: string; seenBefore?: number }): Promise<number>;
  /** The rows of an app seen at or after `seenSince`, oldest connection id first. */
  listConnectConnections(params: { appName: string; seenSince: number }): Promise<ConnectConnectionRecord[]>;

  getRun(runId: string): Promise<RunRecord | undefined>;
  listRuns(filter: ListRunsFilter): Promise<RunRecord[]>;
  /** Runs per status of a function created since `since`. */
  countRuns(params: { functionId: string; since: number }): Promise<Partial<Record<RunStatus, number>>>;
  listSteps(runId: string): Promise<StepRecord[]>;
  /** Runs per status per time bucket and the newest durations of a function's runs created in [from, to) (indexed on the run id's time prefix, bounded). */
  runStats(query: RunStatsQuery): Promise<RunStats>;
  /** The oldest `Queued` runs (by creation) or longest `Running` runs (by start), at most `limit` (≤ 1000). */
  listOldestRuns(params: { status: "Queued" | "Running"; limit: number }): Promise<RunRecord[]>;
  /** Creates or replaces a replay job. */
  saveReplayJob(job: ReplayJob): Promise<void>;
  getReplayJob(id: string): Promise<ReplayJob | undefined>;
  /** Replay jobs newest first, optionally in one state. */
  listReplayJobs(params: { limit: number; state?: ReplayJob["state"] }): Promise<ReplayJob[]>;
  getEvent(internalId: string): Promise<EventRecord | undefined>;
  /** Events newest first, optionally of one name, received before `before` (an internal id, for paging). */
  listEvents(filter: { name?: string; limit: number; before?: string }): Promise<EventRecord[]>;

  /** Appends metadata written for a run; false (storing nothing) when the run does not exist. */
  addRunMetadata(record: RunMetadataRecord): Promise<boolean>;
  /** The run's API-written metadata, oldest first. */
  listRunMetadata(runId: string): Promise<RunMetadataRecord[]>;
}
