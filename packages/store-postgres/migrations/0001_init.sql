-- The Stepwise schema on Postgres: the same tables as the SQLite store's migrations
-- 0001–0004, in one step. Times are epoch milliseconds (BIGINT); JSON values are kept as
-- the text the engine wrote (TEXT), so a payload reads back byte for byte.

-- Events as received. `internal_id` is what send() returned; `id` is the sender's id
-- when one was given (idempotency), otherwise equal to internal_id.
CREATE TABLE events (
  internal_id TEXT PRIMARY KEY,
  id TEXT NOT NULL,
  name TEXT NOT NULL,
  data TEXT NOT NULL,
  user_data TEXT NOT NULL,
  v TEXT,
  ts BIGINT NOT NULL,
  received_at BIGINT NOT NULL,
  -- its sender id was seen within 24 h: kept, started nothing
  duplicate BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX events_name_received_at ON events (name, received_at, internal_id);
CREATE INDEX events_id ON events (id, received_at);
CREATE INDEX events_name_internal_id ON events (name, internal_id);

-- Run ids are ULIDs: ordering by id is ordering by creation.
CREATE TABLE runs (
  id TEXT PRIMARY KEY,
  function_id TEXT NOT NULL,
  status TEXT NOT NULL,
  -- first triggering event, for lookups by event
  event_id TEXT NOT NULL,
  event_ids TEXT NOT NULL,
  output TEXT,
  error TEXT,
  created_at BIGINT NOT NULL,
  started_at BIGINT,
  ended_at BIGINT,
  -- why a queued run waits (throttle, debounce, batch), as JSON
  waiting_on TEXT,
  lease_expiries INTEGER NOT NULL DEFAULT 0,
  -- the batch or debounce key a queued run gathers events under; released when it starts
  pending_key TEXT,
  -- timeouts.finish in ms: the claim that starts the run enqueues its finish timeout
  finish_after_ms BIGINT
);
CREATE INDEX runs_function_id ON runs (function_id, id);
CREATE INDEX runs_status ON runs (status, id);
CREATE INDEX runs_event_id ON runs (event_id);
CREATE INDEX runs_function_status ON runs (function_id, status, id);

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
  input TEXT,
  started_at BIGINT,
  ended_at BIGINT,
  wake_at BIGINT,
  seq INTEGER NOT NULL,
  PRIMARY KEY (run_id, id)
);

-- Work due at available_at. A claim leases an item by moving available_at to the lease's
-- end, setting `leased` and bumping `token` (the fence every write for it carries). Lane
-- 0 holds work of runs under way, lane 1 the starts of new runs: claims drain lane 0 first.
CREATE TABLE queue (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  run_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  step_id TEXT,
  attempt INTEGER NOT NULL,
  lane SMALLINT NOT NULL DEFAULT 0,
  available_at BIGINT NOT NULL,
  leased BOOLEAN NOT NULL DEFAULT FALSE,
  token INTEGER NOT NULL DEFAULT 0,
  -- concurrency keys the item holds a slot of while leased (at most two)
  ckey1 TEXT,
  climit1 INTEGER,
  ckey2 TEXT,
  climit2 INTEGER,
  -- what a follow-up item (route, post-check, cancel) is about, as JSON
  payload TEXT
);
CREATE INDEX queue_lane_available_at ON queue (lane, available_at, id);
CREATE INDEX queue_run_id ON queue (run_id);
-- live leases per concurrency key are counted at claim time (and queued items ahead, for waitingOn)
CREATE INDEX queue_ckey1 ON queue (ckey1, leased, available_at) WHERE ckey1 IS NOT NULL;
CREATE INDEX queue_ckey2 ON queue (ckey2, leased, available_at) WHERE ckey2 IS NOT NULL;

-- Pauses: a run waiting for an event, for an invoked function, or watching for an event
-- that cancels it. (event_name, index_path, index_value) finds the pauses an incoming
-- event can resume without scanning the others.
CREATE TABLE pauses (
  id TEXT PRIMARY KEY,
  run_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  step_id TEXT,
  event_name TEXT NOT NULL,
  expression TEXT,
  index_path TEXT,
  index_value TEXT,
  exact BOOLEAN NOT NULL DEFAULT FALSE,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX pauses_indexed ON pauses (event_name, index_path, index_value);
CREATE INDEX pauses_run_id ON pauses (run_id);

-- The index paths in use per event name (a handful), so a lookup knows which values to read.
CREATE TABLE pause_paths (
  event_name TEXT NOT NULL,
  index_path TEXT NOT NULL,
  PRIMARY KEY (event_name, index_path)
);

-- Cron schedules: the next tick each (function, expression) is due. A tick fires by moving
-- next_at forward with a conditional update, so it fires once across all nodes.
CREATE TABLE cron_schedules (
  function_id TEXT NOT NULL,
  expression TEXT NOT NULL,
  next_at BIGINT NOT NULL,
  PRIMARY KEY (function_id, expression)
);

-- Flow-control state by key (throttle and rate-limit clocks, idempotency keys, singleton
-- and debounce/batch owners), JSON, kept until expires_at.
CREATE TABLE flow_state (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX flow_state_expires_at ON flow_state (expires_at);
