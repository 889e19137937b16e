-- users.version: see the MySQL migration. SQLite has one writer at a time,
-- so it changes nothing there; the column keeps the dialects alike.
ALTER TABLE users ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
