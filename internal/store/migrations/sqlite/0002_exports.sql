-- Export requests; see the MySQL migration.
CREATE TABLE audit_exports (
  id                  TEXT NOT NULL PRIMARY KEY,
  workspace_id        TEXT NOT NULL,
  requested_by        TEXT NOT NULL,
  format              TEXT NOT NULL,
  filter              TEXT NOT NULL,
  snapshot_at         INTEGER NOT NULL,
  snapshot_event_id   TEXT NOT NULL,
  created_at          INTEGER NOT NULL,
  expires_at          INTEGER NOT NULL
);
CREATE INDEX audit_exports_expiry ON audit_exports (expires_at);
