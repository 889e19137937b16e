package e2e

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"
)

// checkLogMatchesState proves from the database alone that, for each
// workspace, the audit log and the state agree: replaying the membership
// events gives exactly the memberships and roles that exist, every invite row
// has exactly one CREATED event (and every CREATED event a row), a deleted
// invite exactly one DELETED event, and an invite's acceptedCount equals its
// ACCEPTED events. A change without its event, or an event without its
// change, fails it. It returns the number of events it checked.
func checkLogMatchesState(t testing.TB, db *sql.DB, workspaces []string) int {
	t.Helper()
	checked := 0
	for _, ws := range workspaces {
		checked += checkMembers(t, db, ws)
		checked += checkInvites(t, db, ws)
	}
	return checked
}

func query(t testing.TB, db *sql.DB, q string, args ...any) *sql.Rows {
	t.Helper()
	rows, err := db.Query(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return rows
}

func checkMembers(t testing.TB, db *sql.DB, ws string) int {
	t.Helper()
	replayed := map[string]string{}
	rows := query(t, db, `SELECT action, target_id, COALESCE(role, ''), COALESCE(previous_role, '') FROM audit_events
		WHERE workspace_id = ? AND action IN ('MEMBER_ADDED', 'MEMBER_REMOVED', 'MEMBER_ROLE_UPDATED') ORDER BY occurred_at, id`, ws)
	n := 0
	for rows.Next() {
		var action, target, role, prev string
		if err := rows.Scan(&action, &target, &role, &prev); err != nil {
			t.Fatal(err)
		}
		n++
		cur, member := replayed[target]
		switch action {
		case "MEMBER_ADDED":
			if member {
				t.Errorf("workspace %s: %s added while already a member", ws, target)
			}
			replayed[target] = role
		case "MEMBER_REMOVED":
			if !member || cur != prev {
				t.Errorf("workspace %s: %s removed (previousRole %s) but replay has member=%v role %s", ws, target, prev, member, cur)
			}
			delete(replayed, target)
		case "MEMBER_ROLE_UPDATED":
			if !member || cur != prev || role == prev {
				t.Errorf("workspace %s: %s role %s→%s but replay has member=%v role %s", ws, target, prev, role, member, cur)
			}
			replayed[target] = role
		}
	}
	rows.Close()
	actual := map[string]string{}
	rows = query(t, db, `SELECT user_id, role FROM memberships WHERE workspace_id = ?`, ws)
	for rows.Next() {
		var u, r string
		if err := rows.Scan(&u, &r); err != nil {
			t.Fatal(err)
		}
		actual[u] = r
	}
	rows.Close()
	if fmt.Sprint(replayed) != fmt.Sprint(actual) {
		t.Errorf("workspace %s: memberships replayed from the log %v differ from the table %v", ws, replayed, actual)
	}
	return n
}

func checkInvites(t testing.TB, db *sql.DB, ws string) int {
	t.Helper()
	type counts struct{ created, deleted, accepted int }
	events := map[string]*counts{}
	rows := query(t, db, `SELECT action, target_id FROM audit_events WHERE workspace_id = ? AND target_type = 'INVITE_LINK'`, ws)
	n := 0
	for rows.Next() {
		var action, id string
		if err := rows.Scan(&action, &id); err != nil {
			t.Fatal(err)
		}
		n++
		c := events[id]
		if c == nil {
			c = &counts{}
			events[id] = c
		}
		switch {
		case strings.HasSuffix(action, "_CREATED"):
			c.created++
		case strings.HasSuffix(action, "_DELETED"):
			c.deleted++
		case strings.HasSuffix(action, "_ACCEPTED"):
			c.accepted++
		}
	}
	rows.Close()
	rows = query(t, db, `SELECT id, deleted_at IS NOT NULL, accepted_count FROM invite_links WHERE workspace_id = ?`, ws)
	seen := map[string]bool{}
	for rows.Next() {
		var id string
		var deleted bool
		var accepted int
		if err := rows.Scan(&id, &deleted, &accepted); err != nil {
			t.Fatal(err)
		}
		seen[id] = true
		c := events[id]
		if c == nil {
			c = &counts{}
		}
		want := counts{created: 1, accepted: accepted}
		if deleted {
			want.deleted = 1
		}
		if *c != want {
			t.Errorf("workspace %s invite %s: events %+v, state wants %+v", ws, id, *c, want)
		}
	}
	rows.Close()
	for id := range events {
		if !seen[id] {
			t.Errorf("workspace %s: events name invite %s, which does not exist", ws, id)
		}
	}
	return n
}
