-- Retention: finished runs are found by when they ended (per function too), and old
-- events by when they arrived.
CREATE INDEX runs_ended_at ON runs (ended_at) WHERE ended_at IS NOT NULL;
CREATE INDEX runs_function_ended_at ON runs (function_id, ended_at) WHERE ended_at IS NOT NULL;
CREATE INDEX events_received_at ON events (received_at, internal_id);

-- The events of a run after its first (`runs.event_id`): the members of a batch. An event
-- is kept while a stored run refers to it, and this is how a batch member is looked up.
CREATE TABLE run_events (
  event_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  PRIMARY KEY (event_id, run_id)
) WITHOUT ROWID;
CREATE INDEX run_events_run_id ON run_events (run_id);
INSERT OR IGNORE INTO run_events (event_id, run_id)
  SELECT j.value, r.id FROM runs AS r, json_each(r.event_ids) AS j WHERE j.key > 0;
