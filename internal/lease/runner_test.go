package lease_test

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/glebarez/go-sqlite"
	_ "github.com/go-sql-driver/mysql"

	"github.com/auditlogd/auditlogd/internal/lease"
	"github.com/auditlogd/auditlogd/internal/store"
	"github.com/auditlogd/auditlogd/internal/testenv"
)

// helperEnv, when set to a database URL, makes the test binary a replica
// that holds the lease "job" until it is killed (see TestMain).
const helperEnv = "AUDITLOG_LEASE_HELPER_URL"

// ttl is the lease TTL of the tests: short, so that takeovers are quick, and
// long enough for renewals on a loaded machine under the race detector.
const ttl = time.Second

// TestMain lets a test run a lease holder in a child process, to kill it.
func TestMain(m *testing.M) {
	if url := os.Getenv(helperEnv); url != "" {
		holdUntilKilled(url)
		return
	}
	os.Exit(m.Run())
}

// holdUntilKilled runs a Runner whose job prints "holding TOKEN" and then
// waits for its context forever.
func holdUntilKilled(url string) {
	db, err := store.Open(context.Background(), url, store.Options{})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	r := &lease.Runner{Store: db.Leases(), Name: "job", Owner: "child", TTL: ttl,
		Job: func(ctx context.Context, l lease.Lease) error {
			fmt.Printf("holding %d\n", l.Token)
			<-ctx.Done()
			fmt.Println("stopped")
			return nil
		}}
	r.Run(context.Background())
}

func openStore(t *testing.T, tdb testenv.DB) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), tdb.URL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

// openSQL opens the test's database directly, to change a lease underneath
// the store as a rival with a bug would.
func openSQL(t *testing.T, tdb testenv.DB) *sql.DB {
	t.Helper()
	driver, dsn := "mysql", strings.TrimPrefix(tdb.URL, "mysql://")
	if tdb.Dialect == "sqlite" {
		driver, dsn = "sqlite", strings.TrimPrefix(tdb.URL, "sqlite://")+"?_pragma=busy_timeout(10000)"
	}
	conn, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// holders counts the jobs running at once across runners and records each
// start, in order.
type holders struct {
	mu      sync.Mutex
	active  int
	most    int
	starts  []lease.Lease
	owners  map[string]int
	wrongDB []string
	cond    *sync.Cond
}

func newHolders() *holders {
	h := &holders{owners: map[string]int{}}
	h.cond = sync.NewCond(&h.mu)
	return h
}

// job is the work of every runner: it checks that the database agrees it
// holds the lease, counts itself, works briefly and returns (so the lease
// changes hands often).
func (h *holders) job(s *store.Leases) func(ctx context.Context, l lease.Lease) error {
	return func(ctx context.Context, l lease.Lease) error {
		cur, err := s.Holder(ctx, l.Name)
		h.mu.Lock()
		h.active++
		h.most = max(h.most, h.active)
		h.starts = append(h.starts, l)
		h.owners[l.Owner]++
		if err != nil || cur.Owner != l.Owner || cur.Token != l.Token {
			h.wrongDB = append(h.wrongDB, fmt.Sprintf("%s started with token %d; the database says %+v (%v)", l.Owner, l.Token, cur, err))
		}
		h.cond.Broadcast()
		h.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
		h.mu.Lock()
		h.active--
		h.mu.Unlock()
		return nil
	}
}

// waitStarts waits until n jobs in all have started.
func (h *holders) waitStarts(t *testing.T, n int) {
	t.Helper()
	timer := time.AfterFunc(time.Minute, func() { h.cond.Broadcast() })
	defer timer.Stop()
	deadline := time.Now().Add(time.Minute)
	h.mu.Lock()
	defer h.mu.Unlock()
	for len(h.starts) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d jobs started in a minute, want %d", len(h.starts), n)
		}
		h.cond.Wait()
	}
}

// check verifies that jobs never overlapped, each started while the
// database said its runner held the lease, and tokens grew with every start.
func (h *holders) check(t *testing.T) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.most != 1 {
		t.Errorf("%d jobs ran at once, want 1", h.most)
	}
	for _, w := range h.wrongDB {
		t.Error(w)
	}
	for i := 1; i < len(h.starts); i++ {
		if h.starts[i].Token <= h.starts[i-1].Token {
			t.Errorf("start %d had token %d after %d", i, h.starts[i].Token, h.starts[i-1].Token)
		}
	}
}

// TestRunnersTakeTurnsOneAtATime runs three replicas' runners on one lease,
// competing every 10 ms for a job that returns after 20 ms: the job runs on
// one at a time, only with the database's agreement, with a larger token at
// every start, and moves between replicas. On shutdown each runner stops
// its job and releases the lease, which another owner then takes at once.
func TestRunnersTakeTurnsOneAtATime(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, tdb testenv.DB) {
		db := openStore(t, tdb)
		h := newHolders()
		ctx, stop := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for i := 0; i < 3; i++ {
			r := &lease.Runner{Store: db.Leases(), Name: "job", Owner: fmt.Sprintf("replica-%d", i), TTL: ttl,
				RetryEvery: 10 * time.Millisecond, Job: h.job(db.Leases())}
			wg.Add(1)
			go func() { defer wg.Done(); r.Run(ctx) }()
		}
		h.waitStarts(t, 30)
		stop()
		wg.Wait()
		h.check(t)
		h.mu.Lock()
		if len(h.owners) < 2 {
			t.Errorf("the job ran only on %v in %d turns, want it to move between replicas", h.owners, len(h.starts))
		}
		if h.active != 0 {
			t.Errorf("%d jobs still running after Run returned", h.active)
		}
		h.mu.Unlock()
		if _, err := db.Leases().Acquire(context.Background(), "job", "after", ttl); err != nil {
			t.Errorf("the lease was not released on shutdown: %v", err)
		}
	})
}

// TestKilledHolderIsReplacedWithinTheTTL runs the holder in a child process
// and kills it with SIGKILL, so that it releases nothing: a runner in this
// process, which could not take the lease while the child renewed it, takes
// it over with a larger token within a bound of a few TTLs.
func TestKilledHolderIsReplacedWithinTheTTL(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, tdb testenv.DB) {
		db := openStore(t, tdb)
		child := exec.Command(os.Args[0], "-test.run=^$")
		child.Env = append(os.Environ(), helperEnv+"="+tdb.URL)
		out, err := child.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		child.Stderr = os.Stderr
		if err := child.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { child.Process.Kill(); child.Wait() })
		lines := bufio.NewScanner(out)
		if !lines.Scan() {
			t.Fatalf("the child printed nothing: %v", lines.Err())
		}
		var childToken int64
		if _, err := fmt.Sscanf(lines.Text(), "holding %d", &childToken); err != nil {
			t.Fatalf("the child said %q", lines.Text())
		}

		started := make(chan lease.Lease, 1)
		ctx, stop := context.WithCancel(context.Background())
		defer stop()
		r := &lease.Runner{Store: db.Leases(), Name: "job", Owner: "survivor", TTL: ttl,
			Job: func(ctx context.Context, l lease.Lease) error {
				started <- l
				<-ctx.Done()
				return nil
			}}
		done := make(chan struct{})
		go func() { defer close(done); r.Run(ctx) }()
		defer func() { stop(); <-done }()

		// The child renews while the survivor competes: wait for two
		// renewals (the expiry moves), then check the survivor never got in.
		first, err := db.Leases().Holder(ctx, "job")
		if err != nil {
			t.Fatal(err)
		}
		for renewals, last := 0, first.ExpiresAt; renewals < 2; {
			time.Sleep(ttl / 10)
			cur, err := db.Leases().Holder(ctx, "job")
			if err != nil {
				t.Fatal(err)
			}
			if cur.Owner != "child" || cur.Token != childToken {
				t.Fatalf("the lease changed hands while the child held it: %+v", cur)
			}
			if cur.ExpiresAt.After(last) {
				renewals++
				last = cur.ExpiresAt
			}
		}
		select {
		case l := <-started:
			t.Fatalf("the survivor started the job (token %d) while the child held the lease", l.Token)
		default:
		}

		if err := child.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		select {
		case l := <-started:
			took := time.Since(killed)
			t.Logf("the survivor took over %s after the kill (TTL %s), token %d after the child's %d", took.Round(time.Millisecond), ttl, l.Token, childToken)
			if l.Token <= childToken {
				t.Errorf("takeover token %d, want more than the child's %d", l.Token, childToken)
			}
			if took > 5*ttl {
				t.Errorf("takeover took %s, want within TTL + RetryEvery (%s), 5×TTL at most", took, ttl+ttl/3)
			}
		case <-time.After(time.Minute):
			t.Fatal("no takeover within a minute of the kill")
		}
	})
}

// TestJobIsCancelledWhenTheLeaseIsTaken changes the lease's owner underneath
// the runner (as a buggy rival would): the next renewal fails with ErrLost
// and cancels the job with that cause. When the rival's holding ends, the
// runner takes the lease again with a token above the rival's.
func TestJobIsCancelledWhenTheLeaseIsTaken(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, tdb testenv.DB) {
		db := openStore(t, tdb)
		raw := openSQL(t, tdb)
		starts := make(chan lease.Lease, 4)
		causes := make(chan error, 4)
		r := &lease.Runner{Store: db.Leases(), Name: "job", Owner: "replica", TTL: ttl, RetryEvery: 50 * time.Millisecond,
			Job: func(ctx context.Context, l lease.Lease) error {
				starts <- l
				<-ctx.Done()
				causes <- context.Cause(ctx)
				return nil
			}}
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); r.Run(ctx) }()
		defer func() { stop(); <-done }()

		first := <-starts
		if _, err := raw.Exec("UPDATE leases SET owner = 'rival', token = token + 1, expires_at = expires_at + 3600000 WHERE name = 'job'"); err != nil {
			t.Fatal(err)
		}
		select {
		case cause := <-causes:
			if !errors.Is(cause, lease.ErrLost) {
				t.Errorf("the job was cancelled with %v, want ErrLost", cause)
			}
		case <-time.After(time.Minute):
			t.Fatal("the job was not cancelled after its lease was taken")
		}
		select {
		case l := <-starts:
			t.Fatalf("the job started again (token %d) while the rival held the lease", l.Token)
		default:
		}
		if _, err := raw.Exec("UPDATE leases SET expires_at = 0 WHERE name = 'job'"); err != nil {
			t.Fatal(err)
		}
		select {
		case l := <-starts:
			if l.Token != first.Token+2 {
				t.Errorf("re-acquired with token %d, want %d (after the rival's %d)", l.Token, first.Token+2, first.Token+1)
			}
		case <-time.After(time.Minute):
			t.Fatal("the runner did not take the lease back after the rival's ended")
		}
	})
}

// stallingStore is the real store whose renewals can be made to hang, as
// against a database that stopped answering without closing connections.
type stallingStore struct {
	*store.Leases
	stall atomic.Bool
}

func (s *stallingStore) Renew(ctx context.Context, l lease.Lease, ttl time.Duration) (lease.Lease, error) {
	if s.stall.Load() {
		<-ctx.Done()
		return lease.Lease{}, ctx.Err()
	}
	return s.Leases.Renew(ctx, l, ttl)
}

// TestJobStopsBeforeTheLeaseExpires stalls every renewal: the runner cancels
// the job by its own clock, nine tenths of the TTL after its last renewal was
// sent, which is before the database lets anyone else take the lease. The
// job proves it: when its context ends, another owner is still refused. (The
// TTL is longer here: the check must run within the last tenth.)
func TestJobStopsBeforeTheLeaseExpires(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, tdb testenv.DB) {
		db := openStore(t, tdb)
		s := &stallingStore{Leases: db.Leases()}
		result := make(chan error, 1)
		var runs atomic.Int32
		r := &lease.Runner{Store: s, Name: "job", Owner: "replica", TTL: 3 * time.Second,
			Job: func(ctx context.Context, l lease.Lease) error {
				if runs.Add(1) > 1 {
					<-ctx.Done()
					return nil
				}
				s.stall.Store(true)
				<-ctx.Done()
				_, err := db.Leases().Acquire(context.Background(), "job", "other", time.Second)
				result <- err
				return nil
			}}
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); r.Run(ctx) }()
		defer func() { stop(); <-done }()
		select {
		case err := <-result:
			if !errors.Is(err, lease.ErrHeld) {
				t.Errorf("when the job was stopped, another owner's acquisition gave %v, want ErrHeld: the job ran past the lease", err)
			}
		case <-time.After(time.Minute):
			t.Fatal("the job was not stopped while renewals stalled")
		}
	})
}
