-- auditlogd schema, SQLite. Times are Unix milliseconds (INTEGER, UTC).
-- Emails are matched through *_key columns holding them lower-cased by the
-- service (Unicode rules), compared exactly.

CREATE TABLE users (
  id         TEXT NOT NULL PRIMARY KEY,
  email      TEXT NOT NULL,
  email_key  TEXT NOT NULL,
  name       TEXT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX users_email ON users (email_key, updated_at);

CREATE TABLE workspaces (
  id         TEXT NOT NULL PRIMARY KEY,
  name       TEXT NOT NULL,
  plan       TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE TABLE memberships (
  workspace_id TEXT NOT NULL REFERENCES workspaces (id),
  user_id      TEXT NOT NULL REFERENCES users (id),
  role         TEXT NOT NULL,
  joined_at    INTEGER NOT NULL,
  PRIMARY KEY (workspace_id, user_id)
) WITHOUT ROWID;
CREATE INDEX memberships_user ON memberships (user_id, workspace_id);

CREATE TABLE invite_links (
  id             TEXT NOT NULL PRIMARY KEY,
  workspace_id   TEXT NOT NULL REFERENCES workspaces (id),
  kind           TEXT NOT NULL,
  email          TEXT NULL,
  role           TEXT NOT NULL,
  token_hash     BLOB NOT NULL,
  created_by     TEXT NOT NULL REFERENCES users (id),
  created_at     INTEGER NOT NULL,
  expires_at     INTEGER NULL,
  deleted_at     INTEGER NULL,
  used_at        INTEGER NULL,
  accepted_count INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX invite_links_token ON invite_links (token_hash);
CREATE INDEX invite_links_workspace ON invite_links (workspace_id, created_at);
CREATE INDEX invite_links_email ON invite_links (workspace_id, email);

-- The log, clustered by (workspace_id, occurred_at, id): see the MySQL
-- migration for the reasoning behind each index and the *_key columns.
CREATE TABLE audit_events (
  workspace_id  TEXT NOT NULL,
  occurred_at   INTEGER NOT NULL,
  id            TEXT NOT NULL,
  action        TEXT NOT NULL,
  actor_id      TEXT NOT NULL,
  actor_email   TEXT NULL,
  actor_type    TEXT NOT NULL,
  target_type   TEXT NULL,
  target_id     TEXT NULL,
  target_label  TEXT NULL,
  previous_role TEXT NULL,
  role          TEXT NULL,
  ip_address    TEXT NULL,
  user_agent    TEXT NULL,
  request_id    TEXT NULL,
  actor_email_key  TEXT NULL,
  target_label_key TEXT NULL,
  PRIMARY KEY (workspace_id, occurred_at, id)
) WITHOUT ROWID;
CREATE INDEX audit_events_action ON audit_events (workspace_id, action, occurred_at, id);
CREATE INDEX audit_events_actor ON audit_events (workspace_id, actor_id, occurred_at, id);
CREATE INDEX audit_events_actor_email ON audit_events (workspace_id, actor_email_key, occurred_at, id);
CREATE INDEX audit_events_target ON audit_events (workspace_id, target_id, occurred_at, id);
CREATE INDEX audit_events_target_label ON audit_events (workspace_id, target_label_key, occurred_at, id);

CREATE TABLE audit_event_counts (
  workspace_id TEXT NOT NULL,
  hour_start   INTEGER NOT NULL,
  action       TEXT NOT NULL,
  n            INTEGER NOT NULL,
  PRIMARY KEY (workspace_id, hour_start, action)
) WITHOUT ROWID;
