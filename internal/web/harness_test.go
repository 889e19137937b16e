package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/auditlogd/auditlogd/internal/app"
	"github.com/auditlogd/auditlogd/internal/auth"
	"github.com/auditlogd/auditlogd/internal/config"
	"github.com/auditlogd/auditlogd/internal/demo"
	"github.com/auditlogd/auditlogd/internal/testenv"
)

// ---------------------------------------------------------------- server

// Faults the test server can inject into POST /graphql.
const (
	wFaultNone    int32 = iota
	wFault500           // answer 500 with an INTERNAL error body
	wFaultDrop          // close the connection without an answer
	wFaultHTML502       // answer 502 with an HTML body, as a proxy would
)

// heldOp is a GraphQL operation the test server holds until released.
type heldOp struct {
	name    string
	release chan struct{}
}

// wServer is auditlogd on a fresh SQLite database with the demo workspace,
// behind a wrapper that records GraphQL requests and can hold or break them.
type wServer struct {
	t      *testing.T
	app    *app.App
	srv    *httptest.Server
	clock  *testenv.Clock
	logs   *testenv.LogBuffer
	demoWS string
	fault  atomic.Int32
	holdOp atomic.Pointer[heldOp]

	mu       sync.Mutex
	requests []string // bodies of POST /graphql
}

const wSecret = "web-test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"

// wNewServer starts auditlogd with the demo data on a fresh SQLite database.
func wNewServer(t *testing.T) *wServer {
	t.Helper()
	return wNewServerOn(t, testenv.SQLite(t))
}

// wNewServerOn starts auditlogd with the demo data on db (testenv.ForEachDB
// gives SQLite and, with AUDITLOG_TEST_MYSQL_DSN, MariaDB).
func wNewServerOn(t *testing.T, db testenv.DB) *wServer {
	t.Helper()
	s := &wServer{t: t, clock: &testenv.Clock{}, logs: &testenv.LogBuffer{}}
	s.srv = httptest.NewUnstartedServer(nil)
	base := "http://" + s.srv.Listener.Addr().String()
	vars := map[string]string{
		"AUDITLOG_DATABASE_URL":   db.URL,
		"AUDITLOG_JWT_SECRET":     wSecret,
		"AUDITLOG_EXPORT_SECRET":  "web-export-secret-0123456789-abcdefghijklmnopqrstuvwxyz",
		"AUDITLOG_RATE_LIMIT_RPS": "0",
		"AUDITLOG_PUBLIC_URL":     base,
		// Log streams to receivers that tests start on loopback (http://127.0.0.1:…).
		"AUDITLOG_STREAM_ALLOW_PRIVATE": "true",
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	log := slog.New(slog.NewJSONHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := app.New(context.Background(), cfg, log, app.Options{Now: s.clock.Now})
	if err != nil {
		t.Fatalf("app: %v", err)
	}
	s.app = a
	res, err := demo.Seed(context.Background(), a.DB.Workspaces(), cfg.PublicURL, s.clock.Now())
	if err != nil {
		t.Fatalf("demo: %v", err)
	}
	s.demoWS = res.WorkspaceID
	s.srv.Config.Handler = s.wrap(a.Handler)
	s.srv.Start()
	t.Cleanup(func() {
		s.srv.Close()
		a.Close()
	})
	return s
}

// wrap records GraphQL requests and applies the injected faults.
func (s *wServer) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/graphql" {
			next.ServeHTTP(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		s.mu.Lock()
		s.requests = append(s.requests, string(body))
		s.mu.Unlock()
		if h := s.holdOp.Load(); h != nil && bytes.Contains(body, []byte(h.name)) {
			select {
			case <-h.release:
			case <-r.Context().Done():
				return
			}
		}
		switch s.fault.Load() {
		case wFault500:
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Request-Id", "req-fault-500")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, `{"errors":[{"message":"internal error; quote request id req-fault-500 when you report it","extensions":{"code":"INTERNAL"}}]}`)
			return
		case wFaultDrop:
			hj, ok := w.(http.Hijacker)
			if !ok {
				panic("no hijacker")
			}
			conn, _, err := hj.Hijack()
			if err == nil {
				conn.Close()
			}
			return
		case wFaultHTML502:
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			_, _ = io.WriteString(w, "<html><body><h1>502 Bad Gateway</h1></body></html>")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// graphQLRequests returns the bodies of the GraphQL requests seen so far.
func (s *wServer) graphQLRequests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// hold makes the page's requests of the named operation (AuditLogPage,
// AuditLogViewer) wait until the returned func is called.
func (s *wServer) hold(operation string) (release func()) {
	h := &heldOp{name: operation, release: make(chan struct{})}
	s.holdOp.Store(h)
	var once sync.Once
	return func() {
		once.Do(func() {
			s.holdOp.Store(nil)
			close(h.release)
		})
	}
}

// wUser is a person with a token.
type wUser struct {
	id, email, token string
}

// user signs a token for a user.
func (s *wServer) user(id, email string) wUser {
	s.t.Helper()
	verified := true
	tok, err := s.app.Verifier.Sign(auth.Claims{Subject: id, Email: email, Name: id, EmailVerified: &verified, TTL: 2 * time.Hour})
	if err != nil {
		s.t.Fatal(err)
	}
	return wUser{id: id, email: email, token: tok}
}

// alice is the demo workspace's admin.
func (s *wServer) alice() wUser { return s.user(demo.Admin.Subject, demo.Admin.Email) }

// frank is a Member of the demo workspace at the end of its history (carol
// added him; bob, once a Member, is an Admin again at the end).
func (s *wServer) frank() wUser { return s.user("demo-frank", "frank.contractor@gmail.com") }

// gqlOpt changes a GraphQL request of the test.
type gqlOpt func(*http.Request)

func withUserAgent(ua string) gqlOpt {
	return func(r *http.Request) { r.Header.Set("User-Agent", ua) }
}

// gql runs an operation that must succeed and decodes its data into out.
func (s *wServer) gql(token, query string, vars map[string]any, out any, opts ...gqlOpt) {
	s.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, s.srv.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	for _, o := range opts {
		o(req)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("graphql: %v", err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var r struct {
		Data   json.RawMessage `json:"data"`
		Errors []any           `json:"errors"`
	}
	if err := json.Unmarshal(raw, &r); err != nil || res.StatusCode != http.StatusOK || len(r.Errors) > 0 {
		s.t.Fatalf("graphql failed: %d %s\nquery: %s", res.StatusCode, raw, query)
	}
	if out != nil {
		if err := json.Unmarshal(r.Data, out); err != nil {
			s.t.Fatalf("decode: %v: %s", err, r.Data)
		}
	}
}

// createWorkspace makes a workspace with admin as its admin, on plan.
func (s *wServer) createWorkspace(admin wUser, name, plan string) string {
	s.t.Helper()
	var out struct{ CreateWorkspace struct{ ID string } }
	s.gql(admin.token, `mutation($n: String!) { createWorkspace(input: {name: $n}) { id } }`, map[string]any{"n": name}, &out)
	if plan != "FREE" {
		billing, err := s.app.Verifier.Sign(auth.Claims{Subject: "billing", Scope: "billing:write"})
		if err != nil {
			s.t.Fatal(err)
		}
		s.gql(billing, `mutation($w: ID!, $p: Plan!) { setWorkspacePlan(workspaceId: $w, plan: $p) { id } }`,
			map[string]any{"w": out.CreateWorkspace.ID, "p": plan}, nil)
	}
	return out.CreateWorkspace.ID
}

// wEvent is an audit event as the API returns it.
type wEvent struct {
	ID         string `json:"id"`
	Action     string `json:"action"`
	OccurredAt string `json:"occurredAt"`
	Actor      struct {
		Email string `json:"email"`
	} `json:"actor"`
	Target *struct {
		Label string `json:"label"`
	} `json:"target"`
	UserAgent string `json:"userAgent"`
}

// events returns every event of a workspace's log that matches filter,
// newest first.
func (s *wServer) events(token, ws string, filter map[string]any) []wEvent {
	s.t.Helper()
	return wAllEvents[wEvent](s, token, ws, "id action occurredAt actor { email } target { label } userAgent", filter)
}

// wAllEvents pages through every event of ws's log that matches filter,
// newest first, selecting fields of each into a T.
func wAllEvents[T any](s *wServer, token, ws, fields string, filter map[string]any) []T {
	s.t.Helper()
	var all []T
	var after any
	for {
		var out struct {
			AuditLog struct {
				Nodes    []T
				PageInfo struct {
					HasNextPage bool
					EndCursor   string
				}
			}
		}
		s.gql(token, `query($w: ID!, $after: String, $f: AuditLogFilter) {
  auditLog(workspaceId: $w, first: 100, after: $after, filter: $f) {
    nodes { `+fields+` }
    pageInfo { hasNextPage endCursor } } }`, map[string]any{"w": ws, "after": after, "f": filter}, &out)
		all = append(all, out.AuditLog.Nodes...)
		if !out.AuditLog.PageInfo.HasNextPage {
			return all
		}
		after = out.AuditLog.PageInfo.EndCursor
	}
}

// ---------------------------------------------------------------- browser

// chromiumPath finds Debian's Chromium (or another Chrome on PATH).
func chromiumPath() string {
	if p := os.Getenv("AUDITLOG_CHROMIUM"); p != "" {
		return p
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// wBrowser is one headless Chromium with one tab, as a test (or subtest)
// uses it.
type wBrowser struct {
	t   *testing.T
	ctx context.Context
	log *wConsole
}

// wConsole is what the tab said.
type wConsole struct {
	mu       sync.Mutex
	console  []chromedp.ConsoleMessage
	dialogs  []string
	expected []string // console texts that the test expects (network failures)
}

// with returns the browser for a subtest.
func (b *wBrowser) with(t *testing.T) *wBrowser {
	return &wBrowser{t: t, ctx: b.ctx, log: b.log}
}

// wStartBrowser starts Chromium for the test. Without Chromium the test is
// skipped, unless CI is set: then it fails.
func wStartBrowser(t *testing.T) *wBrowser {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("CI is set but no Chromium was found at /usr/bin/chromium or on PATH: install it (apt-get install chromium)")
		}
		t.Skip("browser tests skipped: no Chromium at /usr/bin/chromium or on PATH (apt-get install chromium); set CI=1 to make this a failure")
	}
	profile := t.TempDir()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium (%s): %v", path, err)
	}
	b := &wBrowser{t: t, ctx: ctx, log: &wConsole{}}
	console := chromedp.Console(ctx)
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			b.log.mu.Lock()
			b.log.console = append(b.log.console, m)
			b.log.mu.Unlock()
		}
	}()
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			b.log.mu.Lock()
			b.log.dialogs = append(b.log.dialogs, ev.Type.String()+": "+ev.Message)
			b.log.mu.Unlock()
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.checkConsole)
	return b
}

// expectConsole lets console errors that contain s pass (a test that breaks
// the network on purpose).
func (b *wBrowser) expectConsole(s string) {
	b.log.mu.Lock()
	b.log.expected = append(b.log.expected, s)
	b.log.mu.Unlock()
}

// checkConsole fails the test on a dialog, an exception, a CSP violation or
// an unexpected console error.
func (b *wBrowser) checkConsole() {
	b.log.mu.Lock()
	defer b.log.mu.Unlock()
	for _, d := range b.log.dialogs {
		b.t.Errorf("the page opened a dialog (a script ran that should not have): %s", d)
	}
	for _, m := range b.log.console {
		text := m.String()
		if m.IsException() || strings.Contains(text, "Content Security Policy") || strings.Contains(text, "Refused to") {
			b.t.Errorf("browser console: %s: %s (%s:%d)", m.Type, text, m.URL, m.Line+1)
			continue
		}
		if m.Type == chromedp.ConsoleError || m.Type == "error" {
			ok := false
			for _, e := range b.log.expected {
				if strings.Contains(text, e) || strings.Contains(m.URL, e) {
					ok = true
				}
			}
			if !ok {
				b.t.Errorf("browser console error: %s (%s:%d)", text, m.URL, m.Line+1)
			}
		}
	}
}

// do runs actions with a deadline.
func (b *wBrowser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

// eval evaluates a JavaScript expression in the page.
func wEval[T any](b *wBrowser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// wait polls a JavaScript expression until it is true. (chromedp.Poll
// compiles its predicate with new Function, which the page's CSP forbids.)
func (b *wBrowser) wait(expr, what string) {
	b.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+expr+")"))
		cancel()
		if err == nil && ok {
			return
		}
		last = err
		time.Sleep(40 * time.Millisecond)
	}
	b.t.Fatalf("timed out waiting for %s (%s); last error: %v\nstate: %s\nstatus: %s", what, expr, last,
		wEval[string](b, `document.body.dataset.state || ''`), wEval[string](b, `(document.getElementById('status')||{}).textContent || ''`))
}

// waitState waits until the page says it is in state (data-state on body).
func (b *wBrowser) waitState(state string) {
	b.t.Helper()
	b.wait(fmt.Sprintf(`document.body.dataset.state === %q`, state), "state "+state)
}

// navigate opens a URL and waits for its load.
func (b *wBrowser) navigate(url string) {
	b.t.Helper()
	b.do(chromedp.Navigate(url))
}

// rows returns the text of the table's rows, one string per row with its
// cells separated by " | ".
func (b *wBrowser) rows() []string {
	b.t.Helper()
	return wEval[[]string](b, `Array.from(document.querySelectorAll('#log-rows tr')).map(tr =>
  Array.from(tr.cells).map(td => td.querySelector('.cell-body > :first-child').textContent.trim()).join(' | '))`)
}

// location returns the page's address.
func (b *wBrowser) location() string {
	b.t.Helper()
	return wEval[string](b, `location.href`)
}

// screenshot saves a PNG of the whole page as name.png in the screenshot
// folder (AUDITLOG_SCREENSHOTS, or the test's temporary folder).
func (b *wBrowser) screenshot(name string) {
	b.t.Helper()
	b.savePNG(name, chromedp.FullScreenshot(100))
}

// screenshotViewport saves a PNG of what the viewport shows.
func (b *wBrowser) screenshotViewport(name string) {
	b.t.Helper()
	b.savePNG(name, chromedp.CaptureScreenshot())
}

func (b *wBrowser) savePNG(name string, shot chromedp.Action[[]byte]) {
	b.t.Helper()
	dir := os.Getenv("AUDITLOG_SCREENSHOTS")
	if dir == "" {
		dir = b.t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, shot)
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG")) {
		b.t.Fatalf("screenshot %s is not a PNG", name)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}
