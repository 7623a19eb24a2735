/**
 * @module postgres-store
 * The Store port on Postgres, for many Stepwise nodes on one database. Each write
 * method is one transaction at READ COMMITTED; what must not interleave is locked:
 *
 * - a run's transitions lock its row (`SELECT … FOR UPDATE`) before reading what they
 *   decide on, then the held item's row (the lease check), so they are serialized per run;
 * - claims take due rows with `FOR UPDATE SKIP LOCKED`, lane 0 first, then by due time
 *   (which carries priority), in pages; they never wait: a row, a run or a pending key
 *   another transaction holds is left for the next claim. Concurrency slots are counted
 *   under a per-key advisory lock, so claims on many nodes never lease past a limit;
 * - admission scripts run with the flow keys they name locked (an advisory lock per key,
 *   in key order, plus the rows that exist).
 *
 * The engine's scripts read synchronously (`TxView`); Postgres reads are not. The store
 * reads ahead, inside the transaction, what a script may ask of its own run (the run
 * row, its queue items and pause ids) and of its flow keys. Other questions (another
 * run's status, events since an instant, pauses on a name) are answered from what was
 * read so far: `decide` runs on a view that records each question it could not answer,
 * the store fetches those, and `decide` runs again (it is pure) until nothing it asked
 * is missing. A few rounds at most; see `decideWithReads`.
 *
 * Failures: serialization failures and deadlocks are retried; a lost connection, a
 * Postgres restart or a terminated backend is retried with backoff (10 ms doubling to
 * 1 s) for up to `retryForMs`, then surfaces as an error the engine logs and retries
 * later. See retry.ts for which writes are retried when the COMMIT itself was cut off.
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
  type IngestView,
  type Lease,
  LeaseLostError,
  type ListRunsFilter,
  type NewQueueItem,
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
  type RunView,
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
import pg from "pg";
import { type Migration, migrate, pendingMigrations, type Queryable } from "./migrate.ts";
import { PostgresNotifier } from "./notifier.ts";
import { PostgresRealtimeBus } from "./realtime-bus.ts";
import { redactSecrets, redactUrl } from "./redact.ts";
import { isConnectionLost, withRetry } from "./retry.ts";
import {
  type AppRow,
  appFromRow,
  type ConnectConnectionRow,
  claimsOfRow,
  connectConnectionFromRow,
  type EventRow,
  eventFromRow,
  eventParams,
  itemFromRow,
  itemParams,
  json,
  type PauseRow,
  pauseFromRow,
  pauseParams,
  type QueueRow,
  type RunMetadataRow,
  type RunRow,
  runFromRow,
  runMetadataFromRow,
  runMetadataParams,
  runParams,
  type StepRow,
  stepFromRow,
  stepParams,
} from "./rows.ts";
import { listEventsQuery, listRunsQuery, type StatementName, statements, timePrefix } from "./statements.ts";

export interface PostgresStoreOptions {
  /** `postgres://user:password@host:5432/database` (or `postgresql://`). */
  url: string;
  /**
   * Connections in this node's pool. Every in-flight write holds one for its
   * transaction, so it bounds the node's concurrent commits; the LISTEN connection is
   * extra. (Default: 10.)
   */
  poolSize?: number;
  /** How long a transient failure (lost connection, restart, deadlock) is retried before it surfaces. (Default: 30,000 ms.) */
  retryForMs?: number;
  /** Wake other nodes through LISTEN/NOTIFY (`store.notifier`). (Default: true.) */
  notify?: boolean;
  /** Where connection trouble is reported (passwords redacted). (Default: console.warn.) */
  onWarning?: (message: string) => void;
}

/** The default `poolSize`. */
export const defaultPoolSize = 10;
/** Due rows read per query while claiming: small, so a backlog on a full concurrency key costs little to skip. */
const claimPage = 32;
/** Rounds of `decide` a script may take to name everything it reads. */
const maxDecideRounds = 8;

/** A connection inside a transaction (statements queued in order), or the pool (one statement, autocommit). */
type Tx = Queryable;

/**
 * A transaction's connection with its statements queued: callers may issue several at
 * once (`Promise.all`) and they still run one after the other, in the order issued. Once
 * one fails, the rest are refused unsent: the transaction is lost, and a statement sent
 * after its ROLLBACK would run on its own, outside any transaction.
 */
interface SerialTx extends Queryable {
  /** Settles once every statement issued so far has settled. */
  drain(): Promise<void>;
  /** Some statement failed (the transaction is lost: COMMIT would only roll it back). */
  readonly failed: boolean;
}

function serial(client: pg.PoolClient): SerialTx {
  let tail: Promise<unknown> = Promise.resolve();
  let failed = false;
  return {
    query: ((text: string | pg.QueryConfig, values?: unknown[]) => {
      const next = tail.then(() => {
        if (failed) throw new Error("not sent: an earlier statement of this transaction failed");
        return typeof text === "string" ? client.query(text, values) : client.query(text);
      });
      tail = next.catch(() => {
        failed = true;
      });
      return next;
    }) as Queryable["query"],
    drain: () => tail.then(() => {}),
    get failed() {
      return failed;
    },
  };
}

/** BIGINT columns hold epoch milliseconds and ids: numbers, not strings. */
const types = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === pg.types.builtins.INT8 ? Number : pg.types.getTypeParser(oid, format ?? "text")) as typeof pg.types.getTypeParser,
};

/** What scripts of one transaction may read: read ahead, or fetched after a round of `decide` asked for it. */
class Reads {
  readonly runStatus = new Map<string, RunStatus | null>();
  readonly pausesOn = new Map<string, boolean>();
  readonly eventsSince = new Map<string, boolean>();
  readonly pauseExists = new Map<string, boolean>();
  readonly flow = new Map<string, unknown>();
  /** Questions the last round could not answer, by cache key. */
  missing = new Map<string, (tx: Tx) => Promise<void>>();
}

export class PostgresStore implements Store {
  /** Wake-ups across nodes (LISTEN/NOTIFY); pass it to the engine as `notifier`. Undefined with `notify: false`. */
  readonly notifier: PostgresNotifier | undefined;
  /** Realtime messages across nodes (LISTEN/NOTIFY); pass it to the engine as `realtime`. */
  readonly realtime: PostgresRealtimeBus;
  private readonly pool: pg.Pool;
  private readonly retryForMs: number;
  private readonly warn: (message: string) => void;
  private readonly url: string;
  private closed = false;
  /** Where the next retention batch of events goes on (see `sweep`); reset when a batch comes back short. */
  private eventsCursor: { at: number; id: string } | undefined;
  private warnedAt = 0;

  constructor(options: PostgresStoreOptions) {
    if (typeof options?.url !== "string" || !/^postgres(ql)?:\/\//i.test(options.url)) {
      throw new TypeError(`url: expected a postgres:// or postgresql:// URL, received ${JSON.stringify(redactUrl(String(options?.url)))}`);
    }
    const poolSize = options.poolSize ?? defaultPoolSize;
    if (!Number.isInteger(poolSize) || poolSize < 1) throw new TypeError(`poolSize: expected a positive integer, received ${JSON.stringify(poolSize)}`);
    this.url = options.url;
    this.retryForMs = options.retryForMs ?? 30_000;
    this.warn = options.onWarning ?? ((message) => console.warn(message));
    this.pool = new pg.Pool({ connectionString: options.url, max: poolSize, application_name: "stepwise", types, keepAlive: true });
    // an idle connection that dies (a restart, a terminated backend) is dropped by the pool and reported here; the next checkout opens a new one
    this.pool.on("error", this.onRetry);
    // node-postgres hands a new connection out on the server's "ready" and may parse an error
    // from the same packet (a restart beginning as it connected) before a promise-based
    // checkout attaches its listener: without one, that "error" event would crash the
    // process. The connection is then not queryable; its holder's next statement fails as
    // transient and is retried on a fresh connection.
    this.pool.on("connect", (client) => client.on("error", () => {}));
    this.notifier = options.notify === false ? undefined : new PostgresNotifier({ url: options.url, pool: this.pool, onWarning: this.warn });
    this.realtime = new PostgresRealtimeBus({ url: options.url, pool: this.pool, onWarning: this.warn });
  }

  /** The URL with its password hidden, for logs. */
  get displayUrl(): string {
    return redactUrl(this.url);
  }

  async migrate(): Promise<void> {
    await this.transaction((tx) => migrate(tx), "retry");
  }

  /** The migrations this database still needs (`stepwise migrate --print`). */
  pendingMigrations(): Promise<Migration[]> {
    return this.retrying(() => pendingMigrations(this.pool), "retry");
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.notifier?.close();
    await this.realtime.close();
    await this.pool.end();
  }

  // ---- plumbing ------------------------------------------------------------------

  private onRetry = (error: unknown) => {
    // one line per outage, not per attempt
    if (Date.now() - this.warnedAt < 5_000) return;
    this.warnedAt = Date.now();
    this.warn(`stepwise: Postgres ${this.displayUrl}: ${redactSecrets((error as Error).message ?? String(error), this.url)}; retrying`);
  };

  private retrying<T>(run: () => Promise<T>, ambiguous: "retry" | "throw"): Promise<T> {
    return withRetry(
      () => {
        if (this.closed) throw new Error("PostgresStore: the store is closed");
        return run();
      },
      { forMs: this.retryForMs, ambiguous, onRetry: this.onRetry },
    ).catch((error) => {
      throw this.redacted(error);
    });
  }

  /** One transaction, retried as a whole on a transient failure (see retry.ts). */
  private transaction<T>(body: (tx: Tx) => Promise<T>, ambiguous: "retry" | "throw", begin = "BEGIN"): Promise<T> {
    return withRetry(
      async (committing) => {
        if (this.closed) throw new Error("PostgresStore: the store is closed");
        const client = await this.pool.connect();
        // a checked-out connection that dies emits "error": without a listener that would crash the process
        let lost: unknown;
        const onError = (error: unknown) => {
          lost = error;
        };
        client.on("error", onError);
        const tx = serial(client);
        try {
          await client.query(begin);
          const result = await body(tx);
          await tx.drain();
          if (tx.failed) throw new Error("a statement of this transaction failed; it was rolled back");
          committing();
          await client.query("COMMIT");
          return result;
        } catch (error) {
          // nothing of this transaction is still in flight when it is rolled back
          await tx.drain();
          if (lost === undefined && !isConnectionLost(error)) await client.query("ROLLBACK").catch((e: unknown) => onError(e));
          else lost ??= error;
          throw error;
        } finally {
          client.off("error", onError);
          client.release(lost === undefined ? undefined : true);
        }
      },
      { forMs: this.retryForMs, ambiguous, onRetry: this.onRetry },
    ).catch((error) => {
      throw this.redacted(error);
    });
  }

  private redacted(error: unknown): unknown {
    if (error instanceof Error && error.message.includes(this.url)) error.message = redactSecrets(error.message, this.url);
    return error;
  }

  /** Runs a named statement (prepared once per connection). */
  private async q<R = Record<string, unknown>>(tx: Tx, name: StatementName, params: unknown[] = []): Promise<R[]> {
    return (await tx.query({ name: `stepwise_${name}`, text: statements[name], values: params })).rows as R[];
  }

  /** One statement on the pool, retried like the writes. */
  private read<R = Record<string, unknown>>(name: StatementName, params: unknown[] = []): Promise<R[]> {
    return this.retrying(() => this.q<R>(this.pool, name, params), "retry");
  }

  /** A built (unnamed) query on the pool. */
  private readBuilt<R>(query: { sql: string; params: unknown[] }): Promise<R[]> {
    return this.retrying(async () => (await this.pool.query(query.sql, query.params)).rows as R[], "retry");
  }

  // ---- script views --------------------------------------------------------------

  /** Locks the flow keys a script names and reads their live values into `reads`. */
  private async lockFlowKeys(tx: Tx, keys: readonly string[] | undefined, now: number, reads: Reads) {
    if (!keys?.length) return;
    const list = [...new Set(keys)];
    await this.q(tx, "lockFlowKeys", [list]);
    for (const key of list) reads.flow.set(key, undefined);
    for (const row of await this.q<{ key: string; value: string; expires_at: number }>(tx, "lockFlowRows", [list]))
      if (row.expires_at > now) reads.flow.set(row.key, JSON.parse(row.value));
  }

  /** The synchronous view over `reads`: a question it cannot answer is recorded (and answered "no") for the next round. */
  private view(reads: Reads, flowKeys: readonly string[] | undefined): TxView {
    const allowed = new Set(flowKeys ?? []);
    const ask = <V>(cache: Map<string, V>, key: string, fallback: V, fetch: (tx: Tx) => Promise<V>): V => {
      if (cache.has(key)) return cache.get(key) as V;
      if (!reads.missing.has(key))
        reads.missing.set(key, async (tx) => {
          cache.set(key, await fetch(tx));
        });
      return fallback;
    };
    return {
      flow: (key: string) => {
        if (!allowed.has(key)) throw new Error(`store script read flow key ${JSON.stringify(key)} it did not name in flowKeys`);
        return reads.flow.get(key);
      },
      runStatus: (runId: string) =>
        ask(reads.runStatus, runId, null, async (tx) => (await this.q<{ status: RunStatus }>(tx, "runStatus", [runId]))[0]?.status ?? null) ?? undefined,
      hasPauses: (eventName: string) => ask(reads.pausesOn, eventName, false, async (tx) => (await this.q(tx, "pausesOnName", [eventName])).length > 0),
      hasEventsSince: (eventName: string, since: number) =>
        ask(reads.eventsSince, `${since}\u0000${eventName}`, false, async (tx) => (await this.q(tx, "eventsSince", [eventName, since])).length > 0),
    };
  }

  /**
   * Runs `decide` until every read it made was answered from data fetched in this
   * transaction. A round that asked something new is discarded, the answers are fetched,
   * and `decide` runs again on the fuller view.
   */
  private async decideWithReads<T>(tx: Tx, reads: Reads, decide: () => T): Promise<T> {
    for (let round = 1; ; round++) {
      reads.missing = new Map();
      const decided = decide();
      if (reads.missing.size === 0) return decided;
      if (round >= maxDecideRounds) throw new Error(`a store script kept asking for new reads after ${maxDecideRounds} rounds; scripts must be pure`);
      await Promise.all([...reads.missing.values()].map((fetch) => fetch(tx)));
    }
  }

  // ---- ingest ----------------------------------------------------------------------

  /**
   * 1. store every event, noting those whose sender id was seen since `dedupeSince`;
   * 2. with a script, let it decide (admission) on state read now, in this transaction;
   * 3. store the runs, items and pauses of the others, flow state and run updates.
   */
  private async ingest(tx: Tx, params: IngestParams, script?: IngestScript): Promise<IngestResult> {
    const duplicates: string[] = [];
    const senderIds = [...new Set(params.dedupeSince === undefined ? [] : params.events.filter((e) => e.id !== e.internalId).map((e) => e.id))].sort();
    for (const id of senderIds) await this.q(tx, "lockSenderId", [id]);
    if (params.dedupeSince === undefined) {
      // one statement for the lot; an event already stored (a retried request) is not returned
      const inserted = new Set(
        (await this.insertMany<{ internal_id: string }>(tx, "insertEvent", "insertEvents", params.events.map(eventParams))).map((r) => r.internal_id),
      );
      for (const event of params.events) if (!inserted.has(event.internalId)) duplicates.push(event.internalId);
    } else {
      // one after the other: an event sees the ones before it in this ingest
      for (const event of params.events) {
        const duplicate = event.id !== event.internalId && (await this.q(tx, "duplicateEvent", [event.id, params.dedupeSince, event.internalId])).length > 0;
        const inserted = (await this.q(tx, "insertEvent", eventParams(duplicate ? { ...event, duplicate } : event))).length > 0;
        if (duplicate || !inserted) duplicates.push(event.internalId);
      }
    }
    let decided = params;
    if (script) {
      const reads = new Reads();
      await this.lockFlowKeys(tx, script.flowKeys, script.now, reads);
      const view: IngestView = { ...this.view(reads, script.flowKeys), duplicates: new Set(duplicates) };
      decided = await this.decideWithReads(tx, reads, () => script.decide(view));
    }
    await this.write(tx, decided, new Set(duplicates));
    return { duplicates };
  }

  /** Writes runs, items, pauses, flow state and run updates (pipelined, in order); skips the runs of `duplicates` events. */
  private async write(tx: Tx, params: IngestParams, duplicates: ReadonlySet<string>) {
    const dropped = new Set<string>();
    if (duplicates.size > 0) for (const run of params.runs) if (duplicates.has(run.eventIds[0] ?? "")) dropped.add(run.id);
    if (params.skipExistingRuns && params.runs.length > 0) {
      for (const row of await this.q<{ id: string }>(tx, "existingRuns", [params.runs.map((r) => r.id)])) dropped.add(row.id);
    }
    const writes: Promise<unknown>[] = [];
    const runs = params.runs.filter((r) => !dropped.has(r.id));
    writes.push(this.insertMany(tx, "insertRun", "insertRuns", runs.map(runParams)));
    const members = runs.flatMap((r) => r.eventIds.slice(1).map((eventId) => [eventId, r.id]));
    if (members.length) writes.push(this.q(tx, "insertRunEvents", [members.map((m) => m[0]), members.map((m) => m[1])]));
    // after the insert above (a pipelined connection runs queries in order)
    for (const run of runs) if (run.rerunOf) writes.push(this.q(tx, "setRerunOf", [run.id, run.rerunOf, run.rerunFromStep ?? null]));
    for (const step of params.steps ?? []) if (!dropped.has(step.runId)) writes.push(this.q(tx, "upsertStep", stepParams(step)));
    for (const entry of params.flowState ?? []) {
      if (entry.value === null) writes.push(this.q(tx, "deleteFlow", [entry.key]));
      else writes.push(this.q(tx, "putFlow", [entry.key, JSON.stringify(entry.value), entry.expiresAt]));
    }
    writes.push(
      this.enqueue(
        tx,
        params.items.filter((i) => !dropped.has(i.runId)),
      ),
    );
    writes.push(
      ...this.insertPauses(
        tx,
        (params.pauses ?? []).filter((p) => !dropped.has(p.runId)),
      ),
    );
    // after the runs and items above, so updates may target runs of this same ingest
    for (const update of params.runUpdates ?? []) {
      if (update.eventIds)
        writes.push(this.q(tx, "setRunEvents", [JSON.stringify(update.eventIds), update.eventIds[0] ?? "", update.runId, update.eventIds.slice(1)]));
      if (update.startAt !== undefined) writes.push(this.q(tx, "setRunStart", [update.startAt, update.runId]));
      if (update.waitingOn) writes.push(this.q(tx, "setRunWaitingOn", [JSON.stringify(update.waitingOn), update.runId]));
    }
    await Promise.all(writes);
  }

  private insertPauses(tx: Tx, pauses: readonly PauseRecord[]): Promise<unknown>[] {
    const indexed = pauses.filter((p) => p.indexPath !== undefined).map((p) => [p.eventName, p.indexPath]);
    return [this.insertMany(tx, "insertPause", "insertPauses", pauses.map(pauseParams)), this.insertMany(tx, "insertPausePath", "insertPausePaths", indexed)];
  }

  private enqueue(tx: Tx, items: readonly NewQueueItem[]): Promise<unknown> {
    return this.insertMany(tx, "enqueue", "enqueueMany", items.map(itemParams));
  }

  /** Inserts rows (each its parameters in column order): one row by `one`, more by `many`, which takes an array per column. */
  private insertMany<R = Record<string, unknown>>(tx: Tx, one: StatementName, many: StatementName, rows: unknown[][]): Promise<R[]> {
    if (rows.length === 0) return Promise.resolve([]);
    if (rows.length === 1) return this.q<R>(tx, one, rows[0]);
    const columns = rows[0]!.map((_, i) => rows.map((row) => row[i]));
    return this.q<R>(tx, many, columns);
  }

  ingestEvents(params: IngestParams, script?: IngestScript): Promise<IngestResult> {
    // a retried ingest finds its events stored and starts nothing twice
    return this.transaction((tx) => this.ingest(tx, params, script), "retry");
  }

  // ---- claims ----------------------------------------------------------------------

  /**
   * Per lane, pages through due rows oldest first, skipping rows other claims hold. An
   * item with concurrency keys is taken only while each key has fewer live leases than
   * its limit, counted under the key's advisory lock; a full key (or one another claim is
   * counting right now) joins the exclusion list, so later pages skip its items.
   */
  claimQueueItems(params: ClaimParams): Promise<ClaimResult> {
    // a claim whose commit was cut off only leaves leases that expire: safe to run again
    return this.transaction(async (tx) => {
      const items: QueueItem[] = [];
      const full = new Set<string>();
      const inUse = new Map<string, number>();
      const setAside: number[] = [];
      for (const lane of [0, 1]) {
        for (;;) {
          const want = params.limit - items.length;
          if (want <= 0) break;
          const page = Math.min(want, claimPage);
          const rows = await this.q<QueueRow>(tx, "due", [lane, params.now, [...full], setAside, page]);
          if (rows.length === 0) break;
          await this.countSlots(tx, rows, params.now, full, inUse);
          const candidates: QueueRow[] = [];
          for (const row of rows) {
            const claims = claimsOfRow(row);
            const blocked = claims.filter((c) => full.has(c.key) || (inUse.get(c.key) ?? 0) >= c.limit);
            if (blocked.length) {
              for (const c of blocked) full.add(c.key);
              setAside.push(row.id);
              continue;
            }
            for (const c of claims) inUse.set(c.key, (inUse.get(c.key) ?? 0) + 1);
            candidates.push(row);
          }
          const busy = await this.busyRows(tx, candidates);
          const taken = candidates.filter((row) => {
            if (!busy.has(row.id)) return true;
            for (const c of claimsOfRow(row)) inUse.set(c.key, (inUse.get(c.key) ?? 1) - 1);
            setAside.push(row.id);
            return false;
          });
          items.push(...(await this.lease(tx, taken, params)));
          if (rows.length < page) break;
        }
      }
      const [next] = await this.q<{ at: number | null }>(tx, "nextAvailableAt");
      return { items, nextAvailableAt: next?.at ?? null };
    }, "retry");
  }

  /** Takes the advisory lock of each key seen for the first time and counts its live leases; a key locked by another claim counts as full. */
  private async countSlots(tx: Tx, rows: QueueRow[], now: number, full: Set<string>, inUse: Map<string, number>) {
    const fresh = [...new Set(rows.flatMap((row) => claimsOfRow(row).map((c) => c.key)))].filter((k) => !full.has(k) && !inUse.has(k)).sort();
    if (!fresh.length) return;
    const locked: string[] = [];
    for (const row of await this.q<{ k: string; locked: boolean }>(tx, "lockConcurrencyKeys", [fresh])) {
      if (row.locked) locked.push(row.k);
      else full.add(row.k);
    }
    if (!locked.length) return;
    for (const row of await this.q<{ k: string; n: number }>(tx, "liveLeases", [locked, now])) inUse.set(row.k, row.n);
  }

  /**
   * Rows whose lease changes their run (a start-lane item starts it; an expired lease
   * counts against it) need the run locked, and a start releases its pending flow key:
   * rows whose run or pending key another transaction holds are left for the next claim.
   */
  private async busyRows(tx: Tx, rows: QueueRow[]): Promise<Set<number>> {
    const busy = new Set<number>();
    const needRun = rows.filter((row) => row.run_id !== "" && (row.lane === 1 || row.leased));
    if (!needRun.length) return busy;
    const runIds = [...new Set(needRun.map((row) => row.run_id))];
    const lockedRuns = await this.q<{ id: string; status: string; pending_key: string | null }>(tx, "lockRunsForClaim", [runIds]);
    const locked = new Set(lockedRuns.map((r) => r.id));
    const notLocked = runIds.filter((id) => !locked.has(id));
    if (notLocked.length) {
      // absent from the locked set: held by another transaction, or no such run (nothing to update)
      const held = new Set((await this.q<{ id: string }>(tx, "existingRuns", [notLocked])).map((r) => r.id));
      for (const row of needRun) if (held.has(row.run_id)) busy.add(row.id);
    }
    const starting = needRun.filter((row) => row.lane === 1 && locked.has(row.run_id));
    if (starting.length) {
      const startingRuns = new Set(starting.map((r) => r.run_id));
      const runs = lockedRuns.filter((r) => startingRuns.has(r.id));
      const keys = [...new Set(runs.filter((r) => r.status === "Queued" && r.pending_key !== null).map((r) => r.pending_key as string))];
      if (keys.length) {
        const got = new Set((await this.q<{ key: string }>(tx, "lockFlowRowsForClaim", [keys])).map((r) => r.key));
        const missing = keys.filter((k) => !got.has(k));
        const heldKeys = missing.length ? new Set((await this.q<{ key: string }>(tx, "existingFlowRows", [missing])).map((r) => r.key)) : new Set<string>();
        const blockedRuns = new Set(runs.filter((r) => r.pending_key !== null && heldKeys.has(r.pending_key)).map((r) => r.id));
        for (const row of starting) if (blockedRuns.has(row.run_id)) busy.add(row.id);
      }
    }
    return busy;
  }

  /** Leases the rows (new tokens), counts expired leases against their runs, and starts the runs of start-lane rows. */
  private async lease(tx: Tx, rows: QueueRow[], params: ClaimParams): Promise<QueueItem[]> {
    if (!rows.length) return [];
    const expired = rows.filter((row) => row.leased && row.run_id !== "").map((row) => row.run_id);
    const [leased] = await Promise.all([
      this.q<{ id: number; token: number }>(tx, "lease", [params.leaseUntil, rows.map((row) => row.id)]),
      expired.length ? this.q(tx, "countLeaseExpiries", [expired]) : undefined,
    ]);
    const tokens = new Map(leased.map((r) => [r.id, r.token]));
    const items = rows.map((row) => itemFromRow({ ...row, token: tokens.get(row.id) ?? row.token + 1 }));
    const startIds = [...new Set(rows.filter((row) => row.lane === 1).map((row) => row.run_id))];
    if (startIds.length) {
      const started = await this.q<{ id: string; pending_key: string | null; finish_after_ms: number | null }>(tx, "markRunning", [params.now, startIds]);
      const writes: Promise<unknown>[] = [];
      const pending = started.filter((r) => r.pending_key !== null);
      if (pending.length) writes.push(this.q(tx, "releasePendingKeys", [pending.map((r) => r.pending_key as string), pending.map((r) => r.id)]));
      for (const run of started) {
        const item = items.find((i) => i.runId === run.id && i.lane === 1);
        if (item) item.startedRun = true;
        if (run.finish_after_ms !== null)
          writes.push(this.enqueue(tx, [{ runId: run.id, kind: QueueItemKind.FinishTimeout, attempt: 0, availableAt: params.now + run.finish_after_ms }]));
      }
      await Promise.all(writes);
    }
    return items;
  }

  extendLeases(params: { leases: readonly Lease[]; leaseUntil: number }): Promise<string[]> {
    if (!params.leases.length) return Promise.resolve([]);
    return this.retrying(async () => {
      const sorted = [...params.leases].sort((a, b) => Number(a.itemId) - Number(b.itemId));
      const kept = await this.q<{ id: number }>(this.pool, "extendLeases", [
        params.leaseUntil,
        sorted.map((l) => Number(l.itemId)),
        sorted.map((l) => l.token),
      ]);
      const held = new Set(kept.map((r) => String(r.id)));
      return params.leases.filter((l) => !held.has(l.itemId)).map((l) => l.itemId);
    }, "retry");
  }

  releaseItem(lease: Lease): Promise<boolean> {
    return this.retrying(async () => (await this.q(this.pool, "deleteLeased", [Number(lease.itemId), lease.token])).length > 0, "throw");
  }

  async nextAvailableAt(): Promise<number | null> {
    return (await this.read<{ at: number | null }>("nextAvailableAt"))[0]?.at ?? null;
  }

  async queueStats(now: number): Promise<QueueStats> {
    const [due] = await this.read<{ n: number; oldest: number | null }>("queueDue", [now]);
    const [leased] = await this.read<{ n: number }>("queueLeased");
    const waiting: Record<string, number> = {};
    for (const row of await this.read<{ kind: string | null; n: number }>("runsWaiting")) if (row.kind) waiting[row.kind] = row.n;
    return { due: due?.n ?? 0, leased: leased?.n ?? 0, oldestDueAt: due?.oldest ?? null, waiting };
  }

  // ---- runs and steps --------------------------------------------------------------

  async loadRunState(runId: string): Promise<RunState | undefined> {
    // one snapshot: the run, its events and its steps as of one instant
    return this.transaction(
      async (tx) => {
        const [row] = await this.q<RunRow>(tx, "getRun", [runId]);
        if (!row) return undefined;
        const [eventRows, stepRows] = await Promise.all([
          this.q<EventRow>(tx, "eventsOfRun", [JSON.parse(row.event_ids)]),
          this.q<StepRow>(tx, "stepsOfRun", [runId]),
        ]);
        const events = eventRows.map((r) => {
          const { internalId: _i, receivedAt: _r, ...event } = eventFromRow(r);
          return event;
        });
        return { run: runFromRow(row), events, steps: stepRows.map(stepFromRow) };
      },
      "retry",
      "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    );
  }

  saveStep(step: StepRecord, lease?: Lease): Promise<void> {
    // an upsert that never overwrites a settled step: safe to apply twice
    return this.transaction(async (tx) => {
      if (lease && !(await this.q(tx, "shareLease", [Number(lease.itemId), lease.token])).length) throw new LeaseLostError(lease);
      await this.q(tx, "upsertStep", stepParams(step));
    }, "retry");
  }

  commitTransition(params: TransitionParams): Promise<boolean> {
    const script = { now: 0, ...(params.lease ? { lease: params.lease } : {}), decide: () => params };
    // a pause-guarded write applies at most once by itself
    return this.runTransition(params.runId, script, params.lease || params.consumePause !== undefined ? "retry" : "throw");
  }

  /**
   * 1. lock the run; a stale lease: throw `LeaseLostError`, change nothing;
   * 2. the script decides on the run as read now (nothing to write: done);
   * 3. `consumePause`: delete it; if it was already gone, only release the item;
   * 4. if the run already ended, only release the item;
   * 5. otherwise write events, steps, the run, queue changes and pauses.
   */
  transition(runId: string, script: TransitionScript): Promise<boolean> {
    // a fenced write refuses to apply twice (its item is gone); others are not retried once their COMMIT was sent
    return this.runTransition(runId, script, script.lease ? "retry" : "throw");
  }

  private runTransition(runId: string, script: TransitionScript, ambiguous: "retry" | "throw"): Promise<boolean> {
    return this.transaction(async (tx) => {
      const [row] = await this.q<RunRow>(tx, "lockRun", [runId]);
      const lease = script.lease;
      const reads = new Reads();
      const [held, [ahead]] = await Promise.all([
        lease ? this.q(tx, "lockLease", [Number(lease.itemId), lease.token]) : undefined,
        this.q<{ items: QueueRow[]; pauses: string[] }>(tx, "runReadAhead", [runId]),
        this.lockFlowKeys(tx, script.flowKeys, script.now, reads),
      ]);
      if (lease && !held?.length) throw new LeaseLostError(lease);
      const run = row ? runFromRow(row) : undefined;
      reads.runStatus.set(runId, run?.status ?? null);
      const items = (ahead?.items ?? []).map(itemFromRow);
      const ownPauses = new Set(ahead?.pauses ?? []);
      const base = this.view(reads, script.flowKeys);
      const view: RunView = {
        ...base,
        run,
        items: () => items.map((i) => ({ ...i })),
        hasPause: (id: string) => {
          if (ownPauses.has(id)) return true;
          if (id.startsWith(`${runId}:`)) return false;
          if (reads.pauseExists.has(id)) return reads.pauseExists.get(id) === true;
          reads.missing.set(`pause\u0000${id}`, async (t) => {
            reads.pauseExists.set(id, (await this.q(t, "pauseExists", [id])).length > 0);
          });
          return false;
        },
      };
      const params = await this.decideWithReads(tx, reads, () => script.decide(view));
      if (!params) return false;
      const releaseItem = async () => {
        if (params.itemId !== undefined) await this.q(tx, "deleteItem", [Number(params.itemId)]);
        return false;
      };
      if (params.consumePause !== undefined && (await this.q(tx, "deletePause", [params.consumePause])).length === 0) return releaseItem();
      if (run && terminalStatuses.has(run.status)) return releaseItem();
      if (params.emit) await this.ingest(tx, params.emit);
      const writes: Promise<unknown>[] = [];
      for (const step of params.steps ?? []) writes.push(this.q(tx, "upsertStep", stepParams(step)));
      for (const step of params.settleSteps ?? [])
        writes.push(this.q(tx, "settleStep", [runId, step.id, step.status, json(step.output), json(step.error), step.endedAt, step.attempts]));
      if (params.requestVersion !== undefined) writes.push(this.q(tx, "setRequestVersion", [runId, params.requestVersion]));
      if (params.parallel !== undefined) writes.push(this.q(tx, "setParallel", [runId, params.parallel ? true : null]));
      if (params.waitingOn !== undefined) writes.push(this.q(tx, "setWaitingOn", [runId, params.waitingOn === null ? null : JSON.stringify(params.waitingOn)]));
      if (params.run)
        writes.push(this.q(tx, "endRun", [runId, params.run.status, json(params.run.output), json(params.run.error), params.run.endedAt ?? null]));
      if (params.clearQueue) {
        writes.push(this.q(tx, "clearRunQueue", [runId]), this.q(tx, "deleteRunPauses", [runId]));
      } else if (params.itemId !== undefined) {
        if (params.reschedule)
          writes.push(
            this.q(tx, "reschedule", [params.reschedule.availableAt, params.reschedule.attempt, params.reschedule.kind ?? null, Number(params.itemId)]),
          );
        else writes.push(this.q(tx, "deleteItem", [Number(params.itemId)]));
      }
      for (const item of params.cancelItems ?? []) writes.push(this.q(tx, "cancelItems", [runId, item.kind, item.stepId]));
      writes.push(this.enqueue(tx, params.enqueue ?? []), ...this.insertPauses(tx, params.pauses ?? []));
      await Promise.all(writes);
      return true;
    }, ambiguous);
  }

  async concurrencyWait(runId: string, now: number): Promise<ConcurrencyClaim | undefined> {
    const [row] = await this.read<QueueRow>("dueItemOfRun", [runId, now]);
    if (!row) return undefined;
    // full now, or the free slots go to items queued ahead of this one first
    const claims = claimsOfRow(row);
    const live = new Map((await this.read<{ k: string; n: number }>("liveLeases", [claims.map((c) => c.key), now])).map((r) => [r.k, r.n]));
    for (const claim of claims) {
      const [ahead] = await this.read<{ n: number }>("aheadOnKey", [claim.key, row.available_at, row.id]);
      if ((live.get(claim.key) ?? 0) + (ahead?.n ?? 0) >= claim.limit) return claim;
    }
    return undefined;
  }

  sweepExpired(now: number, limit: number): Promise<number> {
    return this.retrying(
      async () => (await this.pool.query({ name: "stepwise_sweepFlow", text: statements.sweepFlow, values: [now, limit] })).rowCount ?? 0,
      "retry",
    );
  }

  /**
   * Retention, one batch per kind, each in its own short transaction: expired finished
   * runs with their steps and pauses, then events nothing refers to any more, then
   * expired flow state. Rows are picked with `FOR UPDATE SKIP LOCKED`, so nodes sweeping
   * at once split the work and never wait on each other or on a running transition.
   */
  async sweep(params: SweepParams): Promise<SweepResult> {
    const result: SweepResult = { runs: 0, steps: 0, pauses: 0, events: 0, flowRows: 0, idempotencyKeys: 0 };
    const overrides = params.functions ?? [];
    const count = (rows: Array<{ n: number }>) => rows[0]?.n ?? 0;
    if (params.runsEndedBefore !== undefined || overrides.some((f) => f.runsEndedBefore !== null)) {
      const removed = await this.transaction(async (tx) => {
        const ids: string[] = [];
        for (const f of overrides) {
          if (f.runsEndedBefore === null || ids.length >= params.limit) continue;
          const rows = await this.q<{ id: string }>(tx, "expiredRunsOf", [f.functionId, f.runsEndedBefore, params.limit - ids.length]);
          for (const row of rows) ids.push(row.id);
        }
        if (params.runsEndedBefore !== undefined && ids.length < params.limit) {
          const except = overrides.map((f) => f.functionId);
          const rows = await this.q<{ id: string }>(tx, "expiredRuns", [params.runsEndedBefore, except, params.limit - ids.length]);
          for (const row of rows) ids.push(row.id);
        }
        if (!ids.length) return { runs: 0, steps: 0, pauses: 0 };
        const [steps, pauses, , runs] = await Promise.all([
          this.q<{ n: number }>(tx, "deleteStepsOfRuns", [ids]),
          this.q<{ n: number }>(tx, "deletePausesOfRuns", [ids]),
          this.q(tx, "deleteRunEventsOfRuns", [ids]),
          this.q<{ n: number }>(tx, "deleteRuns", [ids]),
          this.q(tx, "deleteRunMetadataOfRuns", [ids]),
        ]);
        return { runs: count(runs), steps: count(steps), pauses: count(pauses) };
      }, "retry");
      Object.assign(result, removed);
    }
    if (params.eventsReceivedBefore !== undefined) {
      // within a pass each batch goes on after the last: old events still referenced are read once per pass, not once per batch
      const from = this.eventsCursor ?? { at: Number.MIN_SAFE_INTEGER, id: "" };
      const rows = await this.read<{ internal_id: string; received_at: number }>("sweepEvents", [params.eventsReceivedBefore, params.limit, from.at, from.id]);
      result.events = rows.length;
      // newest first: the first row is where the next batch goes on
      const last = rows[0];
      this.eventsCursor = rows.length >= params.limit && last ? { at: last.received_at, id: last.internal_id } : undefined;
    }
    for (const { key } of await this.read<{ key: string }>("sweepFlowKeys", [params.now, params.limit])) {
      if (key.startsWith("idempotency|")) result.idempotencyKeys++;
      else result.flowRows++;
    }
    return result;
  }

  async getFlowState(keys: readonly string[], now: number): Promise<Map<string, unknown>> {
    const out = new Map<string, unknown>();
    if (!keys.length) return out;
    const rows = await this.read<{ key: string; value: string }>("getFlow", [[...keys], now]);
    const byKey = new Map(rows.map((r) => [r.key, r.value]));
    for (const key of keys) if (byKey.has(key)) out.set(key, JSON.parse(byKey.get(key) as string));
    return out;
  }

  // ---- pauses, events, cron -----------------------------------------------------------

  async pausePaths(eventName: string): Promise<string[]> {
    return (await this.read<{ index_path: string }>("pausePaths", [eventName])).map((r) => r.index_path);
  }

  async findPauses(params: { eventName: string; indexPath?: string; indexValue?: string }): Promise<PauseRecord[]> {
    const rows =
      params.indexPath === undefined
        ? await this.read<PauseRow>("findUnindexedPauses", [params.eventName])
        : await this.read<PauseRow>("findIndexedPauses", [params.eventName, params.indexPath, params.indexValue ?? "null"]);
    return rows.map(pauseFromRow);
  }

  async listEvents(filter: { name?: string; limit: number; before?: string }): Promise<EventRecord[]> {
    return (await this.readBuilt<EventRow>(listEventsQuery({ ...filter, limit: Math.min(filter.limit, 1000) }))).map(eventFromRow);
  }

  async listEventsByName(params: { name: string; since: number; until: number; limit: number; after?: EventRecord }): Promise<EventRecord[]> {
    // (received_at, internal_id) > (since, ""): every event at or after `since`
    const [at, id] = params.after ? [params.after.receivedAt, params.after.internalId] : [params.since, ""];
    return (await this.read<EventRow>("eventsByName", [params.name, params.until, at, id, params.limit])).map(eventFromRow);
  }

  async ensureCronSchedule(schedule: CronSchedule): Promise<void> {
    await this.retrying(() => this.q(this.pool, "insertCron", [schedule.functionId, schedule.expression, schedule.nextAt]), "retry");
  }

  async listCronSchedules(): Promise<CronSchedule[]> {
    return (await this.read<{ function_id: string; expression: string; next_at: number }>("listCron")).map((r) => ({
      functionId: r.function_id,
      expression: r.expression,
      nextAt: r.next_at,
    }));
  }

  async saveApp(app: StoredApp): Promise<void> {
    const row = [app.url, app.appName, app.sdk ?? null, app.framework ?? null, JSON.stringify(app.functions), app.syncedAt];
    await this.retrying(() => this.q(this.pool, "saveApp", row), "retry");
  }

  async listApps(): Promise<StoredApp[]> {
    return (await this.read<AppRow>("listApps")).map(appFromRow);
  }

  async saveConnectConnections(rows: readonly ConnectConnectionRecord[]): Promise<void> {
    if (!rows.length) return;
    // sorted: two nodes refreshing overlapping rows lock them in the same order
    const sorted = [...rows].sort((a, b) => (a.connectionId + a.appName < b.connectionId + b.appName ? -1 : 1));
    const columns = [
      sorted.map((r) => r.connectionId),
      sorted.map((r) => r.appName),
      sorted.map((r) => r.nodeId),
      sorted.map((r) => r.nodeUrl),
      sorted.map((r) => r.state),
      sorted.map((r) => r.lastSeenAt),
    ];
    await this.retrying(() => this.q(this.pool, "saveConnectConnections", columns), "retry");
  }

  async deleteConnectConnections(params: { connectionId?: string; seenBefore?: number }): Promise<number> {
    let n = 0;
    if (params.connectionId !== undefined)
      n += await this.retrying(
        async () =>
          (await this.pool.query({ name: "stepwise_deleteConnectConnection", text: statements.deleteConnectConnection, values: [params.connectionId] }))
            .rowCount ?? 0,
        "retry",
      );
    if (params.seenBefore !== undefined)
      n += await this.retrying(
        async () =>
          (
            await this.pool.query({
              name: "stepwise_deleteConnectConnectionsSeenBefore",
              text: statements.deleteConnectConnectionsSeenBefore,
              values: [params.seenBefore],
            })
          ).rowCount ?? 0,
        "retry",
      );
    return n;
  }

  async listConnectConnections(params: { appName: string; seenSince: number }): Promise<ConnectConnectionRecord[]> {
    return (await this.read<ConnectConnectionRow>("listConnectConnections", [params.appName, params.seenSince])).map(connectConnectionFromRow);
  }

  advanceCronSchedule(
    params: { functionId: string; expression: string; fromAt: number; toAt: number; emit?: IngestParams },
    script?: IngestScript,
  ): Promise<boolean> {
    // a tick's row moves once: a retried advance whose first COMMIT went through finds it moved and writes nothing
    return this.transaction(async (tx) => {
      const moved = (await this.q(tx, "advanceCron", [params.toAt, params.functionId, params.expression, params.fromAt])).length > 0;
      if (moved && params.emit) await this.ingest(tx, params.emit, script);
      return moved;
    }, "retry");
  }

  async getRun(runId: string): Promise<RunRecord | undefined> {
    const [row] = await this.read<RunRow>("getRun", [runId]);
    return row ? runFromRow(row) : undefined;
  }

  async listRuns(filter: ListRunsFilter): Promise<RunRecord[]> {
    return (await this.readBuilt<RunRow>(listRunsQuery({ ...filter, limit: Math.min(filter.limit ?? 100, 1000) }))).map(runFromRow);
  }

  async countRuns(params: { functionId: string; since: number }): Promise<Partial<Record<RunRecord["status"], number>>> {
    const rows = await this.read<{ status: RunRecord["status"]; n: number }>("countRuns", [params.functionId, timePrefix(params.since)]);
    return Object.fromEntries(rows.map((r) => [r.status, r.n]));
  }

  async runStats(query: RunStatsQuery): Promise<RunStats> {
    const range = [query.functionId, timePrefix(query.from), timePrefix(query.to)];
    const buckets = new Map<number, Partial<Record<RunStatus, number>>>();
    const rows = await this.read<{ at: number; status: RunStatus; n: number }>("runBuckets", [...range, Math.max(1, Math.floor(query.bucketMs))]);
    for (const row of rows) {
      const counts = buckets.get(row.at) ?? {};
      counts[row.status] = row.n;
      buckets.set(row.at, counts);
    }
    const limit = Math.max(0, Math.min(Math.floor(query.durationLimit), 10_000));
    const durations = (await this.read<{ created_at: number; ms: number }>("runDurations", [...range, limit])).map((r) => ({
      createdAt: r.created_at,
      ms: r.ms,
    }));
    return { buckets: [...buckets].map(([at, counts]) => ({ at, counts })), durations };
  }

  async listOldestRuns(params: { status: "Queued" | "Running"; limit: number }): Promise<RunRecord[]> {
    const limit = Math.max(0, Math.min(Math.floor(params.limit), 1000));
    return (await this.read<RunRow>(params.status === "Queued" ? "oldestQueued" : "longestRunning", [limit])).map(runFromRow);
  }

  async saveReplayJob(job: ReplayJob): Promise<void> {
    await this.retrying(() => this.q(this.pool, "saveReplayJob", [job.id, job.state, JSON.stringify(job)]), "retry");
  }

  async getReplayJob(id: string): Promise<ReplayJob | undefined> {
    const [row] = await this.read<{ job: string }>("getReplayJob", [id]);
    return row ? JSON.parse(row.job) : undefined;
  }

  async listReplayJobs(params: { limit: number; state?: ReplayJob["state"] }): Promise<ReplayJob[]> {
    const limit = Math.max(0, Math.min(Math.floor(params.limit), 1000));
    const rows = params.state
      ? await this.read<{ job: string }>("listReplayJobsIn", [params.state, limit])
      : await this.read<{ job: string }>("listReplayJobs", [limit]);
    return rows.map((r) => JSON.parse(r.job));
  }

  async listSteps(runId: string): Promise<StepRecord[]> {
    return (await this.read<StepRow>("stepsOfRun", [runId])).map(stepFromRow);
  }

  async getEvent(internalId: string): Promise<EventRecord | undefined> {
    const [row] = await this.read<EventRow>("getEvent", [internalId]);
    return row ? eventFromRow(row) : undefined;
  }

  async addRunMetadata(record: RunMetadataRecord): Promise<boolean> {
    const params = runMetadataParams(record);
    // appending the same updates twice (an ambiguous commit, retried) folds to the same values
    return this.retrying(async () => (await this.q(this.pool, "addRunMetadata", params)).length > 0, "retry");
  }

  async listRunMetadata(runId: string): Promise<RunMetadataRecord[]> {
    return (await this.read<RunMetadataRow>("runMetadata", [runId])).map(runMetadataFromRow);
  }
}
