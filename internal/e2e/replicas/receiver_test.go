package replicas

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/auditlogd/auditlogd/internal/integrity"
	"github.com/auditlogd/auditlogd/internal/stream"
)

// receiver is a partner's endpoint for every workspace's log stream: it
// acknowledges and records each delivery, and notes deliveries of one
// stream that overlap in time (there must be one deliverer per stream).
type receiver struct {
	srv *httptest.Server

	mu       sync.Mutex
	streams  map[string]*streamLog // by stream id
	inflight map[string]int
	overlaps []string
	errs     []string
}

// streamLog is what one stream delivered, in arrival order.
type streamLog struct {
	batches []delivery
}

// delivery is one acknowledged POST.
type delivery struct {
	raw, signature, id string
	workspaceID        string
	events             []deliveredEvent
	head               json.RawMessage
}

type deliveredEvent struct {
	ID       string `json:"id"`
	Sequence int64  `json:"sequence"`
	Hash     string `json:"hash"`
	raw      json.RawMessage
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{streams: map[string]*streamLog{}, inflight: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	var b struct {
		WorkspaceID string            `json:"workspaceId"`
		StreamID    string            `json:"streamId"`
		Events      []json.RawMessage `json:"events"`
		Head        json.RawMessage   `json:"head"`
	}
	if err := json.Unmarshal(body, &b); err != nil || b.StreamID == "" {
		r.mu.Lock()
		r.errs = append(r.errs, fmt.Sprintf("a delivery is not a stream batch: %v: %.200s", err, body))
		r.mu.Unlock()
		http.Error(w, "bad", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.inflight[b.StreamID]++
	if n := r.inflight[b.StreamID]; n > 1 {
		r.overlaps = append(r.overlaps, fmt.Sprintf("stream %s: %d deliveries at once", b.StreamID, n))
	}
	r.mu.Unlock()
	// A moment inside the handler, so that two deliverers of one stream
	// would overlap here.
	time.Sleep(5 * time.Millisecond)
	d := delivery{raw: string(body), signature: req.Header.Get(stream.SignatureHeader), id: req.Header.Get(stream.DeliveryHeader),
		workspaceID: b.WorkspaceID, head: b.Head}
	for _, raw := range b.Events {
		var e deliveredEvent
		if err := json.Unmarshal(raw, &e); err != nil {
			r.mu.Lock()
			r.errs = append(r.errs, fmt.Sprintf("stream %s: an event is not JSON: %v", b.StreamID, err))
			r.mu.Unlock()
		}
		e.raw = raw
		d.events = append(d.events, e)
	}
	r.mu.Lock()
	r.inflight[b.StreamID]--
	sl := r.streams[b.StreamID]
	if sl == nil {
		sl = &streamLog{}
		r.streams[b.StreamID] = sl
	}
	sl.batches = append(sl.batches, d)
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// streamReport is what the check of one stream found.
type streamReport struct {
	batches, events, redelivered int
	through                      int64
}

// check verifies one stream's deliveries: every batch signed with the
// stream's secret, its events contiguous and starting no later than the
// next one due (a batch may repeat acknowledged events, at least once, but
// never skip one), a piece of the chain that verifies up to its signed head;
// and in all, every sequence from 1 through want delivered, each with the
// database's id and hash (hashes by sequence).
func (r *receiver) check(t *testing.T, streamID, ws, secret string, keys integrity.JWKS, want int64, hashes map[int64][2]string) streamReport {
	t.Helper()
	r.mu.Lock()
	sl := r.streams[streamID]
	var batches []delivery
	if sl != nil {
		batches = append(batches, sl.batches...)
	}
	r.mu.Unlock()
	rep := streamReport{batches: len(batches)}
	next := int64(1) // the next sequence due
	for i, b := range batches {
		if b.workspaceID != ws || b.id == "" || len(b.events) == 0 || len(b.events) > stream.MaxBatch {
			t.Errorf("stream %s batch %d: workspace %q, delivery id %q, %d events", streamID, i, b.workspaceID, b.id, len(b.events))
			continue
		}
		if err := stream.Verify(b.signature, secret, []byte(b.raw), time.Hour, time.Now()); err != nil {
			t.Errorf("stream %s batch %d: the signature does not verify: %v", streamID, i, err)
		}
		first := b.events[0].Sequence
		if first > next {
			t.Errorf("stream %s batch %d starts at %d when %d was due: a gap", streamID, i, first, next)
		}
		for k := 1; k < len(b.events); k++ {
			if b.events[k].Sequence != b.events[k-1].Sequence+1 {
				t.Errorf("stream %s batch %d: sequence %d after %d", streamID, i, b.events[k].Sequence, b.events[k-1].Sequence)
			}
		}
		for _, e := range b.events {
			rep.events++
			if e.Sequence < next {
				rep.redelivered++
			}
			if db, ok := hashes[e.Sequence]; !ok || db[0] != e.ID || db[1] != e.Hash {
				t.Errorf("stream %s delivered sequence %d as %s/%s; the database has %v", streamID, e.Sequence, e.ID, e.Hash, db)
			}
		}
		next = max(next, b.events[len(b.events)-1].Sequence+1)
		head, err := integrity.ParseSignedHead(b.head)
		if err != nil {
			t.Errorf("stream %s batch %d: head: %v", streamID, i, err)
			continue
		}
		if err := integrity.VerifyHead(head, keys); err != nil {
			t.Errorf("stream %s batch %d: the head does not verify: %v", streamID, i, err)
		}
		// The batch, newest first, verifies as a filtered export: every hash
		// recomputes and each event links to the one before.
		file := []byte("[")
		for k := len(b.events) - 1; k >= 0; k-- {
			if k < len(b.events)-1 {
				file = append(file, ',')
			}
			file = append(file, b.events[k].raw...)
		}
		file = append(file, ']')
		vr, err := integrity.VerifyExport(bytes.NewReader(file), integrity.ExportOptions{Head: &head, Keys: keys, Filtered: true})
		if err != nil || !vr.OK || vr.ProblemCount > 0 {
			t.Errorf("stream %s batch %d does not verify as a piece of the chain: %v %+v", streamID, i, err, vr)
		}
	}
	rep.through = next - 1
	if rep.through != want {
		t.Errorf("stream %s delivered through %d, the log's head is %d", streamID, rep.through, want)
	}
	return rep
}
