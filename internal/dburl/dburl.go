// Package dburl parses auditlogd's database URLs (sqlite://PATH or
// mysql://DSN). It is a leaf, so that configuration can validate a URL
// without pulling in the database drivers and GORM.
package dburl

import (
	"errors"
	"fmt"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// Dialect names a supported database.
type Dialect string

// The supported dialects.
const (
	MySQL  Dialect = "mysql"
	SQLite Dialect = "sqlite"
)

// Parse splits a database URL into its dialect and driver DSN, and checks it.
func Parse(raw string) (Dialect, string, error) {
	switch {
	case strings.HasPrefix(raw, "sqlite://"):
		path := strings.TrimPrefix(raw, "sqlite://")
		if path == "" {
			return "", "", errors.New("sqlite:// needs a file path, e.g. sqlite://auditlog.db")
		}
		return SQLite, path, nil
	case strings.HasPrefix(raw, "mysql://"):
		dsn := strings.TrimPrefix(raw, "mysql://")
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			return "", "", fmt.Errorf("mysql DSN: %w", err)
		}
		if cfg.DBName == "" {
			return "", "", errors.New("mysql DSN names no database, e.g. mysql://root@tcp(127.0.0.1:3306)/auditlog")
		}
		return MySQL, dsn, nil
	}
	return "", "", errors.New("must start with sqlite:// or mysql://")
}
