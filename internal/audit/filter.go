package audit

import (
	"time"
	"unicode/utf8"

	"github.com/auditlogd/auditlogd/internal/apperr"
	"github.com/auditlogd/auditlogd/internal/insight"
)

// Input length limits. They keep filters within what the indexes hold and
// refuse absurd input cheaply.
const (
	maxIDLen    = 191
	maxLabelLen = 320
)

// Filter narrows the log. Zero values mean "no constraint". Emails and labels
// match exactly but ignore case.
type Filter struct {
	Actions     []Action
	ActorID     string
	ActorEmail  string
	TargetID    string
	TargetLabel string
	Since       *time.Time // inclusive
	Until       *time.Time // exclusive
	// Flags keeps the events with any of these flags (docs/API.md §14).
	Flags []insight.Flag
}

// FlagMask is the set of f.Flags: events match when they share a flag with it.
func (f Filter) FlagMask() insight.Set { return insight.SetOf(f.Flags...) }

// Validate checks f and returns a BAD_USER_INPUT error naming the field at
// fault.
func (f Filter) Validate() error {
	for _, a := range f.Actions {
		if !a.Valid() {
			return apperr.Invalid("filter.actions", "unknown action %q", string(a))
		}
	}
	for _, fl := range f.Flags {
		if !fl.Valid() {
			return apperr.Invalid("filter.flags", "unknown flag %q", string(fl))
		}
	}
	for _, c := range []struct {
		field string
		value string
		max   int
	}{
		{"filter.actorId", f.ActorID, maxIDLen},
		{"filter.actorEmail", f.ActorEmail, maxLabelLen},
		{"filter.targetId", f.TargetID, maxIDLen},
		{"filter.targetLabel", f.TargetLabel, maxLabelLen},
	} {
		if utf8.RuneCountInString(c.value) > c.max {
			return apperr.Invalid(c.field, "must be at most %d characters", c.max)
		}
	}
	if f.Since != nil && f.Until != nil && !f.Since.Before(*f.Until) {
		return apperr.Invalid("filter.until", "must be later than filter.since")
	}
	return nil
}

// Window returns f restricted to the retention window that starts at
// windowStart: an earlier or absent Since becomes windowStart (a clamp, not an
// error), times are rounded up to the millisecond (events are stored with
// millisecond precision, so this keeps "since inclusive, until exclusive"
// exact for finer inputs), and repeated actions are dropped.
func (f Filter) Window(windowStart time.Time) Filter {
	out := f
	start := ceilMs(windowStart)
	if f.Since == nil || f.Since.Before(start) {
		out.Since = &start
	} else {
		s := ceilMs(*f.Since)
		out.Since = &s
	}
	if f.Until != nil {
		u := ceilMs(*f.Until)
		out.Until = &u
	}
	if len(f.Actions) > 0 {
		seen := make(map[Action]bool, len(f.Actions))
		out.Actions = make([]Action, 0, len(f.Actions))
		for _, a := range f.Actions {
			if !seen[a] {
				seen[a] = true
				out.Actions = append(out.Actions, a)
			}
		}
	}
	return out
}

// Empty reports whether the (windowed) filter can match nothing at all.
func (f Filter) Empty() bool {
	return f.Since != nil && f.Until != nil && !f.Since.Before(*f.Until)
}

// OnlyActionsAndTime reports whether f constrains nothing but actions and
// time, the case that the per-hour counters can answer.
func (f Filter) OnlyActionsAndTime() bool {
	return len(f.Flags) == 0 && f.ActorID == "" && f.ActorEmail == "" && f.TargetID == "" && f.TargetLabel == ""
}

// ceilMs rounds t up to the next whole millisecond, in UTC.
func ceilMs(t time.Time) time.Time {
	t = t.UTC()
	if c := t.Truncate(time.Millisecond); c.Before(t) {
		return c.Add(time.Millisecond)
	}
	return t
}
