-- Events as received. `internal_id` is what send() returned; `id` is the sender's id
-- when one was given (idempotency), otherwise equal to internal_id.
CREATE TABLE events (
  internal_id TEXT PRIMARY KEY,
  id TEXT NOT NULL,
  name TEXT NOT NULL,
  data TEXT NOT NULL,
  user TEXT NOT NULL,
  v TEXT,
  ts INTEGER NOT NULL,
  received_at INTEGER NOT NULL
);
CREATE INDEX events_name_received_at ON events (name, received_at);
CREATE INDEX events_id ON events (id);

CREATE TABLE runs (
  id TEXT PRIMARY KEY,
  function_id TEXT NOT NULL,
  status TEXT NOT NULL,
  -- first triggering event, for lookups by event
  event_id TEXT NOT NULL,
  event_ids TEXT NOT NULL,
  output TEXT,
  error TEXT,
  created_at INTEGER NOT NULL,
  started_at INTEGER,
  ended_at INTEGER
);
CREATE INDEX runs_function_id ON runs (function_id, id);
CREATE INDEX runs_status ON runs (status, id);
CREATE INDEX runs_event_id ON runs (event_id);

-- Memoized and in-progress steps; `seq` keeps completion order.
CREATE TABLE steps (
  run_id TEXT NOT NULL,
  id TEXT NOT NULL,
  name TEXT NOT NULL,
  display_name TEXT,
  op TEXT NOT NULL,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  output TEXT,
  error TEXT,
  started_at INTEGER,
  ended_at INTEGER,
  wake_at INTEGER,
  seq INTEGER NOT NULL,
  PRIMARY KEY (run_id, id)
) WITHOUT ROWID;

-- Work due at available_at. A claim leases an item by moving available_at to the
-- lease's end, so one index serves both "due" and "lease expired". Lane 0 holds work of
-- runs already under way (wake-ups, retries, next steps), lane 1 the starts of new runs:
-- claims drain lane 0 first, so a backlog of new runs never makes sleeps wake late.
CREATE TABLE queue (
  id INTEGER PRIMARY KEY,
  run_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  step_id TEXT,
  attempt INTEGER NOT NULL,
  lane INTEGER NOT NULL DEFAULT 0,
  available_at INTEGER NOT NULL
);
CREATE INDEX queue_lane_available_at ON queue (lane, available_at);
CREATE INDEX queue_run_id ON queue (run_id);
