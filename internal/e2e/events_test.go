package e2e

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/auditlogd/auditlogd/internal/auth"
	"github.com/auditlogd/auditlogd/internal/testenv"
)

// This file checks docs/API.md §6 "which events each mutation writes": every
// field of every event, where the client address and request id come from,
// what invite tokens and URLs look like, and that events keep snapshots.
// It also holds the helpers (prefixed with a) that the errors, tenancy and
// concurrency tests share.

// aUA is the User-Agent the event tests send.
const aUA = "auditlogd-e2e/1.0 (events; +https://example.com/e2e)"

// aEv is an event flattened for comparison; "<nil>" stands for null.
type aEv struct {
	Action       string
	ActorID      string
	ActorEmail   string
	ActorType    string
	TargetType   string
	TargetID     string
	TargetLabel  string
	PreviousRole string
	Role         string
	IPAddress    string
	UserAgent    string
	RequestID    string
}

const aNil = "<nil>"

func aFlat(e event) aEv {
	f := aEv{
		Action: e.Action, ActorID: e.Actor.ID, ActorEmail: deref(e.Actor.Email), ActorType: e.Actor.Type,
		TargetType: aNil, TargetID: aNil, TargetLabel: aNil,
		PreviousRole: deref(e.PreviousRole), Role: deref(e.Role),
		IPAddress: deref(e.IPAddress), UserAgent: deref(e.UserAgent), RequestID: deref(e.RequestID),
	}
	if e.Target != nil {
		f.TargetType, f.TargetID, f.TargetLabel = e.Target.Type, e.Target.ID, deref(e.Target.Label)
	}
	return f
}

func aFlatAll(es []event) []aEv {
	out := make([]aEv, len(es))
	for i, e := range es {
		out[i] = aFlat(e)
	}
	return out
}

// aSortEvs compares event lists without regard to order (events of one
// request share a millisecond; their order is not what these tests check).
var aSortEvs = cmpopts.SortSlices(func(a, b aEv) bool {
	return a.Action+"|"+a.TargetID+"|"+a.ActorID < b.Action+"|"+b.TargetID+"|"+b.ActorID
})

// aSince returns the events of after that are not in before.
func aSince(before, after []event) []event {
	seen := map[string]bool{}
	for _, e := range before {
		seen[e.ID] = true
	}
	var out []event
	for _, e := range after {
		if !seen[e.ID] {
			out = append(out, e)
		}
	}
	return out
}

// aPost is post for any goroutine: it reports failures as errors instead of
// failing the test.
func aPost(s *server, token, query string, vars map[string]any, opts ...reqOpt) (*response, error) {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodPost, s.srv.URL+"/graphql", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for _, o := range opts {
		o(req)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	r := &response{Status: res.StatusCode, Header: res.Header, Raw: string(b)}
	if err := json.Unmarshal(b, r); err != nil {
		return nil, fmt.Errorf("response is not JSON: %v: %s", err, b)
	}
	return r, nil
}

// aMust sends a mutation that must succeed, with the given options (headers).
func aMust(t testing.TB, s *server, token, query string, vars map[string]any, opts ...reqOpt) *response {
	t.Helper()
	r := s.post(t, token, query, vars, opts...)
	if r.Status != http.StatusOK || len(r.Errors) > 0 {
		t.Fatalf("request failed: status %d: %s\nquery: %s", r.Status, r.Raw, query)
	}
	return r
}

// aDecode decodes r's data into out.
func aDecode(t testing.TB, r *response, out any) {
	t.Helper()
	if err := json.Unmarshal(r.Data, out); err != nil {
		t.Fatalf("decode data: %v: %s", err, r.Data)
	}
}

// aInvite is a created invite as the API returns it.
type aInvite struct {
	ID    string
	Token string
	URL   string
}

const aCreateInviteQuery = `mutation($w: ID!, $k: InviteKind!, $e: String, $r: Role, $x: Time) {
  createInviteLink(input: {workspaceId: $w, kind: $k, email: $e, role: $r, expiresAt: $x}) {
    token url inviteLink { id kind email role acceptedCount }
  }
}`

// aInviteVars are the variables of aCreateInviteQuery; email, role and
// expiresAt are left out when empty.
func aInviteVars(ws, kind, email, role, expiresAt string) map[string]any {
	v := map[string]any{"w": ws, "k": kind}
	for k, x := range map[string]string{"e": email, "r": role, "x": expiresAt} {
		if x != "" {
			v[k] = x
		}
	}
	return v
}

// aCreateInvite creates an invite as the admin token.
func aCreateInvite(t testing.TB, s *server, token, ws, kind, email, role string, opts ...reqOpt) (aInvite, *response) {
	t.Helper()
	r := aMust(t, s, token, aCreateInviteQuery, aInviteVars(ws, kind, email, role, ""), opts...)
	var out struct {
		CreateInviteLink struct {
			Token      string
			URL        string
			InviteLink struct{ ID string }
		}
	}
	aDecode(t, r, &out)
	c := out.CreateInviteLink
	return aInvite{ID: c.InviteLink.ID, Token: c.Token, URL: c.URL}, r
}

const aAcceptQuery = `mutation($t: String!) { acceptInvite(token: $t) { role user { id } workspace { id } } }`

const aRemoveQuery = `mutation($w: ID!, $u: ID!) { removeMember(workspaceId: $w, userId: $u) { removedUserId } }`

const aRoleQuery = `mutation($w: ID!, $u: ID!, $r: Role!) { updateMemberRole(input: {workspaceId: $w, userId: $u, role: $r}) { role user { id } } }`

const aAddQuery = `mutation($w: ID!, $e: String!, $r: Role) { addMember(input: {workspaceId: $w, email: $e, role: $r}) { role user { id } } }`

const aDeleteInviteQuery = `mutation($w: ID!, $id: ID!) { deleteInviteLink(workspaceId: $w, id: $id) { deletedInviteLinkId } }`

// aMembers returns the workspace's members and their roles, as token sees them.
func aMembers(t testing.TB, s *server, token, ws string) map[string]string {
	t.Helper()
	var out struct {
		Workspace *struct {
			Members []struct {
				User struct{ ID string }
				Role string
			}
		}
	}
	s.ok(t, token, `query($w: ID!) { workspace(id: $w) { members { user { id } role } } }`, map[string]any{"w": ws}, &out)
	if out.Workspace == nil {
		t.Fatalf("workspace %s is not visible", ws)
	}
	m := map[string]string{}
	for _, x := range out.Workspace.Members {
		m[x.User.ID] = x.Role
	}
	return m
}

// aInviteLinks returns the workspace's live invites (id → acceptedCount).
func aInviteLinks(t testing.TB, s *server, token, ws string) map[string]int {
	t.Helper()
	var out struct {
		Workspace *struct {
			InviteLinks []struct {
				ID            string
				AcceptedCount int
			}
		}
	}
	s.ok(t, token, `query($w: ID!) { workspace(id: $w) { inviteLinks { id acceptedCount } } }`, map[string]any{"w": ws}, &out)
	if out.Workspace == nil {
		t.Fatalf("workspace %s is not visible", ws)
	}
	m := map[string]int{}
	for _, x := range out.Workspace.InviteLinks {
		m[x.ID] = x.AcceptedCount
	}
	return m
}

// aUserWithEmail makes a user with a fresh id and the given email and signs
// them in once.
func aUserWithEmail(t testing.TB, s *server, name, email string) user {
	t.Helper()
	n := userSeq.Add(1)
	u := user{id: fmt.Sprintf("user-%s-%d", name, n), email: email}
	u.token = s.sign(t, auth.Claims{Subject: u.id, Email: u.email, Name: name})
	s.ok(t, u.token, `{ viewer { id } }`, nil)
	return u
}

// aDBState is everything a failed request must leave alone: workspaces,
// memberships, invites and the log, read straight from the database. (Users
// are left out: signing in refreshes them.)
type aDBState struct {
	Workspaces  []string
	Memberships []string
	Invites     []string
	Events      []string
	Counts      []string
}

// aSnapshot reads the whole state of the server's database.
func aSnapshot(t testing.TB, s *server) aDBState {
	t.Helper()
	var pool *sql.DB
	for _, p := range s.app.DB.Pools() {
		pool = p // any pool reads the committed state
		break
	}
	rows := func(q string) []string {
		rs, err := pool.Query(q)
		if err != nil {
			t.Fatalf("snapshot %q: %v", q, err)
		}
		defer rs.Close()
		cols, _ := rs.Columns()
		var out []string
		for rs.Next() {
			vals := make([]sql.RawBytes, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rs.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			parts := make([]string, len(vals))
			for i, v := range vals {
				if v == nil {
					parts[i] = "NULL"
				} else {
					parts[i] = string(v)
				}
			}
			out = append(out, strings.Join(parts, "|"))
		}
		if err := rs.Err(); err != nil {
			t.Fatal(err)
		}
		slices.Sort(out)
		return out
	}
	return aDBState{
		Workspaces:  rows("SELECT id, name, plan, updated_at FROM workspaces"),
		Memberships: rows("SELECT workspace_id, user_id, role, joined_at FROM memberships"),
		Invites:     rows("SELECT id, deleted_at, used_at, accepted_count FROM invite_links"),
		Events:      rows("SELECT id, workspace_id, action FROM audit_events"),
		Counts:      rows("SELECT workspace_id, hour_start, action, n FROM audit_event_counts"),
	}
}

// aEventsFixture is one test's workspace: a BUSINESS workspace with an admin,
// and a user who has signed in but is no member.
type aEventsFixture struct {
	s     *server
	admin user
	other user
	ws    string
	inv   aInvite
	email string
}

// do sends one mutation with the test User-Agent; it must succeed.
func (f *aEventsFixture) do(t *testing.T, token, query string, vars map[string]any) *response {
	t.Helper()
	return aMust(t, f.s, token, query, vars, withHeader("User-Agent", aUA))
}

func TestEventsWrittenByEachMutation(t *testing.T) {
	t.Parallel()
	type tcase struct {
		name string
		// setup prepares the fixture (its requests are not under test).
		setup func(t *testing.T, f *aEventsFixture)
		// act sends the one mutation under test, through f.do.
		act func(t *testing.T, f *aEventsFixture) *response
		// want are the events act must write; IP, user agent and request id
		// are filled in from the request.
		want func(f *aEventsFixture) []aEv
	}
	ev := func(action string, actor user, targetType, targetID, label, prev, role string) aEv {
		return aEv{Action: action, ActorID: actor.id, ActorEmail: actor.email, ActorType: "USER",
			TargetType: targetType, TargetID: targetID, TargetLabel: label, PreviousRole: prev, Role: role}
	}
	invite := func(kind string, role string) func(t *testing.T, f *aEventsFixture) {
		return func(t *testing.T, f *aEventsFixture) {
			email := ""
			if kind == "EMAIL" {
				f.email = fmt.Sprintf("invitee.%d@example.com", userSeq.Add(1))
				email = f.email
			}
			f.inv, _ = aCreateInvite(t, f.s, f.admin.token, f.ws, kind, email, role)
		}
	}
	cases := []tcase{
		{
			name: "create-workspace-member-added-admin",
			act: func(t *testing.T, f *aEventsFixture) *response {
				r := f.do(t, f.admin.token, `mutation { createWorkspace(input: {name: "Events"}) { id } }`, nil)
				var out struct{ CreateWorkspace struct{ ID string } }
				aDecode(t, r, &out)
				f.ws = out.CreateWorkspace.ID
				f.s.ok(t, f.s.billingToken(t), `mutation($w: ID!) { setWorkspacePlan(workspaceId: $w, plan: BUSINESS) { id } }`, map[string]any{"w": f.ws})
				return r
			},
			want: func(f *aEventsFixture) []aEv {
				return []aEv{ev("MEMBER_ADDED", f.admin, "USER", f.admin.id, f.admin.email, aNil, "ADMIN")}
			},
		},
		{
			name: "create-public-invite",
			act: func(t *testing.T, f *aEventsFixture) *response {
				var r *response
				f.inv, r = aCreateInvite(t, f.s, f.admin.token, f.ws, "PUBLIC", "", "", withHeader("User-Agent", aUA))
				return r
			},
			want: func(f *aEventsFixture) []aEv {
				return []aEv{ev("PUBLIC_INVITE_LINK_CREATED", f.admin, "INVITE_LINK", f.inv.ID, aNil, aNil, "MEMBER")}
			},
		},
		{
			name: "create-email-invite-granting-admin",
			act: func(t *testing.T, f *aEventsFixture) *response {
				var r *response
				f.email = fmt.Sprintf("future.admin.%d@example.com", userSeq.Add(1))
				f.inv, r = aCreateInvite(t, f.s, f.admin.token, f.ws, "EMAIL", f.email, "ADMIN", withHeader("User-Agent", aUA))
				return r
			},
			want: func(f *aEventsFixture) []aEv {
				return []aEv{ev("EMAIL_INVITE_CREATED", f.admin, "INVITE_LINK", f.inv.ID, f.email, aNil, "ADMIN")}
			},
		},
		{
			name: "create-email-invite-label-is-email",
			act: func(t *testing.T, f *aEventsFixture) *response {
				f.email = fmt.Sprintf("invitee.%d@example.com", userSeq.Add(1))
				var r *response
				f.inv, r = aCreateInvite(t, f.s, f.admin.token, f.ws, "EMAIL", f.email, "ADMIN", withHeader("User-Agent", aUA))
				return r
			},
			want: func(f *aEventsFixture) []aEv {
				return []aEv{ev("EMAIL_INVITE_CREATED", f.admin, "INVITE_LINK", f.inv.ID, f.email, aNil, "ADMIN")}
			},
		},
		{
			name:  "delete-public-invite",
			setup: invite("PUBLIC", "MEMBER"),
			act: func(t *testing.T, f *aEventsFixture) *response {
				return f.do(t, f.admin.token, aDeleteInviteQuery, map[string]any{"w": f.ws, "id": f.inv.ID})
			},
			want: func(f *aEventsFixture) []aEv {
				return []aEv{ev("PUBLIC_INVITE_LINK_DELETED", f.admin, "INVITE_LINK", f.inv.ID, aNil, aNil, aNil)}
			},
		},
		{
			name:  "delete-email-invite",
			setup: invite("EMAIL", "MEMBER"),
			act: func(t *testing.T, f *aEventsFixture) *response {
				return f.do(t, f.admin.token, aDeleteInviteQuery, map[string]any{"w": f.ws, "id": f.inv.ID})
			},
			want: func(f *aEventsFixture) []aEv {
				return []aEv{ev("EMAIL_INVITE_DELETED", f.admin, "INVITE_LINK", f.inv.ID, f.email, aNil, aNil)}
			},
		},
		{
			name:  "accept-public-invite-two-events-actor-is-joiner",
			setup: invite("PUBLIC", "MEMBER"),
			act: func(t *testing.T, f *aEventsFixture) *response {
				return f.do(t, f.other.token, aAcceptQuery, map[string]any{"t": f.inv.Token})
			},
			want: func(f *aEventsFixture) []aEv {
				return []aEv{
					ev("PUBLIC_INVITE_LINK_ACCEPTED", f.other, "INVITE_LINK", f.inv.ID, aNil, aNil, "MEMBER"),
					ev("MEMBER_ADDED", f.other, "USER", f.other.id, f.other.email, aNil, "MEMBER"),
				}
			},
		},
		{
			name: "accept-email-admin-invite-role-admin",
			setup: func(t *testing.T, f *aEventsFixture) {
				f.email = fmt.Sprintf("new.admin.%d@example.com", userSeq.Add(1))
				f.other = aUserWithEmail(t, f.s, "newadmin", f.email)
				f.inv, _ = aCreateInvite(t, f.s, f.admin.token, f.ws, "EMAIL", f.email, "ADMIN")
			},
			act: func(t *testing.T, f *aEventsFixture) *response {
				return f.do(t, f.other.token, aAcceptQuery, map[string]any{"t": f.inv.Token})
			},
			want: func(f *aEventsFixture) []aEv {
				return []aEv{
					ev("EMAIL_INVITE_ACCEPTED", f.other, "INVITE_LINK", f.inv.ID, f.email, aNil, "ADMIN"),
					ev("MEMBER_ADDED", f.other, "USER", f.other.id, f.other.email, aNil, "ADMIN"),
				}
			},
		},
		{
			name: "accept-email-invite-two-events-actor-is-joiner",
			setup: func(t *testing.T, f *aEventsFixture) {
				f.email = fmt.Sprintf("joiner.%d@example.com", userSeq.Add(1))
				f.other = aUserWithEmail(t, f.s, "joiner", f.email)
				f.inv, _ = aCreateInvite(t, f.s, f.admin.token, f.ws, "EMAIL", f.email, "MEMBER")
			},
			act: func(t *testing.T, f *aEventsFixture) *response {
				return f.do(t, f.other.token, aAcceptQuery, map[string]any{"t": f.inv.Token})
			},
			want: func(f *aEventsFixture) []aEv {
				return []aEv{
					ev("EMAIL_INVITE_ACCEPTED", f.other, "INVITE_LINK", f.inv.ID, f.email, aNil, "MEMBER"),
					ev("MEMBER_ADDED", f.other, "USER", f.other.id, f.other.email, aNil, "MEMBER"),
				}
			},
		},
		{
			name: "add-member",
			act: func(t *testing.T, f *aEventsFixture) *response {
				return f.do(t, f.admin.token, aAddQuery, map[string]any{"w": f.ws, "e": f.other.email})
			},
			want: func(f *aEventsFixture) []aEv {
				return []aEv{ev("MEMBER_ADDED", f.admin, "USER", f.other.id, f.other.email, aNil, "MEMBER")}
			},
		},
		{
			name: "add-member-as-admin",
			act: func(t *testing.T, f *aEventsFixture) *response {
				return f.do(t, f.admin.token, aAddQuery, map[string]any{"w": f.ws, "e": f.other.email, "r": "ADMIN"})
			},
			want: func(f *aEventsFixture) []aEv {
				return []aEv{ev("MEMBER_ADDED", f.admin, "USER", f.other.id, f.other.email, aNil, "ADMIN")}
			},
		},
		{
			name: "remove-member-previous-role",
			setup: func(t *testing.T, f *aEventsFixture) {
				f.s.addMember(t, f.admin, f.ws, f.other, "MEMBER")
			},
			act: func(t *testing.T, f *aEventsFixture) *response {
				return f.do(t, f.admin.token, aRemoveQuery, map[string]any{"w": f.ws, "u": f.other.id})
			},
			want: func(f *aEventsFixture) []aEv {
				return []aEv{ev("MEMBER_REMOVED", f.admin, "USER", f.other.id, f.other.email, "MEMBER", aNil)}
			},
		},
		{
			name: "remove-admin-previous-role-admin",
			setup: func(t *testing.T, f *aEventsFixture) {
				f.s.addMember(t, f.admin, f.ws, f.other, "ADMIN")
			},
			act: func(t *testing.T, f *aEventsFixture) *response {
				return f.do(t, f.admin.token, aRemoveQuery, map[string]any{"w": f.ws, "u": f.other.id})
			},
			want: func(f *aEventsFixture) []aEv {
				return []aEv{ev("MEMBER_REMOVED", f.admin, "USER", f.other.id, f.other.email, "ADMIN", aNil)}
			},
		},
		{
			name: "promote-member",
			setup: func(t *testing.T, f *aEventsFixture) {
				f.s.addMember(t, f.admin, f.ws, f.other, "MEMBER")
			},
			act: func(t *testing.T, f *aEventsFixture) *response {
				return f.do(t, f.admin.token, aRoleQuery, map[string]any{"w": f.ws, "u": f.other.id, "r": "ADMIN"})
			},
			want: func(f *aEventsFixture) []aEv {
				return []aEv{ev("MEMBER_ROLE_UPDATED", f.admin, "USER", f.other.id, f.other.email, "MEMBER", "ADMIN")}
			},
		},
		{
			name: "demote-admin",
			setup: func(t *testing.T, f *aEventsFixture) {
				f.s.addMember(t, f.admin, f.ws, f.other, "ADMIN")
			},
			act: func(t *testing.T, f *aEventsFixture) *response {
				return f.do(t, f.admin.token, aRoleQuery, map[string]any{"w": f.ws, "u": f.other.id, "r": "MEMBER"})
			},
			want: func(f *aEventsFixture) []aEv {
				return []aEv{ev("MEMBER_ROLE_UPDATED", f.admin, "USER", f.other.id, f.other.email, "ADMIN", "MEMBER")}
			},
		},
		{
			name: "update-role-to-same-role-writes-nothing",
			setup: func(t *testing.T, f *aEventsFixture) {
				f.s.addMember(t, f.admin, f.ws, f.other, "MEMBER")
			},
			act: func(t *testing.T, f *aEventsFixture) *response {
				r := f.do(t, f.admin.token, aRoleQuery, map[string]any{"w": f.ws, "u": f.other.id, "r": "MEMBER"})
				var out struct{ UpdateMemberRole struct{ Role string } }
				if aDecode(t, r, &out); out.UpdateMemberRole.Role != "MEMBER" {
					t.Errorf("role = %q, want MEMBER", out.UpdateMemberRole.Role)
				}
				return r
			},
			want: func(f *aEventsFixture) []aEv { return nil },
		},
		{
			name: "admin-sets-own-role-admin-writes-nothing",
			act: func(t *testing.T, f *aEventsFixture) *response {
				return f.do(t, f.admin.token, aRoleQuery, map[string]any{"w": f.ws, "u": f.admin.id, "r": "ADMIN"})
			},
			want: func(f *aEventsFixture) []aEv { return nil },
		},
		{
			name: "accept-public-invite-while-member-writes-nothing",
			setup: func(t *testing.T, f *aEventsFixture) {
				invite("PUBLIC", "MEMBER")(t, f)
				f.s.addMember(t, f.admin, f.ws, f.other, "ADMIN")
			},
			act: func(t *testing.T, f *aEventsFixture) *response {
				r := f.do(t, f.other.token, aAcceptQuery, map[string]any{"t": f.inv.Token})
				var out struct{ AcceptInvite struct{ Role string } }
				if aDecode(t, r, &out); out.AcceptInvite.Role != "ADMIN" {
					t.Errorf("accepting a MEMBER link as an ADMIN changed the role to %q", out.AcceptInvite.Role)
				}
				if got := aInviteLinks(t, f.s, f.admin.token, f.ws)[f.inv.ID]; got != 0 {
					t.Errorf("acceptedCount = %d after a member accepted, want 0", got)
				}
				return r
			},
			want: func(f *aEventsFixture) []aEv { return nil },
		},
		{
			name: "accept-email-invite-while-member-writes-nothing",
			setup: func(t *testing.T, f *aEventsFixture) {
				f.email = f.other.email
				f.inv, _ = aCreateInvite(t, f.s, f.admin.token, f.ws, "EMAIL", f.email, "ADMIN")
				f.s.addMember(t, f.admin, f.ws, f.other, "MEMBER")
			},
			act: func(t *testing.T, f *aEventsFixture) *response {
				r := f.do(t, f.other.token, aAcceptQuery, map[string]any{"t": f.inv.Token})
				if got := aMembers(t, f.s, f.admin.token, f.ws)[f.other.id]; got != "MEMBER" {
					t.Errorf("role after accepting while a member = %q, want MEMBER", got)
				}
				return r
			},
			want: func(f *aEventsFixture) []aEv { return nil },
		},
		{
			name: "admin-accepting-own-public-link-writes-nothing",
			setup: func(t *testing.T, f *aEventsFixture) {
				invite("PUBLIC", "MEMBER")(t, f)
			},
			act: func(t *testing.T, f *aEventsFixture) *response {
				r := f.do(t, f.admin.token, aAcceptQuery, map[string]any{"t": f.inv.Token})
				var out struct{ AcceptInvite struct{ Role string } }
				if aDecode(t, r, &out); out.AcceptInvite.Role != "ADMIN" {
					t.Errorf("an admin accepting a MEMBER link became %q", out.AcceptInvite.Role)
				}
				return r
			},
			want: func(f *aEventsFixture) []aEv { return nil },
		},
	}
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, nil)
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				f := &aEventsFixture{s: s, admin: s.newUser(t, "admin"), other: s.newUser(t, "other")}
				if tc.name != "create-workspace-member-added-admin" {
					f.ws = s.newWorkspace(t, f.admin, "BUSINESS")
				}
				if tc.setup != nil {
					tc.setup(t, f)
				}
				var before []event
				if f.ws != "" {
					before = s.allEvents(t, f.admin.token, f.ws, nil)
				}
				r := tc.act(t, f)
				reqID := r.Header.Get("X-Request-Id")
				if reqID == "" {
					t.Fatal("the mutation's response has no X-Request-Id header")
				}
				got := aFlatAll(aSince(before, s.allEvents(t, f.admin.token, f.ws, nil)))
				want := tc.want(f)
				for i := range want {
					want[i].IPAddress, want[i].UserAgent, want[i].RequestID = "127.0.0.1", aUA, reqID
				}
				if diff := cmp.Diff(want, got, aSortEvs, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("events written (-want +got):\n%s", diff)
				}
			})
		}
	})
}

func TestEventsClientAddressAndRequestID(t *testing.T) {
	t.Parallel()
	const proxyEnv = "AUDITLOG_TRUSTED_PROXIES"
	trusted := map[string]string{proxyEnv: "127.0.0.1/32"}
	cases := []struct {
		name      string
		env       map[string]string
		headers   map[string]string
		wantIP    string
		wantReqID string // "" means: any id, but not one the client sent
	}{
		{name: "no-forwarded-header", wantIP: "127.0.0.1"},
		{name: "forwarded-for-ignored-by-default", headers: map[string]string{"X-Forwarded-For": "203.0.113.7"}, wantIP: "127.0.0.1"},
		{name: "forwarded-for-ignored-from-untrusted-peer", env: map[string]string{proxyEnv: "10.0.0.0/8"},
			headers: map[string]string{"X-Forwarded-For": "203.0.113.7"}, wantIP: "127.0.0.1"},
		{name: "forwarded-for-believed-from-trusted-proxy", env: trusted,
			headers: map[string]string{"X-Forwarded-For": "203.0.113.7"}, wantIP: "203.0.113.7"},
		{name: "forged-left-entry-not-believed", env: trusted,
			headers: map[string]string{"X-Forwarded-For": "198.51.100.9, 203.0.113.7"}, wantIP: "203.0.113.7"},
		{name: "trusted-hops-skipped", env: trusted,
			headers: map[string]string{"X-Forwarded-For": "203.0.113.7, 127.0.0.1"}, wantIP: "203.0.113.7"},
		{name: "garbage-forwarded-for-falls-back-to-peer", env: trusted,
			headers: map[string]string{"X-Forwarded-For": "not-an-address"}, wantIP: "127.0.0.1"},
		{name: "no-forwarded-header-from-trusted-proxy", env: trusted, wantIP: "127.0.0.1"},
		{name: "client-request-id-not-trusted", headers: map[string]string{"X-Request-Id": "client-chosen-id"}, wantIP: "127.0.0.1"},
		{name: "proxy-request-id-kept", env: trusted, headers: map[string]string{"X-Request-Id": "proxy-req-42"},
			wantIP: "127.0.0.1", wantReqID: "proxy-req-42"},
	}
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		servers := map[string]*server{}
		serverFor := func(env map[string]string) *server {
			key := fmt.Sprint(env)
			if servers[key] == nil {
				servers[key] = newServer(t, db, env)
			}
			return servers[key]
		}
		for _, tc := range cases {
			s := serverFor(tc.env)
			t.Run(tc.name, func(t *testing.T) {
				admin, joiner := s.newUser(t, "admin"), s.newUser(t, "joiner")
				ws := s.newWorkspace(t, admin, "BUSINESS")
				opts := []reqOpt{withHeader("User-Agent", aUA)}
				for k, v := range tc.headers {
					opts = append(opts, withHeader(k, v))
				}
				before := s.allEvents(t, admin.token, ws, nil)
				r := aMust(t, s, admin.token, aAddQuery, map[string]any{"w": ws, "e": joiner.email}, opts...)
				reqID := r.Header.Get("X-Request-Id")
				if reqID == "" {
					t.Fatal("no X-Request-Id response header")
				}
				if tc.wantReqID != "" && reqID != tc.wantReqID {
					t.Errorf("X-Request-Id = %q, want the proxy's %q", reqID, tc.wantReqID)
				}
				if sent := tc.headers["X-Request-Id"]; tc.wantReqID == "" && sent != "" && reqID == sent {
					t.Errorf("X-Request-Id = %q: the id a client chose was believed", reqID)
				}
				got := aFlatAll(aSince(before, s.allEvents(t, admin.token, ws, nil)))
				want := []aEv{{Action: "MEMBER_ADDED", ActorID: admin.id, ActorEmail: admin.email, ActorType: "USER",
					TargetType: "USER", TargetID: joiner.id, TargetLabel: joiner.email, PreviousRole: aNil, Role: "MEMBER",
					IPAddress: tc.wantIP, UserAgent: aUA, RequestID: reqID}}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("event (-want +got):\n%s", diff)
				}
				if !strings.Contains(s.logs.String(), `"request_id":"`+reqID+`"`) {
					t.Errorf("the server log has no line with request_id %q", reqID)
				}
			})
		}
	})
}

func TestInviteTokensAndURLs(t *testing.T) {
	t.Parallel()
	const publicURL = "https://audit.example.com/team"
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, map[string]string{"AUDITLOG_PUBLIC_URL": publicURL})
		admin := s.newUser(t, "admin")
		ws := s.newWorkspace(t, admin, "BUSINESS")
		var invites []aInvite
		for i := range 16 {
			kind, email := "PUBLIC", ""
			if i%2 == 1 {
				kind, email = "EMAIL", fmt.Sprintf("tok.%d.%d@example.com", i, userSeq.Add(1))
			}
			inv, _ := aCreateInvite(t, s, admin.token, ws, kind, email, "")
			invites = append(invites, inv)
		}
		seen := map[string]bool{}
		var tokens []string
		for _, inv := range invites {
			if want := publicURL + "/invite/" + inv.Token; inv.URL != want {
				t.Errorf("url = %q, want %q", inv.URL, want)
			}
			if url.PathEscape(inv.Token) != inv.Token {
				t.Errorf("token %q is not URL-safe", inv.Token)
			}
			if seen[inv.Token] {
				t.Errorf("token %q was issued twice", inv.Token)
			}
			seen[inv.Token] = true
			tokens = append(tokens, inv.Token)
		}
		if bits := aRandomBits(tokens); bits < 128 {
			t.Errorf("tokens carry at most %d random bits, want at least 128: %q", bits, tokens[:2])
		}
		// The token is stored only as a hash: no column of any invite holds it.
		for _, p := range s.app.DB.Pools() {
			rows, err := p.Query("SELECT * FROM invite_links")
			if err != nil {
				t.Fatal(err)
			}
			cols, _ := rows.Columns()
			for rows.Next() {
				vals := make([]sql.RawBytes, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if err := rows.Scan(ptrs...); err != nil {
					t.Fatal(err)
				}
				for i, v := range vals {
					for _, tok := range tokens {
						if len(v) > 0 && (bytes.Contains(v, []byte(tok)) || bytes.Contains(v, []byte(strings.TrimPrefix(tok, "inv_")))) {
							t.Errorf("invite_links.%s holds the token in clear", cols[i])
						}
					}
				}
			}
			rows.Close()
			break
		}
		// The token in the URL is the one that works.
		joiner := s.newUser(t, "joiner")
		tok := invites[0].URL[strings.LastIndex(invites[0].URL, "/")+1:]
		s.ok(t, joiner.token, aAcceptQuery, map[string]any{"t": tok})
		if role := aMembers(t, s, admin.token, ws)[joiner.id]; role != "MEMBER" {
			t.Errorf("joining through the URL's token gave role %q", role)
		}
	})
}

// aRandomBits estimates how many bits of tokens can vary: the characters
// outside their common prefix and suffix, times the bits of their alphabet.
func aRandomBits(tokens []string) int {
	prefix, suffix := tokens[0], tokens[0]
	for _, tok := range tokens[1:] {
		for !strings.HasPrefix(tok, prefix) {
			prefix = prefix[:len(prefix)-1]
		}
		for !strings.HasSuffix(tok, suffix) {
			suffix = suffix[1:]
		}
	}
	const hex = "0123456789abcdefABCDEF"
	const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	bitsPerChar, minLen := 6, len(tokens[0])
	allHex := true
	for _, tok := range tokens {
		minLen = min(minLen, len(tok))
		body := tok[len(prefix) : len(tok)-len(suffix)]
		for _, c := range body {
			if !strings.ContainsRune(hex, c) {
				allHex = false
			}
			if !strings.ContainsRune(b64, c) {
				return 0 // not a URL-safe alphabet this estimate knows
			}
		}
	}
	if allHex {
		bitsPerChar = 4
	}
	varying := minLen - len(prefix) - len(suffix)
	if varying < 0 {
		return 0
	}
	return varying * bitsPerChar
}

func TestEventSnapshotsKeepEmailsOfTheirTime(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, nil)
		admin := s.newUser(t, "admin")
		ws := s.newWorkspace(t, admin, "BUSINESS")
		u := s.newUser(t, "renamed")
		oldEmail := u.email
		s.addMember(t, admin, ws, u, "ADMIN")
		oldInv, _ := aCreateInvite(t, s, u.token, ws, "PUBLIC", "", "")

		// u signs in again: their identity provider now says another email.
		newEmail := "renamed.later." + u.id + "@example.org"
		u.email = newEmail
		u.token = s.sign(t, auth.Claims{Subject: u.id, Email: newEmail, Name: "renamed"})
		var v struct{ Viewer struct{ Email string } }
		s.ok(t, u.token, `{ viewer { email } }`, nil, &v)
		if v.Viewer.Email != newEmail {
			t.Fatalf("viewer email = %q after signing in with %q: the user was not refreshed", v.Viewer.Email, newEmail)
		}
		newInv, _ := aCreateInvite(t, s, u.token, ws, "PUBLIC", "", "")
		s.ok(t, admin.token, aRemoveQuery, map[string]any{"w": ws, "u": u.id})

		type row struct{ Action, Actor, ActorEmail, Target, TargetLabel string }
		var got []row
		for _, e := range s.allEvents(t, admin.token, ws, nil) {
			f := aFlat(e)
			got = append(got, row{f.Action, f.ActorID, f.ActorEmail, f.TargetID, f.TargetLabel})
		}
		slices.Reverse(got) // oldest first
		want := []row{
			{"MEMBER_ADDED", admin.id, admin.email, admin.id, admin.email},
			{"MEMBER_ADDED", admin.id, admin.email, u.id, oldEmail},
			{"PUBLIC_INVITE_LINK_CREATED", u.id, oldEmail, oldInv.ID, aNil},
			{"PUBLIC_INVITE_LINK_CREATED", u.id, newEmail, newInv.ID, aNil},
			{"MEMBER_REMOVED", admin.id, admin.email, u.id, newEmail},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("log (-want +got):\n%s", diff)
		}
		// The snapshots are what filters match, too.
		byOld := s.allEvents(t, admin.token, ws, map[string]any{"actorEmail": oldEmail})
		if len(byOld) != 1 || aFlat(byOld[0]).TargetID != oldInv.ID {
			t.Errorf("filter actorEmail=%s found %d events, want the first invite only", oldEmail, len(byOld))
		}
	})
}
