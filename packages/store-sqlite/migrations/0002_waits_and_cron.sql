-- Pauses: a run waiting for an event (step.waitForEvent), for an invoked function to
-- finish (step.invoke), or watching for an event that cancels it (cancelOn).
-- Equality expressions are indexed by value: (event_name, index_path, index_value)
-- finds the pauses an incoming event can resume without scanning the others.
CREATE TABLE pauses (
  id TEXT PRIMARY KEY,
  run_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  step_id TEXT,
  event_name TEXT NOT NULL,
  expression TEXT,
  index_path TEXT,
  index_value TEXT,
  exact INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX pauses_indexed ON pauses (event_name, index_path, index_value);
CREATE INDEX pauses_run_id ON pauses (run_id);

-- The index paths in use per event name (a handful), so a lookup knows which values to read.
CREATE TABLE pause_paths (
  event_name TEXT NOT NULL,
  index_path TEXT NOT NULL,
  PRIMARY KEY (event_name, index_path)
) WITHOUT ROWID;

-- Cron schedules: the next tick each (function, expression) is due. A tick fires by moving
-- next_at forward with a conditional update, so it fires once even across restarts.
CREATE TABLE cron_schedules (
  function_id TEXT NOT NULL,
  expression TEXT NOT NULL,
  next_at INTEGER NOT NULL,
  PRIMARY KEY (function_id, expression)
) WITHOUT ROWID;
