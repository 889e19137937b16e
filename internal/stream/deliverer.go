package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/ids"
	"github.com/auditlogd/auditlogd/internal/integrity"
	"github.com/auditlogd/auditlogd/internal/lease"
)

// Stream is what the deliverer knows of a log stream: where it sends, how
// far it has delivered, and its health.
type Stream struct {
	ID               string
	WorkspaceID      string
	URL              string
	SealedSecret     []byte
	Deleted          bool
	DeliveredThrough int64
	Health           Health
}

// Store is what the deliverer reads and records. The events table is the
// outbox: a stream keeps only its position (a sequence), so an event that
// committed is delivered eventually, and nothing is sent from inside a
// transaction.
type Store interface {
	// LiveStreams returns the ids of the streams that are not deleted.
	LiveStreams(ctx context.Context) ([]string, error)
	// GetStream returns a stream, deleted or not (apperr.ErrNotFound if
	// there is none).
	GetStream(ctx context.Context, id string) (Stream, error)
	// ReadBatch returns at most limit events of the workspace with a
	// sequence above after, in sequence order, with the workspace's chain
	// head (read with the events or after them, so that it covers them)
	// and whether the stream is deleted, in one round trip; head and
	// deleted are zero when there is no event.
	ReadBatch(ctx context.Context, streamID, workspaceID string, after int64, limit int) ([]audit.Event, audit.ChainHead, bool, error)
	// RecordDelivery moves the position from from to through and records
	// the health, if l still holds the stream's lease and the position is
	// still from.
	RecordDelivery(ctx context.Context, l lease.Lease, streamID string, from, through int64, h Health) error
	// RecordFailure records the health of a failed attempt, fenced by l.
	RecordFailure(ctx context.Context, l lease.Lease, streamID string, h Health) error
}

// Signer signs a workspace's head for a delivery (integrity.Signer).
type Signer interface {
	Sign(h integrity.Head) (integrity.SignedHead, error)
}

// Waker says when a workspace's log may have grown (notify.Hub).
type Waker interface {
	Changed(workspaceID string) <-chan struct{}
}

// Deliverer pushes every live stream's events to its endpoint, in sequence
// order, at least once, with one deliverer per stream across all replicas:
// each stream has a lease ("stream:<id>") and only its holder delivers, and
// every position it records is fenced by that lease.
type Deliverer struct {
	Store   Store
	Leases  lease.Store
	Owner   string
	TTL     time.Duration
	Client  *Client
	Secrets *SecretBox
	Signer  Signer
	Wake    Waker
	Now     func() time.Time
	Log     *slog.Logger
	// Poll is how often a deliverer looks for events other replicas
	// committed (its own commits wake it at once); 500 ms when zero.
	Poll time.Duration
	// Linger is how long after sending a batch that was not full a
	// deliverer waits before it reads the next one, to fill it: a busy
	// workspace's events then go in batches. An event after a quiet spell
	// goes at once. Zero: no wait.
	Linger time.Duration
}

// DefaultLinger is the Deliverer's Linger in auditlogd. Each batch is a
// commit (its position), and on MariaDB with a durable log a commit is an
// fsync that audited writes wait behind: with 10 busy streams and 50 ms, the
// deliverers made a third as many commits as 16 writing clients, and those
// wrote a quarter to a half less; at 200 ms a stream commits at most five
// times a second. An event after a quiet spell still goes at once; under
// steady writes it waits up to 200 ms, far inside the 2 s of docs/API.md §11.
const DefaultLinger = 200 * time.Millisecond

// LeaseName is the name of a stream's lease.
func LeaseName(streamID string) string { return "stream:" + streamID }

// Run delivers until ctx ends: it looks for live streams every few polls,
// runs a lease runner for each, and stops the runners of streams that were
// deleted.
func (d *Deliverer) Run(ctx context.Context) {
	if d.Poll <= 0 {
		d.Poll = 500 * time.Millisecond
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	var wg sync.WaitGroup
	running := map[string]context.CancelFunc{}
	defer func() {
		for _, stop := range running {
			stop()
		}
		wg.Wait()
	}()
	t := time.NewTicker(max(d.Poll*2, time.Second))
	defer t.Stop()
	for {
		live, err := d.Store.LiveStreams(ctx)
		if err != nil && ctx.Err() == nil {
			d.Log.Warn("log streams: cannot list streams", "error", err.Error())
		}
		if err == nil {
			seen := map[string]bool{}
			for _, id := range live {
				seen[id] = true
				if _, ok := running[id]; ok {
					continue
				}
				sctx, stop := context.WithCancel(ctx)
				running[id] = stop
				r := &lease.Runner{Store: d.Leases, Name: LeaseName(id), Owner: d.Owner, TTL: d.TTL, Log: d.Log,
					Job: func(jctx context.Context, l lease.Lease) error { return d.deliver(jctx, l, id) }}
				wg.Add(1)
				go func() {
					defer wg.Done()
					r.Run(sctx)
				}()
			}
			for id, stop := range running {
				if !seen[id] {
					stop()
					delete(running, id)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// errDeleted ends a stream's job: it was deleted.
var errDeleted = errors.New("stream deleted")

// batch is a stream's next events, read with the workspace's head (which
// covers them) and whether the stream was deleted.
type batch struct {
	after   int64 // the position it was read after
	events  []audit.Event
	head    audit.ChainHead
	deleted bool
	err     error
	// body is the delivery's body when it was made ahead, with the read
	// (only for a contiguous run of events, which is sent whole).
	body []byte
}

// read reads the events after the position, the head and the deletion.
func (d *Deliverer) read(ctx context.Context, id, workspaceID string, after int64) batch {
	b := batch{after: after}
	b.events, b.head, b.deleted, b.err = d.Store.ReadBatch(ctx, id, workspaceID, after, MaxBatch)
	return b
}

// deliver is one stream's job while this replica holds its lease.
//
// A batch is read in one statement with the head and whether the stream
// was deleted. The stream's row (position, health) is read before a batch
// unless this deliverer has just recorded it itself, holding the lease.
// While a backlog lasts (a full batch was read), the next batch is read
// while the current one is sent and recorded. When a batch was not full,
// the next read waits until Linger has passed since it was sent, so that a
// busy workspace's events go in batches rather than one request each.
func (d *Deliverer) deliver(ctx context.Context, l lease.Lease, id string) error {
	var (
		s        Stream
		known    bool // s is what this deliverer recorded last
		ahead    chan batch
		lastSent time.Time
		lastFull bool
	)
	defer func() {
		if ahead != nil {
			<-ahead // the read ahead ends with ctx, or soon
		}
	}()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var b batch
		if ahead != nil {
			b = <-ahead
			ahead = nil
		}
		if b.deleted {
			return errDeleted
		}
		if !known || b.err != nil || b.after != s.DeliveredThrough || len(b.events) == 0 {
			if !lastFull && d.Linger > 0 {
				if wait := d.Linger - time.Since(lastSent); wait > 0 {
					if err := sleep(ctx, wait); err != nil {
						return err
					}
				}
			}
			if !known {
				var err error
				if s, err = d.Store.GetStream(ctx, id); err != nil {
					return err
				}
				if s.Deleted {
					return errDeleted
				}
				if wait := s.Health.NextAttemptAt.Sub(d.Now()); wait > 0 {
					if err := sleep(ctx, wait); err != nil {
						return err
					}
					continue
				}
			}
			// Listen before reading, so that a commit between the read and
			// the wait is not missed.
			changed := d.Wake.Changed(s.WorkspaceID)
			if b = d.read(ctx, id, s.WorkspaceID, s.DeliveredThrough); b.err != nil {
				return b.err
			}
			if b.deleted {
				return errDeleted
			}
			if len(b.events) == 0 {
				known, lastFull = false, true // nothing waited: the next event goes at once
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-changed:
				case <-time.After(d.Poll):
				}
				continue
			}
		}
		known = false
		lastFull = len(b.events) == MaxBatch
		if lastFull && b.events[0].Sequence == s.DeliveredThrough+1 && contiguous(b.events) {
			// More is waiting: read it while this batch goes out.
			ahead = make(chan batch, 1)
			after, ws := b.events[len(b.events)-1].Sequence, s.WorkspaceID
			go func() {
				next := d.read(ctx, id, ws, after)
				if next.err == nil && !next.deleted && len(next.events) > 0 && contiguous(next.events) {
					// Encode it here too: that CPU then overlaps the wait
					// for the receiver and the database.
					next.body, next.err = d.body(id, ws, next.events, next.head)
				}
				ahead <- next
			}()
		}
		lastSent = time.Now()
		next, ok, err := d.attempt(ctx, l, s, b)
		if err != nil {
			return err
		}
		if ok {
			s, known = next, true
		}
	}
}

// contiguous reports whether events have consecutive sequences.
func contiguous(events []audit.Event) bool {
	for i := 1; i < len(events); i++ {
		if events[i].Sequence != events[i-1].Sequence+1 {
			return false
		}
	}
	return true
}

// attempt delivers one batch and records the outcome. When the batch was
// acknowledged and recorded it returns the stream as recorded, and ok.
func (d *Deliverer) attempt(ctx context.Context, l lease.Lease, s Stream, b batch) (Stream, bool, error) {
	events := b.events
	if first := events[0].Sequence; first != s.DeliveredThrough+1 {
		if first-1 <= b.head.PrunedThrough {
			// Retention deleted events before this stream delivered them:
			// they are gone for every reader; the stream goes on after them.
			d.Log.Warn("log stream: events pruned before delivery were skipped", "stream_id", s.ID,
				"from", s.DeliveredThrough+1, "through", first-1)
			return s, false, d.Store.RecordDelivery(ctx, l, s.ID, s.DeliveredThrough, first-1, s.Health)
		}
		h := s.Health.Failed(d.Now(), fmt.Sprintf("the log has no event %d (a gap in the chain)", s.DeliveredThrough+1), rand.Int64N)
		return s, false, d.Store.RecordFailure(ctx, l, s.ID, h)
	}
	// Deliver the contiguous run only.
	n := 1
	for n < len(events) && events[n].Sequence == events[n-1].Sequence+1 {
		n++
	}
	events = events[:n]
	secret, err := d.Secrets.Open(s.ID, s.SealedSecret)
	if err != nil {
		h := s.Health.Failed(d.Now(), err.Error(), rand.Int64N)
		return s, false, d.Store.RecordFailure(ctx, l, s.ID, h)
	}
	body := b.body
	if body == nil || n != len(b.events) {
		if body, err = d.body(s.ID, s.WorkspaceID, events, b.head); err != nil {
			return s, false, err
		}
	}
	res := d.Client.Deliver(ctx, s.URL, secret, body, ids.New(d.Now()))
	if ctx.Err() != nil {
		return s, false, ctx.Err() // not the receiver's failure: do not record it
	}
	h := s.Health.Record(res, d.Now(), rand.Int64N)
	if res.Acknowledged {
		through := events[n-1].Sequence
		if err := d.Store.RecordDelivery(ctx, l, s.ID, s.DeliveredThrough, through, h); err != nil {
			return s, false, err
		}
		s.DeliveredThrough, s.Health = through, h
		return s, true, nil
	}
	d.Log.Info("log stream: delivery failed", "stream_id", s.ID, "error", res.Error, "failures", h.ConsecutiveFailures)
	return s, false, d.Store.RecordFailure(ctx, l, s.ID, h)
}

// body is a delivery's body: the events as export JSON objects and the
// workspace's signed head.
func (d *Deliverer) body(streamID, workspaceID string, events []audit.Event, head audit.ChainHead) ([]byte, error) {
	signed, err := d.Signer.Sign(integrity.Head{WorkspaceID: workspaceID, Sequence: head.Sequence, Hash: head.Hash,
		SignedAt: d.Now().UTC().Truncate(time.Millisecond)})
	if err != nil {
		return nil, err
	}
	headJSON, err := json.Marshal(signed)
	if err != nil {
		return nil, err
	}
	if len(events) == 0 || len(events) > MaxBatch {
		return nil, fmt.Errorf("stream: a batch holds 1 to %d events, not %d", MaxBatch, len(events))
	}
	// One buffer for every event's object: AppendJSONObject appends.
	var buf []byte
	ends := make([]int, len(events))
	for i := range events {
		r := audit.RowOf(&events[i])
		buf = audit.AppendJSONObject(buf, &r)
		ends[i] = len(buf)
	}
	objs := make([]json.RawMessage, len(events))
	start := 0
	for i, end := range ends {
		objs[i], start = buf[start:end], end
	}
	return assemble(workspaceID, streamID, objs, headJSON), nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
