-- Event meta (sessions), kept as sent: JSON, NULL when the event had none.
ALTER TABLE events ADD COLUMN meta TEXT;
-- The metadata a step's op carried (AI calls, user metadata, scores): JSON array.
ALTER TABLE steps ADD COLUMN metadata TEXT;
-- Metadata written for a run over POST /v1/runs/:id/metadata, in the order received.
CREATE TABLE run_metadata (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id TEXT NOT NULL,
  -- where it was written: { run_id, step_id?, ... } JSON
  target TEXT NOT NULL,
  -- [{ kind, op, values }] JSON
  updates TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX run_metadata_by_run ON run_metadata (run_id, seq);
