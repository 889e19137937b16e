package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/auditlogd/auditlogd/internal/testenv"
)

// The Playground in headless Chromium with no network (issue 10): every
// host but 127.0.0.1 fails to resolve, as in an air-gapped site. Without
// AUDITLOG_PLAYGROUND_ASSETS the page must say that GraphiQL cannot load and
// what to do; with it pointing at the pinned release fetched from npm
// (internal/e2e/clients/node_modules, installed by .ci/run), GraphiQL runs and
// its docs explorer shows Query.auditLog. Without Chromium (or the npm
// packages, for the second part) the test skips, unless CI is set.

func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("AUDITLOG_CHROMIUM"); p != "" {
		return p
	}
	for _, p := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("CI is set but Chromium is not installed (apt-get install chromium)")
	}
	t.Skip("no Chromium (apt-get install chromium); skipping the Playground browser test")
	return ""
}

// offlineBrowser starts headless Chromium that can reach 127.0.0.1 only,
// and collects what the page logs.
func offlineBrowser(t *testing.T) (context.Context, func() []chromedp.ConsoleMessage) {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	var mu sync.Mutex
	var msgs []chromedp.ConsoleMessage
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			mu.Lock()
			msgs = append(msgs, m)
			mu.Unlock()
		}
	}()
	return ctx, func() []chromedp.ConsoleMessage {
		mu.Lock()
		defer mu.Unlock()
		return append([]chromedp.ConsoleMessage(nil), msgs...)
	}
}

// cspViolations are the console messages that report the page's CSP
// blocking something.
func cspViolations(msgs []chromedp.ConsoleMessage) []string {
	var out []string
	for _, m := range msgs {
		if strings.Contains(m.Text, "Content Security Policy") {
			out = append(out, m.Text)
		}
	}
	return out
}

func TestPlaygroundOffline(t *testing.T) {
	t.Parallel()
	db := testenv.SQLite(t)

	t.Run("without assets it says what to do", func(t *testing.T) {
		s := newServer(t, db, nil)
		ctx, console := offlineBrowser(t)
		ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx,
			chromedp.Navigate(s.srv.URL+"/"),
			chromedp.WaitVisible(chromedp.CSS("#playground-offline")),
		); err != nil {
			t.Fatalf("the page never showed its message: %v\nconsole: %v", err, console())
		}
		text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#playground-offline")))
		if err != nil {
			t.Fatal(err)
		}
		title, err := chromedp.Run(ctx, chromedp.Title())
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"could not load", s.srv.URL + "/graphql", "AUDITLOG_PLAYGROUND_ASSETS", "Authorization: Bearer"} {
			if !strings.Contains(text, want) {
				t.Errorf("the message does not say %q:\n%s", want, text)
			}
		}
		if strings.Contains(text, "Loading") || !strings.Contains(title, "could not load") {
			t.Errorf("title %q; text %q", title, text)
		}
		if v := cspViolations(console()); len(v) > 0 {
			t.Errorf("CSP violations: %v", v)
		}
	})

	t.Run("with assets from npm its docs show auditLog", func(t *testing.T) {
		assets, err := filepath.Abs(filepath.Join("clients", "node_modules"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(assets, "graphiql", "graphiql.min.js")); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("GraphiQL's assets are not installed (cd internal/e2e/clients && npm ci): %v", err)
			}
			t.Skip("GraphiQL's assets are not installed (cd internal/e2e/clients && npm ci)")
		}
		s := newServer(t, db, map[string]string{"AUDITLOG_PLAYGROUND_ASSETS": assets})
		ctx, console := offlineBrowser(t)
		ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx,
			chromedp.Navigate(s.srv.URL+"/"),
			chromedp.WaitVisible(chromedp.CSS(".graphiql-container")),
			chromedp.Click(chromedp.CSS(`button[aria-label="Show Documentation Explorer"]`)),
			chromedp.WaitVisible(chromedp.CSS(".graphiql-doc-explorer")),
			// The root types are listed once the schema has been introspected.
			chromedp.Click(chromedp.Search(`//div[contains(@class,"graphiql-doc-explorer")]//a[normalize-space(.)="Query"]`)),
			chromedp.WaitVisible(chromedp.Search(`//div[contains(@class,"graphiql-doc-explorer")]//*[normalize-space(.)="auditLog"]`)),
		); err != nil {
			t.Fatalf("GraphiQL did not show Query.auditLog in its docs: %v\nconsole: %v", err, console())
		}
		docs, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".graphiql-doc-explorer")))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("docs: %.300q\nconsole: %v", docs, console())
		if !strings.Contains(docs, "auditLog") || !strings.Contains(docs, "workspaces") {
			t.Errorf("the docs explorer shows:\n%s", docs)
		}
		if offline, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`!document.getElementById('playground-offline').hidden`)); offline {
			t.Error("the offline message shows although GraphiQL runs")
		}
		stored, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(Object.keys(localStorage).map(k => [k, localStorage.getItem(k)]))`))
		if strings.Contains(stored, "Bearer") {
			t.Errorf("headers are kept in localStorage: %s", stored)
		}
		if v := cspViolations(console()); len(v) > 0 {
			t.Errorf("CSP violations: %v", v)
		}
	})
}
