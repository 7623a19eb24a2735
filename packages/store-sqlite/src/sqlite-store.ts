/**
 * @module sqlite-store
 * The Store port on embedded SQLite (better-sqlite3, WAL). Each write method is one
 * transaction. better-sqlite3 is synchronous, so a transaction never interleaves with
 * another in this process; `BEGIN IMMEDIATE` serializes against other processes.
 *
 * Durability: `synchronous = NORMAL` in WAL mode keeps every committed transaction
 * across a killed process (the write is in the OS before COMMIT returns); only an OS
 * crash or power loss can drop the last few. `durability: "full"` fsyncs every commit.
 */
import {
  type ClaimParams,
  type ClaimResult,
  type CronSchedule,
  type EventRecord,
  type IngestParams,
  type IngestResult,
  type ListRunsFilter,
  type PauseRecord,
  QueueItemKind,
  type RunRecord,
  type RunState,
  type StepRecord,
  type Store,
  type TransitionParams,
  terminalStatuses,
} from "@stepwise/engine";
import Database from "better-sqlite3";
import { encodeTime } from "ulid";
import { BackgroundCheckpointer } from "./checkpointer.ts";
import { GroupCommit } from "./group-commit.ts";
import { migrate } from "./migrate.ts";
import {
  type EventRow,
  eventFromRow,
  eventToRow,
  itemFromRow,
  itemToRow,
  type PauseRow,
  pauseFromRow,
  pauseToRow,
  type QueueRow,
  type RunRow,
  runFromRow,
  runToRow,
  type StepRow,
  stepFromRow,
  stepToRow,
} from "./rows.ts";
import { listEventsQuery, listRunsQuery, prepareStatements, type Statements } from "./statements.ts";

export interface SqliteStoreOptions {
  /** A file path, or `":memory:"`. */
  filename: string;
  /** `"normal"` survives a killed process; `"full"` also survives power loss, slower. (Default: "normal".) */
  durability?: "normal" | "full";
  /**
   * Where WAL checkpoints run: `"background"` in a worker thread, off the event loop;
   * `"inline"` inside commits (SQLite's default). (Default: "background" for files.)
   */
  checkpoint?: "background" | "inline";
}

/** How often the background checkpointer runs: often enough to keep the WAL to a few MB at full load. */
const checkpointIntervalMs = 250;

export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private statements: Statements | undefined;
  private readonly writes: GroupCommit;
  private readonly options: SqliteStoreOptions;
  private checkpointer: BackgroundCheckpointer | undefined;

  constructor(options: SqliteStoreOptions) {
    this.db = new Database(options.filename);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma(`synchronous = ${options.durability === "full" ? "FULL" : "NORMAL"}`);
    this.db.pragma("busy_timeout = 5000");
    this.writes = new GroupCommit(this.db);
    this.options = options;
  }

  private get sql(): Statements {
    if (!this.statements) throw new Error("SqliteStore: call migrate() before using the store");
    return this.statements;
  }

  async migrate(): Promise<void> {
    migrate(this.db);
    this.statements = prepareStatements(this.db);
    if (!this.checkpointer && this.options.checkpoint !== "inline" && !this.db.memory) {
      this.db.pragma("wal_autocheckpoint = 0");
      this.checkpointer = new BackgroundCheckpointer(this.options.filename, checkpointIntervalMs, (message) => {
        console.warn(`stepwise: background WAL checkpoint failed: ${message}`);
      });
    }
  }

  async close(): Promise<void> {
    if (!this.db.open) return;
    this.writes.flush();
    await this.checkpointer?.stop();
    this.db.close();
  }

  /**
   * 1. store every event, noting those whose sender id was seen since `dedupeSince`;
   * 2. store the runs, items and pauses of the others.
   */
  private ingest(params: IngestParams): IngestResult {
    const sql = this.sql;
    const duplicates: string[] = [];
    for (const event of params.events) {
      const duplicate =
        params.dedupeSince !== undefined && event.id !== event.internalId && !!sql.duplicateEvent.get(event.id, params.dedupeSince, event.internalId);
      const stored = sql.insertEvent.run(eventToRow(duplicate ? { ...event, duplicate } : event)).changes > 0;
      if (duplicate || !stored) duplicates.push(event.internalId);
    }
    const dropped = new Set<string>();
    if (duplicates.length > 0) {
      const dup = new Set(duplicates);
      for (const run of params.runs) if (dup.has(run.eventIds[0] ?? "")) dropped.add(run.id);
    }
    for (const run of params.runs) {
      if (dropped.has(run.id)) continue;
      if (run.status === "Skipped")
        sql.insertSkippedRun.run({ ...runToRow(run), error: JSON.stringify(run.error ?? null), endedAt: run.endedAt ?? run.createdAt });
      else sql.insertRun.run(runToRow(run));
    }
    for (const entry of params.flowState ?? []) {
      if (entry.value === null) sql.deleteFlow.run(entry.key);
      else sql.putFlow.run(entry.key, JSON.stringify(entry.value), entry.expiresAt);
    }
    for (const item of params.items) if (!dropped.has(item.runId)) sql.enqueue.run(itemToRow(item));
    for (const pause of params.pauses ?? []) if (!dropped.has(pause.runId)) this.insertPause(pause);
    // after the runs and items above, so updates may target runs of this same ingest
    for (const update of params.runUpdates ?? []) {
      if (update.eventIds) sql.setRunEvents.run(JSON.stringify(update.eventIds), update.eventIds[0] ?? "", update.runId);
      if (update.startAt !== undefined) sql.setRunStart.run(update.startAt, update.runId);
      if (update.waitingOn) sql.setRunWaitingOn.run(JSON.stringify(update.waitingOn), update.runId);
    }
    return { duplicates };
  }

  private insertPause(pause: PauseRecord) {
    this.sql.insertPause.run(pauseToRow(pause));
    if (pause.indexPath !== undefined) this.sql.insertPausePath.run(pause.eventName, pause.indexPath);
  }

  async ingestEvents(params: IngestParams): Promise<IngestResult> {
    let result: IngestResult = { duplicates: [] };
    await this.writes.write(() => {
      result = this.ingest(params);
    });
    return result;
  }

  async claimQueueItems(params: ClaimParams): Promise<ClaimResult> {
    const sql = this.sql;
    return this.db
      .transaction(() => {
        const rows = sql.due.all(0, params.now, params.limit) as QueueRow[];
        if (rows.length < params.limit) rows.push(...(sql.due.all(1, params.now, params.limit - rows.length) as QueueRow[]));
        const items = rows.map((row) => {
          sql.lease.run(params.leaseUntil, row.id);
          const item = itemFromRow(row);
          if (row.kind === QueueItemKind.Discovery || row.kind === QueueItemKind.Step) {
            if (sql.markRunning.run(params.now, row.run_id).changes > 0) item.startedRun = true;
          }
          return item;
        });
        const next = sql.nextAvailableAt.get() as { at: number | null };
        return { items, nextAvailableAt: next.at };
      })
      .immediate();
  }

  async extendLeases(params: { itemIds: readonly string[]; leaseUntil: number }): Promise<void> {
    const sql = this.sql;
    this.db
      .transaction(() => {
        for (const id of params.itemIds) sql.lease.run(params.leaseUntil, Number(id));
      })
      .immediate();
  }

  async nextAvailableAt(): Promise<number | null> {
    return (this.sql.nextAvailableAt.get() as { at: number | null }).at;
  }

  async loadRunState(runId: string): Promise<RunState | undefined> {
    const row = this.sql.getRun.get(runId) as RunRow | undefined;
    if (!row) return undefined;
    const ids = JSON.parse(row.event_ids) as string[];
    const rows = ids.length === 1 ? [this.sql.getEvent.get(ids[0]) as EventRow] : (this.sql.eventsOfRun.all(row.event_ids) as EventRow[]);
    const events = rows.map((r) => {
      const { internalId: _i, receivedAt: _r, ...event } = eventFromRow(r);
      return event;
    });
    const steps = (this.sql.stepsOfRun.all(runId) as StepRow[]).map(stepFromRow);
    return { run: runFromRow(row), events, steps };
  }

  saveStep(step: StepRecord): Promise<void> {
    const row = stepToRow(step);
    return this.writes.write(() => this.sql.upsertStep.run(row));
  }

  /**
   * 1. `consumePause`: delete it; if it was already gone, only release the item.
   * 2. if the run already ended, only release the item.
   * 3. otherwise write events, steps, the run, queue changes and pauses.
   */
  commitTransition(params: TransitionParams): Promise<boolean> {
    const sql = this.sql;
    let applied = false;
    const releaseItem = () => {
      if (params.itemId !== undefined) sql.deleteItem.run(Number(params.itemId));
    };
    return this.writes
      .write(() => {
        if (params.consumePause !== undefined && sql.deletePause.run(params.consumePause).changes === 0) return releaseItem();
        const status = (sql.runStatus.get(params.runId) as { status: RunRecord["status"] } | undefined)?.status;
        if (status !== undefined && terminalStatuses.has(status)) return releaseItem();
        if (params.emit) this.ingest(params.emit);
        for (const step of params.steps ?? []) sql.upsertStep.run(stepToRow(step));
        for (const step of params.settleSteps ?? []) {
          sql.settleStep.run({
            runId: params.runId,
            id: step.id,
            status: step.status,
            output: step.output === undefined ? null : JSON.stringify(step.output),
            error: step.error === undefined ? null : JSON.stringify(step.error),
            endedAt: step.endedAt,
            attempts: step.attempts,
          });
        }
        if (params.run) {
          sql.endRun.run({
            id: params.runId,
            status: params.run.status,
            output: params.run.output === undefined ? null : JSON.stringify(params.run.output),
            error: params.run.error === undefined ? null : JSON.stringify(params.run.error),
            endedAt: params.run.endedAt ?? null,
          });
        }
        if (params.clearQueue) {
          sql.clearRunQueue.run(params.runId);
          sql.deleteRunPauses.run(params.runId);
        } else if (params.itemId !== undefined) {
          if (params.reschedule)
            sql.reschedule.run(params.reschedule.availableAt, params.reschedule.attempt, params.reschedule.kind ?? null, Number(params.itemId));
          else sql.deleteItem.run(Number(params.itemId));
        }
        for (const item of params.cancelItems ?? []) sql.cancelItems.run(params.runId, item.kind, item.stepId);
        for (const item of params.enqueue ?? []) sql.enqueue.run(itemToRow(item));
        for (const pause of params.pauses ?? []) this.insertPause(pause);
        if (params.discoveryWhenIdle && !sql.runHasItems.get(params.runId)) sql.enqueue.run(itemToRow(params.discoveryWhenIdle));
        applied = true;
      })
      .then(() => applied);
  }

  async getFlowState(keys: readonly string[], now: number): Promise<Map<string, unknown>> {
    const out = new Map<string, unknown>();
    for (const key of keys) {
      const row = this.sql.getFlow.get(key, now) as { value: string } | undefined;
      if (row) out.set(key, JSON.parse(row.value));
    }
    return out;
  }

  async pausePaths(eventName: string): Promise<string[]> {
    return (this.sql.pausePaths.all(eventName) as Array<{ index_path: string }>).map((r) => r.index_path);
  }

  async findPauses(params: { eventName: string; indexPath?: string; indexValue?: string }): Promise<PauseRecord[]> {
    const rows =
      params.indexPath === undefined
        ? this.sql.findUnindexedPauses.all(params.eventName)
        : this.sql.findIndexedPauses.all(params.eventName, params.indexPath, params.indexValue ?? "null");
    return (rows as PauseRow[]).map(pauseFromRow);
  }

  async listEvents(filter: { name?: string; limit: number; before?: string }): Promise<EventRecord[]> {
    const { sql, params } = listEventsQuery({ ...filter, limit: Math.min(filter.limit, 1000) });
    return (this.db.prepare(sql).all(...params) as EventRow[]).map(eventFromRow);
  }

  async listEventsByName(params: { name: string; since: number; until: number; limit: number }): Promise<EventRecord[]> {
    return (this.sql.eventsByName.all(params.name, params.since, params.until, params.limit) as EventRow[]).map(eventFromRow);
  }

  ensureCronSchedule(schedule: CronSchedule): Promise<void> {
    return this.writes.write(() => this.sql.insertCron.run(schedule.functionId, schedule.expression, schedule.nextAt));
  }

  async listCronSchedules(): Promise<CronSchedule[]> {
    return (this.sql.listCron.all() as Array<{ function_id: string; expression: string; next_at: number }>).map((r) => ({
      functionId: r.function_id,
      expression: r.expression,
      nextAt: r.next_at,
    }));
  }

  advanceCronSchedule(params: { functionId: string; expression: string; fromAt: number; toAt: number; emit?: IngestParams }): Promise<boolean> {
    let moved = false;
    return this.writes
      .write(() => {
        moved = this.sql.advanceCron.run(params.toAt, params.functionId, params.expression, params.fromAt).changes > 0;
        if (moved && params.emit) this.ingest(params.emit);
      })
      .then(() => moved);
  }

  async getRun(runId: string): Promise<RunRecord | undefined> {
    const row = this.sql.getRun.get(runId) as RunRow | undefined;
    return row ? runFromRow(row) : undefined;
  }

  async listRuns(filter: ListRunsFilter): Promise<RunRecord[]> {
    const { sql, params } = listRunsQuery({ ...filter, limit: Math.min(filter.limit ?? 100, 1000) });
    return (this.db.prepare(sql).all(...params) as RunRow[]).map(runFromRow);
  }

  async countRuns(params: { functionId: string; since: number }): Promise<Partial<Record<RunRecord["status"], number>>> {
    const rows = this.sql.countRuns.all(params.functionId, encodeTime(Math.max(0, Math.floor(params.since)), 10)) as Array<{
      status: RunRecord["status"];
      n: number;
    }>;
    return Object.fromEntries(rows.map((r) => [r.status, r.n]));
  }

  async listSteps(runId: string): Promise<StepRecord[]> {
    return (this.sql.stepsOfRun.all(runId) as StepRow[]).map(stepFromRow);
  }

  async getEvent(internalId: string): Promise<EventRecord | undefined> {
    const row = this.sql.getEvent.get(internalId) as EventRow | undefined;
    return row ? eventFromRow(row) : undefined;
  }
}
