//go:build load

package e2e

import (
	"database/sql"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/auditlogd/auditlogd/internal/testenv"
)

// TestLoad drives concurrent audited mutations (one writer per workspace)
// and log reads against MariaDB for a fixed time, then proves from the
// database that every membership and invite change has exactly one event
// and every event one change, that every mutation the clients saw succeed
// wrote its event, and that no request got a 5xx. It reports throughput and
// latency. It is not part of the default test run:
//
//	AUDITLOG_TEST_MYSQL_DSN='root@tcp(127.0.0.1:3306)/' go test -tags load -run TestLoad -v ./internal/e2e/
//
// AUDITLOG_LOAD_DURATION (default 30s), AUDITLOG_LOAD_WRITERS (16) and
// AUDITLOG_LOAD_READERS (4) tune it; AUDITLOG_LOAD_REPORT names a file for
// the markdown report.
func TestLoad(t *testing.T) {
	duration := envDuration("AUDITLOG_LOAD_DURATION", 30*time.Second)
	writers := envInt("AUDITLOG_LOAD_WRITERS", 16)
	readers := envInt("AUDITLOG_LOAD_READERS", 4)
	db := testenv.MySQL(t)
	s := newServer(t, db, map[string]string{"AUDITLOG_LOG_LEVEL": "warn"})
	w := newWorkload(t, s, writers)
	conn := openSQL(t, db)
	before := countEvents(t, conn, w.ids())

	start := time.Now()
	stop := w.run(readers)
	time.Sleep(duration)
	stop()
	secs := time.Since(start).Seconds()

	events := countEvents(t, conn, w.ids()) - before
	checked := checkLogMatchesState(t, conn, w.ids())
	w.mu.Lock()
	defer w.mu.Unlock()
	mutations, reads := 0, w.successes["auditLog"]
	for name, n := range w.successes {
		if name != "auditLog" {
			mutations += n
		}
	}
	fiveXX := 0
	for status, n := range w.statuses {
		if status >= 500 || status < 0 {
			fiveXX += n
		}
	}
	if fiveXX > 0 {
		t.Errorf("%d responses were 5xx or failed: %v", fiveXX, w.statuses)
	}
	if len(w.codes) > 0 {
		t.Errorf("errors seen: %v (sample: %v)", w.codes, w.messages)
	}
	if events != mutations {
		t.Errorf("%d mutations succeeded but %d events were written", mutations, events)
	}
	report := fmt.Sprintf(`| duration | writers | readers | mutations | mutations/s | mutation p50 | mutation p99 | reads | reads/s | read p50 | read p99 | 5xx | events checked | mismatches |
| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
| %.0f s | %d | %d | %d | %.0f | %.1f ms | %.1f ms | %d | %.0f | %.1f ms | %.1f ms | %d | %d | %d |
`, secs, writers, readers, mutations, float64(mutations)/secs, ms(percentile(w.writes, .5)), ms(percentile(w.writes, .99)),
		reads, float64(reads)/secs, ms(percentile(w.reads, .5)), ms(percentile(w.reads, .99)), fiveXX, checked, abs(events-mutations))
	t.Log("\n" + report)
	if path := os.Getenv("AUDITLOG_LOAD_REPORT"); path != "" {
		if err := os.WriteFile(path, []byte(report), 0o644); err != nil {
			t.Error(err)
		}
	}
}

func countEvents(t testing.TB, conn *sql.DB, ids []string) int {
	t.Helper()
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	var n int
	q := "SELECT COUNT(*) FROM audit_events WHERE workspace_id IN (?" + strings.Repeat(",?", len(ids)-1) + ")"
	if err := conn.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil {
		return d
	}
	return def
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return n
	}
	return def
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func abs(n int) int { return max(n, -n) }

// percentile of latencies, p in [0, 1].
func percentile(lat []time.Duration, p float64) time.Duration {
	l := append([]time.Duration(nil), lat...)
	if len(l) == 0 {
		return 0
	}
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	return l[int(float64(len(l)-1)*p)]
}
