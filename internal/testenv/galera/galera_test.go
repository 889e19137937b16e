package galera_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/auditlogd/auditlogd/internal/testenv/galera"
)

func mustExec(t *testing.T, db interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, query string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(context.Background(), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func counter(t *testing.T, n *galera.Node, name string) int {
	t.Helper()
	v, err := strconv.Atoi(n.Status(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestCluster starts a three-node cluster and shows what the rest of the
// tests rely on: it forms; a read through one node sees a write committed
// through another when (and only when) the session waits for causality;
// conflicting transactions on two nodes end with one commit and one error
// 1213; and a node killed mid-writes rejoins by IST, and a replaced one by
// SST, each with every committed row.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node Galera cluster")
	}
	c := galera.Start(t, 3)
	c.CreateDatabase(t, "smoke")
	dbs := map[int]*sql.DB{}
	for i := 1; i <= 3; i++ {
		dbs[i] = c.Node(i).Open(t, "smoke")
	}
	mustExec(t, dbs[1], "CREATE TABLE items (id BIGINT NOT NULL PRIMARY KEY, v BIGINT NOT NULL)")

	t.Run("forms", func(t *testing.T) {
		for _, n := range c.Nodes() {
			if got := n.Status(t, "wsrep_cluster_size"); got != "3" {
				t.Errorf("%s: wsrep_cluster_size %s, want 3", n.Name, got)
			}
			if got := n.Status(t, "wsrep_local_state_comment"); got != "Synced" {
				t.Errorf("%s: state %s, want Synced", n.Name, got)
			}
		}
	})

	t.Run("read-your-writes-across-nodes-needs-wsrep_sync_wait", func(t *testing.T) {
		ctx := context.Background()
		// Hold node 3's applier: FLUSH TABLES WITH READ LOCK desyncs and
		// pauses the node, so node 1 still commits and node 3 queues the
		// write set without applying it — what a busy node looks like for a
		// moment.
		lock, err := dbs[3].Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer lock.Close()
		mustExec(t, lock, "FLUSH TABLES WITH READ LOCK")
		unlocked := false
		defer func() {
			if !unlocked {
				mustExec(t, lock, "UNLOCK TABLES")
			}
		}()
		mustExec(t, dbs[1], "INSERT INTO items VALUES (1, 42)")

		stale, err := dbs[3].Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer stale.Close()
		mustExec(t, stale, "SET SESSION wsrep_sync_wait = 0")
		var n int
		if err := stale.QueryRowContext(ctx, "SELECT COUNT(*) FROM items WHERE id = 1").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("node 3 without wsrep_sync_wait saw the row its applier had not applied yet (%d)", n)
		}

		read := make(chan error, 1)
		var v int
		go func() { read <- dbs[3].QueryRowContext(ctx, "SELECT v FROM items WHERE id = 1").Scan(&v) }()
		mustExec(t, lock, "UNLOCK TABLES")
		unlocked = true
		if err := <-read; err != nil || v != 42 {
			t.Fatalf("node 3 with wsrep_sync_wait=1 read %d, %v; want 42: the write committed on node 1", v, err)
		}
	})

	t.Run("conflicting-update-on-another-node-fails-with-1213", func(t *testing.T) {
		ctx := context.Background()
		mustExec(t, dbs[1], "INSERT INTO items VALUES (2, 0)")
		bf, cert := counter(t, c.Node(1), "wsrep_local_bf_aborts"), counter(t, c.Node(1), "wsrep_local_cert_failures")
		tx1, err := dbs[1].BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx1.Rollback()
		mustExec(t, tx1, "UPDATE items SET v = v + 1 WHERE id = 2")
		tx3, err := dbs[3].BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		mustExec(t, tx3, "UPDATE items SET v = v + 10 WHERE id = 2")
		if err := tx3.Commit(); err != nil {
			t.Fatalf("the first commit failed: %v", err)
		}
		err = tx1.Commit()
		checkDeadlockError(t, err)
		t.Logf("node 1's commit after node 3 committed the same row: %v (bf aborts +%d, certification failures +%d)",
			err, counter(t, c.Node(1), "wsrep_local_bf_aborts")-bf, counter(t, c.Node(1), "wsrep_local_cert_failures")-cert)
		var v int
		if err := dbs[2].QueryRow("SELECT v FROM items WHERE id = 2").Scan(&v); err != nil || v != 10 {
			t.Errorf("the row is %d (%v), want 10: only node 3's update", v, err)
		}
	})

	t.Run("concurrent-commits-on-two-nodes-one-fails-with-1213", func(t *testing.T) {
		ctx := context.Background()
		mustExec(t, dbs[1], "INSERT INTO items VALUES (3, 0)")
		aborts := func() (bf, cert int) {
			for _, n := range c.Nodes() {
				bf += counter(t, n, "wsrep_local_bf_aborts")
				cert += counter(t, n, "wsrep_local_cert_failures")
			}
			return bf, cert
		}
		bf, cert := aborts()
		txs := map[int]*sql.Tx{}
		for _, i := range []int{1, 2} {
			tx, err := dbs[i].BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			mustExec(t, tx, "UPDATE items SET v = v + ? WHERE id = 3", i*100)
			txs[i] = tx
		}
		errs := make(map[int]error)
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i, tx := range txs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := tx.Commit()
				mu.Lock()
				errs[i] = err
				mu.Unlock()
			}()
		}
		wg.Wait()
		var winners, losers []int
		for i, err := range errs {
			if err == nil {
				winners = append(winners, i)
				continue
			}
			losers = append(losers, i)
			checkDeadlockError(t, err)
		}
		if len(winners) != 1 || len(losers) != 1 {
			t.Fatalf("%d commits succeeded and %d failed, want one of each: %v", len(winners), len(losers), errs)
		}
		bf2, cert2 := aborts()
		t.Logf("node %d's concurrent commit: %v (bf aborts +%d, certification failures +%d)", losers[0], errs[losers[0]], bf2-bf, cert2-cert)
		var v int
		if err := dbs[3].QueryRow("SELECT v FROM items WHERE id = 3").Scan(&v); err != nil || v != winners[0]*100 {
			t.Errorf("the row is %d (%v), want %d: the winner's update only", v, err, winners[0]*100)
		}
	})

	t.Run("killed-node-rejoins-by-IST-with-every-committed-row", func(t *testing.T) {
		mustExec(t, dbs[1], "CREATE TABLE acked (id BIGINT NOT NULL PRIMARY KEY, node INT NOT NULL)")
		w := startWriters(dbs)
		w.waitAcked(t, 150)
		c.Node(2).Kill()
		before := w.total()
		c.WaitSynced(t) // nodes 1 and 3 in a component of two
		w.waitAcked(t, before+150)
		how := c.Node(2).Restart(t)
		if how != galera.IST {
			t.Errorf("node 2 rejoined by %s, want IST", how)
		}
		w.waitAcked(t, w.total()+150)
		acked := w.stop()
		t.Logf("%d rows acknowledged (%d of them through node 2, whose writes failed while it was down: %d errors)",
			len(acked), w.byNode[2], w.errors[2])
		checkRows(t, dbs, acked)
	})

	t.Run("replaced-node-rejoins-by-SST", func(t *testing.T) {
		c.Node(3).Kill()
		c.WaitSynced(t)
		mustExec(t, dbs[1], "INSERT INTO items VALUES (4, 4)")
		if how := c.Node(3).RestartEmpty(t); how != galera.SST {
			t.Errorf("node 3 with an empty data directory rejoined by %s, want SST", how)
		}
		var v int
		if err := dbs[3].QueryRow("SELECT v FROM items WHERE id = 4").Scan(&v); err != nil || v != 4 {
			t.Errorf("node 3 after SST reads %d (%v), want 4", v, err)
		}
		var rows []int64
		for _, db := range dbs {
			n, err := count(db, "acked")
			if err != nil {
				t.Fatal(err)
			}
			rows = append(rows, n)
		}
		if rows[0] != rows[1] || rows[1] != rows[2] {
			t.Errorf("the nodes hold %v rows of acked, want the same on each", rows)
		}
	})
}

// checkDeadlockError checks that err is what go-sql-driver returns when
// Galera aborts a transaction for a conflicting write set: a *MySQLError
// 1213, SQLSTATE 40001, the text of InnoDB's deadlock.
func checkDeadlockError(t *testing.T, err error) {
	t.Helper()
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		t.Fatalf("the losing commit returned %T %v, want a *mysql.MySQLError", err, err)
	}
	if me.Number != 1213 || string(me.SQLState[:]) != "40001" || me.Message != "Deadlock found when trying to get lock; try restarting transaction" {
		t.Errorf("the losing commit returned %d (%s) %q, want 1213 (40001), the deadlock error", me.Number, me.SQLState[:], me.Message)
	}
	if !galera.IsCertificationFailure(err) {
		t.Error("IsCertificationFailure is false")
	}
}

func count(db *sql.DB, table string) (int64, error) {
	var n int64
	err := db.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n)
	return n, err
}

// writers insert rows through every node at once, each node its own id
// range, and record the ids whose commit was acknowledged.
type writers struct {
	mu     sync.Mutex
	cond   *sync.Cond
	acked  []int64
	byNode map[int]int
	errors map[int]int
	// timedOut ends waitAcked when the writers stall.
	timedOut bool
	done     chan struct{}
	wg       sync.WaitGroup
}

func startWriters(dbs map[int]*sql.DB) *writers {
	w := &writers{byNode: map[int]int{}, errors: map[int]int{}, done: make(chan struct{})}
	w.cond = sync.NewCond(&w.mu)
	for node, db := range dbs {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			for k := int64(1); ; k++ {
				select {
				case <-w.done:
					return
				default:
				}
				id := int64(node)*1_000_000 + k
				_, err := db.Exec("INSERT INTO acked (id, node) VALUES (?, ?)", id, node)
				w.mu.Lock()
				if err == nil {
					w.acked = append(w.acked, id)
					w.byNode[node]++
					w.cond.Broadcast()
				} else {
					w.errors[node]++
				}
				w.mu.Unlock()
				if err != nil {
					time.Sleep(20 * time.Millisecond) // the node is down or joining
				}
			}
		}()
	}
	return w
}

func (w *writers) total() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

// waitAcked waits until n commits in all have been acknowledged.
func (w *writers) waitAcked(t *testing.T, n int) {
	t.Helper()
	wake := time.AfterFunc(2*time.Minute, func() {
		w.mu.Lock()
		w.timedOut = true
		w.cond.Broadcast()
		w.mu.Unlock()
	})
	defer wake.Stop()
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(w.acked) < n && !w.timedOut {
		w.cond.Wait()
	}
	if w.timedOut {
		t.Fatalf("%d commits acknowledged after two minutes, want %d (errors by node: %v)", len(w.acked), n, w.errors)
	}
}

func (w *writers) stop() []int64 {
	close(w.done)
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.acked)
}

// checkRows checks that every node holds every acknowledged row, and that
// the nodes hold the same rows.
func checkRows(t *testing.T, dbs map[int]*sql.DB, acked []int64) {
	t.Helper()
	var first []int64
	for i := 1; i <= len(dbs); i++ {
		rows, err := dbs[i].Query("SELECT id FROM acked ORDER BY id")
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		rows.Close()
		missing := 0
		for _, id := range acked {
			if _, found := slices.BinarySearch(ids, id); !found {
				missing++
			}
		}
		if missing > 0 {
			t.Errorf("node %d misses %d of %d acknowledged rows", i, missing, len(acked))
		}
		if i == 1 {
			first = ids
		} else if !slices.Equal(ids, first) {
			t.Errorf("node %d holds %d rows, node 1 %d: %s", i, len(ids), len(first), diffSummary(first, ids))
		}
	}
}

func diffSummary(a, b []int64) string {
	return fmt.Sprintf("%d only on node 1, %d only on the other", len(setMinus(a, b)), len(setMinus(b, a)))
}

func setMinus(a, b []int64) []int64 {
	var out []int64
	for _, x := range a {
		if _, found := slices.BinarySearch(b, x); !found {
			out = append(out, x)
		}
	}
	return out
}
