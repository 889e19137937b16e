-- Partner access (CONTRACT §10): see the MySQL migration.

CREATE TABLE api_keys (
  id           TEXT NOT NULL PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces (id),
  name         TEXT NOT NULL,
  prefix       TEXT NOT NULL,
  token_hash   BLOB NOT NULL,
  created_by   TEXT NOT NULL REFERENCES users (id),
  created_at   INTEGER NOT NULL,
  expires_at   INTEGER NULL,
  last_used_at INTEGER NULL,
  revoked_at   INTEGER NULL
);
CREATE UNIQUE INDEX api_keys_token ON api_keys (token_hash);
CREATE INDEX api_keys_workspace ON api_keys (workspace_id, created_at);
ALTER TABLE audit_exports ADD COLUMN requested_by_key INTEGER NOT NULL DEFAULT 0;
