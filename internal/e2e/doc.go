// Package e2e holds auditlogd's end-to-end tests: the whole service, built
// as the command builds it, served over real HTTP, called with real signed
// JWTs, on a fresh SQLite file and (with AUDITLOG_TEST_MYSQL_DSN) a fresh
// MySQL database. It has no code of its own outside tests.
package e2e
