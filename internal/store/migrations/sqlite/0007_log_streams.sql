-- Log streams (CONTRACT §11): see the MySQL migration.

CREATE TABLE log_streams (
  id                   TEXT NOT NULL PRIMARY KEY,
  workspace_id         TEXT NOT NULL REFERENCES workspaces (id),
  url                  TEXT NOT NULL,
  description          TEXT NULL,
  secret               BLOB NOT NULL,
  created_by           TEXT NOT NULL REFERENCES users (id),
  created_at           INTEGER NOT NULL,
  deleted_at           INTEGER NULL,
  status               TEXT NOT NULL,
  delivered_through    INTEGER NOT NULL,
  last_delivery_at     INTEGER NULL,
  last_error           TEXT NULL,
  consecutive_failures INTEGER NOT NULL DEFAULT 0,
  next_attempt_at      INTEGER NOT NULL DEFAULT 0,
  version              INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX log_streams_workspace ON log_streams (workspace_id, created_at);
CREATE INDEX log_streams_live ON log_streams (deleted_at, id);
