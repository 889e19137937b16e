-- The tamper-evident log (CONTRACT §9): every event gets its place in its
-- workspace's hash chain (sequence 1, 2, 3 … and the SHA-256 of itself and
-- of the event before), and the workspace row keeps the chain's head, next
-- to the lock every event-writing transaction already takes. Hashes are 32
-- raw bytes: half the width of hex text, and export speed follows row width.
-- The data step (backfillChains, in Go) chains the events already there,
-- oldest first per workspace, in bounded batches that a rerun resumes, and
-- then makes the columns NOT NULL, so that an event cannot be written
-- outside the chain.

ALTER TABLE audit_events ADD COLUMN sequence BIGINT NULL, ADD COLUMN prev_hash BINARY(32) NULL, ADD COLUMN hash BINARY(32) NULL, ADD UNIQUE KEY audit_events_sequence (workspace_id, sequence);
ALTER TABLE workspaces ADD COLUMN chain_sequence BIGINT NOT NULL DEFAULT 0, ADD COLUMN chain_hash BINARY(32) NULL, ADD COLUMN chain_at BIGINT NOT NULL DEFAULT 0, ADD COLUMN chain_pruned_through BIGINT NOT NULL DEFAULT 0;
ALTER TABLE audit_exports ADD COLUMN head_sequence BIGINT NOT NULL DEFAULT 0, ADD COLUMN head_hash BINARY(32) NULL;
