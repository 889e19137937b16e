package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/auditlogd/auditlogd/internal/testenv"
)

// This file checks docs/API.md §10, partner access: API keys of a workspace
// that read its log and nothing else.

const kCreateQuery = `mutation($w: ID!, $n: String!, $e: Time) { createApiKey(input: {workspaceId: $w, name: $n, expiresAt: $e}) {
	token apiKey { id name prefix createdAt createdBy { id } expiresAt lastUsedAt revokedAt } } }`

type kKey struct {
	Token  string
	APIKey struct {
		ID, Name, Prefix string
		CreatedBy        struct{ ID string }
		ExpiresAt        *string
		LastUsedAt       *string
		RevokedAt        *string
	}
}

// kCreate makes a key as admin and returns it.
func kCreate(t *testing.T, s *server, admin user, ws, name string) kKey {
	t.Helper()
	var out struct{ CreateAPIKey kKey }
	s.ok(t, admin.token, kCreateQuery, map[string]any{"w": ws, "n": name}, &out)
	return out.CreateAPIKey
}

// kFixture is a BUSINESS workspace with an admin, a member and a key, and
// another BUSINESS workspace of another admin.
type kFixture struct {
	s                  *server
	admin, member, two user
	ws, other          string
	key                kKey
}

func kSetup(t *testing.T, db testenv.DB, env map[string]string) *kFixture {
	t.Helper()
	s := newServer(t, db, env)
	f := &kFixture{s: s, admin: s.newUser(t, "admin"), member: s.newUser(t, "member"), two: s.newUser(t, "two")}
	f.ws = s.newWorkspace(t, f.admin, "BUSINESS")
	s.addMember(t, f.admin, f.ws, f.member, "MEMBER")
	f.other = s.newWorkspace(t, f.two, "BUSINESS")
	f.key = kCreate(t, s, f.admin, f.ws, "Splunk")
	return f
}

// TestAPIKeyIsCreatedOnceAndAudited: the token is alk_ and at least 128
// random bits, shown once; its prefix is its first 12 characters; the list
// shows the key without the token; both mutations write their events with an
// API_KEY target labelled by the key's name; only admins of BUSINESS
// workspaces may create keys.
func TestAPIKeyIsCreatedOnceAndAudited(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		f := kSetup(t, db, nil)
		k := f.key
		if !strings.HasPrefix(k.Token, "alk_") || len(k.Token) < 4+22 || k.APIKey.Prefix != k.Token[:12] || k.APIKey.CreatedBy.ID != f.admin.id {
			t.Fatalf("created key %+v", k)
		}
		if other := kCreate(t, f.s, f.admin, f.ws, "Datadog"); other.Token == k.Token {
			t.Fatal("two keys share a token")
		}
		r := f.s.ok(t, f.admin.token, `query($w: ID!) { workspace(id: $w) { apiKeys { id name prefix revokedAt } } }`, map[string]any{"w": f.ws})
		if strings.Contains(r.Raw, k.Token) || !strings.Contains(r.Raw, k.APIKey.Prefix) {
			t.Errorf("the key list shows the token or hides the prefix: %s", r.Raw)
		}
		f.s.ok(t, f.admin.token, `mutation($w: ID!, $id: ID!) { revokeApiKey(workspaceId: $w, id: $id) { revokedApiKeyId } }`,
			map[string]any{"w": f.ws, "id": k.APIKey.ID})
		f.s.fails(t, f.admin.token, `mutation($w: ID!, $id: ID!) { revokeApiKey(workspaceId: $w, id: $id) { revokedApiKeyId } }`,
			map[string]any{"w": f.ws, "id": k.APIKey.ID}, "NOT_FOUND")
		events := f.s.allEvents(t, f.admin.token, f.ws, map[string]any{"actions": []string{"API_KEY_CREATED", "API_KEY_REVOKED"}})
		var got []string
		for _, e := range events {
			if e.Target == nil || e.Target.Type != "API_KEY" || e.Actor.ID != f.admin.id {
				t.Errorf("event %+v", e)
				continue
			}
			if e.Target.ID == k.APIKey.ID {
				got = append(got, e.Action+":"+deref(e.Target.Label))
			}
		}
		if strings.Join(got, ",") != "API_KEY_REVOKED:Splunk,API_KEY_CREATED:Splunk" {
			t.Errorf("events of the key: %v", got)
		}

		free := f.s.newWorkspace(t, f.admin, "TEAMS")
		f.s.fails(t, f.admin.token, kCreateQuery, map[string]any{"w": free, "n": "x"}, "BUSINESS_PLAN_REQUIRED")
		f.s.fails(t, f.member.token, kCreateQuery, map[string]any{"w": f.ws, "n": "x"}, "FORBIDDEN")
		f.s.fails(t, f.admin.token, kCreateQuery, map[string]any{"w": f.ws, "n": " "}, "BAD_USER_INPUT")
		f.s.fails(t, f.admin.token, kCreateQuery, map[string]any{"w": f.ws, "n": "x", "e": "2001-01-01T00:00:00Z"}, "BAD_USER_INPUT")
	})
}

// TestAPIKeyReadsOnlyItsWorkspacesLog: a key reads its workspace's log
// (auditLog, workspace(id) with name, plan and auditLog inside) and nothing
// else: every other operation, and its workspace's other fields, are
// FORBIDDEN, and so is any other workspace.
func TestAPIKeyReadsOnlyItsWorkspacesLog(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		f := kSetup(t, db, nil)
		key := f.key.Token
		var page struct {
			AuditLog struct {
				TotalCount int
				Nodes      []event
			}
		}
		f.s.ok(t, key, `query($w: ID!) { auditLog(workspaceId: $w, first: 100) { totalCount nodes { `+eventFields+` } } }`, map[string]any{"w": f.ws}, &page)
		if page.AuditLog.TotalCount == 0 || len(page.AuditLog.Nodes) != page.AuditLog.TotalCount {
			t.Errorf("the key read %d of %d events", len(page.AuditLog.Nodes), page.AuditLog.TotalCount)
		}
		var ws struct {
			Workspace struct {
				Name, Plan string
				AuditLog   struct{ TotalCount int }
			}
		}
		f.s.ok(t, key, `query($w: ID!) { workspace(id: $w) { name plan auditLog { totalCount } } }`, map[string]any{"w": f.ws}, &ws)
		if ws.Workspace.Plan != "BUSINESS" || ws.Workspace.AuditLog.TotalCount != page.AuditLog.TotalCount {
			t.Errorf("workspace as the key: %+v", ws)
		}

		for _, tc := range []struct {
			name, query string
			vars        map[string]any
		}{
			{"other-workspace-log", `query($w: ID!) { auditLog(workspaceId: $w) { totalCount } }`, map[string]any{"w": f.other}},
			{"viewer", `{ viewer { id } }`, nil},
			{"workspaces", `{ workspaces { id } }`, nil},
			{"members", `query($w: ID!) { workspace(id: $w) { members { role } } }`, map[string]any{"w": f.ws}},
			{"viewer-role", `query($w: ID!) { workspace(id: $w) { viewerRole } }`, map[string]any{"w": f.ws}},
			{"invite-links", `query($w: ID!) { workspace(id: $w) { inviteLinks { id } } }`, map[string]any{"w": f.ws}},
			{"api-keys", `query($w: ID!) { workspace(id: $w) { apiKeys { id } } }`, map[string]any{"w": f.ws}},
			{"create-workspace", `mutation { createWorkspace(input: {name: "K"}) { id } }`, nil},
			{"create-invite", `mutation($w: ID!) { createInviteLink(input: {workspaceId: $w, kind: PUBLIC}) { token } }`, map[string]any{"w": f.ws}},
			{"add-member", aAddQuery, map[string]any{"w": f.ws, "e": f.two.email}},
			{"remove-member", aRemoveQuery, map[string]any{"w": f.ws, "u": f.member.id}},
			{"update-role", aRoleQuery, map[string]any{"w": f.ws, "u": f.member.id, "r": "ADMIN"}},
			{"accept-invite", aAcceptQuery, map[string]any{"t": "inv_x"}},
			{"create-key", kCreateQuery, map[string]any{"w": f.ws, "n": "more"}},
			{"revoke-key", `mutation($w: ID!, $id: ID!) { revokeApiKey(workspaceId: $w, id: $id) { revokedApiKeyId } }`, map[string]any{"w": f.ws, "id": f.key.APIKey.ID}},
			{"set-plan", `mutation($w: ID!) { setWorkspacePlan(workspaceId: $w, plan: FREE) { id } }`, map[string]any{"w": f.ws}},
			{"export-other-workspace", `mutation($w: ID!) { exportAuditLog(input: {workspaceId: $w, format: CSV}) { url } }`, map[string]any{"w": f.other}},
			{"trusted-domains", `query($w: ID!) { workspace(id: $w) { trustedDomains } }`, map[string]any{"w": f.ws}},
			{"set-trusted-domains", `mutation($w: ID!) { setTrustedDomains(workspaceId: $w, domains: ["example.org"]) { id } }`, map[string]any{"w": f.ws}},
			{"summary-other-workspace", `query($w: ID!) { auditLogSummary(workspaceId: $w) { total } }`, map[string]any{"w": f.other}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := f.s.post(t, key, tc.query, tc.vars)
				if r.code() != "FORBIDDEN" {
					t.Errorf("status %d, code %q, want FORBIDDEN: %s", r.Status, r.code(), r.Raw)
				}
			})
		}
		// The summary is a read of the key's own log (docs/API.md §14: the
		// same access as auditLog).
		var sum struct{ AuditLogSummary struct{ Total int } }
		f.s.ok(t, key, `query($w: ID!) { auditLogSummary(workspaceId: $w) { total } }`, map[string]any{"w": f.ws}, &sum)
		if sum.AuditLogSummary.Total != page.AuditLog.TotalCount {
			t.Errorf("the key's summary counts %d events, its log %d", sum.AuditLogSummary.Total, page.AuditLog.TotalCount)
		}
		var other struct{ Workspace *struct{ ID string } }
		f.s.ok(t, key, `query($w: ID!) { workspace(id: $w) { id } }`, map[string]any{"w": f.other}, &other)
		if other.Workspace != nil {
			t.Error("the key sees another workspace")
		}
		// The plan must still be BUSINESS.
		f.s.ok(t, f.s.billingToken(t), `mutation($w: ID!) { setWorkspacePlan(workspaceId: $w, plan: TEAMS) { id } }`, map[string]any{"w": f.ws})
		f.s.fails(t, key, `query($w: ID!) { auditLog(workspaceId: $w) { totalCount } }`, map[string]any{"w": f.ws}, "BUSINESS_PLAN_REQUIRED")
	})
}

// TestAPIKeyExportsAsAServiceActor: an export by a key writes
// AUDIT_LOG_EXPORTED with actor {id: key id, email: null, type: SERVICE};
// its download works without a header, and stops working (403) once the key
// is revoked. A revoked key, an expired key and an unknown key get HTTP 401.
func TestAPIKeyExportsAsAServiceActor(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		f := kSetup(t, db, nil)
		var out struct{ ExportAuditLog struct{ ID, URL string } }
		f.s.ok(t, f.key.Token, `mutation($w: ID!) { exportAuditLog(input: {workspaceId: $w, format: JSON}) { id url } }`, map[string]any{"w": f.ws}, &out)
		events := f.s.allEvents(t, f.admin.token, f.ws, map[string]any{"actions": []string{"AUDIT_LOG_EXPORTED"}})
		if len(events) != 1 || events[0].Actor.ID != f.key.APIKey.ID || events[0].Actor.Email != nil || events[0].Actor.Type != "SERVICE" {
			t.Fatalf("export event %+v, want actor {%s, null, SERVICE}", events, f.key.APIKey.ID)
		}
		if got := xGet(t, out.ExportAuditLog.URL); got.Status != http.StatusOK {
			t.Fatalf("download: %d %s", got.Status, got.Body)
		}
		f.s.ok(t, f.admin.token, `mutation($w: ID!, $id: ID!) { revokeApiKey(workspaceId: $w, id: $id) { revokedApiKeyId } }`,
			map[string]any{"w": f.ws, "id": f.key.APIKey.ID})
		if got := xGet(t, out.ExportAuditLog.URL); got.Status != http.StatusForbidden {
			t.Errorf("download after the key was revoked: %d, want 403", got.Status)
		}
		for name, tok := range map[string]string{"revoked": f.key.Token, "unknown": "alk_" + strings.Repeat("A", 43), "malformed": "alk_"} {
			r := f.s.post(t, tok, `query($w: ID!) { auditLog(workspaceId: $w) { totalCount } }`, map[string]any{"w": f.ws})
			if r.Status != http.StatusUnauthorized || r.code() != "UNAUTHENTICATED" {
				t.Errorf("%s key: status %d %s, want 401", name, r.Status, r.Raw)
			}
		}
		var exp struct{ CreateAPIKey kKey }
		f.s.ok(t, f.admin.token, kCreateQuery, map[string]any{"w": f.ws, "n": "short", "e": f.s.clock.Now().Add(time.Hour).UTC().Format(time.RFC3339)}, &exp)
		f.s.ok(t, exp.CreateAPIKey.Token, `query($w: ID!) { auditLog(workspaceId: $w) { totalCount } }`, map[string]any{"w": f.ws})
		f.s.clock.Advance(2 * time.Hour)
		if r := f.s.post(t, exp.CreateAPIKey.Token, `{ __typename }`, nil); r.Status != http.StatusUnauthorized {
			t.Errorf("expired key: status %d %s, want 401", r.Status, r.Raw)
		}
	})
}

// TestAPIKeyLastUsedIsCoalesced: lastUsedAt follows the key's use to within
// a minute, without a write per request.
func TestAPIKeyLastUsedIsCoalesced(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		f := kSetup(t, db, nil)
		lastUsed := func() string {
			var out struct {
				Workspace struct {
					APIKeys []struct {
						ID         string
						LastUsedAt *string
					}
				}
			}
			f.s.ok(t, f.admin.token, `query($w: ID!) { workspace(id: $w) { apiKeys { id lastUsedAt } } }`, map[string]any{"w": f.ws}, &out)
			for _, k := range out.Workspace.APIKeys {
				if k.ID == f.key.APIKey.ID {
					if k.LastUsedAt == nil {
						return ""
					}
					return *k.LastUsedAt
				}
			}
			t.Fatal("the key is not listed")
			return ""
		}
		if got := lastUsed(); got != "" {
			t.Fatalf("an unused key has lastUsedAt %s", got)
		}
		use := func() string {
			r := f.s.post(t, f.key.Token, `query($w: ID!) { auditLog(workspaceId: $w, first: 1) { nodes { id } } }`, map[string]any{"w": f.ws})
			if r.Status != http.StatusOK || len(r.Errors) > 0 {
				t.Fatalf("use: %s", r.Raw)
			}
			return r.Header.Get("X-Request-Id")
		}
		use()
		first := lastUsed()
		if first == "" {
			t.Fatal("lastUsedAt not set after a use")
		}
		f.s.clock.Advance(20 * time.Second)
		req := use()
		if got := lastUsed(); got != first {
			t.Errorf("lastUsedAt moved within a minute: %s → %s", first, got)
		}
		if n := sDBQueries(t, f.s, req); n > 2 {
			t.Errorf("a request with a key cost %d statements (key lookup, page): the use was written again", n)
		}
		f.s.clock.Advance(2 * time.Minute)
		use()
		if got := lastUsed(); got <= first {
			t.Errorf("lastUsedAt %s after a use two minutes later, was %s", got, first)
		}
	})
}

// TestAPIKeyIsRateLimitedPerKey: a key has its own allowance; another key
// and users are not affected when it runs out.
func TestAPIKeyIsRateLimitedPerKey(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		// 2 per second, bursts of 10: the setup's few requests per user fit.
		f := kSetup(t, db, map[string]string{"AUDITLOG_RATE_LIMIT_RPS": "2"})
		second := kCreate(t, f.s, f.admin, f.ws, "second")
		q := `{ __typename }`
		limited := 0
		for range 20 {
			if r := f.s.post(t, f.key.Token, q, nil); r.Status == http.StatusTooManyRequests {
				limited++
			}
		}
		if limited == 0 {
			t.Fatal("twenty quick requests with one key were never limited (bursts of 10 at 2 per second)")
		}
		if r := f.s.post(t, second.Token, q, nil); r.Status != http.StatusOK {
			t.Errorf("another key is limited too: %d", r.Status)
		}
	})
}
