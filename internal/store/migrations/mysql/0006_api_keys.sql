-- Partner access (CONTRACT §10): API keys of a workspace, stored only as the
-- SHA-256 of their token; and whether an export was requested by a key (its
-- download re-checks that the key is still live).

CREATE TABLE api_keys (
  id           BINARY(26) NOT NULL,
  workspace_id BINARY(26) NOT NULL,
  name         VARCHAR(100) NOT NULL,
  prefix       VARCHAR(12) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  token_hash   BINARY(32) NOT NULL,
  created_by   VARBINARY(764) NOT NULL,
  created_at   BIGINT NOT NULL,
  expires_at   BIGINT NULL,
  last_used_at BIGINT NULL,
  revoked_at   BIGINT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY api_keys_token (token_hash),
  KEY api_keys_workspace (workspace_id, created_at),
  CONSTRAINT api_keys_workspace_fk FOREIGN KEY (workspace_id) REFERENCES workspaces (id),
  CONSTRAINT api_keys_creator_fk FOREIGN KEY (created_by) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
ALTER TABLE audit_exports ADD COLUMN requested_by_key BOOLEAN NOT NULL DEFAULT FALSE;
