/**
 * @module statements
 * Every SQL statement the SQLite store runs, prepared once per connection. The only
 * place SQL text lives.
 */
import type Database from "better-sqlite3";
import { encodeTime } from "ulid";

function timePrefix(ms: number): string {
  return encodeTime(Math.max(0, Math.floor(ms)), 10);
}

/** No stored run refers to event `e` (as its first event or a batch member), and no pending route item names it. */
const unreferencedEvent = `NOT EXISTS (SELECT 1 FROM runs AS r WHERE r.event_id = e.internal_id)
    AND NOT EXISTS (SELECT 1 FROM run_events AS re WHERE re.event_id = e.internal_id)
    AND NOT EXISTS (SELECT 1 FROM queue AS q WHERE q.run_id = '' AND q.kind = 'route' AND json_extract(q.payload, '$.eventId') = e.internal_id)`;

const sqlText = {
  insertEvent:
    "INSERT INTO events (internal_id, id, name, data, user, v, ts, received_at, duplicate, meta) VALUES (@internalId, @id, @name, @data, @user, @v, @ts, @receivedAt, @duplicate, @meta) ON CONFLICT (internal_id) DO NOTHING",
  getEvent: "SELECT * FROM events WHERE internal_id = ?",
  eventsOfRun: "SELECT e.* FROM json_each(?) AS j JOIN events AS e ON e.internal_id = j.value ORDER BY j.key",

  insertRun:
    "INSERT INTO runs (id, function_id, status, event_id, event_ids, created_at, waiting_on, pending_key, finish_after_ms, trace_context, parent_run_id) VALUES (@id, @functionId, @status, @eventId, @eventIds, @createdAt, @waitingOn, @pendingKey, @finishAfterMs, @traceContext, @parentRunId)",
  getRun: "SELECT * FROM runs WHERE id = ?",
  markRunning:
    "UPDATE runs SET status = 'Running', started_at = ?, waiting_on = NULL WHERE id = ? AND status = 'Queued' RETURNING pending_key, finish_after_ms",
  setRequestVersion: "UPDATE runs SET request_version = ? WHERE id = ?",
  setParallel: "UPDATE runs SET parallel = ? WHERE id = ?",
  setWaitingOn: "UPDATE runs SET waiting_on = ? WHERE id = ?",
  countLeaseExpiry: "UPDATE runs SET lease_expiries = lease_expiries + 1 WHERE id = ?",
  endRun: "UPDATE runs SET status = @status, output = @output, error = @error, ended_at = @endedAt WHERE id = @id",

  upsertStep: `INSERT INTO steps (run_id, id, name, display_name, op, status, attempts, output, error, input, started_at, ended_at, wake_at, metadata, seq)
       VALUES (@runId, @id, @name, @displayName, @op, @status, @attempts, @output, @error, @input, @startedAt, @endedAt, @wakeAt, @metadata,
               (SELECT COALESCE(MAX(seq), 0) + 1 FROM steps WHERE run_id = @runId))
       ON CONFLICT (run_id, id) DO UPDATE SET
         name = excluded.name, display_name = excluded.display_name, op = excluded.op, status = excluded.status,
         attempts = excluded.attempts, output = excluded.output, error = excluded.error, input = COALESCE(excluded.input, steps.input),
         started_at = COALESCE(steps.started_at, excluded.started_at), ended_at = excluded.ended_at, wake_at = excluded.wake_at,
         metadata = COALESCE(excluded.metadata, steps.metadata),
         seq = CASE WHEN excluded.status IN ('Completed', 'Failed') AND steps.status NOT IN ('Completed', 'Failed') THEN excluded.seq ELSE steps.seq END
       WHERE steps.status NOT IN ('Completed', 'Failed')`,
  stepsOfRun: "SELECT * FROM steps WHERE run_id = ? ORDER BY seq",

  addRunMetadata:
    "INSERT INTO run_metadata (run_id, target, updates, created_at) SELECT @runId, @target, @updates, @createdAt WHERE EXISTS (SELECT 1 FROM runs WHERE id = @runId)",
  runMetadata: "SELECT * FROM run_metadata WHERE run_id = ? ORDER BY seq",

  enqueue: `INSERT INTO queue (run_id, kind, step_id, attempt, lane, available_at, ckey1, climit1, ckey2, climit2, payload)
    VALUES (@runId, @kind, @stepId, @attempt, @lane, @availableAt, @ckey1, @climit1, @ckey2, @climit2, @payload)`,
  // due items of a lane whose concurrency keys are not among the (JSON array of) keys found full in this claim
  due: `SELECT * FROM queue WHERE lane = ? AND available_at <= ?
    AND (ckey1 IS NULL OR ckey1 NOT IN (SELECT value FROM json_each(?))) AND (ckey2 IS NULL OR ckey2 NOT IN (SELECT value FROM json_each(?)))
    ORDER BY available_at, id LIMIT ?`,
  liveLeases:
    "SELECT (SELECT COUNT(*) FROM queue WHERE ckey1 = @key AND leased = 1 AND available_at > @now) + (SELECT COUNT(*) FROM queue WHERE ckey2 = @key AND leased = 1 AND available_at > @now) AS n",
  // due, unleased items of a key queued ahead of (available_at, id)
  aheadOnKey:
    "SELECT (SELECT COUNT(*) FROM queue WHERE ckey1 = @key AND leased = 0 AND (available_at, id) < (@at, @id)) + (SELECT COUNT(*) FROM queue WHERE ckey2 = @key AND leased = 0 AND (available_at, id) < (@at, @id)) AS n",
  lease: "UPDATE queue SET available_at = ?, leased = 1, token = token + 1 WHERE id = ? RETURNING token",
  extendLease: "UPDATE queue SET available_at = ? WHERE id = ? AND token = ? AND leased = 1",
  leaseHeld: "SELECT 1 FROM queue WHERE id = ? AND token = ? AND leased = 1",
  deleteLeased: "DELETE FROM queue WHERE id = ? AND token = ? AND leased = 1",
  reschedule: "UPDATE queue SET available_at = ?, attempt = ?, kind = COALESCE(?, kind), leased = 0 WHERE id = ?",
  itemsOfRun: "SELECT * FROM queue WHERE run_id = ?",
  dueItemOfRun: "SELECT * FROM queue WHERE run_id = ? AND lane = 1 AND leased = 0 AND available_at <= ? AND ckey1 IS NOT NULL LIMIT 1",
  pauseExists: "SELECT 1 FROM pauses WHERE id = ?",
  pausesOnName: "SELECT 1 FROM pauses WHERE event_name = ? LIMIT 1",
  eventsSince: "SELECT 1 FROM events WHERE name = ? AND received_at >= ? LIMIT 1",
  sweepFlow: "DELETE FROM flow_state WHERE key IN (SELECT key FROM flow_state WHERE expires_at <= ? LIMIT ?)",
  // retention: finished runs without queue items that ended before a cutoff, oldest first (`+status`: found by
  // the ended_at indexes, not by the status index, which would sort every finished run)
  expiredRuns: `SELECT id FROM runs WHERE ended_at IS NOT NULL AND ended_at < @before AND +status IN ('Completed', 'Failed', 'Cancelled', 'Skipped')
    AND function_id NOT IN (SELECT value FROM json_each(@except)) AND NOT EXISTS (SELECT 1 FROM queue AS q WHERE q.run_id = runs.id)
    ORDER BY ended_at LIMIT @limit`,
  expiredRunsOf: `SELECT id FROM runs WHERE function_id = @functionId AND ended_at IS NOT NULL AND ended_at < @before AND +status IN ('Completed', 'Failed', 'Cancelled', 'Skipped')
    AND NOT EXISTS (SELECT 1 FROM queue AS q WHERE q.run_id = runs.id)
    ORDER BY ended_at LIMIT @limit`,
  deleteRunSteps: "DELETE FROM steps WHERE run_id = ?",
  deleteRunEvents: "DELETE FROM run_events WHERE run_id = ?",
  deleteRunMetadata: "DELETE FROM run_metadata WHERE run_id = ?",
  // checked again in the deleting transaction: still finished, still without queue items
  deleteExpiredRun:
    "DELETE FROM runs WHERE id = ? AND status IN ('Completed', 'Failed', 'Cancelled', 'Skipped') AND NOT EXISTS (SELECT 1 FROM queue AS q WHERE q.run_id = runs.id)",
  insertRunEvent: "INSERT OR IGNORE INTO run_events (event_id, run_id) VALUES (?, ?)",
  // old events after a cursor that no stored run (first event or batch member) and no pending route item refers to
  expiredEvents: `SELECT e.internal_id, e.received_at FROM events AS e WHERE e.received_at < @before AND (e.received_at, e.internal_id) > (@at, @id)
    AND ${unreferencedEvent} ORDER BY e.received_at, e.internal_id LIMIT @limit`,
  // one of them, checked again in the deleting transaction
  deleteExpiredEvent: `DELETE FROM events AS e WHERE e.internal_id = @id AND ${unreferencedEvent}`,
  sweepFlowKeys: "DELETE FROM flow_state WHERE key IN (SELECT key FROM flow_state WHERE expires_at <= ? LIMIT ?) RETURNING key",
  deleteItem: "DELETE FROM queue WHERE id = ?",
  clearRunQueue: "DELETE FROM queue WHERE run_id = ?",
  cancelItems: "DELETE FROM queue WHERE run_id = ? AND kind = ? AND step_id = ?",
  runStatus: "SELECT status FROM runs WHERE id = ?",
  duplicateEvent: "SELECT 1 FROM events WHERE id = ? AND received_at >= ? AND internal_id != ? LIMIT 1",
  // keyset paging: events after (received_at, internal_id)
  eventsByName: "SELECT * FROM events WHERE name = ? AND received_at <= ? AND (received_at, internal_id) > (?, ?) ORDER BY received_at, internal_id LIMIT ?",

  insertPause: `INSERT INTO pauses (id, run_id, kind, step_id, event_name, expression, index_path, index_value, exact, created_at, expires_at)
    VALUES (@id, @runId, @kind, @stepId, @eventName, @expression, @indexPath, @indexValue, @exact, @createdAt, @expiresAt)`,
  insertPausePath: "INSERT OR IGNORE INTO pause_paths (event_name, index_path) VALUES (?, ?)",
  deletePause: "DELETE FROM pauses WHERE id = ?",
  deleteRunPauses: "DELETE FROM pauses WHERE run_id = ?",
  pausePaths: "SELECT index_path FROM pause_paths WHERE event_name = ?",
  findIndexedPauses: "SELECT * FROM pauses WHERE event_name = ? AND index_path = ? AND index_value = ?",
  findUnindexedPauses: "SELECT * FROM pauses WHERE event_name = ? AND index_path IS NULL",

  getFlow: "SELECT value FROM flow_state WHERE key = ? AND expires_at > ?",
  putFlow:
    "INSERT INTO flow_state (key, value, expires_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
  deleteFlow: "DELETE FROM flow_state WHERE key = ?",
  // a started batch or debounce run releases its key only if the key still gathers for it
  // (once a batch filled, the key may already gather the next batch, for another run)
  releasePendingKey: "DELETE FROM flow_state WHERE key = ? AND json_extract(value, '$.runId') = ?",
  setRunEvents: "UPDATE runs SET event_ids = ?, event_id = ? WHERE id = ? AND status = 'Queued'",
  setRunStart: "UPDATE queue SET available_at = ? WHERE run_id = ? AND lane = 1 AND kind = 'discovery'",
  setRunWaitingOn: "UPDATE runs SET waiting_on = ? WHERE id = ? AND status = 'Queued'",
  insertSkippedRun:
    "INSERT INTO runs (id, function_id, status, event_id, event_ids, error, created_at, ended_at) VALUES (@id, @functionId, @status, @eventId, @eventIds, @error, @createdAt, @endedAt)",
  countRuns: "SELECT status, COUNT(*) AS n FROM runs WHERE function_id = ? AND id >= ? GROUP BY status",
  setRerunOf: "UPDATE runs SET rerun_of = ?, rerun_from_step = ? WHERE id = ?",
  runExists: "SELECT 1 FROM runs WHERE id = ?",
  // ranges over the (function_id, id) index: ids are ULIDs whose first 10 characters are the creation time
  runBuckets:
    "SELECT (created_at / CAST(@bucket AS INTEGER)) * CAST(@bucket AS INTEGER) AS at, status, COUNT(*) AS n FROM runs WHERE function_id = @functionId AND id >= @from AND id < @to GROUP BY 1, 2 ORDER BY 1",
  runDurations:
    "SELECT created_at, ended_at - started_at AS ms FROM runs WHERE function_id = @functionId AND id >= @from AND id < @to AND ended_at IS NOT NULL AND started_at IS NOT NULL ORDER BY id DESC LIMIT @limit",
  oldestQueued: "SELECT * FROM runs WHERE status = 'Queued' ORDER BY id LIMIT ?",
  longestRunning: "SELECT * FROM runs WHERE status = 'Running' ORDER BY started_at, id LIMIT ?",
  saveReplayJob: "INSERT INTO replay_jobs (id, state, job) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET state = excluded.state, job = excluded.job",
  getReplayJob: "SELECT job FROM replay_jobs WHERE id = ?",
  listReplayJobs: "SELECT job FROM replay_jobs ORDER BY id DESC LIMIT ?",
  listReplayJobsIn: "SELECT job FROM replay_jobs WHERE state = ? ORDER BY id DESC LIMIT ?",
  insertCron: "INSERT OR IGNORE INTO cron_schedules (function_id, expression, next_at) VALUES (?, ?, ?)",
  listCron: "SELECT * FROM cron_schedules",
  saveApp:
    "INSERT INTO apps (url, app_name, sdk, framework, functions, synced_at) VALUES (@url, @appName, @sdk, @framework, @functions, @syncedAt) ON CONFLICT (url) DO UPDATE SET app_name = excluded.app_name, sdk = excluded.sdk, framework = excluded.framework, functions = excluded.functions, synced_at = excluded.synced_at",
  listApps: "SELECT * FROM apps ORDER BY url",
  saveConnectConnection:
    "INSERT INTO connect_connections (connection_id, app_name, node_id, node_url, state, last_seen_at) VALUES (@connectionId, @appName, @nodeId, @nodeUrl, @state, @lastSeenAt) ON CONFLICT (connection_id, app_name) DO UPDATE SET node_id = excluded.node_id, node_url = excluded.node_url, state = excluded.state, last_seen_at = excluded.last_seen_at",
  deleteConnectConnection: "DELETE FROM connect_connections WHERE connection_id = ?",
  deleteConnectConnectionsSeenBefore: "DELETE FROM connect_connections WHERE last_seen_at < ?",
  listConnectConnections: "SELECT * FROM connect_connections WHERE app_name = ? AND last_seen_at >= ? ORDER BY connection_id",
  advanceCron: "UPDATE cron_schedules SET next_at = ? WHERE function_id = ? AND expression = ? AND next_at = ?",
  queueDue: "SELECT COUNT(*) AS n, MIN(available_at) AS oldest FROM queue WHERE leased = 0 AND available_at <= ?",
  queueLeased: "SELECT COUNT(*) AS n FROM queue WHERE leased = 1",
  runsWaiting: "SELECT json_extract(waiting_on, '$.kind') AS kind, COUNT(*) AS n FROM runs WHERE status = 'Queued' AND waiting_on IS NOT NULL GROUP BY 1",
  nextAvailableAt:
    "SELECT MIN(m) AS at FROM (SELECT MIN(available_at) AS m FROM queue WHERE lane = 0 UNION ALL SELECT MIN(available_at) FROM queue WHERE lane = 1)",
  settleStep:
    "UPDATE steps SET status = @status, output = @output, error = @error, ended_at = @endedAt, attempts = @attempts, wake_at = NULL WHERE run_id = @runId AND id = @id",
};

export type Statements = { [K in keyof typeof sqlText]: Database.Statement };

export function prepareStatements(db: Database.Database): Statements {
  return Object.fromEntries(Object.entries(sqlText).map(([name, sql]) => [name, db.prepare(sql)])) as Statements;
}

/** Builds the run-list query for a filter; values are bound, never interpolated. */
export function listRunsQuery(filter: {
  eventId?: string;
  functionId?: string;
  status?: string;
  limit: number;
  from?: number;
  to?: number;
  before?: string;
  parentRunId?: string;
}) {
  const where: string[] = [];
  const params: unknown[] = [];
  // run ids are ULIDs: their first 10 characters encode the creation time, so time ranges
  // and paging are ranges over the primary key and its (status, id) / (function_id, id) indexes
  if (filter.from !== undefined) {
    where.push("id >= ?");
    params.push(timePrefix(filter.from));
  }
  if (filter.to !== undefined) {
    where.push("id < ?");
    params.push(timePrefix(filter.to));
  }
  if (filter.before) {
    where.push("id < ?");
    params.push(filter.before);
  }
  if (filter.eventId) {
    where.push("event_id = ?");
    params.push(filter.eventId);
  }
  if (filter.parentRunId) {
    where.push("parent_run_id = ?");
    params.push(filter.parentRunId);
  }
  if (filter.functionId) {
    where.push("function_id = ?");
    params.push(filter.functionId);
  }
  if (filter.status) {
    where.push("status = ?");
    params.push(filter.status);
  }
  params.push(filter.limit);
  return { sql: `SELECT * FROM runs ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY id DESC LIMIT ?`, params };
}

/** Builds the event-list query: newest first, optionally by name, before a cursor. */
export function listEventsQuery(filter: { name?: string; limit: number; before?: string }) {
  const where: string[] = [];
  const params: unknown[] = [];
  if (filter.name) {
    where.push("name = ?");
    params.push(filter.name);
  }
  if (filter.before) {
    where.push("internal_id < ?");
    params.push(filter.before);
  }
  params.push(filter.limit);
  return { sql: `SELECT * FROM events ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY internal_id DESC LIMIT ?`, params };
}
