package app_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/auditlogd/auditlogd/internal/app"
	"github.com/auditlogd/auditlogd/internal/config"
	"github.com/auditlogd/auditlogd/internal/testenv"
)

const secret = "prune-lease-test-secret-0123456789abcdefghijklmno"

// replica is one auditlogd on the shared database, its retention loop
// running until stop is called.
type replica struct {
	app  *app.App
	logs *testenv.LogBuffer
	stop context.CancelFunc
	done chan struct{}
}

func startReplica(t *testing.T, db testenv.DB) *replica {
	t.Helper()
	vars := map[string]string{
		"AUDITLOG_DATABASE_URL":  db.URL,
		"AUDITLOG_JWT_SECRET":    secret,
		"AUDITLOG_EXPORT_SECRET": secret,
		"AUDITLOG_LEASE_TTL":     "3s",
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	logs := &testenv.LogBuffer{}
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewJSONHandler(logs, nil)), app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	r := &replica{app: a, logs: logs, stop: stop, done: make(chan struct{})}
	go func() { defer close(r.done); a.PruneLoop(ctx, 20*time.Millisecond) }()
	t.Cleanup(func() { r.halt(); a.Close() })
	return r
}

// halt stops the replica's retention loop and waits for it.
func (r *replica) halt() {
	r.stop()
	<-r.done
}

// prunes counts the retention runs the replica has logged.
func (r *replica) prunes() int { return strings.Count(r.logs.String(), `"msg":"retention: pruned"`) }

// waitPrunes waits until the replica has logged n retention runs.
func waitPrunes(t *testing.T, r *replica, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for r.prunes() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d retention runs in a minute, want %d; log:\n%s", r.prunes(), n, r.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestOnlyTheLeaseHolderPrunes runs the retention loop of two replicas on
// one database: while the first holds the retention lease the second never
// prunes, however often its interval comes round; when the first stops (and
// releases the lease), the second takes over.
func TestOnlyTheLeaseHolderPrunes(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		first := startReplica(t, db)
		waitPrunes(t, first, 1)
		second := startReplica(t, db)
		// The second competes (every second) while the first prunes every
		// 20 ms and renews every second.
		waitPrunes(t, first, first.prunes()+150)
		if n := second.prunes(); n != 0 {
			t.Fatalf("the replica without the lease pruned %d times", n)
		}
		first.halt()
		waitPrunes(t, second, 1)
		held, err := second.app.DB.Leases().Holder(context.Background(), app.RetentionLease)
		if err != nil || held.Token != 2 {
			t.Errorf("retention lease after the takeover: %+v, %v; want token 2", held, err)
		}
		if !strings.Contains(first.logs.String(), `"msg":"lease: job stopped for shutdown"`) {
			t.Errorf("the first replica did not log stopping its job:\n%s", first.logs.String())
		}
	})
}
