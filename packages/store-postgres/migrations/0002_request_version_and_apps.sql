-- Served runs: the request version the app answered with on the run's first call,
-- sent back on every later call (inngest-protocol §8.6).
ALTER TABLE runs ADD COLUMN request_version INTEGER;

-- Apps that serve functions over HTTP, as last synced: every node registers their
-- functions from here, so an app synced through one node is called by any node.
CREATE TABLE apps (
  url TEXT PRIMARY KEY,
  app_name TEXT NOT NULL,
  sdk TEXT,
  framework TEXT,
  -- the function configs as the app sent them (wire format), JSON
  functions TEXT NOT NULL,
  synced_at BIGINT NOT NULL
);
