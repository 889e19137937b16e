package web_test

// Browser tests of the Audit Log page's Live toggle and Integrations tab
// (static/integrations.js): a real auditlogd with the demo data, on SQLite
// and, with AUDITLOG_TEST_MYSQL_DSN, MariaDB, driven through headless
// Chromium. Changes are made through the API by other clients, as a
// colleague or a partner would; stream receivers are HTTP servers the tests
// start.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/auditlogd/auditlogd/internal/auth"
	"github.com/auditlogd/auditlogd/internal/testenv"
)

// ---------------------------------------------------------------- helpers

// waitFor is wait with a longer bound, for what takes the server a few
// seconds (a stream's backoff, an access recheck). A bound, not a timing
// assertion: it only fails a test that would otherwise hang.
func (b *wBrowser) waitFor(expr, what string) {
	b.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+expr+")"))
		cancel()
		if err == nil && ok {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.t.Fatalf("timed out waiting for %s (%s)\nlive: %s %q\nstate: %s", what, expr,
		wEval[string](b, `document.body.dataset.live || ''`), b.text("#live-status"), wEval[string](b, `document.body.dataset.state || ''`))
}

// leaveBeforeClose points the tab at about:blank when the subtest ends,
// before its server closes: the page polls and reconnects, and would log the
// closed server's refusals as errors of the next subtest's page. Call it
// after starting the server (cleanups run last first).
func (b *wBrowser) leaveBeforeClose() {
	b.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
			b.t.Errorf("leave the page: %v", err)
		}
	})
}

// blur takes the focus off whatever has it (for a screenshot without a focus ring).
func (b *wBrowser) blur() {
	b.t.Helper()
	wEval[chromedp.Void](b, `document.activeElement && document.activeElement.blur()`)
}

// liveText is the Live status line.
func (b *wBrowser) liveText() string {
	b.t.Helper()
	return b.text("#live-text")
}

// apiStatus sends an operation with token and returns the HTTP status and
// the first error's code ("" when none).
func apiStatus(t *testing.T, s *wServer, token, query string, vars map[string]any) (int, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, s.srv.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		Errors []struct {
			Extensions struct{ Code string }
		}
	}
	raw, _ := io.ReadAll(res.Body)
	_ = json.Unmarshal(raw, &out)
	if len(out.Errors) > 0 {
		return res.StatusCode, out.Errors[0].Extensions.Code
	}
	return res.StatusCode, ""
}

// invite makes an email invite in ws as admin: one audit event.
func (s *wServer) invite(admin wUser, ws, email string) {
	s.t.Helper()
	s.gql(admin.token, `mutation($w: ID!, $e: String!) { createInviteLink(input: {workspaceId: $w, kind: EMAIL, email: $e}) { token } }`,
		map[string]any{"w": ws, "e": email}, nil)
}

// head is the sequence of the newest event of ws.
func (s *wServer) head(token, ws string) int {
	s.t.Helper()
	var out struct{ AuditLogHead struct{ Sequence int } }
	s.gql(token, `query($w: ID!) { auditLogHead(workspaceId: $w) { sequence } }`, map[string]any{"w": ws}, &out)
	return out.AuditLogHead.Sequence
}

// setPlan changes a workspace's plan as the billing system does.
func (s *wServer) setPlan(ws, plan string) {
	s.t.Helper()
	billing, err := s.app.Verifier.Sign(auth.Claims{Subject: "billing", Scope: "billing:write"})
	if err != nil {
		s.t.Fatal(err)
	}
	s.gql(billing, `mutation($w: ID!, $p: Plan!) { setWorkspacePlan(workspaceId: $w, plan: $p) { id } }`, map[string]any{"w": ws, "p": plan}, nil)
}

// wProxy stands between the browser and the server: a TCP relay whose
// connections the test can cut (the websocket drops as when a network or a
// load balancer drops it) and that refuses new ones until restored.
type wProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]bool
}

func wStartProxy(t *testing.T, target string) *wProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &wProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.cut()
	})
	return p
}

func (p *wProxy) URL() string { return "http://" + p.ln.Addr().String() }

func (p *wProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			c.Close()
			continue
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c], p.conns[u] = true, true
		p.mu.Unlock()
		done := func() {
			c.Close()
			u.Close()
			p.mu.Lock()
			delete(p.conns, c)
			delete(p.conns, u)
			p.mu.Unlock()
		}
		go func() { _, _ = io.Copy(u, c); done() }()
		go func() { _, _ = io.Copy(c, u); done() }()
	}
}

// cut closes every relayed connection and refuses new ones.
func (p *wProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
}

// restore accepts connections again.
func (p *wProxy) restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

// ---------------------------------------------------------------- Live

func TestBrowserLive(t *testing.T) {
	b := wStartBrowser(t)
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		b := b.with(t)
		// The websocket drops and the server is unreachable for a while on purpose.
		b.expectConsole("WebSocket connection to")
		b.expectConsole("Failed to load resource")
		b.expectConsole("ERR_")
		s := wNewServerOn(t, db)
		p := wStartProxy(t, s.srv.Listener.Addr().String())
		b.leaveBeforeClose()
		alice := s.alice()
		carol := s.user("demo-carol", "carol@example.com") // another admin of the demo workspace
		beta := s.createWorkspace(alice, "Beta Corp", "BUSINESS")
		demoEvents := len(demoRows) // the demo's events, before the subtests add theirs

		b.navigate(p.URL() + "/audit-log?workspace=" + s.demoWS + "#token=" + alice.token)
		b.waitState("ready")
		if !b.visible("#live-toggle") || wEval[string](b, `document.getElementById('live-toggle').getAttribute('aria-checked')`) != "false" {
			t.Fatal("the Live switch is not shown, off, for an admin of a Business workspace")
		}
		if got := wEval[string](b, `document.getElementById('live-toggle').getAttribute('role')`); got != "switch" {
			t.Errorf("the Live toggle's role is %q, want switch", got)
		}
		wEval[chromedp.Void](b, `window.notReloaded = true`)

		t.Run("on: another client's change appears at the top", func(t *testing.T) {
			b := b.with(t)
			b.do(chromedp.Focus(chromedp.CSS("#live-toggle")), chromedp.KeyEvent(kb.Enter)) // the keyboard works
			b.waitFor(`document.body.dataset.live === 'live'`, "Live to connect")
			if got := wEval[string](b, `document.getElementById('live-toggle').getAttribute('aria-checked')`); got != "true" {
				t.Errorf("aria-checked = %q while live", got)
			}
			if got := b.liveText(); !strings.HasPrefix(got, "Live: new events appear at the top as they happen.") {
				t.Errorf("live status = %q", got)
			}
			s.invite(carol, s.demoWS, "frank@example.com")
			s.invite(carol, s.demoWS, "grace@example.com")
			b.waitFor(fmt.Sprintf(`document.querySelectorAll('#log-rows tr').length === %d`, demoEvents+2), "the two new events")
			rows := b.rows()
			if !strings.Contains(rows[0], "carol@example.com | invited grace@example.com by email as Member") ||
				!strings.Contains(rows[1], "carol@example.com | invited frank@example.com by email as Member") {
				t.Errorf("the new events are not on top, newest first:\n%s", strings.Join(rows[:3], "\n"))
			}
			if !slices.Equal(b.rowIDs(), eventIDs(s.events(alice.token, s.demoWS, nil))) {
				t.Error("the table is not the log, newest first")
			}
			if !wEval[bool](b, `window.notReloaded === true`) {
				t.Error("the page was reloaded")
			}
			if got, want := b.text("#log-count"), fmt.Sprintf("%d events", demoEvents+2); got != want {
				t.Errorf("count = %q, want %s", got, want)
			}
			if got := b.liveText(); !strings.Contains(got, "2 new events added") {
				t.Errorf("live status = %q, want the count of new events", got)
			}
			if n := wEval[int](b, `document.querySelectorAll('#log-rows tr.live-new').length`); n != 2 {
				t.Errorf("%d rows are marked new, want 2", n)
			}
			if db.Dialect == "sqlite" {
				b.blur()
				b.screenshotViewport("audit-log-live")
			}
		})

		t.Run("filters apply to live events", func(t *testing.T) {
			b := b.with(t)
			carols := len(demoWhere(func(r demoRow) bool { return r.actor == "carol@example.com" })) + 2 // and her two invites above
			b.setValue("#filter-actor", "CAROL@example.com")
			b.click("#apply-filters")
			b.waitFor(rowsIs(carols), "carol's events")
			if got := b.liveText(); !strings.Contains(got, "if they match the filters") {
				t.Errorf("live status with filters = %q", got)
			}
			s.invite(alice, s.demoWS, "not-shown@example.com") // alice's: filtered out
			s.invite(carol, s.demoWS, "heidi@example.com")
			b.waitFor(fmt.Sprintf(`document.querySelectorAll('#log-rows tr').length === %d`, carols+1), "carol's new event")
			if rows := b.rows(); !strings.Contains(rows[0], "invited heidi@example.com") {
				t.Errorf("newest row = %q", rows[0])
			}
			if strings.Contains(strings.Join(b.rows(), "\n"), "not-shown@example.com") {
				t.Error("an event that does not match the filters was added")
			}
			b.click("#clear-filters")
			b.waitFor(rowsIs(demoEvents+4), "the whole log again")
		})

		t.Run("a dropped connection resumes with no gap and no duplicate", func(t *testing.T) {
			b := b.with(t)
			b.waitFor(`document.body.dataset.live === 'live'`, "Live")
			p.cut()
			b.waitFor(`document.body.dataset.live === 'reconnecting'`, "Live to notice the drop")
			if got := b.liveText(); !strings.Contains(got, "Reconnecting; no event will be missed.") {
				t.Errorf("status while reconnecting = %q", got)
			}
			// Changes while the page is cut off.
			s.invite(carol, s.demoWS, "ivan@example.com")
			s.invite(alice, s.demoWS, "judy@example.com")
			p.restore()
			b.waitFor(fmt.Sprintf(`document.body.dataset.live === 'live' && document.querySelectorAll('#log-rows tr').length === %d`, demoEvents+6), "Live to catch up")
			s.invite(carol, s.demoWS, "ken@example.com")
			b.waitFor(fmt.Sprintf(`document.querySelectorAll('#log-rows tr').length === %d`, demoEvents+7), "the event after the reconnection")
			want := eventIDs(s.events(alice.token, s.demoWS, nil))
			if got := b.rowIDs(); !slices.Equal(got, want) {
				t.Errorf("after the reconnection the table has %d rows, the log %d events; rows:\n%s", len(got), len(want), strings.Join(b.rows(), "\n"))
			}
		})

		t.Run("off stops", func(t *testing.T) {
			b := b.with(t)
			b.click("#live-toggle")
			b.waitFor(`document.body.dataset.live === 'off'`, "Live to stop")
			if b.visible("#live-status") || wEval[string](b, `document.getElementById('live-toggle').getAttribute('aria-checked')`) != "false" {
				t.Error("Live still shows as on")
			}
			// The subscription is gone on the server: nothing more can arrive.
			deadline := time.Now().Add(30 * time.Second)
			for s.app.Live.Feeds() != 0 && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			if n := s.app.Live.Feeds(); n != 0 {
				t.Fatalf("%d live feeds still run after Live was turned off", n)
			}
			s.invite(carol, s.demoWS, "late@example.com")
			if n := wEval[int](b, `document.querySelectorAll('#log-rows tr').length`); n != demoEvents+7 {
				t.Errorf("%d rows after Live was turned off, want %d", n, demoEvents+7)
			}
		})

		t.Run("switching workspace stops", func(t *testing.T) {
			b := b.with(t)
			b.click("#live-toggle")
			b.waitFor(`document.body.dataset.live === 'live'`, "Live")
			// Turning Live on loads the table again: the change made while it was off is there.
			b.waitFor(fmt.Sprintf(`document.querySelectorAll('#log-rows tr').length === %d`, demoEvents+8), "the table with the change made while Live was off")
			b.do(chromedp.SetValue(chromedp.CSS("#workspace"), beta))
			wEval[chromedp.Void](b, `document.getElementById('workspace').dispatchEvent(new Event('change'))`)
			b.waitFor(`document.body.dataset.live === 'stopped'`, "Live to stop")
			if got := b.liveText(); got != "Live stopped: you switched to another workspace." {
				t.Errorf("status = %q", got)
			}
			b.waitState("ready")
			if n := wEval[int](b, `document.querySelectorAll('#log-rows tr').length`); n != 1 {
				t.Errorf("Beta Corp's log has %d rows, want 1", n)
			}
		})
	})
}

func TestBrowserLiveEnds(t *testing.T) {
	s := wNewServer(t)
	b := wStartBrowser(t)
	alice := s.alice()
	carol := s.user("demo-carol", "carol@example.com")
	free := s.createWorkspace(alice, "Free Corp", "FREE")
	page := s.srv.URL + "/audit-log?workspace="

	t.Run("not on the Business plan: no Live", func(t *testing.T) {
		b := b.with(t)
		b.navigate(page + free + "#token=" + alice.token)
		b.waitState("business")
		if b.visible("#live-toggle") {
			t.Error("Live is offered for a workspace whose log cannot be read")
		}
	})

	t.Run("demoted while live", func(t *testing.T) {
		b := b.with(t)
		b.navigate(page + s.demoWS + "#token=" + carol.token)
		b.waitState("ready")
		b.click("#live-toggle")
		b.waitFor(`document.body.dataset.live === 'live'`, "Live")
		s.gql(alice.token, `mutation($w: ID!, $u: ID!) { updateMemberRole(input: {workspaceId: $w, userId: $u, role: MEMBER}) { role } }`,
			map[string]any{"w": s.demoWS, "u": "demo-carol"}, nil)
		b.waitFor(`document.body.dataset.live === 'stopped'`, "Live to end")
		if got := b.liveText(); !strings.Contains(got, "Live stopped: only admins of “Acme Inc. (demo)” can watch its log") {
			t.Errorf("status = %q", got)
		}
		if wEval[string](b, `document.getElementById('live-toggle').getAttribute('aria-checked')`) != "false" {
			t.Error("the switch is still on")
		}
		s.gql(alice.token, `mutation($w: ID!, $u: ID!) { updateMemberRole(input: {workspaceId: $w, userId: $u, role: ADMIN}) { role } }`,
			map[string]any{"w": s.demoWS, "u": "demo-carol"}, nil)
	})

	t.Run("plan downgraded while live", func(t *testing.T) {
		b := b.with(t)
		gamma := s.createWorkspace(alice, "Gamma", "BUSINESS")
		b.navigate(page + gamma + "#token=" + alice.token)
		b.waitState("ready")
		b.click("#live-toggle")
		b.waitFor(`document.body.dataset.live === 'live'`, "Live")
		s.setPlan(gamma, "TEAMS")
		b.waitFor(`document.body.dataset.live === 'stopped'`, "Live to end")
		if got := b.liveText(); !strings.Contains(got, "“Gamma” is not on the Business plan (any more)") {
			t.Errorf("status = %q", got)
		}
	})

	t.Run("token expired: sign in again", func(t *testing.T) {
		b := b.with(t)
		b.expectConsole("WebSocket connection to")
		b.expectConsole("Failed to load resource")
		b.expectConsole("ERR_")
		b.expectConsole("status of 401")
		p := wStartProxy(t, s.srv.Listener.Addr().String())
		b.navigate(p.URL() + "/audit-log?workspace=" + s.demoWS + "#token=" + alice.token)
		b.waitState("ready")
		b.click("#live-toggle")
		b.waitFor(`document.body.dataset.live === 'live'`, "Live")
		s.clock.Set(3 * time.Hour) // alice's token (2 h) has expired for the server
		defer s.clock.Set(0)
		p.cut()
		b.waitFor(`document.body.dataset.live === 'reconnecting'`, "the drop")
		p.restore()
		b.waitFor(`document.body.dataset.state === 'expired'`, "the sign-in form")
		if got := b.text("#signin-alert"); !strings.Contains(got, "Your session has ended") {
			t.Errorf("alert = %q", got)
		}
		if wEval[string](b, `document.body.dataset.live`) != "off" || b.visible("#app") {
			t.Error("Live or the log is still shown after the session ended")
		}
	})
}

// ---------------------------------------------------------------- API keys

func TestBrowserAPIKeys(t *testing.T) {
	b := wStartBrowser(t)
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		b := b.with(t)
		s := wNewServerOn(t, db)
		b.leaveBeforeClose()
		alice := s.alice()
		b.navigate(s.srv.URL + "/audit-log?workspace=" + s.demoWS + "#token=" + alice.token)
		b.waitState("ready")

		// The tabs, from the keyboard.
		b.do(chromedp.Focus(chromedp.CSS("#tab-activity")), chromedp.KeyEvent(kb.ArrowRight))
		b.wait(`document.getElementById('tab-integrations').getAttribute('aria-selected') === 'true'`, "the Integrations tab")
		if got := wEval[string](b, `document.activeElement.id`); got != "tab-integrations" {
			t.Errorf("focus is on %q after ArrowRight, want the Integrations tab", got)
		}
		if b.visible("#log") || b.visible("#filters") || !b.visible("#keys-section") || !b.visible("#streams-section") {
			t.Fatal("the Integrations tab does not replace the log")
		}
		if !strings.HasSuffix(b.location(), "#integrations") {
			t.Errorf("the address does not name the tab: %s", b.location())
		}
		b.wait(`document.getElementById('keys-status').textContent === 'No API keys yet.'`, "the empty list of keys")

		// Errors: a missing name on the page, a long one from the API with its code.
		b.click("#key-create")
		b.wait(`!document.getElementById('key-error').hidden`, "the error")
		if got := b.text("#key-error"); !strings.Contains(got, "Name: give the key a name") {
			t.Errorf("error = %q", got)
		}
		b.setValue("#key-name", strings.Repeat("k", 101))
		b.click("#key-create")
		b.wait(`document.querySelector('#key-error code') !== null`, "the API's error")
		if got := b.text("#key-error"); got != "Name: must be 1 to 100 characters BAD_USER_INPUT" {
			t.Errorf("error = %q", got)
		}
		if got := wEval[string](b, `document.getElementById('key-name').getAttribute('aria-invalid')`); got != "true" {
			t.Errorf("the name field is not marked invalid: %q", got)
		}

		// Create two keys; the second one's token is on the screen.
		b.setValue("#key-name", "Datadog")
		b.click("#key-create")
		b.wait(`document.querySelector('#key-secret .secret-value') !== null`, "the first token")
		b.click("#key-secret .done-button")
		b.setValue("#key-name", "Splunk")
		b.do(chromedp.SetValue(chromedp.CSS("#key-expiry"), "90"))
		b.click("#key-create")
		b.wait(`document.querySelector('#key-secret .secret-value') !== null && document.querySelectorAll('#keys-rows tr').length === 2`, "the token and the list")
		token := wEval[string](b, `document.querySelector('#key-secret .secret-value').value`)
		if !strings.HasPrefix(token, "alk_") || len(token) < 30 {
			t.Fatalf("token = %q", token)
		}
		if got := b.text("#key-secret"); !strings.Contains(got, "API key “Splunk” created") || !strings.Contains(got, "you will not see it again") {
			t.Errorf("the token box says %q", got)
		}
		if got := wEval[string](b, `document.activeElement.className`); got != "secret-once" {
			t.Errorf("focus is on %q, want the token box", got)
		}
		b.click("#key-secret .copy-button")
		b.wait(`document.querySelector('#key-secret .copy-status').textContent !== ''`, "the copy feedback")
		rows := wEval[[]string](b, `Array.from(document.querySelectorAll('#keys-rows tr')).map(tr => Array.from(tr.cells).map(td => td.textContent.trim()).join(' | '))`)
		if !strings.HasPrefix(rows[0], "Splunk "+token[:12]+"… | ") || !strings.Contains(rows[0], " | alice@example.com | Never | ") ||
			!strings.Contains(rows[0], " | Active | Revoke") || strings.Contains(rows[0], "| Never | Active") {
			t.Errorf("the new key's row = %q (want name and prefix, creator, never used, an expiry, Active)", rows[0])
		}
		if !strings.HasPrefix(rows[1], "Datadog ") || !strings.Contains(rows[1], "| Never | Never | Active | Revoke") {
			t.Errorf("the first key's row = %q", rows[1])
		}
		if db.Dialect == "sqlite" {
			b.blur()
			b.screenshot("audit-log-api-keys")
		}

		// The token works as a bearer: it reads the log.
		if code, errCode := apiStatus(t, s, token, `query($w: ID!) { auditLog(workspaceId: $w, first: 1) { nodes { id } } }`, map[string]any{"w": s.demoWS}); code != http.StatusOK || errCode != "" {
			t.Fatalf("the new key reading the log: HTTP %d %s", code, errCode)
		}

		// Done: the token leaves the page.
		b.click("#key-secret .done-button")
		if n := wEval[int](b, `document.querySelectorAll('#key-secret *').length`); n != 0 {
			t.Error("the token box is still there after Done")
		}
		js, _ := json.Marshal(token)
		if wEval[bool](b, fmt.Sprintf(`document.body.textContent.includes(%s) || Array.from(document.querySelectorAll('input')).some(i => i.value.includes(%s))`, js, js)) {
			t.Error("the token is still on the page after Done")
		}
		if got := wEval[string](b, `document.activeElement.id`); got != "key-name" {
			t.Errorf("focus after Done is on %q, want the name field", got)
		}

		// Revoke, with a confirmation.
		b.click(`#keys-rows tr:first-child button`)
		b.wait(`document.getElementById('confirm-dialog').open`, "the confirmation")
		if got := b.text("#confirm-title"); got != "Revoke the API key “Splunk”?" {
			t.Errorf("confirmation = %q", got)
		}
		if got := wEval[string](b, `document.activeElement.id`); got != "confirm-cancel" {
			t.Errorf("the confirmation's focus is on %q, want Cancel", got)
		}
		b.do(chromedp.KeyEvent(kb.Escape))
		b.wait(`!document.getElementById('confirm-dialog').open`, "Escape to close the confirmation")
		if code, _ := apiStatus(t, s, token, `{ viewer { id } }`, nil); code == http.StatusUnauthorized {
			t.Fatal("Escape revoked the key")
		}
		b.click(`#keys-rows tr:first-child button`)
		b.wait(`document.getElementById('confirm-dialog').open`, "the confirmation")
		b.click("#confirm-yes")
		b.wait(`!document.getElementById('confirm-dialog').open && document.querySelector('#keys-rows tr:first-child .badge').textContent === 'Revoked'`, "the key to show as revoked")
		if got := b.text("#keys-status"); !strings.Contains(got, "The key “Splunk” was revoked") {
			t.Errorf("status = %q", got)
		}
		if code, errCode := apiStatus(t, s, token, `query($w: ID!) { auditLog(workspaceId: $w, first: 1) { nodes { id } } }`, map[string]any{"w": s.demoWS}); code != http.StatusUnauthorized || errCode != "UNAUTHENTICATED" {
			t.Errorf("the revoked key: HTTP %d %s, want 401 UNAUTHENTICATED", code, errCode)
		}
		if n := wEval[int](b, `document.querySelectorAll('#keys-rows tr:first-child button').length`); n != 0 {
			t.Error("a revoked key can be revoked again")
		}
		// The key was used once before it was revoked.
		if got := b.text("#keys-rows tr:first-child td:nth-child(4)"); got == "Never" {
			t.Errorf("last used = %q after the key was used", got)
		}

		// Both changes are in the log.
		var acts []string
		for _, e := range s.events(alice.token, s.demoWS, map[string]any{"actions": []string{"API_KEY_CREATED", "API_KEY_REVOKED"}}) {
			acts = append(acts, e.Action+" "+e.Target.Label)
		}
		if want := []string{"API_KEY_REVOKED Splunk", "API_KEY_CREATED Splunk", "API_KEY_CREATED Datadog"}; !slices.Equal(acts, want) {
			t.Errorf("the log has %q, want %q", acts, want)
		}

		if db.Dialect == "sqlite" {
			// Narrow screens: no sideways scrolling; rows become cards.
			b.do(chromedp.EmulateViewport(360, 780, chromedp.EmulateMobile))
			defer b.do(chromedp.EmulateViewport(1280, 900))
			if w := wEval[int](b, `document.documentElement.scrollWidth`); w > 360 {
				t.Errorf("the Integrations tab is %d px wide at 360 px", w)
			}
			if got := wEval[string](b, `getComputedStyle(document.querySelector('#keys-rows tr')).display`); got != "block" {
				t.Errorf("key rows are display:%s on a narrow screen", got)
			}
		}
	})
}

func TestBrowserIntegrationsExplained(t *testing.T) {
	s := wNewServer(t)
	b := wStartBrowser(t)
	alice := s.alice()
	free := s.createWorkspace(alice, "Free Corp", "FREE")

	t.Run("not on the Business plan", func(t *testing.T) {
		b := b.with(t)
		b.navigate(s.srv.URL + "/audit-log?workspace=" + free + "#integrations&token=" + alice.token)
		b.wait(`document.getElementById('tab-integrations').getAttribute('aria-selected') === 'true' && !document.getElementById('integrations-explain').hidden`, "the explanation")
		if got := b.text("#integrations-explain"); !strings.Contains(got, "API keys and log streams are part of the Business plan") ||
			!strings.Contains(got, "“Free Corp” is on the Free plan") {
			t.Errorf("explanation = %q", got)
		}
		b.wait(`document.getElementById('keys-status').textContent === 'No API keys yet.'`, "the keys, still listed")
		if !wEval[bool](b, `document.getElementById('key-fieldset').disabled`) || b.visible("#stream-form") {
			t.Error("keys or streams can be created without the Business plan")
		}
		if got := b.text("#streams-note"); got != "Log streams need the Business plan." {
			t.Errorf("streams note = %q", got)
		}
	})

	t.Run("not an admin", func(t *testing.T) {
		b := b.with(t)
		frank := s.frank() // a Member at the end of the demo
		b.navigate(s.srv.URL + "/audit-log?workspace=" + s.demoWS + "#integrations&token=" + frank.token)
		b.wait(`!document.getElementById('integrations-explain').hidden`, "the explanation")
		if got := b.text("#integrations-explain"); !strings.Contains(got, "Only admins can manage integrations") ||
			!strings.Contains(got, "You are a Member of “Acme Inc. (demo)”") {
			t.Errorf("explanation = %q", got)
		}
		if b.visible("#keys-section") || b.visible("#streams-section") {
			t.Error("a member sees the keys or streams")
		}
	})
}

// ---------------------------------------------------------------- streams

// wReceiver is a partner's endpoint that acknowledges deliveries (or fails
// them all, with a message).
type wReceiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	seq []int64
}

func wStartReceiver(t *testing.T, failWith string) *wReceiver {
	r := &wReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if failWith != "" {
			http.Error(w, failWith, http.StatusInternalServerError)
			return
		}
		var body struct {
			Events []struct{ Sequence int64 }
		}
		if err := json.NewDecoder(req.Body).Decode(&body); err != nil {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		for _, e := range body.Events {
			r.seq = append(r.seq, e.Sequence)
		}
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *wReceiver) sequences() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seq)
}

func TestBrowserLogStreams(t *testing.T) {
	b := wStartBrowser(t)
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		b := b.with(t)
		s := wNewServerOn(t, db)
		b.leaveBeforeClose()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.app.DeliverLoop(ctx)
		}()
		t.Cleanup(func() {
			cancel()
			<-done
		})
		alice := s.alice()
		healthy := wStartReceiver(t, "")
		failing := wStartReceiver(t, "receiver down for maintenance")

		b.navigate(s.srv.URL + "/audit-log?workspace=" + s.demoWS + "#token=" + alice.token)
		b.waitState("ready")
		b.click("#tab-integrations")
		b.wait(`document.getElementById('streams-status').textContent === 'No log streams yet.'`, "the empty list of streams")

		// A URL the API refuses: its message and code, at the field.
		b.setValue("#stream-url", "ftp://siem.example.com/in")
		b.click("#stream-create")
		b.wait(`!document.getElementById('stream-error').hidden`, "the error")
		if got := b.text("#stream-error"); !strings.HasPrefix(got, "Endpoint URL: ") || !strings.HasSuffix(got, " BAD_USER_INPUT") {
			t.Errorf("error = %q", got)
		}
		if got := wEval[string](b, `document.getElementById('stream-url').getAttribute('aria-invalid')`); got != "true" {
			t.Errorf("the URL field is not marked invalid: %q", got)
		}

		// A healthy stream that starts with every retained event.
		b.setValue("#stream-url", healthy.srv.URL+"/auditlogd")
		b.setValue("#stream-description", "SIEM")
		b.click("#stream-start-earliest")
		b.click("#stream-create")
		b.wait(`document.querySelector('#stream-secret .secret-value') !== null && document.querySelectorAll('#streams-list li').length === 1`, "the secret and the stream")
		if secret := wEval[string](b, `document.querySelector('#stream-secret .secret-value').value`); len(secret) < 20 {
			t.Errorf("signing secret = %q", secret)
		}
		if got := b.text("#stream-secret"); !strings.Contains(got, "you will not see it again") || !strings.Contains(got, "X-Auditlog-Signature") {
			t.Errorf("the secret box says %q", got)
		}
		b.click("#stream-secret .done-button")
		head := s.head(alice.token, s.demoWS)
		b.waitFor(fmt.Sprintf(`Number(document.querySelector('#streams-list li [data-through]').dataset.through) === %d`, head), "the backfill to reach the head")
		if got := b.text("#streams-list li .stream-badge"); got != "Healthy" {
			t.Errorf("badge = %q", got)
		}
		if got := b.text("#streams-list li dl"); !strings.Contains(got, fmt.Sprintf("Through event %d · up to date", head)) {
			t.Errorf("facts = %q", got)
		}

		// deliveredThrough follows new events.
		s.invite(alice, s.demoWS, "stream-1@example.com")
		s.invite(alice, s.demoWS, "stream-2@example.com")
		head = s.head(alice.token, s.demoWS)
		b.waitFor(fmt.Sprintf(`Number(document.querySelector('#streams-list li [data-through]').dataset.through) === %d`, head), "deliveredThrough to advance")
		got := healthy.sequences()
		if len(got) < head || got[len(got)-1] != int64(head) {
			t.Errorf("the receiver got sequences %v, want 1…%d", got, head)
		}

		// A stream whose receiver fails: its last error, in plain words.
		b.setValue("#stream-url", failing.srv.URL+"/hook")
		b.setValue("#stream-description", "")
		b.click("#stream-create")
		b.wait(`document.querySelectorAll('#streams-list li').length === 2`, "the second stream")
		b.click("#stream-secret .done-button")
		s.invite(alice, s.demoWS, "stream-3@example.com")
		b.waitFor(`document.querySelector('#streams-list li:first-child').dataset.health === 'failing'`, "the failing stream to show as failing")
		if got := b.text("#streams-list li:first-child .stream-error-title") + ": " + b.text("#streams-list li:first-child .stream-error-text"); got != "Last error: HTTP 500: receiver down for maintenance" {
			t.Errorf("last error = %q", got)
		}
		if got := b.text("#streams-list li:first-child .stream-badge"); got != "Failing" {
			t.Errorf("badge = %q", got)
		}
		b.waitFor(fmt.Sprintf(`Number(document.querySelector('#streams-list li:last-child [data-through]').dataset.through) === %d`, s.head(alice.token, s.demoWS)),
			"the healthy stream to go on")
		if got := b.text("#streams-status"); got != "2 streams: 1 failing." {
			t.Errorf("status = %q", got)
		}
		if db.Dialect == "sqlite" {
			b.blur()
			b.screenshot("audit-log-log-streams")
		}

		// Delete the failing one, with a confirmation.
		b.click("#streams-list li:first-child .stream-actions button")
		b.wait(`document.getElementById('confirm-dialog').open`, "the confirmation")
		if got := b.text("#confirm-title"); got != "Delete the log stream to "+failing.srv.URL+"/hook?" {
			t.Errorf("confirmation = %q", got)
		}
		b.click("#confirm-yes")
		b.wait(`!document.getElementById('confirm-dialog').open && document.querySelectorAll('#streams-list li').length === 1`, "the stream to go")
		var out struct {
			Workspace struct{ LogStreams []struct{ URL string } }
		}
		s.gql(alice.token, `query($w: ID!) { workspace(id: $w) { logStreams { url } } }`, map[string]any{"w": s.demoWS}, &out)
		if len(out.Workspace.LogStreams) != 1 || out.Workspace.LogStreams[0].URL != healthy.srv.URL+"/auditlogd" {
			t.Errorf("streams after the delete: %+v", out.Workspace.LogStreams)
		}
		if got := b.text("#streams-status"); !strings.HasPrefix(got, "The stream to "+failing.srv.URL+"/hook was deleted.") {
			t.Errorf("status = %q", got)
		}
	})
}

// ---------------------------------------------------------------- static

func TestIntegrationsScriptRendersNoHTML(t *testing.T) {
	js, err := fs.ReadFile(os.DirFS("static"), "integrations.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "localStorage", "https://cdn"} {
		if strings.Contains(string(js), bad) {
			t.Errorf("integrations.js uses %s", bad)
		}
	}
}
