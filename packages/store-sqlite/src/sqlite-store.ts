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
import type {
  ClaimParams,
  ClaimResult,
  EventRecord,
  IngestParams,
  ListRunsFilter,
  RunRecord,
  RunState,
  StepRecord,
  Store,
  TransitionParams,
} from "@stepwise/engine";
import Database from "better-sqlite3";
import { BackgroundCheckpointer } from "./checkpointer.ts";
import { GroupCommit } from "./group-commit.ts";
import { migrate } from "./migrate.ts";
import {
  type EventRow,
  eventFromRow,
  eventToRow,
  itemFromRow,
  itemToRow,
  type QueueRow,
  type RunRow,
  runFromRow,
  runToRow,
  type StepRow,
  stepFromRow,
  stepToRow,
} from "./rows.ts";
import { listRunsQuery, prepareStatements, type Statements } from "./statements.ts";

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

  private ingest(params: IngestParams) {
    const sql = this.sql;
    for (const event of params.events) sql.insertEvent.run(eventToRow(event));
    for (const run of params.runs) sql.insertRun.run(runToRow(run));
    for (const item of params.items) sql.enqueue.run(itemToRow(item));
  }

  ingestEvents(params: IngestParams): Promise<void> {
    return this.writes.write(() => this.ingest(params));
  }

  async claimQueueItems(params: ClaimParams): Promise<ClaimResult> {
    const sql = this.sql;
    return this.db
      .transaction(() => {
        const rows = sql.due.all(params.now, params.limit) as QueueRow[];
        for (const row of rows) {
          sql.lease.run(params.leaseUntil, row.id);
          sql.markRunning.run(params.now, row.run_id);
        }
        const next = sql.nextAvailableAt.get() as { at: number | null };
        return { items: rows.map(itemFromRow), nextAvailableAt: next.at };
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
    const events = (this.sql.eventsOfRun.all(row.event_ids) as EventRow[]).map((r) => {
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

  commitTransition(params: TransitionParams): Promise<void> {
    const sql = this.sql;
    return this.writes.write(() => {
      if (params.emit) this.ingest(params.emit);
      for (const step of params.steps ?? []) sql.upsertStep.run(stepToRow(step));
      if (params.run) {
        sql.endRun.run({
          id: params.runId,
          status: params.run.status,
          output: params.run.output === undefined ? null : JSON.stringify(params.run.output),
          error: params.run.error === undefined ? null : JSON.stringify(params.run.error),
          endedAt: params.run.endedAt ?? null,
        });
      }
      if (params.clearQueue) sql.clearRunQueue.run(params.runId);
      else if (params.itemId !== undefined) {
        if (params.reschedule) sql.reschedule.run(params.reschedule.availableAt, params.reschedule.attempt, Number(params.itemId));
        else sql.deleteItem.run(Number(params.itemId));
      }
      for (const item of params.enqueue ?? []) sql.enqueue.run(itemToRow(item));
      if (params.discoveryWhenIdle && !sql.runHasItems.get(params.runId)) sql.enqueue.run(itemToRow(params.discoveryWhenIdle));
    });
  }

  async getRun(runId: string): Promise<RunRecord | undefined> {
    const row = this.sql.getRun.get(runId) as RunRow | undefined;
    return row ? runFromRow(row) : undefined;
  }

  async listRuns(filter: ListRunsFilter): Promise<RunRecord[]> {
    const { sql, params } = listRunsQuery({ ...filter, limit: Math.min(filter.limit ?? 100, 1000) });
    return (this.db.prepare(sql).all(...params) as RunRow[]).map(runFromRow);
  }

  async listSteps(runId: string): Promise<StepRecord[]> {
    return (this.sql.stepsOfRun.all(runId) as StepRow[]).map(stepFromRow);
  }

  async getEvent(internalId: string): Promise<EventRecord | undefined> {
    const row = this.sql.getEvent.get(internalId) as EventRow | undefined;
    return row ? eventFromRow(row) : undefined;
  }
}
