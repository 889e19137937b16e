package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/auditlogd/auditlogd/internal/app"
	"github.com/auditlogd/auditlogd/internal/config"
	"github.com/auditlogd/auditlogd/internal/seed"
	"github.com/auditlogd/auditlogd/internal/store"
	"github.com/auditlogd/auditlogd/internal/testenv"
)

const testSecret = "bench-test-secret-0123456789abcdefghijklmnopqrstuvwxyz"

// TestBenchReportsWhatItMeasured runs every suite of the bench, briefly,
// against a server on a seeded MariaDB database, and checks that the report
// holds a measurement for each case: latencies and their SQL counterpart for
// every read, an exact count, both exports with their floor and memory, and
// writes whose events were all found; and for the streams suite, latencies
// of every event to every stream, writes with and without streams, and the
// catch-up of the seeded log, all delivered without a problem.
func TestBenchReportsWhatItMeasured(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 52,000 events")
	}
	db := testenv.MySQL(t)
	ctx := context.Background()
	st, err := store.Open(ctx, db.URL, store.Options{QueryTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	const events = 52000 // page 1,000 needs 49,950 before it
	res, err := seed.Run(ctx, st.Bulk(), seed.Options{Workspaces: 1, Events: events, AdminSub: "bench-admin",
		AdminEmail: "bench@example.com", Now: time.Now(), Seed: 3})
	if err != nil {
		t.Fatal(err)
	}

	srv := httptest.NewUnstartedServer(nil)
	vars := map[string]string{"AUDITLOG_DATABASE_URL": db.URL, "AUDITLOG_JWT_SECRET": testSecret, "AUDITLOG_EXPORT_SECRET": testSecret,
		"AUDITLOG_RATE_LIMIT_RPS": "0", "AUDITLOG_PUBLIC_URL": "http://" + srv.Listener.Addr().String(),
		"AUDITLOG_STREAM_ALLOW_PRIVATE": "true"}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	dctx, stopDelivery := context.WithCancel(ctx)
	delivered := make(chan struct{})
	go func() {
		defer close(delivered)
		a.DeliverLoop(dctx)
	}()
	defer func() {
		stopDelivery()
		<-delivered
	}()
	srv.Config.Handler = a.Handler
	srv.Start()
	defer srv.Close()

	var out, errOut bytes.Buffer
	err = run(ctx, []string{"--url", srv.URL, "--database-url", db.URL, "--jwt-secret", testSecret,
		"--workspace", res.Largest, "--server-pid", strconv.Itoa(os.Getpid()), "--suite", "all,streams",
		"--iterations", "5", "--clients", "2", "--write-time", "2s", "--streams", "3", "--stream-latency-time", "2s", "--stream-rounds", "1",
		"--json"}, &out, &errOut)
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, errOut.String())
	}
	var rep report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, out.String())
	}
	if len(rep.Reads) != 13 {
		t.Fatalf("%d reads in the report, want 13", len(rep.Reads))
	}
	for _, r := range rep.Reads {
		if r.Samples != 5 || r.P50 <= 0 || r.P99 < r.P50 || r.SQLP50 <= 0 || r.SQL == "" || !strings.Contains(r.Explain, "audit_events") {
			t.Errorf("read %q: %+v", r.Name, r)
		}
		if strings.HasPrefix(r.Name, "totalCount") || strings.HasPrefix(r.Name, "summary") {
			if !strings.Contains(r.Note, ": exact") || r.Rows == 0 {
				t.Errorf("read %q: count not shown exact: %q", r.Name, r.Note)
			}
		} else if strings.Contains(r.Name, "flag") {
			// A small seed has few flagged events: a page of at most 50.
			if r.Rows > 50 {
				t.Errorf("read %q returned %d rows, want at most a page of 50", r.Name, r.Rows)
			}
		} else if r.Rows != 50 && !(strings.Contains(r.Name, "rare") && r.Rows > 0 && r.Rows <= 50) {
			t.Errorf("read %q returned %d rows, want a page of 50", r.Name, r.Rows)
		}
	}
	if len(rep.Exports) != 4 {
		t.Fatalf("%d exports in the report, want CSV and JSON, each plain and gzipped", len(rep.Exports))
	}
	for _, x := range rep.Exports {
		if x.Rows < events || x.RowsPerSec <= 0 || x.FloorRowsPerSec <= 0 || x.OfFloor <= 0 || x.PeakRSSMiB <= 0 {
			t.Errorf("export %s %s: %+v", x.Format, x.Encoding, x)
		}
		if x.Encoding == "gzip" && !(x.WireMiB > 0 && x.WireMiB < x.MiB/2) || x.Encoding == "identity" && x.WireMiB != x.MiB {
			t.Errorf("export %s %s: %.2f MiB, %.2f MiB on the wire", x.Format, x.Encoding, x.MiB, x.WireMiB)
		}
	}
	if rep.FloorRows < events {
		t.Errorf("the floor read %d rows, want at least %d", rep.FloorRows, events)
	}
	w := rep.Writes
	if w == nil || w.Mutations == 0 || w.PerSec <= 0 || w.Errors != 0 || w.EventsFound != w.EventsExpected {
		t.Errorf("writes: %+v", w)
	}
	sr := rep.Streams
	if sr == nil || sr.Latency == nil || sr.CatchUp == nil || len(sr.Writes) != 2 {
		t.Fatalf("streams: %+v", sr)
	}
	if len(sr.Problems) > 0 {
		t.Errorf("the receivers saw problems: %q", sr.Problems)
	}
	l := sr.Latency
	if l.Streams != 3 || l.Mutations == 0 || l.Errors != 0 || l.Events != int64(l.Mutations) || l.Deliveries != 3*l.Events || l.Missing != 0 ||
		l.P50 <= 0 || l.P99 < l.P50 || l.Max < l.P99 {
		t.Errorf("stream latency: %+v", l)
	}
	for i, r := range sr.Writes {
		w := r.Result
		if w.Mutations == 0 || w.Errors != 0 || w.EventsFound != w.EventsExpected || r.Streams != 3*(i%2) {
			t.Errorf("writes round %d: %+v", i, r)
		}
		// Each of the 3 streams is on one of the 2 writers' workspaces.
		if r.Streams > 0 && r.Delivered < int64(w.Mutations)/2 {
			t.Errorf("writes round %d: the streams delivered %d events of %d written", i, r.Delivered, w.Mutations)
		}
	}
	if sr.WritesRatio <= 0 {
		t.Errorf("with ÷ without: %v", sr.WritesRatio)
	}
	c := sr.CatchUp
	if c.Events < events || c.PerSec <= 0 || c.Batches < events/100 || c.Repeated != 0 || c.MiB <= 0 {
		t.Errorf("catch-up: %+v", c)
	}
}
