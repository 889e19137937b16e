package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/auditlogd/auditlogd/internal/testenv"
)

// bFixture is a server with one BUSINESS workspace whose history is known.
type bFixture struct {
	s      *server
	h      *bHistory
	admin  user
	rounds []bRound
	full   []event // the whole log, newest first
}

// bNewFixture builds a workspace with 1 + 18×rounds events spread over
// rounds days and many hours, and reads its whole log.
func bNewFixture(t *testing.T, db testenv.DB, rounds int) *bFixture {
	t.Helper()
	s := newServer(t, db, nil)
	admin := bUser(t, s, "admin")
	f := &bFixture{s: s, admin: admin, h: bNewHistory(t, s, admin)}
	for i := range rounds {
		f.rounds = append(f.rounds, f.h.round(fmt.Sprintf("r%d", i)))
	}
	f.full = s.allEvents(t, admin.token, f.h.ws, nil)
	return f
}

func (f *bFixture) fullIDs() []string { return bIDs(f.full) }

// TestAuditLogHoldsTheWholeHistoryNewestFirst checks the fixture the other
// tests rely on: every mutation wrote exactly the events the contract lists,
// and the log shows them newest first by (occurredAt, id), spread over days.
func TestAuditLogHoldsTheWholeHistoryNewestFirst(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		f := bNewFixture(t, db, 4)
		if diff := cmp.Diff(f.h.want, bSameInstantSorted(f.h.want, bReversed(f.full))); diff != "" {
			t.Fatalf("log, oldest first, differs from the history made (-want +got):\n%s", diff)
		}
		hours := map[time.Time]bool{}
		for i, e := range f.full {
			hours[bTime(t, e.OccurredAt).Truncate(time.Hour)] = true
			if i == 0 {
				continue
			}
			prev, cur := f.full[i-1], e
			pt, ct := bTime(t, prev.OccurredAt), bTime(t, cur.OccurredAt)
			if pt.Before(ct) || (pt.Equal(ct) && prev.ID <= cur.ID) {
				t.Errorf("event %d (%s %s) is not older than event %d (%s %s)", i, cur.OccurredAt, cur.ID, i-1, prev.OccurredAt, prev.ID)
			}
		}
		span := bTime(t, f.full[0].OccurredAt).Sub(bTime(t, f.full[len(f.full)-1].OccurredAt))
		if span < 3*24*time.Hour || len(hours) < 20 {
			t.Errorf("history spans %s in %d distinct hours; want days and many hours", span, len(hours))
		}
	})
}

// TestAuditLogPagesForwardAndBackward pages through the whole log with
// several page sizes, in both orders and both paging directions: the pages
// put together are exactly the log, and every page's hasNextPage,
// hasPreviousPage and cursors are right (checked by bPageAll).
func TestAuditLogPagesForwardAndBackward(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		f := bNewFixture(t, db, 4)
		if len(f.full) != 73 {
			t.Fatalf("fixture has %d events, want 73", len(f.full))
		}
		for _, order := range []string{"", "DESC", "ASC"} {
			want := f.full
			if order == "ASC" {
				want = bReversed(f.full)
			}
			for _, backward := range []bool{false, true} {
				for _, size := range []int{1, 7, 50, 73, 100} {
					how := "forward-first-after"
					if backward {
						how = "backward-last-before"
					}
					orderName := order
					if orderName == "" {
						orderName = "default"
					}
					name := fmt.Sprintf("order-%s/%s/size-%d", orderName, how, size)
					t.Run(name, func(t *testing.T) {
						t.Parallel()
						got := bPageAll(t, f.s, f.admin.token, f.h.ws, size, backward, nil, order)
						if diff := cmp.Diff(want, got); diff != "" {
							t.Errorf("pages put together differ from the log (-want +got):\n%s", diff)
						}
					})
				}
			}
		}
	})
}

// TestAuditLogDefaultPage checks the page a client gets without first or
// last: the 50 next to the cursor (or the start), newest first by default.
func TestAuditLogDefaultPage(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		f := bNewFixture(t, db, 4)
		cursors := bCursors(t, f.s, f.admin.token, f.h.ws)
		ids, asc := f.fullIDs(), bIDs(bReversed(f.full))
		type flags struct{ Next, Previous bool }
		for _, tc := range []struct {
			name  string
			vars  map[string]any
			want  []string
			flags flags
		}{
			{"no-arguments-newest-50", nil, ids[:50], flags{Next: true}},
			{"orderBy-DESC-same-as-default", map[string]any{"order": map[string]any{"direction": "DESC"}}, ids[:50], flags{Next: true}},
			{"orderBy-ASC-oldest-50", map[string]any{"order": map[string]any{"direction": "ASC"}}, asc[:50], flags{Next: true}},
			{"after-alone-next-50", map[string]any{"after": cursors[ids[9]]}, ids[10:60], flags{Next: true, Previous: true}},
			{"after-alone-near-the-end", map[string]any{"after": cursors[ids[39]]}, ids[40:], flags{Previous: true}},
			{"before-alone-previous-50", map[string]any{"before": cursors[ids[70]]}, ids[20:70], flags{Next: true, Previous: true}},
			{"before-alone-near-the-start", map[string]any{"before": cursors[ids[30]]}, ids[:30], flags{Next: true}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				c := bAuditLog(t, f.s, f.admin.token, f.h.ws, tc.vars)
				bCheckPageShape(t, c)
				if diff := cmp.Diff(tc.want, bEdgeIDs(c)); diff != "" {
					t.Errorf("page (-want +got):\n%s", diff)
				}
				got := flags{Next: c.PageInfo.HasNextPage, Previous: c.PageInfo.HasPreviousPage}
				if diff := cmp.Diff(tc.flags, got); diff != "" {
					t.Errorf("pageInfo (-want +got):\n%s", diff)
				}
			})
		}
	})
}

// bCursors maps every event id of the log to its cursor.
func bCursors(t *testing.T, s *server, token, ws string) map[string]string {
	t.Helper()
	out := map[string]string{}
	vars := map[string]any{"first": 100}
	for {
		c := s.auditLog(t, token, ws, vars)
		for _, e := range c.Edges {
			out[e.Node.ID] = e.Cursor
		}
		if !c.PageInfo.HasNextPage {
			return out
		}
		vars["after"] = *c.PageInfo.EndCursor
	}
}

// bFilter is an AuditLogFilter that can also be applied in Go, to the full
// log, to compute what the server must answer.
type bFilter struct {
	Actions                                    []string
	ActorID, ActorEmail, TargetID, TargetLabel string
	Since, Until                               *time.Time
	SinceRaw                                   string // sent instead of Since; Since still decides what matches

	// Checks that the row tests what it means to: it matches nothing, or
	// it matches (does not match) these events.
	expectEmpty           bool
	mustHave, mustNotHave []string
}

func (f bFilter) vars() map[string]any {
	v := map[string]any{}
	if f.Actions != nil {
		v["actions"] = f.Actions
	}
	for k, s := range map[string]string{"actorId": f.ActorID, "actorEmail": f.ActorEmail, "targetId": f.TargetID, "targetLabel": f.TargetLabel} {
		if s != "" {
			v[k] = s
		}
	}
	if f.SinceRaw != "" {
		v["since"] = f.SinceRaw
	} else if f.Since != nil {
		v["since"] = bFormat(*f.Since)
	}
	if f.Until != nil {
		v["until"] = bFormat(*f.Until)
	}
	return v
}

func (f bFilter) match(t testing.TB, e event) bool {
	if len(f.Actions) > 0 && !slices.Contains(f.Actions, e.Action) {
		return false
	}
	if f.ActorID != "" && e.Actor.ID != f.ActorID {
		return false
	}
	if f.ActorEmail != "" && (e.Actor.Email == nil || !strings.EqualFold(*e.Actor.Email, f.ActorEmail)) {
		return false
	}
	if f.TargetID != "" && (e.Target == nil || e.Target.ID != f.TargetID) {
		return false
	}
	if f.TargetLabel != "" && (e.Target == nil || e.Target.Label == nil || !strings.EqualFold(*e.Target.Label, f.TargetLabel)) {
		return false
	}
	at := bTime(t, e.OccurredAt)
	if f.Since != nil && at.Before(*f.Since) {
		return false
	}
	if f.Until != nil && !at.Before(*f.Until) {
		return false
	}
	return true
}

// bCheckFilter reads the log with f, paging forward newest first and
// backward oldest first, and its totalCount in a query of its own, and
// compares all three with f applied in Go to the full log.
func bCheckFilter(t *testing.T, fx *bFixture, f bFilter) {
	t.Helper()
	var want []string
	for _, e := range fx.full {
		if f.match(t, e) {
			want = append(want, e.ID)
		}
	}
	if f.expectEmpty != (len(want) == 0) {
		t.Fatalf("the row expects empty=%v but %d of %d events match: fix the test", f.expectEmpty, len(want), len(fx.full))
	}
	for _, id := range f.mustHave {
		if !slices.Contains(want, id) {
			t.Fatalf("the row must match %s but does not: fix the test", id)
		}
	}
	for _, id := range f.mustNotHave {
		if slices.Contains(want, id) {
			t.Fatalf("the row must not match %s but does: fix the test", id)
		}
	}
	s, token, ws := fx.s, fx.admin.token, fx.h.ws
	got := bIDs(bPageAll(t, s, token, ws, 7, false, f.vars(), ""))
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("newest first, paged forward by 7 (-want +got):\n%s", diff)
	}
	got = bIDs(bPageAll(t, s, token, ws, 5, true, f.vars(), "ASC"))
	if diff := cmp.Diff(bReversed(want), got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("oldest first, paged backward by 5 (-want +got):\n%s", diff)
	}
	if n := bTotalCount(t, s, token, ws, f.vars()); n != len(want) {
		t.Errorf("totalCount %d, want %d", n, len(want))
	}
}

// TestAuditLogFilters checks each filter field alone and in combination:
// the events, their order and totalCount are what the filter applied to the
// whole log gives.
func TestAuditLogFilters(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		fx := bNewFixture(t, db, 4)
		r := fx.rounds
		mid := func(i int) *time.Time { // a moment between two events, mid-hour
			v := bTime(t, fx.full[i].OccurredAt).Add(-1500 * time.Millisecond)
			return &v
		}
		for _, tc := range []struct {
			name string
			f    bFilter
		}{
			{"no-filter", bFilter{}},
			{"empty-actions-list-is-no-filter", bFilter{Actions: []string{}}},
			{"one-action", bFilter{Actions: []string{"MEMBER_ADDED"}}},
			{"one-action-that-never-happened", bFilter{Actions: []string{"AUDIT_LOG_EXPORTED"}, expectEmpty: true}},
			{"several-actions", bFilter{Actions: []string{"PUBLIC_INVITE_LINK_ACCEPTED", "EMAIL_INVITE_ACCEPTED", "MEMBER_REMOVED"}}},
			{"several-actions-repeated", bFilter{Actions: []string{"MEMBER_REMOVED", "MEMBER_ROLE_UPDATED", "MEMBER_REMOVED"}}},
			{"several-actions-one-never-happened", bFilter{Actions: []string{"AUDIT_LOG_EXPORTED", "EMAIL_INVITE_DELETED"}}},
			{"every-action", bFilter{Actions: []string{"PUBLIC_INVITE_LINK_CREATED", "PUBLIC_INVITE_LINK_DELETED", "PUBLIC_INVITE_LINK_ACCEPTED",
				"EMAIL_INVITE_CREATED", "EMAIL_INVITE_DELETED", "EMAIL_INVITE_ACCEPTED", "MEMBER_ADDED", "MEMBER_REMOVED", "MEMBER_ROLE_UPDATED", "AUDIT_LOG_EXPORTED"}}},
			{"actor-id", bFilter{ActorID: r[1].users[2].id}},
			{"actor-id-of-the-admin", bFilter{ActorID: fx.admin.id}},
			{"actor-id-is-exact-not-case-insensitive", bFilter{ActorID: strings.ToUpper(r[1].users[2].id), expectEmpty: true}},
			{"actor-id-of-nobody", bFilter{ActorID: "user-nobody", expectEmpty: true}},
			{"actor-email-in-upper-case", bFilter{ActorEmail: strings.ToUpper(r[2].users[0].email)}},
			{"actor-email-in-mixed-case", bFilter{ActorEmail: bMixedCase(r[0].users[2].email)}},
			{"actor-email-is-exact-not-a-prefix", bFilter{ActorEmail: r[0].users[2].email[:5], expectEmpty: true}},
			{"target-id-of-a-user", bFilter{TargetID: r[0].users[3].id}},
			{"target-id-of-an-invite-link", bFilter{TargetID: r[2].public}},
			{"target-label-in-upper-case", bFilter{TargetLabel: strings.ToUpper(r[3].users[2].email)}},
			{"target-label-in-mixed-case-of-a-deleted-invite", bFilter{TargetLabel: bMixedCase(r[1].users[4].email)}},
			{"actions-and-actor-email", bFilter{Actions: []string{"MEMBER_ADDED", "MEMBER_ROLE_UPDATED"}, ActorEmail: strings.ToUpper(fx.admin.email)}},
			{"actions-actor-and-time", bFilter{Actions: []string{"MEMBER_ROLE_UPDATED", "MEMBER_REMOVED", "EMAIL_INVITE_DELETED"},
				ActorID: fx.admin.id, Since: mid(60), Until: mid(10)}},
			{"actor-and-target", bFilter{ActorID: r[1].users[2].id, TargetID: r[1].users[3].id}},
			{"target-label-and-one-action", bFilter{TargetLabel: strings.ToUpper(r[2].users[4].email), Actions: []string{"MEMBER_REMOVED"}}},
			{"every-field", bFilter{Actions: []string{"MEMBER_ADDED", "MEMBER_ROLE_UPDATED"}, ActorID: r[3].users[2].id,
				ActorEmail: bMixedCase(r[3].users[2].email), TargetID: r[3].users[3].id, TargetLabel: strings.ToUpper(r[3].users[3].email),
				Since: mid(len(fx.full) - 1), Until: mid(0)}},
			{"fields-that-exclude-each-other", bFilter{ActorID: r[0].users[0].id, ActorEmail: r[1].users[0].email, expectEmpty: true}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				bCheckFilter(t, fx, tc.f)
			})
		}
	})
}

// bMixedCase upper-cases every other letter.
func bMixedCase(s string) string {
	b := []byte(s)
	for i := 0; i < len(b); i += 2 {
		if b[i] >= 'a' && b[i] <= 'z' {
			b[i] -= 'a' - 'A'
		}
	}
	return string(b)
}

// TestAuditLogTimeRangesAndTotalCount checks since (inclusive) and until
// (exclusive) on exact hour boundaries, mid-hour and on events' own times,
// with and without actions. totalCount of these filters is answered from the
// hourly counters plus exact counts of the partial hours at the edges, so
// each row is a different split between the two, and must still be exact.
func TestAuditLogTimeRangesAndTotalCount(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		fx := bNewFixture(t, db, 4)
		n := len(fx.full)
		oldest := bTime(t, fx.full[n-1].OccurredAt)
		hour := func(k int) *time.Time { v := oldest.Truncate(time.Hour).Add(time.Duration(k) * time.Hour); return &v }
		at := func(k int, d time.Duration) *time.Time { v := hour(k).Add(d); return &v }
		ev := func(i int) *time.Time { v := bTime(t, fx.full[i].OccurredAt); return &v }
		// The busiest hour, and the hour of the event in the middle of the log.
		busy := bBusiestHour(t, fx.full)
		busyK := int(busy.Sub(*hour(0)) / time.Hour)
		midK := int(ev(n/2).Truncate(time.Hour).Sub(*hour(0)) / time.Hour)
		several := []string{"MEMBER_ROLE_UPDATED", "PUBLIC_INVITE_LINK_ACCEPTED", "EMAIL_INVITE_DELETED"}
		long := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)

		// An event that shares its millisecond with neither neighbour, so that
		// since and until at its time, or a millisecond later, cut between two
		// events.
		cut := n / 2
		for cut < n-1 && (fx.full[cut].OccurredAt == fx.full[cut+1].OccurredAt || fx.full[cut].OccurredAt == fx.full[cut-1].OccurredAt) {
			cut++
		}
		// Two events that lie one and two hour boundaries apart: a range from
		// the older to just after the newer has partial hours at both ends and
		// none or one whole hour between them.
		apart := func(hours int) (since, until *time.Time) {
			for i := n - 1; i >= 0; i-- {
				for j := i - 1; j >= 0; j-- {
					a, b := ev(i), ev(j)
					if a.Truncate(time.Hour).Add(time.Duration(hours)*time.Hour).Equal(b.Truncate(time.Hour)) && !a.Equal(a.Truncate(time.Hour)) {
						u := b.Add(time.Millisecond)
						return a, &u
					}
				}
			}
			t.Fatalf("no two events %d hour boundaries apart: fix the test", hours)
			return nil, nil
		}
		since1, until1 := apart(1)
		since2, until2 := apart(2)
		for _, tc := range []struct {
			name string
			f    bFilter
		}{
			{"since-and-until-on-hour-boundaries", bFilter{Since: hour(3), Until: hour(60)}},
			{"since-and-until-mid-hour", bFilter{Since: at(3, 17*time.Minute+31250*time.Millisecond), Until: at(60, 42*time.Minute)}},
			{"since-on-hour-until-mid-hour", bFilter{Since: hour(5), Until: at(80, 59*time.Minute+59999*time.Millisecond)}},
			{"since-mid-hour-until-on-hour", bFilter{Since: at(1, time.Millisecond), Until: hour(75)}},
			{"the-busiest-whole-hour", bFilter{Since: hour(busyK), Until: hour(busyK + 1)}},
			{"two-whole-hours", bFilter{Since: hour(busyK - 1), Until: hour(busyK + 1)}},
			{"inside-one-hour", bFilter{Since: at(busyK, time.Millisecond), Until: at(busyK, time.Hour-time.Millisecond)}},
			{"across-one-hour-boundary", bFilter{Since: since1, Until: until1}},
			{"across-two-hour-boundaries", bFilter{Since: since2, Until: until2}},
			{"since-alone-on-hour-boundary", bFilter{Since: hour(midK)}},
			{"since-alone-mid-hour", bFilter{Since: at(midK, 7*time.Minute)}},
			{"until-alone-on-hour-boundary", bFilter{Until: hour(midK)}},
			{"until-alone-mid-hour", bFilter{Until: at(midK, 7*time.Minute)}},
			{"since-is-inclusive", bFilter{Since: ev(cut), mustHave: []string{fx.full[cut].ID}, mustNotHave: []string{fx.full[cut+1].ID}}},
			{"until-is-exclusive", bFilter{Until: ev(cut), mustHave: []string{fx.full[cut+1].ID}, mustNotHave: []string{fx.full[cut].ID}}},
			// The partial hours at the edges hold an event right at the cut.
			{"since-just-after-an-event", bFilter{Since: func() *time.Time { v := ev(cut).Add(time.Millisecond); return &v }(),
				mustHave: []string{fx.full[cut-1].ID}, mustNotHave: []string{fx.full[cut].ID}}},
			{"until-just-after-an-event", bFilter{Until: func() *time.Time { v := ev(cut).Add(time.Millisecond); return &v }(),
				mustHave: []string{fx.full[cut].ID}, mustNotHave: []string{fx.full[cut-1].ID}}},
			{"since-equals-an-event-until-one-ms-later", bFilter{Since: ev(cut), Until: func() *time.Time { v := ev(cut).Add(time.Millisecond); return &v }(),
				mustHave: []string{fx.full[cut].ID}}},
			{"since-far-in-the-past-is-clamped", bFilter{Since: &long}},
			{"since-far-in-the-past-with-until", bFilter{Since: &long, Until: hour(40)}},
			{"since-with-an-offset", bFilter{Since: hour(20), SinceRaw: hour(20).In(time.FixedZone("", -5*3600)).Format(time.RFC3339)}},
			{"until-before-every-event", bFilter{Until: &long, expectEmpty: true}},
			{"since-after-every-event", bFilter{Since: at(24*30, 0), expectEmpty: true}},
			{"one-action-on-hour-boundaries", bFilter{Actions: []string{"MEMBER_ADDED"}, Since: hour(2), Until: hour(70)}},
			{"one-action-mid-hour", bFilter{Actions: []string{"MEMBER_ADDED"}, Since: at(2, 31*time.Minute), Until: at(70, 29*time.Minute)}},
			{"one-action-since-alone", bFilter{Actions: []string{"MEMBER_REMOVED"}, Since: at(10, 10*time.Minute)}},
			{"several-actions-on-hour-boundaries", bFilter{Actions: several, Since: hour(4), Until: hour(90)}},
			{"several-actions-mid-hour", bFilter{Actions: several, Since: at(4, 44*time.Minute), Until: at(90, 4*time.Minute)}},
			{"several-actions-busiest-hour", bFilter{Actions: several, Since: hour(busyK), Until: hour(busyK + 1)}},
			{"several-actions-until-alone", bFilter{Actions: several, Until: at(50, 50*time.Minute)}},
			{"actor-on-hour-boundaries", bFilter{ActorID: fx.admin.id, Since: hour(3), Until: hour(60)}},
			{"actor-email-mid-hour", bFilter{ActorEmail: strings.ToUpper(fx.rounds[1].users[2].email), Since: at(3, time.Minute), Until: at(60, time.Minute)}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				bCheckFilter(t, fx, tc.f)
			})
		}
	})
}

// bBusiestHour is the hour that holds the most events.
func bBusiestHour(t *testing.T, events []event) time.Time {
	counts := map[time.Time]int{}
	var best time.Time
	for _, e := range events {
		h := bTime(t, e.OccurredAt).Truncate(time.Hour)
		counts[h]++
		if counts[h] > counts[best] {
			best = h
		}
	}
	return best
}

// TestAuditLogPagingWhileEventsArrive pages through a log while new events
// are written between pages: every event that existed when paging began is
// seen exactly once and in order, and nothing is seen twice.
func TestAuditLogPagingWhileEventsArrive(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		order    string
		backward bool
		// newAtTheEnd: the new events are at the far end of the paging, so a
		// client reaches them; otherwise they are behind its start.
		newAtTheEnd bool
	}{
		{"newest-first-forward-never-sees-new-events", "DESC", false, false},
		{"oldest-first-backward-never-sees-new-events", "ASC", true, false},
		{"oldest-first-forward-reaches-new-events-last", "ASC", false, true},
		{"newest-first-backward-reaches-new-events-last", "DESC", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
				t.Parallel()
				fx := bNewFixture(t, db, 2)
				s, h := fx.s, fx.h
				before := fx.full
				if tc.order == "ASC" {
					before = bReversed(before)
				}
				var got []event
				var cursor *string
				for page := 0; ; page++ {
					if page > 100 {
						t.Fatal("paging does not end")
					}
					c := bAuditLog(t, s, fx.admin.token, h.ws, bPageVars(4, tc.backward, cursor, nil, tc.order))
					bCheckPageShape(t, c)
					nodes := c.Nodes
					more, next := c.PageInfo.HasNextPage, c.PageInfo.EndCursor
					if tc.backward {
						nodes = bReversed(nodes)
						more, next = c.PageInfo.HasPreviousPage, c.PageInfo.StartCursor
					}
					got = append(got, nodes...)
					if !more {
						break
					}
					cursor = next
					// New events between pages: some in the same instant, some later.
					if page%2 == 1 {
						s.clock.Advance(3 * time.Minute)
					}
					id, _ := h.invite(fx.admin, "", "MEMBER")
					h.deleteInvite(fx.admin, id, false)
				}
				if tc.backward {
					slices.Reverse(got)
				}
				ids, want := bIDs(got), bIDs(before)
				seen := map[string]bool{}
				for _, id := range ids {
					if seen[id] {
						t.Errorf("event %s seen twice", id)
					}
					seen[id] = true
				}
				// Keep only the events that existed at the start.
				old := map[string]bool{}
				for _, id := range want {
					old[id] = true
				}
				var kept []string
				for _, id := range ids {
					if old[id] {
						kept = append(kept, id)
					}
				}
				if diff := cmp.Diff(want, kept); diff != "" {
					t.Errorf("events that existed at the start (-want +got):\n%s", diff)
				}
				newOnes := len(ids) - len(kept)
				if !tc.newAtTheEnd && newOnes != 0 {
					t.Errorf("saw %d new events, want none: they are behind where paging began", newOnes)
				}
				if tc.newAtTheEnd {
					if newOnes == 0 {
						t.Errorf("saw no new events; paging towards them should reach them")
					}
					// The new events come after all the old ones in the order read.
					if tc.backward {
						ids = bReversed(ids)
					}
					for i, id := range ids[:len(want)] {
						if !old[id] {
							t.Errorf("new event %s read at %d, before the old events were done", id, i)
						}
					}
				}
			})
		})
	}
}

// TestAuditLogRetentionWindow runs a server that keeps events for 48 hours
// and checks that older events are never shown, counted or paged to, that
// an earlier since is clamped rather than refused, and that a cursor of an
// event that has left the window still pages correctly.
func TestAuditLogRetentionWindow(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, map[string]string{"AUDITLOG_RETENTION": "48h"})
		admin := bUser(t, s, "admin")
		h := bNewHistory(t, s, admin)
		u1, u2, u3, u4 := bUser(t, s, "u1"), bUser(t, s, "u2"), bUser(t, s, "u3"), bUser(t, s, "u4")
		// Ages at the time of the check: 60h, 49h | 47h, 30h, 0h.
		h.add(admin, u1, "MEMBER")
		oldInvite, _ := h.invite(admin, "", "MEMBER")
		oldCursor := *s.auditLog(t, admin.token, h.ws, map[string]any{"last": 1}).PageInfo.EndCursor
		s.clock.Advance(11 * time.Hour)
		h.setRole(admin, u1, "MEMBER", "ADMIN")
		h.add(u1, u2, "MEMBER")
		expired := len(h.want)
		s.clock.Advance(2 * time.Hour)
		h.deleteInvite(admin, oldInvite, false)
		h.setRole(u1, u2, "MEMBER", "ADMIN")
		h.add(admin, u3, "ADMIN")
		s.clock.Advance(17 * time.Hour)
		mail, token := h.invite(u2, u4.email, "MEMBER")
		h.accept(u4, mail, token, "MEMBER", true)
		h.remove(u3, u2, "ADMIN")
		s.clock.Advance(30 * time.Hour)
		h.setRole(admin, u4, "MEMBER", "ADMIN")
		h.remove(u4, u1, "ADMIN")

		all := s.allEvents(t, admin.token, h.ws, nil)
		if diff := cmp.Diff(h.want[expired:], bSameInstantSorted(h.want[expired:], bReversed(all))); diff != "" {
			t.Fatalf("log, oldest first, is not the events of the last 48h (-want +got):\n%s", diff)
		}
		ids := bIDs(all)
		fx := &bFixture{s: s, h: h, admin: admin, full: all}
		long := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
		until := bTime(t, all[len(all)-1].OccurredAt).Add(-30 * time.Minute) // between 49h and 47h ago
		// The checks hold as soon as events leave the window, and still hold
		// once the retention job has deleted them and their hourly counters.
		checks := func(t *testing.T) {
			t.Run("filters-and-counts-stay-inside-the-window", func(t *testing.T) {
				t.Parallel()
				for _, tc := range []struct {
					name string
					f    bFilter
				}{
					{"no-filter", bFilter{}},
					{"since-far-in-the-past-is-clamped", bFilter{Since: &long}},
					{"one-action", bFilter{Actions: []string{"MEMBER_ADDED"}}},
					{"several-actions", bFilter{Actions: []string{"MEMBER_ROLE_UPDATED", "PUBLIC_INVITE_LINK_DELETED"}}},
					{"several-actions-since-far-in-the-past", bFilter{Actions: []string{"MEMBER_ROLE_UPDATED", "MEMBER_ADDED"}, Since: &long}},
					{"actor", bFilter{ActorID: admin.id}},
					{"target-of-events-inside-and-outside", bFilter{TargetID: oldInvite}},
				} {
					t.Run(tc.name, func(t *testing.T) {
						bCheckFilter(t, fx, tc.f)
					})
				}
				for _, tc := range []struct {
					name string
					f    bFilter
				}{
					{"until-before-the-window", bFilter{Until: &until}},
					{"since-far-in-the-past-until-before-the-window", bFilter{Since: &long, Until: &until}},
					{"actor-until-before-the-window", bFilter{ActorID: admin.id, Until: &until}},
				} {
					t.Run(tc.name, func(t *testing.T) {
						c := bAuditLog(t, s, admin.token, h.ws, map[string]any{"filter": tc.f.vars()})
						if len(c.Edges) != 0 || c.PageInfo.HasNextPage || c.PageInfo.HasPreviousPage {
							t.Errorf("got %d events, hasNextPage %v, hasPreviousPage %v; want an empty page", len(c.Edges), c.PageInfo.HasNextPage, c.PageInfo.HasPreviousPage)
						}
						if n := bTotalCount(t, s, admin.token, h.ws, tc.f.vars()); n != 0 {
							t.Errorf("totalCount %d, want 0", n)
						}
					})
				}
			})
			t.Run("paging-both-ways-stays-inside-the-window", func(t *testing.T) {
				t.Parallel()
				for _, order := range []string{"DESC", "ASC"} {
					want := ids
					if order == "ASC" {
						want = bReversed(ids)
					}
					for _, backward := range []bool{false, true} {
						got := bIDs(bPageAll(t, s, admin.token, h.ws, 2, backward, nil, order))
						if diff := cmp.Diff(want, got); diff != "" {
							t.Errorf("order %s backward %v (-want +got):\n%s", order, backward, diff)
						}
					}
				}
			})
			t.Run("a-cursor-that-left-the-window", func(t *testing.T) {
				t.Parallel()
				// Newest first, after the old event lie only older, expired ones.
				c := bAuditLog(t, s, admin.token, h.ws, map[string]any{"first": 10, "after": oldCursor})
				if len(c.Edges) != 0 || c.PageInfo.HasNextPage {
					t.Errorf("after an expired event: %d events, hasNextPage %v; want none", len(c.Edges), c.PageInfo.HasNextPage)
				}
				// Before it lie the whole window; the last 4 are the oldest inside it.
				c = bAuditLog(t, s, admin.token, h.ws, map[string]any{"last": 4, "before": oldCursor})
				if diff := cmp.Diff(ids[len(ids)-4:], bEdgeIDs(c)); diff != "" {
					t.Errorf("last 4 before an expired event (-want +got):\n%s", diff)
				}
				if !c.PageInfo.HasPreviousPage || c.PageInfo.HasNextPage {
					t.Errorf("hasPreviousPage %v hasNextPage %v, want true false: nothing after is visible", c.PageInfo.HasPreviousPage, c.PageInfo.HasNextPage)
				}
				// Oldest first, the whole window comes after it.
				c = bAuditLog(t, s, admin.token, h.ws, map[string]any{"first": 100, "after": oldCursor, "order": map[string]any{"direction": "ASC"}})
				if diff := cmp.Diff(bReversed(ids), bEdgeIDs(c)); diff != "" {
					t.Errorf("oldest first after an expired event (-want +got):\n%s", diff)
				}
				if c.PageInfo.HasPreviousPage || c.PageInfo.HasNextPage {
					t.Errorf("hasPreviousPage %v hasNextPage %v, want false false", c.PageInfo.HasPreviousPage, c.PageInfo.HasNextPage)
				}
			})
		}
		t.Run("before-the-retention-job", checks)
		res, err := s.app.Prune(context.Background())
		if err != nil {
			t.Fatalf("prune: %v", err)
		}
		if res.Events != int64(expired) {
			t.Errorf("the retention job deleted %d events, want the %d older than 48h", res.Events, expired)
		}
		t.Run("after-the-retention-job", checks)
	})
}

// TestAuditLogCursorBelongsToItsWorkspace checks that a cursor only pages
// the log that issued it: one from another workspace, even of the same
// admin, or one that was altered, is BAD_USER_INPUT.
func TestAuditLogCursorBelongsToItsWorkspace(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		fx := bNewFixture(t, db, 1)
		s, admin := fx.s, fx.admin
		other := bNewHistory(t, s, admin)
		other.add(admin, fx.rounds[0].users[0], "MEMBER")
		other.add(admin, fx.rounds[0].users[1], "ADMIN")
		page := func(ws string) connection { return bAuditLog(t, s, admin.token, ws, map[string]any{"first": 2}) }
		mine, theirs := page(fx.h.ws), page(other.ws)
		mineCursor, theirCursor := *mine.PageInfo.EndCursor, *theirs.PageInfo.EndCursor
		tampered := []byte(mineCursor)
		tampered[len(tampered)/2] ^= 1
		for _, tc := range []struct {
			name    string
			ws      string
			vars    map[string]any
			wantErr bool
		}{
			{"own-cursor-after", fx.h.ws, map[string]any{"first": 2, "after": mineCursor}, false},
			{"own-cursor-before", other.ws, map[string]any{"last": 2, "before": theirCursor}, false},
			{"other-workspace-after", other.ws, map[string]any{"first": 2, "after": mineCursor}, true},
			{"other-workspace-before", other.ws, map[string]any{"last": 2, "before": mineCursor}, true},
			{"other-workspace-the-other-way", fx.h.ws, map[string]any{"after": theirCursor}, true},
			{"altered-cursor", fx.h.ws, map[string]any{"after": string(tampered)}, true},
			{"made-up-cursor", fx.h.ws, map[string]any{"before": "not-a-cursor"}, true},
			{"empty-cursor", fx.h.ws, map[string]any{"after": ""}, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				for _, q := range []struct{ field, query string }{{"Query.auditLog", bAuditLogQuery}, {"Workspace.auditLog", bWorkspaceAuditLogQuery}} {
					vars := map[string]any{"w": tc.ws}
					for k, v := range tc.vars {
						vars[k] = v
					}
					if tc.wantErr {
						s.fails(t, admin.token, q.query, vars, "BAD_USER_INPUT")
					} else {
						s.ok(t, admin.token, q.query, vars)
					}
				}
			})
		}
	})
}

const bWorkspaceAuditLogQuery = `query($w: ID!, $first: Int, $after: String, $last: Int, $before: String, $filter: AuditLogFilter, $order: AuditLogOrder) {
  workspace(id: $w) {
    auditLog(first: $first, after: $after, last: $last, before: $before, filter: $filter, orderBy: $order) {
      ` + bConnectionFields + `
      totalCount
    }
  }
}`

// TestAuditLogWorkspaceFieldMatchesQuery checks that Workspace.auditLog
// answers exactly what Query.auditLog answers for the same arguments,
// cursors and totalCount included.
func TestAuditLogWorkspaceFieldMatchesQuery(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		fx := bNewFixture(t, db, 2)
		cursors := bCursors(t, fx.s, fx.admin.token, fx.h.ws)
		ids := fx.fullIDs()
		mid := bFormat(bTime(t, fx.full[20].OccurredAt))
		for _, tc := range []struct {
			name string
			vars map[string]any
		}{
			{"no-arguments", nil},
			{"first-page", map[string]any{"first": 5}},
			{"middle-page-forward", map[string]any{"first": 5, "after": cursors[ids[7]]}},
			{"middle-page-backward", map[string]any{"last": 5, "before": cursors[ids[20]]}},
			{"ascending", map[string]any{"first": 6, "order": map[string]any{"direction": "ASC"}}},
			{"filtered", map[string]any{"first": 3, "filter": map[string]any{"actions": []string{"MEMBER_ADDED", "MEMBER_REMOVED"}, "since": mid}}},
			{"matches-nothing", map[string]any{"filter": map[string]any{"actorId": "nobody"}}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				vars := map[string]any{"w": fx.h.ws}
				for k, v := range tc.vars {
					vars[k] = v
				}
				query := strings.Replace(bAuditLogQuery, "\n  }\n}", "\n    totalCount\n  }\n}", 1)
				var q struct{ AuditLog connection }
				fx.s.ok(t, fx.admin.token, query, vars, &q)
				var w struct{ Workspace struct{ AuditLog connection } }
				fx.s.ok(t, fx.admin.token, bWorkspaceAuditLogQuery, vars, &w)
				if diff := cmp.Diff(q.AuditLog, w.Workspace.AuditLog); diff != "" {
					t.Errorf("Workspace.auditLog differs from Query.auditLog (-query +workspace):\n%s", diff)
				}
				if q.AuditLog.TotalCount == 0 && tc.name != "matches-nothing" {
					t.Errorf("totalCount is 0: the query did not select it")
				}
			})
		}
	})
}

// TestAuditLogRefusesBadPageArguments checks the paging rules through the
// API: each mistake is BAD_USER_INPUT and reads nothing.
func TestAuditLogRefusesBadPageArguments(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		fx := bNewFixture(t, db, 1)
		cursor := bCursors(t, fx.s, fx.admin.token, fx.h.ws)[fx.full[3].ID]
		for _, tc := range []struct {
			name string
			vars map[string]any
		}{
			{"first-and-last", map[string]any{"first": 5, "last": 5}},
			{"first-zero", map[string]any{"first": 0}},
			{"first-negative", map[string]any{"first": -1}},
			{"first-above-100", map[string]any{"first": 101}},
			{"last-zero", map[string]any{"last": 0}},
			{"last-above-100", map[string]any{"last": 101}},
			{"after-and-before", map[string]any{"after": cursor, "before": cursor}},
			{"first-with-before", map[string]any{"first": 5, "before": cursor}},
			{"last-with-after", map[string]any{"last": 5, "after": cursor}},
			{"since-not-before-until", map[string]any{"filter": map[string]any{"since": "2030-01-01T00:00:00Z", "until": "2030-01-01T00:00:00Z"}}},
			{"actor-id-too-long", map[string]any{"filter": map[string]any{"actorId": strings.Repeat("x", 192)}}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				vars := map[string]any{"w": fx.h.ws}
				for k, v := range tc.vars {
					vars[k] = v
				}
				r := fx.s.fails(t, fx.admin.token, bAuditLogQuery, vars, "BAD_USER_INPUT")
				if string(r.Data) != "" && string(r.Data) != "null" && string(r.Data) != `{"auditLog":null}` {
					t.Errorf("data %s, want auditLog null", r.Data)
				}
			})
		}
		for _, size := range []int{1, 100} {
			t.Run(fmt.Sprintf("first-%d-is-allowed", size), func(t *testing.T) {
				t.Parallel()
				c := bAuditLog(t, fx.s, fx.admin.token, fx.h.ws, map[string]any{"first": size})
				if want := min(size, len(fx.full)); len(c.Edges) != want {
					t.Errorf("%d events, want %d", len(c.Edges), want)
				}
			})
		}
	})
}
