package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/auditlogd/auditlogd/internal/auth"
)

// This file holds the helpers of auditlog_test.go: users whose tokens
// survive days of test-clock time, a recorder that makes mutations and notes
// the events each must write, and readers of the log.

// bUser makes a user whose token lives long enough for the test clock to be
// advanced by days.
func bUser(t testing.TB, s *server, name string) user {
	t.Helper()
	u := s.newUser(t, name)
	u.token = s.sign(t, auth.Claims{Subject: u.id, Email: u.email, Name: name, TTL: 100_000 * time.Hour})
	return u
}

// bWant is what the test knows an event must say, independently of the log.
type bWant struct {
	Action, Actor, Target, Role, PreviousRole string
}

func bWantOf(e event) bWant {
	w := bWant{Action: e.Action, Actor: e.Actor.ID}
	if e.Target != nil {
		w.Target = e.Target.ID
	}
	if e.Role != nil {
		w.Role = *e.Role
	}
	if e.PreviousRole != nil {
		w.PreviousRole = *e.PreviousRole
	}
	return w
}

// bSameInstantSorted returns what the log (oldest first) says of each event,
// with the events of each run that share one millisecond put in the order
// want has them. Events of one millisecond are ordered by id, and ids made in
// the same millisecond by different requests need not follow the order of
// the requests (other tests write events in between); want, the order the
// events were made in, holds each such run together, at the same positions.
func bSameInstantSorted(want []bWant, log []event) []bWant {
	got := make([]bWant, len(log))
	for i, e := range log {
		got[i] = bWantOf(e)
	}
	if len(want) != len(got) {
		return got
	}
	for start := 0; start < len(log); {
		end := start + 1
		for end < len(log) && log[end].OccurredAt == log[start].OccurredAt {
			end++
		}
		rank := map[bWant][]int{}
		for i := start; i < end; i++ {
			rank[want[i]] = append(rank[want[i]], i)
		}
		slices.SortStableFunc(got[start:end], func(a, b bWant) int {
			return bFirst(rank[a]) - bFirst(rank[b])
		})
		start = end
	}
	return got
}

func bFirst(s []int) int {
	if len(s) == 0 {
		return 1 << 30
	}
	return s[0]
}

// bHistory makes a workspace's history through the API and records, in the
// order they happen, the events it must have written.
type bHistory struct {
	t     testing.TB
	s     *server
	ws    string
	admin user
	want  []bWant // oldest first
}

// bNewHistory creates a BUSINESS workspace with admin as its first admin.
func bNewHistory(t testing.TB, s *server, admin user) *bHistory {
	t.Helper()
	h := &bHistory{t: t, s: s, admin: admin}
	h.ws = s.newWorkspace(t, admin, "BUSINESS")
	h.note("MEMBER_ADDED", admin, admin.id, "ADMIN", "")
	return h
}

func (h *bHistory) note(action string, actor user, target, role, prev string) {
	h.want = append(h.want, bWant{Action: action, Actor: actor.id, Target: target, Role: role, PreviousRole: prev})
}

// invite creates a PUBLIC (email "") or EMAIL invite and returns its id and token.
func (h *bHistory) invite(by user, email, role string) (id, token string) {
	h.t.Helper()
	kind, action := "PUBLIC", "PUBLIC_INVITE_LINK_CREATED"
	vars := map[string]any{"w": h.ws, "k": kind, "r": role}
	if email != "" {
		kind, action = "EMAIL", "EMAIL_INVITE_CREATED"
		vars["k"], vars["e"] = kind, email
	}
	var out struct {
		CreateInviteLink struct {
			InviteLink struct{ ID string }
			Token      string
		}
	}
	h.s.ok(h.t, by.token, `mutation($w: ID!, $k: InviteKind!, $e: String, $r: Role) {
	  createInviteLink(input: {workspaceId: $w, kind: $k, email: $e, role: $r}) { inviteLink { id } token }
	}`, vars, &out)
	id = out.CreateInviteLink.InviteLink.ID
	h.note(action, by, id, role, "")
	return id, out.CreateInviteLink.Token
}

func (h *bHistory) deleteInvite(by user, id string, email bool) {
	h.t.Helper()
	h.s.ok(h.t, by.token, `mutation($w: ID!, $id: ID!) { deleteInviteLink(workspaceId: $w, id: $id) { deletedInviteLinkId } }`,
		map[string]any{"w": h.ws, "id": id})
	action := "PUBLIC_INVITE_LINK_DELETED"
	if email {
		action = "EMAIL_INVITE_DELETED"
	}
	h.note(action, by, id, "", "")
}

func (h *bHistory) accept(u user, inviteID, token, role string, email bool) {
	h.t.Helper()
	h.s.ok(h.t, u.token, `mutation($t: String!) { acceptInvite(token: $t) { role } }`, map[string]any{"t": token})
	action := "PUBLIC_INVITE_LINK_ACCEPTED"
	if email {
		action = "EMAIL_INVITE_ACCEPTED"
	}
	h.note(action, u, inviteID, role, "")
	h.note("MEMBER_ADDED", u, u.id, role, "")
}

func (h *bHistory) add(by, u user, role string) {
	h.t.Helper()
	h.s.addMember(h.t, by, h.ws, u, role)
	h.note("MEMBER_ADDED", by, u.id, role, "")
}

func (h *bHistory) setRole(by, u user, prev, role string) {
	h.t.Helper()
	h.s.ok(h.t, by.token, `mutation($w: ID!, $u: ID!, $r: Role!) { updateMemberRole(input: {workspaceId: $w, userId: $u, role: $r}) { role } }`,
		map[string]any{"w": h.ws, "u": u.id, "r": role})
	h.note("MEMBER_ROLE_UPDATED", by, u.id, role, prev)
}

func (h *bHistory) remove(by, u user, prev string) {
	h.t.Helper()
	h.s.ok(h.t, by.token, `mutation($w: ID!, $u: ID!) { removeMember(workspaceId: $w, userId: $u) { removedUserId } }`,
		map[string]any{"w": h.ws, "u": u.id})
	h.note("MEMBER_REMOVED", by, u.id, "", prev)
}

// round makes one day of varied history: invites of both kinds accepted and
// deleted, members added, promoted, demoted and removed, by several admins,
// with the clock advanced between them so that the events fall into many
// different hours. It writes 18 events and advances the clock by a little
// more than a day.
func (h *bHistory) round(name string) bRound {
	h.t.Helper()
	s, a := h.s, h.admin
	u1, u2, u3 := bUser(h.t, s, name+"-ann"), bUser(h.t, s, name+"-ben"), bUser(h.t, s, name+"-cat")
	u4, u5 := bUser(h.t, s, name+"-dan"), bUser(h.t, s, name+"-eve")

	s.clock.Advance(50 * time.Minute)
	pub, pubToken := h.invite(a, "", "MEMBER")
	s.clock.Advance(7 * time.Minute)
	h.accept(u1, pub, pubToken, "MEMBER", false)
	s.clock.Advance(63 * time.Minute)
	h.accept(u2, pub, pubToken, "MEMBER", false)

	s.clock.Advance(131 * time.Minute)
	mail, mailToken := h.invite(a, strings.ToUpper(u3.email), "ADMIN")
	s.clock.Advance(17 * time.Minute)
	h.accept(u3, mail, mailToken, "ADMIN", true)
	h.add(u3, u4, "MEMBER")

	s.clock.Advance(3 * time.Hour)
	h.setRole(a, u1, "MEMBER", "ADMIN")
	h.setRole(u3, u4, "MEMBER", "ADMIN")
	h.setRole(a, u4, "ADMIN", "MEMBER")
	dropped, _ := h.invite(u1, u5.email, "MEMBER")
	s.clock.Advance(41 * time.Minute)
	h.deleteInvite(a, dropped, true)
	h.deleteInvite(u3, pub, false)

	s.clock.Advance(4 * time.Hour)
	h.remove(a, u2, "MEMBER")
	h.add(a, u5, "ADMIN")
	h.remove(u1, u5, "ADMIN")
	s.clock.Advance(14 * time.Hour)
	return bRound{users: [5]user{u1, u2, u3, u4, u5}, public: pub, email: mail, dropped: dropped}
}

// bRound is who and what took part in one round of history: users[0] was
// promoted, users[1] removed, users[2] accepted an ADMIN email invite and
// acted as admin, users[3] was added, promoted and demoted, users[4] was
// invited (invite deleted), added and removed.
type bRound struct {
	users   [5]user
	public  string // the PUBLIC invite link, accepted twice then deleted
	email   string // the EMAIL invite accepted by users[2]
	dropped string // the EMAIL invite for users[4], deleted
}

// bConnectionFields selects everything of a connection but totalCount.
const bConnectionFields = `edges { cursor node { ` + eventFields + ` } }
    nodes { ` + eventFields + ` }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }`

const bAuditLogQuery = `query($w: ID!, $first: Int, $after: String, $last: Int, $before: String, $filter: AuditLogFilter, $order: AuditLogOrder) {
  auditLog(workspaceId: $w, first: $first, after: $after, last: $last, before: $before, filter: $filter, orderBy: $order) {
    ` + bConnectionFields + `
  }
}`

// bAuditLog reads one page, nodes included, through Query.auditLog.
func bAuditLog(t testing.TB, s *server, token, ws string, vars map[string]any) connection {
	t.Helper()
	v := map[string]any{"w": ws}
	for k, x := range vars {
		v[k] = x
	}
	var out struct{ AuditLog connection }
	s.ok(t, token, bAuditLogQuery, v, &out)
	return out.AuditLog
}

// bPageVars are the arguments of one auditLog page.
func bPageVars(size int, backward bool, cursor *string, filter map[string]any, dir string) map[string]any {
	v := map[string]any{}
	if backward {
		v["last"] = size
		if cursor != nil {
			v["before"] = *cursor
		}
	} else {
		v["first"] = size
		if cursor != nil {
			v["after"] = *cursor
		}
	}
	if filter != nil {
		v["filter"] = filter
	}
	if dir != "" {
		v["order"] = map[string]any{"direction": dir}
	}
	return v
}

// bPage is one page read while paging, with what it said about itself.
type bPage struct {
	conn connection
	ids  []string
}

// bPageAll pages through the whole log with pages of size, forward
// (first/after) or backward (last/before), checks what every page says about
// itself, and returns the events in the requested order.
func bPageAll(t *testing.T, s *server, token, ws string, size int, backward bool, filter map[string]any, dir string) []event {
	t.Helper()
	var pages []bPage
	var cursor *string
	for i := 0; ; i++ {
		if i > 1000 {
			t.Fatal("paging does not end")
		}
		c := bAuditLog(t, s, token, ws, bPageVars(size, backward, cursor, filter, dir))
		bCheckPageShape(t, c)
		pages = append(pages, bPage{conn: c, ids: bEdgeIDs(c)})
		more := c.PageInfo.HasNextPage
		cursor = c.PageInfo.EndCursor
		if backward {
			more = c.PageInfo.HasPreviousPage
			cursor = c.PageInfo.StartCursor
		}
		if !more {
			break
		}
	}
	if backward {
		slices.Reverse(pages)
	}
	var all []event
	for i, p := range pages {
		// In order, only the first page has nothing before it and only the
		// last nothing after it, whichever way the pages were read.
		first, last := i == 0, i == len(pages)-1
		pi := p.conn.PageInfo
		if pi.HasPreviousPage != !first || pi.HasNextPage != !last {
			t.Errorf("page %d of %d (size %d, backward %v): hasPreviousPage=%v hasNextPage=%v, want %v %v",
				i, len(pages), size, backward, pi.HasPreviousPage, pi.HasNextPage, !first, !last)
		}
		// Every page is full but the one read last, which is the last in
		// order paging forward and the first paging backward.
		partial := last
		if backward {
			partial = first
		}
		if len(p.ids) == 0 && len(pages) > 1 {
			t.Errorf("page %d of %d (backward %v) is empty: the page before it should have said there was no more", i, len(pages), backward)
		}
		if !partial && len(p.ids) != size {
			t.Errorf("page %d of %d (backward %v) holds %d events, want %d", i, len(pages), backward, len(p.ids), size)
		}
		for _, e := range p.conn.Edges {
			all = append(all, e.Node)
		}
	}
	return all
}

// bCheckPageShape checks that a page agrees with itself: nodes are the
// edges' nodes and the start and end cursors are those of the first and last
// edges (null on an empty page).
func bCheckPageShape(t *testing.T, c connection) {
	t.Helper()
	nodes := make([]event, len(c.Edges))
	for i, e := range c.Edges {
		nodes[i] = e.Node
	}
	if len(c.Nodes) != len(nodes) || !slices.EqualFunc(c.Nodes, nodes, func(a, b event) bool { return a.ID == b.ID }) {
		t.Errorf("nodes %v differ from the edges' nodes %v", bIDs(c.Nodes), bIDs(nodes))
	}
	if len(c.Edges) == 0 {
		if c.PageInfo.StartCursor != nil || c.PageInfo.EndCursor != nil {
			t.Errorf("empty page has cursors %s, %s", deref(c.PageInfo.StartCursor), deref(c.PageInfo.EndCursor))
		}
		return
	}
	if got, want := deref(c.PageInfo.StartCursor), c.Edges[0].Cursor; got != want {
		t.Errorf("startCursor %s, want the first edge's %s", got, want)
	}
	if got, want := deref(c.PageInfo.EndCursor), c.Edges[len(c.Edges)-1].Cursor; got != want {
		t.Errorf("endCursor %s, want the last edge's %s", got, want)
	}
}

func bEdgeIDs(c connection) []string {
	out := make([]string, len(c.Edges))
	for i, e := range c.Edges {
		out[i] = e.Node.ID
	}
	return out
}

func bIDs(es []event) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

func bReversed[T any](s []T) []T {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}

// bTotalCount reads totalCount alone, in a query of its own.
func bTotalCount(t testing.TB, s *server, token, ws string, filter map[string]any) int {
	t.Helper()
	var out struct{ AuditLog struct{ TotalCount int } }
	s.ok(t, token, `query($w: ID!, $f: AuditLogFilter) { auditLog(workspaceId: $w, filter: $f) { totalCount } }`,
		map[string]any{"w": ws, "f": filter}, &out)
	return out.AuditLog.TotalCount
}

// bTime parses an occurredAt.
func bTime(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("occurredAt %q: %v", s, err)
	}
	return v
}

// bFormat writes a time as the API reads it.
func bFormat(v time.Time) string { return v.UTC().Format("2006-01-02T15:04:05.000Z07:00") }
