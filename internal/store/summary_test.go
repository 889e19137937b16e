package store

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/insight"
	"github.com/auditlogd/auditlogd/internal/testenv"
)

// bruteTally counts the workspace's events in [since, until) plainly.
func bruteTally(events []audit.Event, ws string, since, until time.Time, top int) audit.Tally {
	t := audit.Tally{ByActionFlags: map[audit.ActionFlags]int{}}
	sums := map[actorKey]int64{}
	for _, e := range events {
		if e.WorkspaceID != ws || e.OccurredAt.Before(since) || !e.OccurredAt.Before(until) {
			continue
		}
		t.ByActionFlags[audit.ActionFlags{Action: e.Action, Flags: e.FlagSet}]++
		sums[actorKey{string(e.Actor.Type), e.Actor.ID}]++
	}
	t.TopActors = topActors(sums, top)
	return t
}

// withoutEmails drops the emails Summarize adds to user actors.
func withoutEmails(t audit.Tally) audit.Tally {
	for i := range t.TopActors {
		t.TopActors[i].Actor.Email = nil
	}
	return t
}

// TestSummarizeMatchesBruteForce checks Summarize against a plain count of
// the same events, for windows made of whole hours, partial hours at either
// edge, and less than an hour; then writes history into hours whose actor
// sums were kept, and checks that the next summary counts it.
func TestSummarizeMatchesBruteForce(t *testing.T) {
	d := listData()
	for i := range d.events {
		d.events[i].FlagSet = insight.Set(i % 7 % 5) // some events flagged, some with two flags
	}
	testenv.ForEachDB(t, func(t *testing.T, tdb testenv.DB) {
		db := open(t, tdb)
		loadData(t, db, d)
		ctx := context.Background()
		windows := []struct{ since, until time.Time }{
			{hourH.Add(-4 * time.Hour), hourH.Add(7 * time.Hour)},                                   // everything, whole hours
			{hourH.Add(-2*time.Hour - 17*time.Minute), hourH.Add(3*time.Hour + 41*time.Minute)},     // partial edges
			{hourH.Add(-2*time.Hour - 17*time.Minute + 123*time.Millisecond), hourH.Add(time.Hour)}, // a partial start, a whole end
			{hourH.Add(10 * time.Minute), hourH.Add(50 * time.Minute)},                              // inside one hour
			{hourH.Add(50 * time.Minute), hourH.Add(70 * time.Minute)},                              // across one hour's end
			{hourH.Add(-2*time.Hour - 17*time.Minute), hourH.Add(3*time.Hour + 41*time.Minute + 1)}, // one more millisecond
		}
		for i, w := range windows {
			for _, top := range []int{1, 3, 10} {
				t.Run(fmt.Sprintf("window-%d-top-%d", i, top), func(t *testing.T) {
					want := bruteTally(d.events, d.ws, w.since, w.until, top)
					for round := range 2 { // the second from kept sums
						got, err := db.Events().Summarize(ctx, d.ws, w.since, w.until, top)
						if err != nil {
							t.Fatal(err)
						}
						if diff := gocmp.Diff(want, withoutEmails(got), gocmp.AllowUnexported()); diff != "" {
							t.Errorf("round %d (-brute force +Summarize):\n%s", round, diff)
						}
					}
				})
			}
		}

		// History written into closed hours after their sums were kept (the
		// window's whole hours end before the newest event's hour).
		w := windows[1]
		if _, err := db.Events().Summarize(ctx, d.ws, w.since, w.until, 10); err != nil {
			t.Fatal(err)
		}
		at := hourH.Add(-90 * time.Minute)
		var more []audit.Event
		for i := range 30 {
			more = append(more, audit.Event{ID: fixedID(at, uint64(1000+i)), WorkspaceID: d.ws, OccurredAt: at,
				Action: audit.MemberAdded, Actor: audit.Actor{ID: "u-late", Type: audit.ActorUser}})
		}
		if err := db.Bulk().InsertEvents(ctx, more); err != nil {
			t.Fatal(err)
		}
		got, err := db.Events().Summarize(ctx, d.ws, w.since, w.until, 10)
		if err != nil {
			t.Fatal(err)
		}
		want := bruteTally(append(d.events, more...), d.ws, w.since, w.until, 10)
		if diff := gocmp.Diff(want, withoutEmails(got)); diff != "" {
			t.Errorf("after history was inserted (-brute force +Summarize):\n%s", diff)
		}
		if !slices.ContainsFunc(got.TopActors, func(a audit.ActorCount) bool { return a.Actor.ID == "u-late" && a.Count == 30 }) {
			t.Errorf("top actors %+v, want u-late with 30 events among them", got.TopActors)
		}
	})
}
