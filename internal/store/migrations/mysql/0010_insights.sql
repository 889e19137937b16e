-- Insights (docs/API.md §14): each event's advisory flags, the workspace's
-- trusted domains, and what the write path and the summary read.
--
-- audit_events.flags is the flag set (insight.Set, one bit per flag),
-- decided when the event is written and never changed. The filter by flags
-- scans audit_events_flags: flags IN (every set that shares a bit with the
-- filter) is a handful of ranges of (flags, occurred_at, id), each read in
-- page order, like the filter by actions.
ALTER TABLE audit_events ADD COLUMN flags TINYINT UNSIGNED NOT NULL DEFAULT 0, ADD KEY audit_events_flags (workspace_id, flags, occurred_at, id);
-- The workspace's trusted domains, canonical, comma-separated; NULL or ''
-- for none (then its admins' domains are trusted).
ALTER TABLE workspaces ADD COLUMN trusted_domains TEXT NULL;
-- The hourly counters hold two kinds of rows, each in its own range of the
-- key: kind 'e', by action and flag set (what counts and the summary's
-- totals read; every existing row is of this kind, with no flags), and kind
-- 'a', by actor (the summary's top actors; action '' and flags 0). One table,
-- so that an event's transaction bumps both in one statement.
ALTER TABLE audit_event_counts ADD COLUMN kind CHAR(1) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT 'e', ADD COLUMN flags TINYINT UNSIGNED NOT NULL DEFAULT 0, ADD COLUMN actor_type VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT '', ADD COLUMN actor_id VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT '', DROP PRIMARY KEY, ADD PRIMARY KEY (workspace_id, kind, hour_start, action, flags, actor_type, actor_id);
INSERT INTO audit_event_counts (workspace_id, kind, hour_start, action, flags, actor_type, actor_id, n) SELECT workspace_id, 'a', occurred_at - occurred_at % 3600000, '', 0, actor_type, actor_id, COUNT(*) FROM audit_events GROUP BY workspace_id, occurred_at - occurred_at % 3600000, actor_type, actor_id;
-- The networks (IPv4 /24, IPv6 /64) each actor acted from in a workspace,
-- and when last, for NEW_LOCATION. Learned from events written from now on.
CREATE TABLE actor_networks (
  workspace_id CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  actor_id     VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  network      VARCHAR(50) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  last_seen    BIGINT NOT NULL,
  PRIMARY KEY (workspace_id, actor_id, network)
) ENGINE=InnoDB;
