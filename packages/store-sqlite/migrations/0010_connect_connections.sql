-- Connect: which node holds a worker's socket for an app, so a node without one forwards
-- the call there. Written at WORKER_READY, refreshed by the holding node every few
-- seconds, deleted when the socket closes; rows not refreshed lately are of a dead node.
CREATE TABLE connect_connections (
  connection_id TEXT NOT NULL,
  app_name TEXT NOT NULL,
  node_id TEXT NOT NULL,
  node_url TEXT NOT NULL,
  state TEXT NOT NULL,
  last_seen_at INTEGER NOT NULL,
  PRIMARY KEY (connection_id, app_name)
);
CREATE INDEX connect_connections_app ON connect_connections (app_name, last_seen_at);
