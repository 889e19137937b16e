package replicas

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/auditlogd/auditlogd/internal/auth"
	"github.com/auditlogd/auditlogd/internal/integrity"
	"github.com/auditlogd/auditlogd/internal/testenv"
)

// This file checks docs/API.md §11's delivery guarantees across a crash:
// `auditlogd serve`, the real binary, killed with SIGKILL in the middle of
// delivering a log stream's backlog, twice, and started again each time.
// The receiver must end with every event, in order, with no gap; a repeat is
// allowed only as at-least-once delivery allows it — a batch sent again,
// from where an earlier batch started, with the same events.

// killReceiver is the receiver of replicas_test (which records and checks
// deliveries) with a trap the test arms: hold a delivery without answering
// until the test has killed the server, then drop it (the receiver failed
// too) or keep it (only the answer was lost); or tell the test as soon as a
// delivery has been acknowledged.
type killReceiver struct {
	*receiver

	mu   sync.Mutex
	trap string        // "", "hold-drop", "hold-keep" or "ack"
	skip int           // deliveries to let through before the trap
	hit  chan struct{} // closed when the trap springs
	free chan struct{} // a held delivery waits for this
}

func newKillReceiver(t *testing.T) *killReceiver {
	k := &killReceiver{receiver: &receiver{streams: map[string]*streamLog{}, inflight: map[string]int{}}}
	k.srv = httptest.NewServer(http.HandlerFunc(k.serve))
	t.Cleanup(func() {
		k.release()
		k.srv.Close()
	})
	return k
}

// arm sets the trap for the delivery after the next skip; the returned
// channel is closed when it springs.
func (k *killReceiver) arm(trap string, skip int) <-chan struct{} {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.trap, k.skip, k.hit, k.free = trap, skip, make(chan struct{}), make(chan struct{})
	return k.hit
}

// release lets a held delivery go on, to answer a connection that is gone.
func (k *killReceiver) release() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.free != nil {
		close(k.free)
		k.free = nil
	}
}

func (k *killReceiver) serve(w http.ResponseWriter, req *http.Request) {
	// The whole body first: a trap springs on a delivery that has fully
	// arrived (a server killed while still sending one is another case,
	// and the receiver would have nothing to keep).
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	k.mu.Lock()
	trap, hit, free := k.trap, k.hit, k.free
	if trap != "" && k.skip > 0 {
		k.skip--
		trap = ""
	} else {
		k.trap = ""
	}
	k.mu.Unlock()
	switch trap {
	case "hold-drop":
		// The receiver fails too: it keeps nothing of this delivery.
		close(hit)
		<-free
		http.Error(w, "receiver restarting", http.StatusServiceUnavailable)
	case "hold-keep":
		// The receiver processed the events; only its answer is lost.
		close(hit)
		<-free
		k.receiver.serve(w, req)
	case "ack":
		k.receiver.serve(w, req)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		close(hit)
	default:
		k.receiver.serve(w, req)
	}
}

// kGraphQL sends one GraphQL request to base and decodes its data.
func kGraphQL(base, token, query string, vars map[string]any, out any) error {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, base+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	c := &http.Client{Timeout: 30 * time.Second}
	res, err := c.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	var r gqlResponse
	if err := json.Unmarshal(raw, &r); err != nil {
		return fmt.Errorf("HTTP %d, not JSON: %.300s", res.StatusCode, raw)
	}
	if res.StatusCode != http.StatusOK || len(r.Errors) > 0 {
		return fmt.Errorf("HTTP %d: %.300s", res.StatusCode, raw)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(r.Data, out)
}

// kStreamState is the stream as the API shows it.
type kStreamState struct {
	ID               string
	Status           string
	DeliveredThrough int64
	LastError        *string
}

func kStream(t *testing.T, base, token, ws, id string) kStreamState {
	t.Helper()
	var out struct {
		Workspace struct{ LogStreams []kStreamState }
	}
	if err := kGraphQL(base, token, `query($w: ID!) { workspace(id: $w) { logStreams { id status deliveredThrough lastError } } }`,
		map[string]any{"w": ws}, &out); err != nil {
		t.Fatalf("logStreams: %v", err)
	}
	for _, s := range out.Workspace.LogStreams {
		if s.ID == id {
			return s
		}
	}
	t.Fatalf("stream %s is not listed", id)
	return kStreamState{}
}

// TestStreamSurvivesSIGKILL runs `auditlogd serve` (the binary) on a seeded
// workspace of 3,000 events with a log stream from EARLIEST, and kills it
// with SIGKILL three times while it delivers the backlog and clients keep
// writing: while the receiver holds a delivery it has not answered and
// then drops (that batch must come again, or there is a gap); while it
// holds one it then keeps (the batch comes again: a repeat the receiver
// dedupes); right after it acknowledged one (the server may die before it
// records the new position). Each time a new process starts on the same
// database (the dead one's lease expires, 2 s). In the end the receiver has
// every sequence from 1 to the head exactly once after deduplication by id,
// in order; every batch either starts where the previous one ended or is a
// resend that starts where an earlier batch started; a repeated sequence
// carries the same id and hash; every signature verifies with stream.Verify
// and every head with the published key; and the stream is ACTIVE.
func TestStreamSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds auditlogd and kills it three times")
	}
	bin := buildBinary(t)
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		env := map[string]string{
			"AUDITLOG_DATABASE_URL":                db.URL,
			"AUDITLOG_JWT_SECRET":                  jwtSecret,
			"AUDITLOG_EXPORT_SECRET":               exportSecret,
			"AUDITLOG_SIGNING_KEY":                 writeSigningKey(t),
			"AUDITLOG_PUBLIC_URL":                  "http://auditlog.test",
			"AUDITLOG_LEASE_TTL":                   "2s",
			"AUDITLOG_RATE_LIMIT_RPS":              "0",
			"AUDITLOG_WORKSPACES_PER_USER_PER_DAY": "1000000",
			"AUDITLOG_STREAM_ALLOW_PRIVATE":        "true",
		}
		out, _ := runCommand(t, bin, env, false, "seed", "--workspaces", "1", "--events", "3000",
			"--admin-sub", "admin", "--admin-email", "admin@example.com")
		var seeded struct{ Largest string }
		if err := json.Unmarshal([]byte(out), &seeded); err != nil || seeded.Largest == "" {
			t.Fatalf("seed printed %q: %v", out, err)
		}
		ws := seeded.Largest
		verifier, err := auth.NewVerifier(auth.Settings{Algorithm: "HS256", Secret: []byte(jwtSecret)})
		if err != nil {
			t.Fatal(err)
		}
		token, err := verifier.Sign(auth.Claims{Subject: "admin", Email: "admin@example.com", Name: "admin"})
		if err != nil {
			t.Fatal(err)
		}

		rcv := newKillReceiver(t)
		var base atomic.Value // the live process's URL
		proc := startReplica(t, bin, 1, env)
		base.Store(proc.base)
		// The sixth delivery of the backlog is held: the server dies with
		// it unanswered, and the receiver drops it.
		trap := rcv.arm("hold-drop", 5)
		var created struct {
			CreateLogStream struct {
				SigningSecret string
				Stream        struct{ ID string }
			}
		}
		if err := kGraphQL(proc.base, token, `mutation($w: ID!, $u: String!) { createLogStream(input: {workspaceId: $w, url: $u, startAt: EARLIEST}) { signingSecret stream { id } } }`,
			map[string]any{"w": ws, "u": rcv.srv.URL + "/hook"}, &created); err != nil {
			t.Fatal(err)
		}
		id, secret := created.CreateLogStream.Stream.ID, created.CreateLogStream.SigningSecret

		// Clients write all along; a mutation whose process died under
		// it may or may not have committed, and the log says which.
		stop := make(chan struct{})
		var writerDone sync.WaitGroup
		var wrote, failed atomic.Int64
		writerDone.Add(1)
		go func() {
			defer writerDone.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				err := kGraphQL(base.Load().(string), token, `mutation($w: ID!, $e: String!) { createInviteLink(input: {workspaceId: $w, kind: EMAIL, email: $e}) { token } }`,
					map[string]any{"w": ws, "e": fmt.Sprintf("kill.%d@example.com", i)}, nil)
				if err != nil {
					failed.Add(1)
					time.Sleep(50 * time.Millisecond)
					continue
				}
				wrote.Add(1)
				time.Sleep(10 * time.Millisecond)
			}
		}()
		defer func() {
			select {
			case <-stop:
			default:
				close(stop)
			}
			writerDone.Wait()
		}()

		kill := func(what string, hit <-chan struct{}) {
			t.Helper()
			select {
			case <-hit:
			case <-time.After(2 * time.Minute):
				t.Fatalf("no delivery came to spring the trap (%s)", what)
			}
			if err := proc.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			<-proc.exited
			t.Logf("killed pid %d %s; %d mutations so far", proc.pid, what, wrote.Load())
		}
		kill("while the receiver held a delivery it then dropped", trap)
		rcv.release()

		// A new process takes the stream over once the dead one's lease
		// expires (it must deliver the dropped batch again). It is killed
		// while the receiver holds its fourth delivery, which the receiver
		// keeps: the events arrived, the acknowledgement did not.
		trap = rcv.arm("hold-keep", 3)
		proc = startReplica(t, bin, 2, env)
		base.Store(proc.base)
		kill("while the receiver held a delivery it then kept", trap)
		rcv.release()

		// The next one is killed right after the receiver acknowledged
		// its fourth delivery: it may die before it records the position.
		trap = rcv.arm("ack", 3)
		proc = startReplica(t, bin, 3, env)
		base.Store(proc.base)
		kill("right after the receiver acknowledged a delivery", trap)

		proc = startReplica(t, bin, 4, env)
		base.Store(proc.base)
		waitFor(t, "a few more mutations", time.Minute, func() bool { return wrote.Load() >= 50 })
		close(stop)
		writerDone.Wait()

		var head struct{ AuditLogHead struct{ Sequence int64 } }
		if err := kGraphQL(proc.base, token, `query($w: ID!) { auditLogHead(workspaceId: $w) { sequence } }`, map[string]any{"w": ws}, &head); err != nil {
			t.Fatal(err)
		}
		last := head.AuditLogHead.Sequence
		waitFor(t, fmt.Sprintf("delivery through the head, %d", last), 3*time.Minute, func() bool {
			return kStream(t, proc.base, token, ws, id).DeliveredThrough == last
		})
		if st := kStream(t, proc.base, token, ws, id); st.Status != "ACTIVE" || st.LastError != nil {
			t.Errorf("the stream after the restarts: %+v", st)
		}

		// The log as the database has it: id and hash of every sequence.
		hashes := map[int64][2]string{}
		vars := map[string]any{"w": ws}
		for {
			var page struct {
				AuditLog struct {
					Nodes []struct {
						ID       string
						Sequence int64
						Hash     string
					}
					PageInfo struct {
						HasNextPage bool
						EndCursor   string
					}
				}
			}
			if err := kGraphQL(proc.base, token, `query($w: ID!, $a: String) { auditLog(workspaceId: $w, first: 100, after: $a) { nodes { id sequence hash } pageInfo { hasNextPage endCursor } } }`,
				vars, &page); err != nil {
				t.Fatal(err)
			}
			for _, e := range page.AuditLog.Nodes {
				hashes[e.Sequence] = [2]string{e.ID, e.Hash}
			}
			if !page.AuditLog.PageInfo.HasNextPage {
				break
			}
			vars["a"] = page.AuditLog.PageInfo.EndCursor
		}
		if int64(len(hashes)) != last {
			t.Fatalf("the log lists %d events, its head is %d", len(hashes), last)
		}

		res, err := http.Get(proc.base + "/.well-known/auditlog-keys.json")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		keys, err := integrity.ParseJWKS(b)
		if err != nil {
			t.Fatalf("keys: %v: %s", err, b)
		}
		// Signatures (stream.Verify), heads, chain pieces, ids and
		// hashes against the log, no gap, through the head.
		rep := rcv.check(t, id, ws, secret, keys, last, hashes)

		// Deduplicated by id, the sequences are exactly 1..last; a batch
		// that repeats events is a resend from where an earlier batch
		// started.
		rcv.mu.Lock()
		batches := append([]delivery(nil), rcv.streams[id].batches...)
		rcv.mu.Unlock()
		seen := map[string]bool{}
		var seqs []int64
		starts := map[int64]bool{}
		next := int64(1)
		resends := 0
		for i, d := range batches {
			first := d.events[0].Sequence
			if first != next {
				resends++
				if !starts[first] {
					t.Errorf("batch %d starts at %d when %d was due, and no earlier batch started there", i, first, next)
				}
			}
			starts[first] = true
			for _, e := range d.events {
				if !seen[e.ID] {
					seen[e.ID] = true
					seqs = append(seqs, e.Sequence)
				}
			}
			next = max(next, d.events[len(d.events)-1].Sequence+1)
		}
		var want []int64
		for q := int64(1); q <= last; q++ {
			want = append(want, q)
		}
		if fmt.Sprint(seqs) != fmt.Sprint(want) {
			t.Errorf("deduplicated by id, the receiver has sequences %s; want 1..%d", kRanges(seqs), last)
		}
		// The kept delivery must have come again, a resend; the dropped
		// one too, but the receiver did not have it, so it is not a
		// repeat; the last kill may or may not have beaten the update of
		// the position.
		if resends < 1 || resends > 2 {
			t.Errorf("%d batches were resends; want 1 (the kept one) or 2", resends)
		}
		t.Logf("%d events through the head, %d batches, %d events delivered again in %d resent batches; %d mutations acknowledged, %d failed",
			last, rep.batches, rep.redelivered, resends, wrote.Load(), failed.Load())
	})
}

// kRanges writes sequences as runs: "1-250 240-300".
func kRanges(seqs []int64) string {
	var b strings.Builder
	for i := 0; i < len(seqs); {
		j := i
		for j+1 < len(seqs) && seqs[j+1] == seqs[j]+1 {
			j++
		}
		fmt.Fprintf(&b, "%d-%d ", seqs[i], seqs[j])
		i = j + 1
	}
	return strings.TrimSpace(b.String())
}
