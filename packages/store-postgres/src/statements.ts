/**
 * @module statements
 * Every SQL statement the Postgres store runs (prepared by the connection on first use),
 * and the builders of its two filtered list queries. The only place SQL text lives,
 * with the migrations.
 */
import { encodeTime } from "ulid";

function timePrefix(ms: number): string {
  return encodeTime(Math.max(0, Math.floor(ms)), 10);
}

const runColumns =
  "id, function_id, status, event_id, event_ids, created_at, waiting_on, pending_key, finish_after_ms, error, ended_at, trace_context, parent_run_id";

// Reads name their columns (never `SELECT *`): a prepared statement's result type then
// survives a newer node adding a column during a rolling upgrade (Postgres refuses to run
// a cached plan whose result type changed).
const events = "internal_id, id, name, data, user_data, v, ts, received_at, duplicate, meta";
const runs =
  "id, function_id, status, event_id, event_ids, output, error, created_at, started_at, ended_at, waiting_on, lease_expiries, pending_key, finish_after_ms, request_version, parallel, trace_context, parent_run_id, rerun_of, rerun_from_step";
const steps = "run_id, id, name, display_name, op, status, attempts, output, error, input, started_at, ended_at, wake_at, metadata";
const queue = "id, run_id, kind, step_id, attempt, lane, available_at, leased, token, ckey1, climit1, ckey2, climit2, payload";
const pauses = "id, run_id, kind, step_id, event_name, expression, index_path, index_value, exact, created_at, expires_at";

export const statements = {
  insertEvent:
    "INSERT INTO events (internal_id, id, name, data, user_data, v, ts, received_at, duplicate, meta) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (internal_id) DO NOTHING RETURNING internal_id",
  // many events in one statement: one array per column
  insertEvents: `INSERT INTO events (internal_id, id, name, data, user_data, v, ts, received_at, duplicate, meta)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::boolean[], $10::text[])
    ON CONFLICT (internal_id) DO NOTHING RETURNING internal_id`,
  // an event with this sender id already received in the de-duplication window
  duplicateEvent: "SELECT 1 FROM events WHERE id = $1 AND received_at >= $2 AND internal_id <> $3 LIMIT 1",
  getEvent: `SELECT ${events} FROM events WHERE internal_id = $1`,
  eventsOfRun: `SELECT ${events.replace(/(\w+)/g, "e.$1")} FROM unnest($1::text[]) WITH ORDINALITY AS j(id, n) JOIN events AS e ON e.internal_id = j.id ORDER BY j.n`,
  // keyset paging: events after (received_at, internal_id)
  eventsByName: `SELECT ${events} FROM events WHERE name = $1 AND received_at <= $2 AND (received_at, internal_id) > ($3, $4) ORDER BY received_at, internal_id LIMIT $5`,
  eventsSince: "SELECT 1 FROM events WHERE name = $1 AND received_at >= $2 LIMIT 1",

  insertRun: `INSERT INTO runs (${runColumns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
  insertRuns: `INSERT INTO runs (${runColumns})
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::text[], $9::bigint[], $10::text[], $11::bigint[], $12::text[], $13::text[])`,
  getRun: `SELECT ${runs} FROM runs WHERE id = $1`,
  lockRun: `SELECT ${runs} FROM runs WHERE id = $1 FOR UPDATE`,
  runStatus: "SELECT status FROM runs WHERE id = $1",
  // claims never wait for a run another transaction holds: they leave its item for the next claim
  lockRunsForClaim: "SELECT id, status, pending_key FROM runs WHERE id = ANY($1::text[]) FOR UPDATE SKIP LOCKED",
  existingRuns: "SELECT id FROM runs WHERE id = ANY($1::text[])",
  markRunning:
    "UPDATE runs SET status = 'Running', started_at = $1, waiting_on = NULL WHERE id = ANY($2::text[]) AND status = 'Queued' RETURNING id, pending_key, finish_after_ms",
  countLeaseExpiries:
    "UPDATE runs SET lease_expiries = runs.lease_expiries + c.n FROM (SELECT id, COUNT(*)::int AS n FROM unnest($1::text[]) AS id GROUP BY id) AS c WHERE runs.id = c.id",
  endRun: "UPDATE runs SET status = $2, output = $3, error = $4, ended_at = $5 WHERE id = $1",
  // a batch run's members after its first event are listed in run_events, so retention finds them
  setRunEvents: `WITH u AS (UPDATE runs SET event_ids = $1, event_id = $2 WHERE id = $3 AND status = 'Queued' RETURNING id)
    INSERT INTO run_events (event_id, run_id) SELECT e, u.id FROM u, unnest($4::text[]) AS e ON CONFLICT DO NOTHING`,
  insertRunEvents: "INSERT INTO run_events (event_id, run_id) SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING",
  setRunWaitingOn: "UPDATE runs SET waiting_on = $1 WHERE id = $2 AND status = 'Queued'",
  countRuns: "SELECT status, COUNT(*)::int AS n FROM runs WHERE function_id = $1 AND id >= $2 GROUP BY status",
  setRerunOf: "UPDATE runs SET rerun_of = $2, rerun_from_step = $3 WHERE id = $1",
  // ranges over the (function_id, id) index: ids are ULIDs whose first 10 characters are the creation time
  runBuckets:
    "SELECT (created_at / $4::bigint) * $4::bigint AS at, status, COUNT(*)::int AS n FROM runs WHERE function_id = $1 AND id >= $2 AND id < $3 GROUP BY 1, 2 ORDER BY 1",
  runDurations:
    "SELECT created_at, ended_at - started_at AS ms FROM runs WHERE function_id = $1 AND id >= $2 AND id < $3 AND ended_at IS NOT NULL AND started_at IS NOT NULL ORDER BY id DESC LIMIT $4",
  oldestQueued: `SELECT ${runs} FROM runs WHERE status = 'Queued' ORDER BY id LIMIT $1`,
  longestRunning: `SELECT ${runs} FROM runs WHERE status = 'Running' ORDER BY started_at, id LIMIT $1`,
  saveReplayJob: "INSERT INTO replay_jobs (id, state, job) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET state = excluded.state, job = excluded.job",
  getReplayJob: "SELECT job FROM replay_jobs WHERE id = $1",
  listReplayJobs: "SELECT job FROM replay_jobs ORDER BY id DESC LIMIT $1",
  listReplayJobsIn: "SELECT job FROM replay_jobs WHERE state = $1 ORDER BY id DESC LIMIT $2",

  upsertStep: `INSERT INTO steps (run_id, id, name, display_name, op, status, attempts, output, error, input, started_at, ended_at, wake_at, metadata, seq)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, (SELECT COALESCE(MAX(seq), 0) + 1 FROM steps WHERE run_id = $1))
       ON CONFLICT (run_id, id) DO UPDATE SET
         name = excluded.name, display_name = excluded.display_name, op = excluded.op, status = excluded.status,
         attempts = excluded.attempts, output = excluded.output, error = excluded.error, input = COALESCE(excluded.input, steps.input),
         started_at = COALESCE(steps.started_at, excluded.started_at), ended_at = excluded.ended_at, wake_at = excluded.wake_at,
         metadata = COALESCE(excluded.metadata, steps.metadata),
         seq = CASE WHEN excluded.status IN ('Completed', 'Failed') AND steps.status NOT IN ('Completed', 'Failed') THEN excluded.seq ELSE steps.seq END
       WHERE steps.status NOT IN ('Completed', 'Failed')`,
  settleStep: "UPDATE steps SET status = $3, output = $4, error = $5, ended_at = $6, attempts = $7, wake_at = NULL WHERE run_id = $1 AND id = $2",
  stepsOfRun: `SELECT ${steps} FROM steps WHERE run_id = $1 ORDER BY seq, id`,

  addRunMetadata:
    "INSERT INTO run_metadata (run_id, target, updates, created_at) SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM runs WHERE id = $1) RETURNING seq",
  runMetadata: "SELECT run_id, target, updates, created_at FROM run_metadata WHERE run_id = $1 ORDER BY seq",

  enqueue: `INSERT INTO queue (run_id, kind, step_id, attempt, lane, available_at, ckey1, climit1, ckey2, climit2, payload)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
  enqueueMany: `INSERT INTO queue (run_id, kind, step_id, attempt, lane, available_at, ckey1, climit1, ckey2, climit2, payload)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::smallint[], $6::bigint[], $7::text[], $8::int[], $9::text[], $10::int[], $11::text[])`,
  // due items of a lane, skipping keys found full and items set aside in this claim, and rows other claims hold
  due: `SELECT ${queue} FROM queue WHERE lane = $1 AND available_at <= $2
    AND (ckey1 IS NULL OR ckey1 <> ALL($3::text[])) AND (ckey2 IS NULL OR ckey2 <> ALL($3::text[])) AND id <> ALL($4::bigint[])
    ORDER BY available_at, id LIMIT $5 FOR UPDATE SKIP LOCKED`,
  // one claim at a time counts and takes slots of a key; a claim that cannot take the lock at once treats the key as full
  lockConcurrencyKeys: "SELECT k, pg_try_advisory_xact_lock(hashtextextended('stepwise:concurrency:' || k, 0)) AS locked FROM unnest($1::text[]) AS k",
  liveLeases:
    "SELECT k, (SELECT COUNT(*)::int FROM queue WHERE ckey1 = k AND leased AND available_at > $2) + (SELECT COUNT(*)::int FROM queue WHERE ckey2 = k AND leased AND available_at > $2) AS n FROM unnest($1::text[]) AS k",
  // due, unleased items of a key queued ahead of (available_at, id)
  aheadOnKey:
    "SELECT (SELECT COUNT(*)::int FROM queue WHERE ckey1 = $1 AND NOT leased AND (available_at, id) < ($2, $3)) + (SELECT COUNT(*)::int FROM queue WHERE ckey2 = $1 AND NOT leased AND (available_at, id) < ($2, $3)) AS n",
  lease: "UPDATE queue SET available_at = $1, leased = TRUE, token = token + 1 WHERE id = ANY($2::bigint[]) RETURNING id, token",
  extendLeases: `UPDATE queue SET available_at = $1 FROM unnest($2::bigint[], $3::int[]) AS l(id, token)
    WHERE queue.id = l.id AND queue.token = l.token AND queue.leased RETURNING queue.id`,
  lockLease: "SELECT 1 FROM queue WHERE id = $1 AND token = $2 AND leased FOR UPDATE",
  shareLease: "SELECT 1 FROM queue WHERE id = $1 AND token = $2 AND leased FOR SHARE",
  deleteLeased: "DELETE FROM queue WHERE id = $1 AND token = $2 AND leased RETURNING id",
  reschedule: "UPDATE queue SET available_at = $1, attempt = $2, kind = COALESCE($3, kind), leased = FALSE WHERE id = $4",
  // what a transition's script may ask of its run, read in one statement once the run is locked
  runReadAhead: `SELECT COALESCE((SELECT json_agg(q ORDER BY q.id) FROM (SELECT ${queue} FROM queue WHERE run_id = $1) AS q), '[]') AS items,
    COALESCE((SELECT json_agg(p.id) FROM pauses AS p WHERE p.run_id = $1), '[]') AS pauses`,
  dueItemOfRun: `SELECT ${queue} FROM queue WHERE run_id = $1 AND lane = 1 AND NOT leased AND available_at <= $2 AND ckey1 IS NOT NULL LIMIT 1`,
  deleteItem: "DELETE FROM queue WHERE id = $1",
  clearRunQueue: "DELETE FROM queue WHERE run_id = $1",
  cancelItems: "DELETE FROM queue WHERE run_id = $1 AND kind = $2 AND step_id = $3",
  setRunStart: "UPDATE queue SET available_at = $1 WHERE run_id = $2 AND lane = 1 AND kind = 'discovery'",
  queueDue: "SELECT COUNT(*)::int AS n, MIN(available_at) AS oldest FROM queue WHERE NOT leased AND available_at <= $1",
  queueLeased: "SELECT COUNT(*)::int AS n FROM queue WHERE leased",
  runsWaiting: "SELECT (waiting_on::jsonb)->>'kind' AS kind, COUNT(*)::int AS n FROM runs WHERE status = 'Queued' AND waiting_on IS NOT NULL GROUP BY 1",
  nextAvailableAt: "SELECT LEAST((SELECT MIN(available_at) FROM queue WHERE lane = 0), (SELECT MIN(available_at) FROM queue WHERE lane = 1)) AS at",

  insertPause: `INSERT INTO pauses (id, run_id, kind, step_id, event_name, expression, index_path, index_value, exact, created_at, expires_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
  insertPauses: `INSERT INTO pauses (id, run_id, kind, step_id, event_name, expression, index_path, index_value, exact, created_at, expires_at)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::boolean[], $10::bigint[], $11::bigint[])`,
  insertPausePaths: "INSERT INTO pause_paths (event_name, index_path) SELECT DISTINCT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING",
  insertPausePath: "INSERT INTO pause_paths (event_name, index_path) VALUES ($1, $2) ON CONFLICT DO NOTHING",
  pauseExists: "SELECT 1 FROM pauses WHERE id = $1",
  pausesOnName: "SELECT 1 FROM pauses WHERE event_name = $1 LIMIT 1",
  deletePause: "DELETE FROM pauses WHERE id = $1 RETURNING id",
  deleteRunPauses: "DELETE FROM pauses WHERE run_id = $1",
  pausePaths: "SELECT index_path FROM pause_paths WHERE event_name = $1 ORDER BY index_path",
  findIndexedPauses: `SELECT ${pauses} FROM pauses WHERE event_name = $1 AND index_path = $2 AND index_value = $3 ORDER BY id`,
  findUnindexedPauses: `SELECT ${pauses} FROM pauses WHERE event_name = $1 AND index_path IS NULL ORDER BY id`,

  // admission: the keys a script names are serialized by an advisory lock (rows may not exist yet), taken in key order
  lockFlowKeys:
    "SELECT pg_advisory_xact_lock(hashtextextended('stepwise:flow:' || k, 0)) FROM (SELECT DISTINCT k FROM unnest($1::text[]) AS k ORDER BY k) AS s",
  // ... and their rows are locked too, so a claim releasing a pending key skips them instead of racing
  lockFlowRows: "SELECT key, value, expires_at FROM flow_state WHERE key = ANY($1::text[]) ORDER BY key FOR UPDATE",
  lockFlowRowsForClaim: "SELECT key FROM flow_state WHERE key = ANY($1::text[]) FOR UPDATE SKIP LOCKED",
  existingFlowRows: "SELECT key FROM flow_state WHERE key = ANY($1::text[])",
  // the de-duplication window of one sender id is checked by one ingest at a time
  lockSenderId: "SELECT pg_advisory_xact_lock(hashtextextended('stepwise:event-id:' || $1, 0))",
  getFlow: "SELECT key, value FROM flow_state WHERE key = ANY($1::text[]) AND expires_at > $2",
  putFlow:
    "INSERT INTO flow_state (key, value, expires_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
  deleteFlow: "DELETE FROM flow_state WHERE key = $1",
  // a started batch or debounce run releases its key only if the key still gathers for it
  // (once a batch filled, the key may already gather the next batch, for another run)
  releasePendingKeys:
    "DELETE FROM flow_state AS f USING unnest($1::text[], $2::text[]) AS p(key, run_id) WHERE f.key = p.key AND (f.value::jsonb ->> 'runId') = p.run_id",
  // retention: finished runs without queue items that ended before a cutoff, oldest first; rows another
  // transaction holds are left for the next batch
  expiredRuns: `SELECT id FROM runs WHERE ended_at IS NOT NULL AND ended_at < $1 AND status IN ('Completed', 'Failed', 'Cancelled', 'Skipped') AND function_id <> ALL($2::text[])
    AND NOT EXISTS (SELECT 1 FROM queue AS q WHERE q.run_id = runs.id) ORDER BY ended_at LIMIT $3 FOR UPDATE SKIP LOCKED`,
  expiredRunsOf: `SELECT id FROM runs WHERE function_id = $1 AND ended_at IS NOT NULL AND ended_at < $2 AND status IN ('Completed', 'Failed', 'Cancelled', 'Skipped')
    AND NOT EXISTS (SELECT 1 FROM queue AS q WHERE q.run_id = runs.id) ORDER BY ended_at LIMIT $3 FOR UPDATE SKIP LOCKED`,
  deleteStepsOfRuns: "WITH d AS (DELETE FROM steps WHERE run_id = ANY($1::text[]) RETURNING 1) SELECT COUNT(*)::int AS n FROM d",
  deletePausesOfRuns: "WITH d AS (DELETE FROM pauses WHERE run_id = ANY($1::text[]) RETURNING 1) SELECT COUNT(*)::int AS n FROM d",
  deleteRunEventsOfRuns: "DELETE FROM run_events WHERE run_id = ANY($1::text[])",
  deleteRunMetadataOfRuns: "DELETE FROM run_metadata WHERE run_id = ANY($1::text[])",
  deleteRuns: "WITH d AS (DELETE FROM runs WHERE id = ANY($1::text[]) RETURNING 1) SELECT COUNT(*)::int AS n FROM d",
  // old events after a cursor that no stored run (first event or batch member) and no pending route item refers to
  // (`= ANY(ARRAY(…))`: the picked rows are deleted by key; `IN (…)` plans a scan of the whole table)
  sweepEvents: `WITH d AS (DELETE FROM events WHERE internal_id = ANY(ARRAY(SELECT e.internal_id FROM events AS e
    WHERE e.received_at < $1 AND (e.received_at, e.internal_id) > ($3, $4)
    AND NOT EXISTS (SELECT 1 FROM runs AS r WHERE r.event_id = e.internal_id)
    AND NOT EXISTS (SELECT 1 FROM run_events AS re WHERE re.event_id = e.internal_id)
    AND NOT EXISTS (SELECT 1 FROM queue AS q WHERE q.run_id = '' AND q.kind = 'route' AND (q.payload::jsonb ->> 'eventId') = e.internal_id)
    ORDER BY e.received_at, e.internal_id LIMIT $2 FOR UPDATE OF e SKIP LOCKED)) RETURNING internal_id, received_at)
    SELECT internal_id, received_at FROM d ORDER BY received_at DESC, internal_id DESC`,
  sweepFlowKeys:
    "DELETE FROM flow_state WHERE key = ANY(ARRAY(SELECT key FROM flow_state WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)) RETURNING key",
  sweepFlow: "DELETE FROM flow_state WHERE key IN (SELECT key FROM flow_state WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",

  insertCron: "INSERT INTO cron_schedules (function_id, expression, next_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
  listCron: "SELECT function_id, expression, next_at FROM cron_schedules ORDER BY function_id, expression",
  saveApp:
    "INSERT INTO apps (url, app_name, sdk, framework, functions, synced_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (url) DO UPDATE SET app_name = excluded.app_name, sdk = excluded.sdk, framework = excluded.framework, functions = excluded.functions, synced_at = excluded.synced_at",
  listApps: "SELECT url, app_name, sdk, framework, functions, synced_at FROM apps ORDER BY url",
  saveConnectConnections:
    "INSERT INTO connect_connections (connection_id, app_name, node_id, node_url, state, last_seen_at) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[]) ON CONFLICT (connection_id, app_name) DO UPDATE SET node_id = excluded.node_id, node_url = excluded.node_url, state = excluded.state, last_seen_at = excluded.last_seen_at",
  deleteConnectConnection: "DELETE FROM connect_connections WHERE connection_id = $1",
  deleteConnectConnectionsSeenBefore: "DELETE FROM connect_connections WHERE last_seen_at < $1",
  listConnectConnections:
    "SELECT connection_id, app_name, node_id, node_url, state, last_seen_at FROM connect_connections WHERE app_name = $1 AND last_seen_at >= $2 ORDER BY connection_id",
  setRequestVersion: "UPDATE runs SET request_version = $2 WHERE id = $1",
  setParallel: "UPDATE runs SET parallel = $2 WHERE id = $1",
  setWaitingOn: "UPDATE runs SET waiting_on = $2 WHERE id = $1",
  advanceCron: "UPDATE cron_schedules SET next_at = $1 WHERE function_id = $2 AND expression = $3 AND next_at = $4 RETURNING next_at",
} as const;

export type StatementName = keyof typeof statements;

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
  const bind = (clause: string, value: unknown) => {
    params.push(value);
    where.push(clause.replace("?", `$${params.length}`));
  };
  // run ids are ULIDs: their first 10 characters encode the creation time, so time ranges
  // and paging are ranges over the primary key and its (status, id) / (function_id, id) indexes
  if (filter.from !== undefined) bind("id >= ?", timePrefix(filter.from));
  if (filter.to !== undefined) bind("id < ?", timePrefix(filter.to));
  if (filter.before) bind("id < ?", filter.before);
  if (filter.eventId) bind("event_id = ?", filter.eventId);
  if (filter.parentRunId) bind("parent_run_id = ?", filter.parentRunId);
  if (filter.functionId) bind("function_id = ?", filter.functionId);
  if (filter.status) bind("status = ?", filter.status);
  params.push(filter.limit);
  return { sql: `SELECT ${runs} FROM runs ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY id DESC LIMIT $${params.length}`, params };
}

/** Builds the event-list query: newest first, optionally by name, before a cursor. */
export function listEventsQuery(filter: { name?: string; limit: number; before?: string }) {
  const where: string[] = [];
  const params: unknown[] = [];
  if (filter.name) {
    params.push(filter.name);
    where.push(`name = $${params.length}`);
  }
  if (filter.before) {
    params.push(filter.before);
    where.push(`internal_id < $${params.length}`);
  }
  params.push(filter.limit);
  return {
    sql: `SELECT ${events} FROM events ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY internal_id DESC LIMIT $${params.length}`,
    params,
  };
}

export { timePrefix };
