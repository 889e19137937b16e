package audit

import (
	"context"
	"time"

	"github.com/auditlogd/auditlogd/internal/apperr"
	"github.com/auditlogd/auditlogd/internal/auth"
	"github.com/auditlogd/auditlogd/internal/insight"
)

// The summary's defaults (docs/API.md §14).
const (
	// SummaryWindow is the window of a summary without since: the last 7 days.
	SummaryWindow = 7 * 24 * time.Hour
	// TopActors is how many actors a summary ranks.
	TopActors = 10
)

// Summary is what happened in a workspace's log in [Since, Until): exact
// totals by action and by flag, and the most active actors.
type Summary struct {
	Since, Until time.Time
	Total        int
	// ByAction has every action, in the schema's order, zeros included;
	// ByFlag every flag likewise (an event with two flags counts for both).
	ByAction []ActionCount
	ByFlag   []FlagCount
	// TopActors are at most TopActors actors, most events first (ties by
	// actor type and id).
	TopActors []ActorCount
}

// ActionCount is how many events of one action a window holds.
type ActionCount struct {
	Action Action
	Count  int
}

// FlagCount is how many events with one flag a window holds.
type FlagCount struct {
	Flag  insight.Flag
	Count int
}

// ActorCount is how many events one actor caused in a window. Actor.Email
// is the user's current email (nil for actors that are not users).
type ActorCount struct {
	Actor Actor
	Count int
}

// Tally is what the store counts for a summary: events by action and flag
// set, and the top actors.
type Tally struct {
	ByActionFlags map[ActionFlags]int
	TopActors     []ActorCount
}

// ActionFlags is one action with one flag set.
type ActionFlags struct {
	Action Action
	Flags  insight.Set
}

// Summarizer is the store's side of a summary.
type Summarizer interface {
	// Summarize counts the events of workspaceID in [since, until) exactly,
	// in one consistent read, from the hourly counters for the whole hours
	// and from the events for the partial hours at the edges; it ranks the
	// top actors the same way.
	Summarize(ctx context.Context, workspaceID string, since, until time.Time, top int) (Tally, error)
}

// Summary summarises workspaceID's log in [since, until) for p, who must
// be allowed to read the log (docs/API.md §14). until defaults to now and
// since to SummaryWindow before until; a since before the retention window
// is clamped to it.
func (s *Service) Summary(ctx context.Context, p *auth.Principal, workspaceID string, since, until *time.Time) (Summary, error) {
	if err := s.gate.AuthorizeLogRead(ctx, p, workspaceID, nil); err != nil {
		return Summary{}, err
	}
	sm, ok := s.store.(Summarizer)
	if !ok {
		return Summary{}, apperr.New(apperr.Internal, "this store cannot summarise the log")
	}
	end := ceilMs(s.now())
	if until != nil {
		end = ceilMs(*until)
	}
	start := end.Add(-SummaryWindow)
	if since != nil {
		start = ceilMs(*since)
	}
	if !start.Before(end) {
		return Summary{}, apperr.Invalid("until", "must be later than since")
	}
	if ws := ceilMs(s.WindowStart()); start.Before(ws) {
		start = ws
	}
	if end.Before(start) {
		start = end // a window wholly before retention is empty
	}
	out := Summary{Since: start, Until: end, ByAction: []ActionCount{}, ByFlag: []FlagCount{}, TopActors: []ActorCount{}}
	var t Tally
	if start.Before(end) {
		var err error
		if t, err = sm.Summarize(ctx, workspaceID, start, end, TopActors); err != nil {
			return Summary{}, err
		}
	}
	byAction := map[Action]int{}
	byFlag := map[insight.Flag]int{}
	for k, n := range t.ByActionFlags {
		out.Total += n
		byAction[k.Action] += n
		for _, f := range k.Flags.Flags() {
			byFlag[f] += n
		}
	}
	for _, a := range Actions() {
		out.ByAction = append(out.ByAction, ActionCount{Action: a, Count: byAction[a]})
	}
	for _, f := range insight.Flags() {
		out.ByFlag = append(out.ByFlag, FlagCount{Flag: f, Count: byFlag[f]})
	}
	if t.TopActors != nil {
		out.TopActors = t.TopActors
	}
	return out, nil
}
