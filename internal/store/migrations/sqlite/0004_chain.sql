-- The tamper-evident log (CONTRACT §9): see the MySQL migration. SQLite
-- cannot make a column NOT NULL after the fact; the data step adds triggers
-- that refuse unchained events instead.

ALTER TABLE audit_events ADD COLUMN sequence INTEGER NULL;
ALTER TABLE audit_events ADD COLUMN prev_hash BLOB NULL;
ALTER TABLE audit_events ADD COLUMN hash BLOB NULL;
CREATE UNIQUE INDEX audit_events_sequence ON audit_events (workspace_id, sequence);
ALTER TABLE workspaces ADD COLUMN chain_sequence INTEGER NOT NULL DEFAULT 0;
ALTER TABLE workspaces ADD COLUMN chain_hash BLOB NULL;
ALTER TABLE workspaces ADD COLUMN chain_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE workspaces ADD COLUMN chain_pruned_through INTEGER NOT NULL DEFAULT 0;
ALTER TABLE audit_exports ADD COLUMN head_sequence INTEGER NOT NULL DEFAULT 0;
ALTER TABLE audit_exports ADD COLUMN head_hash BLOB NULL;
