package e2e

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/auditlogd/auditlogd/internal/testenv"
)

// This file checks that workspaces are tenants: an admin of one workspace
// can neither read nor change another, not even by passing the other's ids
// through their own workspace, and roles are read fresh on every request.

// aTenants are two BUSINESS workspaces with separate people.
type aTenants struct {
	s              *server
	adminA, adminB user
	onlyB          user // a MEMBER of B only
	both           user // a MEMBER of A and B
	a, b           string
	inviteA        aInvite
	inviteB        aInvite
}

func aNewTenants(t *testing.T, s *server) *aTenants {
	t.Helper()
	x := &aTenants{s: s, adminA: s.newUser(t, "adminA"), adminB: s.newUser(t, "adminB"), onlyB: s.newUser(t, "onlyB"), both: s.newUser(t, "both")}
	x.a = s.newWorkspace(t, x.adminA, "BUSINESS")
	x.b = s.newWorkspace(t, x.adminB, "BUSINESS")
	s.addMember(t, x.adminB, x.b, x.onlyB, "MEMBER")
	s.addMember(t, x.adminA, x.a, x.both, "MEMBER")
	s.addMember(t, x.adminB, x.b, x.both, "MEMBER")
	x.inviteA, _ = aCreateInvite(t, s, x.adminA.token, x.a, "PUBLIC", "", "")
	x.inviteB, _ = aCreateInvite(t, s, x.adminB.token, x.b, "PUBLIC", "", "")
	return x
}

func TestTenancyAdminOfAGetsNothingOfB(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		query string
		vars  func(t *testing.T, x *aTenants) map[string]any
		code  string
	}{
		{name: "read-b-log-forbidden", query: auditLogQuery, code: "FORBIDDEN",
			vars: func(_ *testing.T, x *aTenants) map[string]any { return map[string]any{"w": x.b} }},
		{name: "create-invite-in-b-forbidden", query: aCreateInviteQuery, code: "FORBIDDEN",
			vars: func(_ *testing.T, x *aTenants) map[string]any { return aInviteVars(x.b, "PUBLIC", "", "ADMIN", "") }},
		{name: "delete-b-invite-forbidden", query: aDeleteInviteQuery, code: "FORBIDDEN",
			vars: func(_ *testing.T, x *aTenants) map[string]any { return map[string]any{"w": x.b, "id": x.inviteB.ID} }},
		{name: "add-self-to-b-forbidden", query: aAddQuery, code: "FORBIDDEN",
			vars: func(_ *testing.T, x *aTenants) map[string]any {
				return map[string]any{"w": x.b, "e": x.adminA.email, "r": "ADMIN"}
			}},
		{name: "remove-b-member-forbidden", query: aRemoveQuery, code: "FORBIDDEN",
			vars: func(_ *testing.T, x *aTenants) map[string]any { return map[string]any{"w": x.b, "u": x.onlyB.id} }},
		{name: "remove-b-admin-forbidden", query: aRemoveQuery, code: "FORBIDDEN",
			vars: func(_ *testing.T, x *aTenants) map[string]any { return map[string]any{"w": x.b, "u": x.adminB.id} }},
		{name: "rerole-b-member-forbidden", query: aRoleQuery, code: "FORBIDDEN",
			vars: func(_ *testing.T, x *aTenants) map[string]any {
				return map[string]any{"w": x.b, "u": x.onlyB.id, "r": "ADMIN"}
			}},
		{name: "demote-b-admin-forbidden", query: aRoleQuery, code: "FORBIDDEN",
			vars: func(_ *testing.T, x *aTenants) map[string]any {
				return map[string]any{"w": x.b, "u": x.adminB.id, "r": "MEMBER"}
			}},
		{name: "rerole-shared-member-in-b-forbidden", query: aRoleQuery, code: "FORBIDDEN",
			vars: func(_ *testing.T, x *aTenants) map[string]any {
				return map[string]any{"w": x.b, "u": x.both.id, "r": "ADMIN"}
			}},
		// B's ids passed through A: they do not exist there.
		{name: "delete-b-invite-through-a-not-found", query: aDeleteInviteQuery, code: "NOT_FOUND",
			vars: func(_ *testing.T, x *aTenants) map[string]any { return map[string]any{"w": x.a, "id": x.inviteB.ID} }},
		{name: "remove-b-only-member-through-a-not-found", query: aRemoveQuery, code: "NOT_FOUND",
			vars: func(_ *testing.T, x *aTenants) map[string]any { return map[string]any{"w": x.a, "u": x.onlyB.id} }},
		{name: "remove-b-admin-through-a-not-found", query: aRemoveQuery, code: "NOT_FOUND",
			vars: func(_ *testing.T, x *aTenants) map[string]any { return map[string]any{"w": x.a, "u": x.adminB.id} }},
		{name: "rerole-b-only-member-through-a-not-found", query: aRoleQuery, code: "NOT_FOUND",
			vars: func(_ *testing.T, x *aTenants) map[string]any {
				return map[string]any{"w": x.a, "u": x.onlyB.id, "r": "ADMIN"}
			}},
		{name: "demote-b-admin-through-a-not-found", query: aRoleQuery, code: "NOT_FOUND",
			vars: func(_ *testing.T, x *aTenants) map[string]any {
				return map[string]any{"w": x.a, "u": x.adminB.id, "r": "MEMBER"}
			}},
		{name: "b-cursor-on-a-log-bad-input", query: auditLogQuery, code: "BAD_USER_INPUT",
			vars: func(t *testing.T, x *aTenants) map[string]any {
				c := x.s.auditLog(t, x.adminB.token, x.b, map[string]any{"first": 1})
				return map[string]any{"w": x.a, "after": c.Edges[0].Cursor}
			}},
	}
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, nil)
		x := aNewTenants(t, s)
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				v := tc.vars(t, x)
				before := aSnapshot(t, s)
				r := s.fails(t, x.adminA.token, tc.query, v, tc.code)
				aCheckCodes(t, r)
				if diff := cmp.Diff(before, aSnapshot(t, s)); diff != "" {
					t.Errorf("the refused request changed the database (-before +after):\n%s", diff)
				}
			})
		}
		// B is whole: its members, its invite (still usable) and its log.
		want := map[string]string{x.adminB.id: "ADMIN", x.onlyB.id: "MEMBER", x.both.id: "MEMBER"}
		if diff := cmp.Diff(want, aMembers(t, s, x.adminB.token, x.b)); diff != "" {
			t.Errorf("members of B (-want +got):\n%s", diff)
		}
		for _, e := range s.allEvents(t, x.adminB.token, x.b, nil) {
			if e.Actor.ID == x.adminA.id {
				t.Errorf("B's log has an event by A's admin: %+v", aFlat(e))
			}
		}
		joiner := s.newUser(t, "joiner")
		s.ok(t, joiner.token, aAcceptQuery, map[string]any{"t": x.inviteB.Token})
	})
}

func TestTenancyVisibility(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, nil)
		x := aNewTenants(t, s)
		nobody := s.newUser(t, "nobody")

		t.Run("workspace-of-non-member-is-null", func(t *testing.T) {
			for _, c := range []struct {
				who user
				ws  string
			}{{x.adminA, x.b}, {x.onlyB, x.a}, {nobody, x.a}, {nobody, x.b}} {
				r := s.post(t, c.who.token, `query($w: ID!) { workspace(id: $w) { id name members { user { id } } auditLog { edges { cursor } } } }`, map[string]any{"w": c.ws})
				if len(r.Errors) > 0 || string(r.Data) != `{"workspace":null}` {
					t.Errorf("%s reading workspace %s: got %s, want data.workspace null without errors", c.who.id, c.ws, r.Raw)
				}
			}
		})
		t.Run("workspace-of-member-is-visible", func(t *testing.T) {
			var out struct {
				Workspace *struct{ ID, ViewerRole string }
			}
			s.ok(t, x.onlyB.token, `query($w: ID!) { workspace(id: $w) { id viewerRole } }`, map[string]any{"w": x.b}, &out)
			if out.Workspace == nil || out.Workspace.ID != x.b || out.Workspace.ViewerRole != "MEMBER" {
				t.Errorf("a member of B sees %+v", out.Workspace)
			}
		})
		t.Run("workspaces-lists-only-the-viewers", func(t *testing.T) {
			for _, c := range []struct {
				who  user
				want []string
			}{{x.adminA, []string{x.a}}, {x.adminB, []string{x.b}}, {x.onlyB, []string{x.b}}, {x.both, []string{x.a, x.b}}, {nobody, []string{}}} {
				var out struct{ Workspaces []struct{ ID string } }
				s.ok(t, c.who.token, `{ workspaces { id } }`, nil, &out)
				got := []string{}
				for _, w := range out.Workspaces {
					got = append(got, w.ID)
				}
				slices.Sort(got)
				want := slices.Sorted(slices.Values(c.want))
				if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("workspaces of %s (-want +got):\n%s", c.who.id, diff)
				}
			}
		})
		t.Run("members-of-b-not-listed-through-a", func(t *testing.T) {
			got := aMembers(t, s, x.adminA.token, x.a)
			want := map[string]string{x.adminA.id: "ADMIN", x.both.id: "MEMBER"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("members of A (-want +got):\n%s", diff)
			}
		})
		t.Run("invite-links-of-a-only", func(t *testing.T) {
			got := aInviteLinks(t, s, x.adminA.token, x.a)
			if diff := cmp.Diff(map[string]int{x.inviteA.ID: 0}, got); diff != "" {
				t.Errorf("invite links of A (-want +got):\n%s", diff)
			}
		})
		t.Run("a-log-holds-only-a-events", func(t *testing.T) {
			for _, e := range s.allEvents(t, x.adminA.token, x.a, nil) {
				if e.Actor.ID == x.adminB.id || (e.Target != nil && (e.Target.ID == x.onlyB.id || e.Target.ID == x.inviteB.ID)) {
					t.Errorf("A's log shows an event of B: %+v", aFlat(e))
				}
			}
		})
	})
}

func TestTenancyRolesAreReadOnEveryRequest(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, nil)
		owner := s.newUser(t, "owner")
		ws := s.newWorkspace(t, owner, "BUSINESS")
		outsider := s.newUser(t, "outsider")

		t.Run("removed-admin-refused-at-once", func(t *testing.T) {
			gone := s.newUser(t, "gone")
			s.addMember(t, owner, ws, gone, "ADMIN")
			// gone may act as an admin, with the token it keeps using.
			aCreateInvite(t, s, gone.token, ws, "PUBLIC", "", "")
			s.ok(t, owner.token, aRemoveQuery, map[string]any{"w": ws, "u": gone.id})

			s.fails(t, gone.token, aCreateInviteQuery, aInviteVars(ws, "PUBLIC", "", "", ""), "FORBIDDEN")
			s.fails(t, gone.token, aAddQuery, map[string]any{"w": ws, "e": outsider.email}, "FORBIDDEN")
			s.fails(t, gone.token, aRemoveQuery, map[string]any{"w": ws, "u": owner.id}, "FORBIDDEN")
			s.fails(t, gone.token, auditLogQuery, map[string]any{"w": ws}, "FORBIDDEN")
			var out struct{ Workspace *struct{ ID string } }
			s.ok(t, gone.token, `query($w: ID!) { workspace(id: $w) { id } }`, map[string]any{"w": ws}, &out)
			if out.Workspace != nil {
				t.Error("a removed member still sees the workspace")
			}
			var list struct{ Workspaces []struct{ ID string } }
			s.ok(t, gone.token, `{ workspaces { id } }`, nil, &list)
			if len(list.Workspaces) != 0 {
				t.Errorf("a removed member still lists %v", list.Workspaces)
			}
		})
		t.Run("demoted-admin-refused-at-once", func(t *testing.T) {
			demoted := s.newUser(t, "demoted")
			s.addMember(t, owner, ws, demoted, "ADMIN")
			s.auditLog(t, demoted.token, ws, nil)
			s.ok(t, owner.token, aRoleQuery, map[string]any{"w": ws, "u": demoted.id, "r": "MEMBER"})

			s.fails(t, demoted.token, auditLogQuery, map[string]any{"w": ws}, "FORBIDDEN")
			s.fails(t, demoted.token, aAddQuery, map[string]any{"w": ws, "e": outsider.email}, "FORBIDDEN")
			s.fails(t, demoted.token, aRoleQuery, map[string]any{"w": ws, "u": demoted.id, "r": "ADMIN"}, "FORBIDDEN")
			r := s.post(t, demoted.token, aInviteLinksQ, map[string]any{"w": ws})
			var raw map[string]map[string]json.RawMessage
			_ = json.Unmarshal(r.Data, &raw)
			if r.code() != "FORBIDDEN" || string(raw["workspace"]["inviteLinks"]) != "null" || string(raw["workspace"]["viewerRole"]) != `"MEMBER"` {
				t.Errorf("a demoted admin reading inviteLinks: %s", r.Raw)
			}
		})
		t.Run("promoted-member-allowed-at-once", func(t *testing.T) {
			promoted := s.newUser(t, "promoted")
			s.addMember(t, owner, ws, promoted, "MEMBER")
			s.fails(t, promoted.token, auditLogQuery, map[string]any{"w": ws}, "FORBIDDEN")
			s.ok(t, owner.token, aRoleQuery, map[string]any{"w": ws, "u": promoted.id, "r": "ADMIN"})
			s.auditLog(t, promoted.token, ws, nil)
		})
		t.Run("downgraded-plan-refused-at-once", func(t *testing.T) {
			s.auditLog(t, owner.token, ws, nil)
			s.ok(t, s.billingToken(t), aSetPlanQ, map[string]any{"w": ws, "p": "TEAMS"})
			s.fails(t, owner.token, auditLogQuery, map[string]any{"w": ws}, "BUSINESS_PLAN_REQUIRED")
			s.ok(t, s.billingToken(t), aSetPlanQ, map[string]any{"w": ws, "p": "BUSINESS"})
			s.auditLog(t, owner.token, ws, nil)
		})
	})
}
