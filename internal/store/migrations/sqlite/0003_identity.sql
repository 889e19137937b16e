-- Identity hardening (security review, issue 14). SQLite compares TEXT byte
-- for byte already (no padding collations), so only the new columns:
-- users.email_verified (only verified emails are ever matched; existing users
-- count as unverified until their next request refreshes it) and
-- workspaces.created_by (bounds the workspaces one user creates a day). The
-- data step (rekeyEmails, in Go) recomputes every email key canonically.

ALTER TABLE users ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0;
ALTER TABLE workspaces ADD COLUMN created_by TEXT NULL;
CREATE INDEX workspaces_creator ON workspaces (created_by, created_at);
