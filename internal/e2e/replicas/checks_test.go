package replicas

import (
	"bufio"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/auditlogd/auditlogd/internal/testenv/galera"
)

func queryRows(t *testing.T, db *sql.DB, q string, args ...any) *sql.Rows {
	t.Helper()
	rows, err := db.Query(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return rows
}

// nodeFingerprint is what a node holds: every workspace's chain head and
// event count, and its memberships.
func nodeFingerprint(t *testing.T, db *sql.DB) string {
	t.Helper()
	var b strings.Builder
	rows := queryRows(t, db, `SELECT w.id, w.chain_sequence, HEX(w.chain_hash), w.chain_pruned_through,
		(SELECT COUNT(*) FROM audit_events e WHERE e.workspace_id = w.id),
		(SELECT COUNT(*) FROM memberships m WHERE m.workspace_id = w.id),
		(SELECT COUNT(*) FROM invite_links i WHERE i.workspace_id = w.id) FROM workspaces w ORDER BY w.id`)
	defer rows.Close()
	for rows.Next() {
		var id, hash string
		var seq, pruned, events, members, invites int64
		if err := rows.Scan(&id, &seq, &hash, &pruned, &events, &members, &invites); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s head %d %s pruned %d events %d members %d invites %d\n", id, seq, hash, pruned, events, members, invites)
	}
	return b.String()
}

// checkAdminsAndReplay checks every workspace keeps an admin: in the table
// now, and at every point of its log, replayed in sequence order; and that
// the replay ends with exactly the memberships the table holds. It returns
// the membership events replayed.
func checkAdminsAndReplay(t *testing.T, db *sql.DB, workspaces []string) int {
	t.Helper()
	replayed := 0
	for _, ws := range workspaces {
		var admins int
		if err := db.QueryRow("SELECT COUNT(*) FROM memberships WHERE workspace_id = ? AND role = 'ADMIN'", ws).Scan(&admins); err != nil {
			t.Fatal(err)
		}
		if admins < 1 {
			t.Errorf("workspace %s has no admin", ws)
		}
		roles := map[string]string{}
		count := func() int {
			n := 0
			for _, r := range roles {
				if r == "ADMIN" {
					n++
				}
			}
			return n
		}
		rows := queryRows(t, db, `SELECT sequence, action, target_id, COALESCE(role, ''), COALESCE(previous_role, '') FROM audit_events
			WHERE workspace_id = ? AND action IN ('MEMBER_ADDED', 'MEMBER_REMOVED', 'MEMBER_ROLE_UPDATED') ORDER BY sequence`, ws)
		for rows.Next() {
			var seq int64
			var action, target, role, prev string
			if err := rows.Scan(&seq, &action, &target, &role, &prev); err != nil {
				t.Fatal(err)
			}
			replayed++
			cur, member := roles[target]
			switch action {
			case "MEMBER_ADDED":
				if member {
					t.Errorf("workspace %s sequence %d: %s added while a member", ws, seq, target)
				}
				roles[target] = role
			case "MEMBER_REMOVED":
				if !member || cur != prev {
					t.Errorf("workspace %s sequence %d: %s removed as %s; the replay has member=%v role %s", ws, seq, target, prev, member, cur)
				}
				delete(roles, target)
			case "MEMBER_ROLE_UPDATED":
				if !member || cur != prev || role == prev {
					t.Errorf("workspace %s sequence %d: %s %s→%s; the replay has member=%v role %s", ws, seq, target, prev, role, member, cur)
				}
				roles[target] = role
			}
			if count() == 0 {
				t.Errorf("workspace %s had no admin after sequence %d (%s %s)", ws, seq, action, target)
			}
		}
		rows.Close()
		table := map[string]string{}
		rows = queryRows(t, db, "SELECT user_id, role FROM memberships WHERE workspace_id = ?", ws)
		for rows.Next() {
			var u, r string
			if err := rows.Scan(&u, &r); err != nil {
				t.Fatal(err)
			}
			table[u] = r
		}
		rows.Close()
		if fmt.Sprint(roles) != fmt.Sprint(table) {
			t.Errorf("workspace %s: the memberships replayed from the log %v differ from the table %v", ws, roles, table)
		}
	}
	return replayed
}

// checkEmailInvitesSingleUse checks no email invite was accepted twice, by
// its row and by its events.
func checkEmailInvitesSingleUse(t *testing.T, db *sql.DB) (invites int) {
	t.Helper()
	rows := queryRows(t, db, `SELECT i.id, i.accepted_count, i.used_at IS NOT NULL,
		(SELECT COUNT(*) FROM audit_events e WHERE e.workspace_id = i.workspace_id AND e.target_id = i.id AND e.action = 'EMAIL_INVITE_ACCEPTED')
		FROM invite_links i WHERE i.kind = 'EMAIL'`)
	defer rows.Close()
	for rows.Next() {
		var id string
		var accepted, events int
		var used bool
		if err := rows.Scan(&id, &accepted, &used, &events); err != nil {
			t.Fatal(err)
		}
		invites++
		if accepted > 1 || events != accepted || used != (accepted == 1) {
			t.Errorf("email invite %s: accepted %d times, used %v, %d EMAIL_INVITE_ACCEPTED events", id, accepted, used, events)
		}
	}
	return invites
}

// kindCount is what the clients were told of one kind of mutation, and what
// the log holds for them.
type kindCount struct {
	acked, refused, doubtCommitted, doubtRolledBack int
}

// reconcile compares the events in the database with the mutations the
// clients sent, by the request id each event records: an acknowledged
// mutation has exactly its events, a refused one none, one in doubt either
// all or none (never a part); and no event belongs to no request (phantom).
// It returns the counts by kind and the number of events checked.
func reconcile(t *testing.T, db *sql.DB, reqs []*request) (map[string]*kindCount, map[string][2]int, int) {
	t.Helper()
	type ev struct{ ws, action string }
	byReq := map[string][]ev{}
	total := 0
	rows := queryRows(t, db, "SELECT request_id, workspace_id, action FROM audit_events ORDER BY workspace_id, sequence")
	for rows.Next() {
		var id sql.NullString
		var e ev
		if err := rows.Scan(&id, &e.ws, &e.action); err != nil {
			t.Fatal(err)
		}
		byReq[id.String] = append(byReq[id.String], e)
		total++
	}
	rows.Close()
	kinds := map[string]*kindCount{}
	actions := map[string][2]int{} // by action: events the acknowledged (and committed in-doubt) mutations imply, events found
	for _, rq := range reqs {
		k := kinds[rq.kind]
		if k == nil {
			k = &kindCount{}
			kinds[rq.kind] = k
		}
		got := byReq[rq.id]
		delete(byReq, rq.id)
		var gotActions []string
		for _, e := range got {
			gotActions = append(gotActions, e.action)
			if e.ws != rq.ws {
				t.Errorf("%s %s (for workspace %s) wrote an event of workspace %s", rq.kind, rq.id, rq.ws, e.ws)
			}
		}
		sort.Strings(gotActions)
		want := slices.Clone(rq.expect)
		sort.Strings(want)
		full := slices.Equal(gotActions, want)
		switch rq.outcome {
		case acked:
			k.acked++
			if !full {
				t.Errorf("%s %s through replica %d was acknowledged; its events are %v, want %v (lost or phantom)", rq.kind, rq.id, rq.replica, gotActions, want)
			}
		case refused:
			k.refused++
			if len(got) > 0 {
				t.Errorf("%s %s through replica %d was refused %s, yet wrote %v (phantom)", rq.kind, rq.id, rq.replica, rq.code, gotActions)
			}
		case inDoubt:
			switch {
			case len(got) == 0:
				k.doubtRolledBack++
			case full:
				k.doubtCommitted++
			default:
				t.Errorf("%s %s through replica %d (in doubt: %s) wrote %v, part of %v", rq.kind, rq.id, rq.replica, rq.code, gotActions, want)
			}
		}
		if rq.outcome == acked || (rq.outcome == inDoubt && full) {
			for _, a := range want {
				c := actions[a]
				c[0]++
				actions[a] = c
			}
		}
		for _, e := range got {
			c := actions[e.action]
			c[1]++
			actions[e.action] = c
		}
	}
	for id, evs := range byReq {
		t.Errorf("%d events with request id %q, which no client sent (phantom): %v", len(evs), id, evs)
		for _, e := range evs {
			c := actions[e.action]
			c[1]++
			actions[e.action] = c
		}
	}
	return kinds, actions, total
}

// chainReport is a line of `auditlogd verify`.
type chainReport struct {
	WorkspaceID   string `json:"workspaceId"`
	OK            bool   `json:"ok"`
	CheckedEvents int64  `json:"checkedEvents"`
	LastSequence  *int64 `json:"lastSequence"`
	ProblemCount  int64  `json:"problemCount"`
}

// verifyChains runs `auditlogd verify` against a node and returns the
// events it checked; every workspace must verify.
func verifyChains(t *testing.T, bin string, vars map[string]string, workspaces []string) int64 {
	t.Helper()
	out, err := runCommand(t, bin, vars, true, "verify")
	if err != nil {
		t.Errorf("auditlogd verify against %s: %v\n%s", vars["AUDITLOG_DATABASE_URL"], err, out)
	}
	seen := map[string]bool{}
	var checked int64
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var r chainReport
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Errorf("auditlogd verify printed %q: %v", sc.Text(), err)
			continue
		}
		seen[r.WorkspaceID] = true
		checked += r.CheckedEvents
		if !r.OK || r.ProblemCount != 0 {
			t.Errorf("workspace %s: the chain does not verify: %s", r.WorkspaceID, sc.Text())
		}
	}
	for _, ws := range workspaces {
		if !seen[ws] {
			t.Errorf("auditlogd verify did not report workspace %s", ws)
		}
	}
	return checked
}

// acquisition is one "lease: acquired" line of a replica's log.
type acquisition struct {
	lease   string
	token   int64
	at      time.Time
	replica int
}

// leaseHistory collects every acquisition from the replicas' logs, in time
// order.
func leaseHistory(replicas map[int]*replica) []acquisition {
	var out []acquisition
	for n, r := range replicas {
		for _, l := range r.log() {
			if l.Msg == "lease: acquired" {
				out = append(out, acquisition{lease: l.Lease, token: l.Token, at: l.Time, replica: n})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].at.Before(out[j].at) })
	return out
}

// scrapeConflicts sums auditlogd_db_transaction_conflicts_total of a
// replica by outcome (retried, gave_up).
func scrapeConflicts(t *testing.T, base string) map[string]int {
	t.Helper()
	out := map[string]int{}
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Errorf("GET /metrics: %v", err)
		return out
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "auditlogd_db_transaction_conflicts_total{") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, _ := strconv.ParseFloat(line[i+1:], 64)
		for _, o := range []string{"retried", "gave_up"} {
			if strings.Contains(line, `outcome="`+o+`"`) {
				out[o] += int(v)
			}
		}
	}
	return out
}

// galeraConflicts sums the certification failures and brute-force aborts
// of the running nodes (each node counts since it started).
func galeraConflicts(t *testing.T, c *galera.Cluster) map[int][2]int {
	t.Helper()
	out := map[int][2]int{}
	for _, n := range c.Nodes() {
		if !n.Running() {
			continue
		}
		cert, _ := strconv.Atoi(n.Status(t, "wsrep_local_cert_failures"))
		bf, _ := strconv.Atoi(n.Status(t, "wsrep_local_bf_aborts"))
		out[n.Index] = [2]int{cert, bf}
	}
	return out
}
