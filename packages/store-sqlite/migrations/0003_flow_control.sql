-- Flow-control state by key: throttle and rate-limit clocks, idempotency keys, the active
-- run of a singleton key, the pending run of a debounce or batch key. `value` is JSON.
CREATE TABLE flow_state (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX flow_state_expires_at ON flow_state (expires_at);

-- Why a queued run waits (throttle, debounce, batch), as JSON: shown by getRun as waitingOn.
ALTER TABLE runs ADD COLUMN waiting_on TEXT;

-- What a step was asked to do (shown in the dashboard beside its output).
ALTER TABLE steps ADD COLUMN input TEXT;

-- An event whose sender id was seen within 24 h is kept but started nothing.
ALTER TABLE events ADD COLUMN duplicate INTEGER NOT NULL DEFAULT 0;

-- The dashboard filters runs by function and status together, newest first.
CREATE INDEX runs_function_status ON runs (function_id, status, id);
