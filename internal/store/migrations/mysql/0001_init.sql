-- auditlogd schema, MySQL/MariaDB. Times are Unix milliseconds (BIGINT, UTC):
-- exact, compact, and sorted the same way on every dialect.

CREATE TABLE users (
  id         VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  email      VARCHAR(320) NOT NULL,
  -- email lower-cased, compared as bytes: addMember must find exactly this
  -- address, not one that differs by an accent (see audit_events).
  email_key  VARBINARY(1280) NOT NULL,
  name       VARCHAR(200) NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (id),
  KEY users_email (email_key, updated_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE workspaces (
  id         CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  name       VARCHAR(100) NOT NULL,
  plan       VARCHAR(16) CHARACTER SET ascii NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE memberships (
  workspace_id CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  user_id      VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  role         VARCHAR(16) CHARACTER SET ascii NOT NULL,
  joined_at    BIGINT NOT NULL,
  PRIMARY KEY (workspace_id, user_id),
  KEY memberships_user (user_id, workspace_id),
  CONSTRAINT memberships_workspace_fk FOREIGN KEY (workspace_id) REFERENCES workspaces (id),
  CONSTRAINT memberships_user_fk FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE invite_links (
  id             CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  workspace_id   CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  kind           VARCHAR(16) CHARACTER SET ascii NOT NULL,
  -- stored lower-cased; bytes, so that only the exact address matches
  email          VARBINARY(1280) NULL,
  role           VARCHAR(16) CHARACTER SET ascii NOT NULL,
  token_hash     BINARY(32) NOT NULL,
  created_by     VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  created_at     BIGINT NOT NULL,
  expires_at     BIGINT NULL,
  deleted_at     BIGINT NULL,
  used_at        BIGINT NULL,
  accepted_count INT NOT NULL DEFAULT 0,
  PRIMARY KEY (id),
  UNIQUE KEY invite_links_token (token_hash),
  KEY invite_links_workspace (workspace_id, created_at),
  KEY invite_links_email (workspace_id, email),
  CONSTRAINT invite_links_workspace_fk FOREIGN KEY (workspace_id) REFERENCES workspaces (id),
  CONSTRAINT invite_links_creator_fk FOREIGN KEY (created_by) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The log. The clustered primary key keeps each workspace's events together in
-- (occurred_at, id) order, which is the order of every page; each secondary
-- index serves one filter and ends with the same order, so a filtered page is a
-- short range scan too. The *_key columns hold the email and label
-- lower-cased (by the service, with Unicode rules) as bytes: the email
-- filters are exact but ignore case, the same on every database, where a _ci
-- collation would also ignore accents, and any PAD SPACE collation (utf8mb4_bin
-- included) trailing spaces. No
-- foreign keys: the log is append-only and must outlive what it describes.
CREATE TABLE audit_events (
  workspace_id  CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  occurred_at   BIGINT NOT NULL,
  id            CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  action        VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  actor_id      VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  actor_email   VARCHAR(320) NULL,
  actor_type    VARCHAR(16) CHARACTER SET ascii NOT NULL,
  target_type   VARCHAR(16) CHARACTER SET ascii NULL,
  target_id     VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
  target_label  VARCHAR(320) NULL,
  previous_role VARCHAR(16) CHARACTER SET ascii NULL,
  role          VARCHAR(16) CHARACTER SET ascii NULL,
  ip_address    VARCHAR(45) CHARACTER SET ascii NULL,
  user_agent    VARCHAR(512) NULL,
  request_id    VARCHAR(64) CHARACTER SET ascii NULL,
  actor_email_key  VARBINARY(1280) NULL,
  target_label_key VARBINARY(1280) NULL,
  PRIMARY KEY (workspace_id, occurred_at, id),
  KEY audit_events_action (workspace_id, action, occurred_at, id),
  KEY audit_events_actor (workspace_id, actor_id, occurred_at, id),
  KEY audit_events_actor_email (workspace_id, actor_email_key, occurred_at, id),
  KEY audit_events_target (workspace_id, target_id, occurred_at, id),
  KEY audit_events_target_label (workspace_id, target_label_key, occurred_at, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Exact per-hour counts per action, maintained in the event's own
-- transaction, so totalCount sums at most a few thousand rows instead of
-- counting millions of events.
CREATE TABLE audit_event_counts (
  workspace_id CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  hour_start   BIGINT NOT NULL,
  action       VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  n            BIGINT NOT NULL,
  PRIMARY KEY (workspace_id, hour_start, action)
) ENGINE=InnoDB;
