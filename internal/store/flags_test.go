package store

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/ids"
	"github.com/auditlogd/auditlogd/internal/insight"
	"github.com/auditlogd/auditlogd/internal/testenv"
	"github.com/auditlogd/auditlogd/internal/workspace"
)

// These tests show decideFlags where the e2e tests cannot reach exactly: the
// BURST window's inclusive edge to the millisecond, and events of one
// transaction counting for the ones after them.

// fxAppend appends events made by mk (given the lock's time) in one
// transaction that locked ws, and returns them as the store flagged them.
func fxAppend(t *testing.T, db *DB, ws string, mk func(now time.Time) []audit.Event) []audit.Event {
	t.Helper()
	ctx := context.Background()
	var events []audit.Event
	err := db.Workspaces().InTx(ctx, func(tx workspace.Store) error {
		lk, err := tx.LockWorkspace(ctx, ws, "")
		if err != nil {
			return err
		}
		events = mk(lk.Now)
		return tx.AppendEvents(ctx, events...)
	})
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	res, err := db.Events().ListEvents(ctx, audit.Query{WorkspaceID: ws, Limit: 100, Descending: true})
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Event
	for _, e := range events {
		i := slices.IndexFunc(res.Events, func(r audit.Event) bool { return r.ID == e.ID })
		if i < 0 {
			t.Fatalf("event %s not in the log", e.ID)
		}
		out = append(out, res.Events[i])
	}
	return out
}

func fxWorkspace(t *testing.T, db *DB, now time.Time) string {
	t.Helper()
	w := workspace.Workspace{ID: ids.New(now), Name: "W", Plan: workspace.PlanBusiness, CreatedAt: now, UpdatedAt: now}
	if err := db.Bulk().InsertWorkspaces(context.Background(), []workspace.Workspace{w}); err != nil {
		t.Fatal(err)
	}
	return w.ID
}

// fxEvent is a user-management event by actor from addr ("" for none).
func fxEvent(ws, actor, addr string, at time.Time) audit.Event {
	e := audit.Event{ID: ids.New(at), WorkspaceID: ws, Action: audit.MemberRemoved, OccurredAt: at,
		Actor: audit.Actor{ID: actor, Type: audit.ActorUser}, Target: &audit.Target{Type: audit.TargetUser, ID: "someone"}}
	if addr != "" {
		e.IPAddress = &addr
	}
	return e
}

func TestBurstWindowEdgeToTheMillisecond(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, tdb testenv.DB) {
		t0 := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
		for _, tc := range []struct {
			name  string
			tenth time.Duration // after the first
			burst bool
		}{
			{"first-exactly-ten-minutes-before-counts", 10 * time.Minute, true},
			{"first-a-millisecond-more-does-not", 10*time.Minute + time.Millisecond, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				clock := &testClock{now: t0}
				db := openWithClock(t, tdb, clock)
				ws := fxWorkspace(t, db, t0)
				// Nine events, each a transaction, at t0 and the eight
				// milliseconds after it (each event is stamped at least a
				// millisecond after the one before).
				var times []time.Time
				for range 9 {
					e := fxAppend(t, db, ws, func(now time.Time) []audit.Event { return []audit.Event{fxEvent(ws, "u1", "", now)} })
					if !e[0].FlagSet.Empty() {
						t.Errorf("event %d flagged %v", len(times)+1, e[0].Flags())
					}
					times = append(times, e[0].OccurredAt)
				}
				if !times[0].Equal(t0) || !times[8].Equal(t0.Add(8*time.Millisecond)) {
					t.Fatalf("the nine events are at %v … %v, want t0 … t0+8ms", times[0], times[8])
				}
				clock.Advance(tc.tenth)
				e := fxAppend(t, db, ws, func(now time.Time) []audit.Event { return []audit.Event{fxEvent(ws, "u1", "", now)} })
				if !e[0].OccurredAt.Equal(t0.Add(tc.tenth)) {
					t.Fatalf("the tenth event is at %v, want %v", e[0].OccurredAt, t0.Add(tc.tenth))
				}
				if got := e[0].FlagSet.Has(insight.Burst); got != tc.burst {
					t.Errorf("tenth event %v after the first: BURST %v, want %v", tc.tenth, got, tc.burst)
				}
			})
		}
	})
}

// TestFlagsCountTheTransactionsEarlierEvents: events appended together are
// decided in order, each seeing the ones before it.
func TestFlagsCountTheTransactionsEarlierEvents(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, tdb testenv.DB) {
		t0 := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
		clock := &testClock{now: t0}
		db := openWithClock(t, tdb, clock)
		ws := fxWorkspace(t, db, t0)
		got := fxAppend(t, db, ws, func(now time.Time) []audit.Event {
			var es []audit.Event
			for i := range 11 {
				addr := "203.0.113.7"
				switch i {
				case 4:
					addr = "198.51.100.1" // a new network, after the first event
				case 5:
					addr = "198.51.100.2" // seen, in this transaction
				}
				es = append(es, fxEvent(ws, "u1", addr, now))
			}
			return es
		})
		for i, e := range got {
			var want []insight.Flag
			if i == 4 {
				want = append(want, insight.NewLocation)
			}
			if i >= 9 {
				want = append(want, insight.Burst)
			}
			want = insight.SetOf(want...).Flags()
			if !slices.Equal(e.Flags(), want) {
				t.Errorf("event %d of the transaction: flags %v, want %v", i+1, e.Flags(), want)
			}
		}
		// The next transaction sees them all: a burst still, and both
		// networks seen.
		clock.Advance(time.Minute)
		for i, addr := range []string{"198.51.100.9", "203.0.113.99", "192.0.2.1"} {
			e := fxAppend(t, db, ws, func(now time.Time) []audit.Event { return []audit.Event{fxEvent(ws, "u1", addr, now)} })
			want := []insight.Flag{insight.Burst}
			if i == 2 {
				want = []insight.Flag{insight.Burst, insight.NewLocation}
			}
			if !slices.Equal(e[0].Flags(), want) {
				t.Errorf("from %s: flags %v, want %v", addr, e[0].Flags(), want)
			}
		}
	})
}
