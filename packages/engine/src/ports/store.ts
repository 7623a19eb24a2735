/**
 * @module store
 * The storage port. Every method is one domain transition and, where it writes, one
 * transaction: a crash at any instant loses nothing and completes nothing twice.
 * No database types cross this boundary; SQLite and Postgres implement it alike and
 * both run the conformance suite in `@stepwise/store-conformance`.
 *
 * Glossary: an *event* triggers *runs* of *functions*; a run is a sequence of *steps*
 * whose results are memoized; a *queue item* is work due at `availableAt` (a call to
 * discover the next steps, one planned step, or a sleep's wake-up); a claimed item is
 * *leased* by pushing its `availableAt` to the lease's end, so a dead worker's items
 * become due again by themselves.
 */
import type { SerializedError, StoredEvent } from "@stepwise/protocol";

export const RunStatus = {
  Queued: "Queued",
  Running: "Running",
  Completed: "Completed",
  Failed: "Failed",
  Cancelled: "Cancelled",
} as const;
export type RunStatus = (typeof RunStatus)[keyof typeof RunStatus];

export const terminalStatuses: ReadonlySet<RunStatus> = new Set([RunStatus.Completed, RunStatus.Failed, RunStatus.Cancelled]);

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
}

export interface EventRecord extends StoredEvent {
  /** The id `send` returned (a ULID); `id` is the sender's id when one was given. */
  internalId: string;
  receivedAt: number;
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
} as const;
export type StepStatus = (typeof StepStatus)[keyof typeof StepStatus];

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
  startedAt?: number;
  endedAt?: number;
  /** When a sleeping or waiting step is due. */
  wakeAt?: number;
}

export const QueueItemKind = {
  /** Call the function to find (and run) its next steps. */
  Discovery: "discovery",
  /** Run one planned step. */
  Step: "step",
  /** A sleep is over: memoize it, then discover. */
  Sleep: "sleep",
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
}

export interface QueueItem extends NewQueueItem {
  id: string;
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
  /** The queue item the call held: deleted, unless `reschedule` says when it runs again. */
  readonly itemId?: string;
  readonly reschedule?: { availableAt: number; attempt: number };
  readonly run?: { status: RunStatus; output?: unknown; error?: SerializedError; endedAt?: number };
  /** Steps to insert or replace. */
  readonly steps?: readonly StepRecord[];
  readonly enqueue?: readonly NewQueueItem[];
  /** Enqueued only when no other item of the run remains (the last parallel branch). */
  readonly discoveryWhenIdle?: NewQueueItem;
  /** Remove every queue item of the run (it ended). */
  readonly clearQueue?: boolean;
  /** Events emitted by this transition and the runs they start. */
  readonly emit?: IngestParams;
}

export interface ListRunsFilter {
  /** The internal event id `send` returned. */
  eventId?: string;
  functionId?: string;
  status?: RunStatus;
  limit?: number;
}

export interface Store {
  /** Creates or upgrades the schema. Safe to call on every start. */
  migrate(): Promise<void>;
  close(): Promise<void>;

  /** Stores events and the runs they start, with each run's first queue item. */
  ingestEvents(params: IngestParams): Promise<void>;
  /** Leases up to `limit` due queue items, oldest first, and marks their runs Running. */
  claimQueueItems(params: ClaimParams): Promise<ClaimResult>;
  extendLeases(params: { itemIds: readonly string[]; leaseUntil: number }): Promise<void>;
  /** Earliest `availableAt` in the queue. */
  nextAvailableAt(): Promise<number | null>;

  loadRunState(runId: string): Promise<RunState | undefined>;
  /** Checkpoint: one step's outcome, mid-call. */
  saveStep(step: StepRecord): Promise<void>;
  commitTransition(params: TransitionParams): Promise<void>;

  getRun(runId: string): Promise<RunRecord | undefined>;
  listRuns(filter: ListRunsFilter): Promise<RunRecord[]>;
  listSteps(runId: string): Promise<StepRecord[]>;
  getEvent(internalId: string): Promise<EventRecord | undefined>;
}
