-- Leases for background work (CONTRACT §12): one row per job, so that with
-- many replicas each job runs on one. owner holds the lease until expires_at,
-- by the database's clock (Unix ms, UTC); a replica's clock is never
-- consulted. token increases on every acquisition and fences the holder's
-- writes. version increases on every write of the row, so that each
-- conditional UPDATE changes it: MySQL reports only changed rows as affected,
-- and Galera certifies, and so orders against rival nodes, only rows that
-- change. A global table: on a sharded database (Vitess) it lives unsharded.
CREATE TABLE leases (
  name        VARCHAR(100) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  owner       VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  token       BIGINT NOT NULL,
  version     BIGINT NOT NULL,
  acquired_at BIGINT NOT NULL,
  renewed_at  BIGINT NOT NULL,
  expires_at  BIGINT NOT NULL,
  PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
