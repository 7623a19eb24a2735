-- Reruns link to the run they rerun; a rerun from a step names the step it starts over from.
ALTER TABLE runs ADD COLUMN rerun_of TEXT;
ALTER TABLE runs ADD COLUMN rerun_from_step TEXT;

-- The dashboard's "stuck or slow" view: the longest-running runs, by start time.
-- (IF NOT EXISTS: on a large table it can be built beforehand with CREATE INDEX CONCURRENTLY)
CREATE INDEX IF NOT EXISTS runs_running_since ON runs (started_at, id) WHERE status = 'Running';

-- Bulk replays, run in batches in the background; the record (JSON) is their progress,
-- so a replay interrupted by a restart resumes where it was.
CREATE TABLE replay_jobs (
  id TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  job TEXT NOT NULL
);
CREATE INDEX replay_jobs_state ON replay_jobs (state, id);
