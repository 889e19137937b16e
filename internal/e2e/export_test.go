package e2e

import (
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/auth"
	"github.com/auditlogd/auditlogd/internal/ids"
	"github.com/auditlogd/auditlogd/internal/testenv"
)

// This file checks docs/API.md §7, the export: the exportAuditLog mutation, the
// signed URL it returns and the file behind it, fetched as a browser would,
// without an Authorization header. Its helpers (prefixed x) are shared with
// retention_test.go.

// xCSVHeader is the header row docs/API.md §7, §9 and §14 fix: §7's fourteen
// columns, then the hash chain's sequence, prev_hash and hash, then flags.
const xCSVHeader = "id,occurred_at,action,actor_id,actor_email,actor_type,target_type,target_id,target_label,previous_role,role,ip_address,user_agent,request_id" +
	",sequence,prev_hash,hash,flags"

// xCSVColumns is the number of cells of every CSV record: the event's 14,
// the chain's 3 (xChainAt) and the flags.
const (
	xCSVColumns = 18
	xChainAt    = 14
)

// xWithoutChain is a CSV record without the chain's cells.
func xWithoutChain(rec []string) []string { return slices.Concat(rec[:xChainAt], rec[xChainAt+3:]) }

// xJSONKeys are a JSON export object's keys in the order docs/API.md §7 and §9
// give them, and its actor's and target's.
const (
	xJSONKeys       = "id,occurredAt,action,actor,target,previousRole,role,ipAddress,userAgent,requestId,sequence,prevHash,hash,flags"
	xJSONActorKeys  = "id,email,type"
	xJSONTargetKeys = "type,id,label"
)

// xUser makes a user whose token survives days of test-clock time.
func xUser(t testing.TB, s *server, name string) user {
	t.Helper()
	u := s.newUser(t, name)
	u.token = s.sign(t, auth.Claims{Subject: u.id, Email: u.email, Name: name, TTL: 100_000 * time.Hour})
	return u
}

// xUserAs makes a user with exactly this id and email (which the token
// accepts as long as it holds an @).
func xUserAs(t testing.TB, s *server, id, email string) user {
	t.Helper()
	u := user{id: id, email: email}
	u.token = s.sign(t, auth.Claims{Subject: id, Email: email, TTL: 100_000 * time.Hour})
	s.ok(t, u.token, `{ viewer { id } }`, nil)
	return u
}

// xDo sends a mutation that must succeed, with extra headers.
func xDo(t testing.TB, s *server, token, query string, vars map[string]any, opts ...reqOpt) json.RawMessage {
	t.Helper()
	r := s.post(t, token, query, vars, opts...)
	if r.Status != http.StatusOK || len(r.Errors) > 0 {
		t.Fatalf("request failed: status %d: %s\nquery: %s", r.Status, r.Raw, query)
	}
	return r.Data
}

const (
	xInviteQuery = `mutation($w: ID!, $k: InviteKind!, $e: String, $r: Role) {
  createInviteLink(input: {workspaceId: $w, kind: $k, email: $e, role: $r}) { inviteLink { id } token }
}`
	xAcceptQuery       = `mutation($t: String!) { acceptInvite(token: $t) { role } }`
	xRoleQuery         = `mutation($w: ID!, $u: ID!, $r: Role!) { updateMemberRole(input: {workspaceId: $w, userId: $u, role: $r}) { role } }`
	xRemoveQuery       = `mutation($w: ID!, $u: ID!) { removeMember(workspaceId: $w, userId: $u) { removedUserId } }`
	xDeleteInviteQuery = `mutation($w: ID!, $id: ID!) { deleteInviteLink(workspaceId: $w, id: $id) { deletedInviteLinkId } }`
	xPlanQuery         = `mutation($w: ID!, $p: Plan!) { setWorkspacePlan(workspaceId: $w, plan: $p) { id } }`
	xExportQuery       = `mutation($w: ID!, $f: ExportFormat!, $filter: AuditLogFilter) {
  exportAuditLog(input: {workspaceId: $w, format: $f, filter: $filter}) { id format url expiresAt }
}`
)

// xInvite creates an invite (email "" for a PUBLIC link) and returns its id
// and token.
func xInvite(t testing.TB, s *server, by user, ws, email, role string, opts ...reqOpt) (id, token string) {
	t.Helper()
	vars := map[string]any{"w": ws, "k": "PUBLIC", "r": role}
	if email != "" {
		vars["k"], vars["e"] = "EMAIL", email
	}
	var out struct {
		CreateInviteLink struct {
			InviteLink struct{ ID string }
			Token      string
		}
	}
	if err := json.Unmarshal(xDo(t, s, by.token, xInviteQuery, vars, opts...), &out); err != nil {
		t.Fatal(err)
	}
	return out.CreateInviteLink.InviteLink.ID, out.CreateInviteLink.Token
}

func xSetRole(t testing.TB, s *server, by user, ws string, u user, role string) {
	t.Helper()
	xDo(t, s, by.token, xRoleQuery, map[string]any{"w": ws, "u": u.id, "r": role})
}

func xRemove(t testing.TB, s *server, by user, ws string, u user) {
	t.Helper()
	xDo(t, s, by.token, xRemoveQuery, map[string]any{"w": ws, "u": u.id})
}

func xSetPlan(t testing.TB, s *server, ws, plan string) {
	t.Helper()
	xDo(t, s, s.billingToken(t), xPlanQuery, map[string]any{"w": ws, "p": plan})
}

// xExport is an AuditLogExport as the API returns it.
type xExport struct {
	ID        string `json:"id"`
	Format    string `json:"format"`
	URL       string `json:"url"`
	ExpiresAt string `json:"expiresAt"`
}

// xExportLog requests an export; filter may be nil.
func xExportLog(t testing.TB, s *server, by user, ws, format string, filter map[string]any) xExport {
	t.Helper()
	vars := map[string]any{"w": ws, "f": format}
	if filter != nil {
		vars["filter"] = filter
	}
	var out struct{ ExportAuditLog xExport }
	if err := json.Unmarshal(xDo(t, s, by.token, xExportQuery, vars), &out); err != nil {
		t.Fatal(err)
	}
	if out.ExportAuditLog.Format != format {
		t.Fatalf("export format %q, want %q", out.ExportAuditLog.Format, format)
	}
	return out.ExportAuditLog
}

// xFile is a download as a browser gets it.
type xFile struct {
	Status int
	Header http.Header
	Body   string
}

// xGet fetches a URL with a plain GET and no Authorization header.
func xGet(t testing.TB, rawURL string) xFile {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatalf("request %q: %v", rawURL, err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %q: %v", rawURL, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %q: body: %v", rawURL, err)
	}
	return xFile{Status: res.StatusCode, Header: res.Header, Body: string(b)}
}

// xDownload fetches an export's URL; it must answer 200.
func xDownload(t testing.TB, ex xExport) xFile {
	t.Helper()
	f := xGet(t, ex.URL)
	if f.Status != http.StatusOK {
		t.Fatalf("GET %s: status %d: %s", ex.URL, f.Status, f.Body)
	}
	return f
}

// xWithQuery returns rawURL with its path's last segment set to id (if not
// "") and its query replaced by q.
func xWithQuery(t testing.TB, rawURL, id, q string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	if id != "" {
		u.Path = "/exports/" + id
		u.RawPath = ""
	}
	u.RawQuery = q
	return u.String()
}

// xURLParams returns the expires and signature parameters of an export URL.
func xURLParams(t testing.TB, rawURL string) (expires, signature string) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("expires"), u.Query().Get("signature")
}

// xSpreadsheetSafe is what a CSV cell must hold for a value: the value, with
// a leading ' when a spreadsheet would run it as a formula; null is empty.
func xSpreadsheetSafe(p *string) string {
	if p == nil {
		return ""
	}
	if *p != "" && strings.ContainsRune("=+-@\t\r", rune((*p)[0])) {
		return "'" + *p
	}
	return *p
}

// xCSVRecords is the CSV file, as encoding/csv reads it, that the contract
// demands for events as the API returns them, without the chain's cells
// (xChainCells has those).
func xCSVRecords(events []event) [][]string {
	out := [][]string{xWithoutChain(strings.Split(xCSVHeader, ","))}
	for _, e := range events {
		var tt, tid, tl *string
		if e.Target != nil {
			tt, tid, tl = &e.Target.Type, &e.Target.ID, e.Target.Label
		}
		rec := []string{xSpreadsheetSafe(&e.ID), e.OccurredAt, xSpreadsheetSafe(&e.Action), xSpreadsheetSafe(&e.Actor.ID),
			xSpreadsheetSafe(e.Actor.Email), xSpreadsheetSafe(&e.Actor.Type), xSpreadsheetSafe(tt), xSpreadsheetSafe(tid),
			xSpreadsheetSafe(tl), xSpreadsheetSafe(e.PreviousRole), xSpreadsheetSafe(e.Role), xSpreadsheetSafe(e.IPAddress),
			xSpreadsheetSafe(e.UserAgent), xSpreadsheetSafe(e.RequestID), strings.Join(e.Flags, ";")}
		out = append(out, rec)
	}
	return out
}

// xParseCSV reads a CSV export with encoding/csv, strictly: 18 cells a row,
// no lazy quotes. It also checks the header line byte for byte.
func xParseCSV(t testing.TB, body string) [][]string {
	t.Helper()
	if !strings.HasPrefix(body, xCSVHeader+"\r\n") {
		t.Errorf("CSV does not start with the header row and CRLF: %.200q", body)
	}
	r := csv.NewReader(strings.NewReader(body))
	r.FieldsPerRecord = xCSVColumns
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatalf("encoding/csv cannot read the export: %v\n%s", err, body)
	}
	return recs
}

// xChain is an event's place in its workspace's hash chain as an export
// file writes it (docs/API.md §9).
type xChain struct {
	Sequence int64  `json:"sequence"`
	PrevHash string `json:"prevHash"`
	Hash     string `json:"hash"`
}

// xFileEvent is one object of a JSON export: the event as the API shows it,
// its chain, and its advisory flags (docs/API.md §14).
type xFileEvent struct {
	event // its Flags are the file's flags
	xChain
}

// xFlagOrder is the AuditFlag enum's order, in which files list flags.
var xFlagOrder = []string{"EXTERNAL_DOMAIN", "ADMIN_GRANTED", "BURST", "NEW_LOCATION"}

// xCheckFlagNames checks one event's flags as a file lists them: none, or
// distinct names of the enum in its order.
func xCheckFlagNames(t testing.TB, where string, names []string, none bool) {
	t.Helper()
	if none {
		return
	}
	last := -1
	for _, n := range names {
		i := slices.Index(xFlagOrder, n)
		if i <= last {
			t.Errorf("%s: flags %q are not distinct AuditFlag names in the enum's order", where, names)
			return
		}
		last = i
	}
}

var xHexHash = regexp.MustCompile(`^[0-9a-f]{64}$`)

// xCheckChainCells checks the chain's columns of a file's rows (newest
// first): each sequence a positive decimal without leading zeros, both
// hashes 64 lowercase hex digits, sequences decreasing, 64 zeros before
// sequence 1, and each row's prevHash the hash of the row before it in the
// log whenever that row is in the file too.
func xCheckChainCells(t testing.TB, rows []xChain) {
	t.Helper()
	for i, c := range rows {
		if c.Sequence < 1 || !xHexHash.MatchString(c.PrevHash) || !xHexHash.MatchString(c.Hash) {
			t.Errorf("row %d: chain cells %+v, want a sequence from 1 and two hashes of 64 lowercase hex digits", i+1, c)
			continue
		}
		if c.Sequence == 1 && c.PrevHash != strings.Repeat("0", 64) {
			t.Errorf("row %d: sequence 1 has prevHash %s, want 64 zeros", i+1, c.PrevHash)
		}
		if i == 0 {
			continue
		}
		newer := rows[i-1]
		if c.Sequence >= newer.Sequence {
			t.Errorf("row %d: sequence %d after sequence %d: the file is newest first", i+1, c.Sequence, newer.Sequence)
		}
		if c.Sequence == newer.Sequence-1 && newer.PrevHash != c.Hash {
			t.Errorf("row %d: sequence %d has prevHash %s, not the hash %s of sequence %d", i, newer.Sequence, newer.PrevHash, c.Hash, c.Sequence)
		}
	}
}

// xCSVChain is the chain's cells of CSV records (header excluded).
func xCSVChain(t testing.TB, recs [][]string) []xChain {
	t.Helper()
	out := make([]xChain, 0, len(recs))
	for i, rec := range recs {
		cells := rec[xChainAt : xChainAt+3]
		seq, err := strconv.ParseInt(cells[0], 10, 64)
		if err != nil || strconv.FormatInt(seq, 10) != cells[0] {
			t.Errorf("row %d: sequence %q is not a decimal number", i+1, cells[0])
		}
		out = append(out, xChain{Sequence: seq, PrevHash: cells[1], Hash: cells[2]})
	}
	return out
}

// xJSONKeyOrder returns, for each object of the JSON export body, its keys
// in the order written, and its actor's and target's ("null" for a null
// target).
func xJSONKeyOrder(t testing.TB, body string) (keys, actor, target []string) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(body))
	tok := func() json.Token {
		t.Helper()
		tk, err := dec.Token()
		if err != nil {
			t.Fatalf("the JSON export: %v", err)
		}
		return tk
	}
	var object func() []string
	object = func() []string { // after its {, through its }
		var ks []string
		for dec.More() {
			k := tok().(string)
			ks = append(ks, k)
			if k != "actor" && k != "target" {
				var v json.RawMessage
				if err := dec.Decode(&v); err != nil {
					t.Fatalf("the JSON export: %v", err)
				}
				continue
			}
			nested := "null"
			if tok() != nil {
				nested = strings.Join(object(), ",")
			}
			if k == "actor" {
				actor = append(actor, nested)
			} else {
				target = append(target, nested)
			}
		}
		tok() // }
		return ks
	}
	tok() // [
	for dec.More() {
		tok() // {
		keys = append(keys, strings.Join(object(), ","))
	}
	return keys, actor, target
}

// xParseJSON reads a JSON export strictly: one array of objects with exactly
// the keys of docs/API.md §7 and §9 in their order, nothing unknown, nothing
// after it.
func xParseJSON(t testing.TB, body string) []xFileEvent {
	t.Helper()
	var raw []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &raw); err != nil {
		t.Fatalf("the JSON export is not an array of objects: %v\n%s", err, body)
	}
	keys := func(m map[string]json.RawMessage) string {
		ks := make([]string, 0, len(m))
		for k := range m {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		return strings.Join(ks, ",")
	}
	ordered, actors, targets := xJSONKeyOrder(t, body)
	for i, m := range raw {
		if got, want := keys(m), "action,actor,flags,hash,id,ipAddress,occurredAt,prevHash,previousRole,requestId,role,sequence,target,userAgent"; got != want {
			t.Errorf("object %d has keys %s, want %s", i, got, want)
		}
		if ordered[i] != xJSONKeys || actors[i] != xJSONActorKeys || (targets[i] != "null" && targets[i] != xJSONTargetKeys) {
			t.Errorf("object %d has keys in the order %s, actor %s, target %s; want %s, actor %s, target null or %s",
				i, ordered[i], actors[i], targets[i], xJSONKeys, xJSONActorKeys, xJSONTargetKeys)
		}
		var actor map[string]json.RawMessage
		if err := json.Unmarshal(m["actor"], &actor); err != nil || keys(actor) != "email,id,type" {
			t.Errorf("object %d: actor %s, want an object with keys email, id, type", i, m["actor"])
		}
		if string(m["target"]) != "null" {
			var target map[string]json.RawMessage
			if err := json.Unmarshal(m["target"], &target); err != nil || keys(target) != "id,label,type" {
				t.Errorf("object %d: target %s, want null or an object with keys id, label, type", i, m["target"])
			}
		}
	}
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	out := []xFileEvent{}
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("decode the JSON export: %v", err)
	}
	if dec.More() {
		t.Errorf("more than one JSON value in the export")
	}
	return out
}

// xCheckFile checks that a downloaded file holds exactly want, in order, in
// its format, and that its chain columns are well formed and linked where
// rows are adjacent in sequence (the integrity tests verify them fully).
func xCheckFile(t testing.TB, format string, f xFile, want []event) {
	t.Helper()
	if want == nil {
		want = []event{}
	}
	switch format {
	case "CSV":
		recs := xParseCSV(t, f.Body)
		got := make([][]string, len(recs))
		for i, rec := range recs {
			got[i] = xWithoutChain(rec)
			if i > 0 {
				xCheckFlagNames(t, fmt.Sprintf("CSV row %d", i), strings.Split(rec[xCSVColumns-1], ";"), rec[xCSVColumns-1] == "")
			}
		}
		if diff := cmp.Diff(xCSVRecords(want), got); diff != "" {
			t.Errorf("CSV export is not what auditLog returns (-want +got):\n%s", diff)
		}
		xCheckChainCells(t, xCSVChain(t, recs[1:]))
	case "JSON":
		rows := xParseJSON(t, f.Body)
		got := make([]event, len(rows))
		chain := make([]xChain, len(rows))
		for i, r := range rows {
			got[i], chain[i] = r.event, r.xChain
			if r.Flags == nil {
				t.Errorf("JSON object %d: flags is null or missing, want an array", i)
			}
			xCheckFlagNames(t, fmt.Sprintf("JSON object %d", i), r.Flags, len(r.Flags) == 0)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("JSON export is not what auditLog returns (-want +got):\n%s", diff)
		}
		xCheckChainCells(t, chain)
	default:
		t.Fatalf("unknown format %q", format)
	}
}

// xExportEvent finds the AUDIT_LOG_EXPORTED event of an export in the log.
func xExportEvent(t testing.TB, s *server, by user, ws string, ex xExport) event {
	t.Helper()
	for _, e := range s.allEvents(t, by.token, ws, map[string]any{"actions": []string{"AUDIT_LOG_EXPORTED"}}) {
		if e.Target != nil && e.Target.ID == ex.ID {
			return e
		}
	}
	t.Fatalf("no AUDIT_LOG_EXPORTED event for export %s in the log", ex.ID)
	return event{}
}

// xCheckHeaders checks the headers of a downloaded file. at is when the
// export was requested (its event's occurredAt).
func xCheckHeaders(t testing.TB, f xFile, format, ws, at string) {
	t.Helper()
	when, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		t.Fatal(err)
	}
	ext, ctype := "csv", "text/csv; charset=utf-8"
	if format == "JSON" {
		ext, ctype = "json", "application/json"
	}
	want := map[string]string{
		"Content-Type":           ctype,
		"Content-Disposition":    `attachment; filename="audit-log-` + ws + `-` + when.UTC().Format("20060102T150405Z") + `.` + ext + `"`,
		"Cache-Control":          "no-store",
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "no-referrer",
	}
	got := map[string]string{}
	for k := range want {
		got[k] = f.Header.Get(k)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("download headers (-want +got):\n%s", diff)
	}
}

// xFixture is a BUSINESS workspace with a varied history made through the
// API, the test clock advanced between steps.
type xFixture struct {
	s                    *server
	ws                   string
	admin, admin2        user
	u1, u2, u3, u4       user
	firstExport          xExport
	all                  []event // the whole log, newest first, when the fixture was made
	publicLink, mailLink string
}

func xNewFixture(t *testing.T, s *server) *xFixture {
	t.Helper()
	f := &xFixture{s: s}
	f.admin, f.admin2 = xUser(t, s, "admin"), xUser(t, s, "admin2")
	f.u1, f.u2, f.u3, f.u4 = xUser(t, s, "u1"), xUser(t, s, "u2"), xUser(t, s, "u3"), xUser(t, s, "u4")
	f.ws = s.newWorkspace(t, f.admin, "BUSINESS")
	s.clock.Advance(time.Hour)
	s.addMember(t, f.admin, f.ws, f.u1, "MEMBER")
	s.addMember(t, f.admin, f.ws, f.admin2, "ADMIN")
	s.clock.Advance(2 * time.Hour)
	id, tok := xInvite(t, s, f.admin2, f.ws, f.u2.email, "ADMIN")
	f.mailLink = id
	xDo(t, s, f.u2.token, xAcceptQuery, map[string]any{"t": tok}, withHeader("User-Agent", "Mozilla/5.0 (u2; phone)"))
	s.clock.Advance(30 * time.Minute)
	id, tok = xInvite(t, s, f.admin, f.ws, "", "MEMBER")
	f.publicLink = id
	xDo(t, s, f.u3.token, xAcceptQuery, map[string]any{"t": tok})
	s.clock.Advance(7 * time.Second)
	xDo(t, s, f.u4.token, xAcceptQuery, map[string]any{"t": tok})
	s.clock.Advance(3 * time.Hour)
	xSetRole(t, s, f.admin2, f.ws, f.u1, "ADMIN")
	xRemove(t, s, f.admin2, f.ws, f.u3)
	s.clock.Advance(time.Hour)
	xDo(t, s, f.admin.token, xDeleteInviteQuery, map[string]any{"w": f.ws, "id": f.publicLink})
	other, _ := xInvite(t, s, f.admin2, f.ws, "nobody.yet@example.com", "MEMBER")
	xDo(t, s, f.admin2.token, xDeleteInviteQuery, map[string]any{"w": f.ws, "id": other})
	s.clock.Advance(10 * time.Minute)
	f.firstExport = xExportLog(t, s, f.admin, f.ws, "CSV", nil)
	s.clock.Advance(time.Hour)
	xSetRole(t, s, f.u1, f.ws, f.u2, "MEMBER")
	s.clock.Advance(time.Minute)
	f.all = s.allEvents(t, f.admin.token, f.ws, nil)
	return f
}

// xAt returns the occurredAt of the log's event with this action and target.
func (f *xFixture) xAt(t testing.TB, action, target string) string {
	t.Helper()
	for _, e := range f.all {
		if e.Action == action && e.Target != nil && e.Target.ID == target {
			return e.OccurredAt
		}
	}
	t.Fatalf("no %s event about %s", action, target)
	return ""
}

// TestExportHoldsExactlyWhatAuditLogShows exports a varied history with many
// filters in both formats and compares every file, field by field and in
// order, with what auditLog returns for the same filter just before.
func TestExportHoldsExactlyWhatAuditLogShows(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, nil)
		f := xNewFixture(t, s)
		if len(f.all) < 15 {
			t.Fatalf("the fixture made only %d events", len(f.all))
		}
		roleUpdated := f.xAt(t, "MEMBER_ROLE_UPDATED", f.u1.id)
		removed := f.xAt(t, "MEMBER_REMOVED", f.u3.id)
		mailAccepted := f.xAt(t, "EMAIL_INVITE_ACCEPTED", f.mailLink)
		for _, tc := range []struct {
			name   string
			filter map[string]any
			empty  bool
		}{
			{"no-filter", nil, false},
			{"empty-filter", map[string]any{}, false},
			{"member-actions", map[string]any{"actions": []string{"MEMBER_ADDED", "MEMBER_ROLE_UPDATED", "MEMBER_REMOVED"}}, false},
			{"one-action", map[string]any{"actions": []string{"PUBLIC_INVITE_LINK_ACCEPTED"}}, false},
			{"earlier-exports", map[string]any{"actions": []string{"AUDIT_LOG_EXPORTED"}}, false},
			{"actor-email-in-other-case", map[string]any{"actorEmail": strings.ToUpper(f.admin2.email)}, false},
			{"actor-id", map[string]any{"actorId": f.u1.id}, false},
			{"target-id", map[string]any{"targetId": f.u2.id}, false},
			{"target-label", map[string]any{"targetLabel": f.u2.email}, false},
			{"since-inclusive", map[string]any{"since": roleUpdated}, false},
			{"until-exclusive", map[string]any{"until": removed}, false},
			{"since-and-until", map[string]any{"since": mailAccepted, "until": removed}, false},
			{"since-long-ago-is-clamped", map[string]any{"since": "2001-01-01T00:00:00.000Z"}, false},
			{"actions-actor-and-time", map[string]any{"actions": []string{"MEMBER_ROLE_UPDATED", "MEMBER_REMOVED", "EMAIL_INVITE_CREATED"},
				"actorEmail": f.admin2.email, "since": mailAccepted}, false},
			{"matches-nothing", map[string]any{"actorEmail": "nobody@example.com"}, true},
			{"until-before-everything", map[string]any{"until": "2001-01-01T00:00:00.000Z"}, true},
		} {
			for _, format := range []string{"CSV", "JSON"} {
				t.Run(tc.name+"/"+format, func(t *testing.T) {
					want := s.allEvents(t, f.admin.token, f.ws, tc.filter)
					if tc.empty != (len(want) == 0) {
						t.Fatalf("auditLog returns %d events; the case needs them to be empty: %v", len(want), tc.empty)
					}
					if narrows := len(tc.filter) > 0 && !tc.empty && !strings.Contains(tc.name, "clamped"); narrows && len(want) >= len(s.allEvents(t, f.admin.token, f.ws, nil)) {
						t.Fatalf("the filter narrows nothing; the case shows nothing")
					}
					ex := xExportLog(t, s, f.admin, f.ws, format, tc.filter)
					file := xDownload(t, ex)
					xCheckFile(t, format, file, want)
					xCheckHeaders(t, file, format, f.ws, xExportEvent(t, s, f.admin, f.ws, ex).OccurredAt)
				})
			}
		}
	})
}

// TestExportOwnEventIsLoggedButNotExported checks the AUDIT_LOG_EXPORTED
// event: in the log afterwards, with the requester as actor and the export
// as target, and never in the export's own file.
func TestExportOwnEventIsLoggedButNotExported(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, nil)
		admin, other := xUser(t, s, "admin"), xUser(t, s, "other")
		ws := s.newWorkspace(t, admin, "BUSINESS")
		s.addMember(t, admin, ws, other, "ADMIN")
		for _, format := range []string{"CSV", "JSON"} {
			t.Run(format, func(t *testing.T) {
				before := s.allEvents(t, admin.token, ws, nil)
				ex := xExportLog(t, s, other, ws, format, map[string]any{"actions": []string{"AUDIT_LOG_EXPORTED", "MEMBER_ADDED"}})
				after := s.allEvents(t, admin.token, ws, nil)
				if len(after) != len(before)+1 {
					t.Fatalf("the log grew by %d events, want 1", len(after)-len(before))
				}
				got := after[0]
				if got.Target == nil || got.Target.ID != ex.ID {
					t.Fatalf("the newest event is %+v, want the export's", got)
				}
				type summary struct {
					Action, ActorID, ActorEmail, ActorType, TargetType, TargetID string
				}
				want := summary{"AUDIT_LOG_EXPORTED", other.id, other.email, "USER", "EXPORT", ex.ID}
				if diff := cmp.Diff(want, summary{got.Action, got.Actor.ID, deref(got.Actor.Email), got.Actor.Type, got.Target.Type, got.Target.ID}); diff != "" {
					t.Errorf("export event (-want +got):\n%s", diff)
				}
				if got.RequestID == nil || got.IPAddress == nil {
					t.Errorf("export event has requestId %s and ipAddress %s, want both", deref(got.RequestID), deref(got.IPAddress))
				}
				file := xDownload(t, ex)
				if strings.Contains(file.Body, got.ID) {
					t.Errorf("the export's own event %s is in its file", got.ID)
				}
				xCheckFile(t, format, file, s.allEvents(t, admin.token, ws, map[string]any{
					"actions": []string{"AUDIT_LOG_EXPORTED", "MEMBER_ADDED"}, "until": got.OccurredAt}))
			})
		}
	})
}

// TestExportURLAndExpiry checks the URL's form, expiresAt, fetching it
// several times, and 410 once it has expired.
func TestExportURLAndExpiry(t *testing.T) {
	t.Parallel()
	hex64 := `[0-9a-f]{64}`
	for _, tc := range []struct {
		name      string
		env       map[string]string
		publicURL string // "" for the server's own address
		ttl       time.Duration
	}{
		{"defaults", nil, "", 15 * time.Minute},
		{"configured-public-url-and-ttl", map[string]string{"AUDITLOG_PUBLIC_URL": "https://audit.example.com/", "AUDITLOG_EXPORT_TTL": "2m"}, "https://audit.example.com", 2 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
				t.Parallel()
				s := newServer(t, db, tc.env)
				public := tc.publicURL
				if public == "" {
					public = s.srv.URL
				}
				admin := xUser(t, s, "admin")
				ws := s.newWorkspace(t, admin, "BUSINESS")
				start := s.clock.Now()
				ex := xExportLog(t, s, admin, ws, "JSON", nil)
				end := s.clock.Now()

				exp, err := time.Parse(time.RFC3339Nano, ex.ExpiresAt)
				if err != nil || !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`).MatchString(ex.ExpiresAt) {
					t.Fatalf("expiresAt %q is not RFC 3339 UTC with milliseconds (%v)", ex.ExpiresAt, err)
				}
				if exp.Before(start.Add(tc.ttl).Add(-time.Second)) || exp.After(end.Add(tc.ttl)) {
					t.Errorf("expiresAt %v, want %v after the request (%v to %v)", exp, tc.ttl, start, end)
				}
				re := regexp.MustCompile(`^` + regexp.QuoteMeta(public+"/exports/"+ex.ID+"?expires="+strconv.FormatInt(exp.Unix(), 10)+"&signature=") + hex64 + `$`)
				if !re.MatchString(ex.URL) {
					t.Fatalf("url %q, want it to match %s", ex.URL, re)
				}
				fetch := xGet
				if tc.publicURL != "" {
					fetch = func(t testing.TB, u string) xFile {
						return xGet(t, s.srv.URL+strings.TrimPrefix(u, tc.publicURL))
					}
				}
				first := fetch(t, ex.URL)
				if first.Status != http.StatusOK {
					t.Fatalf("download: status %d: %s", first.Status, first.Body)
				}
				xCheckFile(t, "JSON", first, s.allEvents(t, admin.token, ws, map[string]any{"actions": []string{"MEMBER_ADDED"}}))

				// Fetched again and again until it expires, always the same bytes.
				s.clock.Advance(exp.Sub(s.clock.Now()) - 3*time.Second)
				for i := range 3 {
					again := fetch(t, ex.URL)
					if again.Status != http.StatusOK {
						t.Fatalf("download %d, 3s before expiry: status %d: %s", i+2, again.Status, again.Body)
					}
					if again.Body != first.Body {
						t.Errorf("download %d differs from the first:\n%s\n---\n%s", i+2, first.Body, again.Body)
					}
				}
				s.clock.Advance(3 * time.Second)
				for _, at := range []time.Duration{0, time.Second, 24 * time.Hour} {
					s.clock.Advance(at)
					gone := fetch(t, ex.URL)
					if gone.Status != http.StatusGone || !strings.Contains(gone.Body, `"code":"GONE"`) {
						t.Errorf("download at expiry + %v: status %d, want 410 with code GONE: %s", at, gone.Status, gone.Body)
					}
					if gone.Header.Get("Content-Disposition") != "" || strings.Contains(gone.Body, `"actor"`) {
						t.Errorf("an expired download still sends the file: %s", gone.Body)
					}
				}
				// An expired URL cannot be extended by changing expires.
				_, sig := xURLParams(t, ex.URL)
				later := strconv.FormatInt(s.clock.Now().Add(time.Hour).Unix(), 10)
				if f := fetch(t, xWithQuery(t, ex.URL, "", "expires="+later+"&signature="+sig)); f.Status != http.StatusForbidden {
					t.Errorf("expired URL with a later expires: status %d, want 403", f.Status)
				}
			})
		})
	}
}

// TestExportIsASnapshot checks that a file holds the events that existed when
// the export was requested, however much later it is fetched, and the same
// bytes every time.
func TestExportIsASnapshot(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, nil)
		admin, a, b, c := xUser(t, s, "admin"), xUser(t, s, "a"), xUser(t, s, "b"), xUser(t, s, "c")
		ws := s.newWorkspace(t, admin, "BUSINESS")
		s.addMember(t, admin, ws, a, "MEMBER")
		s.clock.Advance(time.Minute)
		wantCSV := s.allEvents(t, admin.token, ws, nil)
		csvEx := xExportLog(t, s, admin, ws, "CSV", nil)
		wantJSON := s.allEvents(t, admin.token, ws, nil) // holds the CSV export's event
		jsonEx := xExportLog(t, s, admin, ws, "JSON", nil)

		// New events: in the same instant as the exports and later.
		s.addMember(t, admin, ws, b, "ADMIN")
		s.clock.Advance(time.Minute)
		xSetRole(t, s, b, ws, a, "ADMIN")
		xInvite(t, s, a, ws, "", "MEMBER")
		csv1, json1 := xDownload(t, csvEx), xDownload(t, jsonEx)
		xCheckFile(t, "CSV", csv1, wantCSV)
		xCheckFile(t, "JSON", json1, wantJSON)

		s.clock.Advance(5 * time.Minute)
		s.addMember(t, b, ws, c, "MEMBER")
		xRemove(t, s, a, ws, b)
		csv2, json2 := xDownload(t, csvEx), xDownload(t, jsonEx)
		if csv2.Body != csv1.Body {
			t.Errorf("second CSV download differs from the first:\n%s\n---\n%s", csv1.Body, csv2.Body)
		}
		if json2.Body != json1.Body {
			t.Errorf("second JSON download differs from the first:\n%s\n---\n%s", json1.Body, json2.Body)
		}
		if now := s.allEvents(t, admin.token, ws, nil); len(now) != len(wantJSON)+6 {
			t.Errorf("the log holds %d events, want %d: the later events were not written", len(now), len(wantJSON)+6)
		}
	})
}

// TestExportRefusesChangedURLs checks every way of changing a signed URL:
// 403, and never the file. A URL that this service did sign but for an
// export it does not know is 404.
func TestExportRefusesChangedURLs(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, nil)
		admin := xUser(t, s, "admin")
		ws := s.newWorkspace(t, admin, "BUSINESS")
		ex := xExportLog(t, s, admin, ws, "CSV", nil)
		other := xExportLog(t, s, admin, ws, "CSV", nil)
		exp, sig := xURLParams(t, ex.URL)
		_, otherSig := xURLParams(t, other.URL)
		unix, err := strconv.ParseInt(exp, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		flip := func(s string, i int) string {
			b := []byte(s)
			if b[i] == '0' || b[i] == 'A' {
				b[i]++
			} else {
				b[i]--
			}
			return string(b)
		}
		if f := xGet(t, ex.URL); f.Status != http.StatusOK {
			t.Fatalf("the untouched URL: status %d; every case below would pass for the wrong reason", f.Status)
		}
		q := func(expires, signature string) string {
			return "expires=" + url.QueryEscape(expires) + "&signature=" + url.QueryEscape(signature)
		}
		for _, tc := range []struct {
			name   string
			url    string
			status int
		}{
			{"id-one-character-changed", xWithQuery(t, ex.URL, flip(ex.ID, len(ex.ID)-1), q(exp, sig)), 403},
			{"id-of-another-export", xWithQuery(t, ex.URL, other.ID, q(exp, sig)), 403},
			{"id-lower-cased", xWithQuery(t, ex.URL, strings.ToLower(ex.ID), q(exp, sig)), 403},
			{"expires-one-second-later", xWithQuery(t, ex.URL, "", q(strconv.FormatInt(unix+1, 10), sig)), 403},
			{"expires-a-day-later", xWithQuery(t, ex.URL, "", q(strconv.FormatInt(unix+86400, 10), sig)), 403},
			{"expires-earlier", xWithQuery(t, ex.URL, "", q(strconv.FormatInt(unix-60, 10), sig)), 403},
			{"expires-with-a-leading-zero", xWithQuery(t, ex.URL, "", q("0"+exp, sig)), 403},
			{"expires-with-a-plus-sign", xWithQuery(t, ex.URL, "", q("+"+exp, sig)), 403},
			{"expires-not-a-number", xWithQuery(t, ex.URL, "", q("tomorrow", sig)), 403},
			{"signature-first-character-changed", xWithQuery(t, ex.URL, "", q(exp, flip(sig, 0))), 403},
			{"signature-last-character-changed", xWithQuery(t, ex.URL, "", q(exp, flip(sig, len(sig)-1))), 403},
			{"signature-of-another-export", xWithQuery(t, ex.URL, "", q(exp, otherSig)), 403},
			{"signature-truncated", xWithQuery(t, ex.URL, "", q(exp, sig[:40])), 403},
			{"signature-not-hex", xWithQuery(t, ex.URL, "", q(exp, strings.Repeat("g", 64))), 403},
			{"signature-empty", xWithQuery(t, ex.URL, "", q(exp, "")), 403},
			{"signature-missing", xWithQuery(t, ex.URL, "", "expires="+exp), 403},
			{"expires-missing", xWithQuery(t, ex.URL, "", "signature="+sig), 403},
			{"no-parameters", xWithQuery(t, ex.URL, "", ""), 403},
			{"parameters-swapped", xWithQuery(t, ex.URL, "", q(sig, exp)), 403},
			{"another-export-url-untouched", other.URL, 200},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				f := xGet(t, tc.url)
				if f.Status != tc.status {
					t.Fatalf("GET %s: status %d, want %d: %s", tc.url, f.Status, tc.status, f.Body)
				}
				if tc.status == 200 {
					return
				}
				if strings.Contains(f.Body, "occurred_at") || f.Header.Get("Content-Disposition") != "" {
					t.Errorf("a refused download sent the file: %s", f.Body)
				}
				var body struct {
					Errors []gqlError `json:"errors"`
				}
				if err := json.Unmarshal([]byte(f.Body), &body); err != nil || len(body.Errors) != 1 || body.Errors[0].Extensions["code"] != "FORBIDDEN" {
					t.Errorf("body %s, want one error with code FORBIDDEN", f.Body)
				}
			})
		}
		t.Run("validly-signed-unknown-export-is-404", func(t *testing.T) {
			t.Parallel()
			signer := audit.NewURLSigner(s.app.Config.ExportSecret, s.app.Config.PublicURL)
			unknown := signer.URL(ids.New(s.clock.Now()), s.clock.Now().Add(10*time.Minute))
			if f := xGet(t, unknown); f.Status != http.StatusNotFound {
				t.Errorf("GET %s: status %d, want 404: %s", unknown, f.Status, f.Body)
			}
			// The test's signer is the service's: the same export signed by it
			// is good, so the 404 above is about the export alone.
			resigned := signer.URL(ex.ID, time.Unix(unix, 0))
			if f := xGet(t, resigned); f.Status != http.StatusOK {
				t.Errorf("GET %s: status %d, want 200", resigned, f.Status)
			}
		})
		t.Run("signed-with-another-key-is-403", func(t *testing.T) {
			t.Parallel()
			forged := audit.NewURLSigner([]byte("not-the-service-key-0123456789-abcdefghij"), s.app.Config.PublicURL).URL(ex.ID, time.Unix(unix, 0))
			if f := xGet(t, forged); f.Status != http.StatusForbidden {
				t.Errorf("GET %s: status %d, want 403", forged, f.Status)
			}
		})
	})
}

// TestExportRechecksAccessAtDownload checks that a download is refused (403)
// when its requester is no longer an admin or the workspace is no longer on
// BUSINESS, and allowed again when that is undone.
func TestExportRechecksAccessAtDownload(t *testing.T) {
	t.Parallel()
	type env struct {
		s                       *server
		ws                      string
		owner, requester, other user
	}
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, e env)
		status int
	}{
		{"requester-still-admin", func(t *testing.T, e env) {}, 200},
		{"another-admin-removed", func(t *testing.T, e env) { xRemove(t, e.s, e.owner, e.ws, e.other) }, 200},
		{"requester-demoted-to-member", func(t *testing.T, e env) { xSetRole(t, e.s, e.owner, e.ws, e.requester, "MEMBER") }, 403},
		{"requester-demoted-then-promoted-again", func(t *testing.T, e env) {
			xSetRole(t, e.s, e.owner, e.ws, e.requester, "MEMBER")
			xSetRole(t, e.s, e.owner, e.ws, e.requester, "ADMIN")
		}, 200},
		{"requester-removed", func(t *testing.T, e env) { xRemove(t, e.s, e.owner, e.ws, e.requester) }, 403},
		{"requester-removed-themselves", func(t *testing.T, e env) { xRemove(t, e.s, e.requester, e.ws, e.requester) }, 403},
		{"plan-downgraded-to-teams", func(t *testing.T, e env) { xSetPlan(t, e.s, e.ws, "TEAMS") }, 403},
		{"plan-downgraded-to-free", func(t *testing.T, e env) { xSetPlan(t, e.s, e.ws, "FREE") }, 403},
		{"plan-downgraded-then-upgraded-again", func(t *testing.T, e env) {
			xSetPlan(t, e.s, e.ws, "TEAMS")
			xSetPlan(t, e.s, e.ws, "BUSINESS")
		}, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
				t.Parallel()
				s := newServer(t, db, nil)
				e := env{s: s, owner: xUser(t, s, "owner"), requester: xUser(t, s, "requester"), other: xUser(t, s, "other")}
				e.ws = s.newWorkspace(t, e.owner, "BUSINESS")
				s.addMember(t, e.owner, e.ws, e.requester, "ADMIN")
				s.addMember(t, e.owner, e.ws, e.other, "ADMIN")
				var exports []xExport
				for _, format := range []string{"CSV", "JSON"} {
					ex := xExportLog(t, s, e.requester, e.ws, format, nil)
					xDownload(t, ex)
					exports = append(exports, ex)
				}
				tc.change(t, e)
				for _, ex := range exports {
					f := xGet(t, ex.URL)
					if f.Status != tc.status {
						t.Fatalf("%s download after the change: status %d, want %d: %s", ex.Format, f.Status, tc.status, f.Body)
					}
					if tc.status == 403 && (f.Header.Get("Content-Disposition") != "" || strings.Contains(f.Body, e.owner.email)) {
						t.Errorf("a refused download sent the file: %s", f.Body)
					}
				}
			})
		})
	}
}

// TestExportAuditLogNeedsAnAdminOnBusiness checks who may request an export:
// only an admin of a BUSINESS workspace; nobody else gets a URL or writes an
// event.
func TestExportAuditLogNeedsAnAdminOnBusiness(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, nil)
		admin, member, stranger := xUser(t, s, "admin"), xUser(t, s, "member"), xUser(t, s, "stranger")
		business := s.newWorkspace(t, admin, "BUSINESS")
		teams := s.newWorkspace(t, admin, "TEAMS")
		free := s.newWorkspace(t, admin, "FREE")
		for _, ws := range []string{business, teams, free} {
			s.addMember(t, admin, ws, member, "MEMBER")
		}
		strangersOwn := s.newWorkspace(t, stranger, "BUSINESS")
		for _, tc := range []struct {
			name  string
			token string
			ws    string
			code  string
		}{
			{"anonymous", "", business, "UNAUTHENTICATED"},
			{"member-of-business", member.token, business, "FORBIDDEN"},
			{"stranger", stranger.token, business, "FORBIDDEN"},
			{"unknown-workspace", admin.token, "01HZY3J4QK2M6N8P0R2S4T6V8W", "FORBIDDEN"},
			{"malformed-workspace-id", admin.token, "no such workspace", "FORBIDDEN"},
			{"admin-of-teams", admin.token, teams, "BUSINESS_PLAN_REQUIRED"},
			{"admin-of-free", admin.token, free, "BUSINESS_PLAN_REQUIRED"},
			{"member-of-teams-is-forbidden-first", member.token, teams, "FORBIDDEN"},
		} {
			for _, format := range []string{"CSV", "JSON"} {
				t.Run(tc.name+"/"+format, func(t *testing.T) {
					before := xEventCount(t, s)
					r := s.fails(t, tc.token, xExportQuery, map[string]any{"w": tc.ws, "f": format}, tc.code)
					if strings.Contains(r.Raw, "/exports/") {
						t.Errorf("a refused request got a URL: %s", r.Raw)
					}
					if after := xEventCount(t, s); after != before {
						t.Errorf("a refused export wrote %d events", after-before)
					}
				})
			}
		}
		// The admin of the stranger's workspace is the stranger: allowed there.
		xDownload(t, xExportLog(t, s, stranger, strangersOwn, "CSV", nil))
	})
}

// xPool returns a connection pool of the server's database.
func xPool(s *server) *sql.DB {
	for _, p := range s.app.DB.Pools() {
		return p // any pool reads what has been committed
	}
	return nil
}

// xEventCount counts the events of the whole database.
func xEventCount(t testing.TB, s *server) int {
	t.Helper()
	return xCount(t, s, "SELECT COUNT(*) FROM audit_events")
}

// xCount runs a COUNT query straight on the database.
func xCount(t testing.TB, s *server, query string, args ...any) int {
	t.Helper()
	var n int
	if err := xPool(s).QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// TestExportURLNeverReachesTheLog checks that the signature, the credential
// of a download, is in no log line, whatever happened to the download.
func TestExportURLNeverReachesTheLog(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, nil)
		admin, member := xUser(t, s, "admin"), xUser(t, s, "member")
		ws := s.newWorkspace(t, admin, "BUSINESS")
		s.addMember(t, admin, ws, member, "ADMIN")
		var exports []xExport
		for _, format := range []string{"CSV", "JSON"} {
			exports = append(exports, xExportLog(t, s, admin, ws, format, nil), xExportLog(t, s, member, ws, format, nil))
		}
		for _, ex := range exports {
			xDownload(t, ex)
			xDownload(t, ex)
			exp, sig := xURLParams(t, ex.URL)
			xGet(t, xWithQuery(t, ex.URL, "", "expires="+exp+"&signature="+sig[:60]+"0000")) // 403
			xGet(t, xWithQuery(t, ex.URL, ex.ID[:25]+"Z", "expires="+exp+"&signature="+sig)) // 403
		}
		xSetRole(t, s, admin, ws, member, "MEMBER")
		xGet(t, exports[1].URL) // 403: no longer an admin
		s.clock.Advance(time.Hour)
		xGet(t, exports[0].URL) // 410

		logs := s.logs.String()
		if !strings.Contains(logs, `"route":"/exports/{id}"`) || !strings.Contains(logs, `"status":410`) {
			t.Fatalf("the log holds no download lines; the check below would prove nothing:\n%s", logs)
		}
		for _, ex := range exports {
			exp, sig := xURLParams(t, ex.URL)
			for _, secret := range []string{sig, sig[:16], "expires=" + exp} {
				if strings.Contains(logs, secret) {
					t.Errorf("the log holds %q of %s", secret, ex.URL)
				}
			}
		}
		if strings.Contains(logs, "signature=") {
			t.Errorf("the log holds a signature parameter")
		}
	})
}

// TestExportNeutralizesFormulasInCSV fills a log with values a spreadsheet
// would run (in emails, ids, labels, user agents and request ids): the CSV
// cell must start with ' and be quoted where needed, while the JSON export
// and the API keep the value as it was.
func TestExportNeutralizesFormulasInCSV(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		// Trusting the loopback proxy lets the test choose request ids.
		s := newServer(t, db, map[string]string{"AUDITLOG_TRUSTED_PROXIES": "127.0.0.0/8,::1"})
		n := userSeq.Add(1)
		hostileEmail := fmt.Sprintf(`=HYPERLINK("http://evil.example","x%d"),"q"@evil.example`, n)
		hostile := xUserAs(t, s, fmt.Sprintf("@hostile-%d", n), hostileEmail)
		ws := s.newWorkspace(t, hostile, "BUSINESS")
		plus := xUserAs(t, s, fmt.Sprintf("+plus-%d", n), fmt.Sprintf("+plus.%d@example.com", n))
		s.addMember(t, hostile, ws, plus, "ADMIN")
		agents := []struct{ sent, stored string }{
			{`=HYPERLINK("http://evil","x")`, `=HYPERLINK("http://evil","x")`},
			{"@SUM(1+1)*cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0"},
			{"+1+1", "+1+1"},
			{"-1", "-1"},
			{"\t=1+2", "=1+2"}, // the server trims leading whitespace of headers
			{`Mozilla/5.0 ("quoted", with commas)`, `Mozilla/5.0 ("quoted", with commas)`},
		}
		// Valid addresses (the canonical email rules refuse a comma, quoted or
		// not) that start with a formula character.
		emails := []string{"=1+2@example.com", "+1@example.com", "-1@example.com", "=cmd|x@example.com", "-2.3@example.com", "+2@example.com"}
		for i, ua := range agents {
			opts := []reqOpt{withHeader("User-Agent", ua.sent), withHeader("X-Request-Id", fmt.Sprintf("-%d", i+1))}
			xDo(t, s, hostile.token, xInviteQuery, map[string]any{"w": ws, "k": "EMAIL", "e": emails[i%len(emails)], "r": "MEMBER"}, opts...)
		}
		// An API key's name is its events' target label, free text: a
		// formula with commas and quotes.
		keyName := `-2,3+cmd|' /C "calc"!A0`
		xDo(t, s, hostile.token, `mutation($w: ID!, $n: String!) { createApiKey(input: {workspaceId: $w, name: $n}) { token } }`,
			map[string]any{"w": ws, "n": keyName})
		xDo(t, s, plus.token, xRoleQuery, map[string]any{"w": ws, "u": hostile.id, "r": "MEMBER"},
			withHeader("User-Agent", "=2+5"), withHeader("X-Request-Id", "-role-change"))

		api := s.allEvents(t, plus.token, ws, nil)
		// The API keeps every value raw; note which columns hold a formula.
		formulaCols := map[string]bool{}
		sentAgents := map[string]bool{}
		for _, e := range api {
			for col, v := range map[string]*string{"actor_id": &e.Actor.ID, "actor_email": e.Actor.Email, "target_id": xTargetField(e, "id"),
				"target_label": xTargetField(e, "label"), "user_agent": e.UserAgent, "request_id": e.RequestID} {
				if xSpreadsheetSafe(v) != deref(v) {
					formulaCols[col] = true
				}
			}
			if e.UserAgent != nil {
				sentAgents[*e.UserAgent] = true
			}
			if e.Actor.ID == hostile.id && deref(e.Actor.Email) != hostileEmail {
				t.Errorf("the API shows the actor email %q, want it raw: %q", deref(e.Actor.Email), hostileEmail)
			}
		}
		for _, ua := range agents {
			if !sentAgents[ua.stored] {
				t.Errorf("the API has no event with user agent %q", ua.stored)
			}
		}
		if diff := cmp.Diff(map[string]bool{"actor_id": true, "actor_email": true, "target_id": true, "target_label": true, "user_agent": true, "request_id": true}, formulaCols); diff != "" {
			t.Fatalf("columns holding a formula (-want +got):\n%s", diff)
		}

		csvFile := xDownload(t, xExportLog(t, s, plus, ws, "CSV", nil))
		xCheckFile(t, "CSV", csvFile, api)
		api = s.allEvents(t, plus.token, ws, nil) // now with the CSV export's event
		jsonFile := xDownload(t, xExportLog(t, s, plus, ws, "JSON", nil))
		xCheckFile(t, "JSON", jsonFile, api)
		for i, rec := range xParseCSV(t, csvFile.Body)[1:] {
			for j, cell := range rec {
				if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
					t.Errorf("CSV row %d cell %d is %q: a spreadsheet would run it", i+1, j+1, cell)
				}
			}
		}
		// Byte for byte, the actor's email and the key's name are each one
		// quoted cell holding a comma, with the apostrophe inside the quotes
		// and their quotes doubled.
		for what, v := range map[string]string{"actor email": hostileEmail, "target label": keyName} {
			quoted := `"'` + strings.ReplaceAll(v, `"`, `""`) + `"`
			if !strings.Contains(csvFile.Body, ","+quoted+",") {
				t.Errorf("the CSV does not hold the %s as the cell %s:\n%s", what, quoted, csvFile.Body)
			}
		}
		for _, raw := range []string{`,"'=HYPERLINK(""http://evil"",""x"")",`, `,'-1,`, `,'=2+5,`, `,'@hostile-`, `,'-2.3@example.com,`} {
			if !strings.Contains(csvFile.Body, raw) {
				t.Errorf("the CSV does not hold %s:\n%s", raw, csvFile.Body)
			}
		}
		if !strings.Contains(jsonFile.Body, `"userAgent":"=2+5"`) || strings.Contains(jsonFile.Body, `"'`) {
			t.Errorf("the JSON export changes the values:\n%s", jsonFile.Body)
		}
	})
}

// xTargetField returns a field of an event's target, nil without a target.
func xTargetField(e event, field string) *string {
	if e.Target == nil {
		return nil
	}
	if field == "id" {
		return &e.Target.ID
	}
	return e.Target.Label
}
