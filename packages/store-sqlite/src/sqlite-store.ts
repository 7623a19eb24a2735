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
  type ConcurrencyClaim,
  type ConnectConnectionRecord,
  type CronSchedule,
  type EventRecord,
  type IngestParams,
  type IngestResult,
  type IngestScript,
  type Lease,
  LeaseLostError,
  type ListRunsFilter,
  type PauseRecord,
  type QueueItem,
  QueueItemKind,
  type QueueStats,
  type ReplayJob,
  type RunMetadataRecord,
  type RunRecord,
  type RunState,
  type RunStats,
  type RunStatsQuery,
  type RunStatus,
  type StepRecord,
  type Store,
  type StoredApp,
  type SweepParams,
  type SweepResult,
  type TransitionParams,
  type TransitionScript,
  type TxView,
  terminalStatuses,
} from "@stepwise/engine";
import Database from "better-sqlite3";
import { encodeTime } from "ulid";
import { BackgroundCheckpointer } from "./checkpointer.ts";
import { GroupCommit, retryBusy } from "./group-commit.ts";
import { migrate } from "./migrate.ts";
import {
  type AppRow,
  appFromRow,
  type ConnectConnectionRow,
  claimsOfRow,
  connectConnectionFromRow,
  type EventRow,
  eventFromRow,
  eventToRow,
  itemFromRow,
  itemToRow,
  type PauseRow,
  pauseFromRow,
  pauseToRow,
  type QueueRow,
  type RunMetadataRow,
  type RunRow,
  runFromRow,
  runMetadataFromRow,
  runMetadataToRow,
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
/** Due rows read per query while claiming: small, so a backlog on a full concurrency key costs little to skip. */
const claimPage = 16;

export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private statements: Statements | undefined;
  private readonly writes: GroupCommit;
  private readonly options: SqliteStoreOptions;
  private checkpointer: BackgroundCheckpointer | undefined;
  /** Where the next retention batch of events goes on (see `sweep`); reset when a batch comes back short. */
  private eventsCursor: { at: number; id: string } | undefined;

  constructor(options: SqliteStoreOptions) {
    this.db = new Database(options.filename);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma(`synchronous = ${options.durability === "full" ? "FULL" : "NORMAL"}`);
    // short: a process waiting for another's write lock retries off the event loop (see group-commit.ts)
    this.db.pragma("busy_timeout = 20");
    this.writes = new GroupCommit(this.db);
    this.options = options;
  }

  private get sql(): Statements {
    if (!this.statements) throw new Error("SqliteStore: call migrate() before using the store");
    return this.statements;
  }

  async migrate(): Promise<void> {
    await retryBusy(() => migrate(this.db));
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
   * 2. with a script, let it decide (admission) on state read now, in this transaction;
   * 3. store the runs, items and pauses of the others, flow state and run updates.
   */
  private ingest(params: IngestParams, script?: IngestScript): IngestResult {
    const sql = this.sql;
    const duplicates: string[] = [];
    for (const event of params.events) {
      const duplicate =
        params.dedupeSince !== undefined && event.id !== event.internalId && !!sql.duplicateEvent.get(event.id, params.dedupeSince, event.internalId);
      const stored = sql.insertEvent.run(eventToRow(duplicate ? { ...event, duplicate } : event)).changes > 0;
      if (duplicate || !stored) duplicates.push(event.internalId);
    }
    const decided = script ? script.decide(this.view(script.now, script.flowKeys, { duplicates: new Set(duplicates) })) : params;
    this.write(decided, new Set(duplicates));
    return { duplicates };
  }

  /** Writes runs, items, pauses, flow state and run updates; skips the runs of `duplicates` events. */
  private write(params: IngestParams, duplicates: ReadonlySet<string>) {
    const sql = this.sql;
    const dropped = new Set<string>();
    if (duplicates.size > 0) for (const run of params.runs) if (duplicates.has(run.eventIds[0] ?? "")) dropped.add(run.id);
    if (params.skipExistingRuns) for (const run of params.runs) if (sql.runExists.get(run.id)) dropped.add(run.id);
    for (const run of params.runs) {
      if (dropped.has(run.id)) continue;
      if (run.status === "Skipped")
        sql.insertSkippedRun.run({ ...runToRow(run), error: JSON.stringify(run.error ?? null), endedAt: run.endedAt ?? run.createdAt });
      else sql.insertRun.run(runToRow(run));
      for (const eventId of run.eventIds.slice(1)) sql.insertRunEvent.run(eventId, run.id);
      if (run.rerunOf) sql.setRerunOf.run(run.rerunOf, run.rerunFromStep ?? null, run.id);
    }
    for (const step of params.steps ?? []) if (!dropped.has(step.runId)) sql.upsertStep.run(stepToRow(step));
    for (const entry of params.flowState ?? []) {
      if (entry.value === null) sql.deleteFlow.run(entry.key);
      else sql.putFlow.run(entry.key, JSON.stringify(entry.value), entry.expiresAt);
    }
    for (const item of params.items) if (!dropped.has(item.runId)) sql.enqueue.run(itemToRow(item));
    for (const pause of params.pauses ?? []) if (!dropped.has(pause.runId)) this.insertPause(pause);
    // after the runs and items above, so updates may target runs of this same ingest
    for (const update of params.runUpdates ?? []) {
      if (update.eventIds && sql.setRunEvents.run(JSON.stringify(update.eventIds), update.eventIds[0] ?? "", update.runId).changes > 0)
        for (const eventId of update.eventIds.slice(1)) sql.insertRunEvent.run(eventId, update.runId);
      if (update.startAt !== undefined) sql.setRunStart.run(update.startAt, update.runId);
      if (update.waitingOn) sql.setRunWaitingOn.run(JSON.stringify(update.waitingOn), update.runId);
    }
  }

  /** The synchronous view a script reads inside the current transaction. */
  private view<T extends object>(now: number, flowKeys: readonly string[] | undefined, extra: T): TxView & T {
    const sql = this.sql;
    const allowed = new Set(flowKeys ?? []);
    return {
      ...extra,
      flow: (key: string) => {
        if (!allowed.has(key)) throw new Error(`store script read flow key ${JSON.stringify(key)} it did not name in flowKeys`);
        const row = sql.getFlow.get(key, now) as { value: string } | undefined;
        return row ? JSON.parse(row.value) : undefined;
      },
      runStatus: (runId: string) => (sql.runStatus.get(runId) as { status: RunStatus } | undefined)?.status,
      hasPauses: (eventName: string) => !!sql.pausesOnName.get(eventName),
      hasEventsSince: (eventName: string, since: number) => !!sql.eventsSince.get(eventName, since),
    };
  }

  private insertPause(pause: PauseRecord) {
    this.sql.insertPause.run(pauseToRow(pause));
    if (pause.indexPath !== undefined) this.sql.insertPausePath.run(pause.eventName, pause.indexPath);
  }

  async ingestEvents(params: IngestParams, script?: IngestScript): Promise<IngestResult> {
    let result: IngestResult = { duplicates: [] };
    await this.writes.write(() => {
      result = this.ingest(params, script);
    });
    return result;
  }

  /**
   * Per lane, pages through due items oldest first. An item with concurrency keys is
   * taken only while each key has fewer live leases than its limit; a full key joins the
   * exclusion list, so later pages skip its items in the query itself.
   */
  async claimQueueItems(params: ClaimParams): Promise<ClaimResult> {
    const sql = this.sql;
    return retryBusy(() =>
      this.db
        .transaction(() => {
          const items: QueueItem[] = [];
          const full = new Set<string>();
          const inUse = new Map<string, number>();
          const used = (key: string) => {
            let n = inUse.get(key);
            if (n === undefined) {
              n = (sql.liveLeases.get({ key, now: params.now }) as { n: number }).n;
              inUse.set(key, n);
            }
            return n;
          };
          for (const lane of [0, 1]) {
            for (;;) {
              const want = params.limit - items.length;
              if (want <= 0) break;
              const fullJson = JSON.stringify([...full]);
              const page = Math.min(want, claimPage);
              const rows = sql.due.all(lane, params.now, fullJson, fullJson, page) as QueueRow[];
              for (const row of rows) {
                const claims = claimsOfRow(row);
                const blocked = claims.filter((c) => full.has(c.key) || used(c.key) >= c.limit);
                if (blocked.length) {
                  for (const c of blocked) full.add(c.key);
                  continue;
                }
                for (const c of claims) inUse.set(c.key, used(c.key) + 1);
                items.push(this.lease(row, params));
              }
              if (rows.length < page) break;
            }
          }
          const next = sql.nextAvailableAt.get() as { at: number | null };
          return { items, nextAvailableAt: next.at };
        })
        .immediate(),
    );
  }

  /** Leases one due row: a new token; a lease that had expired counts against its run; a start-lane item starts its run. */
  private lease(row: QueueRow, params: ClaimParams): QueueItem {
    const sql = this.sql;
    if (row.leased === 1 && row.run_id !== "") sql.countLeaseExpiry.run(row.run_id);
    const { token } = sql.lease.get(params.leaseUntil, row.id) as { token: number };
    const item = itemFromRow({ ...row, token, available_at: row.available_at });
    if (row.lane === 1) {
      const started = sql.markRunning.get(params.now, row.run_id) as { pending_key: string | null; finish_after_ms: number | null } | undefined;
      if (started) {
        item.startedRun = true;
        if (started.pending_key !== null) sql.releasePendingKey.run(started.pending_key, row.run_id);
        if (started.finish_after_ms !== null) {
          sql.enqueue.run(itemToRow({ runId: row.run_id, kind: QueueItemKind.FinishTimeout, attempt: 0, availableAt: params.now + started.finish_after_ms }));
        }
      }
    }
    return item;
  }

  async extendLeases(params: { leases: readonly Lease[]; leaseUntil: number }): Promise<string[]> {
    const sql = this.sql;
    return retryBusy(() =>
      this.db
        .transaction(() => {
          const lost: string[] = [];
          for (const lease of params.leases)
            if (sql.extendLease.run(params.leaseUntil, Number(lease.itemId), lease.token).changes === 0) lost.push(lease.itemId);
          return lost;
        })
        .immediate(),
    );
  }

  releaseItem(lease: Lease): Promise<boolean> {
    let released = false;
    return this.writes
      .write(() => {
        released = this.sql.deleteLeased.run(Number(lease.itemId), lease.token).changes > 0;
      })
      .then(() => released);
  }

  async nextAvailableAt(): Promise<number | null> {
    return (this.sql.nextAvailableAt.get() as { at: number | null }).at;
  }

  async queueStats(now: number): Promise<QueueStats> {
    const due = this.sql.queueDue.get(now) as { n: number; oldest: number | null };
    const leased = this.sql.queueLeased.get() as { n: number };
    const waiting: Record<string, number> = {};
    for (const row of this.sql.runsWaiting.all() as { kind: string | null; n: number }[]) if (row.kind) waiting[row.kind] = row.n;
    return { due: due.n, leased: leased.n, oldestDueAt: due.oldest ?? null, waiting };
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

  private checkLease(lease: Lease | undefined) {
    if (lease && !this.sql.leaseHeld.get(Number(lease.itemId), lease.token)) throw new LeaseLostError(lease);
  }

  saveStep(step: StepRecord, lease?: Lease): Promise<void> {
    const row = stepToRow(step);
    return this.writes.write(() => {
      this.checkLease(lease);
      this.sql.upsertStep.run(row);
    });
  }

  commitTransition(params: TransitionParams): Promise<boolean> {
    return this.transition(params.runId, { now: 0, ...(params.lease ? { lease: params.lease } : {}), decide: () => params });
  }

  /**
   * 1. a stale lease: throw `LeaseLostError`, change nothing;
   * 2. the script decides on the run as read now (nothing to write: done);
   * 3. `consumePause`: delete it; if it was already gone, only release the item;
   * 4. if the run already ended, only release the item;
   * 5. otherwise write events, steps, the run, queue changes and pauses.
   */
  transition(runId: string, script: TransitionScript): Promise<boolean> {
    const sql = this.sql;
    let applied = false;
    return this.writes
      .write(() => {
        this.checkLease(script.lease);
        const row = sql.getRun.get(runId) as RunRow | undefined;
        const run = row ? runFromRow(row) : undefined;
        const params = script.decide(
          this.view(script.now, script.flowKeys, {
            run,
            items: () => (sql.itemsOfRun.all(runId) as QueueRow[]).map(itemFromRow),
            hasPause: (id: string) => !!sql.pauseExists.get(id),
          }),
        );
        if (!params) return;
        const releaseItem = () => {
          if (params.itemId !== undefined) sql.deleteItem.run(Number(params.itemId));
        };
        if (params.consumePause !== undefined && sql.deletePause.run(params.consumePause).changes === 0) return releaseItem();
        if (run && terminalStatuses.has(run.status)) return releaseItem();
        if (params.emit) this.ingest(params.emit);
        for (const step of params.steps ?? []) sql.upsertStep.run(stepToRow(step));
        for (const step of params.settleSteps ?? []) {
          sql.settleStep.run({
            runId,
            id: step.id,
            status: step.status,
            output: step.output === undefined ? null : JSON.stringify(step.output),
            error: step.error === undefined ? null : JSON.stringify(step.error),
            endedAt: step.endedAt,
            attempts: step.attempts,
          });
        }
        if (params.requestVersion !== undefined) sql.setRequestVersion.run(params.requestVersion, runId);
        if (params.parallel !== undefined) sql.setParallel.run(params.parallel ? 1 : null, runId);
        if (params.waitingOn !== undefined) sql.setWaitingOn.run(params.waitingOn === null ? null : JSON.stringify(params.waitingOn), runId);
        if (params.run) {
          sql.endRun.run({
            id: runId,
            status: params.run.status,
            output: params.run.output === undefined ? null : JSON.stringify(params.run.output),
            error: params.run.error === undefined ? null : JSON.stringify(params.run.error),
            endedAt: params.run.endedAt ?? null,
          });
        }
        if (params.clearQueue) {
          sql.clearRunQueue.run(runId);
          sql.deleteRunPauses.run(runId);
        } else if (params.itemId !== undefined) {
          if (params.reschedule)
            sql.reschedule.run(params.reschedule.availableAt, params.reschedule.attempt, params.reschedule.kind ?? null, Number(params.itemId));
          else sql.deleteItem.run(Number(params.itemId));
        }
        for (const item of params.cancelItems ?? []) sql.cancelItems.run(runId, item.kind, item.stepId);
        for (const item of params.enqueue ?? []) sql.enqueue.run(itemToRow(item));
        for (const pause of params.pauses ?? []) this.insertPause(pause);
        applied = true;
      })
      .then(() => applied);
  }

  async concurrencyWait(runId: string, now: number): Promise<ConcurrencyClaim | undefined> {
    const row = this.sql.dueItemOfRun.get(runId, now) as QueueRow | undefined;
    if (!row) return undefined;
    // full now, or the free slots go to items queued ahead of this one first
    const count = (statement: Database.Statement, params: Record<string, unknown>) => (statement.get(params) as { n: number }).n;
    return claimsOfRow(row).find(
      (c) => count(this.sql.liveLeases, { key: c.key, now }) + count(this.sql.aheadOnKey, { key: c.key, at: row.available_at, id: row.id }) >= c.limit,
    );
  }

  sweepExpired(now: number, limit: number): Promise<number> {
    let removed = 0;
    return this.writes
      .write(() => {
        removed = this.sql.sweepFlow.run(now, limit).changes;
      })
      .then(() => removed);
  }

  /**
   * Retention, one batch per kind. What to delete is read first, outside the write lock
   * (a reader in WAL mode blocks no writer); the deletes then run in a short write
   * transaction that checks each row again. Freed pages go to SQLite's free list and are
   * reused by later writes, so under steady load the file stops growing (it does not shrink).
   */
  async sweep(params: SweepParams): Promise<SweepResult> {
    const sql = this.sql;
    const result: SweepResult = { runs: 0, steps: 0, pauses: 0, events: 0, flowRows: 0, idempotencyKeys: 0 };
    const overrides = params.functions ?? [];
    if (params.runsEndedBefore !== undefined || overrides.some((f) => f.runsEndedBefore !== null)) {
      const ids: string[] = [];
      for (const f of overrides) {
        if (f.runsEndedBefore === null || ids.length >= params.limit) continue;
        const rows = sql.expiredRunsOf.all({ functionId: f.functionId, before: f.runsEndedBefore, limit: params.limit - ids.length }) as { id: string }[];
        for (const row of rows) ids.push(row.id);
      }
      if (params.runsEndedBefore !== undefined && ids.length < params.limit) {
        const except = JSON.stringify(overrides.map((f) => f.functionId));
        const rows = sql.expiredRuns.all({ before: params.runsEndedBefore, except, limit: params.limit - ids.length }) as { id: string }[];
        for (const row of rows) ids.push(row.id);
      }
      if (ids.length) {
        await retryBusy(() =>
          this.db
            .transaction(() => {
              for (const id of ids) {
                if (sql.deleteExpiredRun.run(id).changes === 0) continue;
                result.runs++;
                result.steps += sql.deleteRunSteps.run(id).changes;
                result.pauses += sql.deleteRunPauses.run(id).changes;
                sql.deleteRunEvents.run(id);
                sql.deleteRunMetadata.run(id);
              }
            })
            .immediate(),
        );
      }
    }
    if (params.eventsReceivedBefore !== undefined) {
      // within a pass each batch goes on after the last: old events still referenced are read once per pass, not once per batch
      const from = this.eventsCursor ?? { at: Number.MIN_SAFE_INTEGER, id: "" };
      const rows = sql.expiredEvents.all({ before: params.eventsReceivedBefore, at: from.at, id: from.id, limit: params.limit }) as Array<{
        internal_id: string;
        received_at: number;
      }>;
      const last = rows.at(-1);
      this.eventsCursor = rows.length >= params.limit && last ? { at: last.received_at, id: last.internal_id } : undefined;
      if (rows.length) {
        result.events = await retryBusy(() =>
          this.db
            .transaction(() => {
              let n = 0;
              for (const row of rows) n += sql.deleteExpiredEvent.run({ id: row.internal_id }).changes;
              return n;
            })
            .immediate(),
        );
      }
    }
    const keys = await retryBusy(() => this.db.transaction(() => sql.sweepFlowKeys.all(params.now, params.limit) as { key: string }[]).immediate());
    for (const { key } of keys) {
      if (key.startsWith("idempotency|")) result.idempotencyKeys++;
      else result.flowRows++;
    }
    return result;
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

  async listEventsByName(params: { name: string; since: number; until: number; limit: number; after?: EventRecord }): Promise<EventRecord[]> {
    const [at, id] = params.after ? [params.after.receivedAt, params.after.internalId] : [params.since, ""];
    return (this.sql.eventsByName.all(params.name, params.until, at, id, params.limit) as EventRow[]).map(eventFromRow);
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

  saveApp(app: StoredApp): Promise<void> {
    const row = {
      url: app.url,
      appName: app.appName,
      sdk: app.sdk ?? null,
      framework: app.framework ?? null,
      functions: JSON.stringify(app.functions),
      syncedAt: app.syncedAt,
    };
    return this.writes.write(() => this.sql.saveApp.run(row));
  }

  async listApps(): Promise<StoredApp[]> {
    return (this.sql.listApps.all() as AppRow[]).map(appFromRow);
  }

  saveConnectConnections(rows: readonly ConnectConnectionRecord[]): Promise<void> {
    if (!rows.length) return Promise.resolve();
    return this.writes.write(() => {
      for (const row of rows) this.sql.saveConnectConnection.run({ ...row });
    });
  }

  async deleteConnectConnections(params: { connectionId?: string; seenBefore?: number }): Promise<number> {
    let n = 0;
    if (params.connectionId === undefined && params.seenBefore === undefined) return 0;
    await this.writes.write(() => {
      if (params.connectionId !== undefined) n += this.sql.deleteConnectConnection.run(params.connectionId).changes;
      if (params.seenBefore !== undefined) n += this.sql.deleteConnectConnectionsSeenBefore.run(params.seenBefore).changes;
    });
    return n;
  }

  async listConnectConnections(params: { appName: string; seenSince: number }): Promise<ConnectConnectionRecord[]> {
    return (this.sql.listConnectConnections.all(params.appName, params.seenSince) as ConnectConnectionRow[]).map(connectConnectionFromRow);
  }

  advanceCronSchedule(
    params: { functionId: string; expression: string; fromAt: number; toAt: number; emit?: IngestParams },
    script?: IngestScript,
  ): Promise<boolean> {
    let moved = false;
    return this.writes
      .write(() => {
        moved = this.sql.advanceCron.run(params.toAt, params.functionId, params.expression, params.fromAt).changes > 0;
        if (moved && params.emit) this.ingest(params.emit, script);
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

  async runStats(query: RunStatsQuery): Promise<RunStats> {
    const range = {
      functionId: query.functionId,
      from: encodeTime(Math.max(0, Math.floor(query.from)), 10),
      to: encodeTime(Math.max(0, Math.floor(query.to)), 10),
    };
    const buckets = new Map<number, Partial<Record<RunStatus, number>>>();
    const bucket = Math.max(1, Math.floor(query.bucketMs));
    for (const row of this.sql.runBuckets.all({ ...range, bucket }) as Array<{ at: number; status: RunStatus; n: number }>) {
      const counts = buckets.get(row.at) ?? {};
      counts[row.status] = row.n;
      buckets.set(row.at, counts);
    }
    const limit = Math.max(0, Math.min(Math.floor(query.durationLimit), 10_000));
    const durations = (this.sql.runDurations.all({ ...range, limit }) as Array<{ created_at: number; ms: number }>).map((r) => ({
      createdAt: r.created_at,
      ms: r.ms,
    }));
    return { buckets: [...buckets].map(([at, counts]) => ({ at, counts })), durations };
  }

  async listOldestRuns(params: { status: "Queued" | "Running"; limit: number }): Promise<RunRecord[]> {
    const statement = params.status === "Queued" ? this.sql.oldestQueued : this.sql.longestRunning;
    return (statement.all(Math.max(0, Math.min(Math.floor(params.limit), 1000))) as RunRow[]).map(runFromRow);
  }

  saveReplayJob(job: ReplayJob): Promise<void> {
    return this.writes.write(() => this.sql.saveReplayJob.run(job.id, job.state, JSON.stringify(job)));
  }

  async getReplayJob(id: string): Promise<ReplayJob | undefined> {
    const row = this.sql.getReplayJob.get(id) as { job: string } | undefined;
    return row ? JSON.parse(row.job) : undefined;
  }

  async listReplayJobs(params: { limit: number; state?: ReplayJob["state"] }): Promise<ReplayJob[]> {
    const limit = Math.max(0, Math.min(Math.floor(params.limit), 1000));
    const rows = (params.state ? this.sql.listReplayJobsIn.all(params.state, limit) : this.sql.listReplayJobs.all(limit)) as Array<{ job: string }>;
    return rows.map((r) => JSON.parse(r.job));
  }

  async listSteps(runId: string): Promise<StepRecord[]> {
    return (this.sql.stepsOfRun.all(runId) as StepRow[]).map(stepFromRow);
  }

  async getEvent(internalId: string): Promise<EventRecord | undefined> {
    const row = this.sql.getEvent.get(internalId) as EventRow | undefined;
    return row ? eventFromRow(row) : undefined;
  }

  addRunMetadata(record: RunMetadataRecord): Promise<boolean> {
    const row = runMetadataToRow(record);
    let added = false;
    return this.writes
      .write(() => {
        added = this.sql.addRunMetadata.run(row).changes > 0;
      })
      .then(() => added);
  }

  async listRunMetadata(runId: string): Promise<RunMetadataRecord[]> {
    return (this.sql.runMetadata.all(runId) as RunMetadataRow[]).map(runMetadataFromRow);
  }
}
