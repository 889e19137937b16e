package audit_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/auditlogd/auditlogd/internal/apperr"
	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/auth"
	"github.com/auditlogd/auditlogd/internal/ids"
	"github.com/auditlogd/auditlogd/internal/store"
	"github.com/auditlogd/auditlogd/internal/testenv"
	"github.com/auditlogd/auditlogd/internal/workspace"
)

// xAccess is a Gate that answers what the test says (the real rules are
// the workspace service's, tested there and end to end).
type xAccess struct {
	mu  sync.Mutex
	err error
}

func (a *xAccess) set(err error) {
	a.mu.Lock()
	a.err = err
	a.mu.Unlock()
}

func (a *xAccess) answer() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

func (a *xAccess) AuthorizeLogRead(context.Context, *auth.Principal, string, *audit.AccessRow) error {
	return a.answer()
}

func (a *xAccess) KnowsAccess(context.Context, *auth.Principal, string) bool { return false }

func (a *xAccess) AuthorizeDownload(context.Context, string, bool, string) error { return a.answer() }

// xClock is a settable clock.
type xClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *xClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *xClock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

type xExporterEnv struct {
	db *store.DB
	// setup writes the test's history, with the default statement
	// deadline: some tests give db a tight one, which only the exporter's
	// reads are meant to meet.
	setup  *store.DB
	events *store.Events
	access *xAccess
	clock  *xClock
	signer *audit.URLSigner
	x      *audit.Exporter
}

const xWorkspace = "01HZY3J4QK2M6N8P0R2S4T6V8A"

// xNewExporter builds an Exporter on a fresh database of db, with a fake
// access check and a settable clock.
func xNewExporter(t *testing.T, db testenv.DB, batch int, queryTimeout time.Duration) *xExporterEnv {
	t.Helper()
	clock := &xClock{t: time.Now().UTC()}
	s, err := store.Open(context.Background(), db.URL, store.Options{QueryTimeout: queryTimeout, Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The exporter locks the workspace row; the access check is faked.
	now := time.Now().UTC()
	if err := s.Bulk().InsertWorkspaces(context.Background(), []workspace.Workspace{{ID: xWorkspace, Name: "X",
		Plan: workspace.PlanBusiness, CreatedAt: now, UpdatedAt: now}}); err != nil {
		t.Fatal(err)
	}
	setup, err := store.Open(context.Background(), db.URL, store.Options{Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { setup.Close() })
	e := &xExporterEnv{db: s, setup: setup, events: s.Events(), access: &xAccess{}, clock: clock,
		signer: audit.NewURLSigner(xSignerKey, "https://audit.example.com")}
	e.x = audit.NewExporter(e.events, e.access, e.signer, audit.ExporterConfig{
		TTL: 15 * time.Minute, Retention: 24 * time.Hour, BatchSize: batch, Now: e.clock.now})
	return e
}

// xAppend writes n events, two per millisecond from base on, and returns
// them newest first.
func (e *xExporterEnv) xAppend(t *testing.T, base time.Time, n int, ua string) []audit.Event {
	t.Helper()
	var out []audit.Event
	base = base.UTC().Truncate(time.Millisecond)
	for i := range n {
		at := base.Add(time.Duration(i/2) * time.Millisecond)
		email := "ada@example.com"
		agent := ua
		out = append(out, audit.Event{ID: ids.New(at), WorkspaceID: xWorkspace, Action: audit.MemberAdded, OccurredAt: at,
			Actor:  audit.Actor{ID: "user-ada", Email: &email, Type: audit.ActorUser},
			Target: &audit.Target{Type: audit.TargetUser, ID: "user-" + string(rune('a'+i%26))}, UserAgent: &agent})
	}
	// Straight into the table, as the seed command does: these events are
	// history, not the writes of a transaction that locked the workspace.
	if err := e.setup.Bulk().InsertEvents(context.Background(), out); err != nil {
		t.Fatal(err)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

var xRequester = &auth.Principal{Subject: "user-ada", Email: "ada@example.com"}

func xSplitURL(t *testing.T, raw string) (id, expires, signature string) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(u.Path, "/exports/"), u.Query().Get("expires"), u.Query().Get("signature")
}

// TestExporterOpenAnswersEachFailure checks what Open says, and in which
// order it checks: the signature, the expiry, the export's existence, then
// the requester's access now.
func TestExporterOpenAnswersEachFailure(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		e := xNewExporter(t, db, 0, 0)
		ctx := context.Background()
		created, err := e.x.Create(ctx, xRequester, xWorkspace, audit.CSV, audit.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		id, expires, sig := xSplitURL(t, created.URL)
		dbDown := errors.New("database unreachable")
		unknownID := ids.New(e.clock.now())
		_, _, unknownSig := xSplitURL(t, e.signer.URL(unknownID, created.Export.ExpiresAt))
		laterExp := created.Export.ExpiresAt.Add(time.Hour)
		_, laterExpires, laterSig := xSplitURL(t, e.signer.URL(id, laterExp))
		start := e.clock.now()
		for _, tc := range []struct {
			name                   string
			id, expires, signature string
			at                     time.Time
			access                 error
			want                   error
		}{
			{"valid", id, expires, sig, start, nil, nil},
			{"tampered-signature", id, expires, strings.Repeat("0", 64), start, nil, audit.ErrBadSignature},
			{"tampered-and-expired-is-403-first", id, expires, strings.Repeat("0", 64), start.Add(time.Hour), nil, audit.ErrBadSignature},
			{"expired", id, expires, sig, created.Export.ExpiresAt, nil, audit.ErrExpired},
			{"expired-and-access-lost-is-410-first", id, expires, sig, created.Export.ExpiresAt, apperr.New(apperr.Forbidden, "no"), audit.ErrExpired},
			{"validly-signed-unknown-export", unknownID, expires, unknownSig, start, nil, audit.ErrNoExport},
			{"validly-signed-for-another-expiry-than-recorded", id, laterExpires, laterSig, start, nil, audit.ErrBadSignature},
			{"requester-no-longer-admin", id, expires, sig, start, apperr.New(apperr.Forbidden, "not an admin"), audit.ErrNoAccess},
			{"workspace-no-longer-business", id, expires, sig, start, apperr.New(apperr.BusinessPlanRequired, "teams"), audit.ErrNoAccess},
			{"access-check-fails-internally", id, expires, sig, start, dbDown, dbDown},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e.clock.set(tc.at)
				e.access.set(tc.access)
				got, err := e.x.Open(ctx, tc.id, tc.expires, tc.signature)
				if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
					t.Fatalf("Open: error %v, want %v", err, tc.want)
				}
				if tc.want == nil && got.ID != created.Export.ID {
					t.Errorf("Open returned export %q, want %q", got.ID, created.Export.ID)
				}
				if tc.want != nil && got.ID != "" {
					t.Errorf("Open returned export %q with error %v", got.ID, err)
				}
			})
		}
	})
}

// TestExporterRecordsWhatTheURLNeeds checks the export Create records and
// reads back: its snapshot is its own event, and its file name.
func TestExporterRecordsWhatTheURLNeeds(t *testing.T) {
	t.Parallel()
	e := xNewExporter(t, testenv.SQLite(t), 0, 0)
	ctx := context.Background()
	since := e.clock.now().Add(-2 * time.Hour).UTC().Truncate(time.Millisecond)
	f := audit.Filter{Actions: []audit.Action{audit.MemberAdded, audit.MemberRemoved}, ActorEmail: "ADA@example.com", Since: &since}
	created, err := e.x.Create(ctx, xRequester, xWorkspace, audit.JSON, f)
	if err != nil {
		t.Fatal(err)
	}
	id, expires, sig := xSplitURL(t, created.URL)
	got, err := e.x.Open(ctx, id, expires, sig)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(created.Export, got); diff != "" {
		t.Errorf("export read back (-created +opened):\n%s", diff)
	}
	if got.ExpiresAt != got.ExpiresAt.Truncate(time.Second) || got.ExpiresAt.Sub(got.CreatedAt) > 15*time.Minute || got.ExpiresAt.Sub(got.CreatedAt) <= 15*time.Minute-time.Second {
		t.Errorf("expires at %v for an export created at %v, want 15 minutes later, in whole seconds", got.ExpiresAt, got.CreatedAt)
	}
	if want := "audit-log-" + xWorkspace + "-" + got.Snapshot.OccurredAt.UTC().Format("20060102T150405Z") + ".json"; got.FileName() != want {
		t.Errorf("file name %q, want %q", got.FileName(), want)
	}
	if !got.Snapshot.OccurredAt.Equal(got.CreatedAt) || got.Snapshot.ID <= got.ID {
		t.Errorf("snapshot %+v, want the export's own event, made with it at %v", got.Snapshot, got.CreatedAt)
	}
}

// xWriter is a client: it collects the file, optionally slowly. It is an
// audit.Output: it counts flushes and remembers the write deadlines set.
type xWriter struct {
	delay     time.Duration
	buf       strings.Builder
	writes    int
	flushes   int
	deadlines []time.Time
}

func (w *xWriter) Write(p []byte) (int, error) {
	time.Sleep(w.delay)
	w.writes++
	return w.buf.Write(p)
}

func (w *xWriter) Flush() error { w.flushes++; return nil }

func (w *xWriter) SetWriteDeadline(t time.Time) error {
	w.deadlines = append(w.deadlines, t)
	return nil
}

// TestExporterWriteStreamsEveryBatch exports more events than one batch
// holds, with events sharing milliseconds across batch boundaries.
func TestExporterWriteStreamsEveryBatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		batch  int
		events int
		filter audit.Filter
	}{
		{"one-batch-exactly", 10, 10, audit.Filter{}},
		{"odd-batch-splits-milliseconds", 3, 11, audit.Filter{}},
		{"batch-of-one", 1, 5, audit.Filter{}},
		{"several-actions-union", 4, 9, audit.Filter{Actions: []audit.Action{audit.MemberAdded, audit.AuditLogExported}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
				t.Parallel()
				e := xNewExporter(t, db, tc.batch, 0)
				ctx := context.Background()
				want := e.xAppend(t, e.clock.now().Add(-time.Hour), tc.events, "agent")
				created, err := e.x.Create(ctx, xRequester, xWorkspace, audit.CSV, tc.filter)
				if err != nil {
					t.Fatal(err)
				}
				// Written after the request: not in the file.
				e.clock.set(e.clock.now().Add(time.Second))
				e.xAppend(t, e.clock.now(), 3, "later")
				var w xWriter
				n, err := e.x.Write(ctx, created.Export, &w)
				flushes := w.flushes
				if err != nil {
					t.Fatalf("Write: %v", err)
				}
				if n != int64(len(want)) {
					t.Errorf("Write says %d rows, want %d", n, len(want))
				}
				recs, err := csv.NewReader(strings.NewReader(w.buf.String())).ReadAll()
				if err != nil {
					t.Fatal(err)
				}
				var ids []string
				for _, r := range recs[1:] {
					ids = append(ids, r[0])
				}
				var wantIDs []string
				for _, ev := range want {
					wantIDs = append(wantIDs, ev.ID)
				}
				if diff := cmp.Diff(wantIDs, ids); diff != "" {
					t.Errorf("ids in the file (-want +got):\n%s", diff)
				}
				if min := tc.events / tc.batch; flushes < min {
					t.Errorf("%d flushes for %d batches: the file is not streamed batch by batch", flushes, min)
				}
			})
		})
	}
}

// TestExporterWriteSurvivesASlowClient streams to a client slower than the
// database's statement deadline: the download must still complete, and no
// statement may stay open while the client reads.
func TestExporterWriteSurvivesASlowClient(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		const batch = 100
		e := xNewExporter(t, db, batch, 250*time.Millisecond)
		ctx := context.Background()
		// Enough bytes a batch (some 70 KB) to fill the 64 KiB buffer, so
		// that the client is written to while a batch is being read.
		want := e.xAppend(t, e.clock.now().Add(-time.Hour), 3*batch, strings.Repeat("x", 500))
		created, err := e.x.Create(ctx, xRequester, xWorkspace, audit.JSON, audit.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		w := xWriter{delay: 350 * time.Millisecond}
		n, err := e.x.Write(ctx, created.Export, &w)
		if err != nil {
			t.Fatalf("Write to a slow client: %v (after %d rows)", err, n)
		}
		if n != int64(len(want)) {
			t.Errorf("Write says %d rows, want %d", n, len(want))
		}
		var got []struct{ ID string }
		if err := json.Unmarshal([]byte(w.buf.String()), &got); err != nil {
			t.Fatalf("the file is not JSON: %v", err)
		}
		var gotIDs, wantIDs []string
		for i := range got {
			gotIDs = append(gotIDs, got[i].ID)
		}
		for _, ev := range want {
			wantIDs = append(wantIDs, ev.ID)
		}
		if diff := cmp.Diff(wantIDs, gotIDs); diff != "" {
			t.Errorf("ids in the file (-want +got):\n%s", diff)
		}
	})
}

// TestExporterSnapshotWaitsForWritersInFlight: a transaction that stamped an
// event of the workspace but has not committed yet holds the workspace lock;
// an export requested meanwhile waits for it, so the event (stamped before
// the snapshot) is in the file from the first download on, and the file
// never changes between downloads.
func TestExporterSnapshotWaitsForWritersInFlight(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		e := xNewExporter(t, db, 100, 0)
		ctx := context.Background()
		stamped := make(chan struct{})
		committed := make(chan error, 1)
		late := e.clock.now().UTC().Truncate(time.Millisecond)
		var ev audit.Event
		go func() {
			committed <- e.db.Workspaces().InTx(ctx, func(tx workspace.Store) error {
				lk, err := tx.LockWorkspace(ctx, xWorkspace, "user-slow")
				if err != nil {
					return err
				}
				ev = audit.Event{ID: ids.New(lk.Now), WorkspaceID: xWorkspace, Action: audit.MemberRemoved, OccurredAt: lk.Now,
					Actor: audit.Actor{ID: "user-slow", Type: audit.ActorUser}}
				if err := tx.AppendEvents(ctx, ev); err != nil {
					return err
				}
				close(stamped)
				time.Sleep(300 * time.Millisecond) // a slow transaction, still open
				return nil
			})
		}()
		<-stamped
		e.clock.set(late.Add(time.Millisecond))
		created, err := e.x.Create(ctx, xRequester, xWorkspace, audit.CSV, audit.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		var w xWriter
		if _, err := e.x.Write(ctx, created.Export, &w); err != nil {
			t.Fatal(err)
		}
		if err := <-committed; err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(w.buf.String(), ev.ID) {
			t.Fatalf("the first download misses an event stamped before the export was requested:\n%s", w.buf.String())
		}
		var again xWriter
		if _, err := e.x.Write(ctx, created.Export, &again); err != nil {
			t.Fatal(err)
		}
		if again.buf.String() != w.buf.String() {
			t.Error("a second download differs from the first")
		}
	})
}
