/**
 * @module statements
 * Every SQL statement the SQLite store runs, prepared once per connection. The only
 * place SQL text lives.
 */
import type Database from "better-sqlite3";

export function prepareStatements(db: Database.Database) {
  return {
    insertEvent: db.prepare(
      "INSERT INTO events (internal_id, id, name, data, user, v, ts, received_at) VALUES (@internalId, @id, @name, @data, @user, @v, @ts, @receivedAt)",
    ),
    getEvent: db.prepare("SELECT * FROM events WHERE internal_id = ?"),
    eventsOfRun: db.prepare("SELECT e.* FROM json_each(?) AS j JOIN events AS e ON e.internal_id = j.value ORDER BY j.key"),

    insertRun: db.prepare(
      "INSERT INTO runs (id, function_id, status, event_id, event_ids, created_at) VALUES (@id, @functionId, @status, @eventId, @eventIds, @createdAt)",
    ),
    getRun: db.prepare("SELECT * FROM runs WHERE id = ?"),
    markRunning: db.prepare("UPDATE runs SET status = 'Running', started_at = ? WHERE id = ? AND status = 'Queued'"),
    endRun: db.prepare("UPDATE runs SET status = @status, output = @output, error = @error, ended_at = @endedAt WHERE id = @id"),

    upsertStep: db.prepare(
      `INSERT INTO steps (run_id, id, name, display_name, op, status, attempts, output, error, started_at, ended_at, wake_at, seq)
       VALUES (@runId, @id, @name, @displayName, @op, @status, @attempts, @output, @error, @startedAt, @endedAt, @wakeAt,
               (SELECT COALESCE(MAX(seq), 0) + 1 FROM steps WHERE run_id = @runId))
       ON CONFLICT (run_id, id) DO UPDATE SET
         name = excluded.name, display_name = excluded.display_name, op = excluded.op, status = excluded.status,
         attempts = excluded.attempts, output = excluded.output, error = excluded.error,
         started_at = COALESCE(steps.started_at, excluded.started_at), ended_at = excluded.ended_at, wake_at = excluded.wake_at,
         seq = CASE WHEN excluded.status IN ('Completed', 'Failed') AND steps.status NOT IN ('Completed', 'Failed') THEN excluded.seq ELSE steps.seq END`,
    ),
    stepsOfRun: db.prepare("SELECT * FROM steps WHERE run_id = ? ORDER BY seq"),

    enqueue: db.prepare("INSERT INTO queue (run_id, kind, step_id, attempt, available_at) VALUES (@runId, @kind, @stepId, @attempt, @availableAt)"),
    due: db.prepare("SELECT * FROM queue WHERE available_at <= ? ORDER BY available_at, id LIMIT ?"),
    lease: db.prepare("UPDATE queue SET available_at = ? WHERE id = ?"),
    reschedule: db.prepare("UPDATE queue SET available_at = ?, attempt = ? WHERE id = ?"),
    deleteItem: db.prepare("DELETE FROM queue WHERE id = ?"),
    clearRunQueue: db.prepare("DELETE FROM queue WHERE run_id = ?"),
    runHasItems: db.prepare("SELECT 1 FROM queue WHERE run_id = ? LIMIT 1"),
    nextAvailableAt: db.prepare("SELECT MIN(available_at) AS at FROM queue"),
  };
}

export type Statements = ReturnType<typeof prepareStatements>;

/** Builds the run-list query for a filter; values are bound, never interpolated. */
export function listRunsQuery(filter: { eventId?: string; functionId?: string; status?: string; limit: number }) {
  const where: string[] = [];
  const params: unknown[] = [];
  if (filter.eventId) {
    where.push("event_id = ?");
    params.push(filter.eventId);
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
