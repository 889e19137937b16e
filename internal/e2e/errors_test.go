package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/auditlogd/auditlogd/internal/auth"
	"github.com/auditlogd/auditlogd/internal/ids"
	"github.com/auditlogd/auditlogd/internal/testenv"
	"github.com/auditlogd/auditlogd/internal/timefmt"
)

// This file checks docs/API.md §4 and §6 "Errors": every code, when it is
// answered, and that a refused request changes nothing.

// aErrFixture is the world the error cases run in.
type aErrFixture struct {
	s        *server
	admin    user // the only admin of biz, free, teams and other
	member   user // a MEMBER of biz and free
	outsider user // signed in, member of nothing
	invitee  user // the address of a pending email invite to biz
	wrong    user // signed in with another address
	biz      string
	free     string
	teams    string
	other    string // another BUSINESS workspace of admin
	public   aInvite
	email    aInvite
	// Tokens the cases use.
	billing    string // scope billing:write, no email
	reader     string // scopes billing:read audit:read
	writerish  string // scope billing:writer, which is not billing:write
	unverified string // the invitee's address, "email_verified": false
}

func aNewErrFixture(t *testing.T, s *server) *aErrFixture {
	t.Helper()
	f := &aErrFixture{s: s, admin: s.newUser(t, "admin"), member: s.newUser(t, "member"), outsider: s.newUser(t, "outsider"),
		invitee: s.newUser(t, "invitee"), wrong: s.newUser(t, "wrong")}
	f.biz = s.newWorkspace(t, f.admin, "BUSINESS")
	f.free = s.newWorkspace(t, f.admin, "FREE")
	f.teams = s.newWorkspace(t, f.admin, "TEAMS")
	f.other = s.newWorkspace(t, f.admin, "BUSINESS")
	s.addMember(t, f.admin, f.biz, f.member, "MEMBER")
	s.addMember(t, f.admin, f.free, f.member, "MEMBER")
	f.public, _ = aCreateInvite(t, s, f.admin.token, f.biz, "PUBLIC", "", "")
	f.email, _ = aCreateInvite(t, s, f.admin.token, f.biz, "EMAIL", f.invitee.email, "")
	f.billing = s.billingToken(t)
	f.reader = s.sign(t, auth.Claims{Subject: "reporting-service", Scope: "billing:read audit:read"})
	f.writerish = s.sign(t, auth.Claims{Subject: "other-service", Scope: "billing:writer"})
	f.unverified = aJWT(t, jwa.HS256, []byte(testSecret), map[string]any{"sub": "unverified-" + f.invitee.id,
		"email": f.invitee.email, "email_verified": false, "exp": time.Now().Add(time.Hour).Unix()})
	return f
}

// aJWT signs claims with jwx directly, so that tests can make tokens the
// service would never issue. alg "none" makes an unsigned token.
func aJWT(t testing.TB, alg jwa.SignatureAlgorithm, key any, claims map[string]any) string {
	t.Helper()
	tok := jwt.New()
	for k, v := range claims {
		if err := tok.Set(k, v); err != nil {
			t.Fatalf("set %s: %v", k, err)
		}
	}
	var b []byte
	var err error
	if alg == jwa.NoSignature {
		b, err = jwt.Sign(tok, jwt.WithInsecureNoSignature())
	} else {
		b, err = jwt.Sign(tok, jwt.WithKey(alg, key))
	}
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return string(b)
}

// aUnknownID is a well-formed id that names nothing.
func aUnknownID() string { return ids.New(time.Now()) }

// aRandomToken looks like an invite token but was never issued.
func aRandomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "inv_" + base64.RawURLEncoding.EncodeToString(b)
}

// aCheckCodes fails unless every error of r carries a code.
func aCheckCodes(t *testing.T, r *response) {
	t.Helper()
	for _, e := range r.Errors {
		if c, _ := e.Extensions["code"].(string); c == "" {
			t.Errorf("error without extensions.code: %s", r.Raw)
		}
	}
}

// aWantFieldError checks a response that keeps data.workspace and reports
// one error at workspace.<field>.
func aWantFieldError(field, code string, ws func(f *aErrFixture) string) func(t *testing.T, f *aErrFixture, r *response) {
	return func(t *testing.T, f *aErrFixture, r *response) {
		t.Helper()
		var data struct {
			Workspace *struct {
				ID         string
				Name       string
				ViewerRole string
				Members    []struct{ Role string }
			}
		}
		aDecode(t, r, &data)
		if data.Workspace == nil || data.Workspace.ID != ws(f) || data.Workspace.Name == "" || data.Workspace.ViewerRole == "" || len(data.Workspace.Members) == 0 {
			t.Errorf("the rest of the workspace was lost: %s", r.Raw)
		}
		var raw map[string]map[string]json.RawMessage
		_ = json.Unmarshal(r.Data, &raw)
		if v, ok := raw["workspace"][field]; !ok || string(v) != "null" {
			t.Errorf("workspace.%s = %s, want null", field, v)
		}
		if len(r.Errors) != 1 {
			t.Fatalf("want exactly one error, got %s", r.Raw)
		}
		if diff := cmp.Diff([]any{"workspace", field}, r.Errors[0].Path); diff != "" {
			t.Errorf("error path (-want +got):\n%s", diff)
		}
		if r.Errors[0].Extensions["code"] != code {
			t.Errorf("code = %v, want %s", r.Errors[0].Extensions["code"], code)
		}
	}
}

// aStatus200 checks that an error came as a GraphQL error, not an HTTP one.
func aStatus200(t *testing.T, _ *aErrFixture, r *response) {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Errorf("status %d, want 200 with a GraphQL error", r.Status)
	}
}

const (
	aViewerQ        = `{ viewer { id } }`
	aWorkspacesQ    = `{ workspaces { id } }`
	aWorkspaceQ     = `query($w: ID!) { workspace(id: $w) { id } }`
	aCreateWSQ      = `mutation($n: String!) { createWorkspace(input: {name: $n}) { id } }`
	aSetPlanQ       = `mutation($w: ID!, $p: Plan!) { setWorkspacePlan(workspaceId: $w, plan: $p) { id plan } }`
	aWorkspaceLogQ  = `query($w: ID!) { workspace(id: $w) { id name viewerRole members { role } auditLog(first: 5) { edges { cursor } } } }`
	aInviteLinksQ   = `query($w: ID!) { workspace(id: $w) { id name viewerRole members { role } inviteLinks { id } } }`
	aLogWithFilterQ = `query($w: ID!, $f: AuditLogFilter) { auditLog(workspaceId: $w, filter: $f) { edges { cursor } } }`
	aExportQ        = `mutation($w: ID!) { exportAuditLog(input: {workspaceId: $w, format: CSV}) { id url } }`
)

func TestErrorCodes(t *testing.T) {
	t.Parallel()
	type tcase struct {
		name  string
		token func(f *aErrFixture) string
		query string
		// vars may prepare state (before the snapshot is taken).
		vars  func(t *testing.T, f *aErrFixture) map[string]any
		code  string
		check func(t *testing.T, f *aErrFixture, r *response)
	}
	anon := func(*aErrFixture) string { return "" }
	admin := func(f *aErrFixture) string { return f.admin.token }
	member := func(f *aErrFixture) string { return f.member.token }
	outsider := func(f *aErrFixture) string { return f.outsider.token }
	billing := func(f *aErrFixture) string { return f.billing }
	none := func(*testing.T, *aErrFixture) map[string]any { return nil }
	vars := func(kv ...any) func(*testing.T, *aErrFixture) map[string]any {
		return func(_ *testing.T, f *aErrFixture) map[string]any {
			m := map[string]any{}
			for i := 0; i < len(kv); i += 2 {
				v := kv[i+1]
				if fn, ok := v.(func(*aErrFixture) string); ok {
					v = fn(f)
				}
				m[kv[i].(string)] = v
			}
			return m
		}
	}
	biz := func(f *aErrFixture) string { return f.biz }
	free := func(f *aErrFixture) string { return f.free }
	teams := func(f *aErrFixture) string { return f.teams }
	adminID := func(f *aErrFixture) string { return f.admin.id }
	memberID := func(f *aErrFixture) string { return f.member.id }
	outsiderID := func(f *aErrFixture) string { return f.outsider.id }
	publicID := func(f *aErrFixture) string { return f.public.ID }
	publicTok := func(f *aErrFixture) string { return f.public.Token }
	emailTok := func(f *aErrFixture) string { return f.email.Token }
	unknown := func(*aErrFixture) string { return aUnknownID() }
	inviteVars := func(ws func(*aErrFixture) string, kind, email, role, expires string) func(*testing.T, *aErrFixture) map[string]any {
		return func(_ *testing.T, f *aErrFixture) map[string]any {
			return aInviteVars(ws(f), kind, email, role, expires)
		}
	}
	// invite makes a fresh invite in biz and returns it.
	invite := func(t *testing.T, f *aErrFixture, kind, email, expiresAt string) aInvite {
		r := aMust(t, f.s, f.admin.token, aCreateInviteQuery, aInviteVars(f.biz, kind, email, "", expiresAt))
		var out struct {
			CreateInviteLink struct {
				Token      string
				InviteLink struct{ ID string }
			}
		}
		aDecode(t, r, &out)
		return aInvite{ID: out.CreateInviteLink.InviteLink.ID, Token: out.CreateInviteLink.Token}
	}
	deleted := func(t *testing.T, f *aErrFixture) aInvite {
		inv := invite(t, f, "PUBLIC", "", "")
		aMust(t, f.s, f.admin.token, aDeleteInviteQuery, map[string]any{"w": f.biz, "id": inv.ID})
		return inv
	}
	// usedBy makes an email invite for a new user, lets them accept it, and
	// removes them again; it returns the invite and the user.
	used := func(t *testing.T, f *aErrFixture) (aInvite, user) {
		u := f.s.newUser(t, "used")
		inv := invite(t, f, "EMAIL", u.email, "")
		aMust(t, f.s, u.token, aAcceptQuery, map[string]any{"t": inv.Token})
		aMust(t, f.s, f.admin.token, aRemoveQuery, map[string]any{"w": f.biz, "u": u.id})
		return inv, u
	}
	var usedUser user
	page := func(kv ...any) func(*testing.T, *aErrFixture) map[string]any {
		return vars(append([]any{"w", biz}, kv...)...)
	}
	cursorOf := func(t *testing.T, f *aErrFixture, ws string) string {
		c := f.s.auditLog(t, f.admin.token, ws, map[string]any{"first": 1})
		if len(c.Edges) == 0 {
			t.Fatal("empty log")
		}
		return c.Edges[0].Cursor
	}

	cases := []tcase{
		// UNAUTHENTICATED: anonymous requests to everything that needs a user.
		{name: "anonymous-viewer", token: anon, query: aViewerQ, vars: none, code: "UNAUTHENTICATED", check: aStatus200},
		{name: "anonymous-workspaces", token: anon, query: aWorkspacesQ, vars: none, code: "UNAUTHENTICATED", check: aStatus200},
		{name: "anonymous-workspace", token: anon, query: aWorkspaceQ, vars: vars("w", biz), code: "UNAUTHENTICATED", check: aStatus200},
		{name: "anonymous-auditlog", token: anon, query: auditLogQuery, vars: vars("w", biz), code: "UNAUTHENTICATED", check: aStatus200},
		{name: "anonymous-create-workspace", token: anon, query: aCreateWSQ, vars: vars("n", "Anon"), code: "UNAUTHENTICATED", check: aStatus200},
		{name: "anonymous-set-plan", token: anon, query: aSetPlanQ, vars: vars("w", biz, "p", "FREE"), code: "UNAUTHENTICATED", check: aStatus200},
		{name: "anonymous-create-invite", token: anon, query: aCreateInviteQuery, vars: inviteVars(biz, "PUBLIC", "", "", ""), code: "UNAUTHENTICATED", check: aStatus200},
		{name: "anonymous-delete-invite", token: anon, query: aDeleteInviteQuery, vars: vars("w", biz, "id", publicID), code: "UNAUTHENTICATED", check: aStatus200},
		{name: "anonymous-accept-invite", token: anon, query: aAcceptQuery, vars: vars("t", publicTok), code: "UNAUTHENTICATED", check: aStatus200},
		{name: "anonymous-add-member", token: anon, query: aAddQuery, vars: vars("w", biz, "e", "x@example.com"), code: "UNAUTHENTICATED", check: aStatus200},
		{name: "anonymous-remove-member", token: anon, query: aRemoveQuery, vars: vars("w", biz, "u", memberID), code: "UNAUTHENTICATED", check: aStatus200},
		{name: "anonymous-update-role", token: anon, query: aRoleQuery, vars: vars("w", biz, "u", memberID, "r", "ADMIN"), code: "UNAUTHENTICATED", check: aStatus200},
		{name: "anonymous-export", token: anon, query: aExportQ, vars: vars("w", biz), code: "UNAUTHENTICATED", check: aStatus200},
		{name: "service-token-create-workspace", token: billing, query: aCreateWSQ, vars: vars("n", "Service"), code: "UNAUTHENTICATED"},
		{name: "service-token-viewer", token: billing, query: aViewerQ, vars: none, code: "UNAUTHENTICATED"},
		{name: "service-token-accept-invite", token: billing, query: aAcceptQuery, vars: vars("t", publicTok), code: "UNAUTHENTICATED"},
		{name: "service-token-create-invite", token: billing, query: aCreateInviteQuery, vars: inviteVars(biz, "PUBLIC", "", "", ""), code: "UNAUTHENTICATED"},

		// FORBIDDEN: a member is no admin.
		{name: "member-create-invite-forbidden", token: member, query: aCreateInviteQuery, vars: inviteVars(biz, "PUBLIC", "", "", ""), code: "FORBIDDEN"},
		{name: "member-delete-invite-forbidden", token: member, query: aDeleteInviteQuery, vars: vars("w", biz, "id", publicID), code: "FORBIDDEN"},
		{name: "member-add-member-forbidden", token: member, query: aAddQuery, vars: func(_ *testing.T, f *aErrFixture) map[string]any {
			return map[string]any{"w": f.biz, "e": f.outsider.email}
		}, code: "FORBIDDEN"},
		{name: "member-remove-admin-forbidden", token: member, query: aRemoveQuery, vars: vars("w", biz, "u", adminID), code: "FORBIDDEN"},
		{name: "member-remove-self-forbidden", token: member, query: aRemoveQuery, vars: vars("w", biz, "u", memberID), code: "FORBIDDEN"},
		{name: "member-promotes-self-forbidden", token: member, query: aRoleQuery, vars: vars("w", biz, "u", memberID, "r", "ADMIN"), code: "FORBIDDEN"},
		{name: "member-demotes-admin-forbidden", token: member, query: aRoleQuery, vars: vars("w", biz, "u", adminID, "r", "MEMBER"), code: "FORBIDDEN"},
		{name: "member-query-auditlog-forbidden", token: member, query: auditLogQuery, vars: vars("w", biz), code: "FORBIDDEN"},
		{name: "member-auditlog-of-free-workspace-forbidden-before-plan", token: member, query: auditLogQuery, vars: vars("w", free), code: "FORBIDDEN"},
		{name: "member-export-forbidden", token: member, query: aExportQ, vars: vars("w", biz), code: "FORBIDDEN"},
		{name: "member-export-of-free-workspace-forbidden-before-plan", token: member, query: aExportQ, vars: vars("w", free), code: "FORBIDDEN"},
		{name: "member-workspace-auditlog-nulls-only-that-field", token: member, query: aWorkspaceLogQ, vars: vars("w", biz), code: "FORBIDDEN",
			check: aWantFieldError("auditLog", "FORBIDDEN", biz)},
		{name: "member-invite-links-nulls-only-that-field", token: member, query: aInviteLinksQ, vars: vars("w", biz), code: "FORBIDDEN",
			check: aWantFieldError("inviteLinks", "FORBIDDEN", biz)},
		{name: "outsider-create-invite-forbidden", token: outsider, query: aCreateInviteQuery, vars: inviteVars(biz, "PUBLIC", "", "", ""), code: "FORBIDDEN"},
		// FORBIDDEN: workspaces that do not exist cannot be told apart.
		{name: "unknown-workspace-create-invite-forbidden", token: admin, query: aCreateInviteQuery, vars: inviteVars(unknown, "PUBLIC", "", "", ""), code: "FORBIDDEN"},
		{name: "malformed-workspace-id-create-invite-forbidden", token: admin, query: aCreateInviteQuery, vars: inviteVars(func(*aErrFixture) string { return "nope" }, "PUBLIC", "", "", ""), code: "FORBIDDEN"},
		{name: "unknown-workspace-auditlog-forbidden", token: admin, query: auditLogQuery, vars: vars("w", unknown), code: "FORBIDDEN"},
		{name: "unknown-workspace-add-member-forbidden", token: admin, query: aAddQuery, vars: vars("w", unknown, "e", "x@example.com"), code: "FORBIDDEN"},
		{name: "unknown-workspace-remove-member-forbidden", token: admin, query: aRemoveQuery, vars: vars("w", unknown, "u", adminID), code: "FORBIDDEN"},
		{name: "unknown-workspace-update-role-forbidden", token: admin, query: aRoleQuery, vars: vars("w", unknown, "u", adminID, "r", "MEMBER"), code: "FORBIDDEN"},
		{name: "unknown-workspace-delete-invite-forbidden", token: admin, query: aDeleteInviteQuery, vars: vars("w", unknown, "id", publicID), code: "FORBIDDEN"},
		// FORBIDDEN: plans are set by the billing system only.
		{name: "set-plan-with-user-token-forbidden", token: admin, query: aSetPlanQ, vars: vars("w", free, "p", "BUSINESS"), code: "FORBIDDEN"},
		{name: "set-plan-without-billing-scope-forbidden", token: func(f *aErrFixture) string { return f.reader }, query: aSetPlanQ, vars: vars("w", free, "p", "BUSINESS"), code: "FORBIDDEN"},
		{name: "set-plan-scope-prefix-is-not-the-scope-forbidden", token: func(f *aErrFixture) string { return f.writerish }, query: aSetPlanQ, vars: vars("w", teams, "p", "BUSINESS"), code: "FORBIDDEN"},
		// FORBIDDEN: an email invite is for its address only, and a verified one.
		{name: "accept-email-invite-with-other-email-forbidden", token: func(f *aErrFixture) string { return f.wrong.token },
			query: aAcceptQuery, vars: vars("t", emailTok), code: "FORBIDDEN"},
		{name: "accept-email-invite-with-unverified-email-forbidden", token: func(f *aErrFixture) string { return f.unverified }, query: aAcceptQuery, vars: vars("t", emailTok), code: "FORBIDDEN"},

		// BUSINESS_PLAN_REQUIRED: admins of other plans.
		{name: "free-admin-query-auditlog-needs-business", token: admin, query: auditLogQuery, vars: vars("w", free), code: "BUSINESS_PLAN_REQUIRED"},
		{name: "teams-admin-query-auditlog-needs-business", token: admin, query: auditLogQuery, vars: vars("w", teams), code: "BUSINESS_PLAN_REQUIRED"},
		{name: "free-admin-export-needs-business", token: admin, query: aExportQ, vars: vars("w", free), code: "BUSINESS_PLAN_REQUIRED"},
		{name: "teams-admin-export-needs-business", token: admin, query: aExportQ, vars: vars("w", teams), code: "BUSINESS_PLAN_REQUIRED"},
		{name: "unknown-workspace-export-forbidden", token: admin, query: aExportQ, vars: vars("w", unknown), code: "FORBIDDEN"},
		{name: "free-admin-workspace-auditlog-needs-business", token: admin, query: aWorkspaceLogQ, vars: vars("w", free), code: "BUSINESS_PLAN_REQUIRED",
			check: aWantFieldError("auditLog", "BUSINESS_PLAN_REQUIRED", free)},
		{name: "teams-admin-workspace-auditlog-needs-business", token: admin, query: aWorkspaceLogQ, vars: vars("w", teams), code: "BUSINESS_PLAN_REQUIRED",
			check: aWantFieldError("auditLog", "BUSINESS_PLAN_REQUIRED", teams)},

		// NOT_FOUND.
		{name: "accept-unknown-token-not-found", token: outsider, query: aAcceptQuery, vars: vars("t", func(*aErrFixture) string { return aRandomToken() }), code: "NOT_FOUND"},
		{name: "accept-garbage-token-not-found", token: outsider, query: aAcceptQuery, vars: vars("t", "hello"), code: "NOT_FOUND"},
		{name: "accept-empty-token-not-found", token: outsider, query: aAcceptQuery, vars: vars("t", ""), code: "NOT_FOUND"},
		{name: "accept-deleted-token-not-found", token: outsider, query: aAcceptQuery, vars: func(t *testing.T, f *aErrFixture) map[string]any {
			return map[string]any{"t": deleted(t, f).Token}
		}, code: "NOT_FOUND"},
		{name: "accept-expired-token-not-found", token: outsider, query: aAcceptQuery, vars: func(t *testing.T, f *aErrFixture) map[string]any {
			inv := invite(t, f, "PUBLIC", "", timefmt.Format(f.s.clock.Now().Add(time.Minute)))
			f.s.clock.Advance(2 * time.Minute)
			return map[string]any{"t": inv.Token}
		}, code: "NOT_FOUND"},
		{name: "accept-used-email-token-not-found", token: func(*aErrFixture) string { return usedUser.token }, query: aAcceptQuery,
			vars: func(t *testing.T, f *aErrFixture) map[string]any {
				var inv aInvite
				inv, usedUser = used(t, f)
				return map[string]any{"t": inv.Token}
			}, code: "NOT_FOUND"},
		{name: "accept-used-email-token-by-other-account-same-email-not-found", token: func(*aErrFixture) string { return usedUser.token }, query: aAcceptQuery,
			vars: func(t *testing.T, f *aErrFixture) map[string]any {
				inv, u := used(t, f)
				usedUser = aUserWithEmail(t, f.s, "twin", u.email)
				return map[string]any{"t": inv.Token}
			}, code: "NOT_FOUND"},
		{name: "remove-non-member-not-found", token: admin, query: aRemoveQuery, vars: vars("w", biz, "u", outsiderID), code: "NOT_FOUND"},
		{name: "remove-unknown-user-not-found", token: admin, query: aRemoveQuery, vars: vars("w", biz, "u", "no-such-user"), code: "NOT_FOUND"},
		{name: "update-role-of-non-member-not-found", token: admin, query: aRoleQuery, vars: vars("w", biz, "u", outsiderID, "r", "ADMIN"), code: "NOT_FOUND"},
		{name: "update-role-of-unknown-user-not-found", token: admin, query: aRoleQuery, vars: vars("w", biz, "u", "no-such-user", "r", "MEMBER"), code: "NOT_FOUND"},
		{name: "delete-unknown-invite-not-found", token: admin, query: aDeleteInviteQuery, vars: vars("w", biz, "id", unknown), code: "NOT_FOUND"},
		{name: "delete-malformed-invite-id-not-found", token: admin, query: aDeleteInviteQuery, vars: vars("w", biz, "id", "nope"), code: "NOT_FOUND"},
		{name: "delete-deleted-invite-not-found", token: admin, query: aDeleteInviteQuery, vars: func(t *testing.T, f *aErrFixture) map[string]any {
			return map[string]any{"w": f.biz, "id": deleted(t, f).ID}
		}, code: "NOT_FOUND"},
		{name: "add-unknown-email-not-found", token: admin, query: aAddQuery, vars: vars("w", biz, "e", "nobody.ever@example.com"), code: "NOT_FOUND"},
		{name: "set-plan-of-unknown-workspace-not-found", token: billing, query: aSetPlanQ, vars: vars("w", unknown, "p", "BUSINESS"), code: "NOT_FOUND"},
		{name: "set-plan-of-malformed-workspace-id-not-found", token: billing, query: aSetPlanQ, vars: vars("w", "nope", "p", "BUSINESS"), code: "NOT_FOUND"},

		// BAD_USER_INPUT: paging.
		{name: "first-and-last-together", token: admin, query: auditLogQuery, vars: page("first", 10, "last", 10), code: "BAD_USER_INPUT"},
		{name: "first-zero", token: admin, query: auditLogQuery, vars: page("first", 0), code: "BAD_USER_INPUT"},
		{name: "first-negative", token: admin, query: auditLogQuery, vars: page("first", -1), code: "BAD_USER_INPUT"},
		{name: "first-101", token: admin, query: auditLogQuery, vars: page("first", 101), code: "BAD_USER_INPUT"},
		{name: "last-zero", token: admin, query: auditLogQuery, vars: page("last", 0), code: "BAD_USER_INPUT"},
		{name: "last-101", token: admin, query: auditLogQuery, vars: page("last", 101), code: "BAD_USER_INPUT"},
		{name: "garbage-after-cursor", token: admin, query: auditLogQuery, vars: page("after", "garbage"), code: "BAD_USER_INPUT"},
		{name: "garbage-before-cursor", token: admin, query: auditLogQuery, vars: page("last", 5, "before", "garbage"), code: "BAD_USER_INPUT"},
		{name: "tampered-cursor", token: admin, query: auditLogQuery, vars: func(t *testing.T, f *aErrFixture) map[string]any {
			c := []byte(cursorOf(t, f, f.biz))
			c[5] ^= 1 // still base64url, another position
			return map[string]any{"w": f.biz, "after": string(c)}
		}, code: "BAD_USER_INPUT"},
		{name: "cursor-from-another-workspaces-log", token: admin, query: auditLogQuery, vars: func(t *testing.T, f *aErrFixture) map[string]any {
			return map[string]any{"w": f.biz, "after": cursorOf(t, f, f.other)}
		}, code: "BAD_USER_INPUT"},
		// BAD_USER_INPUT: invites.
		{name: "email-invite-without-email", token: admin, query: aCreateInviteQuery, vars: inviteVars(biz, "EMAIL", "", "", ""), code: "BAD_USER_INPUT"},
		{name: "email-invite-with-invalid-email", token: admin, query: aCreateInviteQuery, vars: inviteVars(biz, "EMAIL", "not-an-email", "", ""), code: "BAD_USER_INPUT"},
		{name: "email-invite-with-display-name", token: admin, query: aCreateInviteQuery, vars: inviteVars(biz, "EMAIL", "Bob <bob@example.com>", "", ""), code: "BAD_USER_INPUT"},
		{name: "public-invite-with-email", token: admin, query: aCreateInviteQuery, vars: inviteVars(biz, "PUBLIC", "someone@example.com", "", ""), code: "BAD_USER_INPUT"},
		{name: "invite-expiring-in-the-past", token: admin, query: aCreateInviteQuery, vars: func(_ *testing.T, f *aErrFixture) map[string]any {
			return aInviteVars(f.biz, "PUBLIC", "", "", timefmt.Format(f.s.clock.Now().Add(-time.Hour)))
		}, code: "BAD_USER_INPUT"},
		{name: "invite-with-bad-time-literal", token: admin, query: aCreateInviteQuery, vars: inviteVars(biz, "PUBLIC", "", "", "tomorrow"), code: "BAD_USER_INPUT"},
		// BAD_USER_INPUT: workspaces and filters.
		{name: "empty-workspace-name", token: admin, query: aCreateWSQ, vars: vars("n", ""), code: "BAD_USER_INPUT"},
		{name: "blank-workspace-name", token: admin, query: aCreateWSQ, vars: vars("n", "   "), code: "BAD_USER_INPUT"},
		{name: "filter-since-equals-until", token: admin, query: aLogWithFilterQ, vars: vars("w", biz, "f", map[string]any{
			"since": "2026-01-01T00:00:00.000Z", "until": "2026-01-01T00:00:00.000Z"}), code: "BAD_USER_INPUT"},
		{name: "filter-since-after-until", token: admin, query: aLogWithFilterQ, vars: vars("w", biz, "f", map[string]any{
			"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}), code: "BAD_USER_INPUT"},
		{name: "filter-bad-time-variable", token: admin, query: aLogWithFilterQ, vars: vars("w", biz, "f", map[string]any{"since": "yesterday"}), code: "BAD_USER_INPUT"},
		{name: "filter-bad-time-literal", token: admin, query: `query($w: ID!) { auditLog(workspaceId: $w, filter: {until: "2026-13-45"}) { edges { cursor } } }`,
			vars: vars("w", biz), code: "BAD_USER_INPUT"},
		{name: "filter-time-not-a-string", token: admin, query: aLogWithFilterQ, vars: vars("w", biz, "f", map[string]any{"since": 1700000000}), code: "BAD_USER_INPUT"},

		// CONFLICT.
		{name: "add-existing-member-conflict", token: admin, query: aAddQuery, vars: func(_ *testing.T, f *aErrFixture) map[string]any {
			return map[string]any{"w": f.biz, "e": f.member.email, "r": "ADMIN"}
		}, code: "CONFLICT"},
		{name: "remove-last-admin-conflict", token: admin, query: aRemoveQuery, vars: vars("w", biz, "u", adminID), code: "CONFLICT"},
		{name: "demote-last-admin-conflict", token: admin, query: aRoleQuery, vars: vars("w", biz, "u", adminID, "r", "MEMBER"), code: "CONFLICT"},
		{name: "second-pending-email-invite-conflict", token: admin, query: aCreateInviteQuery, vars: func(_ *testing.T, f *aErrFixture) map[string]any {
			return aInviteVars(f.biz, "EMAIL", f.invitee.email, "", "")
		}, code: "CONFLICT"},
		{name: "second-pending-email-invite-other-case-conflict", token: admin, query: aCreateInviteQuery, vars: func(_ *testing.T, f *aErrFixture) map[string]any {
			return aInviteVars(f.biz, "EMAIL", strings.ToUpper(f.invitee.email), "ADMIN", "")
		}, code: "CONFLICT"},

		// gqlgen's own codes.
		{name: "unparseable-query", token: admin, query: `{ viewer { id `, vars: none, code: "GRAPHQL_PARSE_FAILED"},
		{name: "unparseable-mutation", token: anon, query: `mutation { removeMember(`, vars: none, code: "GRAPHQL_PARSE_FAILED"},
		{name: "unknown-field", token: admin, query: `{ viewer { id password } }`, vars: none, code: "GRAPHQL_VALIDATION_FAILED"},
		{name: "missing-argument", token: admin, query: `{ workspace { id } }`, vars: none, code: "GRAPHQL_VALIDATION_FAILED"},
		{name: "unknown-enum-literal", token: admin, query: `mutation($w: ID!) { createInviteLink(input: {workspaceId: $w, kind: SOMETIMES}) { token } }`,
			vars: vars("w", biz), code: "GRAPHQL_VALIDATION_FAILED"},
		{name: "unknown-enum-variable", token: admin, query: aRoleQuery, vars: vars("w", biz, "u", memberID, "r", "OWNER"), code: "GRAPHQL_VALIDATION_FAILED"},
		{name: "missing-required-variable", token: admin, query: aRemoveQuery, vars: vars("w", biz), code: "GRAPHQL_VALIDATION_FAILED"},
	}

	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, map[string]string{"AUDITLOG_INVITE_ATTEMPTS_PER_MINUTE": "1000000"})
		f := aNewErrFixture(t, s)
		// The cases run in order on one server: each compares the whole
		// database before and after its request.
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				v := tc.vars(t, f)
				before := aSnapshot(t, s)
				r := s.post(t, tc.token(f), tc.query, v)
				if r.code() != tc.code {
					t.Fatalf("want %s, got status %d: %s", tc.code, r.Status, r.Raw)
				}
				aCheckCodes(t, r)
				if tc.check != nil {
					tc.check(t, f, r)
				}
				if diff := cmp.Diff(before, aSnapshot(t, s)); diff != "" {
					t.Errorf("a refused request changed the database (-before +after):\n%s", diff)
				}
			})
		}
		// The refusals left the fixture working: the right person can still
		// accept the email invite and the public link still admits people.
		aMust(t, s, f.invitee.token, aAcceptQuery, map[string]any{"t": f.email.Token})
		aMust(t, s, f.outsider.token, aAcceptQuery, map[string]any{"t": f.public.Token})
		want := map[string]string{f.admin.id: "ADMIN", f.member.id: "MEMBER", f.invitee.id: "MEMBER", f.outsider.id: "MEMBER"}
		if diff := cmp.Diff(want, aMembers(t, s, f.admin.token, f.biz)); diff != "" {
			t.Errorf("members of biz after all refusals (-want +got):\n%s", diff)
		}
	})
}

func TestErrorsRejectedTokensAreHTTP401(t *testing.T) {
	t.Parallel()
	secret := []byte(testSecret)
	valid := func(sub string) map[string]any {
		return map[string]any{"sub": sub, "email": sub + "@example.com", "exp": time.Now().Add(time.Hour).Unix()}
	}
	with := func(m map[string]any, kv ...any) map[string]any {
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
			} else {
				m[kv[i].(string)] = kv[i+1]
			}
		}
		return m
	}
	cases := []struct {
		name string
		sub  string // a user that must not be created
		auth func(t *testing.T) string
	}{
		{name: "malformed-token", auth: func(*testing.T) string { return "Bearer not-a-jwt" }},
		{name: "malformed-three-parts", auth: func(*testing.T) string { return "Bearer abc.def.ghi" }},
		{name: "expired-token", sub: "intruder-expired", auth: func(t *testing.T) string {
			return "Bearer " + aJWT(t, jwa.HS256, secret, with(valid("intruder-expired"), "exp", time.Now().Add(-time.Hour).Unix(), "iat", time.Now().Add(-2*time.Hour).Unix()))
		}},
		{name: "exp-zero", sub: "intruder-exp-zero", auth: func(t *testing.T) string {
			return "Bearer " + aJWT(t, jwa.HS256, secret, with(valid("intruder-exp-zero"), "exp", 0))
		}},
		{name: "no-exp", sub: "intruder-no-exp", auth: func(t *testing.T) string {
			return "Bearer " + aJWT(t, jwa.HS256, secret, with(valid("intruder-no-exp"), "exp", nil))
		}},
		{name: "not-yet-valid", sub: "intruder-nbf", auth: func(t *testing.T) string {
			return "Bearer " + aJWT(t, jwa.HS256, secret, with(valid("intruder-nbf"), "nbf", time.Now().Add(time.Hour).Unix()))
		}},
		{name: "signed-with-another-secret", sub: "intruder-secret", auth: func(t *testing.T) string {
			return "Bearer " + aJWT(t, jwa.HS256, []byte("another-secret-0123456789-abcdefghijklmnopqrstuvwxyz"), valid("intruder-secret"))
		}},
		{name: "alg-none", sub: "intruder-none", auth: func(t *testing.T) string {
			return "Bearer " + aJWT(t, jwa.NoSignature, nil, valid("intruder-none"))
		}},
		{name: "other-algorithm-same-secret", sub: "intruder-hs512", auth: func(t *testing.T) string {
			return "Bearer " + aJWT(t, jwa.HS512, secret, valid("intruder-hs512"))
		}},
		{name: "no-sub", auth: func(t *testing.T) string {
			return "Bearer " + aJWT(t, jwa.HS256, secret, with(valid("x"), "sub", nil))
		}},
		{name: "signature-of-another-payload", sub: "intruder-splice", auth: func(t *testing.T) string {
			a := strings.Split(aJWT(t, jwa.HS256, secret, valid("honest")), ".")
			b := strings.Split(aJWT(t, jwa.HS256, []byte("x-secret-0123456789-abcdefghijklmnopqrstuvwxyz"), valid("intruder-splice")), ".")
			return "Bearer " + b[0] + "." + b[1] + "." + a[2]
		}},
		{name: "basic-authorization", auth: func(*testing.T) string { return "Basic dXNlcjpwYXNzd29yZA==" }},
		{name: "valid-token-with-other-scheme", sub: "intruder-scheme", auth: func(t *testing.T) string {
			return "Token " + aJWT(t, jwa.HS256, secret, valid("intruder-scheme"))
		}},
		{name: "bearer-without-token", auth: func(*testing.T) string { return "Bearer" }},
	}
	want := map[string]any{"errors": []any{map[string]any{"message": "<some message>", "extensions": map[string]any{"code": "UNAUTHENTICATED"}}}}
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, nil)
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				before := aSnapshot(t, s)
				r := s.post(t, "", aCreateWSQ, map[string]any{"n": "Intruder"}, withHeader("Authorization", tc.auth(t)))
				if r.Status != http.StatusUnauthorized {
					t.Errorf("status %d, want 401: %s", r.Status, r.Raw)
				}
				if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
					t.Errorf("Content-Type %q, want application/json", ct)
				}
				var body map[string]any
				if err := json.Unmarshal([]byte(r.Raw), &body); err != nil {
					t.Fatalf("body is not JSON: %v: %s", err, r.Raw)
				}
				if errs, ok := body["errors"].([]any); ok && len(errs) == 1 {
					if e, ok := errs[0].(map[string]any); ok {
						if m, ok := e["message"].(string); ok && m != "" {
							e["message"] = "<some message>"
						}
					}
				}
				if diff := cmp.Diff(want, body); diff != "" {
					t.Errorf("body (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(before, aSnapshot(t, s)); diff != "" {
					t.Errorf("a rejected token changed the database (-before +after):\n%s", diff)
				}
				if tc.sub != "" {
					var n int
					for _, p := range s.app.DB.Pools() {
						if err := p.QueryRow("SELECT COUNT(*) FROM users WHERE id = ?", tc.sub).Scan(&n); err != nil {
							t.Fatal(err)
						}
						break
					}
					if n != 0 {
						t.Errorf("a rejected token created user %s", tc.sub)
					}
				}
			})
		}
	})
}

func TestEmailInviteEmailComparedWithoutCase(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, nil)
		admin := s.newUser(t, "admin")
		ws := s.newWorkspace(t, admin, "BUSINESS")
		email := fmt.Sprintf("mixed.case.%d@example.com", userSeq.Add(1))
		inv, _ := aCreateInvite(t, s, admin.token, ws, "EMAIL", email, "")
		u := aUserWithEmail(t, s, "mixed", strings.ToUpper(email[:5])+email[5:len(email)-3]+"COM")
		s.ok(t, u.token, aAcceptQuery, map[string]any{"t": inv.Token})
		if role := aMembers(t, s, admin.token, ws)[u.id]; role != "MEMBER" {
			t.Errorf("role %q, want MEMBER", role)
		}
		// An explicit "email_verified": true is as good as none.
		email2 := fmt.Sprintf("verified.%d@example.com", userSeq.Add(1))
		inv2, _ := aCreateInvite(t, s, admin.token, ws, "EMAIL", email2, "")
		tok := aJWT(t, jwa.HS256, []byte(testSecret), map[string]any{"sub": "verified-" + email2, "email": email2,
			"email_verified": true, "exp": time.Now().Add(time.Hour).Unix()})
		s.ok(t, tok, aAcceptQuery, map[string]any{"t": inv2.Token})
	})
}

func TestErrorsInternalRevealsNoSQL(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, nil)
		admin := s.newUser(t, "admin")
		ws := s.newWorkspace(t, admin, "FREE")
		billing := s.billingToken(t)
		if err := s.app.DB.Close(); err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name  string
			token string
			query string
			vars  map[string]any
		}{
			{name: "user-request-with-database-down", token: admin.token, query: aCreateWSQ, vars: map[string]any{"n": "Down"}},
			{name: "service-request-with-database-down", token: billing, query: aSetPlanQ, vars: map[string]any{"w": ws, "p": "BUSINESS"}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := s.post(t, tc.token, tc.query, tc.vars)
				if r.code() != "INTERNAL" {
					t.Fatalf("want INTERNAL, got status %d: %s", r.Status, r.Raw)
				}
				aCheckCodes(t, r)
				reqID := r.Header.Get("X-Request-Id")
				if reqID == "" {
					t.Fatal("no X-Request-Id header")
				}
				msg := r.Errors[0].Message
				if !strings.Contains(msg, reqID) {
					t.Errorf("message %q does not quote the request id %s", msg, reqID)
				}
				lower := strings.ToLower(msg)
				for _, leak := range []string{"sql", "select", "insert", "update ", "from ", "database is closed", "gorm", ".go:", "goroutine", "storage:"} {
					if strings.Contains(lower, leak) {
						t.Errorf("message %q reveals %q", msg, leak)
					}
				}
				// The detail is in the log, under the request id.
				var found bool
				for _, line := range strings.Split(s.logs.String(), "\n") {
					var l map[string]any
					if json.Unmarshal([]byte(line), &l) != nil || l["request_id"] != reqID {
						continue
					}
					if lvl, _ := l["level"].(string); lvl == "ERROR" && l["error"] != nil {
						found = true
					}
				}
				if !found {
					t.Errorf("no ERROR log line with the cause under request_id %s:\n%s", reqID, aLastLines(s.logs.String(), 5))
				}
			})
		}
	})
}

func aLastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
