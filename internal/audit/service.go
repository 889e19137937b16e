package audit

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/auditlogd/auditlogd/internal/apperr"
	"github.com/auditlogd/auditlogd/internal/auth"
)

// Page size limits of the auditLog connection.
const (
	DefaultPageSize = 50
	MaxPageSize     = 100
)

// Direction orders the log by (occurredAt, id).
type Direction string

// The directions; DESC (newest first) is the default.
const (
	Desc Direction = "DESC"
	Asc  Direction = "ASC"
)

// PageRequest is a Relay-style page request: First/After to page forward in
// the chosen order, Last/Before to page backward.
type PageRequest struct {
	First  *int
	After  *string
	Last   *int
	Before *string
}

// Bound is where a scan starts: strictly after (or, Inclusive, at) a position,
// in the scan's direction.
type Bound struct {
	Position
	Inclusive bool
}

// Query is one keyset scan of a workspace's log, as the store runs it.
type Query struct {
	WorkspaceID string
	Filter      Filter // windowed: Since is always set
	From        *Bound // nil: from the start of the scan direction
	Descending  bool
	Limit       int
	// LookBehind asks ListEvents whether any matching event lies at or
	// behind From (against the scan direction): that is whether there is a
	// page on the other side of a cursor.
	LookBehind bool
	// AccessOf, when set, asks ListEvents to read that user's access row of
	// the workspace in the same statement as the page (one round trip).
	AccessOf *string
}

// ListResult is what one ListEvents returns.
type ListResult struct {
	// Events are at most Query.Limit events, in scan order.
	Events []Event
	// Behind is whether an event matches at or behind From (LookBehind).
	Behind bool
	// Access is the access row asked for with AccessOf.
	Access *AccessRow
}

// Store is what the audit read side needs from storage.
type Store interface {
	// ListEvents runs q: at most q.Limit events in scan order, whether an
	// event matches at or behind q.From (q.LookBehind), and the access row
	// of q.AccessOf. It is one round trip in every case.
	ListEvents(ctx context.Context, q Query) (ListResult, error)
	// CountEvents returns the exact number of events of workspaceID that match
	// the windowed filter f.
	CountEvents(ctx context.Context, workspaceID string, f Filter) (int, error)
}

// Page is one page of the log, in the requested order.
type Page struct {
	Events          []Event
	HasNextPage     bool
	HasPreviousPage bool
}

// Service reads the audit log: filters, pages and counts, always inside the
// retention window, and only for principals its Gate allows.
type Service struct {
	store     Store
	gate      Gate
	cursors   *CursorCodec
	retention time.Duration
	now       func() time.Time
}

// NewService returns a Service. gate decides who may read; retention is how
// far back events are shown; now is the clock (time.Now in production).
func NewService(store Store, gate Gate, cursors *CursorCodec, retention time.Duration, now func() time.Time) *Service {
	return &Service{store: store, gate: gate, cursors: cursors, retention: retention, now: now}
}

// WindowStart is the oldest moment still inside the retention window.
func (s *Service) WindowStart() time.Time { return s.now().Add(-s.retention) }

// Cursor returns the opaque cursor of e for its workspace's log.
func (s *Service) Cursor(e Event) string { return s.cursors.Encode(e.WorkspaceID, e.Position()) }

// List returns one page of workspaceID's log, if p may read it. When the
// request does not know p's access yet, the access row is read in the same
// statement as the page, and the page is returned only if the gate then
// allows it: reading the role, the plan and the page is one round trip.
func (s *Service) List(ctx context.Context, p *auth.Principal, workspaceID string, f Filter, dir Direction, pr PageRequest) (*Page, error) {
	known := p == nil || s.gate.KnowsAccess(ctx, p, workspaceID)
	if known {
		if err := s.gate.AuthorizeLogRead(ctx, p, workspaceID, nil); err != nil {
			return nil, err
		}
	}
	wf, dir, backward, limit, cursor, err := s.pageQuery(workspaceID, f, dir, pr)
	if err == nil && wf.Empty() {
		err = errEmptyWindow
	}
	if err != nil {
		// Who may comes before what is asked: a bad request of someone who
		// may not read the log is refused as that.
		if !known {
			if aerr := s.gate.AuthorizeLogRead(ctx, p, workspaceID, nil); aerr != nil {
				return nil, aerr
			}
		}
		if errors.Is(err, errEmptyWindow) {
			return &Page{Events: []Event{}}, nil
		}
		return nil, err
	}
	// The scan runs in the requested order when paging forward and against it
	// when paging backward; the page is then put back into the requested order.
	descending := (dir == Desc) != backward
	q := Query{WorkspaceID: workspaceID, Filter: wf, Descending: descending, Limit: limit + 1}
	if cursor != nil {
		// Is there anything on the other side of the cursor? The cursor's own
		// event counts: it was on the page the client came from.
		q.From, q.LookBehind = &Bound{Position: *cursor}, true
	}
	if !known {
		q.AccessOf = &p.Subject
	}
	res, err := s.store.ListEvents(ctx, q)
	if err != nil {
		return nil, err
	}
	if !known {
		if res.Access == nil {
			return nil, errors.New("audit: the store did not read the access row it was asked for")
		}
		if err := s.gate.AuthorizeLogRead(ctx, p, workspaceID, res.Access); err != nil {
			return nil, err
		}
	}
	events, behind := res.Events, res.Behind
	more := len(events) > limit
	if more {
		events = events[:limit]
	}
	page := &Page{Events: events}
	if backward {
		slices.Reverse(page.Events)
		page.HasPreviousPage, page.HasNextPage = more, behind
	} else {
		page.HasNextPage, page.HasPreviousPage = more, behind
	}
	return page, nil
}

// errEmptyWindow says that a filter's window can match nothing.
var errEmptyWindow = errors.New("empty window")

// pageQuery validates a page request and returns the windowed filter, the
// order, the paging direction and size, and the cursor's position if any.
func (s *Service) pageQuery(workspaceID string, f Filter, dir Direction, pr PageRequest) (Filter, Direction, bool, int, *Position, error) {
	if err := f.Validate(); err != nil {
		return Filter{}, "", false, 0, nil, err
	}
	if dir == "" {
		dir = Desc
	}
	if dir != Desc && dir != Asc {
		return Filter{}, "", false, 0, nil, apperr.Invalid("orderBy.direction", "must be ASC or DESC")
	}
	backward, limit, err := pageShape(pr)
	if err != nil {
		return Filter{}, "", false, 0, nil, err
	}
	var cursor *Position
	for _, c := range []struct {
		field string
		value *string
	}{{"after", pr.After}, {"before", pr.Before}} {
		if c.value == nil {
			continue
		}
		pos, err := s.cursors.Decode(workspaceID, c.field, *c.value)
		if err != nil {
			return Filter{}, "", false, 0, nil, err
		}
		cursor = &pos
	}
	return f.Window(s.WindowStart()), dir, backward, limit, cursor, nil
}

// pageShape validates the paging arguments and says which way to page and how
// many events a page holds.
func pageShape(pr PageRequest) (backward bool, limit int, err error) {
	if pr.First != nil && pr.Last != nil {
		return false, 0, apperr.Invalid("last", "first and last cannot be used together")
	}
	if pr.After != nil && pr.Before != nil {
		return false, 0, apperr.Invalid("before", "after and before cannot be used together")
	}
	if pr.First != nil && pr.Before != nil {
		return false, 0, apperr.Invalid("before", "page backward with last and before, forward with first and after")
	}
	if pr.Last != nil && pr.After != nil {
		return false, 0, apperr.Invalid("after", "page backward with last and before, forward with first and after")
	}
	backward = pr.Last != nil || pr.Before != nil
	limit = DefaultPageSize
	field, n := "first", pr.First
	if backward {
		field, n = "last", pr.Last
	}
	if n != nil {
		if *n < 1 || *n > MaxPageSize {
			return false, 0, apperr.Invalid(field, "must be between 1 and %d", MaxPageSize)
		}
		limit = *n
	}
	return backward, limit, nil
}

// Count returns the exact number of events of workspaceID inside the
// retention window that match f, if p may read the log.
func (s *Service) Count(ctx context.Context, p *auth.Principal, workspaceID string, f Filter) (int, error) {
	if err := s.gate.AuthorizeLogRead(ctx, p, workspaceID, nil); err != nil {
		return 0, err
	}
	if err := f.Validate(); err != nil {
		return 0, err
	}
	wf := f.Window(s.WindowStart())
	if wf.Empty() {
		return 0, nil
	}
	return s.store.CountEvents(ctx, workspaceID, wf)
}
