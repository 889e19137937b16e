package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"github.com/auditlogd/auditlogd/internal/apperr"
	"github.com/auditlogd/auditlogd/internal/lease"
	"github.com/auditlogd/auditlogd/internal/testenv"
)

// createProbe makes a table that fenced writes in the tests write to.
func createProbe(t *testing.T, db *DB) {
	t.Helper()
	if err := db.write.Exec("CREATE TABLE lease_probe (id VARCHAR(64) NOT NULL PRIMARY KEY)").Error; err != nil {
		t.Fatal(err)
	}
}

// fencedWrite inserts id into lease_probe in a transaction fenced by l.
func fencedWrite(ctx context.Context, s *Leases, l lease.Lease, id string) error {
	return s.InTx(ctx, func(tx *Leases) error {
		if err := tx.CheckFence(ctx, l); err != nil {
			return err
		}
		return tx.c.run(ctx, true, func(db *gorm.DB) error {
			return db.Exec("INSERT INTO lease_probe (id) VALUES (?)", id).Error
		})
	})
}

func probeHas(t *testing.T, db *DB, id string) bool {
	t.Helper()
	var n int64
	if err := db.read.Raw("SELECT COUNT(*) FROM lease_probe WHERE id = ?", id).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// waitAcquire tries to acquire until it succeeds: the previous holding must
// expire by the database's clock first.
func waitAcquire(t *testing.T, s *Leases, name, owner string, ttl time.Duration) lease.Lease {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		l, err := s.Acquire(context.Background(), name, owner, ttl)
		if err == nil {
			return l
		}
		if !errors.Is(err, lease.ErrHeld) {
			t.Fatalf("acquire: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s could not acquire %s within 30 s", owner, name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLeaseLifecycle walks one lease through its states: first acquisition
// inserts it with token 1; another owner is refused while it is held; the
// holder's re-acquisition, a release and a takeover each raise the token; a
// renewal or fence of a holding that changed hands fails with ErrLost.
func TestLeaseLifecycle(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, tdb testenv.DB) {
		db := open(t, tdb)
		s := db.Leases()
		ctx := context.Background()
		if _, err := s.Holder(ctx, "job"); !errors.Is(err, apperr.ErrNotFound) {
			t.Fatalf("holder of a lease never taken: %v, want NOT_FOUND", err)
		}
		a1, err := s.Acquire(ctx, "job", "a", time.Minute)
		if err != nil || a1.Token != 1 || a1.Owner != "a" || a1.Name != "job" {
			t.Fatalf("first acquisition: %+v, %v; want a's, token 1", a1, err)
		}
		if until := time.Until(a1.ExpiresAt); until < 50*time.Second || until > 70*time.Second {
			t.Errorf("a minute's lease expires in %s", until)
		}
		if _, err := s.Acquire(ctx, "job", "b", time.Minute); !errors.Is(err, lease.ErrHeld) {
			t.Fatalf("b acquired a held lease: %v", err)
		}
		a2, err := s.Acquire(ctx, "job", "a", time.Minute)
		if err != nil || a2.Token != 2 {
			t.Fatalf("the holder's re-acquisition: %+v, %v; want token 2", a2, err)
		}
		if _, err := s.Renew(ctx, a1, time.Minute); !errors.Is(err, lease.ErrLost) {
			t.Errorf("renewal of the superseded holding (token 1): %v, want ErrLost", err)
		}
		renewed, err := s.Renew(ctx, a2, 2*time.Minute)
		if err != nil || renewed.Token != 2 || !renewed.ExpiresAt.After(a2.ExpiresAt) {
			t.Fatalf("renewal: %+v, %v; want token 2, a later expiry than %s", renewed, err, a2.ExpiresAt)
		}
		if err := s.Release(ctx, a2); err != nil {
			t.Fatal(err)
		}
		b, err := s.Acquire(ctx, "job", "b", time.Minute)
		if err != nil || b.Token != 3 || b.Owner != "b" {
			t.Fatalf("acquisition after a release: %+v, %v; want b's, token 3", b, err)
		}
		if _, err := s.Renew(ctx, a2, time.Minute); !errors.Is(err, lease.ErrLost) {
			t.Errorf("a's renewal after b took over: %v, want ErrLost", err)
		}
		if err := s.Release(ctx, a2); err != nil {
			t.Errorf("a's release after b took over: %v", err)
		}
		if h, err := s.Holder(ctx, "job"); err != nil || h.Owner != "b" || h.Token != 3 {
			t.Errorf("a's late release changed the lease: %+v, %v; want b's, token 3", h, err)
		}
		if _, err := s.Acquire(ctx, "other", "a", time.Minute); err != nil {
			t.Errorf("leases of different names are independent: %v", err)
		}
	})
}

// TestLeaseExpiresAndStaleOwnerIsFenced lets a short holding expire: another
// owner takes over with a larger token, and the stale holder can neither
// renew nor write through the fence, while the new holder can. The stale
// write is rolled back with its fence.
func TestLeaseExpiresAndStaleOwnerIsFenced(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, tdb testenv.DB) {
		db := open(t, tdb)
		createProbe(t, db)
		s := db.Leases()
		ctx := context.Background()
		stale, err := s.Acquire(ctx, "job", "a", 300*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if err := fencedWrite(ctx, s, stale, "a-while-holding"); err != nil {
			t.Fatalf("the holder's fenced write: %v", err)
		}
		if _, err := s.Acquire(ctx, "job", "b", time.Minute); !errors.Is(err, lease.ErrHeld) {
			t.Fatalf("b took an unexpired lease: %v", err)
		}
		fresh := waitAcquire(t, s, "job", "b", time.Minute)
		if fresh.Token <= stale.Token {
			t.Errorf("takeover token %d, want more than %d", fresh.Token, stale.Token)
		}
		if err := fencedWrite(ctx, s, stale, "a-after-takeover"); !errors.Is(err, lease.ErrLost) {
			t.Errorf("the stale holder's fenced write: %v, want ErrLost", err)
		}
		if probeHas(t, db, "a-after-takeover") {
			t.Error("the stale holder's write was committed")
		}
		if _, err := s.Renew(ctx, stale, time.Minute); !errors.Is(err, lease.ErrLost) {
			t.Errorf("the stale holder's renewal: %v, want ErrLost", err)
		}
		if err := fencedWrite(ctx, s, fresh, "b-holding"); err != nil {
			t.Errorf("the new holder's fenced write: %v", err)
		}
		if !probeHas(t, db, "a-while-holding") || !probeHas(t, db, "b-holding") {
			t.Error("a holder's fenced write is missing")
		}
	})
}

// TestLeaseExpiredButNotTakenIsLost checks that a holding that ran out is
// over even when nobody took the lease: its renewal and fence fail, and its
// owner must acquire again, with a new token.
func TestLeaseExpiredButNotTakenIsLost(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, tdb testenv.DB) {
		db := open(t, tdb)
		createProbe(t, db)
		s := db.Leases()
		ctx := context.Background()
		l, err := s.Acquire(ctx, "job", "a", 200*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		// A lease of TTL 0 expires at once: its expiry reads the database's
		// clock. Wait until that is past l's expiry.
		for {
			c, err := s.Acquire(ctx, "clock", "clock", 0)
			if err != nil {
				t.Fatal(err)
			}
			if c.ExpiresAt.After(l.ExpiresAt) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if _, err := s.Renew(ctx, l, time.Minute); !errors.Is(err, lease.ErrLost) {
			t.Errorf("renewal of an expired holding: %v, want ErrLost", err)
		}
		if err := fencedWrite(ctx, s, l, "expired"); !errors.Is(err, lease.ErrLost) {
			t.Errorf("fenced write of an expired holding: %v, want ErrLost", err)
		}
		again, err := s.Acquire(ctx, "job", "a", time.Minute)
		if err != nil || again.Token != l.Token+1 {
			t.Errorf("re-acquisition: %+v, %v; want token %d", again, err, l.Token+1)
		}
	})
}

// TestLeaseConcurrentAcquirersOneWins races eight owners for one lease,
// round after round (the first round on an absent row, so the INSERT path
// races too): each round exactly one wins, and tokens only grow.
func TestLeaseConcurrentAcquirersOneWins(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, tdb testenv.DB) {
		db := open(t, tdb)
		s := db.Leases()
		ctx := context.Background()
		var last int64
		for round := 0; round < 10; round++ {
			var (
				mu      sync.Mutex
				winners []lease.Lease
				wg      sync.WaitGroup
				start   = make(chan struct{})
			)
			for i := 0; i < 8; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					l, err := s.Acquire(ctx, "job", fmt.Sprintf("owner-%d", i), time.Minute)
					if err != nil && !errors.Is(err, lease.ErrHeld) {
						t.Errorf("acquire: %v", err)
						return
					}
					if err == nil {
						mu.Lock()
						winners = append(winners, l)
						mu.Unlock()
					}
				}()
			}
			close(start)
			wg.Wait()
			if len(winners) != 1 {
				t.Fatalf("round %d: %d owners acquired the lease, want exactly one: %+v", round, len(winners), winners)
			}
			if winners[0].Token <= last {
				t.Fatalf("round %d: token %d after %d", round, winners[0].Token, last)
			}
			last = winners[0].Token
			if err := s.Release(ctx, winners[0]); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestLeaseExpiryIsJudgedByTheDatabaseClock gives two replicas the same
// database but sessions whose clocks differ (MySQL's SET timestamp, via the
// DSN): the one whose database clock is two hours ahead sees a one-hour
// lease as expired and takes it. Had the store used the replica's own clock,
// which is the same for both here, it could not have.
func TestLeaseExpiryIsJudgedByTheDatabaseClock(t *testing.T) {
	tdb := testenv.MySQL(t)
	db := open(t, tdb)
	cfg, err := mysql.ParseDSN(strings.TrimPrefix(tdb.URL, "mysql://"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["timestamp"] = strconv.FormatInt(time.Now().Add(2*time.Hour).Unix(), 10)
	ahead, err := Open(context.Background(), "mysql://"+cfg.FormatDSN(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ahead.Close()
	ctx := context.Background()
	held, err := db.Leases().Acquire(ctx, "job", "a", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Leases().Acquire(ctx, "job", "b", time.Hour); !errors.Is(err, lease.ErrHeld) {
		t.Fatalf("b on the same clock took the lease: %v", err)
	}
	took, err := ahead.Leases().Acquire(ctx, "job", "c", time.Hour)
	if err != nil || took.Token != held.Token+1 {
		t.Fatalf("c, whose database clock is two hours ahead, did not take the expired lease: %+v, %v", took, err)
	}
}
