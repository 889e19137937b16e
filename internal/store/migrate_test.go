package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"gorm.io/gorm"

	"github.com/auditlogd/auditlogd/internal/testenv"
)

// Migrations the test feeds to migrate. 0002's second statement names a
// column that does not exist, so it fails after the first statement has
// created a table; creating that table again would fail too, so a rerun
// that repeats the first statement cannot succeed. 0003's statement is
// followed by a Go data step that fails on its first run.
const (
	migBase     = "CREATE TABLE mt_base (id INT NOT NULL PRIMARY KEY);\n"
	migHalf     = "-- creates a table, then indexes a column it does not have\nCREATE TABLE mt_half (id INT NOT NULL PRIMARY KEY);\nCREATE INDEX mt_half_idx ON mt_half (name);\nINSERT INTO mt_half (id) VALUES (1);\n"
	migHalfFix  = "-- fixed: the index is on a column that exists\nCREATE TABLE mt_half (id INT NOT NULL PRIMARY KEY);\nCREATE INDEX mt_half_idx ON mt_half (id);\nINSERT INTO mt_half (id) VALUES (1);\n"
	migDataStep = "CREATE TABLE mt_data (id INT NOT NULL PRIMARY KEY);\n"
)

// migState is what the database says about the test's migrations.
type migState struct {
	Versions []int    // schema_migrations
	Steps    [][2]int // schema_migration_steps: version, statement index
	Tables   []string // which of mt_base, mt_half, mt_data exist
	HalfRows int      // rows in mt_half, -1 if it does not exist
	HalfIdx  bool     // whether mt_half_idx exists
	DataRows int      // rows in mt_data, -1 if it does not exist
}

func readMigState(t *testing.T, db *DB) migState {
	t.Helper()
	g := db.write
	var s migState
	if err := g.Raw("SELECT version FROM schema_migrations ORDER BY version").Scan(&s.Versions).Error; err != nil {
		t.Fatal(err)
	}
	rows, err := g.Raw("SELECT version, step FROM schema_migration_steps ORDER BY version, step").Rows()
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var v [2]int
		if err := rows.Scan(&v[0], &v[1]); err != nil {
			t.Fatal(err)
		}
		s.Steps = append(s.Steps, v)
	}
	rows.Close()
	exists := func(kind, name string) bool {
		var n int
		q := "SELECT COUNT(*) FROM sqlite_master WHERE type = ? AND name = ?"
		args := []any{kind, name}
		if db.dialect == MySQL {
			q = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?"
			args = []any{name}
			if kind == "index" {
				q = "SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE() AND index_name = ?"
			}
		}
		if err := g.Raw(q, args...).Row().Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n > 0
	}
	count := func(table string) int {
		if !exists("table", table) {
			return -1
		}
		var n int
		if err := g.Raw("SELECT COUNT(*) FROM " + table).Row().Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, tb := range []string{"mt_base", "mt_half", "mt_data"} {
		if exists("table", tb) {
			s.Tables = append(s.Tables, tb)
		}
	}
	s.HalfRows, s.DataRows = count("mt_half"), count("mt_data")
	s.HalfIdx = exists("index", "mt_half_idx")
	return s
}

// TestMigrationResumesAfterAFailure feeds migrate a migration that fails
// half way, then the fixed file. On MySQL, whose DDL commits statement by
// statement, the first statement's effect stays and is recorded in
// schema_migration_steps, the version is not recorded, and the rerun resumes
// at the failed statement (the first is not run again: it would fail). On
// SQLite the failed migration leaves nothing behind, and the rerun applies
// it whole. A failing Go data step is resumed the same way.
func TestMigrationResumesAfterAFailure(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, tdb testenv.DB) {
		s, err := Open(context.Background(), tdb.URL, Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		ctx := context.Background()
		dataRuns := 0
		steps := map[int]dataStep{3: func(ctx context.Context, db *gorm.DB, d Dialect) error {
			dataRuns++
			if err := db.Exec("INSERT INTO mt_data (id) VALUES (?)", dataRuns).Error; err != nil {
				return err
			}
			if dataRuns == 1 {
				return errors.New("the backfill was interrupted")
			}
			return nil
		}}
		run := func(half string) ([]string, error) {
			t.Helper()
			fsys := fstest.MapFS{
				"m/0001_base.sql": {Data: []byte(migBase)},
				"m/0002_half.sql": {Data: []byte(half)},
				"m/0003_data.sql": {Data: []byte(migDataStep)},
			}
			migs, err := loadMigrationsFrom(fsys, "m", steps)
			if err != nil {
				t.Fatal(err)
			}
			return s.migrate(ctx, migs)
		}
		mysql := s.dialect == MySQL

		// 1. 0002 fails at its second statement.
		applied, err := run(migHalf)
		if err == nil || !strings.Contains(err.Error(), "0002_half.sql") || !strings.Contains(err.Error(), "statement 2") {
			t.Fatalf("first run: %v; want the failure of 0002_half.sql, statement 2", err)
		}
		if diff := cmp.Diff([]string{"0001_base.sql"}, applied); diff != "" {
			t.Errorf("first run applied (-want +got):\n%s", diff)
		}
		want := migState{Versions: []int{1}, Tables: []string{"mt_base"}, HalfRows: -1, DataRows: -1}
		if mysql {
			want.Steps = [][2]int{{2, 0}}
			want.Tables = []string{"mt_base", "mt_half"}
			want.HalfRows = 0
		}
		if diff := cmp.Diff(want, readMigState(t, s)); diff != "" {
			t.Errorf("after the failure (-want +got):\n%s", diff)
		}

		// 2. The fixed file resumes at the failed statement; then 0003's
		// data step fails after its statement.
		applied, err = run(migHalfFix)
		if err == nil || !strings.Contains(err.Error(), "0003_data.sql") || !strings.Contains(err.Error(), "interrupted") {
			t.Fatalf("second run: %v; want the data step of 0003_data.sql to fail", err)
		}
		if diff := cmp.Diff([]string{"0002_half.sql"}, applied); diff != "" {
			t.Errorf("second run applied (-want +got):\n%s", diff)
		}
		want = migState{Versions: []int{1, 2}, Tables: []string{"mt_base", "mt_half"}, HalfRows: 1, HalfIdx: true, DataRows: -1}
		if mysql {
			want.Steps = [][2]int{{3, 0}}
			want.Tables = []string{"mt_base", "mt_half", "mt_data"}
			want.DataRows = 1 // the interrupted backfill committed its batch
		}
		if diff := cmp.Diff(want, readMigState(t, s)); diff != "" {
			t.Errorf("after the resumed run (-want +got):\n%s", diff)
		}

		// 3. The rerun runs only the data step on MySQL (the table is not
		// created again), all of 0003 on SQLite.
		applied, err = run(migHalfFix)
		if err != nil {
			t.Fatalf("third run: %v", err)
		}
		if diff := cmp.Diff([]string{"0003_data.sql"}, applied); diff != "" {
			t.Errorf("third run applied (-want +got):\n%s", diff)
		}
		want = migState{Versions: []int{1, 2, 3}, Tables: []string{"mt_base", "mt_half", "mt_data"}, HalfRows: 1, HalfIdx: true, DataRows: 1}
		if mysql {
			want.DataRows = 2 // both runs of the data step inserted a row
		}
		if diff := cmp.Diff(want, readMigState(t, s)); diff != "" {
			t.Errorf("after the last run (-want +got):\n%s", diff)
		}
		if dataRuns != 2 {
			t.Errorf("the data step ran %d times, want 2", dataRuns)
		}

		// 4. Nothing is left to do.
		if applied, err := run(migHalfFix); err != nil || len(applied) != 0 {
			t.Errorf("fourth run: %v, %v; want nothing applied", applied, err)
		}
	})
}
