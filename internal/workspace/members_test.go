package workspace_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/auditlogd/auditlogd/internal/apperr"
	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/auth"
	"github.com/auditlogd/auditlogd/internal/ids"
	"github.com/auditlogd/auditlogd/internal/role"
	"github.com/auditlogd/auditlogd/internal/testenv"
	"github.com/auditlogd/auditlogd/internal/workspace"
)

// TestLastAdminIsKept shows that the last admin of a workspace can be neither
// removed nor demoted (CONFLICT, nothing written), and that with two admins
// one of them can go.
func TestLastAdminIsKept(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, tdb testenv.DB) {
		f := newFixture(t, tdb)
		ann, bob := f.user("ann", true), f.user("bob", true)
		ws := f.workspace(ann, workspace.PlanFree)
		f.join(ann, ws, bob, role.Member)
		before := len(f.eventsOf(ws))

		_, err := f.svc.UpdateMemberRole(f.ctx, ann, ws, ann.Subject, role.Member)
		if code(err) != apperr.Conflict {
			t.Errorf("demote-last-admin: %v, want CONFLICT", err)
		}
		if err := f.svc.RemoveMember(f.ctx, ann, ws, ann.Subject); code(err) != apperr.Conflict {
			t.Errorf("remove-last-admin: %v, want CONFLICT", err)
		}
		if got := len(f.eventsOf(ws)); got != before {
			t.Errorf("refused changes wrote %d events", got-before)
		}

		// With a second admin, the first may step down; then the second is
		// the last one.
		if _, err := f.svc.UpdateMemberRole(f.ctx, ann, ws, bob.Subject, role.Admin); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.UpdateMemberRole(f.ctx, ann, ws, ann.Subject, role.Member); err != nil {
			t.Errorf("demote-one-of-two-admins: %v", err)
		}
		if err := f.svc.RemoveMember(f.ctx, bob, ws, bob.Subject); code(err) != apperr.Conflict {
			t.Errorf("remove-the-new-last-admin: %v, want CONFLICT", err)
		}
		if diff := cmp.Diff(map[string]role.Role{"ann": role.Member, "bob": role.Admin}, f.roles(ws)); diff != "" {
			t.Errorf("roles (-want +got):\n%s", diff)
		}
	})
}

// TestTwoAdminsDemotingEachOtherLeaveOne races two admins, each demoting (or
// removing) the other, 20 times: every time exactly one wins, the other —
// no longer an admin once it holds the lock — is FORBIDDEN, and the
// workspace keeps exactly one admin and one event of the change.
func TestTwoAdminsDemotingEachOtherLeaveOne(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, tdb testenv.DB) {
		f := newFixture(t, tdb)
		ann, bob := f.user("ann", true), f.user("bob", true)
		for _, verb := range []string{"demote", "remove"} {
			for i := range 20 {
				ws := f.workspace(ann, workspace.PlanFree)
				f.join(ann, ws, bob, role.Admin)
				before := len(f.eventsOf(ws))
				act := func(actor, other *auth.Principal) error {
					if verb == "remove" {
						return f.svc.RemoveMember(f.ctx, actor, ws, other.Subject)
					}
					_, err := f.svc.UpdateMemberRole(f.ctx, actor, ws, other.Subject, role.Member)
					return err
				}
				var wg sync.WaitGroup
				errs := make([]error, 2)
				wg.Go(func() { errs[0] = act(ann, bob) })
				wg.Go(func() { errs[1] = act(bob, ann) })
				wg.Wait()

				got := []apperr.Code{code(errs[0]), code(errs[1])}
				if !cmp.Equal(got, []apperr.Code{"", apperr.Forbidden}) && !cmp.Equal(got, []apperr.Code{apperr.Forbidden, ""}) {
					t.Errorf("%s round %d: errors %v, %v; want one success and one FORBIDDEN", verb, i, errs[0], errs[1])
				}
				admins := 0
				for _, r := range f.roles(ws) {
					if r == role.Admin {
						admins++
					}
				}
				if admins != 1 {
					t.Errorf("%s round %d: %d admins left, want 1 (%v)", verb, i, admins, f.roles(ws))
				}
				if n := len(f.eventsOf(ws)) - before; n != 1 {
					t.Errorf("%s round %d: %d events written, want 1", verb, i, n)
				}
			}
		}
	})
}

// TestAddMember shows how addMember finds a user: only by a verified
// address in its canonical form, NOT_FOUND otherwise (the same answer for
// unknown and unverified), CONFLICT when two verified users share it.
func TestAddMember(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, tdb testenv.DB) {
		f := newFixture(t, tdb)
		ann := f.user("ann", true)
		ws := f.workspace(ann, workspace.PlanFree)
		f.user("unverified", false)
		f.user("twin1", true, "twin@example.com")
		f.user("twin2", true, "twin@example.com")
		f.user("kate", true)
		f.user("cased", true, "Cased.User@Example.COM")

		for _, tc := range []struct {
			name    string
			address string
			want    apperr.Code
			userID  string // the user added, on success
		}{
			{"unknown-address-not-found", "nobody@example.com", apperr.NotFound, ""},
			{"unverified-address-not-found", "unverified@example.com", apperr.NotFound, ""},
			{"two-verified-users-conflict", "twin@example.com", apperr.Conflict, ""},
			{"kelvin-sign-look-alike-not-found", "\u212Aate@example.com", apperr.NotFound, ""},
			{"ascii-case-found", "KATE@EXAMPLE.COM", "", "kate"},
			{"canonical-form-found", "cased.user@example.com", "", "cased"},
			{"already-a-member-conflict", "kate@example.com", apperr.Conflict, ""},
			{"not-an-address-bad-input", "kate", apperr.BadUserInput, ""},
		} {
			m, err := f.svc.AddMember(f.ctx, ann, ws, tc.address, role.Member)
			if code(err) != tc.want {
				t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
				continue
			}
			if err == nil && (m.UserID != tc.userID || m.Role != role.Member || m.WorkspaceID != ws) {
				t.Errorf("%s: membership %+v, want user %s as MEMBER", tc.name, m, tc.userID)
			}
		}
		// Verification is what the user's latest token said.
		f.user("unverified", true)
		if _, err := f.svc.AddMember(f.ctx, ann, ws, "unverified@example.com", role.Member); err != nil {
			t.Errorf("verified-since: %v", err)
		}
		f.user("kate", false)
		if err := f.svc.RemoveMember(f.ctx, ann, ws, "kate"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.AddMember(f.ctx, ann, ws, "kate@example.com", role.Member); code(err) != apperr.NotFound {
			t.Errorf("unverified-since: %v, want NOT_FOUND", err)
		}
		wantEvents := []ev{
			{Action: audit.MemberAdded, Actor: "ann", Target: "ann", Role: role.Admin},
			{Action: audit.MemberAdded, Actor: "ann", Target: "kate", Role: role.Member},
			{Action: audit.MemberAdded, Actor: "ann", Target: "cased", Role: role.Member},
			{Action: audit.MemberAdded, Actor: "ann", Target: "unverified", Role: role.Member},
			{Action: audit.MemberRemoved, Actor: "ann", Target: "kate", PreviousRole: role.Member},
		}
		if diff := cmp.Diff(wantEvents, summarize(f.eventsOf(ws))); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})
}

// TestAddMemberThrottlesMisses shows that only lookups that find nobody
// count: any number of hits leave the allowance whole, each miss takes one,
// and past the allowance addMember is RATE_LIMITED with a retry-after, even
// for an address that would be found, until the clock gives an attempt back.
func TestAddMemberThrottlesMisses(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, tdb testenv.DB) {
		f := newFixture(t, tdb)
		const allowance = 3
		f.svc.SetInviteThrottle(newLimiter(allowance, f.clock))
		ann := f.user("ann", true)
		ws := f.workspace(ann, workspace.PlanFree)
		for i := range 6 {
			f.user(fmt.Sprint("hit", i), true)
		}
		for i := range 5 {
			if _, err := f.svc.AddMember(f.ctx, ann, ws, fmt.Sprintf("hit%d@example.com", i), role.Member); err != nil {
				t.Fatalf("hit %d: %v", i, err)
			}
		}
		for i := range allowance {
			if _, err := f.svc.AddMember(f.ctx, ann, ws, fmt.Sprintf("miss%d@example.com", i), role.Member); code(err) != apperr.NotFound {
				t.Fatalf("miss %d: %v, want NOT_FOUND", i, err)
			}
		}
		_, err := f.svc.AddMember(f.ctx, ann, ws, "hit5@example.com", role.Member)
		if !rateLimited(t, "past-the-allowance", err) {
			return
		}
		// Accepting invites has an allowance of its own.
		if _, err := f.svc.AcceptInvite(f.ctx, ann, "inv_nothing"); code(err) != apperr.NotFound {
			t.Errorf("acceptInvite after addMember's allowance is spent: %v, want NOT_FOUND", err)
		}
		e, _ := apperr.As(err)
		f.clock.Advance(e.RetryAfter)
		if _, err := f.svc.AddMember(f.ctx, ann, ws, "hit5@example.com", role.Member); err != nil {
			t.Errorf("after the retry-after: %v", err)
		}
	})
}

// rateLimited checks that err is RATE_LIMITED with a positive retry-after.
func rateLimited(t *testing.T, name string, err error) bool {
	t.Helper()
	e, ok := apperr.As(err)
	if !ok || e.Code != apperr.RateLimited || e.RetryAfter <= 0 {
		t.Errorf("%s: %v, want RATE_LIMITED with a retry-after", name, err)
		return false
	}
	return true
}

// TestWorkspaceCaps shows the two bounds on one user's workspaces: joining a
// 101st (by creating it, being added, or accepting an invite) is CONFLICT,
// and creating more than the per-day number in 24 hours is RATE_LIMITED
// until 24 hours on the clock have passed since the first.
func TestWorkspaceCaps(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, tdb testenv.DB) {
		f := newFixture(t, tdb)
		ann, full := f.user("ann", true), f.user("full", true)
		ws := f.workspace(ann, workspace.PlanFree)
		link, err := f.svc.CreateInvite(f.ctx, ann, workspace.CreateInviteInput{WorkspaceID: ws, Kind: workspace.InvitePublic})
		if err != nil {
			t.Fatal(err)
		}
		// full belongs to 100 workspaces already (inserted directly: the
		// bound is what is under test, not how they were joined).
		var wss []workspace.Workspace
		var ms []workspace.Membership
		for range workspace.MaxWorkspacesPerUser {
			now := f.clock.Now()
			w := workspace.Workspace{ID: ids.New(now), Name: "w", Plan: workspace.PlanFree, CreatedBy: "seed", CreatedAt: now, UpdatedAt: now}
			wss = append(wss, w)
			ms = append(ms, workspace.Membership{WorkspaceID: w.ID, UserID: full.Subject, Role: role.Member, JoinedAt: now})
		}
		bulk := f.db.Bulk()
		if err := bulk.InsertWorkspaces(f.ctx, wss); err != nil {
			t.Fatal(err)
		}
		if err := bulk.InsertMemberships(f.ctx, ms); err != nil {
			t.Fatal(err)
		}

		if _, err := f.svc.CreateWorkspace(f.ctx, full, "one more"); code(err) != apperr.Conflict {
			t.Errorf("create-101st-workspace: %v, want CONFLICT", err)
		}
		if _, err := f.svc.AddMember(f.ctx, ann, ws, full.Email, role.Member); code(err) != apperr.Conflict {
			t.Errorf("added-to-101st-workspace: %v, want CONFLICT", err)
		}
		if _, err := f.svc.AcceptInvite(f.ctx, full, link.Token); code(err) != apperr.Conflict {
			t.Errorf("accept-into-101st-workspace: %v, want CONFLICT", err)
		}
		if got := f.roles(ws)[full.Subject]; got != "" {
			t.Errorf("full became %s of ws", got)
		}
		if got := len(f.eventsOf(ws)); got != 2 {
			t.Errorf("%d events in ws, want 2 (created, link created)", got)
		}
	})
}

// TestWorkspaceCapAllowsTheHundredth shows the bound is exact: with 99
// workspaces a user may still join one.
func TestWorkspaceCapAllowsTheHundredth(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, tdb testenv.DB) {
		f := newFixture(t, tdb)
		ann, nearly := f.user("ann", true), f.user("nearly", true)
		ws := f.workspace(ann, workspace.PlanFree)
		var wss []workspace.Workspace
		var ms []workspace.Membership
		for range workspace.MaxWorkspacesPerUser - 1 {
			now := f.clock.Now()
			w := workspace.Workspace{ID: ids.New(now), Name: "w", Plan: workspace.PlanFree, CreatedBy: "seed", CreatedAt: now, UpdatedAt: now}
			wss = append(wss, w)
			ms = append(ms, workspace.Membership{WorkspaceID: w.ID, UserID: nearly.Subject, Role: role.Member, JoinedAt: now})
		}
		if err := f.db.Bulk().InsertWorkspaces(f.ctx, wss); err != nil {
			t.Fatal(err)
		}
		if err := f.db.Bulk().InsertMemberships(f.ctx, ms); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.AddMember(f.ctx, ann, ws, nearly.Email, role.Member); err != nil {
			t.Errorf("the 100th workspace: %v", err)
		}
		if _, err := f.svc.CreateWorkspace(f.ctx, nearly, "101st"); code(err) != apperr.Conflict {
			t.Errorf("then the 101st: %v, want CONFLICT", err)
		}
	})
}

// TestWorkspacesPerDay shows the per-day creation limit: past it RATE_LIMITED
// with a retry-after, still so one millisecond before 24 hours have passed
// since the earliest creation, and free again one millisecond after.
func TestWorkspacesPerDay(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, tdb testenv.DB) {
		const perDay = 3
		f := newFixture(t, tdb, func(o *workspace.Options) { o.WorkspacesPerUserPerDay = perDay })
		ann := f.user("ann", true)
		for i := range perDay {
			if _, err := f.svc.CreateWorkspace(f.ctx, ann, fmt.Sprint("w", i)); err != nil {
				t.Fatalf("creation %d: %v", i, err)
			}
			f.clock.Advance(time.Minute)
		}
		_, err := f.svc.CreateWorkspace(f.ctx, ann, "one too many")
		rateLimited(t, "past-the-daily-limit", err)

		// The first creation was at start; the window is the last 24 hours.
		f.clock.Advance(start.Add(24*time.Hour - time.Millisecond).Sub(f.clock.Now()))
		_, err = f.svc.CreateWorkspace(f.ctx, ann, "a millisecond early")
		rateLimited(t, "24h-minus-1ms", err)
		f.clock.Advance(2 * time.Millisecond)
		if _, err := f.svc.CreateWorkspace(f.ctx, ann, "a day later"); err != nil {
			t.Errorf("24h-plus-1ms: %v", err)
		}
		_, err = f.svc.CreateWorkspace(f.ctx, ann, "but only one")
		rateLimited(t, "the-second-still-counts", err)
		// Another user has an allowance of their own.
		if _, err := f.svc.CreateWorkspace(f.ctx, f.user("bob", true), "bob's"); err != nil {
			t.Errorf("another user: %v", err)
		}
	})
}

// TestWhoMayComesBeforeWhatIsAsked sends bad input from principals that may
// not do the operation at all: they are refused as such (FORBIDDEN, or
// UNAUTHENTICATED without a user), never told what was wrong with the input,
// and nothing is written.
func TestWhoMayComesBeforeWhatIsAsked(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, tdb testenv.DB) {
		f := newFixture(t, tdb)
		ann, mia, out := f.user("ann", true), f.user("mia", true), f.user("out", true)
		ws := f.workspace(ann, workspace.PlanBusiness)
		f.join(ann, ws, mia, role.Member)
		missing := ids.New(f.clock.Now())
		service := &auth.Principal{Subject: "svc", Scopes: []string{auth.ScopeBillingWrite}}
		before := len(f.eventsOf(ws))
		bad := "not-an-address"
		first := 0

		type call func(p *auth.Principal, ws string) error
		calls := []struct {
			name string
			call call
		}{
			{"addMember-bad-email", func(p *auth.Principal, ws string) error {
				_, err := f.svc.AddMember(f.ctx, p, ws, bad, role.Member)
				return err
			}},
			{"addMember-bad-role", func(p *auth.Principal, ws string) error {
				_, err := f.svc.AddMember(f.ctx, p, ws, "ann@example.com", "OWNER")
				return err
			}},
			{"updateMemberRole-bad-role", func(p *auth.Principal, ws string) error {
				_, err := f.svc.UpdateMemberRole(f.ctx, p, ws, "ann", "OWNER")
				return err
			}},
			{"updateMemberRole-unknown-user", func(p *auth.Principal, ws string) error {
				_, err := f.svc.UpdateMemberRole(f.ctx, p, ws, "nobody", role.Admin)
				return err
			}},
			{"removeMember-unknown-user", func(p *auth.Principal, ws string) error {
				return f.svc.RemoveMember(f.ctx, p, ws, "nobody")
			}},
			{"createInvite-bad-kind", func(p *auth.Principal, ws string) error {
				_, err := f.svc.CreateInvite(f.ctx, p, workspace.CreateInviteInput{WorkspaceID: ws, Kind: "SMOKE"})
				return err
			}},
			{"createInvite-public-admin", func(p *auth.Principal, ws string) error {
				_, err := f.svc.CreateInvite(f.ctx, p, workspace.CreateInviteInput{WorkspaceID: ws, Kind: workspace.InvitePublic, Role: role.Admin})
				return err
			}},
			{"createInvite-expired", func(p *auth.Principal, ws string) error {
				past := f.clock.Now().Add(-time.Hour)
				_, err := f.svc.CreateInvite(f.ctx, p, workspace.CreateInviteInput{WorkspaceID: ws, Kind: workspace.InvitePublic, ExpiresAt: &past})
				return err
			}},
			{"deleteInvite-bad-id", func(p *auth.Principal, ws string) error {
				return f.svc.DeleteInvite(f.ctx, p, ws, "not-an-id")
			}},
			{"auditLog-bad-page-size", func(p *auth.Principal, ws string) error {
				_, err := f.audit.List(f.ctx, p, ws, audit.Filter{}, audit.Desc, audit.PageRequest{First: &first})
				return err
			}},
			{"auditLog-bad-cursor", func(p *auth.Principal, ws string) error {
				c := "garbage"
				_, err := f.audit.List(f.ctx, p, ws, audit.Filter{}, audit.Desc, audit.PageRequest{After: &c})
				return err
			}},
			{"totalCount-bad-filter", func(p *auth.Principal, ws string) error {
				_, err := f.audit.Count(f.ctx, p, ws, audit.Filter{Actions: []audit.Action{"NOPE"}})
				return err
			}},
			{"exportAuditLog-bad-format", func(p *auth.Principal, ws string) error {
				_, err := f.exporter.Create(f.ctx, p, ws, "XLS", audit.Filter{})
				return err
			}},
		}
		for _, who := range []struct {
			name string
			p    *auth.Principal
			ws   string
			want apperr.Code
		}{
			{"member", mia, ws, apperr.Forbidden},
			{"non-member", out, ws, apperr.Forbidden},
			{"unknown-workspace", ann, missing, apperr.Forbidden},
			{"malformed-workspace-id", ann, "ws'--", apperr.Forbidden},
			{"service-token", service, ws, apperr.Unauthenticated},
			{"signed-out", nil, ws, apperr.Unauthenticated},
		} {
			for _, c := range calls {
				if err := c.call(who.p, who.ws); code(err) != who.want {
					t.Errorf("%s/%s: %v, want %s", who.name, c.name, err, who.want)
				}
			}
		}
		// The admin gets the input errors (the rule is about order, not
		// about hiding them from those who may ask).
		for _, c := range calls {
			if err := c.call(ann, ws); code(err) == apperr.Forbidden || err == nil {
				t.Errorf("admin/%s: %v, want the input's own error", c.name, err)
			}
		}
		if got := len(f.eventsOf(ws)); got != before {
			t.Errorf("%d events written by refused calls", got-before)
		}
		if !errors.Is(f.svc.RemoveMember(f.ctx, mia, ws, "ann"), apperr.ErrForbidden) {
			t.Errorf("a member removing an admin is not FORBIDDEN")
		}
	})
}

// TestWorkspaceCapUnderConcurrency has a user with 99 workspaces join four
// more at once, ten times over — accepting two PUBLIC links, being added by
// an admin, and creating one — each through a different workspace's lock:
// exactly one gets in, the others are CONFLICT, and the user never belongs
// to more than MaxWorkspacesPerUser.
func TestWorkspaceCapUnderConcurrency(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, tdb testenv.DB) {
		f := newFixture(t, tdb)
		ann := f.user("ann", true)
		for round := range 10 {
			u := f.user(fmt.Sprint("busy", round), true)
			var wss []workspace.Workspace
			var ms []workspace.Membership
			for range workspace.MaxWorkspacesPerUser - 1 {
				now := f.clock.Now()
				w := workspace.Workspace{ID: ids.New(now), Name: "w", Plan: workspace.PlanFree, CreatedBy: "seed", CreatedAt: now, UpdatedAt: now}
				wss = append(wss, w)
				ms = append(ms, workspace.Membership{WorkspaceID: w.ID, UserID: u.Subject, Role: role.Member, JoinedAt: now})
			}
			if err := f.db.Bulk().InsertWorkspaces(f.ctx, wss); err != nil {
				t.Fatal(err)
			}
			if err := f.db.Bulk().InsertMemberships(f.ctx, ms); err != nil {
				t.Fatal(err)
			}
			var links []string
			for range 2 {
				ws := f.workspace(ann, workspace.PlanFree)
				l, err := f.svc.CreateInvite(f.ctx, ann, workspace.CreateInviteInput{WorkspaceID: ws, Kind: workspace.InvitePublic})
				if err != nil {
					t.Fatal(err)
				}
				links = append(links, l.Token)
			}
			addTo := f.workspace(ann, workspace.PlanFree)
			joins := []func() error{
				func() error { _, err := f.svc.AcceptInvite(f.ctx, u, links[0]); return err },
				func() error { _, err := f.svc.AcceptInvite(f.ctx, u, links[1]); return err },
				func() error { _, err := f.svc.AddMember(f.ctx, ann, addTo, u.Email, role.Member); return err },
				func() error { _, err := f.svc.CreateWorkspace(f.ctx, u, "mine"); return err },
			}
			errs := make([]error, len(joins))
			var wg sync.WaitGroup
			for i, join := range joins {
				wg.Go(func() { errs[i] = join() })
			}
			wg.Wait()
			ok := 0
			for _, err := range errs {
				switch code(err) {
				case "":
					ok++
				case apperr.Conflict:
				default:
					t.Errorf("round %d: %v", round, err)
				}
			}
			n, err := f.db.Workspaces().CountMemberships(f.ctx, u.Subject)
			if err != nil {
				t.Fatal(err)
			}
			if ok != 1 || n != workspace.MaxWorkspacesPerUser {
				t.Errorf("round %d: %d joins succeeded, the user belongs to %d workspaces; want 1 and %d (errors %v)",
					round, ok, n, workspace.MaxWorkspacesPerUser, errs)
			}
		}
	})
}

// TestWorkspacesPerDayUnderConcurrency has one user create eight workspaces
// at once with a limit of three a day: exactly three are created.
func TestWorkspacesPerDayUnderConcurrency(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, tdb testenv.DB) {
		const perDay = 3
		f := newFixture(t, tdb, func(o *workspace.Options) { o.WorkspacesPerUserPerDay = perDay })
		ann := f.user("ann", true)
		errs := make([]error, 8)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() { _, errs[i] = f.svc.CreateWorkspace(f.ctx, ann, fmt.Sprint("w", i)) })
		}
		wg.Wait()
		codes := map[apperr.Code]int{}
		for _, err := range errs {
			codes[code(err)]++
		}
		if diff := cmp.Diff(map[apperr.Code]int{"": perDay, apperr.RateLimited: len(errs) - perDay}, codes); diff != "" {
			t.Errorf("outcomes (-want +got):\n%s", diff)
		}
	})
}

// TestNoReachIntoAnotherWorkspace shows that an admin's power ends at their
// workspace: another workspace's members and invites, named through one's
// own workspace, are NOT_FOUND, and named through theirs, FORBIDDEN; nothing
// changes there.
func TestNoReachIntoAnotherWorkspace(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, tdb testenv.DB) {
		f := newFixture(t, tdb)
		ann, bob, cat := f.user("ann", true), f.user("bob", true), f.user("cat", true)
		mine := f.workspace(ann, workspace.PlanBusiness)
		theirs := f.workspace(bob, workspace.PlanBusiness)
		f.join(bob, theirs, cat, role.Member)
		inv, err := f.svc.CreateInvite(f.ctx, bob, workspace.CreateInviteInput{WorkspaceID: theirs, Kind: workspace.InvitePublic})
		if err != nil {
			t.Fatal(err)
		}
		before := len(f.eventsOf(theirs))
		for _, tc := range []struct {
			name string
			ws   string
			want apperr.Code
		}{
			{"through-my-workspace", mine, apperr.NotFound},
			{"through-theirs", theirs, apperr.Forbidden},
		} {
			if err := f.svc.DeleteInvite(f.ctx, ann, tc.ws, inv.Invite.ID); code(err) != tc.want {
				t.Errorf("%s: deleteInviteLink: %v, want %s", tc.name, err, tc.want)
			}
			if err := f.svc.RemoveMember(f.ctx, ann, tc.ws, cat.Subject); code(err) != tc.want {
				t.Errorf("%s: removeMember: %v, want %s", tc.name, err, tc.want)
			}
			if _, err := f.svc.UpdateMemberRole(f.ctx, ann, tc.ws, cat.Subject, role.Admin); code(err) != tc.want {
				t.Errorf("%s: updateMemberRole: %v, want %s", tc.name, err, tc.want)
			}
		}
		if _, err := f.svc.InviteLinks(f.ctx, ann, theirs); code(err) != apperr.Forbidden {
			t.Errorf("their invite links: %v, want FORBIDDEN", err)
		}
		if _, err := f.svc.Members(f.ctx, ann, theirs); code(err) != apperr.Forbidden {
			t.Errorf("their members: %v, want FORBIDDEN", err)
		}
		if w, err := f.svc.Workspace(f.ctx, ann, theirs); w != nil || err != nil {
			t.Errorf("their workspace: %v, %v; want nothing", w, err)
		}
		if got := len(f.eventsOf(theirs)); got != before {
			t.Errorf("%d events written in their workspace", got-before)
		}
		if diff := cmp.Diff(map[string]role.Role{"bob": role.Admin, "cat": role.Member}, f.roles(theirs)); diff != "" {
			t.Errorf("their roles (-want +got):\n%s", diff)
		}
		if _, ok := f.invite(bob, theirs, inv.Invite.ID); !ok {
			t.Errorf("their invite is gone")
		}
	})
}
