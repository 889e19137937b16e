package e2e

import (
	"testing"

	"github.com/auditlogd/auditlogd/internal/auth"
	"github.com/auditlogd/auditlogd/internal/testenv"
)

// TestEmailFiltersIgnoreCaseOnly shows that actorEmail and targetLabel match
// in the one canonical form of addresses (package email), on every database:
// ASCII letter case is ignored, nothing else is — an accented address is a
// different address, an accented capital is not its small letter (Unicode
// case folding would also equate look-alikes such as the Kelvin sign and K),
// and a trailing space matches nothing (a _ci collation on MySQL would treat
// all of these as equal).
func TestEmailFiltersIgnoreCaseOnly(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, nil)
		jose := s.signIn(t, "jose-plain", "jose@example.com")
		joseAccent := s.signIn(t, "jose-accent", "josé@example.com")
		ws := s.newWorkspace(t, jose, "BUSINESS")
		s.addMember(t, jose, ws, joseAccent, "ADMIN")
		s.ok(t, joseAccent.token, `mutation($w: ID!) { createInviteLink(input: {workspaceId: $w, kind: EMAIL, email: "ÉLODIE@example.com"}) { token } }`,
			map[string]any{"w": ws})

		count := func(filter map[string]any) int {
			var out struct{ AuditLog struct{ TotalCount int } }
			s.ok(t, jose.token, `query($w: ID!, $f: AuditLogFilter) { auditLog(workspaceId: $w, filter: $f) { totalCount } }`,
				map[string]any{"w": ws, "f": filter}, &out)
			if n := len(s.allEvents(t, jose.token, ws, filter)); n != out.AuditLog.TotalCount {
				t.Errorf("filter %v: %d events listed but totalCount %d", filter, n, out.AuditLog.TotalCount)
			}
			return out.AuditLog.TotalCount
		}
		for _, tc := range []struct {
			name   string
			filter map[string]any
			want   int
		}{
			{"plain-address-in-capitals", map[string]any{"actorEmail": "JOSE@EXAMPLE.COM"}, 2}, // created the workspace, added José
			{"accented-address-is-another-address", map[string]any{"actorEmail": "josé@example.com"}, 1},
			{"accented-address-ascii-capitals", map[string]any{"actorEmail": "JOSé@EXAMPLE.COM"}, 1},
			{"accented-capital-is-another-letter", map[string]any{"actorEmail": "JOSÉ@EXAMPLE.COM"}, 0},
			{"trailing-space-matches-nothing", map[string]any{"actorEmail": "jose@example.com "}, 0},
			{"label-in-other-ascii-case", map[string]any{"targetLabel": "ÉLodie@EXAMPLE.com"}, 1},
			{"label-accented-small-letter-is-another-label", map[string]any{"targetLabel": "élodie@example.com"}, 0},
			{"label-without-accent-matches-nothing", map[string]any{"targetLabel": "elodie@example.com"}, 0},
		} {
			if got := count(tc.filter); got != tc.want {
				t.Errorf("%s: %d events, want %d", tc.name, got, tc.want)
			}
		}
	})
}

// signIn makes a user with the given email and signs them in once.
func (s *server) signIn(t testing.TB, id, email string) user {
	t.Helper()
	u := user{id: id, email: email, token: s.sign(t, auth.Claims{Subject: id, Email: email})}
	s.ok(t, u.token, `{ viewer { id } }`, nil)
	return u
}

// TestAddMemberFindsExactlyThatAddress shows that addMember matches the
// email but for ASCII case: an address that differs by an accent, by the
// case of an accented letter, or by a trailing space is another person.
func TestAddMemberFindsExactlyThatAddress(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, nil)
		admin := s.newUser(t, "admin")
		ws := s.newWorkspace(t, admin, "FREE")
		accented := s.signIn(t, "zoe-accent", "zoë@example.com")
		add := `mutation($w: ID!, $e: String!) { addMember(input: {workspaceId: $w, email: $e}) { user { id } } }`
		s.fails(t, admin.token, add, map[string]any{"w": ws, "e": "zoe@example.com"}, "NOT_FOUND")
		var out struct {
			AddMember struct{ User struct{ ID string } }
		}
		s.fails(t, admin.token, add, map[string]any{"w": ws, "e": "ZOË@EXAMPLE.COM"}, "NOT_FOUND")
		s.ok(t, admin.token, add, map[string]any{"w": ws, "e": "ZOë@EXAMPLE.COM"}, &out)
		if out.AddMember.User.ID != accented.id {
			t.Errorf("added %q, want %q", out.AddMember.User.ID, accented.id)
		}
	})
}

// TestGuardedMutationsCheckTheRoleBeforeTheInput: for mutations the role
// check is the service's (see graph.enforcedByService); like the directive
// it comes before the input is looked at, so a non-admin learns nothing from
// the validation of what they sent.
func TestGuardedMutationsCheckTheRoleBeforeTheInput(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, nil)
		admin := s.newUser(t, "admin")
		member := s.newUser(t, "member")
		ws := s.newWorkspace(t, admin, "TEAMS")
		s.addMember(t, admin, ws, member, "MEMBER")
		for _, tc := range []struct {
			name, query, code string
			token             string
		}{
			{"member-bad-invite-email", `mutation($w: ID!) { createInviteLink(input: {workspaceId: $w, kind: EMAIL, email: "not an email"}) { token } }`, "FORBIDDEN", member.token},
			{"member-bad-member-email", `mutation($w: ID!) { addMember(input: {workspaceId: $w, email: "nope"}) { role } }`, "FORBIDDEN", member.token},
			{"member-bad-export-filter", `mutation($w: ID!) { exportAuditLog(input: {workspaceId: $w, format: CSV, filter: {since: "2026-02-01T00:00:00Z", until: "2026-01-01T00:00:00Z"}}) { url } }`, "FORBIDDEN", member.token},
			{"admin-not-business-bad-export-filter", `mutation($w: ID!) { exportAuditLog(input: {workspaceId: $w, format: CSV, filter: {since: "2026-02-01T00:00:00Z", until: "2026-01-01T00:00:00Z"}}) { url } }`, "BUSINESS_PLAN_REQUIRED", admin.token},
			{"admin-bad-invite-email", `mutation($w: ID!) { createInviteLink(input: {workspaceId: $w, kind: EMAIL, email: "not an email"}) { token } }`, "BAD_USER_INPUT", admin.token},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s.fails(t, tc.token, tc.query, map[string]any{"w": ws}, tc.code)
			})
		}
	})
}
