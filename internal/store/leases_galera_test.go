package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/auditlogd/auditlogd/internal/lease"
	"github.com/auditlogd/auditlogd/internal/testenv/galera"
)

// turns records the jobs of runners on different nodes: how many ran at once,
// each start in order, and any start the database did not agree with.
type turns struct {
	mu     sync.Mutex
	cond   *sync.Cond
	active int
	most   int
	starts []lease.Lease
	nodes  map[string]int
	errs   []string
	events []string
}

func newTurns() *turns {
	tr := &turns{nodes: map[string]int{}}
	tr.cond = sync.NewCond(&tr.mu)
	return tr
}

// job checks through its own node that the database agrees it holds the
// lease, counts itself, and works until work ends or its context does.
func (tr *turns) job(s *Leases, work time.Duration) func(ctx context.Context, l lease.Lease) error {
	return func(ctx context.Context, l lease.Lease) error {
		cur, err := s.Holder(ctx, l.Name)
		tr.mu.Lock()
		tr.active++
		tr.most = max(tr.most, tr.active)
		tr.starts = append(tr.starts, l)
		tr.nodes[l.Owner]++
		tr.events = append(tr.events, "start "+l.Owner)
		if err != nil || cur.Owner != l.Owner || cur.Token != l.Token {
			tr.errs = append(tr.errs, fmt.Sprintf("%s started with token %d; its node says %+v (%v)", l.Owner, l.Token, cur, err))
		}
		tr.cond.Broadcast()
		tr.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(work):
		}
		tr.mu.Lock()
		tr.active--
		tr.events = append(tr.events, "stop "+l.Owner)
		tr.cond.Broadcast()
		tr.mu.Unlock()
		return nil
	}
}

// waitFor waits until cond holds (called with tr.mu held), for a minute.
func (tr *turns) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	timer := time.AfterFunc(time.Minute, func() { tr.mu.Lock(); tr.cond.Broadcast(); tr.mu.Unlock() })
	defer timer.Stop()
	deadline := time.Now().Add(time.Minute)
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within a minute: %s (events %v)", what, tr.events)
		}
		tr.cond.Wait()
	}
}

func (tr *turns) check(t *testing.T) {
	t.Helper()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.most != 1 {
		t.Errorf("%d jobs ran at once, want 1", tr.most)
	}
	for _, e := range tr.errs {
		t.Error(e)
	}
	for i := 1; i < len(tr.starts); i++ {
		if tr.starts[i].Token <= tr.starts[i-1].Token {
			t.Errorf("start %d had token %d after %d", i, tr.starts[i].Token, tr.starts[i-1].Token)
		}
	}
}

// conflicts sums the certification failures and brute-force aborts of the
// running nodes.
func conflicts(t *testing.T, c *galera.Cluster) (cert, bf int) {
	t.Helper()
	for _, n := range c.Nodes() {
		if !n.Running() {
			continue
		}
		a, _ := strconv.Atoi(n.Status(t, "wsrep_local_cert_failures"))
		b, _ := strconv.Atoi(n.Status(t, "wsrep_local_bf_aborts"))
		cert, bf = cert+a, bf+b
	}
	return cert, bf
}

// TestLeasesOnGalera runs leases with each replica on a different node of a
// three-node Galera cluster, where a row lock taken on one node does not
// block another and conflicts surface at commit, as error 1213, which the
// store retries.
func TestLeasesOnGalera(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node Galera cluster")
	}
	c := galera.Start(t, 3)
	c.CreateDatabase(t, "auditlog")
	dbs := map[int]*DB{}
	for i := 1; i <= 3; i++ {
		db, err := Open(context.Background(), c.Node(i).URL("auditlog"), Options{QueryTimeout: 20 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if i == 1 {
			if _, err := db.Migrate(context.Background()); err != nil {
				t.Fatal(err)
			}
			createProbe(t, db)
		}
		dbs[i] = db
	}
	owner := func(i int) string { return fmt.Sprintf("replica-on-node%d", i) }

	t.Run("runners-on-three-nodes-take-turns", func(t *testing.T) {
		cert, bf := conflicts(t, c)
		tr := newTurns()
		ctx, stop := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for i := 1; i <= 3; i++ {
			r := &lease.Runner{Store: dbs[i].Leases(), Name: "turns", Owner: owner(i), TTL: 2 * time.Second,
				RetryEvery: 10 * time.Millisecond, Job: tr.job(dbs[i].Leases(), 20*time.Millisecond)}
			wg.Add(1)
			go func() { defer wg.Done(); r.Run(ctx) }()
		}
		tr.waitFor(t, "30 turns", func() bool { return len(tr.starts) >= 30 })
		stop()
		wg.Wait()
		tr.check(t)
		cert2, bf2 := conflicts(t, c)
		t.Logf("30 turns across nodes %v; certification failures +%d, brute-force aborts +%d (retried by the store)", tr.nodes, cert2-cert, bf2-bf)
		if len(tr.nodes) < 2 {
			t.Errorf("the job ran only through %v, want it to move between nodes", tr.nodes)
		}
	})

	t.Run("fenced-write-loses-to-a-takeover-through-another-node", func(t *testing.T) {
		ctx := context.Background()
		a, b := dbs[1].Leases(), dbs[2].Leases()
		held, err := a.Acquire(ctx, "fence", "a", time.Second)
		if err != nil {
			t.Fatal(err)
		}
		attempts := 0
		fenced, proceed := make(chan struct{}), make(chan struct{})
		result := make(chan error, 1)
		go func() {
			result <- a.InTx(ctx, func(tx *Leases) error {
				attempts++
				if err := tx.CheckFence(ctx, held); err != nil {
					return err
				}
				if err := tx.c.run(ctx, true, func(db *gorm.DB) error {
					return db.Exec("INSERT INTO lease_probe (id) VALUES ('a-fenced')").Error
				}); err != nil {
					return err
				}
				if attempts == 1 {
					close(fenced)
					<-proceed // paused past the expiry, holding the fence on node 1
				}
				return nil
			})
		}()
		<-fenced
		// On one server this acquisition would wait for a's row lock; on
		// node 2 it does not, and commits once the lease expired.
		taken := waitAcquire(t, b, "fence", "b", time.Minute)
		close(proceed)
		err = <-result
		if !errors.Is(err, lease.ErrLost) {
			t.Errorf("the paused holder's fenced write ended with %v, want ErrLost", err)
		}
		if attempts != 2 {
			t.Errorf("%d attempts, want 2: the commit failing with 1213, and the retry refused by the fence", attempts)
		}
		for i, db := range dbs {
			if probeHas(t, db, "a-fenced") {
				t.Errorf("node %d has the paused holder's write, made after b took over with token %d", i, taken.Token)
			}
		}
	})

	t.Run("runner-on-a-killed-node-stops-and-the-lease-moves", func(t *testing.T) {
		tr := newTurns()
		ctx, stop := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		run := func(i int) {
			r := &lease.Runner{Store: dbs[i].Leases(), Name: "moves", Owner: owner(i), TTL: 2 * time.Second,
				RetryEvery: 200 * time.Millisecond, Job: tr.job(dbs[i].Leases(), time.Hour)}
			wg.Add(1)
			go func() { defer wg.Done(); r.Run(ctx) }()
		}
		run(2)
		tr.waitFor(t, "node 2's replica holds the lease", func() bool { return len(tr.starts) == 1 })
		run(1)
		run(3)
		c.Node(2).Kill()
		killed := time.Now()
		tr.waitFor(t, "another replica holds the lease", func() bool { return len(tr.starts) == 2 })
		took := time.Since(killed)
		c.WaitSynced(t)
		if how := c.Node(2).Restart(t); how != galera.IST {
			t.Errorf("node 2 rejoined by %s, want IST", how)
		}
		stop()
		wg.Wait()
		tr.check(t)
		tr.mu.Lock()
		defer tr.mu.Unlock()
		t.Logf("the lease moved to %s %s after node 2 was killed (TTL 2s; the cluster evicts a dead node after about 3 s): %v",
			tr.starts[1].Owner, took.Round(100*time.Millisecond), tr.events)
		if len(tr.events) < 3 || tr.events[0] != "start "+owner(2) || tr.events[1] != "stop "+owner(2) {
			t.Errorf("events %v, want node 2's replica to stop its job before another started", tr.events)
		}
	})
}
