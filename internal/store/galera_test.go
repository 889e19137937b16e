package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/auditlogd/auditlogd/internal/apperr"
	"github.com/auditlogd/auditlogd/internal/ids"
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
