package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/auditlogd/auditlogd/internal/apperr"
	"github.com/auditlogd/auditlogd/internal/ids"
	"github.com/auditlogd/auditlogd/internal/role"
	"github.com/auditlogd/auditlogd/internal/testenv"
	"github.com/auditlogd/auditlogd/internal/workspace"
)

func open(t *testing.T, db testenv.DB) *DB {
	t.Helper()
	return openWith(t, db, Options{})
}

// openWith opens and migrates db with opts.
func openWith(t *testing.T, db testenv.DB, opts Options) *DB {
	t.Helper()
	s, err := Open(context.Background(), db.URL, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestDeadlockIsRetried makes two transactions lock two workspaces in
// opposite orders: InnoDB kills one with a deadlock (1213), and InTx runs it
// again, so that both succeed and exactly one attempt is repeated; the
// conflict is reported once, as retried.
func TestDeadlockIsRetried(t *testing.T) {
	var mu sync.Mutex
	var conflicts []string
	db := openWith(t, testenv.MySQL(t), Options{OnConflict: func(cause string, gaveUp bool) {
		mu.Lock()
		defer mu.Unlock()
		conflicts = append(conflicts, fmt.Sprintf("%s gaveUp=%v", cause, gaveUp))
	}})
	ws := db.Workspaces()
	ctx := context.Background()
	now := time.Now()
	a := workspace.Workspace{ID: ids.New(now), Name: "A", Plan: workspace.PlanFree, CreatedAt: now, UpdatedAt: now}
	b := workspace.Workspace{ID: ids.New(now), Name: "B", Plan: workspace.PlanFree, CreatedAt: now, UpdatedAt: now}
	if err := db.Bulk().InsertWorkspaces(ctx, []workspace.Workspace{a, b}); err != nil {
		t.Fatal(err)
	}
	var attempts atomic.Int32
	var both sync.WaitGroup
	both.Add(2)
	lockBoth := func(first, second string) error {
		firstTry := true
		return ws.InTx(ctx, func(tx workspace.Store) error {
			attempts.Add(1)
			if _, err := tx.LockWorkspace(ctx, first, ""); err != nil {
				return err
			}
			if firstTry {
				firstTry = false
				both.Done()
				both.Wait() // each holds its first lock before taking the second
			}
			_, err := tx.LockWorkspace(ctx, second, "")
			return err
		})
	}
	errs := make(chan error, 2)
	go func() { errs <- lockBoth(a.ID, b.ID) }()
	go func() { errs <- lockBoth(b.ID, a.ID) }()
	for i := 0; i < 2; i++ {
		if err := <-errs; err != nil {
			t.Errorf("transaction failed: %v", err)
		}
	}
	if n := attempts.Load(); n != 3 {
		t.Errorf("%d attempts, want 3 (two transactions, one retried after the deadlock)", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(conflicts) != "[deadlock gaveUp=false]" {
		t.Errorf("OnConflict was told %v, want [deadlock gaveUp=false]", conflicts)
	}
}

// TestRetryableErrors pins which errors retry a transaction.
func TestRetryableErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"mysql-deadlock", &mysql.MySQLError{Number: 1213}, true},
		{"mysql-record-changed", &mysql.MySQLError{Number: 1020}, true},
		{"wrapped-deadlock", fmt.Errorf("exec: %w", &mysql.MySQLError{Number: 1213}), true},
		{"mysql-duplicate-key", &mysql.MySQLError{Number: 1062}, false},
		{"mysql-lock-wait-timeout", &mysql.MySQLError{Number: 1205}, false},
		{"domain-error", apperr.ErrConflict, false},
		{"other", errors.New("boom"), false},
	} {
		if got := retryable(tc.err); got != tc.want {
			t.Errorf("%s: retryable = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestRetriesAreBounded shows that a transaction that keeps deadlocking
// gives up after maxTxAttempts and returns the error; every lost attempt is
// reported, the last as given up.
func TestRetriesAreBounded(t *testing.T) {
	var retried, gaveUp int
	db := openWith(t, testenv.SQLite(t), Options{OnConflict: func(cause string, last bool) {
		if last {
			gaveUp++
		} else {
			retried++
		}
	}})
	var attempts int
	err := db.Workspaces().InTx(context.Background(), func(workspace.Store) error {
		attempts++
		return &mysql.MySQLError{Number: 1213, Message: "Deadlock found"}
	})
	if err == nil || attempts != maxTxAttempts {
		t.Errorf("after %d attempts: %v; want %d attempts and an error", attempts, err, maxTxAttempts)
	}
	if retried != maxTxAttempts-1 || gaveUp != 1 {
		t.Errorf("OnConflict: %d retried, %d given up; want %d and 1", retried, gaveUp, maxTxAttempts-1)
	}
}

// TestBackoffGrowsAndIsBounded pins the pauses between attempts.
func TestBackoffGrowsAndIsBounded(t *testing.T) {
	var total time.Duration
	for n := 1; n < maxTxAttempts; n++ {
		lo := min(200*time.Millisecond, 5*time.Millisecond<<(n-1)) / 2
		for range 20 {
			if d := txBackoff(n); d < lo || d > 2*lo+time.Nanosecond {
				t.Errorf("txBackoff(%d) = %s, want within [%s, %s]", n, d, lo, 2*lo)
			}
		}
		total += 2 * lo
	}
	if total > 1100*time.Millisecond {
		t.Errorf("the pauses add up to %s at most; keep them near a second", total)
	}
}

// TestTranslateKeepsSQLOutOfDomainErrors checks the store's error mapping.
func TestTranslateKeepsSQLOutOfDomainErrors(t *testing.T) {
	db := open(t, testenv.SQLite(t))
	ws := db.Workspaces()
	ctx := context.Background()
	if _, err := ws.GetWorkspace(ctx, "01J00000000000000000000000"); !errors.Is(err, apperr.ErrNotFound) {
		t.Errorf("missing workspace: %v, want NOT_FOUND", err)
	}
	now := time.Now()
	w := workspace.Workspace{ID: ids.New(now), Name: "W", Plan: workspace.PlanFree, CreatedAt: now, UpdatedAt: now}
	if _, err := ws.CreateWorkspace(ctx, w); err != nil {
		t.Fatal(err)
	}
	if _, err := ws.CreateWorkspace(ctx, w); !errors.Is(err, apperr.ErrConflict) {
		t.Errorf("duplicate workspace: %v, want CONFLICT", err)
	}
}

// TestLockWorkspaceAndGetMember checks the joined reads the services use
// on their hot paths, on both databases.
func TestLockWorkspaceAndGetMember(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, tdb testenv.DB) {
		ws := open(t, tdb).Workspaces()
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Millisecond)
		w := workspace.Workspace{ID: ids.New(now), Name: "Acme", Plan: workspace.PlanTeams, CreatedAt: now, UpdatedAt: now}
		u := workspace.User{ID: "u1", Email: "Ann@Example.com", CreatedAt: now, UpdatedAt: now}
		if err := ws.SaveUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if _, err := ws.CreateWorkspace(ctx, w); err != nil {
			t.Fatal(err)
		}
		if err := ws.CreateMembership(ctx, workspace.Membership{WorkspaceID: w.ID, UserID: u.ID, Role: role.Admin, JoinedAt: now}); err != nil {
			t.Fatal(err)
		}
		err := ws.InTx(ctx, func(tx workspace.Store) error {
			got, err := tx.LockWorkspace(ctx, w.ID, u.ID)
			if err != nil {
				return err
			}
			if got.Name != "Acme" || got.Plan != workspace.PlanTeams || got.Role == nil || *got.Role != role.Admin || got.Now.IsZero() {
				t.Errorf("LockWorkspace = %+v", got)
			}
			if lk, err := tx.LockWorkspace(ctx, w.ID, "stranger"); err != nil || lk.Role != nil {
				t.Errorf("LockWorkspace for a stranger: %+v, err %v", lk, err)
			}
			if _, err := tx.LockWorkspace(ctx, ids.New(now), u.ID); !errors.Is(err, apperr.ErrNotFound) {
				t.Errorf("LockWorkspace of a missing workspace: %v", err)
			}
			m, mu, err := tx.GetMember(ctx, w.ID, u.ID)
			if err != nil {
				return err
			}
			if m.Role != role.Admin || mu.ID != u.ID || mu.Email != u.Email || !m.JoinedAt.Equal(now) {
				t.Errorf("GetMember = %+v, %+v", m, mu)
			}
			if _, _, err := tx.GetMember(ctx, w.ID, "stranger"); !errors.Is(err, apperr.ErrNotFound) {
				t.Errorf("GetMember of a stranger: %v", err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// TestMySQLSessionsAreReadCommitted checks that every MySQL session runs READ
// COMMITTED, which the services rely on (see conn.inTx).
func TestMySQLSessionsAreReadCommitted(t *testing.T) {
	db := open(t, testenv.MySQL(t))
	var level string
	if err := db.write.Raw("SELECT @@SESSION." + mustIsolationVar(t, db)).Row().Scan(&level); err != nil {
		t.Fatal(err)
	}
	if level != "READ-COMMITTED" {
		t.Errorf("session isolation %q, want READ-COMMITTED", level)
	}
}

func mustIsolationVar(t *testing.T, db *DB) string {
	var name string
	if err := db.write.Raw(`SELECT LOWER(variable_name) FROM information_schema.session_variables
		WHERE variable_name IN ('TRANSACTION_ISOLATION', 'TX_ISOLATION') ORDER BY variable_name LIMIT 1`).Row().Scan(&name); err != nil {
		t.Fatal(err)
	}
	return name
}
