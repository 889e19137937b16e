-- Insights (docs/API.md §14): see the MySQL migration.
ALTER TABLE audit_events ADD COLUMN flags INTEGER NOT NULL DEFAULT 0;
CREATE INDEX audit_events_flags ON audit_events (workspace_id, flags, occurred_at, id);
ALTER TABLE workspaces ADD COLUMN trusted_domains TEXT NULL;
-- SQLite cannot change a primary key: the counters move to a new table.
CREATE TABLE audit_event_counts_new (
  workspace_id TEXT NOT NULL,
  kind         TEXT NOT NULL DEFAULT 'e',
  hour_start   INTEGER NOT NULL,
  action       TEXT NOT NULL,
  flags        INTEGER NOT NULL DEFAULT 0,
  actor_type   TEXT NOT NULL DEFAULT '',
  actor_id     TEXT NOT NULL DEFAULT '',
  n            INTEGER NOT NULL,
  PRIMARY KEY (workspace_id, kind, hour_start, action, flags, actor_type, actor_id)
) WITHOUT ROWID;
INSERT INTO audit_event_counts_new (workspace_id, kind, hour_start, action, flags, actor_type, actor_id, n) SELECT workspace_id, 'e', hour_start, action, 0, '', '', n FROM audit_event_counts;
DROP TABLE audit_event_counts;
ALTER TABLE audit_event_counts_new RENAME TO audit_event_counts;
INSERT INTO audit_event_counts (workspace_id, kind, hour_start, action, flags, actor_type, actor_id, n) SELECT workspace_id, 'a', occurred_at - occurred_at % 3600000, '', 0, actor_type, actor_id, COUNT(*) FROM audit_events GROUP BY workspace_id, occurred_at - occurred_at % 3600000, actor_type, actor_id;
CREATE TABLE actor_networks (
  workspace_id TEXT NOT NULL,
  actor_id     TEXT NOT NULL,
  network      TEXT NOT NULL,
  last_seen    INTEGER NOT NULL,
  PRIMARY KEY (workspace_id, actor_id, network)
) WITHOUT ROWID;
