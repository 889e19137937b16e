package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/auth"
	"github.com/auditlogd/auditlogd/internal/ids"
	"github.com/auditlogd/auditlogd/internal/insight"
	"github.com/auditlogd/auditlogd/internal/testenv"
	"github.com/auditlogd/auditlogd/internal/timefmt"
)

// This file checks docs/API.md §14, insights, end to end, on every database:
// the flags each event gets when it is written (EXTERNAL_DOMAIN,
// ADMIN_GRANTED, BURST, NEW_LOCATION) at their boundaries, setTrustedDomains,
// the flags filter, auditLogSummary against counts of the same window, the
// flags in exports, and flags decided right under 16 concurrent writers.
// Everything goes through HTTP GraphQL with signed tokens; client addresses
// come through X-Forwarded-For from a trusted proxy (127.0.0.1), and time is
// moved with the server's test clock. Its helpers are prefixed fl.

// The flags' names, in the enum's order.
const (
	flExt   = "EXTERNAL_DOMAIN"
	flAdmin = "ADMIN_GRANTED"
	flBurst = "BURST"
	flNew   = "NEW_LOCATION"
)

var flAllFlags = []string{flExt, flAdmin, flBurst, flNew}

// flAllActions is the AuditAction enum, in its order.
var flAllActions = []string{
	"PUBLIC_INVITE_LINK_CREATED", "PUBLIC_INVITE_LINK_DELETED", "PUBLIC_INVITE_LINK_ACCEPTED",
	"EMAIL_INVITE_CREATED", "EMAIL_INVITE_DELETED", "EMAIL_INVITE_ACCEPTED",
	"MEMBER_ADDED", "MEMBER_REMOVED", "MEMBER_ROLE_UPDATED", "AUDIT_LOG_EXPORTED",
	"API_KEY_CREATED", "API_KEY_REVOKED", "LOG_STREAM_CREATED", "LOG_STREAM_DELETED", "TRUSTED_DOMAINS_UPDATED",
}

// flUserManagement are the actions that count towards BURST (docs/API.md §14:
// user-management events).
var flUserManagement = flAllActions[:9]

// flProxied is the environment of a server behind a trusted proxy, so that
// X-Forwarded-For sets the client address events record.
var flProxied = map[string]string{"AUDITLOG_TRUSTED_PROXIES": "127.0.0.1/32"}

const flEventFields = eventFields + ` sequence flags`

// flEvent is an AuditEvent with its sequence and flags.
type flEvent struct {
	event
	Sequence int64    `json:"sequence"`
	Flags    []string `json:"flags"`
}

func (e flEvent) label() string {
	if e.Target == nil || e.Target.Label == nil {
		return ""
	}
	return *e.Target.Label
}

// flConn is an AuditEventConnection with totalCount.
type flConn struct {
	Nodes    []flEvent `json:"nodes"`
	PageInfo struct {
		HasNextPage     bool    `json:"hasNextPage"`
		HasPreviousPage bool    `json:"hasPreviousPage"`
		StartCursor     *string `json:"startCursor"`
		EndCursor       *string `json:"endCursor"`
	} `json:"pageInfo"`
	TotalCount int `json:"totalCount"`
}

const flLogQuery = `query($w: ID!, $first: Int, $after: String, $last: Int, $before: String, $filter: AuditLogFilter, $order: AuditLogOrder) {
  auditLog(workspaceId: $w, first: $first, after: $after, last: $last, before: $before, filter: $filter, orderBy: $order) {
    nodes { ` + flEventFields + ` }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    totalCount
  }
}`

const (
	flCreateQuery  = `mutation($n: String!) { createWorkspace(input: {name: $n}) { id } }`
	flAddQuery     = `mutation($w: ID!, $e: String!, $r: Role) { addMember(input: {workspaceId: $w, email: $e, role: $r}) { role } }`
	flInviteQuery  = `mutation($w: ID!, $k: InviteKind!, $e: String, $r: Role) { createInviteLink(input: {workspaceId: $w, kind: $k, email: $e, role: $r}) { inviteLink { id } token } }`
	flAcceptQuery  = `mutation($t: String!) { acceptInvite(token: $t) { role } }`
	flRoleQuery    = `mutation($w: ID!, $u: ID!, $r: Role!) { updateMemberRole(input: {workspaceId: $w, userId: $u, role: $r}) { role } }`
	flRemoveQuery  = `mutation($w: ID!, $u: ID!) { removeMember(workspaceId: $w, userId: $u) { removedUserId } }`
	flDeleteQuery  = `mutation($w: ID!, $id: ID!) { deleteInviteLink(workspaceId: $w, id: $id) { deletedInviteLinkId } }`
	flTrustedQuery = `mutation($w: ID!, $d: [String!]!) { setTrustedDomains(workspaceId: $w, domains: $d) { id trustedDomains } }`
	flExportQuery  = `mutation($w: ID!, $f: ExportFormat!, $filter: AuditLogFilter) { exportAuditLog(input: {workspaceId: $w, format: $f, filter: $filter}) { id url } }`
	flSummaryQuery = `query($w: ID!, $since: Time, $until: Time) {
  auditLogSummary(workspaceId: $w, since: $since, until: $until) {
    since until total
    byAction { action count }
    byFlag { flag count }
    topActors { actor { id email type } count }
  }
}`
)

// flUser makes a verified user whose email is name.N@domain (N unique) and
// whose token survives days of test-clock time, and signs them in once.
func flUser(t testing.TB, s *server, name, domain string) user {
	t.Helper()
	n := userSeq.Add(1)
	u := user{id: fmt.Sprintf("fl-%s-%d", strings.ToLower(name), n), email: fmt.Sprintf("%s.%d@%s", name, n, domain)}
	u.token = s.sign(t, auth.Claims{Subject: u.id, Email: u.email, Name: name, TTL: 100_000 * time.Hour})
	s.ok(t, u.token, `{ viewer { id } }`, nil)
	return u
}

// flPost sends a request from the client address from ("" for the proxy's
// own, 127.0.0.1).
func flPost(t testing.TB, s *server, from, token, query string, vars map[string]any) *response {
	t.Helper()
	var opts []reqOpt
	if from != "" {
		opts = append(opts, hFromAddr(from))
	}
	return s.post(t, token, query, vars, opts...)
}

// flDo sends a request that must succeed and decodes its data into out (if
// not nil).
func flDo(t testing.TB, s *server, from, token, query string, vars map[string]any, out any) {
	t.Helper()
	r := flPost(t, s, from, token, query, vars)
	if r.Status != http.StatusOK || len(r.Errors) > 0 {
		t.Fatalf("request failed: status %d: %s\nquery: %s", r.Status, r.Raw, query)
	}
	if out != nil {
		if err := json.Unmarshal(r.Data, out); err != nil {
			t.Fatalf("decode data: %v: %s", err, r.Data)
		}
	}
}

// flFails sends a request that must fail with code.
func flFails(t testing.TB, s *server, token, query string, vars map[string]any, code string) *response {
	t.Helper()
	r := s.post(t, token, query, vars)
	if got := r.code(); got != code {
		t.Fatalf("want error %s, got status %d: %s\nquery: %s", code, r.Status, r.Raw, query)
	}
	return r
}

// flPage reads one page of the log with totalCount.
func flPage(t testing.TB, s *server, token, ws string, vars map[string]any) flConn {
	t.Helper()
	v := map[string]any{"w": ws}
	for k, x := range vars {
		v[k] = x
	}
	var out struct{ AuditLog flConn }
	s.ok(t, token, flLogQuery, v, &out)
	return out.AuditLog
}

// flLog reads the whole log (matching filter, which may be nil), oldest
// first.
func flLog(t testing.TB, s *server, token, ws string, filter map[string]any) []flEvent {
	t.Helper()
	var all []flEvent
	vars := map[string]any{"first": 100, "order": map[string]any{"direction": "ASC"}}
	if filter != nil {
		vars["filter"] = filter
	}
	for {
		c := flPage(t, s, token, ws, vars)
		all = append(all, c.Nodes...)
		if !c.PageInfo.HasNextPage {
			return all
		}
		vars["after"] = *c.PageInfo.EndCursor
	}
}

// flTotal is auditLog's totalCount for filter.
func flTotal(t testing.TB, s *server, token, ws string, filter map[string]any) int {
	t.Helper()
	return flPage(t, s, token, ws, map[string]any{"first": 1, "filter": filter}).TotalCount
}

// flWant is what a test knows an event must be: its action, its actor and
// its flags (in the enum's order).
type flWant struct {
	Action, Actor string
	Flags         []string
}

func flW(action string, actor user, flags ...string) flWant {
	return flWant{Action: action, Actor: actor.id, Flags: append([]string{}, flags...)}
}

// flScript acts on one workspace through the API and checks, after each
// step, exactly the events the step wrote and their flags.
type flScript struct {
	t      *testing.T
	s      *server
	ws     string
	reader user          // an admin who reads the log
	step   time.Duration // the test clock moves this much before each step
	seen   int64         // the sequence of the last event checked
	last   []flEvent     // the events the last check saw
}

// flCreate creates a BUSINESS workspace as admin from the address from and
// returns a script on it that has checked the creation's event: the
// creator's MEMBER_ADDED, ADMIN_GRANTED and nothing else (the first event of
// the workspace and of its creator).
func flCreate(t *testing.T, s *server, admin user, from string, step time.Duration) *flScript {
	t.Helper()
	var out struct{ CreateWorkspace struct{ ID string } }
	flDo(t, s, from, admin.token, flCreateQuery, map[string]any{"n": "Insights " + admin.id}, &out)
	ws := out.CreateWorkspace.ID
	s.ok(t, s.billingToken(t), `mutation($w: ID!, $p: Plan!) { setWorkspacePlan(workspaceId: $w, plan: $p) { id } }`,
		map[string]any{"w": ws, "p": "BUSINESS"})
	x := &flScript{t: t, s: s, ws: ws, reader: admin, step: step}
	x.check("workspace created", flW("MEMBER_ADDED", admin, flAdmin))
	return x
}

// check reads the events written since the last check, in sequence order,
// and compares them with want.
func (x *flScript) check(what string, want ...flWant) {
	x.t.Helper()
	c := flPage(x.t, x.s, x.reader.token, x.ws, map[string]any{"first": 20})
	var fresh []flEvent
	for _, e := range c.Nodes {
		if e.Sequence > x.seen {
			fresh = append(fresh, e)
		}
	}
	slices.SortFunc(fresh, func(a, b flEvent) int { return int(a.Sequence - b.Sequence) })
	got := make([]flWant, len(fresh))
	for i, e := range fresh {
		got[i] = flWant{Action: e.Action, Actor: e.Actor.ID, Flags: e.Flags}
	}
	if want == nil {
		want = []flWant{}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		var desc []string
		for _, e := range fresh {
			desc = append(desc, fmt.Sprintf("#%d %s by %s target %q from %s at %s: %v", e.Sequence, e.Action, e.Actor.ID, e.label(), deref(e.IPAddress), e.OccurredAt, e.Flags))
		}
		x.t.Errorf("%s: events written (-want +got):\n%s\nevents:\n%s", what, diff, strings.Join(desc, "\n"))
	}
	if len(fresh) > 0 {
		x.seen = fresh[len(fresh)-1].Sequence
	}
	x.last = fresh
}

func (x *flScript) tick() {
	if x.step > 0 {
		x.s.clock.Advance(x.step)
	}
}

// The steps: each moves the clock by x.step, then makes one request from
// the address from ("" for 127.0.0.1).

func (x *flScript) add(by user, from, email, role string) {
	x.t.Helper()
	x.tick()
	flDo(x.t, x.s, from, by.token, flAddQuery, map[string]any{"w": x.ws, "e": email, "r": role}, nil)
}

// invite creates an EMAIL invite (email "" for a PUBLIC link) and returns
// its id and token.
func (x *flScript) invite(by user, from, email, role string) (id, token string) {
	x.t.Helper()
	x.tick()
	vars := map[string]any{"w": x.ws, "k": "PUBLIC", "r": role}
	if email != "" {
		vars["k"], vars["e"] = "EMAIL", email
	}
	var out struct {
		CreateInviteLink struct {
			InviteLink struct{ ID string }
			Token      string
		}
	}
	flDo(x.t, x.s, from, by.token, flInviteQuery, vars, &out)
	return out.CreateInviteLink.InviteLink.ID, out.CreateInviteLink.Token
}

func (x *flScript) accept(u user, from, token string) {
	x.t.Helper()
	x.tick()
	flDo(x.t, x.s, from, u.token, flAcceptQuery, map[string]any{"t": token}, nil)
}

func (x *flScript) setRole(by user, from string, u user, role string) {
	x.t.Helper()
	x.tick()
	flDo(x.t, x.s, from, by.token, flRoleQuery, map[string]any{"w": x.ws, "u": u.id, "r": role}, nil)
}

func (x *flScript) remove(by user, from string, u user) {
	x.t.Helper()
	x.tick()
	flDo(x.t, x.s, from, by.token, flRemoveQuery, map[string]any{"w": x.ws, "u": u.id}, nil)
}

func (x *flScript) deleteInvite(by user, from, id string) {
	x.t.Helper()
	x.tick()
	flDo(x.t, x.s, from, by.token, flDeleteQuery, map[string]any{"w": x.ws, "id": id}, nil)
}

// trust sets the trusted domains and returns them as the mutation does.
func (x *flScript) trust(by user, from string, domains ...string) []string {
	x.t.Helper()
	x.tick()
	var out struct {
		SetTrustedDomains struct {
			ID             string
			TrustedDomains []string
		}
	}
	flDo(x.t, x.s, from, by.token, flTrustedQuery, map[string]any{"w": x.ws, "d": append([]string{}, domains...)}, &out)
	if out.SetTrustedDomains.ID != x.ws {
		x.t.Errorf("setTrustedDomains returned workspace %q, want %q", out.SetTrustedDomains.ID, x.ws)
	}
	return out.SetTrustedDomains.TrustedDomains
}

func (x *flScript) export(by user, from string) {
	x.t.Helper()
	x.tick()
	flDo(x.t, x.s, from, by.token, flExportQuery, map[string]any{"w": x.ws, "f": "JSON"}, nil)
}

// TestInsightExternalDomain: EXTERNAL_DOMAIN while no domains are trusted
// (the admins' domains at that moment, the person joining excluded), with
// trusted domains set, and once they are cleared; on additions, email
// invites and both kinds of acceptance; domains compared without regard to
// case. The clock moves 11 minutes before each step so that no BURST mixes
// in.
func TestInsightExternalDomain(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, nil)
		alice := flUser(t, s, "alice", "acme.com")
		x := flCreate(t, s, alice, "", 11*time.Minute)

		bob := flUser(t, s, "bob", "acme.com")
		x.add(alice, "", bob.email, "MEMBER")
		x.check("bob from the admin's domain", flW("MEMBER_ADDED", alice))
		eve := flUser(t, s, "eve", "gmail.com")
		x.add(alice, "", eve.email, "MEMBER")
		x.check("eve from gmail.com", flW("MEMBER_ADDED", alice, flExt))
		upper := flUser(t, s, "BOB", "ACME.COM")
		x.add(alice, "", upper.email, "MEMBER")
		x.check("BOB@ACME.COM, the admin's domain in capitals", flW("MEMBER_ADDED", alice))
		sub := flUser(t, s, "nora", "mail.acme.com")
		x.add(alice, "", sub.email, "MEMBER")
		x.check("a subdomain of the admin's domain is another domain", flW("MEMBER_ADDED", alice, flExt))

		// An unverified address cannot be added at all: no event, no flag.
		unverified := user{id: fmt.Sprintf("fl-unverified-%d", userSeq.Add(1)), email: "vic@gmail.com"}
		unverified.token = s.sign(t, auth.Claims{Subject: unverified.id, Email: unverified.email, EmailVerified: ptr(false), TTL: time.Hour})
		s.ok(t, unverified.token, `{ viewer { id } }`, nil)
		flFails(t, s, alice.token, flAddQuery, map[string]any{"w": x.ws, "e": unverified.email, "r": "MEMBER"}, "NOT_FOUND")
		x.check("an unverified address is not added")

		carol, dan := flUser(t, s, "carol", "gmail.com"), flUser(t, s, "dan", "acme.com")
		_, carolToken := x.invite(alice, "", carol.email, "MEMBER")
		x.check("email invite to gmail.com", flW("EMAIL_INVITE_CREATED", alice, flExt))
		_, danToken := x.invite(alice, "", dan.email, "MEMBER")
		x.check("email invite to acme.com", flW("EMAIL_INVITE_CREATED", alice))
		x.accept(carol, "", carolToken)
		x.check("gmail.com accepts an email invite", flW("EMAIL_INVITE_ACCEPTED", carol, flExt), flW("MEMBER_ADDED", carol, flExt))
		x.accept(dan, "", danToken)
		x.check("acme.com accepts an email invite", flW("EMAIL_INVITE_ACCEPTED", dan), flW("MEMBER_ADDED", dan))

		_, link := x.invite(alice, "", "", "MEMBER")
		x.check("a public link names nobody", flW("PUBLIC_INVITE_LINK_CREATED", alice))
		frank, gina := flUser(t, s, "frank", "gmail.com"), flUser(t, s, "gina", "Acme.Com")
		x.accept(frank, "", link)
		x.check("gmail.com accepts a public link", flW("PUBLIC_INVITE_LINK_ACCEPTED", frank, flExt), flW("MEMBER_ADDED", frank, flExt))
		x.accept(gina, "", link)
		x.check("Acme.Com accepts a public link", flW("PUBLIC_INVITE_LINK_ACCEPTED", gina), flW("MEMBER_ADDED", gina))

		// Trusted domains replace the admins' domains.
		if got := x.trust(alice, "", "partner.io"); !slices.Equal(got, []string{"partner.io"}) {
			t.Errorf("trustedDomains = %q, want [partner.io]", got)
		}
		x.check("trusted domains set", flW("TRUSTED_DOMAINS_UPDATED", alice))
		henry, ivy := flUser(t, s, "henry", "acme.com"), flUser(t, s, "ivy", "partner.io")
		x.add(alice, "", henry.email, "MEMBER")
		x.check("acme.com, the admin's own domain, once partner.io alone is trusted", flW("MEMBER_ADDED", alice, flExt))
		x.add(alice, "", ivy.email, "MEMBER")
		x.check("partner.io, trusted", flW("MEMBER_ADDED", alice))
		x.invite(alice, "", "jack@gmail.com", "MEMBER")
		x.check("invite to gmail.com with partner.io trusted", flW("EMAIL_INVITE_CREATED", alice, flExt))
		x.invite(alice, "", "KIM@Partner.IO", "MEMBER")
		x.check("invite to Partner.IO with partner.io trusted", flW("EMAIL_INVITE_CREATED", alice))
		lou := flUser(t, s, "lou", "acme.com")
		x.accept(lou, "", link)
		x.check("acme.com accepts a public link with partner.io trusted", flW("PUBLIC_INVITE_LINK_ACCEPTED", lou, flExt), flW("MEMBER_ADDED", lou, flExt))

		// A trusted domain in capitals is the same domain.
		if got := x.trust(alice, "", "ACME.com"); !slices.Equal(got, []string{"acme.com"}) {
			t.Errorf("trustedDomains = %q, want [acme.com]", got)
		}
		x.check("trusted domains set to ACME.com", flW("TRUSTED_DOMAINS_UPDATED", alice))
		leo, mia := flUser(t, s, "LEO", "ACME.COM"), flUser(t, s, "mia", "partner.io")
		x.add(alice, "", leo.email, "MEMBER")
		x.check("LEO@ACME.COM with ACME.com trusted", flW("MEMBER_ADDED", alice))
		x.add(alice, "", mia.email, "MEMBER")
		x.check("partner.io, no longer trusted", flW("MEMBER_ADDED", alice, flExt))

		// A wildcard trusts subdomains at any depth, not the domain itself;
		// an internationalised domain is one domain in any form and case.
		if got := x.trust(alice, "", "*.ACME.com", "bücher.de"); !slices.Equal(got, []string{"*.acme.com", "xn--bcher-kva.de"}) {
			t.Errorf("trustedDomains = %q, want [*.acme.com xn--bcher-kva.de]", got)
		}
		x.check("trusted domains set to a wildcard and an IDN", flW("TRUSTED_DOMAINS_UPDATED", alice))
		for _, tc := range []struct {
			domain string
			flags  []string
		}{
			{"eu.mail.acme.com", nil},
			{"MAIL.Acme.COM", nil},
			{"acme.com", []string{flExt}},
			{"notacme.com", []string{flExt}},
			{"BÜCHER.DE", nil},
			{"xn--bcher-kva.de", nil},
			{"sub.bücher.de", []string{flExt}},
		} {
			u := flUser(t, s, "w", tc.domain)
			x.add(alice, "", u.email, "MEMBER")
			x.check(u.email+" with *.acme.com and bücher.de trusted", flW("MEMBER_ADDED", alice, tc.flags...))
		}

		// Cleared: the admins' domains at each moment are trusted again.
		if got := x.trust(alice, ""); len(got) != 0 {
			t.Errorf("trustedDomains = %q after clearing, want []", got)
		}
		x.check("trusted domains cleared", flW("TRUSTED_DOMAINS_UPDATED", alice))
		oscar, pat := flUser(t, s, "oscar", "partner.io"), flUser(t, s, "pat", "gmail.com")
		x.add(alice, "", oscar.email, "MEMBER")
		x.check("partner.io, no admin's domain", flW("MEMBER_ADDED", alice, flExt))
		x.add(alice, "", pat.email, "ADMIN")
		x.check("an admin from gmail.com does not vouch for their own domain", flW("MEMBER_ADDED", alice, flExt, flAdmin))
		quinn := flUser(t, s, "quinn", "gmail.com")
		x.add(alice, "", quinn.email, "MEMBER")
		x.check("gmail.com once an admin is from gmail.com", flW("MEMBER_ADDED", alice))
		x.setRole(alice, "", pat, "MEMBER")
		x.check("the gmail.com admin demoted", flW("MEMBER_ROLE_UPDATED", alice))
		rita := flUser(t, s, "rita", "gmail.com")
		x.add(alice, "", rita.email, "MEMBER")
		x.check("gmail.com once no admin is from gmail.com", flW("MEMBER_ADDED", alice, flExt))
	})
}

// TestInsightAdminGranted: ADMIN_GRANTED on every way of giving the ADMIN
// role (added, invited by email, accepted, changed to ADMIN), and on
// nothing else (MEMBER roles, a demotion, a removal, a deleted invite).
func TestInsightAdminGranted(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, nil)
		alice := flUser(t, s, "alice", "acme.com")
		x := flCreate(t, s, alice, "", 11*time.Minute)
		bob, carol := flUser(t, s, "bob", "acme.com"), flUser(t, s, "carol", "acme.com")
		x.add(alice, "", bob.email, "ADMIN")
		x.check("added as ADMIN", flW("MEMBER_ADDED", alice, flAdmin))
		x.add(alice, "", carol.email, "MEMBER")
		x.check("added as MEMBER", flW("MEMBER_ADDED", alice))
		x.setRole(alice, "", carol, "ADMIN")
		x.check("MEMBER to ADMIN", flW("MEMBER_ROLE_UPDATED", alice, flAdmin))
		x.setRole(bob, "", carol, "MEMBER")
		x.check("ADMIN to MEMBER", flW("MEMBER_ROLE_UPDATED", bob))
		dan, erin := flUser(t, s, "dan", "acme.com"), flUser(t, s, "erin", "acme.com")
		_, danToken := x.invite(alice, "", dan.email, "ADMIN")
		x.check("email invite as ADMIN", flW("EMAIL_INVITE_CREATED", alice, flAdmin))
		_, erinToken := x.invite(alice, "", erin.email, "MEMBER")
		x.check("email invite as MEMBER", flW("EMAIL_INVITE_CREATED", alice))
		x.accept(dan, "", danToken)
		x.check("ADMIN email invite accepted", flW("EMAIL_INVITE_ACCEPTED", dan, flAdmin), flW("MEMBER_ADDED", dan, flAdmin))
		x.accept(erin, "", erinToken)
		x.check("MEMBER email invite accepted", flW("EMAIL_INVITE_ACCEPTED", erin), flW("MEMBER_ADDED", erin))
		// A public link grants MEMBER only (an ADMIN one is refused).
		flFails(t, s, bob.token, flInviteQuery, map[string]any{"w": x.ws, "k": "PUBLIC", "r": "ADMIN"}, "BAD_USER_INPUT")
		x.check("a refused ADMIN public link writes nothing")
		_, link := x.invite(bob, "", "", "MEMBER")
		x.check("public link", flW("PUBLIC_INVITE_LINK_CREATED", bob))
		fay, joe := flUser(t, s, "fay", "acme.com"), flUser(t, s, "joe", "acme.com")
		x.accept(joe, "", link)
		x.check("public link accepted", flW("PUBLIC_INVITE_LINK_ACCEPTED", joe), flW("MEMBER_ADDED", joe))
		_, fayToken := x.invite(bob, "", fay.email, "ADMIN")
		x.check("email invite as ADMIN by another admin", flW("EMAIL_INVITE_CREATED", bob, flAdmin))
		x.accept(fay, "", fayToken)
		x.check("the second ADMIN invite accepted", flW("EMAIL_INVITE_ACCEPTED", fay, flAdmin), flW("MEMBER_ADDED", fay, flAdmin))
		x.remove(alice, "", bob)
		x.check("an admin removed", flW("MEMBER_REMOVED", alice))
		gus, _ := x.invite(alice, "", "gus@acme.com", "ADMIN")
		x.check("another email invite as ADMIN", flW("EMAIL_INVITE_CREATED", alice, flAdmin))
		x.deleteInvite(alice, "", gus)
		x.check("an ADMIN invite deleted", flW("EMAIL_INVITE_DELETED", alice))
		hal := flUser(t, s, "hal", "gmail.com")
		x.add(fay, "", hal.email, "ADMIN")
		x.check("added as ADMIN from outside", flW("MEMBER_ADDED", fay, flExt, flAdmin))
	})
}

// TestInsightBurst: BURST on an actor's tenth and later user-management
// events in a workspace within ten minutes, not on the ninth; reading and
// configuring (exports, trusted domains) and other actors do not count, nor
// do events older than ten minutes, nor events in another workspace.
func TestInsightBurst(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, nil)
		alice := flUser(t, s, "alice", "acme.com")
		x := flCreate(t, s, alice, "", 0)
		bob, carol := flUser(t, s, "bob", "acme.com"), flUser(t, s, "carol", "acme.com")
		x.add(alice, "", bob.email, "ADMIN")
		x.check("bob added", flW("MEMBER_ADDED", alice, flAdmin))
		x.add(alice, "", carol.email, "ADMIN")
		x.check("carol added", flW("MEMBER_ADDED", alice, flAdmin))
		members := make([]user, 21)
		for i := range members {
			members[i] = flUser(t, s, fmt.Sprintf("m%d", i), "acme.com")
		}
		s.clock.Advance(11 * time.Minute)

		t.Run("ninth-not-tenth", func(t *testing.T) {
			x.t = t
			x.add(bob, "", members[0].email, "MEMBER")
			x.check("bob's 1st", flW("MEMBER_ADDED", bob))
			x.add(bob, "", members[1].email, "MEMBER")
			x.check("bob's 2nd", flW("MEMBER_ADDED", bob))
			x.add(bob, "", members[2].email, "MEMBER")
			x.check("bob's 3rd", flW("MEMBER_ADDED", bob))
			inv, _ := x.invite(bob, "", "g1@acme.com", "MEMBER")
			x.check("bob's 4th", flW("EMAIL_INVITE_CREATED", bob))
			x.setRole(bob, "", members[0], "ADMIN")
			x.check("bob's 5th", flW("MEMBER_ROLE_UPDATED", bob, flAdmin))
			x.export(bob, "")
			x.check("an export is not user management", flW("AUDIT_LOG_EXPORTED", bob))
			x.trust(bob, "", "acme.com")
			x.check("trusted domains are not user management", flW("TRUSTED_DOMAINS_UPDATED", bob))
			x.add(alice, "", members[3].email, "MEMBER")
			x.check("another actor's event", flW("MEMBER_ADDED", alice))
			x.remove(bob, "", members[1])
			x.check("bob's 6th", flW("MEMBER_REMOVED", bob))
			x.add(bob, "", members[4].email, "MEMBER")
			x.check("bob's 7th", flW("MEMBER_ADDED", bob))
			x.deleteInvite(bob, "", inv)
			x.check("bob's 8th", flW("EMAIL_INVITE_DELETED", bob))
			x.add(bob, "", members[5].email, "MEMBER")
			x.check("bob's 9th, his 11th event", flW("MEMBER_ADDED", bob))
			x.invite(bob, "", "", "MEMBER")
			x.check("bob's 10th", flW("PUBLIC_INVITE_LINK_CREATED", bob, flBurst))
			x.add(bob, "", members[6].email, "ADMIN")
			x.check("bob's 11th", flW("MEMBER_ADDED", bob, flAdmin, flBurst))
			x.add(alice, "", members[7].email, "MEMBER")
			x.check("alice's 2nd in this window", flW("MEMBER_ADDED", alice))

			// Another workspace counts on its own.
			y := flCreate(t, s, bob, "", 0)
			y.add(bob, "", members[8].email, "MEMBER")
			y.check("bob's 2nd in his own workspace", flW("MEMBER_ADDED", bob))
			x.check("nothing in the first workspace")
			x.add(bob, "", members[9].email, "MEMBER")
			x.check("bob's 12th in the first workspace", flW("MEMBER_ADDED", bob, flBurst))
		})

		t.Run("older-than-ten-minutes-do-not-count", func(t *testing.T) {
			x.t = t
			x.add(carol, "", members[10].email, "MEMBER")
			x.check("carol's 1st", flW("MEMBER_ADDED", carol))
			first := flTime(t, x.last[0].OccurredAt)
			s.clock.Advance(2 * time.Minute)
			for i := 2; i <= 9; i++ {
				x.add(carol, "", members[9+i].email, "MEMBER")
				x.check(fmt.Sprintf("carol's %dth", i), flW("MEMBER_ADDED", carol))
			}
			// Ten and a half minutes after the first: it has left the
			// window, the second (at least two minutes later) has not.
			s.clock.Set(time.Until(first.Add(10*time.Minute + 30*time.Second)))
			x.add(carol, "", members[19].email, "MEMBER")
			x.check("carol's 10th, the 9th within ten minutes", flW("MEMBER_ADDED", carol))
			if at := flTime(t, x.last[0].OccurredAt); at.Sub(first) <= 10*time.Minute {
				t.Fatalf("carol's 10th event is %v after her first, want more than 10 minutes", at.Sub(first))
			}
			x.add(carol, "", members[20].email, "MEMBER")
			x.check("carol's 11th, the 10th within ten minutes", flW("MEMBER_ADDED", carol, flBurst))
		})
	})
}

func flTime(t testing.TB, s string) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("time %q: %v", s, err)
	}
	return at
}

// TestInsightNewLocation: NEW_LOCATION when an actor acts from an IPv4 /24
// or IPv6 /64 not seen for them in this workspace, never on their first
// event; per actor and per workspace; on any action.
func TestInsightNewLocation(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, flProxied)
		alice := flUser(t, s, "alice", "acme.com")
		x := flCreate(t, s, alice, "203.0.113.7", 11*time.Minute)
		if got := deref(x.last[0].IPAddress); got != "203.0.113.7" {
			t.Fatalf("the creation's ipAddress = %s, want 203.0.113.7: is the proxy trusted?", got)
		}
		steps := []struct {
			from  string
			flags []string
		}{
			{"203.0.113.200", nil},               // the same /24
			{"203.0.114.1", []string{flNew}},     // the neighbouring /24
			{"203.0.114.99", nil},                // seen now
			{"203.0.113.50", nil},                // the first /24, still seen
			{"::ffff:203.0.113.9", nil},          // IPv4-mapped: the first /24
			{"2001:db8:1:2::1", []string{flNew}}, // IPv6, new
			{"2001:db8:1:2::beef", nil},          // the same /64
			{"2001:db8:1:3::1", []string{flNew}}, // the neighbouring /64
			{"2001:db8:1:2:ffff::1", nil},        // the first /64 again
			{"2001:db8:2::1", []string{flNew}},   // another /48
			{"198.51.100.1", []string{flNew}},    // far away
			{"198.51.100.254", nil},              // and its /24
		}
		for i, st := range steps {
			m := flUser(t, s, fmt.Sprintf("m%d", i), "acme.com")
			x.add(alice, st.from, m.email, "MEMBER")
			x.check("alice from "+st.from, flW("MEMBER_ADDED", alice, st.flags...))
		}
		x.export(alice, "192.0.2.1")
		x.check("an export from a new network", flW("AUDIT_LOG_EXPORTED", alice, flNew))
		x.trust(alice, "192.0.2.200")
		x.check("trusted domains from that network", flW("TRUSTED_DOMAINS_UPDATED", alice))

		// Another actor: their first events are not flagged, whatever the
		// address; alice's networks are not theirs.
		bob := flUser(t, s, "bob", "acme.com")
		_, invite := x.invite(alice, "203.0.113.7", bob.email, "ADMIN")
		x.check("invite", flW("EMAIL_INVITE_CREATED", alice, flAdmin))
		x.accept(bob, "192.0.2.55", invite)
		x.check("bob's first events", flW("EMAIL_INVITE_ACCEPTED", bob, flAdmin), flW("MEMBER_ADDED", bob, flAdmin))
		m := flUser(t, s, "mb1", "acme.com")
		x.add(bob, "192.0.2.99", m.email, "MEMBER")
		x.check("bob from his /24", flW("MEMBER_ADDED", bob))
		m = flUser(t, s, "mb2", "acme.com")
		x.add(bob, "203.0.113.7", m.email, "MEMBER")
		x.check("bob from alice's /24", flW("MEMBER_ADDED", bob, flNew))

		// Another workspace: alice's first event there is not flagged; a
		// network she used in the first workspace is new in this one.
		y := flCreate(t, s, alice, "203.0.113.7", 11*time.Minute)
		m = flUser(t, s, "my1", "acme.com")
		y.add(alice, "203.0.114.1", m.email, "MEMBER")
		y.check("alice from a network seen only in the other workspace", flW("MEMBER_ADDED", alice, flNew))
		m = flUser(t, s, "my2", "acme.com")
		y.add(alice, "203.0.113.99", m.email, "MEMBER")
		y.check("alice from the network of her first event here", flW("MEMBER_ADDED", alice))
	})
}

// TestInsightNewLocationRetention: a network counts as seen only within the
// retention window (48 hours here).
func TestInsightNewLocationRetention(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		env := map[string]string{"AUDITLOG_RETENTION": "48h"}
		for k, v := range flProxied {
			env[k] = v
		}
		s := newServer(t, db, env)
		alice := flUser(t, s, "alice", "acme.com")
		x := flCreate(t, s, alice, "203.0.113.7", 0)
		add := func(from string, after time.Duration, flags ...string) {
			t.Helper()
			s.clock.Advance(after)
			m := flUser(t, s, "m", "acme.com")
			x.add(alice, from, m.email, "MEMBER")
			x.check(fmt.Sprintf("from %s after %v", from, after), flW("MEMBER_ADDED", alice, flags...))
		}
		add("198.51.100.7", 11*time.Minute, flNew) // B at t0+11m
		add("203.0.113.8", 47*time.Hour)           // A, last seen 47h11m ago: within 48h
		add("198.51.100.8", 2*time.Hour, flNew)    // B, last seen 49h ago
		add("203.0.113.9", 11*time.Minute)         // A, seen 2h11m ago
		add("198.51.100.9", 11*time.Minute)        // B, seen 11m ago
	})
}

// TestInsightNewLocationAtTheWindowsEdge: "seen within the retention
// window" is exact (48 hours here): a network last used 47h45m ago is seen,
// even when an earlier use of it, 48h15m ago, was the one its record kept;
// one last used 48h01m ago is not.
func TestInsightNewLocationAtTheWindowsEdge(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		env := map[string]string{"AUDITLOG_RETENTION": "48h"}
		for k, v := range flProxied {
			env[k] = v
		}
		s := newServer(t, db, env)
		alice := flUser(t, s, "alice", "acme.com")
		x := flCreate(t, s, alice, "203.0.113.7", 0)
		add := func(from string, after time.Duration, flags ...string) {
			t.Helper()
			s.clock.Advance(after)
			m := flUser(t, s, "m", "acme.com")
			x.add(alice, from, m.email, "MEMBER")
			x.check(fmt.Sprintf("from %s after %v", from, after), flW("MEMBER_ADDED", alice, flags...))
		}
		add("192.0.2.1", 11*time.Minute, flNew)
		add("192.0.2.2", 30*time.Minute)
		add("192.0.2.3", 47*time.Hour+45*time.Minute) // last used 47h45m ago
		add("198.51.100.1", 11*time.Minute, flNew)
		add("198.51.100.2", 30*time.Minute)
		add("198.51.100.3", 48*time.Hour+time.Minute, flNew) // last used 48h01m ago
	})
}

// TestInsightNewLocationAfterRetention: an actor back after longer than the
// retention window is not on their first event: they are flagged from a
// network they last used before the window, and the retention job running
// in between does not change that (flags must not depend on when it ran).
func TestInsightNewLocationAfterRetention(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		env := map[string]string{"AUDITLOG_RETENTION": "48h"}
		for k, v := range flProxied {
			env[k] = v
		}
		s := newServer(t, db, env)
		alice := flUser(t, s, "alice", "acme.com")
		before, after := flCreate(t, s, alice, "203.0.113.7", 0), flCreate(t, s, alice, "203.0.113.7", 0)
		s.clock.Advance(49 * time.Hour)
		before.add(alice, "203.0.113.8", flUser(t, s, "m1", "acme.com").email, "MEMBER")
		before.check("back after 49 hours, before the retention job", flW("MEMBER_ADDED", alice, flNew))
		if _, err := s.app.Prune(context.Background()); err != nil {
			t.Fatalf("prune: %v", err)
		}
		after.add(alice, "203.0.113.8", flUser(t, s, "m2", "acme.com").email, "MEMBER")
		after.check("back after 49 hours, after the retention job", flW("MEMBER_ADDED", alice, flNew))
		after.add(alice, "203.0.113.9", flUser(t, s, "m3", "acme.com").email, "MEMBER")
		after.check("and again from that network", flW("MEMBER_ADDED", alice))
	})
}

// TestInsightTrustedDomains: setTrustedDomains is for admins, validates and
// normalises its list, and writes TRUSTED_DOMAINS_UPDATED; admins read the
// list on Workspace.trustedDomains.
func TestInsightTrustedDomains(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, nil)
		alice, bob := flUser(t, s, "alice", "acme.com"), flUser(t, s, "bob", "acme.com")
		x := flCreate(t, s, alice, "", time.Minute)
		x.add(alice, "", bob.email, "MEMBER")
		x.check("bob added", flW("MEMBER_ADDED", alice))
		read := func(u user) *response {
			return s.post(t, u.token, `query($w: ID!) { workspace(id: $w) { id trustedDomains } }`, map[string]any{"w": x.ws})
		}
		readList := func() []string {
			t.Helper()
			r := read(alice)
			var out struct {
				Workspace struct{ TrustedDomains []string }
			}
			if len(r.Errors) > 0 || json.Unmarshal(r.Data, &out) != nil || out.Workspace.TrustedDomains == nil {
				t.Fatalf("admin reads trustedDomains: %s", r.Raw)
			}
			return out.Workspace.TrustedDomains
		}
		if got := readList(); len(got) != 0 {
			t.Errorf("trustedDomains of a new workspace = %q, want []", got)
		}
		if r := read(bob); r.code() != "FORBIDDEN" {
			t.Errorf("a MEMBER reads trustedDomains: want FORBIDDEN, got %s", r.Raw)
		}

		t.Run("member-forbidden", func(t *testing.T) {
			flFails(t, s, bob.token, flTrustedQuery, map[string]any{"w": x.ws, "d": []string{"acme.com"}}, "FORBIDDEN")
		})

		t.Run("invalid-lists-refused", func(t *testing.T) {
			many := make([]string, 51)
			for i := range many {
				many[i] = fmt.Sprintf("d%d.example.com", i)
			}
			for _, tc := range []struct {
				name    string
				domains []string
			}{
				{"url", []string{"https://acme.com"}},
				{"path", []string{"acme.com/login"}},
				{"port", []string{"acme.com:443"}},
				{"email", []string{"bob@acme.com"}},
				{"ipv4", []string{"192.0.2.1"}},
				{"ipv6", []string{"2001:db8::1"}},
				{"public-suffix", []string{"co.uk"}},
				{"public-suffix-com", []string{"com"}},
				{"single-label", []string{"localhost"}},
				{"empty-entry", []string{"acme.com", ""}},
				{"space-inside", []string{"ac me.com"}},
				{"wildcard-inside", []string{"a.*.acme.com"}},
				{"wildcard-on-a-public-suffix", []string{"*.co.uk"}},
				{"fifty-one-distinct", many},
				{"one-bad-among-good", []string{"acme.com", "partner.io", "http://x.io"}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					r := flFails(t, s, alice.token, flTrustedQuery, map[string]any{"w": x.ws, "d": tc.domains}, "BAD_USER_INPUT")
					if !strings.Contains(r.Raw, "domains") {
						t.Errorf("the error does not name the argument domains: %s", r.Raw)
					}
				})
			}
			if got := readList(); len(got) != 0 {
				t.Errorf("trustedDomains after refused lists = %q, want []", got)
			}
			x.t = t
			x.check("refused lists write nothing")
		})

		t.Run("normalised-deduplicated-sorted", func(t *testing.T) {
			x.t = t
			want := []string{"*.corp.example", "acme.com", "partner.io", "xn--bcher-kva.de"}
			got := x.trust(alice, "", "Bücher.DE", " acme.com ", "ACME.com.", "partner.io", "*.Corp.Example", "xn--bcher-kva.de", "PARTNER.IO")
			if !slices.Equal(got, want) {
				t.Errorf("setTrustedDomains returned %q, want %q", got, want)
			}
			if got := readList(); !slices.Equal(got, want) {
				t.Errorf("trustedDomains = %q, want %q", got, want)
			}
			x.check("trusted domains set", flW("TRUSTED_DOMAINS_UPDATED", alice))
			e := x.last[0]
			if e.Target == nil || e.Target.Type != "WORKSPACE" || e.Target.ID != x.ws || deref(e.Target.Label) != strings.Join(want, ",") {
				t.Errorf("TRUSTED_DOMAINS_UPDATED target = %+v label %q, want WORKSPACE %s labelled %q", e.Target, e.label(), x.ws, strings.Join(want, ","))
			}
			// Fifty distinct domains, given with duplicates, are allowed.
			var fifty []string
			for i := range 50 {
				fifty = append(fifty, fmt.Sprintf("d%02d.example.com", i), fmt.Sprintf("D%02d.EXAMPLE.COM", i))
			}
			got = x.trust(alice, "", fifty...)
			if len(got) != 50 || got[0] != "d00.example.com" || got[49] != "d49.example.com" {
				t.Errorf("setTrustedDomains of 50 distinct domains returned %d: %q", len(got), got)
			}
			x.check("fifty domains", flW("TRUSTED_DOMAINS_UPDATED", alice))
			// The longest list: fifty wildcards of 253-character domains,
			// a label of 12,799 characters, kept whole.
			var longest []string
			for i := range 50 {
				longest = append(longest, fmt.Sprintf("*.d%02d%s.%s.%s.%s.com", i, strings.Repeat("a", 60), strings.Repeat("b", 63), strings.Repeat("c", 63), strings.Repeat("e", 57)))
			}
			got = x.trust(alice, "", longest...)
			if !slices.Equal(got, longest) {
				t.Errorf("setTrustedDomains of the longest list returned %d domains, want the 50 given", len(got))
			}
			x.check("the longest list", flW("TRUSTED_DOMAINS_UPDATED", alice))
			if l := x.last[0].label(); l != strings.Join(longest, ",") || len(l) != 12_799 {
				t.Errorf("label of the longest list has %d characters, want the list's 12799", len(l))
			}
			// A label is found by the targetLabel filter, ignoring case.
			short := strings.Join(want, ",")
			found := flLog(t, s, alice.token, x.ws, map[string]any{"targetLabel": strings.ToUpper(short)})
			if len(found) != 1 || found[0].Action != "TRUSTED_DOMAINS_UPDATED" || found[0].label() != short {
				t.Errorf("filter targetLabel %q found %d events, want the one TRUSTED_DOMAINS_UPDATED", short, len(found))
			}
			if got := x.trust(alice, ""); got == nil || len(got) != 0 {
				t.Errorf("setTrustedDomains([]) returned %q, want []", got)
			}
			x.check("cleared", flW("TRUSTED_DOMAINS_UPDATED", alice))
			if l := x.last[0].label(); l != "" {
				t.Errorf("label of TRUSTED_DOMAINS_UPDATED clearing the list = %q, want empty", l)
			}
			if got := readList(); len(got) != 0 {
				t.Errorf("trustedDomains after clearing = %q, want []", got)
			}
		})

		t.Run("any-plan", func(t *testing.T) {
			var out struct{ CreateWorkspace struct{ ID string } }
			s.ok(t, alice.token, flCreateQuery, map[string]any{"n": "free"}, &out)
			var set struct {
				SetTrustedDomains struct{ TrustedDomains []string }
			}
			s.ok(t, alice.token, flTrustedQuery, map[string]any{"w": out.CreateWorkspace.ID, "d": []string{"Acme.com"}}, &set)
			if !slices.Equal(set.SetTrustedDomains.TrustedDomains, []string{"acme.com"}) {
				t.Errorf("on FREE: trustedDomains = %q, want [acme.com]", set.SetTrustedDomains.TrustedDomains)
			}
		})
	})
}

// TestInsightFlagFilter: auditLog(filter: {flags}) returns exactly the
// events with any of the flags, pages through them forwards and backwards,
// combines with actions and time, and counts them.
func TestInsightFlagFilter(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, nil)
		alice := flUser(t, s, "alice", "acme.com")
		x := flCreate(t, s, alice, "", 11*time.Minute)
		eve1, bob, eve2 := flUser(t, s, "eve1", "gmail.com"), flUser(t, s, "bob", "acme.com"), flUser(t, s, "eve2", "gmail.com")
		eve3, carl, eve5 := flUser(t, s, "eve3", "gmail.com"), flUser(t, s, "carl", "acme.com"), flUser(t, s, "eve5", "gmail.com")
		x.add(alice, "", eve1.email, "MEMBER")
		x.check("eve1", flW("MEMBER_ADDED", alice, flExt))
		x.add(alice, "", bob.email, "MEMBER")
		x.check("bob", flW("MEMBER_ADDED", alice))
		x.add(alice, "", eve2.email, "ADMIN")
		x.check("eve2", flW("MEMBER_ADDED", alice, flExt, flAdmin))
		x.add(alice, "", eve3.email, "MEMBER")
		x.check("eve3, with a gmail.com admin", flW("MEMBER_ADDED", alice))
		x.add(alice, "", carl.email, "ADMIN")
		x.check("carl", flW("MEMBER_ADDED", alice, flAdmin))
		x.setRole(alice, "", eve2, "MEMBER")
		x.check("eve2 demoted", flW("MEMBER_ROLE_UPDATED", alice))
		x.invite(alice, "", "eve4@gmail.com", "MEMBER")
		x.check("eve4 invited", flW("EMAIL_INVITE_CREATED", alice, flExt))
		x.invite(alice, "", "xavier@acme.com", "MEMBER")
		x.check("xavier invited", flW("EMAIL_INVITE_CREATED", alice))
		x.add(alice, "", eve5.email, "MEMBER")
		x.check("eve5", flW("MEMBER_ADDED", alice, flExt))
		sinceEve5 := x.last[0].OccurredAt
		x.invite(alice, "", "eve6@yahoo.com", "ADMIN")
		x.check("eve6 invited", flW("EMAIL_INVITE_CREATED", alice, flExt, flAdmin))
		x.remove(alice, "", eve1)
		x.check("eve1 removed", flW("MEMBER_REMOVED", alice))

		all := flLog(t, s, alice.token, x.ws, nil)
		// with lists, newest first, the ids of the events of all that have
		// any of flags and, when actions is not nil, one of actions.
		with := func(flags []string, actions []string, since string) []string {
			var out []string
			for _, e := range slices.Backward(all) {
				if slices.ContainsFunc(e.Flags, func(f string) bool { return slices.Contains(flags, f) }) &&
					(actions == nil || slices.Contains(actions, e.Action)) && (since == "" || e.OccurredAt >= since) {
					out = append(out, e.ID)
				}
			}
			return out
		}
		for _, tc := range []struct {
			name    string
			flags   []string
			actions []string
			since   string
			want    int // known from the script above
		}{
			{"external-domain", []string{flExt}, nil, "", 5},
			{"admin-granted", []string{flAdmin}, nil, "", 4},
			{"external-or-admin", []string{flExt, flAdmin}, nil, "", 7},
			{"admin-or-external-same-thing", []string{flAdmin, flExt}, nil, "", 7},
			{"external-with-one-action", []string{flExt}, []string{"EMAIL_INVITE_CREATED"}, "", 2},
			{"admin-with-two-actions", []string{flAdmin}, []string{"MEMBER_ADDED", "MEMBER_ROLE_UPDATED"}, "", 3},
			{"external-with-an-action-none-has", []string{flExt}, []string{"MEMBER_REMOVED"}, "", 0},
			{"external-since", []string{flExt}, nil, sinceEve5, 2},
			{"none-have-it", []string{flNew}, nil, "", 0},
			{"burst-none", []string{flBurst}, nil, "", 0},
		} {
			t.Run(tc.name, func(t *testing.T) {
				want := with(tc.flags, tc.actions, tc.since)
				if len(want) != tc.want {
					t.Fatalf("the log has %d such events, the script made %d: the flags are wrong (see the other tests)", len(want), tc.want)
				}
				filter := map[string]any{"flags": tc.flags}
				if tc.actions != nil {
					filter["actions"] = tc.actions
				}
				if tc.since != "" {
					filter["since"] = tc.since
				}
				// Forwards (newest first), two at a time.
				var got []string
				vars := map[string]any{"first": 2, "filter": filter}
				for pages := 0; ; pages++ {
					c := flPage(t, s, alice.token, x.ws, vars)
					if c.TotalCount != len(want) {
						t.Errorf("page %d: totalCount %d, want %d", pages, c.TotalCount, len(want))
					}
					if len(c.Nodes) > 2 {
						t.Errorf("page %d has %d events, want at most 2", pages, len(c.Nodes))
					}
					for _, e := range c.Nodes {
						got = append(got, e.ID)
					}
					if !c.PageInfo.HasNextPage || pages > len(want) {
						break
					}
					vars["after"] = *c.PageInfo.EndCursor
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("paging forwards by 2 (-want +got):\n%s", diff)
				}
				// Backwards from the oldest, two at a time.
				got = nil
				vars = map[string]any{"last": 2, "filter": filter}
				for pages := 0; ; pages++ {
					c := flPage(t, s, alice.token, x.ws, vars)
					var page []string
					for _, e := range c.Nodes {
						page = append(page, e.ID)
					}
					got = append(page, got...)
					if !c.PageInfo.HasPreviousPage || pages > len(want) {
						break
					}
					vars["before"] = *c.PageInfo.StartCursor
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("paging backwards by 2 (-want +got):\n%s", diff)
				}
			})
		}
	})
}

// flSummary is an AuditLogSummary as the API returns it.
type flSummary struct {
	Since, Until string
	Total        int
	ByAction     []struct {
		Action string
		Count  int
	}
	ByFlag []struct {
		Flag  string
		Count int
	}
	TopActors []struct {
		Actor struct {
			ID    string
			Email *string
			Type  string
		}
		Count int
	}
}

func flGetSummary(t testing.TB, s *server, token, ws string, since, until *time.Time) flSummary {
	t.Helper()
	vars := map[string]any{"w": ws}
	if since != nil {
		vars["since"] = timefmt.Format(*since)
	}
	if until != nil {
		vars["until"] = timefmt.Format(*until)
	}
	var out struct{ AuditLogSummary flSummary }
	s.ok(t, token, flSummaryQuery, vars, &out)
	return out.AuditLogSummary
}

// flTally is what a summary must say, counted by the test.
type flTally struct {
	total    int
	byAction map[string]int
	byFlag   map[string]int
	byActor  map[string]int // "TYPE/id"
}

func flCount(events []flEvent) flTally {
	c := flTally{byAction: map[string]int{}, byFlag: map[string]int{}, byActor: map[string]int{}}
	for _, e := range events {
		c.total++
		c.byAction[e.Action]++
		for _, f := range e.Flags {
			c.byFlag[f]++
		}
		c.byActor[e.Actor.Type+"/"+e.Actor.ID]++
	}
	return c
}

// flCheckSummary compares a summary with the test's own count of the same
// window and with auditLog's totalCount of it (by no filter, each action,
// each flag); emails are the users' emails (by actor id; nil for others).
func flCheckSummary(t testing.TB, s *server, token, ws string, got flSummary, want flTally, since, until time.Time, emails map[string]string) {
	t.Helper()
	window := map[string]any{"since": timefmt.Format(since), "until": timefmt.Format(until)}
	with := func(k string, v any) map[string]any {
		f := map[string]any{k: v}
		for k, v := range window {
			f[k] = v
		}
		return f
	}
	if got.Since != timefmt.Format(since) || got.Until != timefmt.Format(until) {
		t.Errorf("summary of [%s, %s) says [%s, %s)", timefmt.Format(since), timefmt.Format(until), got.Since, got.Until)
	}
	if got.Total != want.total {
		t.Errorf("total %d, want %d", got.Total, want.total)
	}
	if n := flTotal(t, s, token, ws, window); got.Total != n {
		t.Errorf("total %d, auditLog totalCount of the window %d", got.Total, n)
	}
	var actions []string
	for _, a := range got.ByAction {
		actions = append(actions, a.Action)
		if a.Count != want.byAction[a.Action] {
			t.Errorf("byAction %s = %d, want %d", a.Action, a.Count, want.byAction[a.Action])
		}
		if n := flTotal(t, s, token, ws, with("actions", []string{a.Action})); a.Count != n {
			t.Errorf("byAction %s = %d, auditLog totalCount %d", a.Action, a.Count, n)
		}
	}
	if !slices.Equal(actions, flAllActions) {
		t.Errorf("byAction lists %q, want every action in the enum's order", actions)
	}
	var flags []string
	for _, f := range got.ByFlag {
		flags = append(flags, f.Flag)
		if f.Count != want.byFlag[f.Flag] {
			t.Errorf("byFlag %s = %d, want %d", f.Flag, f.Count, want.byFlag[f.Flag])
		}
		if n := flTotal(t, s, token, ws, with("flags", []string{f.Flag})); f.Count != n {
			t.Errorf("byFlag %s = %d, auditLog totalCount %d", f.Flag, f.Count, n)
		}
	}
	if !slices.Equal(flags, flAllFlags) {
		t.Errorf("byFlag lists %q, want every flag in the enum's order", flags)
	}
	// Top actors: at most ten, most events first, each with its exact
	// count, and nobody left out who has more than the last one listed.
	if want := min(10, len(want.byActor)); len(got.TopActors) != want {
		t.Errorf("%d top actors, want %d", len(got.TopActors), want)
	}
	listed := map[string]bool{}
	for i, a := range got.TopActors {
		key := a.Actor.Type + "/" + a.Actor.ID
		listed[key] = true
		if a.Count != want.byActor[key] {
			t.Errorf("top actor %d %s: count %d, want %d", i, key, a.Count, want.byActor[key])
		}
		if i > 0 && a.Count > got.TopActors[i-1].Count {
			t.Errorf("top actor %d %s has %d events, more than the one before (%d)", i, key, a.Count, got.TopActors[i-1].Count)
		}
		wantEmail, isUser := emails[a.Actor.ID]
		switch {
		case isUser && a.Actor.Type == "USER" && deref(a.Actor.Email) != wantEmail:
			t.Errorf("top actor %s: email %s, want %s", key, deref(a.Actor.Email), wantEmail)
		case !isUser && a.Actor.Email != nil:
			t.Errorf("top actor %s: email %s, want null", key, *a.Actor.Email)
		}
	}
	if n := len(got.TopActors); n > 0 {
		for key, c := range want.byActor {
			if !listed[key] && c > got.TopActors[n-1].Count {
				t.Errorf("actor %s with %d events is not among the top actors (the last has %d)", key, c, got.TopActors[n-1].Count)
			}
		}
	}
}

// TestInsightSummaryOfLiveEvents: the summary of events written through the
// API — by default the last 7 days, and over a window of some of them — is
// the test's own count of the log and auditLog's totalCount of the same
// window, by action, by flag and by actor; and its errors.
func TestInsightSummaryOfLiveEvents(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, nil)
		alice, bob := flUser(t, s, "alice", "acme.com"), flUser(t, s, "bob", "acme.com")
		emails := map[string]string{alice.id: alice.email, bob.id: bob.email}
		newUser := func(name, domain string) user {
			u := flUser(t, s, name, domain)
			emails[u.id] = u.email
			return u
		}
		// 23 minutes between steps: the events fall into many hours, so
		// that the whole hours come from the hourly counters and the
		// window's edges from the events.
		x := flCreate(t, s, alice, "", 23*time.Minute)
		x.add(alice, "", bob.email, "ADMIN")
		var added []user
		for i := range 6 {
			u := newUser(fmt.Sprintf("u%d", i), []string{"acme.com", "gmail.com", "yahoo.com"}[i%3])
			x.add([]user{alice, bob}[i%2], "", u.email, []string{"MEMBER", "MEMBER", "ADMIN"}[i%3])
			added = append(added, u)
		}
		_, link := x.invite(bob, "", "", "MEMBER")
		x.accept(newUser("pub1", "gmail.com"), "", link)
		x.accept(newUser("pub2", "acme.com"), "", link)
		x.invite(alice, "", "later@hotmail.com", "ADMIN")
		x.setRole(alice, "", added[0], "ADMIN")
		x.remove(bob, "", added[1])
		x.export(alice, "")
		x.trust(alice, "", "acme.com")
		// A burst: bob's user-management events without the clock moving.
		x.step = 0
		for i := range 11 {
			x.add(bob, "", newUser(fmt.Sprintf("b%d", i), "acme.com").email, "MEMBER")
		}
		x.step = 23 * time.Minute
		x.remove(alice, "", added[3])

		all := flLog(t, s, alice.token, x.ws, nil)
		c := flCount(all)
		if c.byFlag[flExt] == 0 || c.byFlag[flAdmin] == 0 || c.byFlag[flBurst] == 0 {
			t.Fatalf("the script made no event of some flag: %v", c.byFlag)
		}

		t.Run("default-window-is-the-last-7-days", func(t *testing.T) {
			got := flGetSummary(t, s, alice.token, x.ws, nil, nil)
			since, until := flTime(t, got.Since), flTime(t, got.Until)
			if d := until.Sub(since); d != 7*24*time.Hour {
				t.Errorf("default window [%s, %s) is %v long, want 7 days", got.Since, got.Until, d)
			}
			if d := s.clock.Now().Sub(until); d < -time.Second || d > time.Minute {
				t.Errorf("default until %s is %v away from now", got.Until, d)
			}
			flCheckSummary(t, s, alice.token, x.ws, got, c, since, until, emails)
		})

		t.Run("window-of-some-events", func(t *testing.T) {
			since, until := flTime(t, all[3].OccurredAt), flTime(t, all[len(all)-4].OccurredAt)
			if until.Sub(since) < 3*time.Hour {
				t.Fatalf("the window [%v, %v) holds fewer than two whole hours", since, until)
			}
			var in []flEvent
			for _, e := range all {
				if at := flTime(t, e.OccurredAt); !at.Before(since) && at.Before(until) {
					in = append(in, e)
				}
			}
			got := flGetSummary(t, s, alice.token, x.ws, &since, &until)
			flCheckSummary(t, s, alice.token, x.ws, got, flCount(in), since, until, emails)
		})

		t.Run("window-before-any-event", func(t *testing.T) {
			since, until := flTime(t, all[0].OccurredAt).Add(-5*time.Hour), flTime(t, all[0].OccurredAt)
			got := flGetSummary(t, s, alice.token, x.ws, &since, &until)
			flCheckSummary(t, s, alice.token, x.ws, got, flCount(nil), since, until, emails)
		})

		t.Run("errors", func(t *testing.T) {
			now := s.clock.Now()
			at := timefmt.Format(now.Add(-time.Hour))
			flFails(t, s, alice.token, flSummaryQuery, map[string]any{"w": x.ws, "since": at, "until": at}, "BAD_USER_INPUT")
			flFails(t, s, alice.token, flSummaryQuery, map[string]any{"w": x.ws, "since": timefmt.Format(now), "until": at}, "BAD_USER_INPUT")
			flFails(t, s, alice.token, flSummaryQuery, map[string]any{"w": x.ws, "since": timefmt.Format(now.Add(time.Hour))}, "BAD_USER_INPUT")
			flFails(t, s, added[4].token, flSummaryQuery, map[string]any{"w": x.ws}, "FORBIDDEN") // a MEMBER
			stranger := flUser(t, s, "stranger", "acme.com")
			flFails(t, s, stranger.token, flSummaryQuery, map[string]any{"w": x.ws}, "FORBIDDEN")
			var free struct{ CreateWorkspace struct{ ID string } }
			s.ok(t, alice.token, flCreateQuery, map[string]any{"n": "free"}, &free)
			flFails(t, s, alice.token, flSummaryQuery, map[string]any{"w": free.CreateWorkspace.ID}, "BUSINESS_PLAN_REQUIRED")
		})
	})
}

// TestInsightSummaryOfHistory: a summary of history bulk-loaded at chosen
// times and with chosen flags, over windows that span whole hours and
// partial ones at either edge, only whole hours, or part of one hour, with
// events exactly on the edges: the test's count, auditLog's totalCount, and
// the top ten of twelve actors.
func TestInsightSummaryOfHistory(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, nil)
		admin := flUser(t, s, "admin", "acme.com")
		x := flCreate(t, s, admin, "", 0)
		emails := map[string]string{}
		var actors []audit.Actor
		for i := range 11 {
			u := flUser(t, s, fmt.Sprintf("h%d", i), "acme.com")
			emails[u.id] = u.email
			actors = append(actors, audit.Actor{ID: u.id, Email: &u.email, Type: audit.ActorUser})
		}
		actors = append(actors, audit.Actor{ID: "scim-sync", Type: audit.ActorService})
		// Actor k is picked with weight k+1, so that counts differ.
		var pool []int
		for k := range actors {
			for range k + 1 {
				pool = append(pool, k)
			}
		}
		ext, adm, burst, nl := insight.SetOf(insight.ExternalDomain), insight.SetOf(insight.AdminGranted), insight.SetOf(insight.Burst), insight.SetOf(insight.NewLocation)
		sets := []insight.Set{0, 0, 0, ext, adm, ext | adm, burst, burst | ext, nl, ext | adm | burst | nl}

		base := s.clock.Now().Add(-72 * time.Hour).UTC().Truncate(time.Hour)
		var times []time.Time
		for d := time.Duration(0); d < 8*time.Hour; d += 7*time.Minute + 13*time.Second {
			times = append(times, base.Add(d))
		}
		for _, d := range []time.Duration{25 * time.Minute, time.Hour - time.Millisecond, time.Hour, time.Hour, 4 * time.Hour,
			4*time.Hour - time.Millisecond, 5*time.Hour + 35*time.Minute - time.Millisecond, 5*time.Hour + 35*time.Minute} {
			times = append(times, base.Add(d))
		}
		rng := rand.New(rand.NewPCG(14, 2026))
		var events []audit.Event
		var mine []flEvent // the same events as the test counts them
		for i, at := range times {
			a := actors[pool[rng.IntN(len(pool))]]
			action := flAllActions[rng.IntN(len(flAllActions))]
			set := sets[rng.IntN(len(sets))]
			label := fmt.Sprintf("p%d@example.com", i)
			events = append(events, audit.Event{ID: ids.New(at), WorkspaceID: x.ws, Action: audit.Action(action), OccurredAt: at, Actor: a,
				Target: &audit.Target{Type: audit.TargetUser, ID: fmt.Sprintf("t%d", i), Label: &label}, FlagSet: set})
			var e flEvent
			e.ID, e.Action, e.OccurredAt, e.Actor.ID, e.Actor.Type = events[i].ID, action, timefmt.Format(at), a.ID, string(a.Type)
			for _, f := range set.Flags() {
				e.Flags = append(e.Flags, string(f))
			}
			mine = append(mine, e)
		}
		if err := s.app.DB.Bulk().InsertEvents(context.Background(), events); err != nil {
			t.Fatal(err)
		}
		// The log shows the flags as they were stored.
		shown := map[string][]string{}
		for _, e := range flLog(t, s, admin.token, x.ws, map[string]any{"until": timefmt.Format(base.Add(9 * time.Hour))}) {
			shown[e.ID] = e.Flags
		}
		for _, e := range mine {
			want := e.Flags
			if want == nil {
				want = []string{}
			}
			if got, ok := shown[e.ID]; !ok || !slices.Equal(got, want) {
				t.Errorf("event %s at %s: the log shows flags %q (present %v), want %q", e.ID, e.OccurredAt, got, ok, want)
			}
		}

		for _, w := range []struct {
			name         string
			since, until time.Duration // from base
		}{
			{"whole-hours-and-both-edges", 25 * time.Minute, 5*time.Hour + 35*time.Minute},
			{"whole-hours-only", time.Hour, 4 * time.Hour},
			{"within-one-hour", 2*time.Hour + 10*time.Minute, 2*time.Hour + 50*time.Minute},
			{"one-whole-hour-between-two-edges", 50 * time.Minute, 2*time.Hour + 10*time.Minute},
			{"two-partial-hours-no-whole-one", 50 * time.Minute, time.Hour + 10*time.Minute},
			{"everything", -time.Hour, 9 * time.Hour},
			{"the-last-event-alone-and-empty-hours", 7*time.Hour + 55*time.Minute, 30 * time.Hour},
			{"one-millisecond", time.Hour, time.Hour + time.Millisecond},
		} {
			t.Run(w.name, func(t *testing.T) {
				since, until := base.Add(w.since), base.Add(w.until)
				var in []flEvent
				for i, e := range mine {
					if !times[i].Before(since) && times[i].Before(until) {
						in = append(in, e)
					}
				}
				got := flGetSummary(t, s, admin.token, x.ws, &since, &until)
				flCheckSummary(t, s, admin.token, x.ws, got, flCount(in), since, until, emails)
			})
		}
	})
}

// TestInsightSummaryClampedToRetention: a since before the retention window
// (48 hours here) is clamped to it, events older than the window that the
// retention job has not deleted yet are not counted, and a window wholly
// before the retention window is empty.
func TestInsightSummaryClampedToRetention(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, map[string]string{"AUDITLOG_RETENTION": "48h"})
		admin := flUser(t, s, "admin", "acme.com")
		x := flCreate(t, s, admin, "", 0)
		now := s.clock.Now().UTC().Truncate(time.Millisecond)
		var events []audit.Event
		for i, age := range []time.Duration{60 * time.Hour, 48*time.Hour + time.Minute, 47 * time.Hour, 30 * time.Hour, 30 * time.Hour, time.Hour} {
			at := now.Add(-age)
			email := admin.email
			label := fmt.Sprintf("old%d@example.com", i)
			events = append(events, audit.Event{ID: ids.New(at), WorkspaceID: x.ws, Action: audit.MemberAdded, OccurredAt: at,
				Actor:  audit.Actor{ID: admin.id, Email: &email, Type: audit.ActorUser},
				Target: &audit.Target{Type: audit.TargetUser, ID: fmt.Sprintf("old-%d", i), Label: &label}, FlagSet: insight.SetOf(insight.ExternalDomain)})
		}
		if err := s.app.DB.Bulk().InsertEvents(context.Background(), events); err != nil {
			t.Fatal(err)
		}
		longAgo := now.Add(-100 * time.Hour)
		got := flGetSummary(t, s, admin.token, x.ws, &longAgo, nil)
		since, until := flTime(t, got.Since), flTime(t, got.Until)
		if d := since.Sub(until.Add(-48 * time.Hour)); d < -time.Second || d > time.Second {
			t.Errorf("summary since %s, want the retention window's start, 48 hours before until %s", got.Since, got.Until)
		}
		// Inside: the four younger history events and the creation's.
		if got.Total != 5 {
			t.Errorf("total %d, want 5 (the events of the last 48 hours)", got.Total)
		}
		if n := flTotal(t, s, admin.token, x.ws, map[string]any{"since": got.Since, "until": got.Until}); got.Total != n {
			t.Errorf("total %d, auditLog totalCount of the window %d", got.Total, n)
		}
		for _, f := range got.ByFlag {
			if want := map[string]int{flExt: 4, flAdmin: 1}[f.Flag]; f.Count != want {
				t.Errorf("byFlag %s = %d, want %d", f.Flag, f.Count, want)
			}
		}
		before := now.Add(-50 * time.Hour)
		if old := flGetSummary(t, s, admin.token, x.ws, &longAgo, &before); old.Total != 0 || len(old.TopActors) != 0 {
			t.Errorf("a window before the retention window has total %d and %d top actors, want none", old.Total, len(old.TopActors))
		}
	})
}

// TestInsightFlagsInExports: CSV and JSON exports carry each event's flags
// as auditLog shows them (CSV: names joined by ";" in the last column; JSON:
// an array under "flags"), and an export filtered by flags holds exactly the
// flagged events.
func TestInsightFlagsInExports(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, nil)
		alice := flUser(t, s, "alice", "acme.com")
		x := flCreate(t, s, alice, "", 11*time.Minute)
		bob, eve, pat := flUser(t, s, "bob", "acme.com"), flUser(t, s, "eve", "gmail.com"), flUser(t, s, "pat", "gmail.com")
		x.add(alice, "", bob.email, "MEMBER")
		x.check("bob", flW("MEMBER_ADDED", alice))
		x.add(alice, "", eve.email, "MEMBER")
		x.check("eve", flW("MEMBER_ADDED", alice, flExt))
		evesEvent := x.last[0].ID
		x.add(alice, "", pat.email, "ADMIN")
		x.check("pat", flW("MEMBER_ADDED", alice, flExt, flAdmin))
		patsEvent := x.last[0].ID
		all := flLog(t, s, alice.token, x.ws, nil)
		want := map[string][]string{}
		for _, e := range all {
			want[e.ID] = e.Flags
		}

		// fileFlags reads the flags of each event of an export.
		fileFlags := func(t *testing.T, format string, filter map[string]any) map[string][]string {
			t.Helper()
			f := xDownload(t, xExportLog(t, s, alice, x.ws, format, filter))
			out := map[string][]string{}
			if format == "CSV" {
				recs := xParseCSV(t, f.Body)
				if h := recs[0][len(recs[0])-1]; h != "flags" {
					t.Fatalf("the CSV's last column is %q, want flags", h)
				}
				for _, rec := range recs[1:] {
					cell := rec[len(rec)-1]
					out[rec[0]] = []string{}
					if cell != "" {
						out[rec[0]] = strings.Split(cell, ";")
					}
					if rec[0] == patsEvent && cell != "EXTERNAL_DOMAIN;ADMIN_GRANTED" {
						t.Errorf("pat's MEMBER_ADDED has the flags cell %q, want EXTERNAL_DOMAIN;ADMIN_GRANTED", cell)
					}
				}
				return out
			}
			if !strings.Contains(f.Body, `"flags":["EXTERNAL_DOMAIN","ADMIN_GRANTED"]`) {
				t.Errorf(`no "flags":["EXTERNAL_DOMAIN","ADMIN_GRANTED"] in the JSON export:\n%s`, f.Body)
			}
			for _, e := range xParseJSON(t, f.Body) {
				if e.Flags == nil {
					t.Errorf("event %s: flags is null, want an array", e.ID)
				}
				out[e.ID] = e.Flags
			}
			return out
		}
		for _, format := range []string{"CSV", "JSON"} {
			t.Run(format, func(t *testing.T) {
				got := fileFlags(t, format, nil)
				for id, flags := range want {
					if g, ok := got[id]; !ok || !slices.Equal(g, flags) {
						t.Errorf("event %s: the file says flags %q (present %v), auditLog %q", id, g, ok, flags)
					}
				}
				for id, flags := range got {
					if _, ok := want[id]; !ok && len(flags) != 0 {
						t.Errorf("event %s (an earlier export's) has flags %q in the file, want none", id, flags)
					}
				}
				filtered := fileFlags(t, format, map[string]any{"flags": []string{flExt}})
				wantFiltered := map[string][]string{evesEvent: {flExt}, patsEvent: {flExt, flAdmin}}
				if diff := cmp.Diff(wantFiltered, filtered); diff != "" {
					t.Errorf("export filtered by EXTERNAL_DOMAIN (-want +got):\n%s", diff)
				}
			})
		}
	})
}

// TestInsightFlagsInTheSubscription: auditLogEvents carries each event's
// flags, for events written while subscribed and for those replayed after
// afterSequence.
func TestInsightFlagsInTheSubscription(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, nil)
		alice := flUser(t, s, "alice", "acme.com")
		x := flCreate(t, s, alice, "", 0)
		c, err := wsDial(t, s, alice.token)
		if err != nil {
			t.Fatal(err)
		}
		subscribe := func(id string, after int) {
			p, _ := json.Marshal(map[string]any{"query": `subscription($w: ID!, $a: Int) { auditLogEvents(workspaceId: $w, afterSequence: $a) { sequence action flags } }`,
				"variables": map[string]any{"w": x.ws, "a": after}})
			c.send(wsMessage{ID: id, Type: "subscribe", Payload: p})
		}
		type live struct {
			Sequence int
			Action   string
			Flags    []string
		}
		next := func(id string) live {
			t.Helper()
			m, err := c.read()
			if err != nil {
				t.Fatalf("websocket read: %v", err)
			}
			var p struct {
				Data   *struct{ AuditLogEvents live }
				Errors []gqlError
			}
			if err := json.Unmarshal(m.Payload, &p); err != nil || m.ID != id || m.Type != "next" || p.Data == nil || len(p.Errors) > 0 {
				t.Fatalf("want the next event of subscription %s, got %s %s %s", id, m.ID, m.Type, m.Payload)
			}
			return p.Data.AuditLogEvents
		}
		eve := flUser(t, s, "eve", "gmail.com")
		x.add(alice, "", eve.email, "ADMIN") // sequence 2, before subscribing
		subscribe("replay", 0)
		for _, want := range []live{{1, "MEMBER_ADDED", []string{flAdmin}}, {2, "MEMBER_ADDED", []string{flExt, flAdmin}}} {
			if got := next("replay"); !cmp.Equal(got, want) {
				t.Errorf("replayed event: %+v, want %+v", got, want)
			}
		}
		bob, carol := flUser(t, s, "bob", "acme.com"), flUser(t, s, "carol", "yahoo.com")
		x.add(alice, "", bob.email, "MEMBER")
		x.add(alice, "", carol.email, "MEMBER")
		for _, want := range []live{{3, "MEMBER_ADDED", []string{}}, {4, "MEMBER_ADDED", []string{flExt}}} {
			if got := next("replay"); !cmp.Equal(got, want) {
				t.Errorf("live event: %+v, want %+v", got, want)
			}
		}
	})
}

// TestInsightConcurrentWriters: 16 admins add 12 people each at the same
// time to one workspace; each event's flags must be what the rules give
// when the log is replayed in sequence order — EXTERNAL_DOMAIN against the
// admins' domains at that point of the log (each writer adds an admin from
// a new domain while the writer before it adds people from that domain),
// ADMIN_GRANTED per role, BURST from each actor's tenth user-management
// event within ten minutes.
func TestInsightConcurrentWriters(t *testing.T) {
	t.Parallel()
	const writers, each = 16, 12
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, nil)
		alice := flUser(t, s, "alice", "acme.com")
		x := flCreate(t, s, alice, "", 0)
		admins := make([]user, writers)
		for i := range admins {
			admins[i] = flUser(t, s, fmt.Sprintf("admin%d", i), "acme.com")
			s.addMember(t, alice, x.ws, admins[i], "ADMIN")
		}
		type job struct{ email, role string }
		jobs := make([][]job, writers)
		for i := range writers {
			for j := range each {
				// Writer i adds an admin from team<i>.io halfway through,
				// and people from team<i+1>.io before and after writer i+1
				// adds its admin: whether they are external depends on the
				// order the workspace's lock put them in.
				domain, role := "", "MEMBER"
				switch {
				case j == 5:
					domain, role = fmt.Sprintf("team%d.io", i), "ADMIN"
				case j%3 == 0:
					domain = "gmail.com"
				case j%3 == 1:
					domain = fmt.Sprintf("team%d.io", (i+1)%writers)
				default:
					domain = "acme.com"
				}
				jobs[i] = append(jobs[i], job{flUser(t, s, fmt.Sprintf("w%dj%d", i, j), domain).email, role})
			}
		}
		errs := make(chan string, writers*each)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range writers {
			wg.Go(func() {
				<-start
				for _, jb := range jobs[i] {
					if err := flPostQuietly(s, admins[i].token, flAddQuery, map[string]any{"w": x.ws, "e": jb.email, "r": jb.role}); err != nil {
						errs <- fmt.Sprintf("writer %d adds %s: %v", i, jb.email, err)
					}
				}
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}

		log := flLog(t, s, alice.token, x.ws, nil)
		slices.SortFunc(log, func(a, b flEvent) int { return int(a.Sequence - b.Sequence) })
		if n := 1 + writers + writers*each; len(log) != n {
			t.Fatalf("%d events, want %d", len(log), n)
		}
		adminDomains := map[string]string{} // admin's user id → domain
		recent := map[string][]time.Time{}  // actor → times of their user-management events
		totals := map[string]int{}
		for i, e := range log {
			if e.Sequence != int64(i+1) {
				t.Fatalf("event %d has sequence %d", i, e.Sequence)
			}
			want := []string{}
			if e.Action == "MEMBER_ADDED" {
				dom := strings.ToLower(e.label()[strings.LastIndexByte(e.label(), '@')+1:])
				// No trusted domains are set: the domains of the admins
				// other than the person added are trusted, if there are any.
				anyAdmin, trusted := false, false
				for id, d := range adminDomains {
					if id != e.Target.ID {
						anyAdmin = true
						trusted = trusted || d == dom
					}
				}
				if anyAdmin && !trusted {
					want = append(want, flExt)
				}
				if deref(e.Role) == "ADMIN" {
					want = append(want, flAdmin)
					adminDomains[e.Target.ID] = dom
				}
			} else {
				t.Fatalf("event %d is %s, want only MEMBER_ADDED", i, e.Action)
			}
			if slices.Contains(flUserManagement, e.Action) {
				at := flTime(t, e.OccurredAt)
				n := 0 // the actor's earlier ones within ten minutes
				for _, p := range recent[e.Actor.ID] {
					if !p.Before(at.Add(-10 * time.Minute)) {
						n++
					}
				}
				if n+1 >= 10 {
					want = append(want, flBurst)
				}
				recent[e.Actor.ID] = append(recent[e.Actor.ID], at)
			}
			if !slices.Equal(e.Flags, want) {
				t.Errorf("event #%d (%s by %s of %s as %s at %s): flags %q, want %q", e.Sequence, e.Action, e.Actor.ID, e.label(), deref(e.Role), e.OccurredAt, e.Flags, want)
			}
			for _, f := range e.Flags {
				totals[f]++
			}
		}
		t.Logf("flags in the log: %v", totals)
		// Every writer's last three additions are bursts, and every writer's
		// gmail.com additions are external: the rules were exercised.
		if totals[flBurst] < writers*3 || totals[flExt] < writers*4 || totals[flAdmin] != 1+writers+writers {
			t.Errorf("flag totals %v: fewer than the script must make", totals)
		}
		sum := flGetSummary(t, s, alice.token, x.ws, nil, nil)
		for _, f := range sum.ByFlag {
			if f.Count != totals[f.Flag] {
				t.Errorf("summary byFlag %s = %d, the log has %d", f.Flag, f.Count, totals[f.Flag])
			}
		}
	})
}

// flPostQuietly sends a GraphQL request from a goroutine other than the
// test's: failures are returned, not reported.
func flPostQuietly(s *server, token, query string, vars map[string]any) error {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequest(http.MethodPost, s.srv.URL+"/graphql", strings.NewReader(string(body)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var out struct {
		Errors []gqlError `json:"errors"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		return fmt.Errorf("status %d: %w", res.StatusCode, err)
	}
	if res.StatusCode != http.StatusOK || len(out.Errors) > 0 {
		return fmt.Errorf("status %d: %+v", res.StatusCode, out.Errors)
	}
	return nil
}
