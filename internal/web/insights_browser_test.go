package web_test

// Browser tests of the Audit Log page's insights (docs/API.md §14): flagged
// rows with their reasons in words, the "Needs a look" and reasons filters,
// this week's summary strip and the trusted-domains setting. A real auditlogd
// with the demo data, on SQLite and, with AUDITLOG_TEST_MYSQL_DSN, MariaDB;
// what the page shows is compared with what the API says, and the reasons'
// wording with internal/insight's.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/auditlogd/auditlogd/internal/insight"
	"github.com/auditlogd/auditlogd/internal/testenv"
)

// ---------------------------------------------------------------- helpers

// fEvent is an audit event with what its flags' reasons are made of.
type fEvent struct {
	ID     string   `json:"id"`
	Action string   `json:"action"`
	Flags  []string `json:"flags"`
	Actor  struct {
		Email string `json:"email"`
	} `json:"actor"`
	Target *struct {
		Label string `json:"label"`
	} `json:"target"`
	IPAddress string `json:"ipAddress"`
}

// reasons are the reasons internal/insight gives for the event's flags, read
// back from the stored event as the page reads it.
func (e fEvent) reasons(t *testing.T) []string {
	t.Helper()
	var set insight.Set
	for _, f := range e.Flags {
		flag, err := insight.ParseFlag(f)
		if err != nil {
			t.Fatal(err)
		}
		set = set.With(flag)
	}
	label := ""
	if e.Target != nil {
		label = e.Target.Label
	}
	return insight.Reasons(set, insight.DetailsOfEvent(e.Action, label, e.Actor.Email, e.IPAddress))
}

// flaggedEvents returns every event of ws's log that matches filter, newest
// first, with its flags.
func (s *wServer) flaggedEvents(token, ws string, filter map[string]any) []fEvent {
	s.t.Helper()
	return wAllEvents[fEvent](s, token, ws, "id action flags actor { email } target { label } ipAddress", filter)
}

func fEventIDs(evs []fEvent) []string {
	ids := make([]string, len(evs))
	for i, e := range evs {
		ids[i] = e.ID
	}
	return ids
}

// addMember adds a user (who has signed in once) to ws as admin.
func (s *wServer) addMember(admin wUser, ws, email, role string) {
	s.t.Helper()
	s.gql(admin.token, `mutation($w: ID!, $e: String!, $r: Role!) { addMember(input: {workspaceId: $w, email: $e, role: $r}) { role } }`,
		map[string]any{"w": ws, "e": email, "r": role}, nil)
}

// inviteAs makes an email invite with a role.
func (s *wServer) inviteAs(admin wUser, ws, email, role string) {
	s.t.Helper()
	s.gql(admin.token, `mutation($w: ID!, $e: String!, $r: Role!) { createInviteLink(input: {workspaceId: $w, kind: EMAIL, email: $e, role: $r}) { token } }`,
		map[string]any{"w": ws, "e": email, "r": role}, nil)
}

// setTrusted sets ws's trusted domains through the API.
func (s *wServer) setTrusted(admin wUser, ws string, domains ...string) {
	s.t.Helper()
	s.gql(admin.token, `mutation($w: ID!, $d: [String!]!) { setTrustedDomains(workspaceId: $w, domains: $d) { id } }`,
		map[string]any{"w": ws, "d": append([]string{}, domains...)}, nil) // [] clears, null is refused
}

// trusted reads ws's trusted domains through the API.
func (s *wServer) trusted(admin wUser, ws string) []string {
	s.t.Helper()
	var out struct {
		Workspace struct{ TrustedDomains []string }
	}
	s.gql(admin.token, `query($w: ID!) { workspace(id: $w) { trustedDomains } }`, map[string]any{"w": ws}, &out)
	return out.Workspace.TrustedDomains
}

// apiError sends an operation that must fail and returns its first error's
// message and code.
func (s *wServer) apiError(token, query string, vars map[string]any) (message, code string) {
	s.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, s.srv.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out struct {
		Errors []struct {
			Message    string
			Extensions struct{ Code string }
		}
	}
	if err := json.Unmarshal(raw, &out); err != nil || len(out.Errors) == 0 {
		s.t.Fatalf("want an error, got %s", raw)
	}
	return out.Errors[0].Message, out.Errors[0].Extensions.Code
}

// flagFixture gives the demo workspace flagged events of every kind, as the
// issue describes them: people from gmail.com added and invited while
// example.com is trusted, an ADMIN role given, and a burst of changes.
func (s *wServer) flagFixture(alice wUser) {
	s.t.Helper()
	s.setTrusted(alice, s.demoWS, "example.com")
	for i := 1; i <= 7; i++ { // alice's 1st to 7th change within ten minutes
		s.invite(alice, s.demoWS, fmt.Sprintf("new%d@example.com", i))
	}
	eve := s.user("eve", "eve@gmail.com")
	s.gql(eve.token, `{ viewer { id } }`, nil, nil)            // eve has signed in once, so she can be added
	s.addMember(alice, s.demoWS, "eve@gmail.com", "MEMBER")    // 8th: EXTERNAL_DOMAIN
	s.inviteAs(alice, s.demoWS, "mallory@gmail.com", "MEMBER") // 9th: EXTERNAL_DOMAIN
	s.inviteAs(alice, s.demoWS, "frank@example.com", "ADMIN")  // 10th: ADMIN_GRANTED, BURST
	s.inviteAs(alice, s.demoWS, "trent@outlook.com", "MEMBER") // 11th: EXTERNAL_DOMAIN, BURST
}

// rowReasons returns, per row of the table (by event id), its flags and the
// reasons it shows.
func (b *wBrowser) rowReasons() map[string]struct {
	Flags   string
	Flagged bool
	Reasons []string
} {
	b.t.Helper()
	return wEval[map[string]struct {
		Flags   string
		Flagged bool
		Reasons []string
	}](b, `Object.fromEntries(Array.from(document.querySelectorAll('#log-rows tr')).map(tr => [tr.dataset.id, {
  flags: tr.dataset.flags || '', flagged: tr.classList.contains('is-flagged'),
  reasons: Array.from(tr.querySelectorAll('.flag-reasons li')).map(li => li.textContent)}]))`)
}

// checkRows checks that the table is want, newest first, and that each row
// is flagged, and says why, as the API and internal/insight do.
func checkRows(t *testing.T, b *wBrowser, want []fEvent) {
	t.Helper()
	if got := b.rowIDs(); !slices.Equal(got, fEventIDs(want)) {
		t.Fatalf("the table has %d rows, the API %d events:\n%s", len(got), len(want), strings.Join(b.rows(), "\n"))
	}
	rows := b.rowReasons()
	for _, e := range want {
		row := rows[e.ID]
		if row.Flags != strings.Join(e.Flags, " ") || row.Flagged != (len(e.Flags) > 0) {
			t.Errorf("row %s (%s) is marked %q (flagged %v), the API says %q", e.ID, e.Action, row.Flags, row.Flagged, e.Flags)
		}
		if want := e.reasons(t); !slices.Equal(row.Reasons, want) {
			t.Errorf("row %s (%s) says %q, internal/insight %q", e.ID, e.Action, row.Reasons, want)
		}
	}
}

// ---------------------------------------------------------------- tests

func TestBrowserInsights(t *testing.T) {
	b := wStartBrowser(t)
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		b := b.with(t)
		s := wNewServerOn(t, db)
		b.leaveBeforeClose()
		b.timezone("UTC")
		alice := s.alice()
		s.flagFixture(alice)
		all := []string{"EXTERNAL_DOMAIN", "ADMIN_GRANTED", "BURST", "NEW_LOCATION"}

		b.navigate(s.srv.URL + "/audit-log?workspace=" + s.demoWS + "#token=" + alice.token)
		b.waitState("ready")

		t.Run("flagged rows say why, in the server's words", func(t *testing.T) {
			b := b.with(t)
			events := s.flaggedEvents(alice.token, s.demoWS, nil)
			checkRows(t, b, events)
			// The examples, word for word.
			text := b.text("#log-rows")
			for _, want := range []string{
				"added eve@gmail.com as Member",
				"added someone from gmail.com, outside your trusted domains",
				"invited someone from gmail.com, outside your trusted domains",
				"invited someone from outlook.com, outside your trusted domains",
				"gave the ADMIN role",
				"10th or later change by this person within 10 minutes",
				"set the trusted domains to example.com",
			} {
				if !strings.Contains(text, want) {
					t.Errorf("the table does not say %q", want)
				}
			}
			flagged := 0
			for _, e := range events {
				if len(e.Flags) > 0 {
					flagged++
				}
			}
			if flagged == 0 || flagged == len(events) {
				t.Fatalf("%d of %d events are flagged: the fixture should flag some, not all", flagged, len(events))
			}
			if n := wEval[int](b, `document.querySelectorAll('#log-rows tr.is-flagged .flag-badge').length`); n != flagged {
				t.Errorf("%d rows have the Needs a look badge, want %d", n, flagged)
			}
			// The flagged edge is not Live's: it stays, and is not a background.
			edge := wEval[string](b, `getComputedStyle(document.querySelector('#log-rows tr.is-flagged td')).boxShadow`)
			if !strings.Contains(edge, "inset") {
				t.Errorf("a flagged row's first cell has box-shadow %q, want an inset edge", edge)
			}
			if plain := wEval[string](b, `getComputedStyle(document.querySelector('#log-rows tr:not(.is-flagged) td')).boxShadow`); plain != "none" {
				t.Errorf("a row without flags has box-shadow %q", plain)
			}
			if db.Dialect == "sqlite" {
				// Tall enough for the strip, the filters and a few flagged rows.
				b.blur()
				b.do(chromedp.EmulateViewport(1280, 1400))
				b.screenshotViewport("audit-log-flags")
				b.do(chromedp.EmulateViewport(1280, 900))
			}
		})

		t.Run("the summary strip says what the server says", func(t *testing.T) {
			b := b.with(t)
			b.wait(`!document.getElementById('week').hidden`, "the summary strip")
			since := wEval[string](b, `document.getElementById('week').dataset.since`)
			var out struct {
				AuditLogSummary struct {
					Total    int
					ByAction []struct {
						Action string
						Count  int
					}
					ByFlag []struct {
						Flag  string
						Count int
					}
				}
			}
			s.gql(alice.token, `query($w: ID!, $s: Time) { auditLogSummary(workspaceId: $w, since: $s) { total byAction { action count } byFlag { flag count } } }`,
				map[string]any{"w": s.demoWS, "s": since}, &out)
			want := map[string]int{}
			for _, c := range out.AuditLogSummary.ByAction {
				if c.Action == "MEMBER_ADDED" {
					want[c.Action] = c.Count
				}
			}
			for _, c := range out.AuditLogSummary.ByFlag {
				want[c.Flag] = c.Count
			}
			got := wEval[map[string]string](b, `Object.fromEntries(Array.from(document.querySelectorAll('#week-items button')).map(b => [b.dataset.key, b.dataset.count + ' | ' + b.textContent]))`)
			words := map[string][2]string{
				"MEMBER_ADDED":    {"member added", "members added"},
				"EXTERNAL_DOMAIN": {"from outside your domains", "from outside your domains"},
				"ADMIN_GRANTED":   {"admin grant", "admin grants"},
				"BURST":           {"change in a burst", "changes in bursts"},
				"NEW_LOCATION":    {"from a new network", "from a new network"},
			}
			for key, n := range want {
				w := words[key][1]
				if n == 1 {
					w = words[key][0]
				}
				wantText := fmt.Sprintf("%d | %d %s", n, n, w)
				if n == 0 && (key == "BURST" || key == "NEW_LOCATION") {
					wantText = "" // shown only when there are some
				}
				if got[key] != wantText {
					t.Errorf("strip item %s = %q, want %q (the server's count)", key, got[key], wantText)
				}
			}
			if want["EXTERNAL_DOMAIN"] == 0 || want["ADMIN_GRANTED"] == 0 || want["BURST"] == 0 {
				t.Errorf("the fixture's flags are not counted this week: %v", want)
			}
			if got := b.text("#week-range"); !strings.HasSuffix(got, fmt.Sprintf("· %d events in all", out.AuditLogSummary.Total)) {
				t.Errorf("the strip's range = %q, want the total %d", got, out.AuditLogSummary.Total)
			}

			// A click shows the events it counts.
			b.click(`#week-items button[data-key=EXTERNAL_DOMAIN]`)
			b.wait(`document.body.dataset.state === 'ready' && new URLSearchParams(location.search).get('flags') === 'EXTERNAL_DOMAIN'`, "the outside-domains filter")
			q := b.query()
			if q.Get("from") == "" || q.Get("actions") != "" {
				t.Errorf("the strip's filter is %s, want flags and from", b.location())
			}
			events := s.flaggedEvents(alice.token, s.demoWS, map[string]any{"flags": []string{"EXTERNAL_DOMAIN"}, "since": since})
			checkRows(t, b, events)
			if len(events) != want["EXTERNAL_DOMAIN"] {
				t.Errorf("the filter shows %d events, the strip counted %d", len(events), want["EXTERNAL_DOMAIN"])
			}
			if got := b.text("#flag-summary"); got != "Outside your trusted domains" {
				t.Errorf("the reasons filter says %q", got)
			}
			b.click(`#week-items button[data-key=MEMBER_ADDED]`)
			b.wait(`document.body.dataset.state === 'ready' && new URLSearchParams(location.search).get('actions') === 'MEMBER_ADDED'`, "the members-added filter")
			if n := len(b.rowIDs()); n != want["MEMBER_ADDED"] {
				t.Errorf("the members-added filter shows %d events, the strip counted %d", n, want["MEMBER_ADDED"])
			}
			b.click("#clear-filters")
			b.wait(`document.body.dataset.state === 'ready' && location.search.indexOf('from=') < 0`, "the whole log")
		})

		t.Run("Needs a look shows only flagged rows", func(t *testing.T) {
			b := b.with(t)
			if got := wEval[string](b, `document.getElementById('needs-look').getAttribute('aria-pressed')`); got != "false" {
				t.Errorf("Needs a look is pressed (%q) without a filter", got)
			}
			b.click("#needs-look")
			b.wait(`document.body.dataset.state === 'ready' && new URLSearchParams(location.search).get('flags') === 'EXTERNAL_DOMAIN,ADMIN_GRANTED,BURST,NEW_LOCATION'`, "the Needs a look filter")
			want := s.flaggedEvents(alice.token, s.demoWS, map[string]any{"flags": all})
			checkRows(t, b, want)
			if n := wEval[int](b, `document.querySelectorAll('#log-rows tr:not(.is-flagged)').length`); n != 0 {
				t.Errorf("%d rows that need no look are shown", n)
			}
			if got := b.text("#log-count"); got != fmt.Sprintf("%d events", len(want)) {
				t.Errorf("count = %q, want %d events", got, len(want))
			}
			if got := wEval[string](b, `document.getElementById('needs-look').getAttribute('aria-pressed')`); got != "true" {
				t.Errorf("Needs a look is not pressed (%q) while on", got)
			}
			if got := b.text("#flag-summary"); got != "Any reason" {
				t.Errorf("the reasons filter says %q", got)
			}

			// One reason, from the reasons list.
			b.click("#flag-filter summary")
			for _, f := range []string{"EXTERNAL_DOMAIN", "BURST", "NEW_LOCATION"} {
				b.click(`#flag-filter input[value=` + f + `]`)
			}
			b.wait(`document.body.dataset.state === 'ready' && new URLSearchParams(location.search).get('flags') === 'ADMIN_GRANTED'`, "the ADMIN_GRANTED filter")
			b.do(chromedp.KeyEvent(kb.Escape))
			b.wait(`!document.getElementById('flag-filter').open && document.activeElement === document.querySelector('#flag-filter summary')`, "Escape to close the reasons list")
			checkRows(t, b, s.flaggedEvents(alice.token, s.demoWS, map[string]any{"flags": []string{"ADMIN_GRANTED"}}))
			if got := wEval[string](b, `document.getElementById('needs-look').getAttribute('aria-pressed')`); got != "false" {
				t.Errorf("Needs a look is pressed (%q) with one reason", got)
			}

			// A shared link restores it; pressed again, it is off.
			b.navigate(s.srv.URL + "/audit-log?workspace=" + s.demoWS + "&flags=BURST")
			b.waitState("ready")
			checkRows(t, b, s.flaggedEvents(alice.token, s.demoWS, map[string]any{"flags": []string{"BURST"}}))
			b.click("#needs-look")
			b.wait(`new URLSearchParams(location.search).get('flags') === 'EXTERNAL_DOMAIN,ADMIN_GRANTED,BURST,NEW_LOCATION'`, "Needs a look from a partial filter")
			b.waitState("ready")
			b.click("#needs-look")
			b.wait(`document.body.dataset.state === 'ready' && !new URLSearchParams(location.search).has('flags')`, "Needs a look off")
			checkRows(t, b, s.flaggedEvents(alice.token, s.demoWS, nil))
		})

		t.Run("live events and the Needs a look filter", func(t *testing.T) {
			b := b.with(t)
			carol := s.user("demo-carol", "carol@example.com")
			s.invite(carol, s.demoWS, "warmup@example.com") // carol's first event from here: NEW_LOCATION
			b.click("#needs-look")
			b.wait(`document.body.dataset.state === 'ready' && new URLSearchParams(location.search).has('flags')`, "Needs a look")
			before := len(b.rowIDs())
			b.click("#live-toggle")
			b.waitFor(`document.body.dataset.live === 'live'`, "Live")
			b.waitState("ready")
			s.invite(carol, s.demoWS, "judy@example.com") // no flag: not shown
			s.invite(carol, s.demoWS, "oscar@gmail.com")  // EXTERNAL_DOMAIN: shown
			b.waitFor(fmt.Sprintf(`document.querySelectorAll('#log-rows tr').length === %d`, before+1), "the flagged live event")
			rows := b.rows()
			if !strings.Contains(rows[0], "carol@example.com | invited oscar@gmail.com by email as Member") {
				t.Errorf("newest row = %q, want the flagged live event", rows[0])
			}
			if strings.Contains(strings.Join(rows, "\n"), "judy@example.com") {
				t.Error("a live event without flags was added under Needs a look")
			}
			checkRows(t, b, s.flaggedEvents(alice.token, s.demoWS, map[string]any{"flags": all}))
			if !wEval[bool](b, `document.querySelector('#log-rows tr').classList.contains('live-new')`) {
				t.Error("the live row is not marked new")
			}
			// The strip counts it too, a moment later.
			b.waitFor(fmt.Sprintf(`document.querySelector('#week-items button[data-key=EXTERNAL_DOMAIN]').dataset.count === '%d'`,
				len(s.flaggedEvents(alice.token, s.demoWS, map[string]any{"flags": []string{"EXTERNAL_DOMAIN"}}))), "the strip to count the live event")
			b.click("#live-toggle")
			b.waitFor(`document.body.dataset.live === 'off'`, "Live off")
			b.click("#clear-filters")
			b.waitState("ready")
		})

		t.Run("trusted domains: saved, and the server's refusal shown", func(t *testing.T) {
			b := b.with(t)
			b.click("#tab-settings")
			b.wait(`document.getElementById('settings-panel').dataset.loaded === 'true'`, "the Settings tab")
			if !strings.HasSuffix(b.location(), "#settings") {
				t.Errorf("the address does not name the tab: %s", b.location())
			}
			if b.visible("#log") || b.visible("#filters") || b.visible("#week") || !b.visible("#trusted-section") {
				t.Fatal("the Settings tab does not replace the log")
			}
			if got := wEval[[]string](b, `Array.from(document.querySelectorAll('#trusted-list li')).map(li => li.textContent)`); !slices.Equal(got, []string{"example.com"}) {
				t.Errorf("trusted now: %q, want example.com", got)
			}
			if got := wEval[string](b, `document.getElementById('trusted-input').value`); got != "example.com" {
				t.Errorf("the field holds %q", got)
			}

			// An invalid entry: the server's message, verbatim, with its code.
			entries := []string{"example.com", "gmail"}
			msg, code := s.apiError(alice.token, `mutation($w: ID!, $d: [String!]!) { setTrustedDomains(workspaceId: $w, domains: $d) { id } }`,
				map[string]any{"w": s.demoWS, "d": entries})
			if code != "BAD_USER_INPUT" || !strings.Contains(msg, `"gmail"`) {
				t.Fatalf("the API refuses %q with %s %q", entries, code, msg)
			}
			b.setValue("#trusted-input", "example.com\ngmail")
			b.click("#trusted-save")
			b.wait(`!document.getElementById('trusted-error').hidden`, "the error")
			if got := b.text("#trusted-error"); got != msg+" BAD_USER_INPUT" {
				t.Errorf("error = %q, want the server's %q and its code", got, msg)
			}
			if got := wEval[string](b, `document.getElementById('trusted-input').getAttribute('aria-invalid')`); got != "true" {
				t.Errorf("the field is not marked invalid: %q", got)
			}
			if got := s.trusted(alice, s.demoWS); !slices.Equal(got, []string{"example.com"}) {
				t.Errorf("after the refusal the server has %q", got)
			}

			// Commas and lines, any case, an IDN: saved in the server's form.
			b.setValue("#trusted-input", "example.com, *.Corp.Example\nbücher.de\n\n")
			b.click("#trusted-save")
			b.wait(`document.getElementById('trusted-error').hidden && document.querySelectorAll('#trusted-list li').length === 3`, "the saved list")
			want := []string{"*.corp.example", "example.com", "xn--bcher-kva.de"}
			if got := s.trusted(alice, s.demoWS); !slices.Equal(got, want) {
				t.Errorf("the server has %q, want %q", got, want)
			}
			if got := wEval[[]string](b, `Array.from(document.querySelectorAll('#trusted-list li')).map(li => li.textContent)`); !slices.Equal(got, []string{"*.corp.example", "example.com", "xn--bcher-kva.de (bücher.de)"}) {
				t.Errorf("trusted now: %q", got)
			}
			if got := wEval[string](b, `document.getElementById('trusted-input').value`); got != strings.Join(want, "\n") {
				t.Errorf("the field holds %q after saving", got)
			}
			if got := b.text("#trusted-status"); !strings.HasPrefix(got, "Saved: 3 trusted domains.") {
				t.Errorf("status = %q", got)
			}
			if db.Dialect == "sqlite" {
				b.blur()
				b.screenshot("audit-log-trusted-domains")
			}

			// The Activity tab has the change, in words.
			b.click("#tab-activity")
			b.waitState("ready")
			rows := b.rows()
			if !strings.Contains(rows[0], "alice@example.com | set the trusted domains to *.corp.example, example.com, xn--bcher-kva.de (bücher.de) | Trusted domains") {
				t.Errorf("newest row = %q", rows[0])
			}

			// Cleared: the admins' domains are trusted again.
			b.click("#week-trusted-domains")
			b.wait(`document.getElementById('tab-settings').getAttribute('aria-selected') === 'true' && document.getElementById('settings-panel').dataset.loaded === 'true'`, "the strip's link to the setting")
			b.setValue("#trusted-input", "")
			b.click("#trusted-save")
			b.wait(`document.getElementById('trusted-none') !== null`, "the cleared list")
			if got := b.text("#trusted-none"); got != "None set, so the email domains of this workspace’s admins are trusted: example.com." {
				t.Errorf("cleared = %q", got)
			}
			if got := s.trusted(alice, s.demoWS); len(got) != 0 {
				t.Errorf("the server still has %q", got)
			}
		})
	})
}

func TestBrowserTrustedDomainsNotAdmin(t *testing.T) {
	s := wNewServer(t)
	b := wStartBrowser(t)
	frank := s.frank() // a Member at the end of the demo
	b.navigate(s.srv.URL + "/audit-log?workspace=" + s.demoWS + "#settings&token=" + frank.token)
	b.wait(`document.getElementById('settings-panel').dataset.loaded === 'true'`, "the Settings tab")
	if got := b.text("#settings-explain"); !strings.Contains(got, "Only admins can change the trusted domains") || !strings.Contains(got, "You are a Member of “Acme Inc. (demo)”") {
		t.Errorf("explanation = %q", got)
	}
	if b.visible("#trusted-section") {
		t.Error("a Member sees the trusted-domains form")
	}
	b.click("#tab-activity")
	b.waitState("forbidden")
	if b.visible("#week") || b.visible("#needs-look") {
		t.Error("a Member sees this week's summary or the flags filter")
	}
	for _, body := range s.graphQLRequests() {
		if strings.Contains(body, "auditLogSummary") {
			t.Error("the page asked a Member's summary")
		}
	}
}

// TestFlagReasonsWordedAsTheServer runs the page's reasons (audit-log.js)
// and internal/insight's over the same events: the page must say what the
// server, the docs and the exports' readers are told.
func TestFlagReasonsWordedAsTheServer(t *testing.T) {
	s := wNewServer(t)
	b := wStartBrowser(t)
	b.navigate(s.srv.URL + "/audit-log#token=" + s.alice().token)
	b.waitState("ready")
	all := []string{"EXTERNAL_DOMAIN", "ADMIN_GRANTED", "BURST", "NEW_LOCATION"}
	for _, tc := range []struct {
		action, label, actorEmail, ip string
	}{
		{"MEMBER_ADDED", "eve@gmail.com", "alice@example.com", "203.0.113.7"},
		{"MEMBER_ADDED", "Eve@GMAIL.com.", "alice@example.com", "203.0.113.255"},
		{"MEMBER_ADDED", "jo@bücher.de", "alice@example.com", "2001:db8:1:2::beef"},
		{"MEMBER_ADDED", "jo@BÜCHER.DE", "", "2001:DB8:0:0:1::1"},
		{"MEMBER_ADDED", "jo@xn--bcher-kva.de", "", "::ffff:198.51.100.9"},
		{"MEMBER_ADDED", "ceo@ехample.com", "", "fe80::1%eth0"},
		{"MEMBER_ADDED", "eve@exa_mple.com", "", "::"},
		{"MEMBER_ADDED", "eve@192.0.2.1", "", "::1"},
		{"MEMBER_ADDED", "eve@[::1]", "", "1:0:0:1:0:0:0:1"},
		{"MEMBER_ADDED", "eve@localhost", "", "0:0:0:0:1:0:0:0"},
		{"MEMBER_ADDED", "eve@example.123", "", "2001:db8::1.2.3.4"},
		{"MEMBER_ADDED", "eve@ex ample.com", "", "not an address"},
		{"MEMBER_ADDED", "eve@ex%41mple.com", "", "01.2.3.4"},
		{"MEMBER_ADDED", "eve@full．width．com", "", "1.2.3"},
		{"MEMBER_ADDED", "not-an-email", "", ""},
		{"MEMBER_ADDED", "", "", ""},
		{"EMAIL_INVITE_CREATED", "mallory@gmail.com", "alice@example.com", "198.51.100.23"},
		{"EMAIL_INVITE_CREATED", "a@b@outlook.com", "alice@example.com", "198.51.100.23"},
		{"EMAIL_INVITE_ACCEPTED", "mallory@gmail.com (ignored)", "mallory@gmail.com", "192.0.2.44"},
		{"PUBLIC_INVITE_LINK_ACCEPTED", "", "trent@Outlook.COM", "192.0.2.44"},
		{"PUBLIC_INVITE_LINK_ACCEPTED", "", "", "192.0.2.44"},
		{"MEMBER_ROLE_UPDATED", "bob@example.com", "alice@example.com", "203.0.113.10"},
		{"AUDIT_LOG_EXPORTED", "CSV", "alice@example.com", "203.0.113.10"},
	} {
		ev := map[string]any{
			"action": tc.action, "flags": all, "ipAddress": tc.ip,
			"target": map[string]any{"label": tc.label}, "actor": map[string]any{"email": tc.actorEmail},
		}
		js, _ := json.Marshal(ev)
		got := wEval[[]string](b, `window.auditLogPage.flagReasons(`+string(js)+`)`)
		want := fEvent{Action: tc.action, Flags: all, IPAddress: tc.ip}
		want.Actor.Email = tc.actorEmail
		want.Target = &struct {
			Label string `json:"label"`
		}{tc.label}
		if w := want.reasons(t); !slices.Equal(got, w) {
			t.Errorf("%s %q %q %q:\n page   %q\n server %q", tc.action, tc.label, tc.actorEmail, tc.ip, got, w)
		}
	}
	// One flag at a time, and none.
	for _, f := range all {
		js, _ := json.Marshal(map[string]any{"action": "MEMBER_ADDED", "flags": []string{f}, "ipAddress": "203.0.113.7", "target": map[string]any{"label": "eve@gmail.com"}})
		got := wEval[[]string](b, `window.auditLogPage.flagReasons(`+string(js)+`)`)
		w := fEvent{Action: "MEMBER_ADDED", Flags: []string{f}, IPAddress: "203.0.113.7"}
		w.Target = &struct {
			Label string `json:"label"`
		}{"eve@gmail.com"}
		if want := w.reasons(t); !slices.Equal(got, want) {
			t.Errorf("%s alone: page %q, server %q", f, got, want)
		}
	}
	if got := wEval[[]string](b, `window.auditLogPage.flagReasons({action: 'MEMBER_ADDED', flags: []})`); len(got) != 0 {
		t.Errorf("no flags, reasons %q", got)
	}
	for _, d := range []string{"example.com", "xn--bcher-kva.de", "*.xn--bcher-kva.de", "xn--pple-43d.com", "xn--zz.com", "mail.xn--80ak6aa92e.com"} {
		if got, want := wEval[string](b, `window.auditLogPage.displayDomain(`+fmt.Sprintf("%q", d)+`)`), insight.DisplayDomain(d); got != want {
			t.Errorf("displayDomain(%q) = %q, server %q", d, got, want)
		}
	}
}

// TestBrowserNewerActionsInWords: the events of API keys, log streams and
// trusted domains are worded like the others, and the action filter has them.
func TestBrowserNewerActionsInWords(t *testing.T) {
	s := wNewServer(t)
	b := wStartBrowser(t)
	b.leaveBeforeClose()
	alice := s.alice()
	recv := wStartReceiver(t, "")
	var key struct {
		CreateApiKey struct{ ApiKey struct{ ID string } }
	}
	s.gql(alice.token, `mutation($w: ID!) { createApiKey(input: {workspaceId: $w, name: "Splunk"}) { apiKey { id } } }`, map[string]any{"w": s.demoWS}, &key)
	s.gql(alice.token, `mutation($w: ID!, $id: ID!) { revokeApiKey(workspaceId: $w, id: $id) { revokedApiKeyId } }`, map[string]any{"w": s.demoWS, "id": key.CreateApiKey.ApiKey.ID}, nil)
	var stream struct {
		CreateLogStream struct{ Stream struct{ ID string } }
	}
	s.gql(alice.token, `mutation($w: ID!, $u: String!) { createLogStream(input: {workspaceId: $w, url: $u}) { stream { id } } }`,
		map[string]any{"w": s.demoWS, "u": recv.srv.URL + "/hook"}, &stream)
	s.gql(alice.token, `mutation($w: ID!, $id: ID!) { deleteLogStream(workspaceId: $w, id: $id) { deletedLogStreamId } }`, map[string]any{"w": s.demoWS, "id": stream.CreateLogStream.Stream.ID}, nil)
	s.setTrusted(alice, s.demoWS, "example.com", "bücher.de")
	s.setTrusted(alice, s.demoWS)

	b.navigate(s.srv.URL + "/audit-log?workspace=" + s.demoWS + "#token=" + alice.token)
	b.waitState("ready")
	host := strings.TrimPrefix(recv.srv.URL, "http://") // the label is the URL's host, with its port
	want := []string{
		"alice@example.com | cleared the trusted domains (the admins’ domains are trusted again) | Trusted domains",
		"alice@example.com | set the trusted domains to example.com, xn--bcher-kva.de (bücher.de) | Trusted domains",
		"alice@example.com | deleted the log stream to " + host + " | " + host + " (log stream)",
		"alice@example.com | added a log stream to " + host + " | " + host + " (log stream)",
		"alice@example.com | revoked the API key Splunk | Splunk (API key)",
		"alice@example.com | created the API key Splunk | Splunk (API key)",
	}
	rows := b.rows()
	for i, w := range want {
		if i >= len(rows) || !strings.Contains(rows[i], " | "+w+" | ") {
			t.Errorf("row %d = %q, want %q", i, rows[min(i, len(rows)-1)], w)
		}
	}

	// The action filter's new group.
	b.click("#action-filter summary")
	got := wEval[[]string](b, `Array.from(document.querySelectorAll('#action-filter fieldset:last-child label')).map(l => l.textContent.trim())`)
	if !slices.Equal(got, []string{"API key created", "API key revoked", "Log stream added", "Log stream deleted", "Trusted domains changed"}) {
		t.Errorf("the last action group = %q", got)
	}
	b.click(`#action-filter input[value=API_KEY_REVOKED]`)
	b.click(`#action-filter input[value=TRUSTED_DOMAINS_UPDATED]`)
	b.wait(`document.body.dataset.state === 'ready' && new URLSearchParams(location.search).get('actions') === 'API_KEY_REVOKED,TRUSTED_DOMAINS_UPDATED'`, "the filter")
	wantIDs := eventIDs(s.events(alice.token, s.demoWS, map[string]any{"actions": []string{"API_KEY_REVOKED", "TRUSTED_DOMAINS_UPDATED"}}))
	if got := b.rowIDs(); len(got) != 3 || !slices.Equal(got, wantIDs) {
		t.Errorf("filtered rows %q, want %q", got, wantIDs)
	}
}
