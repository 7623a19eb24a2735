-- Served runs: the request version the app answered with on the run's first call,
-- sent back on every later call (inngest-protocol §8.6).
ALTER TABLE runs ADD COLUMN request_version INTEGER;
