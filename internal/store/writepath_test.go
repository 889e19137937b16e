package store

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/ids"
	"github.com/auditlogd/auditlogd/internal/testenv"
	"github.com/auditlogd/auditlogd/internal/workspace"
)

// testClock is a settable clock that moves only when the test moves it.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// openWithClock opens and migrates db with the store's clock set to c.
func openWithClock(t *testing.T, db testenv.DB, c *testClock) *DB {
	t.Helper()
	s, err := Open(context.Background(), db.URL, Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestAppendEventsNeedsTheLock shows the store's write-path rule: events are
// appended only inside a transaction that locked (or created) their
// workspace, stamped no earlier than the clock reading taken after the lock.
// Every refusal writes nothing, even when the caller ignores the error and
// commits.
func TestAppendEventsNeedsTheLock(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, tdb testenv.DB) {
		clock := &testClock{now: time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)}
		db := openWithClock(t, tdb, clock)
		ctx := context.Background()
		newWorkspace := func() string {
			now := clock.Now()
			w := workspace.Workspace{ID: ids.New(now), Name: "W", Plan: workspace.PlanFree, CreatedAt: now, UpdatedAt: now}
			if err := db.Bulk().InsertWorkspaces(ctx, []workspace.Workspace{w}); err != nil {
				t.Fatal(err)
			}
			return w.ID
		}
		event := func(ws string, at time.Time) audit.Event {
			return audit.Event{ID: ids.New(at), WorkspaceID: ws, Action: audit.MemberAdded, OccurredAt: at,
				Actor: audit.Actor{ID: "u1", Type: audit.ActorUser}}
		}
		// appendIn runs body in a transaction of the workspace store and
		// returns AppendEvents' error; the transaction commits either way.
		appendIn := func(body func(tx workspace.Store) []audit.Event) error {
			var appendErr error
			err := db.Workspaces().InTx(ctx, func(tx workspace.Store) error {
				appendErr = tx.AppendEvents(ctx, body(tx)...)
				return nil
			})
			if err != nil {
				t.Fatalf("transaction: %v", err)
			}
			return appendErr
		}
		lock := func(tx workspace.Store, ws string) workspace.Locked {
			lk, err := tx.LockWorkspace(ctx, ws, "u1")
			if err != nil {
				t.Fatalf("LockWorkspace: %v", err)
			}
			return lk
		}

		for _, tc := range []struct {
			name   string
			accept bool
			// run appends events of the workspaces ws and other, and
			// returns AppendEvents' error.
			run func(ws, other string) error
		}{
			{"outside-a-transaction", false, func(ws, _ string) error {
				return db.Workspaces().AppendEvents(ctx, event(ws, clock.Now()))
			}},
			{"outside-a-transaction-events-store", false, func(ws, _ string) error {
				return db.Events().AppendEvents(ctx, event(ws, clock.Now()))
			}},
			{"transaction-without-a-lock", false, func(ws, _ string) error {
				return appendIn(func(workspace.Store) []audit.Event { return []audit.Event{event(ws, clock.Now())} })
			}},
			{"another-workspace-locked", false, func(ws, other string) error {
				return appendIn(func(tx workspace.Store) []audit.Event {
					lk := lock(tx, other)
					return []audit.Event{event(ws, lk.Now)}
				})
			}},
			{"one-unlocked-event-refuses-all", false, func(ws, other string) error {
				return appendIn(func(tx workspace.Store) []audit.Event {
					lk := lock(tx, ws)
					return []audit.Event{event(ws, lk.Now), event(other, lk.Now)}
				})
			}},
			{"stamped-a-millisecond-before-the-lock", false, func(ws, _ string) error {
				return appendIn(func(tx workspace.Store) []audit.Event {
					lk := lock(tx, ws)
					return []audit.Event{event(ws, lk.Now.Add(-time.Millisecond))}
				})
			}},
			{"clock-read-before-the-lock", false, func(ws, _ string) error {
				return appendIn(func(tx workspace.Store) []audit.Event {
					early := clock.Now()
					clock.Advance(time.Second) // the lock waited
					lock(tx, ws)
					return []audit.Event{event(ws, early)}
				})
			}},
			{"lock-of-a-missing-workspace-does-not-count", false, func(ws, _ string) error {
				return appendIn(func(tx workspace.Store) []audit.Event {
					missing := ids.New(clock.Now())
					if _, err := tx.LockWorkspace(ctx, missing, "u1"); err == nil {
						t.Errorf("locked a missing workspace")
					}
					return []audit.Event{event(missing, clock.Now())}
				})
			}},
			{"after-LockWorkspace", true, func(ws, _ string) error {
				return appendIn(func(tx workspace.Store) []audit.Event {
					lk := lock(tx, ws)
					return []audit.Event{event(ws, lk.Now)}
				})
			}},
			{"after-LockWorkspace-later-stamp", true, func(ws, _ string) error {
				return appendIn(func(tx workspace.Store) []audit.Event {
					lk := lock(tx, ws)
					return []audit.Event{event(ws, lk.Now.Add(time.Minute))}
				})
			}},
			{"after-LockWorkspace-of-the-events-store", true, func(ws, _ string) error {
				var appendErr error
				err := db.Events().InTx(ctx, func(tx audit.ExportStore) error {
					lk, err := tx.LockWorkspace(ctx, ws, "u1")
					if err != nil {
						return err
					}
					appendErr = tx.AppendEvents(ctx, event(ws, lk.Now))
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				return appendErr
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ws, other := newWorkspace(), newWorkspace()
				clock.Advance(time.Minute)
				err := tc.run(ws, other)
				if tc.accept != (err == nil) {
					t.Errorf("AppendEvents: %v, want accepted %v", err, tc.accept)
				}
				want := 0
				if tc.accept {
					want = 1
				}
				for _, id := range []string{ws, other} {
					res, err := db.Events().ListEvents(ctx, audit.Query{WorkspaceID: id, Limit: 10})
					if err != nil {
						t.Fatal(err)
					}
					if id == other {
						want = 0
					}
					if len(res.Events) != want {
						t.Errorf("workspace %s holds %d events, want %d", id, len(res.Events), want)
					}
				}
			})
		}

		// CreateWorkspace counts as the lock: its returned time stamps the
		// transaction's events.
		t.Run("after-CreateWorkspace", func(t *testing.T) {
			now := clock.Now()
			w := workspace.Workspace{ID: ids.New(now), Name: "New", Plan: workspace.PlanFree, CreatedAt: now, UpdatedAt: now}
			var early, onTime error
			err := db.Workspaces().InTx(ctx, func(tx workspace.Store) error {
				at, err := tx.CreateWorkspace(ctx, w)
				if err != nil {
					return err
				}
				early = tx.AppendEvents(ctx, event(w.ID, at.Add(-time.Millisecond)))
				onTime = tx.AppendEvents(ctx, event(w.ID, at))
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if early == nil || onTime != nil {
				t.Errorf("stamped before the creation: %v (want a refusal); at it: %v (want nil)", early, onTime)
			}
		})

		// A lock ends with its transaction: the next one must lock again.
		t.Run("lock-does-not-outlive-its-transaction", func(t *testing.T) {
			ws := newWorkspace()
			if err := db.Workspaces().InTx(ctx, func(tx workspace.Store) error {
				_, err := tx.LockWorkspace(ctx, ws, "u1")
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if err := appendIn(func(workspace.Store) []audit.Event { return []audit.Event{event(ws, clock.Now())} }); err == nil {
				t.Errorf("a new transaction appended without its own lock")
			}
		})
	})
}
