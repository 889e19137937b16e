package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
)

//go:embed migrations
var migrationFiles embed.FS

// migration is one numbered SQL file of a dialect's set.
type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations(d Dialect) ([]migration, error) {
	dir := path.Join("migrations", string(d))
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(name, ".sql") {
			return nil, fmt.Errorf("migration %s: name must be NNNN_description.sql", name)
		}
		b, err := fs.ReadFile(migrationFiles, path.Join(dir, name))
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: name, sql: string(b)})
	}
	slices.SortFunc(out, func(a, b migration) int { return a.version - b.version })
	return out, nil
}

// statements splits a migration into statements: each ends with a semicolon
// at the end of a line. Comment lines are dropped.
func statements(sql string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(sql, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(trimmed, ";") {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

// Migrate applies the pending migrations of the dialect, in order, and
// returns the names of those it applied. On MySQL a named lock keeps two
// replicas that start together from migrating at once.
func (db *DB) Migrate(ctx context.Context) ([]string, error) {
	migs, err := loadMigrations(db.dialect)
	if err != nil {
		return nil, err
	}
	g := db.write.WithContext(ctx)
	if db.dialect == MySQL {
		// GET_LOCK is per connection: pin one for the whole run.
		var applied []string
		err := g.Connection(func(tx *gorm.DB) error {
			var got int
			if err := tx.Raw("SELECT GET_LOCK('auditlogd_migrate', 60)").Row().Scan(&got); err != nil {
				return err
			}
			if got != 1 {
				return fmt.Errorf("another process holds the migration lock")
			}
			defer tx.Exec("SELECT RELEASE_LOCK('auditlogd_migrate')")
			applied, err = apply(tx, migs, false)
			return err
		})
		return applied, err
	}
	return apply(g, migs, true)
}

// apply runs the migrations not yet recorded. With transactional DDL (SQLite)
// each migration commits as a whole or not at all; MySQL commits DDL
// statement by statement, which is why its migrations are kept small.
func apply(g *gorm.DB, migs []migration, transactional bool) ([]string, error) {
	if err := g.Exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL, applied_at BIGINT NOT NULL)").Error; err != nil {
		return nil, fmt.Errorf("create schema_migrations: %w", err)
	}
	var done []int
	if err := g.Raw("SELECT version FROM schema_migrations").Scan(&done).Error; err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	var applied []string
	for _, m := range migs {
		if slices.Contains(done, m.version) {
			continue
		}
		run := func(tx *gorm.DB) error {
			for _, stmt := range statements(m.sql) {
				if err := tx.Exec(stmt).Error; err != nil {
					return err
				}
			}
			return tx.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
				m.version, m.name, time.Now().UnixMilli()).Error
		}
		var err error
		if transactional {
			err = g.Transaction(run)
		} else {
			err = run(g)
		}
		if err != nil {
			return applied, fmt.Errorf("migration %s: %w", m.name, err)
		}
		applied = append(applied, m.name)
	}
	return applied, nil
}
