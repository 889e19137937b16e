package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/auditlogd/auditlogd/internal/stream"
)

// The log-streams suite (docs/API.md §11). The bench process runs the
// receivers itself, one HTTP listener on 127.0.0.1 per stream, so the server
// must run with AUDITLOG_STREAM_ALLOW_PRIVATE=true. Every receiver checks
// what it gets as a partner would: the signature (stream.Verify), batches
// that start no later than the next sequence due and are contiguous, and it
// counts repeats; a problem is reported, never hidden.
//
//   - latency: --streams streams (10) on one fresh workspace, each to its own
//     receiver, while --stream-clients clients write audited mutations at
//     --stream-rate a second in total; for every event and every stream, the
//     time from the event's occurredAt (stamped by the server in the event's
//     transaction, same machine clock) to its arrival at the receiver.
//   - writes: the writes benchmark (--clients clients for --write-time), in
//     rounds without streams and with --streams streams on the writers'
//     workspaces (one per workspace, round robin), ordered without, with,
//     with, without, … so that a drift over the run weighs on both.
//   - catch-up: a stream created with startAt EARLIEST on --workspace (the
//     seeded backlog) to one receiver; events per second from the creation
//     request until the receiver has the stream's own LOG_STREAM_CREATED.

// streamsResult is what the suite measured.
type streamsResult struct {
	Latency     *streamLatency     `json:"latency,omitempty"`
	Writes      []streamWriteRound `json:"writes,omitempty"`
	WritesRatio float64            `json:"writesWithOverWithout,omitempty"`
	CatchUp     *catchUpResult     `json:"catchUp,omitempty"`
	Problems    []string           `json:"problems,omitempty"`
}

// streamLatency is the latency benchmark.
type streamLatency struct {
	Streams   int     `json:"streams"`
	Clients   int     `json:"clients"`
	Seconds   float64 `json:"seconds"`
	Mutations int     `json:"mutations"`
	PerSec    float64 `json:"perSec"`
	Errors    int     `json:"errors"`
	// Events is how many events the workspace's log grew by; Deliveries
	// how many (event, stream) pairs arrived, which should be Events ×
	// Streams; Missing what had not arrived 30 s after the writes stopped.
	Events     int64   `json:"events"`
	Deliveries int64   `json:"deliveries"`
	Missing    int64   `json:"missing"`
	P50        float64 `json:"p50Ms"`
	P90        float64 `json:"p90Ms"`
	P99        float64 `json:"p99Ms"`
	Max        float64 `json:"maxMs"`
	// Within2s is the share of deliveries that arrived within 2 s of the
	// event (the contract's bound with a healthy receiver).
	Within2s float64 `json:"within2s"`
}

// streamWriteRound is one run of the writes benchmark, with Streams
// streams active (0: none).
type streamWriteRound struct {
	Streams int         `json:"streams"`
	Result  writeResult `json:"result"`
	// Delivered is how many events the streams delivered in all;
	// BehindAtEnd how many were still to deliver when the writes stopped,
	// and DrainSeconds how long they took to arrive after that.
	Delivered    int64   `json:"delivered,omitempty"`
	Batches      int     `json:"batches,omitempty"`
	BehindAtEnd  int64   `json:"behindAtEnd,omitempty"`
	DrainSeconds float64 `json:"drainSeconds,omitempty"`
}

// catchUpResult is the catch-up benchmark.
type catchUpResult struct {
	Workspace string  `json:"workspace"`
	Events    int64   `json:"events"`
	Seconds   float64 `json:"seconds"`
	PerSec    float64 `json:"perSec"`
	Batches   int     `json:"batches"`
	// Repeated is how many events arrived more than once.
	Repeated int64 `json:"repeated"`
	// ServerCPU is the server's CPU time during the catch-up, in seconds
	// (user + system), when --server-pid is given.
	ServerCPU float64 `json:"serverCpuSeconds,omitempty"`
	MiB       float64 `json:"mib"`
}

// sink is one receiver: a listener for one stream.
type sink struct {
	srv     *http.Server
	url     string
	latency bool // parse occurredAt and record latencies

	ready  chan struct{} // closed by arm, once the stream exists
	secret string

	mu       sync.Mutex
	next     int64 // the next sequence due; 0 until the first batch
	first    int64 // the first sequence received
	events   int64 // distinct events received
	repeated int64
	batches  int
	bytes    int64
	lastAt   time.Time
	lat      durations
	problems []string
	until    int64 // done closes once next > until
	done     chan struct{}
}

func newSink(latency bool) (*sink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &sink{latency: latency, ready: make(chan struct{}), url: "http://" + ln.Addr().String() + "/auditlog", done: make(chan struct{})}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *sink) close() { _ = s.srv.Close() }

// arm gives the receiver its stream's secret and the first sequence due (0:
// whatever comes first, for an EARLIEST stream whose oldest events may have
// been pruned).
func (s *sink) arm(secret string, first int64) {
	s.mu.Lock()
	s.secret, s.next = secret, first
	s.mu.Unlock()
	close(s.ready)
}

// waitThrough waits until the receiver has every event through seq.
func (s *sink) waitThrough(ctx context.Context, seq int64, timeout time.Duration) bool {
	s.mu.Lock()
	s.until = seq
	if s.next > seq {
		s.mu.Unlock()
		return true
	}
	s.done = make(chan struct{})
	done := s.done
	s.mu.Unlock()
	select {
	case <-done:
		return true
	case <-ctx.Done():
	case <-time.After(timeout):
	}
	return false
}

func (s *sink) delivered() (next int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next
}

func (s *sink) problem(format string, args ...any) {
	if len(s.problems) < 20 {
		s.problems = append(s.problems, fmt.Sprintf(format, args...))
	}
}

var (
	eventsStart = []byte(`"events":[`)
	headStart   = []byte(`],"head":`)
	seqKey      = []byte(`"sequence":`)
	atKey       = []byte(`"occurredAt":"`)
)

func (s *sink) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	arrived := time.Now()
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	select {
	case <-s.ready:
	case <-time.After(30 * time.Second):
		http.Error(w, "not ready", http.StatusServiceUnavailable)
		return
	}
	if err := stream.Verify(req.Header.Get(stream.SignatureHeader), s.secret, body, 5*time.Minute, time.Now()); err != nil {
		s.mu.Lock()
		s.problem("signature: %v", err)
		s.mu.Unlock()
		http.Error(w, "signature", http.StatusBadRequest)
		return
	}
	// The events are the export's objects; their top-level "sequence" and
	// "occurredAt" keys cannot occur inside a string value (a quote there
	// is escaped), and the head, which has a "sequence" too, comes after
	// the array.
	i, j := bytes.Index(body, eventsStart), bytes.LastIndex(body, headStart)
	if i < 0 || j < i {
		http.Error(w, "not a batch", http.StatusBadRequest)
		return
	}
	evs := body[i+len(eventsStart) : j]
	var seqs []int64
	var ats []time.Time
	for {
		k := bytes.Index(evs, seqKey)
		if k < 0 {
			break
		}
		if s.latency {
			a := bytes.Index(evs, atKey)
			if a >= 0 && a < k {
				v := evs[a+len(atKey):]
				if e := bytes.IndexByte(v, '"'); e > 0 {
					t, _ := time.Parse(time.RFC3339Nano, string(v[:e]))
					ats = append(ats, t)
				}
			}
		}
		evs = evs[k+len(seqKey):]
		n := 0
		for n < len(evs) && evs[n] >= '0' && evs[n] <= '9' {
			n++
		}
		q, _ := strconv.ParseInt(string(evs[:n]), 10, 64)
		seqs = append(seqs, q)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches++
	s.bytes += int64(len(body))
	if len(seqs) == 0 || len(seqs) > stream.MaxBatch {
		s.problem("a batch of %d events", len(seqs))
	} else {
		if s.next == 0 {
			s.next, s.first = seqs[0], seqs[0]
		} else if s.first == 0 {
			s.first = s.next
		}
		if seqs[0] > s.next {
			s.problem("a batch starts at %d when %d was due: a gap", seqs[0], s.next)
		}
		for k, q := range seqs {
			if k > 0 && q != seqs[k-1]+1 {
				s.problem("sequence %d after %d in one batch", q, seqs[k-1])
			}
			if q < s.next {
				s.repeated++
				continue
			}
			s.events++
			if s.latency && k < len(ats) {
				s.lat = append(s.lat, arrived.Sub(ats[k]))
			}
		}
		s.next = max(s.next, seqs[len(seqs)-1]+1)
		s.lastAt = arrived
		if s.until > 0 && s.next > s.until {
			select {
			case <-s.done:
			default:
				close(s.done)
			}
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// createStream creates a stream of ws to sk and arms the receiver.
func (b *bench) createStream(ctx context.Context, ws string, sk *sink, start string) (string, error) {
	var out struct {
		CreateLogStream struct {
			SigningSecret string
			Stream        struct {
				ID               string
				DeliveredThrough int64
			}
		}
	}
	err := b.gql(ctx, b.tokenFor(ws), `mutation($w: ID!, $u: String!, $s: LogStreamStart) { createLogStream(input: {workspaceId: $w, url: $u, description: "auditlogd-bench", startAt: $s}) {
		signingSecret stream { id deliveredThrough } } }`, map[string]any{"w": ws, "u": sk.url, "s": start}, &out)
	if err != nil {
		return "", fmt.Errorf("createLogStream (the server needs AUDITLOG_STREAM_ALLOW_PRIVATE=true): %w", err)
	}
	first := out.CreateLogStream.Stream.DeliveredThrough + 1
	if start == "EARLIEST" {
		first = 0
	}
	sk.arm(out.CreateLogStream.SigningSecret, first)
	return out.CreateLogStream.Stream.ID, nil
}

func (b *bench) deleteStream(ctx context.Context, ws, id string) error {
	return b.gql(ctx, b.tokenFor(ws), `mutation($w: ID!, $id: ID!) { deleteLogStream(workspaceId: $w, id: $id) { deletedLogStreamId } }`,
		map[string]any{"w": ws, "id": id}, nil)
}

func (b *bench) head(ctx context.Context, ws string) (int64, error) {
	var out struct{ AuditLogHead struct{ Sequence int64 } }
	err := b.gql(ctx, b.tokenFor(ws), `query($w: ID!) { auditLogHead(workspaceId: $w) { sequence } }`, map[string]any{"w": ws}, &out)
	return out.AuditLogHead.Sequence, err
}

// attached is a stream the suite made, with its receiver.
type attached struct {
	ws, id string
	sink   *sink
}

func (b *bench) attach(ctx context.Context, workspaces []string, n int, start string, latency bool) ([]attached, error) {
	var out []attached
	for i := range n {
		sk, err := newSink(latency)
		if err != nil {
			return out, err
		}
		ws := workspaces[i%len(workspaces)]
		id, err := b.createStream(ctx, ws, sk, start)
		if err != nil {
			sk.close()
			return out, err
		}
		out = append(out, attached{ws: ws, id: id, sink: sk})
	}
	return out, nil
}

// detach deletes the streams and stops their receivers, collecting the
// receivers' problems.
func (b *bench) detach(ctx context.Context, as []attached, res *streamsResult) error {
	var first error
	for _, a := range as {
		if err := b.deleteStream(ctx, a.ws, a.id); err != nil && first == nil {
			first = err
		}
		a.sink.close()
		a.sink.mu.Lock()
		for _, p := range a.sink.problems {
			res.Problems = append(res.Problems, fmt.Sprintf("stream %s: %s", a.id, p))
		}
		a.sink.mu.Unlock()
	}
	return first
}

// drain waits until every stream has its workspace's log through the head,
// and returns how many events were still to deliver when it was called.
func (b *bench) drain(ctx context.Context, as []attached, timeout time.Duration) (behind int64, missing int64, err error) {
	heads := map[string]int64{}
	for _, a := range as {
		if _, ok := heads[a.ws]; !ok {
			if heads[a.ws], err = b.head(ctx, a.ws); err != nil {
				return 0, 0, err
			}
		}
		behind += max(0, heads[a.ws]-a.sink.delivered()+1)
	}
	deadline := time.Now().Add(timeout)
	for _, a := range as {
		a.sink.waitThrough(ctx, heads[a.ws], time.Until(deadline))
		missing += max(0, heads[a.ws]-a.sink.delivered()+1)
	}
	return behind, missing, nil
}

func (b *bench) streams(ctx context.Context, rep *report) error {
	res := &streamsResult{}
	rep.Streams = res
	parts := map[string]func(context.Context, *streamsResult) error{"latency": b.streamLatency, "writes": b.streamWrites, "catchup": b.catchUp}
	chosen := map[string]bool{}
	for _, p := range strings.Split(b.o.StreamParts, ",") {
		if p = strings.TrimSpace(p); parts[p] == nil {
			return fmt.Errorf("--stream-parts: no part %q (latency, writes, catchup)", p)
		}
		chosen[p] = true
	}
	for _, name := range []string{"latency", "writes", "catchup"} {
		if !chosen[name] {
			continue
		}
		if err := parts[name](ctx, res); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// streamLatency measures event → receiver with --streams streams on one
// workspace under a paced write load.
func (b *bench) streamLatency(ctx context.Context, res *streamsResult) error {
	fmt.Fprintf(os.Stderr, "  latency: %d streams, %d clients, %.0f mutations/s for %s\n", b.o.Streams, b.o.StreamClients, b.o.StreamRate, b.o.StreamLatencyTime)
	ws, err := b.newWriters(ctx, 1, "bench stream latency")
	if err != nil {
		return err
	}
	as, err := b.attach(ctx, []string{ws[0].ws}, b.o.Streams, "NOW", true)
	defer func() { _ = b.detach(context.WithoutCancel(ctx), as, res) }()
	if err != nil {
		return err
	}
	// Each stream has the creations of the streams made after it to
	// deliver first; measure from a quiet start.
	if _, missing, err := b.drain(ctx, as, 30*time.Second); err != nil || missing > 0 {
		return fmt.Errorf("the streams did not start: %d events missing, %v", missing, err)
	}
	for _, a := range as {
		a.sink.mu.Lock()
		a.sink.events, a.sink.lat = 0, nil
		a.sink.mu.Unlock()
	}
	start, err := b.head(ctx, ws[0].ws)
	if err != nil {
		return err
	}
	lat := &streamLatency{Streams: len(as), Clients: b.o.StreamClients}
	// A pacer hands out one mutation at a time at the configured rate.
	tokens := make(chan struct{})
	pctx, stop := context.WithTimeout(ctx, b.o.StreamLatencyTime)
	defer stop()
	began := time.Now()
	go func() {
		defer close(tokens)
		t := time.NewTicker(time.Duration(float64(time.Second) / b.o.StreamRate))
		defer t.Stop()
		for {
			select {
			case <-pctx.Done():
				return
			case <-t.C:
				select {
				case tokens <- struct{}{}:
				case <-pctx.Done():
					return
				}
			}
		}
	}()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for c := range b.o.StreamClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			count := func(err error) {
				mu.Lock()
				lat.Mutations++
				if err != nil {
					lat.Errors++
				}
				mu.Unlock()
			}
			for n := 0; ; n++ {
				if _, ok := <-tokens; !ok {
					return
				}
				var inv struct {
					CreateInviteLink struct{ InviteLink struct{ ID string } }
				}
				err := b.gql(ctx, b.tokenFor(ws[0].ws), `mutation($w: ID!, $e: String!) { createInviteLink(input: {workspaceId: $w, kind: EMAIL, email: $e}) { inviteLink { id } } }`,
					map[string]any{"w": ws[0].ws, "e": fmt.Sprintf("latency%d.%d.%d@bench.example.com", began.UnixNano(), c, n)}, &inv)
				count(err)
				if err != nil {
					continue
				}
				if _, ok := <-tokens; !ok {
					return
				}
				count(b.gql(ctx, b.tokenFor(ws[0].ws), `mutation($w: ID!, $id: ID!) { deleteInviteLink(workspaceId: $w, id: $id) { deletedInviteLinkId } }`,
					map[string]any{"w": ws[0].ws, "id": inv.CreateInviteLink.InviteLink.ID}, nil))
			}
		}()
	}
	wg.Wait()
	lat.Seconds = time.Since(began).Seconds()
	lat.PerSec = float64(lat.Mutations) / lat.Seconds
	end, err := b.head(ctx, ws[0].ws)
	if err != nil {
		return err
	}
	_, missing, err := b.drain(ctx, as, 30*time.Second)
	if err != nil {
		return err
	}
	lat.Events, lat.Missing = end-start, missing
	var all durations
	for _, a := range as {
		a.sink.mu.Lock()
		all = append(all, a.sink.lat...)
		lat.Deliveries += a.sink.events
		a.sink.mu.Unlock()
	}
	lat.P50, lat.P90, lat.P99 = all.pct(.5), all.pct(.9), all.pct(.99)
	lat.Max = all.pct(1)
	if len(all) > 0 {
		in := 0
		for _, d := range all {
			if d <= 2*time.Second {
				in++
			}
		}
		lat.Within2s = float64(in) / float64(len(all))
	}
	res.Latency = lat
	return nil
}

// streamWrites runs the writes benchmark without and with streams, in
// alternating rounds.
func (b *bench) streamWrites(ctx context.Context, res *streamsResult) error {
	writers, err := b.newWriters(ctx, b.o.Clients, "bench stream writes")
	if err != nil {
		return err
	}
	var workspaces []string
	for _, w := range writers {
		workspaces = append(workspaces, w.ws)
	}
	// A first run, not counted: in earlier runs the first run on fresh
	// workspaces was sometimes much the fastest (60–70% faster than the next
	// one without streams), which favoured whichever side ran first; this
	// does not always remove that. Then rounds go
	// without, with, with, without, …: a drift of the machine's speed over
	// the run (other work, the log growing) weighs on both.
	fmt.Fprintf(os.Stderr, "  writes: a first run of %s, not counted…\n", b.o.WriteTime)
	if _, err := b.runWriters(ctx, writers, b.o.WriteTime); err != nil {
		return err
	}
	var with, without float64
	for r := range b.o.StreamRounds {
		order := []bool{false, true}
		if r%2 == 1 {
			order = []bool{true, false}
		}
		for _, streamed := range order {
			if !streamed {
				fmt.Fprintf(os.Stderr, "  writes, round %d: %d clients for %s without streams…\n", r+1, len(writers), b.o.WriteTime)
				plain, err := b.runWriters(ctx, writers, b.o.WriteTime)
				if err != nil {
					return err
				}
				res.Writes = append(res.Writes, streamWriteRound{Result: plain})
				without += plain.PerSec
				continue
			}
			fmt.Fprintf(os.Stderr, "  writes, round %d: with %d streams…\n", r+1, b.o.Streams)
			round, err := b.streamedWrites(ctx, writers, workspaces, r, res)
			if err != nil {
				return err
			}
			res.Writes = append(res.Writes, round)
			with += round.Result.PerSec
		}
	}
	if without > 0 {
		res.WritesRatio = with / without
	}
	return nil
}

// streamedWrites is one run of the writers with --streams streams on their
// workspaces, which must deliver everything written.
func (b *bench) streamedWrites(ctx context.Context, writers []*writer, workspaces []string, r int, res *streamsResult) (round streamWriteRound, err error) {
	as, err := b.attach(ctx, workspaces, b.o.Streams, "NOW", false)
	defer func() {
		if derr := b.detach(context.WithoutCancel(ctx), as, res); err == nil {
			err = derr
		}
	}()
	if err != nil {
		return round, err
	}
	streamed, err := b.runWriters(ctx, writers, b.o.WriteTime)
	if err != nil {
		return round, err
	}
	stopped := time.Now()
	behind, missing, err := b.drain(ctx, as, 2*time.Minute)
	if err != nil {
		return round, err
	}
	round = streamWriteRound{Streams: len(as), Result: streamed, BehindAtEnd: behind, DrainSeconds: time.Since(stopped).Seconds()}
	for _, a := range as {
		a.sink.mu.Lock()
		round.Delivered += a.sink.events
		round.Batches += a.sink.batches
		a.sink.mu.Unlock()
	}
	if missing > 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("writes round %d: %d events not delivered two minutes after the writes stopped", r+1, missing))
	}
	return round, nil
}

// catchUp delivers the workspace's whole retained log to one receiver
// through a stream created with startAt EARLIEST.
func (b *bench) catchUp(ctx context.Context, res *streamsResult) error {
	head, err := b.head(ctx, b.o.Workspace)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "  catch-up: %d events of workspace %s to one receiver…\n", head, b.o.Workspace)
	sk, err := newSink(false)
	if err != nil {
		return err
	}
	cpu0 := cpuSeconds(b.o.ServerPID)
	began := time.Now()
	id, err := b.createStream(ctx, b.o.Workspace, sk, "EARLIEST")
	if err != nil {
		sk.close()
		return err
	}
	as := []attached{{ws: b.o.Workspace, id: id, sink: sk}}
	defer func() { _ = b.detach(context.WithoutCancel(ctx), as, res) }()
	// Progress, for the operator.
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-pctx.Done():
				return
			case <-t.C:
				n := sk.delivered()
				fmt.Fprintf(os.Stderr, "    through %d after %.0f s (%.0f events/s)\n", n-1, time.Since(began).Seconds(), float64(n-1)/time.Since(began).Seconds())
			}
		}
	}()
	// head+1 is the stream's own LOG_STREAM_CREATED.
	if !sk.waitThrough(ctx, head+1, b.o.CatchUpTimeout) {
		return fmt.Errorf("the receiver has %d of %d events after %s", sk.delivered()-1, head+1, b.o.CatchUpTimeout)
	}
	stop()
	cpu1 := cpuSeconds(b.o.ServerPID)
	sk.mu.Lock()
	c := &catchUpResult{Workspace: b.o.Workspace, Events: sk.events, Seconds: sk.lastAt.Sub(began).Seconds(), Batches: sk.batches,
		Repeated: sk.repeated, MiB: float64(sk.bytes) / (1 << 20)}
	sk.mu.Unlock()
	c.PerSec = float64(c.Events) / c.Seconds
	if cpu0 >= 0 && cpu1 >= 0 {
		c.ServerCPU = cpu1 - cpu0
	}
	res.CatchUp = c
	return nil
}

// cpuSeconds is a process's CPU time so far (user + system), -1 when it
// cannot be read.
func cpuSeconds(pid int) float64 {
	if pid <= 0 {
		return -1
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// Fields after the command name, which is in parentheses: utime and
	// stime are the 12th and 13th of those, in clock ticks (100 a second).
	_, rest, ok := strings.Cut(string(b), ") ")
	if !ok {
		return -1
	}
	f := strings.Fields(rest)
	if len(f) < 13 {
		return -1
	}
	u, err1 := strconv.ParseFloat(f[11], 64)
	s, err2 := strconv.ParseFloat(f[12], 64)
	if err := errors.Join(err1, err2); err != nil {
		return -1
	}
	return (u + s) / 100
}

// streamsMarkdown prints the suite's tables.
func (r *streamsResult) markdown(w io.Writer) {
	if x := r.Latency; x != nil {
		fmt.Fprintln(w, "| event → receiver | streams | clients | seconds | mutations/s | events | deliveries | missing | p50 | p90 | p99 | max | within 2 s |")
		fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
		fmt.Fprintf(w, "| one workspace, each stream to its own local receiver | %d | %d | %.1f | %.0f | %d | %d | %d | %.1f ms | %.1f ms | %.1f ms | %.1f ms | %.2f%% |\n\n",
			x.Streams, x.Clients, x.Seconds, x.PerSec, x.Events, x.Deliveries, x.Missing, x.P50, x.P90, x.P99, x.Max, 100*x.Within2s)
	}
	if len(r.Writes) > 0 {
		fmt.Fprintln(w, "| audited mutations | streams | clients | seconds | mutations | per second | p50 | p99 | errors | events expected | events found | delivered | batches | behind at end | drained in |")
		fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
		for _, x := range r.Writes {
			fmt.Fprintf(w, "| invite create/delete, role up/down, remove/add | %d | %d | %.1f | %d | %.0f | %.2f ms | %.2f ms | %d | %d | %d | %d | %d | %d | %.1f s |\n",
				x.Streams, x.Result.Clients, x.Result.Seconds, x.Result.Mutations, x.Result.PerSec, x.Result.P50, x.Result.P99, x.Result.Errors,
				x.Result.EventsExpected, x.Result.EventsFound, x.Delivered, x.Batches, x.BehindAtEnd, x.DrainSeconds)
		}
		fmt.Fprintf(w, "\nWith streams ÷ without (mean per second): %.3f\n\n", r.WritesRatio)
	}
	if x := r.CatchUp; x != nil {
		fmt.Fprintln(w, "| catch-up (startAt EARLIEST, one receiver) | events | MiB | batches | seconds | events/s | repeated | server CPU |")
		fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
		fmt.Fprintf(w, "| workspace %s | %d | %.1f | %d | %.2f | %.0f | %d | %.1f s |\n\n", x.Workspace, x.Events, x.MiB, x.Batches, x.Seconds, x.PerSec, x.Repeated, x.ServerCPU)
	}
	if len(r.Problems) > 0 {
		fmt.Fprintln(w, "Problems the receivers saw:")
		fmt.Fprintln(w)
		for _, p := range r.Problems {
			fmt.Fprintf(w, "- %s\n", p)
		}
		fmt.Fprintln(w)
	} else {
		fmt.Fprintln(w, "The receivers saw no problem: every signature verified, no batch skipped a sequence.")
		fmt.Fprintln(w)
	}
}
