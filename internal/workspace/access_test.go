package workspace_test

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/auditlogd/auditlogd/internal/apperr"
	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/auth"
	"github.com/auditlogd/auditlogd/internal/ids"
	"github.com/auditlogd/auditlogd/internal/role"
	"github.com/auditlogd/auditlogd/internal/testenv"
	"github.com/auditlogd/auditlogd/internal/workspace"
)

// reads returns the GetAccess calls since the last call of reads.
func (f *fixture) reads() int64 { return f.accessReads.Swap(0) }

// TestRequestScopeReadsAccessOnce shows the request's memory of access rows:
// 50 concurrent questions about one workspace read its row once (without a
// scope, 50 times); a list of the user's workspaces answers later questions
// with no read at all; a mutation makes the request read the row again and
// see the change; and an id that cannot exist is answered without a read.
func TestRequestScopeReadsAccessOnce(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, tdb testenv.DB) {
		f := newFixture(t, tdb)
		ann, mia := f.user("ann", true), f.user("mia", true)
		ws := f.workspace(ann, workspace.PlanBusiness)
		f.join(ann, ws, mia, role.Member)
		member := role.Member
		wantMia := workspace.Access{Exists: true, Plan: workspace.PlanBusiness, Role: &member}

		ask50 := func(ctx context.Context) []workspace.Access {
			got := make([]workspace.Access, 50)
			var wg sync.WaitGroup
			for i := range got {
				wg.Go(func() {
					acc, err := f.svc.Access(ctx, mia, ws)
					if err != nil {
						t.Errorf("Access: %v", err)
					}
					got[i] = acc
				})
			}
			wg.Wait()
			return got
		}
		f.reads()
		ctx := f.svc.WithRequestScope(context.Background())
		for i, acc := range ask50(ctx) {
			if diff := cmp.Diff(wantMia, acc); diff != "" {
				t.Fatalf("answer %d (-want +got):\n%s", i, diff)
			}
		}
		if n := f.reads(); n != 1 {
			t.Errorf("50 concurrent questions in one request: %d reads, want 1", n)
		}
		ask50(context.Background())
		if n := f.reads(); n != 50 {
			t.Errorf("50 questions without a request scope: %d reads, want 50", n)
		}

		// Another user in the same request has a row of their own.
		if acc, err := f.svc.Access(ctx, ann, ws); err != nil || !acc.IsAdmin() {
			t.Errorf("ann: %+v, %v", acc, err)
		}
		if n := f.reads(); n != 1 {
			t.Errorf("another user's row: %d reads, want 1", n)
		}

		// A mutation in the request makes it read the row again.
		if _, err := f.svc.UpdateMemberRole(ctx, ann, ws, mia.Subject, role.Admin); err != nil {
			t.Fatal(err)
		}
		f.reads()
		if acc, err := f.svc.Access(ctx, mia, ws); err != nil || !acc.IsAdmin() {
			t.Errorf("after the promotion in this request: %+v, %v; want ADMIN", acc, err)
		}
		if n := f.reads(); n != 1 {
			t.Errorf("after a mutation: %d reads, want 1", n)
		}

		// The list of the user's workspaces primes the request.
		ctx = f.svc.WithRequestScope(context.Background())
		if _, err := f.svc.WorkspacesOf(ctx, mia); err != nil {
			t.Fatal(err)
		}
		if r, err := f.svc.ViewerRole(ctx, mia, ws); err != nil || r != role.Admin {
			t.Errorf("ViewerRole: %q, %v", r, err)
		}
		if _, err := f.svc.Members(ctx, mia, ws); err != nil {
			t.Errorf("Members: %v", err)
		}
		if _, err := f.svc.InviteLinks(ctx, mia, ws); err != nil {
			t.Errorf("InviteLinks: %v", err)
		}
		if n := f.reads(); n != 0 {
			t.Errorf("after WorkspacesOf: %d reads, want 0", n)
		}

		// An id that cannot exist costs no query.
		if acc, err := f.svc.Access(ctx, mia, "x'; DROP TABLE workspaces; --"); err != nil || acc.Exists {
			t.Errorf("malformed id: %+v, %v", acc, err)
		}
		if n := f.reads(); n != 0 {
			t.Errorf("malformed id: %d reads, want 0", n)
		}
	})
}

// TestEarlyRefusalNeverAllows shows what the directives may refuse before a
// guarded field runs: no principal, an id that cannot exist, and a
// principal the request already knows to have no place in the workspace.
// Anything else is let through (nil) for the service to decide — even a
// stranger, while the request knows nothing of them.
func TestEarlyRefusalNeverAllows(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, tdb testenv.DB) {
		f := newFixture(t, tdb)
		ann, mia, out := f.user("ann", true), f.user("mia", true), f.user("out", true)
		ws := f.workspace(ann, workspace.PlanBusiness)
		f.join(ann, ws, mia, role.Member)
		ctx := f.svc.WithRequestScope(context.Background())
		f.reads()
		for _, tc := range []struct {
			name string
			p    *auth.Principal
			ws   string
			want apperr.Code
		}{
			{"signed-out", nil, ws, apperr.Unauthenticated},
			{"service-token", &auth.Principal{Subject: "svc"}, ws, apperr.Unauthenticated},
			{"malformed-id", ann, "nope", apperr.Forbidden},
			{"stranger-not-yet-known", out, ws, ""},
			{"admin-not-yet-known", ann, ws, ""},
		} {
			if err := f.svc.EarlyRefusal(ctx, tc.p, tc.ws); code(err) != tc.want {
				t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
			}
		}
		if n := f.reads(); n != 0 {
			t.Errorf("EarlyRefusal read %d rows, want none", n)
		}
		if _, err := f.svc.Access(ctx, out, ws); err != nil {
			t.Fatal(err)
		}
		for _, p := range []*auth.Principal{ann, mia} {
			if _, err := f.svc.Access(ctx, p, ws); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.svc.EarlyRefusal(ctx, out, ws); code(err) != apperr.Forbidden {
			t.Errorf("known stranger: %v, want FORBIDDEN", err)
		}
		// A member may be refused by the field (an admin-only one), but
		// that is the service's decision, not the early refusal's.
		for _, p := range []*auth.Principal{ann, mia} {
			if err := f.svc.EarlyRefusal(ctx, p, ws); err != nil {
				t.Errorf("known %s: %v, want nil (the service decides)", p.Subject, err)
			}
		}
	})
}

// TestFailedAccessReadIsNotRemembered shows that a request does not keep a
// failed read: the next question reads again.
func TestFailedAccessReadIsNotRemembered(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, tdb testenv.DB) {
		f := newFixture(t, tdb)
		ann := f.user("ann", true)
		ws := f.workspace(ann, workspace.PlanFree)
		ctx := f.svc.WithRequestScope(context.Background())
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := f.svc.Access(cancelled, ann, ws); err == nil {
			t.Fatal("a read with a cancelled context succeeded")
		}
		f.reads()
		if acc, err := f.svc.Access(ctx, ann, ws); err != nil || !acc.IsAdmin() {
			t.Errorf("after a failed read: %+v, %v", acc, err)
		}
		if n := f.reads(); n != 1 {
			t.Errorf("%d reads after a failed one, want 1", n)
		}
	})
}

// TestAuditGate shows that the audit read side asks the workspace service
// before it answers: pages, counts and exports are for admins of BUSINESS
// workspaces, everyone else gets the code that says why and no events.
func TestAuditGate(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, tdb testenv.DB) {
		f := newFixture(t, tdb)
		ann, mia, out := f.user("ann", true), f.user("mia", true), f.user("out", true)
		biz := f.workspace(ann, workspace.PlanBusiness)
		f.join(ann, biz, mia, role.Member)
		free := f.workspace(ann, workspace.PlanFree)
		f.join(ann, free, mia, role.Member)
		teams := f.workspace(ann, workspace.PlanTeams)
		for _, tc := range []struct {
			name string
			p    *auth.Principal
			ws   string
			want apperr.Code
		}{
			{"admin-of-business", ann, biz, ""},
			{"member-of-business", mia, biz, apperr.Forbidden},
			{"stranger", out, biz, apperr.Forbidden},
			{"admin-of-free", ann, free, apperr.BusinessPlanRequired},
			{"admin-of-teams", ann, teams, apperr.BusinessPlanRequired},
			{"member-of-free-not-told-the-plan", mia, free, apperr.Forbidden},
			{"unknown-workspace", ann, ids.New(f.clock.Now()), apperr.Forbidden},
			{"malformed-workspace-id", ann, "biz", apperr.Forbidden},
			{"service-token", &auth.Principal{Subject: "svc", Scopes: []string{auth.ScopeBillingWrite}}, biz, apperr.Unauthenticated},
			{"signed-out", nil, biz, apperr.Unauthenticated},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ctx := f.svc.WithRequestScope(context.Background())
				page, err := f.audit.List(ctx, tc.p, tc.ws, audit.Filter{}, audit.Desc, audit.PageRequest{})
				if code(err) != tc.want {
					t.Errorf("List: %v, want %q", err, tc.want)
				}
				if tc.want != "" && page != nil {
					t.Errorf("List refused but returned %d events", len(page.Events))
				}
				if tc.want == "" && (page == nil || len(page.Events) != len(f.eventsOf(biz))) {
					t.Errorf("List: %+v, want every event of the workspace", page)
				}
				n, err := f.audit.Count(ctx, tc.p, tc.ws, audit.Filter{})
				if code(err) != tc.want || (tc.want != "" && n != 0) {
					t.Errorf("Count: %d, %v; want %q", n, err, tc.want)
				}
				// Exports are checked in a request of their own, so that the
				// refusal does not come from the remembered row.
				_, err = f.exporter.Create(f.svc.WithRequestScope(context.Background()), tc.p, tc.ws, audit.CSV, audit.Filter{})
				if code(err) != tc.want {
					t.Errorf("Exporter.Create: %v, want %q", err, tc.want)
				}
			})
		}
	})
}

// TestAuditPageIsOneRoundTrip shows the cost of the check: a request's first
// page reads the access row in the same statement as the page (one store
// call, no access query), and later pages, counts and exports in the same
// request decide from the remembered row — a refused principal's second try
// does not reach the store at all. After a mutation in the request, the row
// is read again.
func TestAuditPageIsOneRoundTrip(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, tdb testenv.DB) {
		f := newFixture(t, tdb)
		ann, mia := f.user("ann", true), f.user("mia", true)
		ws := f.workspace(ann, workspace.PlanBusiness)
		f.join(ann, ws, mia, role.Member)
		type calls struct{ Lists, WithAccess, AccessReads int64 }
		took := func() calls {
			return calls{f.events.lists.Swap(0), f.events.withAccess.Swap(0), f.reads()}
		}
		took()
		list := func(ctx context.Context, p *auth.Principal, pr audit.PageRequest) (*audit.Page, error) {
			return f.audit.List(ctx, p, ws, audit.Filter{}, audit.Desc, pr)
		}

		ctx := f.svc.WithRequestScope(context.Background())
		two := 2
		page, err := list(ctx, ann, audit.PageRequest{First: &two})
		if err != nil || len(page.Events) != 2 || !page.HasNextPage {
			t.Fatalf("first page: %+v, %v", page, err)
		}
		if diff := cmp.Diff(calls{Lists: 1, WithAccess: 1}, took()); diff != "" {
			t.Errorf("first page (-want +got):\n%s", diff)
		}
		after := f.audit.Cursor(page.Events[1])
		if _, err := list(ctx, ann, audit.PageRequest{First: &two, After: &after}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.audit.Count(ctx, ann, ws, audit.Filter{}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.exporter.Create(ctx, ann, ws, audit.JSON, audit.Filter{}); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(calls{Lists: 1}, took()); diff != "" {
			t.Errorf("second page, count and export in the same request (-want +got):\n%s", diff)
		}

		// A refused member: one round trip, then none.
		for i := range 2 {
			if _, err := list(ctx, mia, audit.PageRequest{}); code(err) != apperr.Forbidden {
				t.Errorf("member, try %d: %v", i, err)
			}
		}
		if diff := cmp.Diff(calls{Lists: 1, WithAccess: 1}, took()); diff != "" {
			t.Errorf("refused member twice (-want +got):\n%s", diff)
		}

		// ann hands the workspace to mia and steps down, in this request:
		// the next page reads the row again and is refused.
		if _, err := f.svc.UpdateMemberRole(ctx, ann, ws, mia.Subject, role.Admin); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.UpdateMemberRole(ctx, mia, ws, ann.Subject, role.Member); err != nil {
			t.Fatal(err)
		}
		took()
		if _, err := list(ctx, ann, audit.PageRequest{}); code(err) != apperr.Forbidden {
			t.Errorf("after stepping down: %v, want FORBIDDEN", err)
		}
		if _, err := list(ctx, mia, audit.PageRequest{}); err != nil {
			t.Errorf("the new admin: %v", err)
		}
		if diff := cmp.Diff(calls{Lists: 2, WithAccess: 2}, took()); diff != "" {
			t.Errorf("after the mutation (-want +got):\n%s", diff)
		}
	})
}

// TestDownloadRechecksAccess shows that an export's file is served only while
// its requester is still an admin and the workspace still on BUSINESS.
func TestDownloadRechecksAccess(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, tdb testenv.DB) {
		f := newFixture(t, tdb)
		ann, mia := f.user("ann", true), f.user("mia", true)
		ws := f.workspace(ann, workspace.PlanBusiness)
		f.join(ann, ws, mia, role.Admin)
		created, err := f.exporter.Create(f.ctx, ann, ws, audit.CSV, audit.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(created.URL)
		if err != nil {
			t.Fatal(err)
		}
		open := func() error {
			_, err := f.exporter.Open(f.ctx, strings.TrimPrefix(u.Path, "/exports/"), u.Query().Get("expires"), u.Query().Get("signature"))
			return err
		}
		if err := open(); err != nil {
			t.Fatalf("admin's download: %v", err)
		}
		if _, err := f.svc.SetPlan(f.ctx, f.billing, ws, workspace.PlanTeams); err != nil {
			t.Fatal(err)
		}
		if err := open(); code(err) != apperr.Forbidden {
			t.Errorf("workspace no longer BUSINESS: %v, want FORBIDDEN", err)
		}
		if _, err := f.svc.SetPlan(f.ctx, f.billing, ws, workspace.PlanBusiness); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.UpdateMemberRole(f.ctx, mia, ws, ann.Subject, role.Member); err != nil {
			t.Fatal(err)
		}
		if err := open(); code(err) != apperr.Forbidden {
			t.Errorf("requester no longer an admin: %v, want FORBIDDEN", err)
		}
	})
}

// TestRequestScopeSeesItsOwnChanges shows that the lists a request
// remembers (members, invite links) are read again after a mutation in the
// same request, as a response that mutates and then reads expects.
func TestRequestScopeSeesItsOwnChanges(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, tdb testenv.DB) {
		f := newFixture(t, tdb)
		ann, bob := f.user("ann", true), f.user("bob", true)
		ws := f.workspace(ann, workspace.PlanFree)
		ctx := f.svc.WithRequestScope(context.Background())
		members := func() []string {
			ms, err := f.svc.Members(ctx, ann, ws)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, m := range ms {
				out = append(out, m.UserID+":"+string(m.Role))
			}
			return out
		}
		invites := func() int {
			invs, err := f.svc.InviteLinks(ctx, ann, ws)
			if err != nil {
				t.Fatal(err)
			}
			return len(invs)
		}
		if diff := cmp.Diff([]string{"ann:ADMIN"}, members()); diff != "" {
			t.Errorf("before (-want +got):\n%s", diff)
		}
		if n := invites(); n != 0 {
			t.Errorf("%d invites before", n)
		}
		if _, err := f.svc.AddMember(ctx, ann, ws, bob.Email, role.Member); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.CreateInvite(ctx, ann, workspace.CreateInviteInput{WorkspaceID: ws, Kind: workspace.InvitePublic}); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"ann:ADMIN", "bob:MEMBER"}, members()); diff != "" {
			t.Errorf("after addMember in the request (-want +got):\n%s", diff)
		}
		if n := invites(); n != 1 {
			t.Errorf("%d invites after createInviteLink in the request, want 1", n)
		}
		if _, err := f.svc.UpdateMemberRole(ctx, ann, ws, bob.Subject, role.Admin); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"ann:ADMIN", "bob:ADMIN"}, members()); diff != "" {
			t.Errorf("after updateMemberRole in the request (-want +got):\n%s", diff)
		}

		// A user who accepts an invite is a member for the rest of the
		// request, though it asked about the workspace before.
		cat := f.user("cat", true)
		link, err := f.svc.CreateInvite(f.ctx, ann, workspace.CreateInviteInput{WorkspaceID: ws, Kind: workspace.InvitePublic})
		if err != nil {
			t.Fatal(err)
		}
		ctx = f.svc.WithRequestScope(context.Background())
		if w, _ := f.svc.Workspace(ctx, cat, ws); w != nil {
			t.Fatalf("cat sees the workspace before joining")
		}
		if _, err := f.svc.AcceptInvite(ctx, cat, link.Token); err != nil {
			t.Fatal(err)
		}
		if r, err := f.svc.ViewerRole(ctx, cat, ws); err != nil || r != role.Member {
			t.Errorf("after acceptInvite in the request: %q, %v; want MEMBER", r, err)
		}
	})
}
