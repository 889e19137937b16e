package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/integrity"
	"github.com/auditlogd/auditlogd/internal/role"
	"github.com/auditlogd/auditlogd/internal/testenv"
)

// This file checks docs/API.md §9, the tamper-evident log, end to end: chains
// written by real HTTP mutations, verified through verifyAuditLog and
// auditLogHead, tampered with through SQL behind the service's back, and
// heads checked against the keys served at /.well-known/auditlog-keys.json.
// Its helpers are prefixed c. The export files and the CLI commands are
// tested in cmd/auditlogd (chain_test.go).

// cEvent is an event as the API returns it with its place in the chain:
// the same keys as an export's JSON object.
type cEvent = xFileEvent

const cChainQuery = `query($w: ID!, $after: String) {
  auditLog(workspaceId: $w, first: 100, after: $after, orderBy: {direction: ASC}) {
    nodes { ` + eventFields + ` sequence prevHash hash }
    pageInfo { hasNextPage endCursor }
  }
}`

// cChain reads the workspace's log through the API, oldest first, with the
// chain's fields.
func cChain(t testing.TB, s *server, token, ws string) []cEvent {
	t.Helper()
	var all []cEvent
	vars := map[string]any{"w": ws}
	for {
		var out struct {
			AuditLog struct {
				Nodes    []cEvent
				PageInfo struct {
					HasNextPage bool
					EndCursor   *string
				}
			}
		}
		s.ok(t, token, cChainQuery, vars, &out)
		all = append(all, out.AuditLog.Nodes...)
		if !out.AuditLog.PageInfo.HasNextPage {
			return all
		}
		vars["after"] = *out.AuditLog.PageInfo.EndCursor
	}
}

const cHeadFields = `workspaceId sequence hash signedAt keyId signature`

// cProblem is an IntegrityProblem as the API returns it.
type cProblem struct {
	Kind     string  `json:"kind"`
	Sequence int64   `json:"sequence"`
	EventID  *string `json:"eventId"`
	Detail   string  `json:"detail"`
}

// cVerification is an AuditLogVerification as the API returns it.
type cVerification struct {
	OK            bool            `json:"ok"`
	CheckedEvents int64           `json:"checkedEvents"`
	FirstSequence *int64          `json:"firstSequence"`
	LastSequence  *int64          `json:"lastSequence"`
	Head          json.RawMessage `json:"head"`
	Problems      []cProblem      `json:"problems"`
}

// kinds lists the problems as KIND@sequence, in the API's order.
func (v cVerification) kinds() []string {
	out := []string{}
	for _, p := range v.Problems {
		out = append(out, fmt.Sprintf("%s@%d", p.Kind, p.Sequence))
	}
	return out
}

func cVerify(t testing.TB, s *server, token, ws string) cVerification {
	t.Helper()
	var out struct{ VerifyAuditLog cVerification }
	s.ok(t, token, `query($w: ID!) { verifyAuditLog(workspaceId: $w) {
  ok checkedEvents firstSequence lastSequence head { `+cHeadFields+` } problems { kind sequence eventId detail } } }`,
		map[string]any{"w": ws}, &out)
	return out.VerifyAuditLog
}

// cHead reads auditLogHead as the raw JSON an auditor would keep.
func cHead(t testing.TB, s *server, token, ws string) json.RawMessage {
	t.Helper()
	var out struct{ AuditLogHead json.RawMessage }
	s.ok(t, token, `query($w: ID!) { auditLogHead(workspaceId: $w) { `+cHeadFields+` } }`, map[string]any{"w": ws}, &out)
	return out.AuditLogHead
}

// cJWKS fetches the published keys as a verifier would.
func cJWKS(t testing.TB, s *server) integrity.JWKS {
	t.Helper()
	f := xGet(t, s.srv.URL+"/.well-known/auditlog-keys.json")
	if f.Status != http.StatusOK || !strings.HasPrefix(f.Header.Get("Content-Type"), "application/") {
		t.Fatalf("GET /.well-known/auditlog-keys.json: status %d, Content-Type %q: %s", f.Status, f.Header.Get("Content-Type"), f.Body)
	}
	ks, err := integrity.ParseJWKS([]byte(f.Body))
	if err != nil {
		t.Fatalf("the published keys: %v\n%s", err, f.Body)
	}
	return ks
}

// cSignedHead parses a head from the API and checks its signature against
// the published keys and that it names ws at sequence seq with hash.
func cSignedHead(t testing.TB, raw json.RawMessage, keys integrity.JWKS, ws string, seq int64, hash string) integrity.SignedHead {
	t.Helper()
	h, err := integrity.ParseSignedHead(raw)
	if err != nil {
		t.Fatalf("head %s: %v", raw, err)
	}
	if err := integrity.VerifyHead(h, keys); err != nil {
		t.Errorf("the head's signature does not verify with the published keys: %v\n%s", err, raw)
	}
	if h.WorkspaceID != ws || h.Sequence != seq || h.Hash.String() != hash {
		t.Errorf("head %s, want workspace %s at sequence %d with hash %s", raw, ws, seq, hash)
	}
	return h
}

// cCheckLinks checks a whole chain read through the API, oldest first:
// sequences from first without a gap, each prevHash the hash before it (64
// zeros before sequence 1), occurredAt never decreasing.
func cCheckLinks(t testing.TB, chain []cEvent, first int64) {
	t.Helper()
	for i, e := range chain {
		if want := first + int64(i); e.Sequence != want {
			t.Errorf("event %d of the chain has sequence %d, want %d", i, e.Sequence, want)
			return
		}
		prev := strings.Repeat("0", 64)
		if i > 0 {
			prev = chain[i-1].Hash
			if e.OccurredAt < chain[i-1].OccurredAt {
				t.Errorf("sequence %d occurred at %s, before sequence %d at %s", e.Sequence, e.OccurredAt, e.Sequence-1, chain[i-1].OccurredAt)
			}
		}
		if (i > 0 || e.Sequence == 1) && e.PrevHash != prev {
			t.Errorf("sequence %d has prevHash %s, want %s", e.Sequence, e.PrevHash, prev)
		}
		if !xHexHash.MatchString(e.Hash) {
			t.Errorf("sequence %d has hash %q", e.Sequence, e.Hash)
		}
	}
}

// cAuditEvent is e as the domain holds it, for an offline verifier fed
// from the API.
func cAuditEvent(t testing.TB, ws string, e cEvent) (audit.Event, integrity.Hash, integrity.Hash) {
	t.Helper()
	at, err := time.Parse(time.RFC3339Nano, e.OccurredAt)
	if err != nil {
		t.Fatal(err)
	}
	out := audit.Event{ID: e.ID, WorkspaceID: ws, Action: audit.Action(e.Action), OccurredAt: at,
		Actor:     audit.Actor{ID: e.Actor.ID, Email: e.Actor.Email, Type: audit.ActorType(e.Actor.Type)},
		IPAddress: e.IPAddress, UserAgent: e.UserAgent, RequestID: e.RequestID}
	if e.Target != nil {
		out.Target = &audit.Target{Type: audit.TargetType(e.Target.Type), ID: e.Target.ID, Label: e.Target.Label}
	}
	if e.PreviousRole != nil {
		out.PreviousRole = ptr(role.Role(*e.PreviousRole))
	}
	if e.Role != nil {
		out.Role = ptr(role.Role(*e.Role))
	}
	prev, err := integrity.ParseHash(e.PrevHash)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := integrity.ParseHash(e.Hash)
	if err != nil {
		t.Fatal(err)
	}
	return out, prev, hash
}

// cExec runs a statement on the server's database behind its back, as
// someone with access to the database would.
func cExec(t testing.TB, s *server, query string, args ...any) {
	t.Helper()
	res, err := hPool(s).Exec(query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	if n, _ := res.RowsAffected(); n < 1 {
		t.Fatalf("%s %v changed no row", query, args)
	}
}

// cHistory is a BUSINESS workspace with six events, the fourth of which
// (a role change) has every column set:
//
//  1. MEMBER_ADDED the admin  2. MEMBER_ADDED bob  3. EMAIL_INVITE_CREATED carol
//  4. MEMBER_ROLE_UPDATED bob MEMBER → ADMIN  5. PUBLIC_INVITE_LINK_CREATED
//  6. MEMBER_REMOVED bob
type cHistory struct {
	admin user
	ws    string
	chain []cEvent
}

func cNewHistory(t testing.TB, s *server) cHistory {
	t.Helper()
	admin, bob := xUser(t, s, "admin"), xUser(t, s, "bob")
	ws := s.newWorkspace(t, admin, "BUSINESS")
	s.addMember(t, admin, ws, bob, "MEMBER")
	xInvite(t, s, admin, ws, fmt.Sprintf("carol.%d@example.com", userSeq.Add(1)), "MEMBER")
	xSetRole(t, s, admin, ws, bob, "ADMIN")
	xInvite(t, s, admin, ws, "", "MEMBER")
	xRemove(t, s, admin, ws, bob)
	h := cHistory{admin: admin, ws: ws, chain: cChain(t, s, admin.token, ws)}
	var actions []string
	for _, e := range h.chain {
		actions = append(actions, e.Action)
	}
	want := []string{"MEMBER_ADDED", "MEMBER_ADDED", "EMAIL_INVITE_CREATED", "MEMBER_ROLE_UPDATED", "PUBLIC_INVITE_LINK_CREATED", "MEMBER_REMOVED"}
	if !slices.Equal(actions, want) {
		t.Fatalf("the history's actions are %v, want %v", actions, want)
	}
	return h
}

// TestChainFreshLogVerifies: a log written by mutations verifies: every
// event checked, sequences 1..N, the head signed by a published key at the
// newest event, auditLogHead the same head.
func TestChainFreshLogVerifies(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, nil)
		h := cNewHistory(t, s)
		keys := cJWKS(t, s)
		if len(keys.Keys) == 0 {
			t.Fatal("no key is published")
		}
		n := int64(len(h.chain))
		cCheckLinks(t, h.chain, 1)
		newest := h.chain[n-1]

		v := cVerify(t, s, h.admin.token, h.ws)
		if !v.OK || v.CheckedEvents != n || v.FirstSequence == nil || *v.FirstSequence != 1 ||
			v.LastSequence == nil || *v.LastSequence != n || len(v.Problems) != 0 {
			t.Errorf("verifyAuditLog = %+v (first %v, last %v), want ok over sequences 1 to %d", v, deref64(v.FirstSequence), deref64(v.LastSequence), n)
		}
		if got := xCount(t, s, "SELECT COUNT(*) FROM audit_events WHERE workspace_id = ?", h.ws); int64(got) != n {
			t.Errorf("the database holds %d events of the workspace, the API shows %d", got, n)
		}
		vh := cSignedHead(t, v.Head, keys, h.ws, n, newest.Hash)
		head := cSignedHead(t, cHead(t, s, h.admin.token, h.ws), keys, h.ws, n, newest.Hash)
		if vh.KeyID != keys.Keys[0].Kid || head.KeyID != vh.KeyID {
			t.Errorf("heads signed by %s and %s, want the published key %s", vh.KeyID, head.KeyID, keys.Keys[0].Kid)
		}

	})
}

func deref64(p *int64) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprint(*p)
}

// TestChainTamperingShowsWhereAndHow edits the database behind the
// service's back, one way per case, each in a workspace of its own, and
// checks that verifyAuditLog reports exactly the problem docs/API.md §9 names,
// at the sequence where it was made, and nothing else.
func TestChainTamperingShowsWhereAndHow(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, nil)
		// at sets one column of the event at sequence 4 (the role change,
		// every column set).
		at := func(set string, args ...any) func(t testing.TB, h cHistory) {
			return func(t testing.TB, h cHistory) {
				cExec(t, s, "UPDATE audit_events SET "+set+" WHERE workspace_id = ? AND sequence = 4", append(args, h.ws)...)
			}
		}
		for _, tc := range []struct {
			name   string
			tamper func(t testing.TB, h cHistory)
			want   []string
		}{
			{"action-edited", at("action = ?", "MEMBER_ADDED"), []string{"HASH_MISMATCH@4"}},
			{"actor-id-edited", at("actor_id = ?", "user-mallory"), []string{"HASH_MISMATCH@4"}},
			{"actor-email-edited", at("actor_email = ?", "mallory@example.com"), []string{"HASH_MISMATCH@4"}},
			{"actor-email-erased", at("actor_email = NULL"), []string{"HASH_MISMATCH@4"}},
			{"actor-type-edited", at("actor_type = ?", "SYSTEM"), []string{"HASH_MISMATCH@4"}},
			{"target-type-edited", at("target_type = ?", "WORKSPACE"), []string{"HASH_MISMATCH@4"}},
			{"target-id-edited", at("target_id = ?", "user-mallory"), []string{"HASH_MISMATCH@4"}},
			{"target-label-edited", at("target_label = ?", "mallory@example.com"), []string{"HASH_MISMATCH@4"}},
			{"target-removed", at("target_type = NULL, target_id = NULL, target_label = NULL"), []string{"HASH_MISMATCH@4"}},
			{"previous-role-edited", at("previous_role = ?", "ADMIN"), []string{"HASH_MISMATCH@4"}},
			{"role-edited", at("role = ?", "MEMBER"), []string{"HASH_MISMATCH@4"}},
			{"role-erased", at("role = NULL"), []string{"HASH_MISMATCH@4"}},
			{"ip-address-edited", at("ip_address = ?", "203.0.113.66"), []string{"HASH_MISMATCH@4"}},
			{"user-agent-edited", at("user_agent = ?", "curl/8.5.0"), []string{"HASH_MISMATCH@4"}},
			{"request-id-edited", at("request_id = ?", "01JFORGEDREQUEST0000000000"), []string{"HASH_MISMATCH@4"}},
			{"occurred-at-moved-a-millisecond", at("occurred_at = occurred_at - 1"), []string{"HASH_MISMATCH@4"}},
			{"id-edited", func(t testing.TB, h cHistory) {
				id := h.chain[3].ID
				forged := id[:25] + map[bool]string{true: "0", false: "1"}[id[25] != '0']
				at("id = ?", forged)(t, h)
			}, []string{"HASH_MISMATCH@4"}},
			{"hash-edited", at("hash = ?", bytes.Repeat([]byte{0xee}, 32)), []string{"HASH_MISMATCH@4"}},
			{"middle-event-deleted", func(t testing.TB, h cHistory) {
				cExec(t, s, "DELETE FROM audit_events WHERE workspace_id = ? AND sequence = 3", h.ws)
			}, []string{"SEQUENCE_GAP@3"}},
			{"two-events-deleted", func(t testing.TB, h cHistory) {
				cExec(t, s, "DELETE FROM audit_events WHERE workspace_id = ? AND sequence IN (2, 3)", h.ws)
			}, []string{"SEQUENCE_GAP@2"}},
			{"prev-hash-changed", at("prev_hash = ?", bytes.Repeat([]byte{0x42}, 32)), []string{"CHAIN_BROKEN@4"}},
			{"edited-and-rehashed", func(t testing.TB, h cHistory) {
				// Someone who knows the rules recomputes the edited event's
				// hash; the next event still names the old one.
				e, prev, _ := cAuditEvent(t, h.ws, h.chain[3])
				e.Role = ptr(role.Member)
				hash, err := integrity.EventHash(&e, 4, prev)
				if err != nil {
					t.Fatal(err)
				}
				at("role = ?, hash = ?", "MEMBER", hash[:])(t, h)
			}, []string{"CHAIN_BROKEN@5"}},
			{"sequences-swapped", func(t testing.TB, h cHistory) {
				cExec(t, s, "UPDATE audit_events SET sequence = 100 WHERE workspace_id = ? AND sequence = 3", h.ws)
				cExec(t, s, "UPDATE audit_events SET sequence = 3 WHERE workspace_id = ? AND sequence = 4", h.ws)
				cExec(t, s, "UPDATE audit_events SET sequence = 4 WHERE workspace_id = ? AND sequence = 100", h.ws)
			}, []string{"CHAIN_BROKEN@3", "HASH_MISMATCH@3", "CHAIN_BROKEN@4", "HASH_MISMATCH@4", "CHAIN_BROKEN@5"}},
			{"event-appended-after-the-head", func(t testing.TB, h cHistory) {
				// A forged event chained properly after the newest one, its
				// hash recomputed, but the head the row keeps left alone.
				e, _, _ := cAuditEvent(t, h.ws, h.chain[4])
				e.ID = h.chain[5].ID[:25] + map[bool]string{true: "0", false: "1"}[h.chain[5].ID[25] != '0']
				e.OccurredAt = e.OccurredAt.Add(time.Millisecond)
				prev, err := integrity.ParseHash(h.chain[5].Hash)
				if err != nil {
					t.Fatal(err)
				}
				hash, err := integrity.EventHash(&e, 7, prev)
				if err != nil {
					t.Fatal(err)
				}
				cExec(t, s, `INSERT INTO audit_events (workspace_id, occurred_at, id, action, actor_id, actor_email, actor_type,
					target_type, target_id, target_label, ip_address, user_agent, request_id, role, sequence, prev_hash, hash)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 7, ?, ?)`, h.ws, e.OccurredAt.UnixMilli(), e.ID, string(e.Action),
					e.Actor.ID, *e.Actor.Email, string(e.Actor.Type), string(e.Target.Type), e.Target.ID, e.Target.Label,
					*e.IPAddress, *e.UserAgent, *e.RequestID, string(*e.Role), prev[:], hash[:])
			}, []string{"HEAD_MISMATCH@6"}},
			{"newest-deleted-head-kept", func(t testing.TB, h cHistory) {
				cExec(t, s, "DELETE FROM audit_events WHERE workspace_id = ? AND sequence = 6", h.ws)
			}, []string{"HEAD_MISMATCH@6"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				h := cNewHistory(t, s)
				if v := cVerify(t, s, h.admin.token, h.ws); !v.OK {
					t.Fatalf("before tampering: %+v", v)
				}
				tc.tamper(t, h)
				v := cVerify(t, s, h.admin.token, h.ws)
				if diff := cmp.Diff(tc.want, v.kinds()); diff != "" || v.OK {
					t.Errorf("ok %v, problems (-want +got):\n%s\n%+v", v.OK, diff, v.Problems)
				}
				for _, p := range v.Problems {
					if p.Detail == "" || (p.Kind == "HASH_MISMATCH" && p.EventID == nil) {
						t.Errorf("problem %+v lacks its detail or event", p)
					}
				}
			})
		}
	})
}

// TestChainTruncationShowsOnlyAgainstAnEarlierHead deletes the newest
// events and rewinds the head the workspace row keeps, as someone with the
// whole database would: the log then verifies on its own, but a head kept
// from before exposes it, to an offline verifier of the API's rows and of a
// later export alike.
func TestChainTruncationShowsOnlyAgainstAnEarlierHead(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, nil)
		h := cNewHistory(t, s)
		keys := cJWKS(t, s)
		kept := cSignedHead(t, cHead(t, s, h.admin.token, h.ws), keys, h.ws, 6, h.chain[5].Hash)

		// Delete sequences 5 and 6; the row's head goes back to 4.
		var atMs int64
		if err := hPool(s).QueryRow("SELECT occurred_at FROM audit_events WHERE workspace_id = ? AND sequence = 4", h.ws).Scan(&atMs); err != nil {
			t.Fatal(err)
		}
		four, err := integrity.ParseHash(h.chain[3].Hash)
		if err != nil {
			t.Fatal(err)
		}
		cExec(t, s, "DELETE FROM audit_events WHERE workspace_id = ? AND sequence > 4", h.ws)
		cExec(t, s, "UPDATE workspaces SET chain_sequence = 4, chain_hash = ?, chain_at = ? WHERE id = ?", four[:], atMs, h.ws)

		v := cVerify(t, s, h.admin.token, h.ws)
		if !v.OK || v.CheckedEvents != 4 || deref64(v.LastSequence) != "4" {
			t.Fatalf("verifyAuditLog of the shortened chain = %+v, want ok up to sequence 4 (the chain alone cannot tell)", v)
		}
		cSignedHead(t, v.Head, keys, h.ws, 4, h.chain[3].Hash)

		// The log goes on from the rewound head.
		xInvite(t, s, h.admin, h.ws, "", "MEMBER")
		now := cChain(t, s, h.admin.token, h.ws)
		cCheckLinks(t, now, 1)
		if len(now) != 5 {
			t.Fatalf("%d events after the truncation and a new one, want 5", len(now))
		}

		// An offline verifier of the API's rows with the kept head as a
		// checkpoint: sequence 5 is not the kept head's, 6 is missing.
		ver := integrity.NewVerifier(h.ws, integrity.Options{Order: integrity.Ascending, Head: &kept.Head, Checkpoint: true})
		for _, e := range now {
			ev, prev, hash := cAuditEvent(t, h.ws, e)
			ver.Event(&ev, e.Sequence, prev, hash)
		}
		if res := ver.Finish(); res.OK || !slices.Contains(problemKinds(res), "HEAD_MISMATCH@6") {
			t.Errorf("the rows against the kept head: ok %v, problems %v; want HEAD_MISMATCH@6", res.OK, problemKinds(res))
		}

		// A later export verified with the kept head (what verify-export
		// does): the newest row is sequence 5, the head says 6.
		for _, format := range []string{"CSV", "JSON"} {
			file := xDownload(t, xExportLog(t, s, h.admin, h.ws, format, nil))
			rep, err := integrity.VerifyExport(strings.NewReader(file.Body), integrity.ExportOptions{Head: &kept, Keys: keys})
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK || rep.Complete || !rep.SignatureValid || !slices.Contains(problemKinds(rep.Result), "HEAD_MISMATCH@6") {
				t.Errorf("%s export against the kept head: ok %v, complete %v, signature %v, problems %v; want HEAD_MISMATCH@6",
					format, rep.OK, rep.Complete, rep.SignatureValid, problemKinds(rep.Result))
			}
		}
	})
}

func problemKinds(r integrity.Result) []string {
	out := []string{}
	for _, p := range r.Problems {
		out = append(out, fmt.Sprintf("%s@%d", p.Kind, p.Sequence))
	}
	return out
}

// TestChainOfConcurrentWriters: sixteen admins write to one workspace at
// once through real HTTP mutations while the owner exports the log; the
// chain has no gap and no repeat, holds every event, verifies, and its
// times never go back; and every export, though its snapshot fell among the
// writes, is complete up to its own signed head.
func TestChainOfConcurrentWriters(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, nil)
		owner := xUser(t, s, "owner")
		ws := s.newWorkspace(t, owner, "BUSINESS")
		const writers = 16
		admins := make([]user, writers)
		members := make([]user, writers)
		for i := range admins {
			admins[i], members[i] = xUser(t, s, fmt.Sprintf("writer%d", i)), xUser(t, s, fmt.Sprintf("member%d", i))
			s.addMember(t, owner, ws, admins[i], "ADMIN")
		}
		before := len(s.allEvents(t, owner.token, ws, nil))

		var wg sync.WaitGroup
		errs := make(chan error, writers)
		start := make(chan struct{})
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				a, m := admins[i], members[i]
				ops := []struct {
					query string
					vars  map[string]any
				}{
					{`mutation($w: ID!, $e: String!) { addMember(input: {workspaceId: $w, email: $e, role: MEMBER}) { role } }`, map[string]any{"w": ws, "e": m.email}},
					{xInviteQuery, map[string]any{"w": ws, "k": "PUBLIC", "r": "MEMBER"}},
					{xRoleQuery, map[string]any{"w": ws, "u": m.id, "r": "ADMIN"}},
					{xInviteQuery, map[string]any{"w": ws, "k": "EMAIL", "e": fmt.Sprintf("guest%d.%d@example.com", i, userSeq.Add(1)), "r": "MEMBER"}},
					{xRoleQuery, map[string]any{"w": ws, "u": m.id, "r": "MEMBER"}},
					{xRemoveQuery, map[string]any{"w": ws, "u": m.id}},
				}
				for _, op := range ops {
					r := s.post(t, a.token, op.query, op.vars)
					if r.Status != http.StatusOK || len(r.Errors) > 0 {
						errs <- fmt.Errorf("writer %d: %s", i, r.Raw)
						return
					}
				}
			}()
		}
		type export struct {
			URL  string
			Head json.RawMessage
		}
		var exports []export
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for range 4 {
				var out struct{ ExportAuditLog export }
				r := s.post(t, owner.token, `mutation($w: ID!) { exportAuditLog(input: {workspaceId: $w, format: JSON}) { url head { `+cHeadFields+` } } }`,
					map[string]any{"w": ws})
				if r.Status != http.StatusOK || len(r.Errors) > 0 || json.Unmarshal(r.Data, &out) != nil {
					errs <- fmt.Errorf("export: %s", r.Raw)
					return
				}
				exports = append(exports, out.ExportAuditLog)
			}
		}()
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		keys := cJWKS(t, s)
		for i, ex := range exports {
			head, err := integrity.ParseSignedHead(ex.Head)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := integrity.VerifyExport(strings.NewReader(xGet(t, ex.URL).Body), integrity.ExportOptions{Head: &head, Keys: keys})
			if err != nil || !rep.Complete || deref64(rep.LastSequence) != fmt.Sprint(head.Sequence) {
				t.Errorf("export %d (head at %d): %v, complete %v, problems %+v", i, head.Sequence, err, rep != nil && rep.Complete, rep)
			}
		}

		chain := cChain(t, s, owner.token, ws)
		n := len(chain)
		if want := before + writers*6 + len(exports); n != want {
			t.Errorf("%d events, want %d (%d before, 6 for each writer, one for each export)", n, want, before)
		}
		if got := xCount(t, s, "SELECT COUNT(*) FROM audit_events WHERE workspace_id = ?", ws); got != n {
			t.Errorf("the database holds %d events of the workspace, the API shows %d", got, n)
		}
		if got := xCount(t, s, "SELECT COUNT(DISTINCT sequence) FROM audit_events WHERE workspace_id = ? AND sequence BETWEEN 1 AND ?", ws, n); got != n {
			t.Errorf("%d distinct sequences in 1..%d", got, n)
		}
		cCheckLinks(t, chain, 1)
		v := cVerify(t, s, owner.token, ws)
		if !v.OK || v.CheckedEvents != int64(n) || deref64(v.FirstSequence) != "1" || deref64(v.LastSequence) != fmt.Sprint(n) {
			t.Errorf("verifyAuditLog = %+v, want ok over sequences 1 to %d", v, n)
		}
		cSignedHead(t, v.Head, cJWKS(t, s), ws, int64(n), chain[n-1].Hash)
	})
}

// TestChainAfterRetention: the pruner deletes whole oldest events and
// records how far; the rest verifies from the next sequence on. An old
// event deleted by anyone else — before a prune or after one — is a gap.
func TestChainAfterRetention(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, map[string]string{"AUDITLOG_RETENTION": "1h"})
		pruned := cNewHistory(t, s)   // old, then two new events
		attacked := cNewHistory(t, s) // the same, and its oldest event deleted by SQL before the prune
		allOld := cNewHistory(t, s)   // old only: the prune deletes every event
		s.clock.Advance(70 * time.Minute)
		for _, h := range []cHistory{pruned, attacked} {
			xInvite(t, s, h.admin, h.ws, "", "MEMBER")
			xInvite(t, s, h.admin, h.ws, "", "MEMBER")
		}
		cExec(t, s, "DELETE FROM audit_events WHERE workspace_id = ? AND sequence = 1", attacked.ws)
		if v := cVerify(t, s, attacked.admin.token, attacked.ws); v.OK || !cmp.Equal(v.kinds(), []string{"SEQUENCE_GAP@1"}) {
			t.Errorf("the oldest event deleted behind retention's back, before any prune: ok %v, problems %v; want SEQUENCE_GAP@1", v.OK, v.kinds())
		}

		res, err := s.app.Prune(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if res.Events != 6+5+6 {
			t.Errorf("the prune deleted %d events, want the 17 old ones", res.Events)
		}
		if got := xCount(t, s, "SELECT chain_pruned_through FROM workspaces WHERE id = ?", pruned.ws); got != 6 {
			t.Errorf("chain_pruned_through = %d, want 6", got)
		}
		v := cVerify(t, s, pruned.admin.token, pruned.ws)
		if !v.OK || v.CheckedEvents != 2 || deref64(v.FirstSequence) != "7" || deref64(v.LastSequence) != "8" {
			t.Errorf("verifyAuditLog after the prune = %+v (first %s, last %s), want ok over sequences 7 and 8",
				v, deref64(v.FirstSequence), deref64(v.LastSequence))
		}
		chain := cChain(t, s, pruned.admin.token, pruned.ws)
		cCheckLinks(t, chain, 7)
		if len(chain) > 0 && chain[0].PrevHash != pruned.chain[5].Hash {
			t.Errorf("sequence 7's prevHash %s is not the pruned sequence 6's hash %s", chain[0].PrevHash, pruned.chain[5].Hash)
		}
		if v := cVerify(t, s, attacked.admin.token, attacked.ws); !v.OK || deref64(v.FirstSequence) != "7" {
			t.Errorf("the attacked workspace after the prune deleted its old events: %+v; want ok from sequence 7", v)
		}
		// Every event pruned: nothing to check, and the head still says how
		// far the log went.
		v = cVerify(t, s, allOld.admin.token, allOld.ws)
		if !v.OK || v.CheckedEvents != 0 || v.FirstSequence != nil || v.LastSequence != nil {
			t.Errorf("verifyAuditLog of a log pruned to nothing = %+v, want ok with no events", v)
		}
		cSignedHead(t, v.Head, cJWKS(t, s), allOld.ws, 6, allOld.chain[5].Hash)

		// After the prune, deleting the oldest kept event is a gap at the
		// sequence retention did not delete.
		cExec(t, s, "DELETE FROM audit_events WHERE workspace_id = ? AND sequence = 7", pruned.ws)
		if v := cVerify(t, s, pruned.admin.token, pruned.ws); v.OK || !cmp.Equal(v.kinds(), []string{"SEQUENCE_GAP@7"}) {
			t.Errorf("the oldest kept event deleted behind retention's back: ok %v, problems %v; want SEQUENCE_GAP@7", v.OK, v.kinds())
		}
	})
}

// TestChainReadsHaveTheLogsAccess: auditLogHead and verifyAuditLog answer
// whoever may read the workspace's log (its admins, its API keys) and
// refuse everyone else with the code auditLog would give.
func TestChainReadsHaveTheLogsAccess(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		f := kSetup(t, db, nil)
		teams := f.s.newWorkspace(t, f.admin, "TEAMS")
		for _, q := range []struct{ name, query string }{
			{"auditLogHead", `query($w: ID!) { auditLogHead(workspaceId: $w) { sequence } }`},
			{"verifyAuditLog", `query($w: ID!) { verifyAuditLog(workspaceId: $w) { ok } }`},
		} {
			for _, tc := range []struct {
				name  string
				token string
				ws    string
				code  string // "" for allowed
			}{
				{"admin-reads", f.admin.token, f.ws, ""},
				{"api-key-of-the-workspace-reads", f.key.Token, f.ws, ""},
				{"anonymous-is-unauthenticated", "", f.ws, "UNAUTHENTICATED"},
				{"member-is-forbidden", f.member.token, f.ws, "FORBIDDEN"},
				{"admin-of-another-workspace-is-forbidden", f.two.token, f.ws, "FORBIDDEN"},
				{"api-key-on-another-workspace-is-forbidden", f.key.Token, f.other, "FORBIDDEN"},
				{"unknown-workspace-is-forbidden", f.admin.token, "01JNOSUCHWORKSPACE00000000", "FORBIDDEN"},
				{"teams-plan-needs-business", f.admin.token, teams, "BUSINESS_PLAN_REQUIRED"},
			} {
				t.Run(q.name+"/"+tc.name, func(t *testing.T) {
					vars := map[string]any{"w": tc.ws}
					if tc.code == "" {
						r := f.s.ok(t, tc.token, q.query, vars)
						if strings.Contains(string(r.Data), "null") {
							t.Errorf("allowed, but the answer is %s", r.Data)
						}
						return
					}
					r := f.s.fails(t, tc.token, q.query, vars, tc.code)
					if !strings.Contains(string(r.Data), `"`+q.name+`":null`) {
						t.Errorf("refused, but the data is %s", r.Data)
					}
				})
			}
		}
	})
}
