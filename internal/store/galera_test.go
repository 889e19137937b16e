package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/auditlogd/auditlogd/internal/apperr"
	"github.com/auditlogd/auditlogd/internal/auth"
	"github.com/auditlogd/auditlogd/internal/ids"
	"github.com/auditlogd/auditlogd/internal/role"
	"github.com/auditlogd/auditlogd/internal/testenv/galera"
	"github.com/auditlogd/auditlogd/internal/workspace"
)

// plainURL is the AUDITLOG_DATABASE_URL of database db on node n with no
// session settings: what an operator who has not read docs/SCALING.md
// writes.
func plainURL(n *galera.Node, db string) string {
	return fmt.Sprintf("mysql://root@tcp(127.0.0.1:%d)/%s", n.Port, db)
}

func openOn(t *testing.T, url string, opts Options) *DB {
	t.Helper()
	if opts.QueryTimeout == 0 {
		opts.QueryTimeout = 20 * time.Second
	}
	db, err := Open(context.Background(), url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func sessionSyncWait(t *testing.T, db *DB) string {
	t.Helper()
	var v string
	if err := db.pools[0].QueryRow("SELECT @@SESSION.wsrep_sync_wait").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// pausingClock is a store's clock (Options.Now) that can hold one
// transaction right after it took its workspace's lock — after the service
// read what it decides on, before it writes — until the test lets it go.
type pausingClock struct {
	armed   atomic.Bool
	reached chan struct{}
	release chan struct{}
}

func (p *pausingClock) now() time.Time {
	if p.armed.CompareAndSwap(true, false) {
		close(p.reached)
		<-p.release
	}
	return time.Now()
}

// pauseNext arms the clock for the next transaction and returns a func that
// waits until that transaction is held and one that lets it go.
func (p *pausingClock) pauseNext() (held func(), release func()) {
	p.reached, p.release = make(chan struct{}), make(chan struct{})
	p.armed.Store(true)
	return func() { <-p.reached }, func() { close(p.release) }
}

// conflictLog records what a store's OnConflict was told.
type conflictLog struct {
	mu  sync.Mutex
	got []string
}

func (l *conflictLog) record(cause string, gaveUp bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, fmt.Sprintf("%s gaveUp=%v", cause, gaveUp))
}

func (l *conflictLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.got
	l.got = nil
	return out
}

// galeraUser is a signed-in user of the service tests on Galera.
func galeraUser(t *testing.T, svc *workspace.Service, name string) *auth.Principal {
	t.Helper()
	id := name + "-" + ids.New(time.Now())
	p := &auth.Principal{Subject: id, Email: strings.ToLower(id) + "@example.com", EmailVerified: true}
	if err := svc.EnsureUser(context.Background(), *p); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestServiceOnGalera runs the workspace service on two nodes of a Galera
// cluster, holding a transaction on node 1 after it read what it decides on
// while its rival commits through node 2: the rival's write set reaches
// node 1 and aborts the held transaction (or it fails certification at its
// commit), error 1213; the store retries it, and the retry decides on what
// the rival committed. On one server the rival would have waited for node
// 1's row lock; here nothing waits, and only a row both transactions write
// makes them conflict.
func TestServiceOnGalera(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node Galera cluster")
	}
	c := galera.Start(t, 3)
	c.CreateDatabase(t, "auditlog")
	ctx := context.Background()
	clock := &pausingClock{}
	conflicts := &conflictLog{}
	db1 := openOn(t, plainURL(c.Node(1), "auditlog"), Options{Now: clock.now, OnConflict: conflicts.record})
	if _, err := db1.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	db2 := openOn(t, plainURL(c.Node(2), "auditlog"), Options{})
	db3 := openOn(t, plainURL(c.Node(3), "auditlog"), Options{})
	svc1 := workspace.NewService(db1.Workspaces(), workspace.Options{})
	svc2 := workspace.NewService(db2.Workspaces(), workspace.Options{})
	svc3 := workspace.NewService(db3.Workspaces(), workspace.Options{})

	t.Run("a-new-user-signing-in-through-three-nodes-at-once", func(t *testing.T) {
		// A new user's first requests reach three replicas at once (an
		// invite opened in several tabs, a client's retries): each inserts
		// the user's row. Autocommit statements are retried once by the
		// server (wsrep_retry_autocommit); with three rivals that is not
		// enough, and the store must retry.
		failed := 0
		const rounds = 30
		for i := range rounds {
			p := auth.Principal{Subject: fmt.Sprintf("newcomer-%d-%s", i, ids.New(time.Now())), Email: fmt.Sprintf("newcomer%d@example.com", i), EmailVerified: true}
			start := make(chan struct{})
			errs := make(chan error, 3)
			for _, svc := range []*workspace.Service{svc1, svc2, svc3} {
				go func() {
					<-start
					errs <- svc.EnsureUser(ctx, p)
				}()
			}
			close(start)
			for range 3 {
				if err := <-errs; err != nil {
					failed++
					t.Logf("round %d: %v", i, err)
				}
			}
		}
		if failed > 0 {
			t.Errorf("%d of %d sign-ins failed", failed, 3*rounds)
		}
	})

	t.Run("a-certification-failure-is-retried-through-the-service", func(t *testing.T) {
		admin := galeraUser(t, svc1, "admin")
		w, err := svc1.CreateWorkspace(ctx, admin, "certified")
		if err != nil {
			t.Fatal(err)
		}
		conflicts.take()
		held, release := clock.pauseNext()
		first := make(chan error, 1)
		go func() {
			_, err := svc1.CreateInvite(ctx, admin, workspace.CreateInviteInput{WorkspaceID: w.ID, Kind: workspace.InviteEmail, Email: ptrTo("node1@example.com")})
			first <- err
		}()
		held()
		if _, err := svc2.CreateInvite(ctx, admin, workspace.CreateInviteInput{WorkspaceID: w.ID, Kind: workspace.InviteEmail, Email: ptrTo("node2@example.com")}); err != nil {
			t.Fatalf("the invite through node 2: %v", err)
		}
		release()
		if err := <-first; err != nil {
			t.Fatalf("the invite through node 1, whose first attempt lost to node 2's: %v", err)
		}
		if got := conflicts.take(); len(got) != 1 || got[0] != "deadlock gaveUp=false" {
			t.Errorf("node 1's store was told of conflicts %v, want one deadlock (1213), retried", got)
		}
		// Both invites are in the chain, node 2's first: sequence 1 is the
		// workspace's creation.
		rows, err := db2.pools[0].Query("SELECT sequence, target_label FROM audit_events WHERE workspace_id = ? ORDER BY sequence", w.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var chain []string
		for rows.Next() {
			var seq int64
			var label *string
			if err := rows.Scan(&seq, &label); err != nil {
				t.Fatal(err)
			}
			l := "-"
			if label != nil {
				l = *label
			}
			chain = append(chain, fmt.Sprintf("%d:%s", seq, l))
		}
		if want := "[1:" + admin.Email + " 2:node2@example.com 3:node1@example.com]"; fmt.Sprint(chain) != want {
			t.Errorf("the chain is %v, want %s", chain, want)
		}
	})

	for _, tc := range []struct {
		name string
		do   func(svc *workspace.Service, actor *auth.Principal, ws, target string) error
	}{
		{"two-admins-demoting-each-other-through-two-nodes-leave-one-admin", func(svc *workspace.Service, actor *auth.Principal, ws, target string) error {
			_, err := svc.UpdateMemberRole(ctx, actor, ws, target, role.Member)
			return err
		}},
		{"two-admins-removing-each-other-through-two-nodes-leave-one-admin", func(svc *workspace.Service, actor *auth.Principal, ws, target string) error {
			return svc.RemoveMember(ctx, actor, ws, target)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := galeraUser(t, svc1, "a"), galeraUser(t, svc1, "b")
			w, err := svc1.CreateWorkspace(ctx, a, "two admins")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := svc1.AddMember(ctx, a, w.ID, b.Email, role.Admin); err != nil {
				t.Fatal(err)
			}
			conflicts.take()
			held, release := clock.pauseNext()
			first := make(chan error, 1)
			go func() { first <- tc.do(svc1, a, w.ID, b.Subject) }() // a, through node 1: held after it found two admins
			held()
			if err := tc.do(svc2, b, w.ID, a.Subject); err != nil { // b, through node 2
				t.Fatalf("b through node 2: %v", err)
			}
			release()
			err = <-first
			if code := apperr.CodeOf(err); code != apperr.Forbidden {
				t.Errorf("a through node 1, retried after b's change: %v (%s), want FORBIDDEN: a is no longer an admin", err, code)
			}
			if got := conflicts.take(); len(got) != 1 || got[0] != "deadlock gaveUp=false" {
				t.Errorf("node 1's store was told of conflicts %v, want one deadlock (1213), retried", got)
			}
			var admins []string
			rows, err := db2.pools[0].Query("SELECT user_id FROM memberships WHERE workspace_id = ? AND role = 'ADMIN'", w.ID)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			for rows.Next() {
				var u string
				_ = rows.Scan(&u)
				admins = append(admins, u)
			}
			if len(admins) != 1 || admins[0] != b.Subject {
				t.Errorf("admins %v, want only b", admins)
			}
		})
	}

	t.Run("the-daily-workspace-cap-holds-across-nodes", func(t *testing.T) {
		// One user creates a workspace through each node at the same moment,
		// with a cap of one a day, many times over. The two creations insert
		// different rows; what they share is the user, whose row
		// CreateWorkspace locks before counting. A FOR UPDATE on node 1 does
		// not block node 2, and is not in the write set: when node 1 applies
		// node 2's creation while its own holds the lock, it is aborted (the
		// membership's foreign-key check needs the row), but when both commit
		// before applying each other's, both certify — unless the lock is a
		// write to the user's row, which both then carry.
		capped1 := workspace.NewService(db1.Workspaces(), workspace.Options{WorkspacesPerUserPerDay: 1})
		capped2 := workspace.NewService(db2.Workspaces(), workspace.Options{WorkspacesPerUserPerDay: 1})
		const rounds = 30
		both := 0
		for i := range rounds {
			u := galeraUser(t, svc1, fmt.Sprintf("creator%d", i))
			start := make(chan struct{})
			errs := make(chan error, 2)
			for _, svc := range []*workspace.Service{capped1, capped2} {
				go func() {
					<-start
					_, err := svc.CreateWorkspace(ctx, u, "capped")
					errs <- err
				}()
			}
			close(start)
			ok := 0
			for range 2 {
				err := <-errs
				switch code := apperr.CodeOf(err); {
				case err == nil:
					ok++
				case code != apperr.RateLimited:
					t.Errorf("round %d: %v (%s), want success or RATE_LIMITED", i, err, code)
				}
			}
			var n int
			if err := db2.pools[0].QueryRow("SELECT COUNT(*) FROM workspaces WHERE created_by = ?", u.Subject).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if ok != n {
				t.Errorf("round %d: %d creations succeeded, %d workspaces exist", i, ok, n)
			}
			if n > 1 {
				both++
			}
		}
		if both > 0 {
			t.Errorf("in %d of %d rounds the user created two workspaces through two nodes with a cap of one a day", both, rounds)
		}
		t.Logf("%d rounds; conflicts retried on node 1: %d", rounds, len(conflicts.take()))
	})
}

// TestStoreOnGalera runs the store with replicas on different nodes of a
// three-node Galera cluster: reads wait for causality without being told
// to; and a node that lost quorum is not ready though it answers a ping.
func TestStoreOnGalera(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node Galera cluster")
	}
	c := galera.Start(t, 3)
	c.CreateDatabase(t, "auditlog")
	ctx := context.Background()
	dbs := map[int]*DB{}
	for i := 1; i <= 3; i++ {
		dbs[i] = openOn(t, plainURL(c.Node(i), "auditlog"), Options{})
		if i == 1 {
			if _, err := dbs[1].Migrate(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}

	t.Run("reads-wait-for-causality-unless-the-dsn-says-otherwise", func(t *testing.T) {
		for i, db := range dbs {
			if galera, wait := db.Galera(); !galera || wait != "1" {
				t.Errorf("node %d: Galera() = %v, %q; want true, \"1\"", i, galera, wait)
			}
			if got := sessionSyncWait(t, db); got != "1" {
				t.Errorf("node %d: the session's wsrep_sync_wait is %s, want 1", i, got)
			}
		}
		off := openOn(t, plainURL(c.Node(2), "auditlog")+"?wsrep_sync_wait=0", Options{})
		if galera, wait := off.Galera(); !galera || wait != "0" {
			t.Errorf("with wsrep_sync_wait=0 in the DSN: Galera() = %v, %q; want true, \"0\"", galera, wait)
		}
		if got := sessionSyncWait(t, off); got != "0" {
			t.Errorf("with wsrep_sync_wait=0 in the DSN the session has %s", got)
		}
	})

	t.Run("a-workspace-created-through-node-1-is-found-through-node-3", func(t *testing.T) {
		// Hold node 3's applier (FLUSH TABLES WITH READ LOCK desyncs and
		// pauses it): node 1 commits, node 3 has not applied it yet.
		lock, err := dbs[3].pools[0].Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer lock.Close()
		if _, err := lock.ExecContext(ctx, "FLUSH TABLES WITH READ LOCK"); err != nil {
			t.Fatal(err)
		}
		unlocked := false
		defer func() {
			if !unlocked {
				_, _ = lock.ExecContext(ctx, "UNLOCK TABLES")
			}
		}()
		now := time.Now()
		w := workspace.Workspace{ID: ids.New(now), Name: "causal", Plan: workspace.PlanFree, CreatedAt: now, UpdatedAt: now}
		if err := dbs[1].Bulk().InsertWorkspaces(ctx, []workspace.Workspace{w}); err != nil {
			t.Fatal(err)
		}
		got := make(chan error, 1)
		go func() {
			_, err := dbs[3].Workspaces().GetWorkspace(ctx, w.ID)
			got <- err
		}()
		select {
		case err := <-got:
			t.Fatalf("node 3 answered (%v) before applying node 1's commit: the read did not wait", err)
		case <-time.After(300 * time.Millisecond):
		}
		if _, err := lock.ExecContext(ctx, "UNLOCK TABLES"); err != nil {
			t.Fatal(err)
		}
		unlocked = true
		if err := <-got; err != nil {
			t.Errorf("node 3 read the workspace committed through node 1: %v, want it found", err)
		}
	})

	// Last: it leaves the cluster without quorum.
	t.Run("a-node-without-quorum-answers-a-ping-but-is-not-ready", func(t *testing.T) {
		if err := dbs[3].Ready(ctx); err != nil {
			t.Fatalf("node 3 before: %v", err)
		}
		raw := openOn(t, plainURL(c.Node(3), "auditlog")+"?wsrep_sync_wait=0", Options{})
		c.Node(1).Kill()
		c.Node(2).Kill()
		// Wait until node 3 has left the primary component (after the
		// cluster's suspect timeout, about three seconds here).
		deadline := time.Now().Add(time.Minute)
		for {
			var name, status string
			err := raw.pools[0].QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'wsrep_cluster_status'").Scan(&name, &status)
			if err == nil && status != "Primary" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node 3 still %s (%v) a minute after the other two were killed", status, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
		err := dbs[3].Ready(ctx)
		if err == nil {
			t.Fatal("Ready on the node without quorum: nil, want an error")
		}
		// The service's sessions wait for causality, which cannot complete
		// without a primary component: their reads wait until the deadline.
		t.Logf("Ready on the node without quorum: %v", err)
		if perr := dbs[3].Ping(ctx); perr != nil {
			t.Errorf("Ping of the node without quorum: %v; want it answering (the reason a ping is not enough)", perr)
		}
		// Without the causality wait the node answers SELECT 1 at once, and
		// refuses tables.
		var one int
		if serr := raw.pools[0].QueryRowContext(ctx, "SELECT 1").Scan(&one); serr != nil {
			t.Errorf("SELECT 1 on the node without quorum: %v; want it answering", serr)
		}
		var me *mysql.MySQLError
		if err := raw.Ready(ctx); !errors.As(err, &me) || me.Number != 1047 {
			t.Errorf("Ready without the causality wait: %v, want error 1047 (WSREP has not yet prepared node for application use)", err)
		}
		if _, err := dbs[3].Workspaces().GetWorkspace(ctx, ids.New(time.Now())); err == nil || errors.Is(err, apperr.ErrNotFound) {
			t.Errorf("a read on the node without quorum: %v, want a storage error", err)
		}
	})
}

func ptrTo[T any](v T) *T { return &v }
