-- Deferred runs (`defer()`): the run that deferred each one, listed from the parent's side.
ALTER TABLE runs ADD COLUMN parent_run_id TEXT;
CREATE INDEX runs_parent ON runs (parent_run_id, id) WHERE parent_run_id IS NOT NULL;
