package e2e

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/auditlogd/auditlogd/internal/app"
	"github.com/auditlogd/auditlogd/internal/testenv"
)

// This file checks docs/API.md §11's promise that nothing is skipped while a
// receiver is failing, for each way a receiver fails — it answers HTTP 500,
// it hangs past the delivery timeout, it is down (connection refused) — and
// that the stream's status and lastError say so, then recover.

// fMode is how the receiver answers.
type fMode int

const (
	fHealthy fMode = iota // acknowledge (204)
	f500                  // answer HTTP 500
	fHang                 // read the request and never answer
)

// fReceiver is a receiver on a fixed loopback address that the test can
// make fail, stop and start again on the same port. What it acknowledges
// it records in an sReceiver, so that sCheckDelivered can check it.
type fReceiver struct {
	t    *testing.T
	addr string
	rec  *sReceiver

	mu       sync.Mutex
	mode     fMode
	srv      *http.Server
	failures int // requests answered other than 2xx (or not at all)
	// hungLong is set when a hanging request was not given up by the
	// deliverer within a minute (its timeout does not work); closed ends
	// such requests when the test is over, so that a handler never
	// reports to a test that has completed.
	hungLong bool
	closed   chan struct{}
}

func fNewReceiver(t *testing.T) *fReceiver {
	r := &fReceiver{t: t, rec: &sReceiver{t: t, sequences: map[int64]int{}}, closed: make(chan struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	r.serveOn(ln)
	t.Cleanup(func() {
		close(r.closed)
		r.stop()
	})
	return r
}

func (r *fReceiver) url() string { return "http://" + r.addr + "/hook" }

func (r *fReceiver) serveOn(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(r.serve), ReadHeaderTimeout: 10 * time.Second}
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// stop takes the receiver down: its port refuses connections.
func (r *fReceiver) stop() {
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	r.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// start brings the receiver back on the same port.
func (r *fReceiver) start() {
	r.t.Helper()
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp", r.addr); err == nil || !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		r.t.Fatalf("the receiver cannot listen on its port %s again: %v", r.addr, err)
	}
	r.serveOn(ln)
}

func (r *fReceiver) setMode(m fMode) {
	r.mu.Lock()
	r.mode = m
	r.mu.Unlock()
}

func (r *fReceiver) failed() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failures
}

func (r *fReceiver) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	mode := r.mode
	if mode != fHealthy {
		r.failures++
	}
	r.mu.Unlock()
	switch mode {
	case f500:
		http.Error(w, "receiver down for maintenance", http.StatusInternalServerError)
	case fHang:
		// Hang until the deliverer gives up and closes the connection. The
		// body is read first: the server notices a closed connection (and
		// ends the request's context) only once the body has been read.
		_, _ = io.Copy(io.Discard, req.Body)
		select {
		case <-req.Context().Done():
		case <-r.closed:
		case <-time.After(time.Minute):
			r.mu.Lock()
			r.hungLong = true
			r.mu.Unlock()
		}
	default:
		r.rec.serve(w, req)
	}
}

// fStream is a stream as the API shows it, with its delivery fields.
type fStream struct {
	ID               string
	Status           string
	DeliveredThrough int64
	LastDeliveryAt   *time.Time
	LastError        *string
}

func fStatus(t *testing.T, s *server, admin user, ws, id string) fStream {
	t.Helper()
	var out struct {
		Workspace struct{ LogStreams []fStream }
	}
	s.ok(t, admin.token, `query($w: ID!) { workspace(id: $w) { logStreams { id status deliveredThrough lastDeliveryAt lastError } } }`,
		map[string]any{"w": ws}, &out)
	for _, ls := range out.Workspace.LogStreams {
		if ls.ID == id {
			return ls
		}
	}
	t.Fatalf("stream %s is not listed", id)
	return fStream{}
}

func (f fStream) String() string {
	e := "null"
	if f.LastError != nil {
		e = fmt.Sprintf("%q", *f.LastError)
	}
	return fmt.Sprintf("status %s deliveredThrough %d lastDeliveryAt %v lastError %s", f.Status, f.DeliveredThrough, f.LastDeliveryAt, e)
}

// TestStreamRecoversFromEachKindOfFailure: for a receiver that answers HTTP
// 500, one that hangs past the delivery timeout, and one that is down
// (connection refused) and then starts again on the same port, each for
// long enough that the stream turns FAILING: while it fails, the stream's
// position does not move and its lastError names the failure; once the
// receiver is back, every event arrives exactly once (no acknowledged batch
// was lost, so there is nothing to repeat), in order, with no gap, signed,
// and the stream is ACTIVE with no lastError.
func TestStreamRecoversFromEachKindOfFailure(t *testing.T) {
	const timeout = time.Second
	kinds := []struct {
		name    string
		lastErr string
		fail    func(r *fReceiver)
		recover func(r *fReceiver)
	}{
		{"http-500", "HTTP 500: receiver down for maintenance", func(r *fReceiver) { r.setMode(f500) }, func(r *fReceiver) { r.setMode(fHealthy) }},
		{"timeout", "timeout after " + timeout.String(), func(r *fReceiver) { r.setMode(fHang) }, func(r *fReceiver) { r.setMode(fHealthy) }},
		{"connection-refused", "connection refused", (*fReceiver).stop, (*fReceiver).start},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
				t.Parallel()
				s := newServerWith(t, db, map[string]string{"AUDITLOG_STREAM_ALLOW_PRIVATE": "true"}, app.Options{StreamTimeout: timeout})
				s.sDeliver(t)
				admin := s.newUser(t, "admin")
				ws := s.newWorkspace(t, admin, "BUSINESS")
				r := fNewReceiver(t)
				st := sCreate(t, s, admin, ws, r.url(), "NOW")
				id, first := st.Stream.ID, st.Stream.DeliveredThrough+1

				// Healthy: the first five arrive.
				sChurn(t, s, admin, ws, 5)
				healthy := first + 4
				sWaitFor(t, "the first events are delivered", func() bool { return fStatus(t, s, admin, ws, id).DeliveredThrough == healthy })

				// Failing: events keep being written; the stream turns
				// FAILING, names the failure, and holds its position.
				k.fail(r)
				sChurn(t, s, admin, ws, 5)
				var during fStream
				sWaitFor(t, "the stream is FAILING with lastError "+k.lastErr, func() bool {
					during = fStatus(t, s, admin, ws, id)
					return during.Status == "FAILING" && during.LastError != nil && *during.LastError == k.lastErr
				})
				if during.DeliveredThrough != healthy {
					t.Errorf("while the receiver fails the stream shows %s; want deliveredThrough %d", during, healthy)
				}
				sChurn(t, s, admin, ws, 5)
				if k.name != "connection-refused" && r.failed() < 3 {
					t.Errorf("the receiver failed %d requests before the stream turned FAILING; want at least 3", r.failed())
				}

				// Back: everything written meanwhile, and after, arrives.
				recovered := time.Now()
				k.recover(r)
				sChurn(t, s, admin, ws, 5)
				last := first + 19
				sWaitFor(t, "delivery catches up", func() bool { return fStatus(t, s, admin, ws, id).DeliveredThrough == last })

				// Exactly first..last, each once: the failed attempts were
				// not acknowledged, so none of them may count.
				var got []int64
				for _, e := range r.rec.events() {
					got = append(got, e.Sequence)
				}
				var want []int64
				for q := first; q <= last; q++ {
					want = append(want, q)
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("the receiver acknowledged sequences\n%v\nwant\n%v", got, want)
				}
				sCheckDelivered(t, s, r.rec, st.SigningSecret, ws, first, last)

				after := fStatus(t, s, admin, ws, id)
				if after.Status != "ACTIVE" || after.LastError != nil || after.LastDeliveryAt == nil ||
					after.LastDeliveryAt.Before(recovered.Add(-time.Second)) {
					t.Errorf("after the receiver recovered the stream shows %s; want ACTIVE, no lastError, a lastDeliveryAt after %s",
						after, recovered.UTC().Format(time.RFC3339Nano))
				}
				if strings.Contains(s.logs.String(), `"level":"ERROR"`) {
					t.Errorf("the server logged errors:\n%s", s.logs.String())
				}
				r.mu.Lock()
				if r.hungLong {
					t.Errorf("the deliverer waited a minute for a receiver that hangs: its timeout does not work")
				}
				r.mu.Unlock()
			})
		})
	}
}
