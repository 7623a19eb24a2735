-- Fenced leases: a claim sets `leased` and bumps `token`; every write for the item
-- carries the token it was claimed with, and a stale one is refused.
ALTER TABLE queue ADD COLUMN leased INTEGER NOT NULL DEFAULT 0;
ALTER TABLE queue ADD COLUMN token INTEGER NOT NULL DEFAULT 0;
-- Concurrency keys the item holds a slot of while leased (at most two per function).
ALTER TABLE queue ADD COLUMN ckey1 TEXT;
ALTER TABLE queue ADD COLUMN climit1 INTEGER;
ALTER TABLE queue ADD COLUMN ckey2 TEXT;
ALTER TABLE queue ADD COLUMN climit2 INTEGER;
-- What a follow-up item (route, post-check, cancel) is about, as JSON.
ALTER TABLE queue ADD COLUMN payload TEXT;
-- Live leases per concurrency key are counted at claim time (and queued items ahead, for waitingOn).
CREATE INDEX queue_ckey1 ON queue (ckey1, leased, available_at) WHERE ckey1 IS NOT NULL;
CREATE INDEX queue_ckey2 ON queue (ckey2, leased, available_at) WHERE ckey2 IS NOT NULL;

ALTER TABLE runs ADD COLUMN lease_expiries INTEGER NOT NULL DEFAULT 0;
-- The batch or debounce key a queued run gathers events under; released when it starts.
ALTER TABLE runs ADD COLUMN pending_key TEXT;
-- timeouts.finish in ms: the claim that starts the run enqueues its finish timeout.
ALTER TABLE runs ADD COLUMN finish_after_ms INTEGER;

-- Pauses by event name alone (does any pause wait on this name?).
CREATE INDEX pauses_event_name ON pauses (event_name);
