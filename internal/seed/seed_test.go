package seed_test

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"strings"
	"testing"
	"time"

	_ "github.com/glebarez/go-sqlite"
	_ "github.com/go-sql-driver/mysql"

	"github.com/auditlogd/auditlogd/internal/ids"
	"github.com/auditlogd/auditlogd/internal/integrity"
	"github.com/auditlogd/auditlogd/internal/seed"
	"github.com/auditlogd/auditlogd/internal/store"
	"github.com/auditlogd/auditlogd/internal/testenv"
)

// TestSeedIsValidAndComplete seeds a small database and checks it from the
// tables: the workspaces and event count it reports, the skew, the admin of
// every workspace, events inside the window with the promised mix, every
// actor and target real, hourly counters that agree with the events, and
// every workspace's hash chain in time order, verifying.
func TestSeedIsValidAndComplete(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, tdb testenv.DB) {
		ctx := context.Background()
		db, err := store.Open(ctx, tdb.URL, store.Options{QueryTimeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		const workspaces, events = 6, 10000
		res, err := seed.Run(ctx, db.Bulk(), seed.Options{Workspaces: workspaces, Events: events, AdminSub: "bench-admin",
			AdminEmail: "bench@example.com", Window: 90 * 24 * time.Hour, Now: now, Workers: 2, Batch: 250, Seed: 7})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Workspaces) != workspaces || res.Events != events || res.Largest != res.Workspaces[0] {
			t.Fatalf("result %+v", res)
		}
		conn := openSQL(t, tdb)
		one := func(q string, args ...any) int {
			t.Helper()
			var n int
			if err := conn.QueryRow(q, args...).Scan(&n); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			return n
		}
		if n := one("SELECT COUNT(*) FROM audit_events"); n != events {
			t.Errorf("%d events in the table, want %d", n, events)
		}
		if n := one("SELECT COUNT(*) FROM audit_events WHERE workspace_id = ?", res.Largest); n != events/2 {
			t.Errorf("the largest workspace holds %d events, want half: %d", n, events/2)
		}
		if n := one("SELECT COUNT(*) FROM workspaces WHERE plan = 'BUSINESS'"); n != workspaces {
			t.Errorf("%d BUSINESS workspaces, want %d", n, workspaces)
		}
		if n := one("SELECT COUNT(*) FROM memberships WHERE user_id = 'bench-admin' AND role = 'ADMIN'"); n != workspaces {
			t.Errorf("bench-admin is ADMIN of %d workspaces, want %d", n, workspaces)
		}
		oldest := now.Add(-90 * 24 * time.Hour).UnixMilli()
		if n := one("SELECT COUNT(*) FROM audit_events WHERE occurred_at < ? OR occurred_at > ?", oldest, now.UnixMilli()); n != 0 {
			t.Errorf("%d events outside the retention window", n)
		}
		if n := one(`SELECT COUNT(*) FROM audit_events e WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = e.actor_id)`); n != 0 {
			t.Errorf("%d events whose actor is no user", n)
		}
		if n := one(`SELECT COUNT(*) FROM audit_events e WHERE e.target_type = 'USER' AND NOT EXISTS (
			SELECT 1 FROM memberships m WHERE m.user_id = e.target_id AND m.workspace_id = e.workspace_id)`); n != 0 {
			t.Errorf("%d events target a user who is not a member of the workspace", n)
		}
		if n := one(`SELECT COUNT(*) FROM audit_events e WHERE e.target_type = 'INVITE_LINK' AND NOT EXISTS (
			SELECT 1 FROM invite_links i WHERE i.id = e.target_id AND i.workspace_id = e.workspace_id)`); n != 0 {
			t.Errorf("%d events target an invite that does not exist in the workspace", n)
		}
		if n := one(`SELECT COUNT(*) FROM audit_events WHERE action LIKE 'EMAIL_INVITE%' AND (target_label IS NULL OR target_label NOT LIKE '%@%')`); n != 0 {
			t.Errorf("%d email invite events without the invited email", n)
		}
		for _, a := range seed.ActionMix {
			got := float64(one("SELECT COUNT(*) FROM audit_events WHERE action = ?", string(a.Action))) / events
			if d := got - a.Share; d > 0.02 || d < -0.02 || (a.Share > 0 && got == 0) {
				t.Errorf("%s is %.3f of events, want about %.3f", a.Action, got, a.Share)
			}
		}
		// The counters agree with the events, so totalCount is exact on seeded data.
		rows, err := conn.Query(`SELECT workspace_id, action, SUM(n) FROM audit_event_counts WHERE kind = 'e' GROUP BY workspace_id, action`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var ws, action string
			var n int
			if err := rows.Scan(&ws, &action, &n); err != nil {
				t.Fatal(err)
			}
			if want := one("SELECT COUNT(*) FROM audit_events WHERE workspace_id = ? AND action = ?", ws, action); n != want {
				t.Errorf("counters say %d %s in %s, the table has %d", n, action, ws, want)
			}
		}
		if tdb.Dialect == "mysql" {
			// The secondary indexes dropped for the load are back: one per
			// filter (flags included), and the chain's unique
			// (workspace_id, sequence).
			if n := one(`SELECT COUNT(DISTINCT index_name) FROM information_schema.statistics
				WHERE table_schema = DATABASE() AND table_name = 'audit_events' AND index_name <> 'PRIMARY'`); n != 7 {
				t.Errorf("%d secondary indexes on audit_events after seeding, want 7", n)
			}
			if n := one(`SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE()
				AND table_name = 'audit_events' AND index_name = 'audit_events_sequence' AND non_unique = 0`); n != 2 {
				t.Errorf("audit_events_sequence is not unique on (workspace_id, sequence) after seeding")
			}
		}
		// Every workspace's events form its hash chain in the log's order
		// (docs/API.md §9): sequences 1..N without a gap or a repeat, each the
		// next in (occurred_at, id), every hash recomputing from the one
		// before, up to the head its row keeps.
		if n := one(`SELECT COUNT(*) FROM audit_events a JOIN audit_events b ON b.workspace_id = a.workspace_id AND b.sequence = a.sequence + 1
			WHERE b.occurred_at < a.occurred_at OR (b.occurred_at = a.occurred_at AND b.id < a.id)`); n != 0 {
			t.Errorf("%d events come before the event of the previous sequence in the log's order", n)
		}
		svc := integrity.NewService(db.Events(), nil, integrity.NewSigner(ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))), nil)
		for _, ws := range res.Workspaces {
			n := int64(one("SELECT COUNT(*) FROM audit_events WHERE workspace_id = ?", ws))
			if got := int64(one("SELECT COUNT(DISTINCT sequence) FROM audit_events WHERE workspace_id = ? AND sequence BETWEEN 1 AND ?", ws, n)); got != n {
				t.Errorf("workspace %s: %d distinct sequences in 1..%d", ws, got, n)
			}
			if at, last := one("SELECT chain_at FROM workspaces WHERE id = ?", ws), one("SELECT MAX(occurred_at) FROM audit_events WHERE workspace_id = ?", ws); at != last {
				t.Errorf("workspace %s: the head is at %d, the newest event at %d", ws, at, last)
			}
			v, err := svc.VerifyWorkspace(ctx, ws)
			if err != nil {
				t.Fatal(err)
			}
			if !v.OK || v.CheckedEvents != n || v.Head.Sequence != n || v.FirstSequence == nil || *v.FirstSequence != 1 {
				t.Errorf("workspace %s: the chain of %d events does not verify: %+v", ws, n, v.Result)
			}
		}
		// Every event id is a valid id.
		if n := one("SELECT COUNT(*) FROM audit_events WHERE LENGTH(id) <> 26"); n != 0 {
			t.Errorf("%d malformed ids", n)
		}
		var sample string
		if err := conn.QueryRow("SELECT id FROM audit_events LIMIT 1").Scan(&sample); err != nil || !ids.Valid(sample) {
			t.Errorf("id %q: %v", sample, err)
		}
	})
}

func openSQL(t *testing.T, db testenv.DB) *sql.DB {
	t.Helper()
	driver, dsn := "mysql", strings.TrimPrefix(db.URL, "mysql://")
	if db.Dialect == "sqlite" {
		driver, dsn = "sqlite", strings.TrimPrefix(db.URL, "sqlite://")
	}
	conn, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}
