package audit

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/auditlogd/auditlogd/internal/apperr"
)

func at(s string) *time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return &t
}

func TestFilterValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		f         Filter
		wantField string // "" for valid
	}{
		{"empty-is-valid", Filter{}, ""},
		{"every-action-is-valid", Filter{Actions: Actions()}, ""},
		{"repeated-actions-are-valid", Filter{Actions: []Action{MemberAdded, MemberAdded}}, ""},
		{"strings-at-their-limits-are-valid", Filter{ActorID: strings.Repeat("a", 191), ActorEmail: strings.Repeat("b", 320),
			TargetID: strings.Repeat("c", 191), TargetLabel: strings.Repeat("d", 320)}, ""},
		{"since-before-until-is-valid", Filter{Since: at("2026-01-01T00:00:00Z"), Until: at("2026-01-01T00:00:00.001Z")}, ""},
		{"since-alone-is-valid", Filter{Since: at("2026-01-01T00:00:00Z")}, ""},
		{"until-alone-is-valid", Filter{Until: at("2026-01-01T00:00:00Z")}, ""},
		{"unknown-action", Filter{Actions: []Action{MemberAdded, "MEMBER_EATEN"}}, "filter.actions"},
		{"lower-case-action", Filter{Actions: []Action{"member_added"}}, "filter.actions"},
		{"empty-action", Filter{Actions: []Action{""}}, "filter.actions"},
		{"actor-id-too-long", Filter{ActorID: strings.Repeat("a", 192)}, "filter.actorId"},
		{"actor-email-too-long", Filter{ActorEmail: strings.Repeat("b", 321)}, "filter.actorEmail"},
		{"target-id-too-long", Filter{TargetID: strings.Repeat("c", 192)}, "filter.targetId"},
		{"target-label-too-long", Filter{TargetLabel: strings.Repeat("d", 321)}, "filter.targetLabel"},
		{"since-equals-until", Filter{Since: at("2026-01-01T00:00:00Z"), Until: at("2026-01-01T00:00:00Z")}, "filter.until"},
		{"since-after-until", Filter{Since: at("2026-01-02T00:00:00Z"), Until: at("2026-01-01T00:00:00Z")}, "filter.until"},
		{"same-instant-in-two-zones", Filter{Since: at("2026-01-01T01:00:00+01:00"), Until: at("2026-01-01T00:00:00Z")}, "filter.until"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.f.Validate()
			if tc.wantField == "" {
				if err != nil {
					t.Fatalf("Validate: %v, want nil", err)
				}
				return
			}
			e, ok := apperr.As(err)
			if !ok {
				t.Fatalf("Validate: %v, want a BAD_USER_INPUT apperr.Error", err)
			}
			if diff := cmp.Diff([2]string{string(apperr.BadUserInput), tc.wantField}, [2]string{string(e.Code), e.Field}); diff != "" {
				t.Errorf("code and field (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFilterWindow(t *testing.T) {
	t.Parallel()
	start := *at("2026-03-01T10:00:00.123456789Z") // window start, sub-millisecond
	startMs := at("2026-03-01T10:00:00.124Z")      // rounded up: nothing before the start gets in
	for _, tc := range []struct {
		name string
		in   Filter
		want Filter
	}{
		{"no-since-becomes-the-window-start-in-ms", Filter{}, Filter{Since: startMs}},
		{"earlier-since-is-clamped", Filter{Since: at("2020-01-01T00:00:00Z")}, Filter{Since: startMs}},
		{"since-a-fraction-of-a-ms-before-the-start-is-clamped", Filter{Since: at("2026-03-01T10:00:00.1234Z")}, Filter{Since: startMs}},
		{"later-since-is-kept", Filter{Since: at("2026-03-02T00:00:00Z")}, Filter{Since: at("2026-03-02T00:00:00Z")}},
		{"later-since-is-rounded-up-to-ms", Filter{Since: at("2026-03-02T00:00:00.987654Z")}, Filter{Since: at("2026-03-02T00:00:00.988Z")}},
		{"whole-ms-since-is-kept", Filter{Since: at("2026-03-02T00:00:00.987Z")}, Filter{Since: at("2026-03-02T00:00:00.987Z")}},
		{"until-is-rounded-up-to-ms", Filter{Until: at("2026-03-05T00:00:00.000999Z")}, Filter{Since: startMs, Until: at("2026-03-05T00:00:00.001Z")}},
		{"until-before-the-window-is-kept", Filter{Until: at("2026-01-01T00:00:00Z")}, Filter{Since: startMs, Until: at("2026-01-01T00:00:00Z")}},
		{"repeated-actions-are-dropped-in-order", Filter{Actions: []Action{MemberRemoved, MemberAdded, MemberRemoved, MemberAdded, EmailInviteCreated}},
			Filter{Since: startMs, Actions: []Action{MemberRemoved, MemberAdded, EmailInviteCreated}}},
		{"other-fields-are-kept", Filter{ActorID: "u1", ActorEmail: "A@x.io", TargetID: "t1", TargetLabel: "L"},
			Filter{Since: startMs, ActorID: "u1", ActorEmail: "A@x.io", TargetID: "t1", TargetLabel: "L"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := tc.in.Window(start)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Window (-want +got):\n%s", diff)
			}
			for _, p := range []*time.Time{got.Since, got.Until} {
				if p != nil && p.Location() != time.UTC {
					t.Errorf("time %v is not in UTC", p)
				}
			}
		})
	}
}

func TestFilterWindowConvertsToUTCAndLeavesItsInputAlone(t *testing.T) {
	t.Parallel()
	zone := time.FixedZone("X", -7*3600)
	since := time.Date(2026, 3, 2, 1, 0, 0, 500_600, zone)
	until := time.Date(2026, 3, 3, 1, 0, 0, 0, zone)
	actions := []Action{MemberAdded, MemberAdded}
	in := Filter{Since: &since, Until: &until, Actions: actions}
	out := in.Window(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	if out.Since.Location() != time.UTC || out.Until.Location() != time.UTC {
		t.Errorf("window times in %v and %v, want UTC", out.Since.Location(), out.Until.Location())
	}
	wantSince := since.Truncate(time.Millisecond).Add(time.Millisecond) // rounded up
	if !out.Since.Equal(wantSince) || !out.Until.Equal(until) {
		t.Errorf("window %v..%v, want %v..%v", out.Since, out.Until, wantSince, until)
	}
	if diff := cmp.Diff([]Action{MemberAdded, MemberAdded}, in.Actions); diff != "" {
		t.Errorf("Window changed its input's actions (-want +got):\n%s", diff)
	}
	if since.Nanosecond() != 500_600 || since.Location() != zone {
		t.Errorf("Window changed its input's since: %v", since)
	}
}

func TestFilterEmptyAndOnlyActionsAndTime(t *testing.T) {
	t.Parallel()
	t0, t1 := at("2026-01-01T00:00:00Z"), at("2026-01-01T00:00:00.001Z")
	for _, tc := range []struct {
		name              string
		f                 Filter
		empty, countsOnly bool
	}{
		{"nothing", Filter{}, false, true},
		{"since-before-until", Filter{Since: t0, Until: t1}, false, true},
		{"since-equals-until", Filter{Since: t0, Until: t0}, true, true},
		{"since-after-until", Filter{Since: t1, Until: t0}, true, true},
		{"actions-and-time", Filter{Actions: []Action{MemberAdded}, Since: t0}, false, true},
		{"actor-id", Filter{ActorID: "u"}, false, false},
		{"actor-email", Filter{ActorEmail: "a@b.c"}, false, false},
		{"target-id", Filter{TargetID: "t"}, false, false},
		{"target-label", Filter{TargetLabel: "l"}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := [2]bool{tc.f.Empty(), tc.f.OnlyActionsAndTime()}
			if diff := cmp.Diff([2]bool{tc.empty, tc.countsOnly}, got); diff != "" {
				t.Errorf("[Empty OnlyActionsAndTime] (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPageShape(t *testing.T) {
	t.Parallel()
	n := func(v int) *int { return &v }
	c := func(v string) *string { return &v }
	type shape struct {
		Backward bool
		Limit    int
	}
	for _, tc := range []struct {
		name      string
		pr        PageRequest
		want      shape
		wantField string // "" when valid
	}{
		{"nothing-is-the-first-50", PageRequest{}, shape{false, 50}, ""},
		{"first-1", PageRequest{First: n(1)}, shape{false, 1}, ""},
		{"first-100", PageRequest{First: n(100)}, shape{false, 100}, ""},
		{"first-with-after", PageRequest{First: n(7), After: c("x")}, shape{false, 7}, ""},
		{"after-alone-is-50-forward", PageRequest{After: c("x")}, shape{false, 50}, ""},
		{"last-1", PageRequest{Last: n(1)}, shape{true, 1}, ""},
		{"last-100", PageRequest{Last: n(100)}, shape{true, 100}, ""},
		{"last-with-before", PageRequest{Last: n(7), Before: c("x")}, shape{true, 7}, ""},
		{"before-alone-is-50-backward", PageRequest{Before: c("x")}, shape{true, 50}, ""},
		{"first-and-last", PageRequest{First: n(5), Last: n(5)}, shape{}, "last"},
		{"after-and-before", PageRequest{After: c("x"), Before: c("y")}, shape{}, "before"},
		{"first-with-before", PageRequest{First: n(5), Before: c("y")}, shape{}, "before"},
		{"last-with-after", PageRequest{Last: n(5), After: c("x")}, shape{}, "after"},
		{"first-0", PageRequest{First: n(0)}, shape{}, "first"},
		{"first-negative", PageRequest{First: n(-1)}, shape{}, "first"},
		{"first-101", PageRequest{First: n(101)}, shape{}, "first"},
		{"last-0", PageRequest{Last: n(0)}, shape{}, "last"},
		{"last-101", PageRequest{Last: n(101)}, shape{}, "last"},
		{"last-101-with-before", PageRequest{Last: n(101), Before: c("x")}, shape{}, "last"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			backward, limit, err := pageShape(tc.pr)
			if tc.wantField == "" {
				if err != nil {
					t.Fatalf("pageShape: %v", err)
				}
				if diff := cmp.Diff(tc.want, shape{backward, limit}); diff != "" {
					t.Errorf("shape (-want +got):\n%s", diff)
				}
				return
			}
			e, ok := apperr.As(err)
			if !ok || e.Code != apperr.BadUserInput || e.Field != tc.wantField {
				t.Errorf("pageShape: %v, want BAD_USER_INPUT on %q", err, tc.wantField)
			}
		})
	}
}

func TestPageSizeConstants(t *testing.T) {
	t.Parallel()
	if DefaultPageSize != 50 || MaxPageSize != 100 {
		t.Errorf("page sizes %d/%d, want 50/100 (docs/API.md §6)", DefaultPageSize, MaxPageSize)
	}
}
