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

// migration is one numbered step of a dialect's schema: a SQL file, and
// optionally a data step in Go (goSteps) that runs after its statements.
type migration struct {
	version int
	name    string
	sql     string
	data    dataStep
}

// dataStep is the Go part of a migration: a backfill or re-keying of existing
// rows, in bounded batches. It must be safe to run again after it stopped
// half way (a later run redoes or skips what is done), because MySQL commits
// each batch on its own.
type dataStep func(ctx context.Context, db *gorm.DB, d Dialect) error

// dataSteps are the Go parts of migrations, by version.
var dataSteps = map[int]dataStep{
	3: rekeyEmails,
	4: backfillChains,
}

func loadMigrations(d Dialect) ([]migration, error) {
	return loadMigrationsFrom(migrationFiles, path.Join("migrations", string(d)), dataSteps)
}

func loadMigrationsFrom(fsys fs.FS, dir string, steps map[int]dataStep) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
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
		b, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: name, sql: string(b), data: steps[v]})
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
	return db.migrate(ctx, migs)
}

func (db *DB) migrate(ctx context.Context, migs []migration) ([]string, error) {
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
			var err error
			applied, err = apply(ctx, tx, db.dialect, migs, false)
			return err
		})
		return applied, err
	}
	return apply(ctx, g, db.dialect, migs, true)
}

// apply runs the migrations not yet recorded. With transactional DDL
// (SQLite) each migration commits as a whole or not at all. MySQL commits
// every DDL statement by itself, so there a migration cannot be undone half
// way; instead each statement is recorded in schema_migration_steps as it
// succeeds, and a rerun after a failure (once its cause is fixed) resumes at
// the statement that failed instead of repeating the ones that took effect.
func apply(ctx context.Context, g *gorm.DB, d Dialect, migs []migration, transactional bool) ([]string, error) {
	for _, stmt := range []string{
		"CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL, applied_at BIGINT NOT NULL)",
		"CREATE TABLE IF NOT EXISTS schema_migration_steps (version INTEGER NOT NULL, step INTEGER NOT NULL, PRIMARY KEY (version, step))",
	} {
		if err := g.Exec(stmt).Error; err != nil {
			return nil, fmt.Errorf("create migration tables: %w", err)
		}
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
			var steps []int
			if err := tx.Raw("SELECT step FROM schema_migration_steps WHERE version = ?", m.version).Scan(&steps).Error; err != nil {
				return err
			}
			for i, stmt := range statements(m.sql) {
				if slices.Contains(steps, i) {
					continue // took effect in an earlier, interrupted run
				}
				if err := tx.Exec(stmt).Error; err != nil {
					return fmt.Errorf("statement %d: %w", i+1, err)
				}
				if err := tx.Exec("INSERT INTO schema_migration_steps (version, step) VALUES (?, ?)", m.version, i).Error; err != nil {
					return err
				}
			}
			if m.data != nil {
				if err := m.data(ctx, tx, d); err != nil {
					return fmt.Errorf("data step: %w", err)
				}
			}
			if err := tx.Exec("DELETE FROM schema_migration_steps WHERE version = ?", m.version).Error; err != nil {
				return err
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
