package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/auditlogd/auditlogd/internal/auth"
	"github.com/auditlogd/auditlogd/internal/testenv"
)

// The tests of this file reproduce the findings of the outside security
// review (issue 14), each as the attacker tried it, and show that it now
// fails. Findings of the HTTP edge (rate-limit order, metrics labels, the
// Playground, stalled downloads) are tested with the edge.

// sDBQueries returns the number of database statements the request with
// requestID cost, from its access-log line.
func sDBQueries(t *testing.T, s *server, requestID string) int {
	t.Helper()
	for _, line := range strings.Split(s.logs.String(), "\n") {
		if !strings.Contains(line, `"msg":"request"`) || !strings.Contains(line, `"request_id":"`+requestID+`"`) {
			continue
		}
		var entry struct {
			DBQueries *int `json:"db_queries"`
		}
		if err := json.Unmarshal([]byte(line), &entry); err != nil || entry.DBQueries == nil {
			t.Fatalf("access log line without db_queries: %s", line)
		}
		return *entry.DBQueries
	}
	t.Fatalf("no access log line for request %s", requestID)
	return 0
}

// TestSecurityWorkspaceFieldsCostOneAccessReadPerWorkspace reproduces
// finding 1 (one request exhausting the server through per-workspace fields
// and aliases). The cost model refuses the attack itself (a list of
// workspaces costs its maximum length times its selection; see
// graphqlhttp_test.go); what it admits costs a bounded number of
// statements: the access rows come with the list of workspaces, one access
// row per workspace reached by id however many fields or aliases ask, and
// member and invite lists in one batch each.
func TestSecurityWorkspaceFieldsCostOneAccessReadPerWorkspace(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, nil)
		statements := func(u user, q string) int {
			r := s.post(t, u.token, q, nil)
			if r.Status != http.StatusOK || len(r.Errors) > 0 {
				t.Fatalf("query failed: %d %s", r.Status, r.Raw)
			}
			return sDBQueries(t, s, r.Header.Get("X-Request-Id"))
		}
		u := s.newUser(t, "many")
		var ws []string
		for range 6 {
			ws = append(ws, s.newWorkspace(t, u, "FREE"))
		}
		// The list: one statement for the workspaces and the roles in them,
		// whatever the number of aliases.
		list := func(aliases int) string {
			var b strings.Builder
			b.WriteString("{ workspaces { id ")
			for i := range aliases {
				fmt.Fprintf(&b, "r%d: viewerRole d%d: trustedDomains ", i, i)
			}
			b.WriteString("} }")
			return b.String()
		}
		if a, b := statements(u, list(1)), statements(u, list(20)); a != 1 || b != 1 {
			t.Errorf("the list of workspaces with 1 and 20 aliases of viewerRole and trustedDomains cost %d and %d statements, want 1", a, b)
		}
		// Workspaces by id: one access row each, however many fields ask;
		// their member and invite lists batched.
		byID := func(n, aliases int) string {
			var b strings.Builder
			b.WriteString("{ ")
			for i, id := range ws[:n] {
				fmt.Fprintf(&b, "w%d: workspace(id: %q) { id ", i, id)
				for k := range aliases {
					fmt.Fprintf(&b, "r%d: viewerRole m%d: members { role } i%d: inviteLinks { id } d%d: trustedDomains ", k, k, k, k)
				}
				b.WriteString("} ")
			}
			b.WriteString("}")
			return b.String()
		}
		for _, tc := range []struct{ n, aliases int }{{2, 1}, {2, 4}, {6, 1}, {6, 4}} {
			got := statements(u, byID(tc.n, tc.aliases))
			// At most one access row, one workspace row, one member list
			// and one invite list per workspace, whatever the number of
			// aliases: the dataloaders batch what arrives together, so on
			// an idle machine it is far fewer, but how many batches form
			// depends on scheduling, and the bound must not. Without the
			// request's cache, 4 aliases would cost 4 times this.
			if bound := 4 * tc.n; got > bound {
				t.Errorf("%d workspaces by id with %d aliases of each field: %d statements, want at most %d", tc.n, tc.aliases, got, bound)
			}
		}
	})
}

// TestSecurityAuditLogPageIsOneStatement: a first auditLog page reads the
// viewer's role, the plan and the page in one statement (the access check
// and the page cannot disagree, and cost one round trip).
func TestSecurityAuditLogPageIsOneStatement(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, nil)
		admin := s.newUser(t, "admin")
		ws := s.newWorkspace(t, admin, "BUSINESS")
		r := s.post(t, admin.token, `query($w: ID!) { auditLog(workspaceId: $w, first: 10) { nodes { id action } } }`, map[string]any{"w": ws})
		if r.Status != http.StatusOK || len(r.Errors) > 0 {
			t.Fatalf("auditLog failed: %s", r.Raw)
		}
		if n := sDBQueries(t, s, r.Header.Get("X-Request-Id")); n != 1 {
			t.Errorf("a first page cost %d statements, want 1", n)
		}
	})
}

// TestSecurityWorkspaceCreationIsLimited reproduces the first step of
// finding 1 (nothing limited createWorkspace): a user creates at most
// AUDITLOG_WORKSPACES_PER_USER_PER_DAY workspaces in 24 hours (RATE_LIMITED
// with Retry-After past that, and nothing created), and again the next day.
func TestSecurityWorkspaceCreationIsLimited(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, map[string]string{"AUDITLOG_WORKSPACES_PER_USER_PER_DAY": "3"})
		u := s.newUser(t, "creator")
		create := `mutation { createWorkspace(input: {name: "W"}) { id } }`
		for range 3 {
			s.ok(t, u.token, create, nil)
		}
		r := s.fails(t, u.token, create, nil, "RATE_LIMITED")
		if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
			t.Errorf("over the limit: status %d, Retry-After %q; want 429 with Retry-After", r.Status, r.Header.Get("Retry-After"))
		}
		var out struct{ Workspaces []struct{ ID string } }
		s.ok(t, u.token, `{ workspaces { id } }`, nil, &out)
		if len(out.Workspaces) != 3 {
			t.Errorf("%d workspaces after a refused creation, want 3", len(out.Workspaces))
		}
		s.clock.Advance(24*time.Hour + time.Minute)
		u.token = s.sign(t, auth.Claims{Subject: u.id, Email: u.email}) // the old one expired
		s.ok(t, u.token, create, nil)
	})
}

// TestSecurityAddMemberIgnoresUnverifiedClaims reproduces finding 2: an
// attacker signs in with someone else's address, unverified, and renames
// themselves to be the most recent user with it; the admin's addMember for
// that address must never pick the attacker. With the default setting a
// token without email_verified is unverified too; several verified users
// with one address are a CONFLICT, never a guess.
func TestSecurityAddMemberIgnoresUnverifiedClaims(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		// The default: a token without email_verified is not verified.
		s := newServer(t, db, map[string]string{"AUDITLOG_JWT_EMAIL_VERIFIED_DEFAULT": ""})
		admin := s.signInAs(t, "admin-x", "admin.x@example.com", ptr(true))
		ws := s.newWorkspace(t, admin, "FREE")
		add := `mutation($w: ID!, $e: String!) { addMember(input: {workspaceId: $w, email: $e, role: ADMIN}) { user { id } } }`

		bob := s.signInAs(t, "bob-real", "bob@example.com", nil) // no claim: unverified by default
		attacker := s.signInAs(t, "attacker-x", "BOB@example.com", ptr(false))
		s.ok(t, s.sign(t, auth.Claims{Subject: attacker.id, Email: "BOB@example.com", Name: "Most Recent", EmailVerified: ptr(false)}), `{ viewer { id } }`, nil)
		s.fails(t, admin.token, add, map[string]any{"w": ws, "e": "bob@example.com"}, "NOT_FOUND")

		// Bob's identity provider says his address is verified: now he is found.
		s.signInAs(t, bob.id, bob.email, ptr(true))
		var out struct {
			AddMember struct{ User struct{ ID string } }
		}
		s.ok(t, admin.token, add, map[string]any{"w": ws, "e": "bob@example.com"}, &out)
		if out.AddMember.User.ID != bob.id {
			t.Fatalf("addMember added %q, want %q", out.AddMember.User.ID, bob.id)
		}
		// A second verified account with the same address makes it ambiguous.
		s.signInAs(t, "bob-twin", "Bob@Example.com", ptr(true))
		ws2 := s.newWorkspace(t, admin, "FREE")
		s.fails(t, admin.token, add, map[string]any{"w": ws2, "e": "bob@example.com"}, "CONFLICT")
		// A look-alike (Kelvin sign for k in the local part) is another address.
		s.signInAs(t, "kate", "kate@example.com", ptr(true))
		s.fails(t, admin.token, add, map[string]any{"w": ws2, "e": "\u212Aate@example.com"}, "NOT_FOUND")
	})
}

// TestSecurityEmailInvitesRefuseLookAlikes reproduces finding 5: an email
// invite to kate@ or sam@ cannot be accepted by a token for the look-alike
// addresses written with the Kelvin sign or the long s, nor by an unverified
// token for the right address.
func TestSecurityEmailInvitesRefuseLookAlikes(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, nil)
		admin := s.newUser(t, "admin")
		ws := s.newWorkspace(t, admin, "FREE")
		for _, tc := range []struct {
			name, invited, claimed string
			verified               *bool
			code                   string
		}{
			{"kelvin-sign", "kate@example.com", "\u212Aate@example.com", ptr(true), "FORBIDDEN"},
			{"long-s", "sam@example.com", "\u017Fam@example.com", ptr(true), "FORBIDDEN"},
			{"unverified-right-address", "zed@example.com", "zed@example.com", ptr(false), "FORBIDDEN"},
			{"right-address-other-ascii-case", "ann@example.com", "ANN@Example.COM", ptr(true), ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				inv, _ := aCreateInvite(t, s, admin.token, ws, "EMAIL", tc.invited, "MEMBER")
				u := s.signInAs(t, "invitee-"+tc.name, tc.claimed, tc.verified)
				r := s.post(t, u.token, aAcceptQuery, map[string]any{"t": inv.Token})
				if r.code() != tc.code {
					t.Errorf("accept as %q: code %q, want %q: %s", tc.claimed, r.code(), tc.code, r.Raw)
				}
			})
		}
	})
}

// TestSecuritySubjectsCompareByteForByte reproduces finding 4: on MySQL a
// token with sub "demo-alice " became Alice (PAD SPACE collations). Such
// subjects are refused (401), and ids compare byte for byte on every
// database: a subject that differs only by a trailing space cannot reach
// another user's workspaces.
func TestSecuritySubjectsCompareByteForByte(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, nil)
		alice := s.signInAs(t, "sec-alice", "alice@example.com", ptr(true))
		ws := s.newWorkspace(t, alice, "BUSINESS")
		for _, sub := range []string{"sec-alice ", " sec-alice", "sec-alice\t", "sec-alice\u00a0", "sec\x00alice", "sec-alice\n"} {
			tok := s.sign(t, auth.Claims{Subject: sub, Email: "mallory@example.com"})
			if r := s.post(t, tok, `{ viewer { id } }`, nil); r.Status != http.StatusUnauthorized || r.code() != "UNAUTHENTICATED" {
				t.Errorf("sub %q: status %d %s, want 401 UNAUTHENTICATED", sub, r.Status, r.Raw)
			}
		}
		// Behind the API, the database itself tells the ids apart.
		got, err := s.app.DB.Workspaces().GetUser(t.Context(), "sec-alice ")
		if err == nil {
			t.Errorf("the database finds user %q for the id \"sec-alice \"", got.ID)
		}
		var out struct{ Workspace *struct{ ID string } }
		s.ok(t, alice.token, `query($w: ID!) { workspace(id: $w) { id } }`, map[string]any{"w": ws}, &out)
		if out.Workspace == nil {
			t.Fatal("Alice lost her workspace")
		}
	})
}

// TestSecurityPublicLinksExpireAndNeverGrantAdmin reproduces finding 7: a
// removed admin rejoined through an old PUBLIC link that never expired and
// granted ADMIN. PUBLIC links now expire by default and cannot grant ADMIN.
func TestSecurityPublicLinksExpireAndNeverGrantAdmin(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, map[string]string{"AUDITLOG_PUBLIC_INVITE_TTL": "48h"})
		admin := s.newUser(t, "admin")
		ws := s.newWorkspace(t, admin, "FREE")
		s.fails(t, admin.token, aCreateInviteQuery, aInviteVars(ws, "PUBLIC", "", "ADMIN", ""), "BAD_USER_INPUT")

		var out struct {
			CreateInviteLink struct {
				Token      string
				InviteLink struct{ ExpiresAt *string }
			}
		}
		s.ok(t, admin.token, `mutation($w: ID!) { createInviteLink(input: {workspaceId: $w, kind: PUBLIC}) { token inviteLink { expiresAt } } }`,
			map[string]any{"w": ws}, &out)
		if out.CreateInviteLink.InviteLink.ExpiresAt == nil {
			t.Fatal("a PUBLIC link without expiresAt never expires")
		}
		exp, _ := time.Parse(time.RFC3339, *out.CreateInviteLink.InviteLink.ExpiresAt)
		if d := exp.Sub(s.clock.Now()); d < 47*time.Hour || d > 49*time.Hour {
			t.Errorf("a PUBLIC link expires in %v, want AUDITLOG_PUBLIC_INVITE_TTL (48h)", d)
		}
		s.clock.Advance(49 * time.Hour)
		late := s.newUser(t, "late")
		s.fails(t, late.token, aAcceptQuery, map[string]any{"t": out.CreateInviteLink.Token}, "NOT_FOUND")
	})
}

// signInAs makes a user with the given id, email and email_verified claim
// (nil: no claim) and signs them in once.
func (s *server) signInAs(t testing.TB, id, email string, verified *bool) user {
	t.Helper()
	u := user{id: id, email: email, token: s.sign(t, auth.Claims{Subject: id, Email: email, EmailVerified: verified})}
	s.ok(t, u.token, `{ viewer { id } }`, nil)
	return u
}

// TestSecurityAddMemberLookupsAreThrottled reproduces finding 3 (addMember
// enumerates accounts): an admin's lookups that find nobody count against
// them like failed invite acceptances; past the allowance further lookups are
// RATE_LIMITED, whatever the address, while lookups that find someone do not
// count.
func TestSecurityAddMemberLookupsAreThrottled(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, map[string]string{"AUDITLOG_INVITE_ATTEMPTS_PER_MINUTE": "3"})
		admin := s.newUser(t, "prober")
		ws := s.newWorkspace(t, admin, "FREE")
		add := `mutation($w: ID!, $e: String!) { addMember(input: {workspaceId: $w, email: $e}) { role } }`
		for i := range 2 {
			s.addMember(t, admin, ws, s.newUser(t, fmt.Sprintf("colleague%d", i)), "MEMBER") // hits do not count
		}
		for i := range 3 {
			s.fails(t, admin.token, add, map[string]any{"w": ws, "e": fmt.Sprintf("nobody%d@example.com", i)}, "NOT_FOUND")
		}
		r := s.fails(t, admin.token, add, map[string]any{"w": ws, "e": "nobody-else@example.com"}, "RATE_LIMITED")
		if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
			t.Errorf("throttled lookup: status %d, Retry-After %q", r.Status, r.Header.Get("Retry-After"))
		}
		if strings.Contains(r.Raw, "nobody-else") {
			t.Errorf("the refusal repeats the address: %s", r.Raw)
		}
	})
}

// TestSecurityCriticalHeaderIsRefused reproduces finding 10's second part: a
// token whose protected header lists a critical extension this service does
// not understand is refused (RFC 7515 §4.1.11), even when its signature is
// good.
func TestSecurityCriticalHeaderIsRefused(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, nil)
		sign := func(header string) string {
			enc := base64.RawURLEncoding
			payload := fmt.Sprintf(`{"sub":"crit-user","email":"crit@example.com","exp":%d}`, s.clock.Now().Add(time.Hour).Unix())
			input := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
			mac := hmac.New(sha256.New, []byte(testSecret))
			mac.Write([]byte(input))
			return input + "." + enc.EncodeToString(mac.Sum(nil))
		}
		if r := s.post(t, sign(`{"alg":"HS256","typ":"JWT"}`), `{ viewer { id } }`, nil); r.Status != http.StatusOK {
			t.Fatalf("the same token without crit: status %d %s", r.Status, r.Raw)
		}
		for _, header := range []string{
			`{"alg":"HS256","typ":"JWT","crit":["x-acme"],"x-acme":true}`,
			`{"alg":"HS256","typ":"JWT","crit":["exp"]}`,
			`{"alg":"HS256","crit":[]}`,
		} {
			if r := s.post(t, sign(header), `{ viewer { id } }`, nil); r.Status != http.StatusUnauthorized || r.code() != "UNAUTHENTICATED" {
				t.Errorf("header %s: status %d %s, want 401", header, r.Status, r.Raw)
			}
		}
	})
}
