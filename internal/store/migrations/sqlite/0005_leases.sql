-- Leases for background work; see the MySQL migration.
CREATE TABLE leases (
  name        TEXT NOT NULL PRIMARY KEY,
  owner       TEXT NOT NULL,
  token       INTEGER NOT NULL,
  version     INTEGER NOT NULL,
  acquired_at INTEGER NOT NULL,
  renewed_at  INTEGER NOT NULL,
  expires_at  INTEGER NOT NULL
);
