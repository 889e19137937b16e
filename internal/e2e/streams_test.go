package e2e

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/auditlogd/auditlogd/internal/integrity"
	"github.com/auditlogd/auditlogd/internal/stream"
	"github.com/auditlogd/auditlogd/internal/testenv"
)

// This file checks docs/API.md §11's log streams: a workspace's events pushed,
// in sequence order, signed, at least once and without gaps, to a receiver
// the test runs.

// sReceiver is a partner's endpoint: it records every delivery it
// acknowledges, and answers what the test says.
type sReceiver struct {
	t   *testing.T
	srv *httptest.Server

	mu        sync.Mutex
	fail      int // answer 500 to this many more requests
	batches   []sBatch
	attempts  int
	sequences map[int64]int // acknowledged deliveries of each sequence
}

// sBatch is one acknowledged delivery.
type sBatch struct {
	WorkspaceID string            `json:"workspaceId"`
	StreamID    string            `json:"streamId"`
	Events      []json.RawMessage `json:"events"`
	Head        json.RawMessage   `json:"head"`
	raw         []byte
	signature   string
	delivery    string
}

func sNewReceiver(t *testing.T) *sReceiver {
	r := &sReceiver{t: t, sequences: map[int64]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *sReceiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts++
	if r.fail > 0 {
		r.fail--
		http.Error(w, "receiver down for maintenance", http.StatusInternalServerError)
		return
	}
	var b sBatch
	if err := json.Unmarshal(body, &b); err != nil {
		r.t.Errorf("delivery is not JSON: %v", err)
		http.Error(w, "bad", http.StatusBadRequest)
		return
	}
	b.raw, b.signature, b.delivery = body, req.Header.Get(stream.SignatureHeader), req.Header.Get(stream.DeliveryHeader)
	if req.Header.Get("Content-Type") != "application/json" {
		r.t.Errorf("Content-Type %q", req.Header.Get("Content-Type"))
	}
	r.batches = append(r.batches, b)
	for _, e := range b.Events {
		var ev struct{ Sequence int64 }
		_ = json.Unmarshal(e, &ev)
		r.sequences[ev.Sequence]++
	}
	w.WriteHeader(http.StatusNoContent)
}

func (r *sReceiver) setFail(n int) {
	r.mu.Lock()
	r.fail = n
	r.mu.Unlock()
}

// events returns every acknowledged event, in delivery order.
func (r *sReceiver) events() []sEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []sEvent
	for _, b := range r.batches {
		for _, raw := range b.Events {
			var e sEvent
			if err := json.Unmarshal(raw, &e); err != nil {
				r.t.Fatalf("event is not JSON: %v", err)
			}
			e.raw = raw
			out = append(out, e)
		}
	}
	return out
}

type sEvent struct {
	ID       string   `json:"id"`
	Action   string   `json:"action"`
	Sequence int64    `json:"sequence"`
	PrevHash string   `json:"prevHash"`
	Hash     string   `json:"hash"`
	Flags    []string `json:"flags"`
	raw      json.RawMessage
}

// sWaitFor waits until cond holds (a bound, not a timing assertion: it only
// fails a test that would otherwise hang).
func sWaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sDeliver runs the server's stream deliverer until the test ends.
func (s *server) sDeliver(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.app.DeliverLoop(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

const sCreateQuery = `mutation($w: ID!, $u: String!, $s: LogStreamStart) { createLogStream(input: {workspaceId: $w, url: $u, description: "SIEM", startAt: $s}) {
	signingSecret stream { id url description status deliveredThrough lastDeliveryAt lastError createdBy { id } } } }`

type sStream struct {
	SigningSecret string
	Stream        struct {
		ID, URL, Status  string
		DeliveredThrough int64
		LastError        *string
	}
}

func sCreate(t *testing.T, s *server, admin user, ws, url, start string) sStream {
	t.Helper()
	var out struct{ CreateLogStream sStream }
	s.ok(t, admin.token, sCreateQuery, map[string]any{"w": ws, "u": url, "s": start}, &out)
	return out.CreateLogStream
}

// sStatus reads a stream as the API shows it.
func sStatus(t *testing.T, s *server, admin user, ws, id string) sStream {
	t.Helper()
	var out struct {
		Workspace struct {
			LogStreams []struct {
				ID, Status       string
				DeliveredThrough int64
				LastError        *string
			}
		}
	}
	s.ok(t, admin.token, `query($w: ID!) { workspace(id: $w) { logStreams { id status deliveredThrough lastError } } }`, map[string]any{"w": ws}, &out)
	for _, ls := range out.Workspace.LogStreams {
		if ls.ID == id {
			var st sStream
			st.Stream.ID, st.Stream.Status, st.Stream.DeliveredThrough, st.Stream.LastError = ls.ID, ls.Status, ls.DeliveredThrough, ls.LastError
			return st
		}
	}
	t.Fatalf("stream %s is not listed", id)
	return sStream{}
}

// sChurn makes n audited changes in the workspace.
func sChurn(t *testing.T, s *server, admin user, ws string, n int) {
	t.Helper()
	for i := range n {
		email := fmt.Sprintf("churn.%d.%d@example.com", userSeq.Add(1), i)
		s.ok(t, admin.token, `mutation($w: ID!, $e: String!) { createInviteLink(input: {workspaceId: $w, kind: EMAIL, email: $e}) { token } }`,
			map[string]any{"w": ws, "e": email})
	}
}

// sCheckDelivered checks the receiver got every event from first through
// last, contiguous and in order, with signatures, heads and hashes that
// verify.
func sCheckDelivered(t *testing.T, s *server, r *sReceiver, secret, ws string, first, last int64) {
	t.Helper()
	events := r.events()
	var seqs []int64
	for _, e := range events {
		seqs = append(seqs, e.Sequence)
	}
	want := int64(first)
	for _, q := range seqs {
		if q < want {
			continue // an at-least-once repeat of an earlier batch
		}
		if q != want {
			t.Fatalf("delivered sequences %v: %d where %d was due", seqs, q, want)
		}
		want++
	}
	if want != last+1 {
		t.Fatalf("delivered sequences %v, want %d through %d", seqs, first, last)
	}
	keys := sJWKS(t, s)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.batches {
		if b.WorkspaceID != ws || b.delivery == "" || len(b.Events) == 0 || len(b.Events) > 100 {
			t.Errorf("batch of %d events, workspace %q, delivery id %q", len(b.Events), b.WorkspaceID, b.delivery)
		}
		if err := stream.Verify(b.signature, secret, b.raw, time.Hour, time.Now()); err != nil {
			t.Errorf("signature %q does not verify: %v", b.signature, err)
		}
		head, err := integrity.ParseSignedHead(b.Head)
		if err != nil {
			t.Fatalf("head: %v", err)
		}
		if err := integrity.VerifyHead(head, keys); err != nil {
			t.Errorf("the delivered head does not verify against the published keys: %v", err)
		}
		// The batch's events are a piece of the chain: every hash recomputes
		// from its content and each links to the one before, up to the
		// signed head.
		file := []byte("[")
		for k := len(b.Events) - 1; k >= 0; k-- {
			if k < len(b.Events)-1 {
				file = append(file, ',')
			}
			file = append(file, b.Events[k]...)
		}
		file = append(file, ']')
		rep, err := integrity.VerifyExport(bytes.NewReader(file), integrity.ExportOptions{Head: &head, Keys: keys, Filtered: true})
		if err != nil || !rep.OK || rep.ProblemCount > 0 {
			t.Errorf("a delivered batch does not verify as a piece of the chain: %v %+v", err, rep)
		}
	}
}

// sSigningKeyFile writes a fresh Ed25519 signing key (PKCS #8 PEM) for
// AUDITLOG_SIGNING_KEY.
func sSigningKeyFile(t *testing.T) string {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "signing.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// sJWKS fetches the published signing keys.
func sJWKS(t *testing.T, s *server) integrity.JWKS {
	t.Helper()
	res, err := http.Get(s.srv.URL + "/.well-known/auditlog-keys.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	keys, err := integrity.ParseJWKS(b)
	if err != nil {
		t.Fatalf("JWKS: %v: %s", err, b)
	}
	return keys
}

// TestStreamDeliversEveryEventInOrder: a stream created NOW delivers the
// events after its own creation, in order, signed, with the signed head.
func TestStreamDeliversEveryEventInOrder(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, map[string]string{"AUDITLOG_STREAM_ALLOW_PRIVATE": "true"})
		s.sDeliver(t)
		admin := s.newUser(t, "admin")
		ws := s.newWorkspace(t, admin, "BUSINESS")
		r := sNewReceiver(t)
		st := sCreate(t, s, admin, ws, r.srv.URL, "NOW")
		if !strings.HasPrefix(st.SigningSecret, "whsec_") || st.Stream.Status != "ACTIVE" {
			t.Fatalf("created %+v", st)
		}
		created := st.Stream.DeliveredThrough
		sChurn(t, s, admin, ws, 120) // more than one batch
		last := created + 120
		sWaitFor(t, "every event is delivered", func() bool { return sStatus(t, s, admin, ws, st.Stream.ID).Stream.DeliveredThrough == last })
		sCheckDelivered(t, s, r, st.SigningSecret, ws, created+1, last)
		if st := sStatus(t, s, admin, ws, st.Stream.ID); st.Stream.Status != "ACTIVE" || st.Stream.LastError != nil {
			t.Errorf("a healthy stream shows %+v", st.Stream)
		}
	})
}

// TestStreamRetriesWithoutSkipping: a receiver that fails for a while gets
// every event once it recovers, the same events first; after three failures
// in a row the stream is FAILING with the receiver's answer as lastError,
// and ACTIVE again after the next success.
func TestStreamRetriesWithoutSkipping(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, map[string]string{"AUDITLOG_STREAM_ALLOW_PRIVATE": "true"})
		s.sDeliver(t)
		admin := s.newUser(t, "admin")
		ws := s.newWorkspace(t, admin, "BUSINESS")
		r := sNewReceiver(t)
		r.setFail(1 << 30)
		st := sCreate(t, s, admin, ws, r.srv.URL, "NOW")
		sChurn(t, s, admin, ws, 5)
		sWaitFor(t, "the stream is FAILING", func() bool { return sStatus(t, s, admin, ws, st.Stream.ID).Stream.Status == "FAILING" })
		got := sStatus(t, s, admin, ws, st.Stream.ID)
		if got.Stream.LastError == nil || !strings.Contains(*got.Stream.LastError, "HTTP 500") || got.Stream.DeliveredThrough != st.Stream.DeliveredThrough {
			t.Errorf("failing stream %+v, lastError %v", got.Stream, got.Stream.LastError)
		}
		sChurn(t, s, admin, ws, 3)
		r.setFail(0)
		last := st.Stream.DeliveredThrough + 8
		sWaitFor(t, "delivery resumes", func() bool { return sStatus(t, s, admin, ws, st.Stream.ID).Stream.DeliveredThrough == last })
		sCheckDelivered(t, s, r, st.SigningSecret, ws, st.Stream.DeliveredThrough+1, last)
		if got := sStatus(t, s, admin, ws, st.Stream.ID); got.Stream.Status != "ACTIVE" || got.Stream.LastError != nil {
			t.Errorf("after recovery: %+v", got.Stream)
		}
	})
}

// TestStreamEarliestBackfills: a stream created EARLIEST delivers every
// retained event first.
func TestStreamEarliestBackfills(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, map[string]string{"AUDITLOG_STREAM_ALLOW_PRIVATE": "true"})
		s.sDeliver(t)
		admin := s.newUser(t, "admin")
		ws := s.newWorkspace(t, admin, "BUSINESS")
		sChurn(t, s, admin, ws, 30)
		r := sNewReceiver(t)
		st := sCreate(t, s, admin, ws, r.srv.URL, "EARLIEST")
		if st.Stream.DeliveredThrough != 0 {
			t.Fatalf("an EARLIEST stream starts at %d, want 0", st.Stream.DeliveredThrough)
		}
		// createWorkspace, setWorkspacePlan writes nothing, 30 invites, the stream's own event.
		last := int64(1 + 30 + 1)
		sWaitFor(t, "the backlog is delivered", func() bool { return sStatus(t, s, admin, ws, st.Stream.ID).Stream.DeliveredThrough == last })
		sCheckDelivered(t, s, r, st.SigningSecret, ws, 1, last)

		// Deliveries carry each event's flags (docs/API.md §14) as the API
		// shows them: the creator made admin is ADMIN_GRANTED, and the
		// churning admin's tenth invitation onwards are a BURST.
		want := map[string][]string{}
		for _, e := range s.allEvents(t, admin.token, ws, nil) {
			want[e.ID] = e.Flags
		}
		flagged := 0
		for _, e := range r.events() {
			if e.Flags == nil {
				t.Errorf("event %d: no flags array in the delivery: %s", e.Sequence, e.raw)
			}
			if !slices.Equal(e.Flags, want[e.ID]) {
				t.Errorf("event %d: delivered flags %q, the API says %q", e.Sequence, e.Flags, want[e.ID])
			}
			if len(e.Flags) > 0 {
				flagged++
			}
		}
		if flagged == 0 {
			t.Errorf("no delivered event has a flag; the backlog holds some")
		}
	})
}

// TestStreamDeleteStops: a deleted stream gets nothing more, and its
// deletion is audited.
func TestStreamDeleteStops(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, map[string]string{"AUDITLOG_STREAM_ALLOW_PRIVATE": "true"})
		s.sDeliver(t)
		admin := s.newUser(t, "admin")
		ws := s.newWorkspace(t, admin, "BUSINESS")
		r := sNewReceiver(t)
		st := sCreate(t, s, admin, ws, r.srv.URL, "NOW")
		sChurn(t, s, admin, ws, 2)
		sWaitFor(t, "the first events arrive", func() bool { return len(r.events()) == 2 })
		s.ok(t, admin.token, `mutation($w: ID!, $id: ID!) { deleteLogStream(workspaceId: $w, id: $id) { deletedLogStreamId } }`,
			map[string]any{"w": ws, "id": st.Stream.ID})
		sChurn(t, s, admin, ws, 3)
		time.Sleep(2 * time.Second) // give a stray deliverer every chance to misbehave
		for _, e := range r.events() {
			if e.Action == "LOG_STREAM_DELETED" || e.Sequence > st.Stream.DeliveredThrough+2 {
				t.Errorf("a deleted stream delivered %s (sequence %d)", e.Action, e.Sequence)
			}
		}
		events := s.allEvents(t, admin.token, ws, map[string]any{"actions": []string{"LOG_STREAM_CREATED", "LOG_STREAM_DELETED"}})
		if len(events) != 2 || events[0].Target == nil || events[0].Target.Type != "LOG_STREAM" || deref(events[0].Target.Label) != strings.TrimPrefix(r.srv.URL, "http://") {
			t.Errorf("stream events %+v", events)
		}
		s.fails(t, admin.token, `mutation($w: ID!, $id: ID!) { deleteLogStream(workspaceId: $w, id: $id) { deletedLogStreamId } }`,
			map[string]any{"w": ws, "id": st.Stream.ID}, "NOT_FOUND")
	})
}

// TestStreamRefusesPrivateTargets: without AUDITLOG_STREAM_ALLOW_PRIVATE a
// stream must use https:// to public addresses: loopback, private and
// link-local targets, and names that resolve to them, are refused.
func TestStreamRefusesPrivateTargets(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, nil)
		admin := s.newUser(t, "admin")
		ws := s.newWorkspace(t, admin, "BUSINESS")
		member := s.newUser(t, "member")
		s.addMember(t, admin, ws, member, "MEMBER")
		for _, u := range []string{"http://example.com/hook", "https://127.0.0.1/hook", "https://localhost/hook", "https://10.0.0.5/hook",
			"https://169.254.169.254/latest/meta-data", "https://[::1]/hook", "https://[::ffff:127.0.0.1]/hook", "ftp://example.com", "not a url"} {
			r := s.post(t, admin.token, sCreateQuery, map[string]any{"w": ws, "u": u, "s": "NOW"})
			if r.code() != "BAD_USER_INPUT" {
				t.Errorf("%s: %s, want BAD_USER_INPUT", u, r.Raw)
			}
		}
		s.fails(t, member.token, sCreateQuery, map[string]any{"w": ws, "u": "https://example.com/hook", "s": "NOW"}, "FORBIDDEN")
		teams := s.newWorkspace(t, admin, "TEAMS")
		s.fails(t, admin.token, sCreateQuery, map[string]any{"w": teams, "u": "https://example.com/hook", "s": "NOW"}, "BUSINESS_PLAN_REQUIRED")
	})
}

// TestStreamTwoReplicasDeliverOnce: two servers on one database, both
// running deliverers: every event arrives, each batch from one of them.
func TestStreamTwoReplicasDeliverOnce(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		// Replicas share the signing key, as they must (docs/SCALING.md).
		env := map[string]string{"AUDITLOG_STREAM_ALLOW_PRIVATE": "true", "AUDITLOG_LEASE_TTL": "2s",
			"AUDITLOG_SIGNING_KEY": sSigningKeyFile(t)}
		a := newServer(t, db, env)
		b := newServer(t, db, env)
		a.sDeliver(t)
		b.sDeliver(t)
		admin := a.newUser(t, "admin")
		ws := a.newWorkspace(t, admin, "BUSINESS")
		r := sNewReceiver(t)
		st := sCreate(t, a, admin, ws, r.srv.URL, "NOW")
		for i := range 6 {
			srv := a
			if i%2 == 1 {
				srv = b
			}
			sChurn(t, srv, admin, ws, 10)
		}
		last := st.Stream.DeliveredThrough + 60
		sWaitFor(t, "every event is delivered", func() bool { return sStatus(t, a, admin, ws, st.Stream.ID).Stream.DeliveredThrough == last })
		sCheckDelivered(t, a, r, st.SigningSecret, ws, st.Stream.DeliveredThrough+1, last)
		r.mu.Lock()
		defer r.mu.Unlock()
		var twice []int64
		for q, n := range r.sequences {
			if n > 1 {
				twice = append(twice, q)
			}
		}
		sort.Slice(twice, func(i, j int) bool { return twice[i] < twice[j] })
		if len(twice) > 0 {
			t.Errorf("sequences delivered twice by the two replicas (with a healthy receiver): %v", twice)
		}
	})
}
