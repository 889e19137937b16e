-- Identity hardening (security review, issue 14).
--
-- 1. Ids compare byte for byte. utf8mb4_bin and ascii_bin are PAD SPACE
--    collations: 'demo-alice ' = 'demo-alice', so a token whose sub had a
--    trailing space became Alice. User ids are now VARBINARY and the
--    service's own ids (ULIDs, always 26 characters) BINARY(26): binary
--    strings compare every byte. The foreign keys are dropped and made again
--    around the type changes, which MySQL requires. Each statement is one
--    ALTER; a rerun after a failure resumes at the statement that failed.
-- 2. users.email_verified: only verified emails are ever matched (addMember,
--    email invites). Existing users count as unverified until their next
--    request refreshes the flag from their token.
-- 3. workspaces.created_by bounds how many workspaces one user creates a day.
-- The data step (rekeyEmails, in Go) then recomputes every email key in the
-- one canonical form.

ALTER TABLE memberships DROP FOREIGN KEY memberships_user_fk, DROP FOREIGN KEY memberships_workspace_fk;
ALTER TABLE invite_links DROP FOREIGN KEY invite_links_creator_fk, DROP FOREIGN KEY invite_links_workspace_fk;
ALTER TABLE users MODIFY id VARBINARY(764) NOT NULL, ADD COLUMN email_verified BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE workspaces MODIFY id BINARY(26) NOT NULL, ADD COLUMN created_by VARBINARY(764) NULL, ADD KEY workspaces_creator (created_by, created_at);
ALTER TABLE memberships MODIFY workspace_id BINARY(26) NOT NULL, MODIFY user_id VARBINARY(764) NOT NULL;
ALTER TABLE invite_links MODIFY id BINARY(26) NOT NULL, MODIFY workspace_id BINARY(26) NOT NULL, MODIFY created_by VARBINARY(764) NOT NULL;
ALTER TABLE memberships ADD CONSTRAINT memberships_workspace_fk FOREIGN KEY (workspace_id) REFERENCES workspaces (id), ADD CONSTRAINT memberships_user_fk FOREIGN KEY (user_id) REFERENCES users (id);
ALTER TABLE invite_links ADD CONSTRAINT invite_links_workspace_fk FOREIGN KEY (workspace_id) REFERENCES workspaces (id), ADD CONSTRAINT invite_links_creator_fk FOREIGN KEY (created_by) REFERENCES users (id);
ALTER TABLE audit_events MODIFY workspace_id BINARY(26) NOT NULL, MODIFY id BINARY(26) NOT NULL, MODIFY actor_id VARBINARY(764) NOT NULL, MODIFY target_id VARBINARY(764) NULL;
ALTER TABLE audit_event_counts MODIFY workspace_id BINARY(26) NOT NULL;
ALTER TABLE audit_exports MODIFY id BINARY(26) NOT NULL, MODIFY workspace_id BINARY(26) NOT NULL, MODIFY requested_by VARBINARY(764) NOT NULL, MODIFY snapshot_event_id BINARY(26) NOT NULL;
