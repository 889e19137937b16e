-- Export requests. The download URL is signed over (id, expires_at); the
-- snapshot is the position of the export's own AUDIT_LOG_EXPORTED event: the
-- file holds the matching events strictly before it.
CREATE TABLE audit_exports (
  id                  CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  workspace_id        CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  requested_by        VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  format              VARCHAR(8) CHARACTER SET ascii NOT NULL,
  filter              TEXT NOT NULL,
  snapshot_at         BIGINT NOT NULL,
  snapshot_event_id   CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  created_at          BIGINT NOT NULL,
  expires_at          BIGINT NOT NULL,
  PRIMARY KEY (id),
  KEY audit_exports_expiry (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
