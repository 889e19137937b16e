package store

import (
	"context"
	"testing"

	"github.com/auditlogd/auditlogd/internal/testenv"
)

// TestReadyReadsATable: readiness asks what requests need, a read of a
// table, not just an answer. A database that answers a ping but whose table
// cannot be read (here: renamed away; on Galera: a node without quorum, see
// the Galera tests) is not ready; once the table is back it is again.
func TestReadyReadsATable(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, tdb testenv.DB) {
		db := open(t, tdb)
		ctx := context.Background()
		if err := db.Ready(ctx); err != nil {
			t.Fatalf("Ready on a migrated database: %v", err)
		}
		exec := func(q string) {
			t.Helper()
			if err := db.write.WithContext(ctx).Exec(q).Error; err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		exec("ALTER TABLE schema_migrations RENAME TO schema_migrations_away")
		if err := db.Ping(ctx); err != nil {
			t.Fatalf("Ping: %v", err)
		}
		if err := db.Ready(ctx); err == nil {
			t.Error("Ready with the table gone: nil, want an error (a ping still answers)")
		}
		exec("ALTER TABLE schema_migrations_away RENAME TO schema_migrations")
		if err := db.Ready(ctx); err != nil {
			t.Errorf("Ready with the table back: %v", err)
		}
		db.Close()
		if err := db.Ready(ctx); err == nil {
			t.Error("Ready on a closed database: nil, want an error")
		}
	})
}

// TestReadyNeedsTheSchema: a database that was never migrated is not ready.
func TestReadyNeedsTheSchema(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, tdb testenv.DB) {
		db, err := Open(context.Background(), tdb.URL, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.Ready(context.Background()); err == nil {
			t.Error("Ready before any migration: nil, want an error")
		}
	})
}
