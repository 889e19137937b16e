// Package live feeds a workspace's new events to the browsers (and partners)
// subscribed to auditLogEvents. One poller per workspace per process reads
// the events after the furthest-behind subscriber's position and hands each
// event to every subscriber that has not seen it: a thousand subscribers of
// one workspace cost one query per tick, not a thousand. Like the stream
// deliverer, it reads committed events by sequence (the events table is the
// outbox); a commit in this process wakes the poller at once, commits of
// other replicas are found by the next poll.
package live

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/auditlogd/auditlogd/internal/apperr"
	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/auth"
)

// Store is what the feeds read.
type Store interface {
	// EventsAfter returns at most limit events of the workspace with a
	// sequence above after, in sequence order.
	EventsAfter(ctx context.Context, workspaceID string, after int64, limit int) ([]audit.Event, error)
	// Head returns the workspace's chain head.
	Head(ctx context.Context, workspaceID string) (audit.ChainHead, error)
}

// Waker says when a workspace's log may have grown (notify.Hub).
type Waker interface {
	Changed(workspaceID string) <-chan struct{}
}

// Options tune a Hub.
type Options struct {
	// Poll is how often a feed looks for events committed by other
	// replicas; 500 ms when zero.
	Poll time.Duration
	// Recheck is how often each subscriber's access is decided again (a
	// subscriber who stops being an admin, or whose workspace leaves the
	// BUSINESS plan, is cut off); 5 s when zero.
	Recheck time.Duration
	// Buffer is how many events a subscriber may lag behind before it is
	// cut off as too slow; 1,000 when zero.
	Buffer int
	Log    *slog.Logger
}

// Hub runs the feeds of one process.
type Hub struct {
	store Store
	gate  audit.Gate
	wake  Waker
	opts  Options

	mu    sync.Mutex
	feeds map[string]*feed
}

// NewHub returns a Hub deciding access with gate.
func NewHub(store Store, gate audit.Gate, wake Waker, o Options) *Hub {
	if o.Poll <= 0 {
		o.Poll = 500 * time.Millisecond
	}
	if o.Recheck <= 0 {
		o.Recheck = 5 * time.Second
	}
	if o.Buffer <= 0 {
		o.Buffer = 1000
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Hub{store: store, gate: gate, wake: wake, opts: o, feeds: map[string]*feed{}}
}

// Subscription is one subscriber's stream of events. Events delivers them in
// sequence order; it is closed when the subscription ends, and Err then says
// why (nil when the subscriber went away).
type Subscription struct {
	Events <-chan *audit.Event
	err    error
	done   chan struct{}
}

// Err is why the subscription ended, once Events is closed (nil before).
func (s *Subscription) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// subscriber is one subscription inside a feed.
type subscriber struct {
	ctx       context.Context
	principal *auth.Principal
	pos       int64
	out       chan *audit.Event
	sub       *Subscription
	checked   time.Time
}

// Subscribe starts a subscription to workspaceID's new events after
// afterSequence (nil: from now), if p may read its log; the access rule is
// the gate's, decided again every Recheck while it lasts.
func (h *Hub) Subscribe(ctx context.Context, p *auth.Principal, workspaceID string, afterSequence *int64) (*Subscription, error) {
	if err := h.gate.AuthorizeLogRead(ctx, p, workspaceID, nil); err != nil {
		return nil, err
	}
	var pos int64
	if afterSequence != nil {
		pos = max(*afterSequence, 0)
	} else {
		head, err := h.store.Head(ctx, workspaceID)
		if err != nil {
			return nil, err
		}
		pos = head.Sequence
	}
	out := make(chan *audit.Event, h.opts.Buffer)
	sub := &Subscription{Events: out, done: make(chan struct{})}
	s := &subscriber{ctx: ctx, principal: p, pos: pos, out: out, sub: sub, checked: time.Now()}
	h.mu.Lock()
	f, ok := h.feeds[workspaceID]
	if !ok {
		f = &feed{hub: h, workspaceID: workspaceID, subs: map[*subscriber]bool{}, kick: make(chan struct{}, 1)}
		h.feeds[workspaceID] = f
		go f.run()
	}
	f.subs[s] = true
	h.mu.Unlock()
	f.nudge()
	return sub, nil
}

// Feeds returns the number of running feeds (for tests and metrics).
func (h *Hub) Feeds() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.feeds)
}

// feed is one workspace's poller.
type feed struct {
	hub         *Hub
	workspaceID string
	subs        map[*subscriber]bool // guarded by hub.mu
	kick        chan struct{}
}

func (f *feed) nudge() {
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

// run polls until the feed has no subscriber left.
func (f *feed) run() {
	h := f.hub
	ctx := context.Background()
	for {
		changed := h.wake.Changed(f.workspaceID)
		subs := f.snapshot()
		if len(subs) == 0 {
			return
		}
		f.dropGone(subs)
		f.recheck(ctx, subs)
		f.deliver(ctx)
		select {
		case <-changed:
		case <-f.kick:
		case <-time.After(h.opts.Poll):
		}
	}
}

// snapshot returns the current subscribers; when there are none it removes
// the feed (under the lock, so that a new subscriber starts a new feed).
func (f *feed) snapshot() []*subscriber {
	h := f.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*subscriber, 0, len(f.subs))
	for s := range f.subs {
		out = append(out, s)
	}
	if len(out) == 0 {
		delete(h.feeds, f.workspaceID)
	}
	return out
}

// end closes a subscriber's stream with err and removes it.
func (f *feed) end(s *subscriber, err error) {
	h := f.hub
	h.mu.Lock()
	if !f.subs[s] {
		h.mu.Unlock()
		return
	}
	delete(f.subs, s)
	h.mu.Unlock()
	s.sub.err = err
	close(s.out)
	close(s.sub.done)
}

// dropGone ends the subscriptions whose subscriber went away.
func (f *feed) dropGone(subs []*subscriber) {
	for _, s := range subs {
		if s.ctx.Err() != nil {
			f.end(s, nil)
		}
	}
}

// recheck decides again the access of subscribers not checked for a while.
func (f *feed) recheck(ctx context.Context, subs []*subscriber) {
	h := f.hub
	now := time.Now()
	for _, s := range subs {
		if now.Sub(s.checked) < h.opts.Recheck || s.ctx.Err() != nil {
			continue
		}
		s.checked = now
		if err := h.gate.AuthorizeLogRead(ctx, s.principal, f.workspaceID, nil); err != nil {
			f.end(s, err)
		}
	}
}

// deliver reads the events after the furthest-behind subscriber and hands
// them out, until every subscriber is up to date.
func (f *feed) deliver(ctx context.Context) {
	h := f.hub
	for {
		subs := f.snapshot()
		if len(subs) == 0 {
			return
		}
		from := subs[0].pos
		for _, s := range subs {
			from = min(from, s.pos)
		}
		events, err := h.store.EventsAfter(ctx, f.workspaceID, from, 100)
		if err != nil {
			h.opts.Log.Warn("live: cannot read events", "workspace_id", f.workspaceID, "error", err.Error())
			return
		}
		for i := range events {
			e := &events[i]
			for _, s := range subs {
				if e.Sequence <= s.pos || s.ctx.Err() != nil {
					continue
				}
				select {
				case s.out <- e:
					s.pos = e.Sequence
				default:
					f.end(s, errTooSlow)
				}
			}
		}
		if len(events) < 100 {
			return
		}
	}
}

// errTooSlow ends a subscription that fell too far behind.
var errTooSlow = apperr.New(apperr.Conflict, "the subscriber fell too far behind; subscribe again with afterSequence set to the last sequence received")
