-- Log streams (CONTRACT §11): a workspace's log pushed to a partner's
-- endpoint. The events table is the outbox: a stream keeps only how far it
-- has delivered (delivered_through, a sequence) and its health; the
-- deliverer reads the events after it. The signing secret is sealed
-- (AES-256-GCM under a key derived from AUDITLOG_EXPORT_SECRET).

CREATE TABLE log_streams (
  id                   BINARY(26) NOT NULL,
  workspace_id         BINARY(26) NOT NULL,
  url                  VARCHAR(2048) NOT NULL,
  description          VARCHAR(500) NULL,
  secret               VARBINARY(256) NOT NULL,
  created_by           VARBINARY(764) NOT NULL,
  created_at           BIGINT NOT NULL,
  deleted_at           BIGINT NULL,
  status               VARCHAR(16) CHARACTER SET ascii NOT NULL,
  delivered_through    BIGINT NOT NULL,
  last_delivery_at     BIGINT NULL,
  last_error           VARCHAR(300) NULL,
  consecutive_failures INT NOT NULL DEFAULT 0,
  next_attempt_at      BIGINT NOT NULL DEFAULT 0,
  version              BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (id),
  KEY log_streams_workspace (workspace_id, created_at),
  KEY log_streams_live (deleted_at, id),
  CONSTRAINT log_streams_workspace_fk FOREIGN KEY (workspace_id) REFERENCES workspaces (id),
  CONSTRAINT log_streams_creator_fk FOREIGN KEY (created_by) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
