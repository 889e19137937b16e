package web_test

// Browser tests of the Audit Log page: a real auditlogd with the demo data,
// driven through Debian's headless Chromium with chromedp. They skip when no
// Chromium is installed, unless CI is set (then they fail).

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/auditlogd/auditlogd/internal/auth"
	"github.com/auditlogd/auditlogd/internal/demo"
)

// demoRow is one event of the demo's history: its action, and the actor,
// action and target as the page words them.
type demoRow struct{ code, actor, action, target string }

// demoRows is the demo's history (internal/demo), newest first: the one list
// the tests derive their expected rows and counts from.
var demoRows = func() []demoRow {
	// The last days: one event of each flag of docs/API.md §14.
	rows := []demoRow{
		{"MEMBER_ROLE_UPDATED", "alice@example.com", "changed bob@example.com's role from Member to Admin", "bob@example.com"}, // ADMIN_GRANTED, NEW_LOCATION
	}
	for i := 10; i >= 1; i-- { // the tenth is a BURST
		hire := fmt.Sprintf("new.hire%d@example.com", i)
		rows = append(rows, demoRow{"EMAIL_INVITE_CREATED", "alice@example.com", "invited " + hire + " by email as Member", hire + " (email invite)"})
	}
	rows = append(rows, demoRow{"MEMBER_ADDED", "carol@example.com", "added frank.contractor@gmail.com as Member", "frank.contractor@gmail.com"}) // EXTERNAL_DOMAIN
	return append(rows, []demoRow{
		{"MEMBER_ROLE_UPDATED", "alice@example.com", "changed bob@example.com's role from Admin to Member", "bob@example.com"},
		{"PUBLIC_INVITE_LINK_DELETED", "alice@example.com", "deleted a public invite link", "Public invite link"},
		{"MEMBER_REMOVED", "carol@example.com", "removed dave@example.com (was Member)", "dave@example.com"},
		{"EMAIL_INVITE_DELETED", "bob@example.com", "deleted the email invite for erin@example.com", "erin@example.com (email invite)"},
		{"EMAIL_INVITE_CREATED", "bob@example.com", "invited erin@example.com by email as Member", "erin@example.com (email invite)"},
		{"MEMBER_ROLE_UPDATED", "alice@example.com", "changed bob@example.com's role from Member to Admin", "bob@example.com"},
		{"MEMBER_ADDED", "carol@example.com", "added dave@example.com as Member", "dave@example.com"},
		{"MEMBER_ADDED", "carol@example.com", "joined the workspace as Admin", "carol@example.com"},
		{"EMAIL_INVITE_ACCEPTED", "carol@example.com", "accepted an email invite as Admin", "carol@example.com (email invite)"},
		{"EMAIL_INVITE_CREATED", "alice@example.com", "invited carol@example.com by email as Admin", "carol@example.com (email invite)"},
		{"MEMBER_ADDED", "bob@example.com", "joined the workspace as Member", "bob@example.com"},
		{"PUBLIC_INVITE_LINK_ACCEPTED", "bob@example.com", "joined through a public invite link as Member", "Public invite link"},
		{"PUBLIC_INVITE_LINK_CREATED", "alice@example.com", "created a public invite link for Members", "Public invite link"},
		{"MEMBER_ADDED", "alice@example.com", "joined the workspace as Admin", "alice@example.com"},
	}...)
}()

// demoWhere returns the demo's events that keep picks, newest first.
func demoWhere(keep func(demoRow) bool) []demoRow {
	var out []demoRow
	for _, r := range demoRows {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}

// rowsIs is the condition that the table is ready with n rows.
func rowsIs(n int) string {
	return fmt.Sprintf(`document.body.dataset.state === 'ready' && document.querySelectorAll('#log-rows tr').length === %d`, n)
}

// wantDemoRows checks that the table shows the demo's history in words.
func wantDemoRows(t *testing.T, got []string) {
	t.Helper()
	wantRowsOf(t, got, demoRows)
}

// wantRowsOf checks that the table shows want, the demo's events (or some of
// them), in words.
func wantRowsOf(t *testing.T, got []string, want []demoRow) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("the table has %d rows, want the %d demo events:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i, want := range want {
		cells := strings.Split(got[i], " | ")
		if len(cells) != 5 {
			t.Fatalf("row %d has %d cells: %q", i, len(cells), got[i])
		}
		if cells[1] != want.actor || cells[2] != want.action || cells[3] != want.target {
			t.Errorf("row %d = %q, %q, %q; want %q, %q, %q", i, cells[1], cells[2], cells[3], want.actor, want.action, want.target)
		}
		if cells[4] == "" || cells[4] == "—" {
			t.Errorf("row %d has no IP address: %q", i, got[i])
		}
	}
}

func TestBrowserSignInWithFragmentShowsDemoLog(t *testing.T) {
	s := wNewServer(t)
	b := wStartBrowser(t)
	// The viewer's time zone: times show in it, UTC on hover.
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Skipf("no tz database: %v", err)
	}
	b.timezone("Asia/Tokyo")
	alice := s.alice()
	release := s.hold("AuditLogViewer")
	defer release()
	b.navigate(s.srv.URL + "/audit-log#token=" + alice.token)
	b.waitState("signing-in")
	// The token leaves the address bar at once, before the first request
	// is answered, and lives in sessionStorage.
	if loc := b.location(); strings.Contains(loc, "token") || strings.Contains(loc, alice.token) {
		t.Errorf("the token is still in the address bar: %s", loc)
	}
	release()
	b.waitState("ready")
	loc := b.location()
	if strings.Contains(loc, "token") {
		t.Errorf("the token is back in the address bar: %s", loc)
	}
	if got := wEval[string](b, `sessionStorage.getItem('auditlogd.token')`); got != alice.token {
		t.Errorf("sessionStorage token = %q, want the token from the fragment", got)
	}
	if !strings.Contains(loc, "workspace="+s.demoWS) {
		t.Errorf("the URL does not name the workspace: %s", loc)
	}
	if got := wEval[string](b, `document.getElementById('viewer-email').textContent`); got != demo.Admin.Email {
		t.Errorf("signed in as %q, want %s", got, demo.Admin.Email)
	}
	if got := wEval[string](b, `document.getElementById('workspace').selectedOptions[0].textContent`); got != "Acme Inc. (demo) — Business, Admin" {
		t.Errorf("workspace picker shows %q", got)
	}
	wantDemoRows(t, b.rows())
	if got, want := wEval[string](b, `document.getElementById('log-count').textContent`), fmt.Sprintf("%d events", len(demoRows)); got != want {
		t.Errorf("total count = %q, want %s", got, want)
	}
	if got, want := wEval[string](b, `document.getElementById('status').textContent`), fmt.Sprintf("Showing all %d events.", len(demoRows)); got != want {
		t.Errorf("status = %q, want %q", got, want)
	}
	if wEval[bool](b, `!document.getElementById('load-more').hidden`) {
		t.Error("Load more is shown although every event is")
	}
	// The rows are the API's events, which are the demo's as demoRows has them.
	events := s.events(alice.token, s.demoWS, nil)
	if got := b.rowIDs(); !slices.Equal(got, eventIDs(events)) {
		t.Errorf("rows = %q, want the log %q", got, eventIDs(events))
	}
	for i, e := range events {
		if i < len(demoRows) && e.Action != demoRows[i].code {
			t.Errorf("event %d is %s, demoRows says %s", i, e.Action, demoRows[i].code)
		}
	}

	// Time: local (Tokyo) in the cell, UTC in the title, RFC 3339 in datetime.
	first := wEval[map[string]string](b, `(() => { const t = document.querySelector('#log-rows tr time');
  return {text: t.textContent, title: t.title, datetime: t.getAttribute('datetime')}; })()`)
	at, err := time.Parse(time.RFC3339, events[0].OccurredAt)
	if err != nil {
		t.Fatal(err)
	}
	if first["datetime"] != events[0].OccurredAt {
		t.Errorf("datetime = %q, want %q", first["datetime"], events[0].OccurredAt)
	}
	if want := at.UTC().Format("2006-01-02 15:04:05") + " UTC"; first["title"] != want {
		t.Errorf("title = %q, want %q", first["title"], want)
	}
	text := strings.NewReplacer("\u202f", " ", "\u00a0", " ").Replace(first["text"])
	if want := at.In(tokyo).Format("Jan 2, 2006, 3:04:05 PM"); text != want {
		t.Errorf("local time = %q, want %q (Asia/Tokyo)", text, want)
	}

	// A real table with a caption and column headers.
	if got := wEval[int](b, `document.querySelectorAll('#log caption').length + document.querySelectorAll('#log thead th[scope=col]').length`); got != 6 {
		t.Errorf("want a caption and 5 th[scope=col], got %d elements", got)
	}
	b.screenshotViewport("audit-log-signed-in")
}

// timezone makes the page's local time zone tz.
func (b *wBrowser) timezone(tz string) {
	b.t.Helper()
	b.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: tz})
		return err
	}))
}

// setValue sets the value of the form field sel finds, as a paste would.
func (b *wBrowser) setValue(sel, v string) {
	b.t.Helper()
	js, _ := json.Marshal(v)
	wEval[chromedp.Void](b, fmt.Sprintf(`document.querySelector(%q).value = %s`, sel, js))
}

// click clicks the element sel finds.
func (b *wBrowser) click(sel string) {
	b.t.Helper()
	b.do(chromedp.Click(chromedp.CSS(sel)))
}

// text returns the trimmed textContent of the element sel finds.
func (b *wBrowser) text(sel string) string {
	b.t.Helper()
	return wEval[string](b, fmt.Sprintf(`(document.querySelector(%q) || {textContent: '<missing>'}).textContent.replace(/\s+/g, ' ').trim()`, sel))
}

// visible reports whether the element sel finds is displayed.
func (b *wBrowser) visible(sel string) bool {
	b.t.Helper()
	return wEval[bool](b, fmt.Sprintf(`(() => { const e = document.querySelector(%q); return !!e && e.getClientRects().length > 0; })()`, sel))
}

// query returns the page URL's query as values.
func (b *wBrowser) query() url.Values {
	b.t.Helper()
	u, err := url.Parse(b.location())
	if err != nil {
		b.t.Fatal(err)
	}
	return u.Query()
}

// rowIDs returns the event ids of the table's rows.
func (b *wBrowser) rowIDs() []string {
	b.t.Helper()
	return wEval[[]string](b, `Array.from(document.querySelectorAll('#log-rows tr')).map(tr => tr.dataset.id)`)
}

func eventIDs(evs []wEvent) []string {
	ids := make([]string, len(evs))
	for i, e := range evs {
		ids[i] = e.ID
	}
	return ids
}

func TestBrowserSignInByPasting(t *testing.T) {
	s := wNewServer(t)
	b := wStartBrowser(t)
	alice := s.alice()

	b.navigate(s.srv.URL + "/audit-log")
	b.waitState("signed-out")
	if !b.visible("#signin") || b.visible("#app") {
		t.Fatal("without a token the page must show the sign-in form and nothing else")
	}
	if got := wEval[string](b, `document.activeElement.id`); got != "token-input" {
		t.Errorf("focus is on %q, want the token field", got)
	}
	if got := wEval[string](b, `document.querySelector('label[for=token-input]').textContent`); got != "Bearer token" {
		t.Errorf("the token field's label is %q", got)
	}

	// Something that is not a token is refused on the page.
	b.do(chromedp.SendKeys(chromedp.CSS("#token-input"), "hello"), chromedp.Click(chromedp.CSS("#signin-form button[type=submit]")))
	b.wait(`!document.getElementById('token-error').hidden`, "the token error")
	if got := b.text("#token-error"); !strings.Contains(got, "does not look like a token") {
		t.Errorf("token error = %q", got)
	}
	if len(s.graphQLRequests()) != 0 {
		t.Errorf("a malformed token was sent to the server")
	}

	// Paste "Bearer <token>", as copied from a header.
	b.setValue("#token-input", "Bearer "+alice.token)
	b.click("#signin-form button[type=submit]")
	b.waitState("ready")
	wantDemoRows(t, b.rows())
	if b.visible("#signin") || b.visible("#token-error") {
		t.Error("the sign-in form is still shown")
	}
	if got := wEval[string](b, `document.getElementById('token-input').value`); got != "" {
		t.Error("the token stays in the text field after signing in")
	}
	if strings.Contains(b.location(), alice.token) {
		t.Errorf("the token is in the URL: %s", b.location())
	}

	// The session survives a reload of the tab, and only that.
	b.do(chromedp.Reload())
	b.waitState("ready")
	if got := b.text("#viewer-email"); got != demo.Admin.Email {
		t.Errorf("after reload, signed in as %q", got)
	}

	// Signing out forgets the token.
	b.click("#sign-out")
	b.waitState("signed-out")
	if got := wEval[bool](b, `sessionStorage.getItem('auditlogd.token') === null`); !got {
		t.Error("sign out left the token in sessionStorage")
	}
	if b.visible("#app") || b.visible("#session") {
		t.Error("after sign out the log is still shown")
	}
	for _, body := range s.graphQLRequests() {
		if strings.Contains(body, alice.token) {
			t.Error("the token was sent in a request body")
		}
	}
}

func TestBrowserPickWorkspace(t *testing.T) {
	s := wNewServer(t)
	b := wStartBrowser(t)
	alice := s.alice()
	beta := s.createWorkspace(alice, "Beta Corp", "BUSINESS")
	s.createWorkspace(alice, "Zulu Free", "FREE")

	b.navigate(s.srv.URL + "/audit-log#token=" + alice.token)
	b.waitState("ready")
	options := wEval[[]string](b, `Array.from(document.querySelectorAll('#workspace option')).map(o => o.textContent)`)
	want := []string{"Acme Inc. (demo) — Business, Admin", "Beta Corp — Business, Admin", "Zulu Free — Free, Admin"}
	if !slices.Equal(options, want) {
		t.Errorf("workspace options = %q, want %q", options, want)
	}
	if got := b.query().Get("workspace"); got != s.demoWS {
		t.Errorf("the first readable workspace is not picked: workspace=%s", got)
	}
	wantDemoRows(t, b.rows())

	// Pick Beta Corp with the keyboard.
	b.do(chromedp.Focus(chromedp.CSS("#workspace")), chromedp.KeyEvent(kb.ArrowDown))
	b.wait(fmt.Sprintf(`document.getElementById('workspace').value === %q`, beta), "Beta Corp picked")
	b.wait(`document.body.dataset.state === 'ready' && document.querySelectorAll('#log-rows tr').length === 1`, "Beta Corp's log")
	if got := b.rows(); len(got) != 1 || !strings.Contains(got[0], "alice@example.com | joined the workspace as Admin") {
		t.Errorf("Beta Corp's log = %q", got)
	}
	if got := b.query().Get("workspace"); got != beta {
		t.Errorf("URL workspace = %q, want %s", got, beta)
	}
	if got := wEval[string](b, `document.title`); !strings.Contains(got, "Beta Corp") {
		t.Errorf("title = %q", got)
	}

	// Back goes to the previous workspace.
	b.do(chromedp.NavigateBack())
	b.wait(rowsIs(len(demoRows)), "the demo log after Back")
	if got := wEval[string](b, `document.getElementById('workspace').value`); got != s.demoWS {
		t.Errorf("after Back the picker shows %s", got)
	}

	// A shared link to a workspace that is not the viewer's says so.
	b.navigate(s.srv.URL + "/audit-log?workspace=01NOTMINE00000000000000000")
	b.waitState("ready")
	if got := b.text("#workspace-note"); !strings.Contains(got, "not one of your workspaces") {
		t.Errorf("workspace note = %q", got)
	}
}

func TestBrowserFilters(t *testing.T) {
	s := wNewServer(t)
	b := wStartBrowser(t)
	b.timezone("UTC")
	alice := s.alice()
	b.navigate(s.srv.URL + "/audit-log#token=" + alice.token)
	b.waitState("ready")

	// Actions, with the keyboard: open the list, tick "Role changed".
	b.do(chromedp.Focus(chromedp.CSS("#action-filter summary")), chromedp.KeyEvent(kb.Enter))
	b.wait(`document.getElementById('action-filter').open`, "the action list to open")
	groups := wEval[[]string](b, `Array.from(document.querySelectorAll('#action-filter legend')).map(l => l.textContent)`)
	if !slices.Equal(groups, []string{"Invitations", "Members", "Exports", "Integrations and settings"}) {
		t.Errorf("action groups = %q", groups)
	}
	b.do(chromedp.SendKeys(chromedp.CSS(`input[value=MEMBER_ROLE_UPDATED]`), " "))
	roleChanges := demoWhere(func(r demoRow) bool { return r.code == "MEMBER_ROLE_UPDATED" })
	b.wait(rowsIs(len(roleChanges)), "the role changes")
	wantRowsOf(t, b.rows(), roleChanges)
	want := eventIDs(s.events(alice.token, s.demoWS, map[string]any{"actions": []string{"MEMBER_ROLE_UPDATED"}}))
	if got := b.rowIDs(); !slices.Equal(got, want) {
		t.Errorf("rows = %q, want %q", got, want)
	}
	if got := b.query().Get("actions"); got != "MEMBER_ROLE_UPDATED" {
		t.Errorf("URL actions = %q; URL %s", got, b.location())
	}
	if got := b.text("#action-summary"); got != "Role changed" {
		t.Errorf("action summary = %q", got)
	}
	if got, want := b.text("#log-count"), fmt.Sprintf("%d events", len(roleChanges)); got != want {
		t.Errorf("count = %q, want %s", got, want)
	}
	b.do(chromedp.KeyEvent(kb.Escape))
	b.wait(`!document.getElementById('action-filter').open`, "Escape to close the action list")
	b.screenshot("audit-log-filtered")

	// A shared link restores the filters; two actions and an actor.
	shared := s.srv.URL + "/audit-log?workspace=" + s.demoWS + "&actions=MEMBER_ADDED,MEMBER_REMOVED&actor=carol@example.com"
	b.navigate(shared)
	carols := demoWhere(func(r demoRow) bool {
		return r.actor == "carol@example.com" && (r.code == "MEMBER_ADDED" || r.code == "MEMBER_REMOVED")
	})
	b.wait(rowsIs(len(carols)), "carol's member changes")
	wantRowsOf(t, b.rows(), carols)
	want = eventIDs(s.events(alice.token, s.demoWS, map[string]any{"actions": []string{"MEMBER_ADDED", "MEMBER_REMOVED"}, "actorEmail": "carol@example.com"}))
	if got := b.rowIDs(); !slices.Equal(got, want) {
		t.Errorf("rows = %q, want %q", got, want)
	}
	if got := wEval[[]string](b, `Array.from(document.querySelectorAll('#filters input[name=action]:checked')).map(c => c.value)`); !slices.Equal(got, []string{"MEMBER_ADDED", "MEMBER_REMOVED"}) {
		t.Errorf("checked actions = %q", got)
	}
	if got := wEval[string](b, `document.getElementById('filter-actor').value`); got != "carol@example.com" {
		t.Errorf("actor field = %q", got)
	}
	if got := b.text("#action-summary"); got != "2 actions" {
		t.Errorf("action summary = %q", got)
	}

	// Clear all.
	b.click("#clear-filters")
	b.wait(rowsIs(len(demoRows)), "the whole log")
	if q := b.query(); len(q) != 1 || q.Get("workspace") != s.demoWS {
		t.Errorf("after clear all the URL is %s", b.location())
	}
	if got := wEval[int](b, `document.querySelectorAll('#filters input[name=action]:checked').length`); got != 0 {
		t.Errorf("%d actions still checked", got)
	}

	// Target, typed and submitted with Enter.
	b.do(chromedp.SendKeys(chromedp.CSS("#filter-target"), "BOB@example.com\n"))
	bobs := demoWhere(func(r demoRow) bool { return r.target == "bob@example.com" })
	b.wait(rowsIs(len(bobs)), "bob's events")
	wantRowsOf(t, b.rows(), bobs)
	if got := b.query().Get("target"); got != "BOB@example.com" {
		t.Errorf("URL target = %q", got)
	}
	want = eventIDs(s.events(alice.token, s.demoWS, map[string]any{"targetLabel": "bob@example.com"}))
	if got := b.rowIDs(); !slices.Equal(got, want) {
		t.Errorf("target rows = %q, want %q", got, want)
	}

	// Nothing matches: the page says so, and offers to clear the filters.
	b.setValue("#filter-target", "")
	b.do(chromedp.SendKeys(chromedp.CSS("#filter-target"), "nobody@example.com\n"))
	b.waitState("no-match")
	if got := b.text("#state-no-match h2"); got != "No events match these filters" {
		t.Errorf("no-match title = %q", got)
	}
	b.click("#state-clear-filters")
	b.wait(rowsIs(len(demoRows)), "the whole log again")

	// Date range: whole days in the viewer's time zone (UTC here), "To"
	// inclusive: from the day carol added dave to the day she removed him,
	// some days apart.
	dave := s.events(alice.token, s.demoWS, map[string]any{"targetLabel": "dave@example.com"})
	if len(dave) != 2 || dave[0].Action != "MEMBER_REMOVED" || dave[1].Action != "MEMBER_ADDED" {
		t.Fatalf("dave's events = %+v, want his removal and his addition", dave)
	}
	from, _ := time.Parse(time.RFC3339, dave[1].OccurredAt)
	to, _ := time.Parse(time.RFC3339, dave[0].OccurredAt)
	fromDay, toDay := from.UTC().Format("2006-01-02"), to.UTC().Format("2006-01-02")
	if fromDay >= toDay {
		t.Fatalf("dave was added on %s and removed on %s: want a range of some days", fromDay, toDay)
	}
	b.setValue("#filter-from", fromDay)
	b.setValue("#filter-to", toDay)
	b.click("#apply-filters")
	b.wait(fmt.Sprintf(`document.body.dataset.state === 'ready' && new URLSearchParams(location.search).get('to') === %q`, toDay), "the date range")
	since, _ := time.Parse("2006-01-02", fromDay)
	until, _ := time.Parse("2006-01-02", toDay)
	want = eventIDs(s.events(alice.token, s.demoWS, map[string]any{"since": since.Format(time.RFC3339), "until": until.AddDate(0, 0, 1).Format(time.RFC3339)}))
	if got := b.rowIDs(); !slices.Equal(got, want) || len(want) < 5 {
		t.Errorf("date range rows = %q, want %q", got, want)
	}
	if q := b.query(); q.Get("from") != fromDay || q.Get("to") != toDay {
		t.Errorf("URL dates = %s", b.location())
	}

	// A range that ends before it starts is refused on the page.
	before := b.location()
	b.setValue("#filter-from", toDay)
	b.setValue("#filter-to", fromDay)
	b.click("#apply-filters")
	b.wait(`!document.getElementById('filter-error').hidden`, "the date range error")
	if b.location() != before {
		t.Errorf("an invalid range changed the URL to %s", b.location())
	}
}

func TestBrowserLoadMore(t *testing.T) {
	s := wNewServer(t)
	b := wStartBrowser(t)
	alice := s.alice()
	// 60 more events: bob's role goes back and forth (he is an Admin at the
	// end of the demo, so a Member first: setting the role he has is no event).
	for i := range 60 {
		role := "MEMBER"
		if i%2 == 1 {
			role = "ADMIN"
		}
		s.gql(alice.token, `mutation($w: ID!, $u: ID!, $r: Role!) { updateMemberRole(input: {workspaceId: $w, userId: $u, role: $r}) { role } }`,
			map[string]any{"w": s.demoWS, "u": "demo-bob", "r": role}, nil)
	}
	all := eventIDs(s.events(alice.token, s.demoWS, nil))
	total := len(demoRows) + 60
	if len(all) != total {
		t.Fatalf("the log has %d events, want %d", len(all), total)
	}
	if total <= 50 || total > 100 {
		t.Fatalf("the log has %d events, want two pages of 50", total)
	}

	b.navigate(s.srv.URL + "/audit-log#token=" + alice.token)
	b.waitState("ready")
	if got := b.rowIDs(); !slices.Equal(got, all[:50]) {
		t.Fatalf("first page = %d rows, want the newest 50", len(got))
	}
	if got, want := b.text("#status"), fmt.Sprintf("Showing 50 of %d events.", total); got != want {
		t.Errorf("status = %q, want %q", got, want)
	}
	if got, want := b.text("#log-count"), fmt.Sprintf("%d events", total); got != want {
		t.Errorf("count = %q, want %q", got, want)
	}
	if !b.visible("#load-more") {
		t.Fatal("no Load more button")
	}
	b.click("#load-more")
	b.wait(fmt.Sprintf(`document.querySelectorAll('#log-rows tr').length === %d`, total), "the second page")
	if got := b.rowIDs(); !slices.Equal(got, all) {
		t.Errorf("after Load more the rows are not the log in order")
	}
	b.wait(`document.getElementById('load-more').hidden`, "Load more to go away")
	if got, want := b.text("#status"), fmt.Sprintf("Showing all %d events.", total); got != want {
		t.Errorf("status = %q, want %q", got, want)
	}
	if got := wEval[string](b, `document.activeElement.dataset.id || document.activeElement.tagName`); got != all[50] {
		t.Errorf("focus after the last page is on %q, want the first new row", got)
	}

	// One request per page; totalCount only with the first.
	var pages []map[string]any
	for _, body := range s.graphQLRequests() {
		var req struct {
			Query     string         `json:"query"`
			Variables map[string]any `json:"variables"`
		}
		if err := json.Unmarshal([]byte(body), &req); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(req.Query, "AuditLogPage") {
			pages = append(pages, req.Variables)
			if !regexp.MustCompile(`totalCount\s*@include\(if:\s*\$withCount\)`).MatchString(req.Query) {
				t.Errorf("the log query asks for totalCount on every page:\n%s", req.Query)
			}
		}
	}
	if len(pages) != 2 {
		t.Fatalf("%d log requests for two pages, want 2", len(pages))
	}
	if pages[0]["withCount"] != true || pages[0]["after"] != nil || pages[0]["first"] != float64(50) {
		t.Errorf("first page request: %v", pages[0])
	}
	if pages[1]["withCount"] != false || pages[1]["after"] == nil || pages[1]["first"] != float64(50) {
		t.Errorf("second page request: %v", pages[1])
	}
}

// download waits for the download that trigger starts and returns its
// suggested file name and content.
func (b *wBrowser) download(dir string, trigger func()) (string, []byte) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	begins := chromedp.BrowserEvents(ctx, browser.DownloadWillBegin)
	progress := chromedp.BrowserEvents(ctx, browser.DownloadProgress)
	trigger()
	var name, guid string
	for ev, err := range begins {
		if err != nil {
			b.t.Fatalf("no download began: %v", err)
		}
		name, guid = ev.SuggestedFilename, ev.GUID
		break
	}
	for ev, err := range progress {
		if err != nil {
			b.t.Fatalf("the download did not finish: %v", err)
		}
		if ev.GUID != guid {
			continue
		}
		if ev.State == browser.DownloadProgressStateCanceled {
			b.t.Fatal("the download was cancelled")
		}
		if ev.State == browser.DownloadProgressStateCompleted {
			break
		}
	}
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		b.t.Fatal(err)
	}
	return name, data
}

func TestBrowserExport(t *testing.T) {
	s := wNewServer(t)
	b := wStartBrowser(t)
	alice := s.alice()
	dir := t.TempDir()
	if _, err := chromedp.CallBrowser(b.ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir, EventsEnabled: new(true),
	}); err != nil {
		t.Fatal(err)
	}
	filter := map[string]any{"actions": []string{"MEMBER_ADDED", "MEMBER_REMOVED"}}
	b.navigate(s.srv.URL + "/audit-log?workspace=" + s.demoWS + "&actions=MEMBER_ADDED,MEMBER_REMOVED#token=" + alice.token)
	b.waitState("ready")
	want := eventIDs(s.events(alice.token, s.demoWS, filter))
	if n := len(demoWhere(func(r demoRow) bool { return r.code == "MEMBER_ADDED" || r.code == "MEMBER_REMOVED" })); len(want) != n {
		t.Fatalf("the API has %d member changes, the demo %d", len(want), n)
	}

	// The menu, with the keyboard: Enter opens it on CSV, arrows move, Escape closes.
	b.do(chromedp.Focus(chromedp.CSS("#export-button")), chromedp.KeyEvent(kb.Enter))
	b.wait(`!document.getElementById('export-menu').hidden`, "the export menu")
	if got := wEval[string](b, `document.getElementById('export-button').getAttribute('aria-expanded')`); got != "true" {
		t.Errorf("aria-expanded = %q", got)
	}
	if got := wEval[string](b, `document.activeElement.dataset.format`); got != "CSV" {
		t.Errorf("focus in the open menu is on %q, want CSV", got)
	}
	b.do(chromedp.KeyEvent(kb.ArrowDown))
	if got := wEval[string](b, `document.activeElement.dataset.format`); got != "JSON" {
		t.Errorf("ArrowDown moved focus to %q, want JSON", got)
	}
	b.screenshot("audit-log-export-menu")
	b.do(chromedp.KeyEvent(kb.Escape))
	b.wait(`document.getElementById('export-menu').hidden && document.activeElement.id === 'export-button'`, "Escape to close the menu")

	// CSV, with the page's filter.
	b.click("#export-button")
	name, data := b.download(dir, func() { b.click(`#export-menu button[data-format=CSV]`) })
	if !regexp.MustCompile(`^audit-log-` + s.demoWS + `-\d{8}T\d{6}Z\.csv$`).MatchString(name) {
		t.Errorf("CSV file name = %q", name)
	}
	records, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatalf("the CSV does not parse: %v\n%s", err, data)
	}
	if got := strings.Join(records[0], ","); got != "id,occurred_at,action,actor_id,actor_email,actor_type,target_type,target_id,target_label,previous_role,role,ip_address,user_agent,request_id,sequence,prev_hash,hash,flags" {
		t.Errorf("CSV header = %s", got)
	}
	var got []string
	for _, r := range records[1:] {
		got = append(got, r[0])
		if r[2] != "MEMBER_ADDED" && r[2] != "MEMBER_REMOVED" {
			t.Errorf("the CSV has a %s event, outside the filter", r[2])
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("CSV ids = %q, want the filtered log %q", got, want)
	}
	b.wait(`!document.getElementById('export-link-row').hidden`, "the export message")
	if got, w := b.text("#export-status-text"), fmt.Sprintf("Your CSV export of %d events that match the filters is downloading. Times in the file are in UTC.", len(want)); got != w {
		t.Errorf("export message = %q, want %q", got, w)
	}
	if href := wEval[string](b, `document.getElementById('export-link').href`); !strings.HasPrefix(href, s.srv.URL+"/exports/") || !strings.Contains(href, "signature=") {
		t.Errorf("fallback link = %q", href)
	}

	// JSON, of the whole log (which now has the CSV export in it).
	b.click("#clear-filters")
	b.wait(rowsIs(len(demoRows)+1), "the whole log")
	if got := b.rows()[0]; !strings.Contains(got, "alice@example.com | exported the audit log as CSV | CSV export") {
		t.Errorf("newest row = %q, want the CSV export", got)
	}
	want = eventIDs(s.events(alice.token, s.demoWS, nil))
	b.click("#export-button")
	name, data = b.download(dir, func() { b.click(`#export-menu button[data-format=JSON]`) })
	if !strings.HasSuffix(name, ".json") {
		t.Errorf("JSON file name = %q", name)
	}
	var events []struct {
		ID     string `json:"id"`
		Action string `json:"action"`
		Actor  struct {
			Email string `json:"email"`
		} `json:"actor"`
		Target *struct {
			Label *string `json:"label"`
		} `json:"target"`
		Role *string `json:"role"`
	}
	if err := json.Unmarshal(data, &events); err != nil {
		t.Fatalf("the JSON does not parse: %v\n%s", err, data)
	}
	got = nil
	for _, e := range events {
		got = append(got, e.ID)
	}
	if !slices.Equal(got, want) {
		t.Errorf("JSON ids = %q, want the log %q", got, want)
	}
	if len(events) == len(demoRows)+1 && (events[0].Action != "AUDIT_LOG_EXPORTED" || events[0].Actor.Email != demo.Admin.Email) {
		t.Errorf("JSON newest event = %+v", events[0])
	}
	b.wait(fmt.Sprintf(`document.getElementById('export-status-text').textContent.startsWith('Your JSON export of %d events is downloading')`, len(demoRows)+1), "the JSON export message")
}

func TestBrowserStates(t *testing.T) {
	s := wNewServer(t)
	b := wStartBrowser(t)
	alice := s.alice()
	// A BUSINESS workspace whose only event is older than the retention window.
	s.clock.Set(-100 * 24 * time.Hour)
	old := s.createWorkspace(s.alice(), "Old Corp", "BUSINESS") // a token of that time
	s.clock.Set(0)
	free := s.createWorkspace(alice, "Free Corp", "FREE")
	page := s.srv.URL + "/audit-log?workspace="

	t.Run("loading", func(t *testing.T) {
		b := b.with(t)
		release := s.hold("AuditLogPage")
		defer release()
		b.navigate(page + s.demoWS + "#token=" + alice.token)
		b.waitState("loading")
		if got := b.text("#status"); got != "Loading the audit log…" {
			t.Errorf("status while loading = %q", got)
		}
		if got := wEval[string](b, `document.getElementById('log-wrap').getAttribute('aria-busy')`); got != "true" {
			t.Errorf("aria-busy = %q", got)
		}
		if got := wEval[string](b, `document.getElementById('status').getAttribute('aria-live')`); got != "polite" {
			t.Errorf("the status is not a live region")
		}
		if !wEval[bool](b, `document.getElementById('export-button').disabled`) {
			t.Error("Export is enabled before the log has loaded")
		}
		release()
		b.waitState("ready")
		if got := wEval[string](b, `document.getElementById('log-wrap').getAttribute('aria-busy')`); got != "false" {
			t.Errorf("aria-busy after loading = %q", got)
		}
	})

	t.Run("empty", func(t *testing.T) {
		b := b.with(t)
		b.navigate(page + old)
		b.waitState("empty")
		if got := b.text("#state-empty h2"); got != "No user management activity in the last 90 days" {
			t.Errorf("empty title = %q", got)
		}
		if got := b.text("#state-empty"); !strings.Contains(got, "adding a member") || !strings.Contains(got, "check back") {
			t.Errorf("the empty state has no hint: %q", got)
		}
		if b.visible("#log") {
			t.Error("an empty table is shown")
		}
		b.screenshot("audit-log-empty")
	})

	t.Run("not on the Business plan", func(t *testing.T) {
		b := b.with(t)
		b.navigate(page + free)
		b.waitState("business")
		if got := b.text("#state-business"); !strings.Contains(got, "“Free Corp” is on the Free plan") ||
			!strings.Contains(got, "available only to workspaces on a Business plan") {
			t.Errorf("business state = %q", got)
		}
		if !wEval[bool](b, `document.getElementById('export-button').disabled`) {
			t.Error("Export is enabled without the Business plan")
		}
		b.screenshot("audit-log-business-plan")
	})

	t.Run("not an admin", func(t *testing.T) {
		b := b.with(t)
		frank := s.frank() // a Member at the end of the demo
		b.navigate(page + s.demoWS + "#token=" + frank.token)
		b.waitState("forbidden")
		if got := b.text("#state-forbidden"); !strings.Contains(got, "Only admins can see the audit log") ||
			!strings.Contains(got, "You are a Member of “Acme Inc. (demo)”") {
			t.Errorf("forbidden state = %q", got)
		}
		if b.visible("#log") || !wEval[bool](b, `document.getElementById('export-button').disabled`) {
			t.Error("a non-admin sees the table or may export")
		}
		b.screenshot("audit-log-not-admin")
	})

	t.Run("expired token", func(t *testing.T) {
		b := b.with(t)
		b.expectConsole("status of 401")
		s.clock.Set(-3 * time.Hour)
		expired, err := s.app.Verifier.Sign(auth.Claims{Subject: demo.Admin.Subject, Email: demo.Admin.Email, TTL: time.Hour})
		s.clock.Set(0)
		if err != nil {
			t.Fatal(err)
		}
		b.navigate(page + s.demoWS + "#token=" + expired)
		b.waitState("expired")
		if got := b.text("#signin-alert"); !strings.Contains(got, "Your session has ended") || !strings.Contains(got, "Paste a new token") {
			t.Errorf("expired alert = %q", got)
		}
		if !wEval[bool](b, `sessionStorage.getItem('auditlogd.token') === null`) {
			t.Error("the expired token was kept")
		}
		if q := b.query(); q.Get("workspace") != s.demoWS {
			t.Errorf("the page forgot the workspace: %s", b.location())
		}
		b.screenshot("audit-log-token-expired")

		// A new token continues where the page was.
		b.setValue("#token-input", alice.token)
		b.click("#signin-form button[type=submit]")
		b.waitState("ready")

		// The token stops working in the middle of a session.
		wEval[chromedp.Void](b, `sessionStorage.setItem('auditlogd.token', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.bm9wZQ')`)
		b.do(chromedp.SendKeys(chromedp.CSS(`#filter-actor`), "carol@example.com\n"))
		b.waitState("expired")
		if !b.visible("#signin") || b.visible("#app") {
			t.Error("after a 401 the sign-in form is not shown")
		}
	})

	t.Run("server error", func(t *testing.T) {
		b := b.with(t)
		b.expectConsole("status of 500")
		b.navigate(page + s.demoWS + "#token=" + alice.token)
		b.waitState("ready")
		s.fault.Store(wFault500)
		b.do(chromedp.Click(chromedp.CSS("#action-filter summary")), chromedp.Click(chromedp.CSS(`#filters input[value=MEMBER_ROLE_UPDATED]`)))
		b.waitState("error")
		if got := b.text("#state-error"); !strings.Contains(got, "could not be loaded") || !strings.Contains(got, "HTTP 500") ||
			!strings.Contains(got, "req-fault-500") {
			t.Errorf("error state = %q", got)
		}
		b.screenshot("audit-log-error")
		s.fault.Store(wFaultNone)
		if wEval[bool](b, `document.getElementById('action-filter').open`) {
			t.Error("the action list still covers the error")
		}
		b.click("#retry")
		b.wait(rowsIs(len(demoWhere(func(r demoRow) bool { return r.code == "MEMBER_ROLE_UPDATED" }))), "the role changes after Retry")
		if got := b.query().Get("actions"); got != "MEMBER_ROLE_UPDATED" {
			t.Errorf("URL actions = %q", got)
		}
	})

	t.Run("server error from a proxy", func(t *testing.T) {
		b := b.with(t)
		b.expectConsole("status of 502")
		b.navigate(page + s.demoWS)
		b.waitState("ready")
		s.fault.Store(wFaultHTML502)
		b.do(chromedp.SendKeys(chromedp.CSS(`#filter-actor`), "carol@example.com\n"))
		b.waitState("error")
		if got := b.text("#state-error"); !strings.Contains(got, "HTTP 502") {
			t.Errorf("error state = %q", got)
		}
		s.fault.Store(wFaultNone)
		b.click("#retry")
		b.wait(rowsIs(len(demoWhere(func(r demoRow) bool { return r.actor == "carol@example.com" }))), "carol's events after Retry")
	})

	t.Run("network error", func(t *testing.T) {
		b := b.with(t)
		b.expectConsole("Failed to load resource")
		b.expectConsole("ERR_")
		s.fault.Store(wFaultDrop)
		b.navigate(page + s.demoWS)
		b.waitState("error")
		if got := b.text("#error-title"); got != "The server could not be reached" {
			t.Errorf("network error title = %q", got)
		}
		if b.visible("#workspace") || b.visible("#filters") {
			t.Error("without workspaces the picker and filters are shown")
		}
		if got := wEval[string](b, `document.activeElement.id`); got != "retry" {
			t.Errorf("focus after the error is on %q, want Retry", got)
		}
		s.fault.Store(wFaultNone)
		b.do(chromedp.KeyEvent(kb.Enter)) // Retry, from the keyboard
		b.waitState("ready")
		wantDemoRows(t, b.rows())
	})
}

func TestBrowserHostileValuesAreText(t *testing.T) {
	s := wNewServer(t)
	b := wStartBrowser(t)
	alice := s.alice()
	const (
		email = `<script>alert(1)</script>@evil.example`
		ua    = `<img src=x onerror=alert(2)><script>alert(3)</script>`
	)
	mallory := s.user("mallory", email)
	var link struct {
		CreateInviteLink struct{ Token string }
	}
	s.gql(alice.token, `mutation($w: ID!) { createInviteLink(input: {workspaceId: $w, kind: PUBLIC}) { token } }`,
		map[string]any{"w": s.demoWS}, &link)
	s.gql(mallory.token, `mutation($t: String!) { acceptInvite(token: $t) { role } }`,
		map[string]any{"t": link.CreateInviteLink.Token}, nil, withUserAgent(ua))

	b.navigate(s.srv.URL + "/audit-log#token=" + alice.token)
	b.waitState("ready")
	rows := b.rows()
	if !strings.Contains(rows[0], " | "+email+" | joined the workspace as Member | "+email+" | ") {
		t.Errorf("newest row = %q, want the hostile email as text", rows[0])
	}
	if !strings.Contains(rows[1], " | "+email+" | joined through a public invite link as Member | Public invite link | ") {
		t.Errorf("second row = %q", rows[1])
	}
	b.click("#log-rows tr:first-child details summary")
	if got := b.text("#log-rows tr:first-child details dd"); got != ua {
		t.Errorf("user agent shown as %q, want the literal %q", got, ua)
	}
	if n := wEval[int](b, `document.querySelectorAll('#log-rows script, #log-rows img, #app script, #app img').length`); n != 0 {
		t.Errorf("the hostile values made %d elements", n)
	}

	// The same value through the URL and a filter field stays text too.
	b.navigate(s.srv.URL + "/audit-log?workspace=" + s.demoWS + "&actor=" + url.QueryEscape(email))
	b.wait(`document.body.dataset.state === 'ready' && document.querySelectorAll('#log-rows tr').length === 2`, "mallory's events")
	if got := wEval[string](b, `document.getElementById('filter-actor').value`); got != email {
		t.Errorf("actor field = %q", got)
	}
	time.Sleep(300 * time.Millisecond) // give a script that should not run time to run
	if n := wEval[int](b, `Array.from(document.scripts).filter(s => !s.src.includes('/audit-log/assets/')).length`); n != 0 {
		t.Errorf("the page has %d scripts besides its own", n)
	}
	// checkConsole (at cleanup) fails the test if a dialog opened.
}

func TestBrowserNarrowViewport(t *testing.T) {
	s := wNewServer(t)
	b := wStartBrowser(t)
	b.do(chromedp.EmulateViewport(360, 780, chromedp.EmulateMobile))
	b.navigate(s.srv.URL + "/audit-log#token=" + s.alice().token)
	b.waitState("ready")
	if w := wEval[int](b, `document.documentElement.scrollWidth`); w > 360 {
		t.Errorf("the page is %d px wide at 360 px: it scrolls sideways", w)
	}
	if got := wEval[string](b, `getComputedStyle(document.querySelector('#log-rows tr')).display`); got != "block" {
		t.Errorf("rows are display:%s on a narrow screen, want stacked (block)", got)
	}
	if got := wEval[string](b, `getComputedStyle(document.querySelector('#log-rows td'), '::before').content`); got != `"Time"` {
		t.Errorf("cells are not labelled on a narrow screen: content %s", got)
	}
	if got := wEval[string](b, `getComputedStyle(document.querySelector('#log thead')).position`); got != "absolute" {
		t.Errorf("the header row is not hidden visually: position %s", got)
	}
	if got := wEval[string](b, `document.querySelector('#log-rows td').getAttribute('role')`); got != "cell" {
		t.Errorf("stacked cells lose their table role: %q", got)
	}
	wantDemoRows(t, b.rows())
	wEval[chromedp.Void](b, `document.getElementById('log').scrollIntoView()`)
	b.screenshotViewport("audit-log-narrow")
}

func TestBrowserInvitePage(t *testing.T) {
	s := wNewServer(t)
	b := wStartBrowser(t)
	alice := s.alice()
	var link struct {
		CreateInviteLink struct{ Token, URL string }
	}
	s.gql(alice.token, `mutation($w: ID!) { createInviteLink(input: {workspaceId: $w, kind: PUBLIC, role: MEMBER}) { token url } }`,
		map[string]any{"w": s.demoWS}, &link)
	frank := s.user("frank", "frank@example.com")

	b.navigate(link.CreateInviteLink.URL)
	b.waitState("signed-out")
	b.setValue("#token-input", frank.token)
	b.click("#signin-form button[type=submit]")
	b.waitState("ready")
	if got := b.text("#viewer-email"); got != "frank@example.com" {
		t.Errorf("signed in as %q", got)
	}
	b.click("#accept-invite")
	b.waitState("accepted")
	if got := b.text("#invite-done"); !strings.Contains(got, "You are a Member of “Acme Inc. (demo)”") {
		t.Errorf("accepted = %q", got)
	}
	evs := s.events(alice.token, s.demoWS, map[string]any{"actorEmail": "frank@example.com"})
	if len(evs) != 2 || evs[1].Action != "PUBLIC_INVITE_LINK_ACCEPTED" {
		t.Errorf("frank's events = %+v", evs)
	}
	if logs := s.logs.String(); strings.Contains(logs, link.CreateInviteLink.Token) {
		t.Error("the invite token is in the server log")
	}

	// A link that is no good.
	b.expectConsole("status of 404")
	b.navigate(s.srv.URL + "/invite/inv_notavalidtoken")
	b.waitState("ready")
	b.click("#accept-invite")
	b.waitState("error")
	if got := b.text("#invite-error"); !strings.Contains(got, "not valid any more") {
		t.Errorf("bad invite = %q", got)
	}
}
