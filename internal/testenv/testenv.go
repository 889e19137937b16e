// Package testenv gives tests real databases: a fresh SQLite file for every
// test, and, when AUDITLOG_TEST_MYSQL_DSN is set, a fresh MySQL/MariaDB
// database too. Tests run once per database through ForEachDB.
package testenv

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-sql-driver/mysql"
)

// MySQLEnv names the variable that points the tests at a MySQL server, as a
// go-sql-driver DSN (a database name in it is ignored): for example
// root@tcp(127.0.0.1:3306)/
const MySQLEnv = "AUDITLOG_TEST_MYSQL_DSN"

// DB is one database a test runs against.
type DB struct {
	// Dialect is "sqlite" or "mysql".
	Dialect string
	// URL is the AUDITLOG_DATABASE_URL of a fresh, empty database.
	URL string
}

// ForEachDB runs fn as a subtest once per available database, each with a
// fresh empty database that is removed when the subtest ends.
func ForEachDB(t *testing.T, fn func(t *testing.T, db DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite(t)) })
	if os.Getenv(MySQLEnv) != "" {
		t.Run("mysql", func(t *testing.T) { fn(t, MySQL(t)) })
	}
}

// SQLite returns a fresh SQLite database in the test's temporary directory.
func SQLite(t testing.TB) DB {
	return DB{Dialect: "sqlite", URL: "sqlite://" + filepath.Join(t.TempDir(), "auditlog.db")}
}

// HasMySQL reports whether MySQL tests are configured.
func HasMySQL() bool { return os.Getenv(MySQLEnv) != "" }

// MySQL creates a fresh database on the configured server and drops it when
// the test ends. It skips the test when no server is configured.
func MySQL(t testing.TB) DB {
	t.Helper()
	dsn := os.Getenv(MySQLEnv)
	if dsn == "" {
		t.Skip(MySQLEnv + " is not set")
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("%s: %v", MySQLEnv, err)
	}
	cfg.DBName = ""
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "auditlog_test_" + hex.EncodeToString(b)
	if _, err := admin.Exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP DATABASE IF EXISTS " + name); err != nil {
			t.Logf("drop test database %s: %v", name, err)
		}
	})
	cfg.DBName = name
	return DB{Dialect: "mysql", URL: "mysql://" + cfg.FormatDSN()}
}
