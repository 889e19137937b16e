package audit_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/testenv"
)

// Downloads that a client reads slowly or not at all (issue 14, finding 6):
// the exporter's side. The HTTP side (limits on downloads at once, stalled
// connections cut off) is tested end to end in internal/e2e.

// xSizes records the batch sizes the exporter asks the store for.
type xSizes struct {
	audit.ExportStore
	adaptive audit.AdaptiveStreamer

	mu    sync.Mutex
	sizes []int
}

func (s *xSizes) StreamEventsAdaptive(ctx context.Context, q audit.Query, size func() int, fn func(*audit.Row) error) error {
	return s.adaptive.StreamEventsAdaptive(ctx, q, func() int {
		n := size()
		s.mu.Lock()
		s.sizes = append(s.sizes, n)
		s.mu.Unlock()
		return n
	}, fn)
}

func (s *xSizes) got() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.sizes...)
}

// xSlowOutput is a client that takes its time over each flush.
type xSlowOutput struct {
	xWriter
	flushDelay time.Duration
	onFlush    func()
}

func (o *xSlowOutput) Flush() error {
	time.Sleep(o.flushDelay)
	if o.onFlush != nil {
		o.onFlush()
	}
	return o.xWriter.Flush()
}

// xExporterWith builds an exporter on e's database that reads through a
// recorder of batch sizes.
func xExporterWith(e *xExporterEnv, cfg audit.ExporterConfig) (*audit.Exporter, *xSizes) {
	rec := &xSizes{ExportStore: e.events, adaptive: e.events}
	cfg.TTL, cfg.Retention, cfg.Now = 15*time.Minute, 24*time.Hour, e.clock.now
	return audit.NewExporter(rec, e.access, e.signer, cfg), rec
}

// TestExporterWriteShrinksBatchesForASlowClient: a client that takes longer
// than SlowBatch over each batch gets smaller and smaller batches, down to
// MinBatchSize, and a fast one gets them grow up to BatchSize; the file is
// complete either way.
func TestExporterWriteShrinksBatchesForASlowClient(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		e := xNewExporter(t, db, 0, 0)
		ctx := context.Background()
		want := e.xAppend(t, e.clock.now().Add(-time.Hour), 300, "agent")
		created, err := e.x.Create(ctx, xRequester, xWorkspace, audit.CSV, audit.Filter{})
		if err != nil {
			t.Fatal(err)
		}

		t.Run("slow", func(t *testing.T) {
			x, rec := xExporterWith(e, audit.ExporterConfig{BatchSize: 400, MinBatchSize: 20, SlowBatch: 20 * time.Millisecond})
			out := &xSlowOutput{flushDelay: 40 * time.Millisecond}
			n, err := x.Write(ctx, created.Export, out)
			if err != nil || n != int64(len(want)) {
				t.Fatalf("Write: %d rows, %v; want %d", n, err, len(want))
			}
			sizes := rec.got()
			if len(sizes) < 3 || sizes[0] > 400 {
				t.Fatalf("batch sizes %v", sizes)
			}
			if last := sizes[len(sizes)-1]; last != 20 {
				t.Errorf("batch sizes %v: a client slower than SlowBatch over every batch should be down to MinBatchSize (20)", sizes)
			}
			for i, s := range sizes {
				if s < 20 || s > 400 {
					t.Errorf("batch %d of %d rows, outside [20, 400]: %v", i, s, sizes)
				}
			}
		})
		t.Run("fast", func(t *testing.T) {
			x, rec := xExporterWith(e, audit.ExporterConfig{BatchSize: 40, MinBatchSize: 10, SlowBatch: time.Hour})
			var out xWriter
			n, err := x.Write(ctx, created.Export, &out)
			if err != nil || n != int64(len(want)) {
				t.Fatalf("Write: %d rows, %v; want %d", n, err, len(want))
			}
			sizes := rec.got()
			if sizes[0] >= 40 || sizes[len(sizes)-1] != 40 {
				t.Errorf("batch sizes %v: they should start small and grow to BatchSize (40) for a fast client", sizes)
			}
		})
	})
}

// TestExporterWriteSetsARollingDeadline: every batch gets a write deadline
// of its own, never further than BatchDeadline from when it was set, and
// never past the URL's expiry.
func TestExporterWriteSetsARollingDeadline(t *testing.T) {
	t.Parallel()
	e := xNewExporter(t, testenv.SQLite(t), 50, 0)
	ctx := context.Background()
	e.xAppend(t, e.clock.now().Add(-time.Hour), 500, "agent")
	created, err := e.x.Create(ctx, xRequester, xWorkspace, audit.CSV, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("each batch", func(t *testing.T) {
		x, _ := xExporterWith(e, audit.ExporterConfig{BatchSize: 50, MinBatchSize: 50, BatchDeadline: 7 * time.Second})
		var out xWriter
		start := time.Now()
		if _, err := x.Write(ctx, created.Export, &out); err != nil {
			t.Fatal(err)
		}
		end := time.Now()
		if len(out.deadlines) < 500/50 {
			t.Fatalf("%d deadlines for 10 batches: the deadline does not roll with the batches", len(out.deadlines))
		}
		for i, d := range out.deadlines {
			if d.Before(start.Add(7*time.Second)) || d.After(end.Add(7*time.Second)) {
				t.Errorf("deadline %d at %v, want 7 s after it was set (between %v and %v)", i, d, start.Add(7*time.Second), end.Add(7*time.Second))
			}
		}
	})
	t.Run("never past the expiry", func(t *testing.T) {
		// Two seconds before the URL expires, a minute's deadline is cut to
		// those two seconds.
		e.clock.set(created.Export.ExpiresAt.Add(-2 * time.Second))
		defer e.clock.set(time.Now().UTC())
		x, _ := xExporterWith(e, audit.ExporterConfig{BatchSize: 50, BatchDeadline: time.Minute})
		var out xWriter
		before := time.Now()
		if _, err := x.Write(ctx, created.Export, &out); err != nil {
			t.Fatal(err)
		}
		for i, d := range out.deadlines {
			if d.After(time.Now().Add(2 * time.Second)) {
				t.Errorf("deadline %d at %v, %v after the write began: past the URL's expiry, 2 s away", i, d, d.Sub(before))
			}
		}
	})
}

// TestExporterWriteStopsAtTheExpiry: a download still running when its URL
// expires stops there, with ErrDownloadExpired, rather than going on.
func TestExporterWriteStopsAtTheExpiry(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		e := xNewExporter(t, db, 0, 0)
		ctx := context.Background()
		e.xAppend(t, e.clock.now().Add(-time.Hour), 300, strings.Repeat("u", 100))
		created, err := e.x.Create(ctx, xRequester, xWorkspace, audit.JSON, audit.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		x, _ := xExporterWith(e, audit.ExporterConfig{BatchSize: 20, MinBatchSize: 20})
		flushes := 0
		out := &xSlowOutput{onFlush: func() {
			// The client is slow: after the third batch, the URL has expired.
			if flushes++; flushes == 3 {
				e.clock.set(created.Export.ExpiresAt)
			}
		}}
		n, err := x.Write(ctx, created.Export, out)
		if !errors.Is(err, audit.ErrDownloadExpired) {
			t.Fatalf("Write after the expiry: %d rows, error %v; want ErrDownloadExpired", n, err)
		}
		if n >= 300 || n > 4*20 {
			t.Errorf("%d rows written; the stream should stop within a batch of the expiry (60 rows)", n)
		}
	})
}
