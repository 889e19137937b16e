package web_test

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/auditlogd/auditlogd/internal/web"
)

// get fetches path from h.
func get(t *testing.T, h http.Handler, method, path string, header ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPageHeaders(t *testing.T) {
	h := web.New().Handler()
	for _, path := range []string{"/audit-log", "/invite/inv_secret-token"} {
		res := get(t, h, http.MethodGet, path)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", path, res.StatusCode)
		}
		want := map[string]string{
			"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
			"Content-Type":            "text/html; charset=utf-8",
			"Cache-Control":           "no-cache",
		}
		for k, v := range want {
			if got := res.Header.Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q", path, k, got, v)
			}
		}
		if res.Header.Get("ETag") == "" {
			t.Errorf("%s: no ETag", path)
		}
		b := body(t, res)
		if strings.Contains(b, "inv_secret-token") {
			t.Errorf("%s: the page echoes the invite token", path)
		}
	}
}

func TestPagesHaveNoInlineCodeAndUseFingerprintedAssets(t *testing.T) {
	s := web.New()
	h := s.Handler()
	for _, path := range []string{"/audit-log", "/invite/x"} {
		page := body(t, get(t, h, http.MethodGet, path))
		for _, bad := range []*regexp.Regexp{
			regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`), // a script with a body
			regexp.MustCompile(`<style`),
			regexp.MustCompile(`\sstyle=`),
			regexp.MustCompile(`\son[a-z]+=`),
			regexp.MustCompile(`javascript:`),
			regexp.MustCompile(`(?:src|href)="(?:https?:)?//`), // anything from elsewhere
		} {
			if m := bad.FindString(page); m != "" {
				t.Errorf("%s has inline code or a third-party reference: %q", path, m)
			}
		}
		for _, asset := range []string{"audit-log.css", "audit-log.js"} {
			if u := s.AssetURL(asset); u == "" || !strings.Contains(page, `"`+u+`"`) {
				t.Errorf("%s does not reference %s by its fingerprinted URL %q", path, asset, u)
			}
		}
	}
}

func TestScriptRendersNoHTML(t *testing.T) {
	js, err := fs.ReadFile(os.DirFS("static"), "audit-log.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "localStorage"} {
		if strings.Contains(string(js), bad) {
			t.Errorf("audit-log.js uses %s", bad)
		}
	}
}

func TestAssetCaching(t *testing.T) {
	s := web.New()
	h := s.Handler()
	u := s.AssetURL("audit-log.js")
	res := get(t, h, http.MethodGet, u)
	if res.StatusCode != http.StatusOK || res.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
		t.Errorf("fingerprinted asset: status %d, Cache-Control %q", res.StatusCode, res.Header.Get("Cache-Control"))
	}
	if ct := res.Header.Get("Content-Type"); ct != "text/javascript; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	etag := res.Header.Get("ETag")
	if res := get(t, h, http.MethodGet, u, "If-None-Match", etag); res.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: status %d, want 304", res.StatusCode)
	}
	if res := get(t, h, http.MethodGet, "/audit-log/assets/audit-log.css"); res.Header.Get("Cache-Control") != "public, max-age=300" ||
		res.Header.Get("Content-Type") != "text/css; charset=utf-8" {
		t.Errorf("unversioned CSS: Cache-Control %q, Content-Type %q", res.Header.Get("Cache-Control"), res.Header.Get("Content-Type"))
	}
	if res := get(t, h, http.MethodGet, "/audit-log/assets/audit-log.js?v=old"); res.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("old fingerprint: Cache-Control %q", res.Header.Get("Cache-Control"))
	}
	for _, path := range []string{"/audit-log/assets/nope.js", "/audit-log/assets/audit-log.html", "/audit-log/assets/..%2fweb.go"} {
		if res := get(t, h, http.MethodGet, path); res.StatusCode != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", path, res.StatusCode)
		}
	}
	if res := get(t, h, http.MethodHead, u); res.StatusCode != http.StatusOK || body(t, res) != "" {
		t.Errorf("HEAD: status %d", res.StatusCode)
	}
}

func TestTrailingSlashRedirects(t *testing.T) {
	res := get(t, web.New().Handler(), http.MethodGet, "/audit-log/?workspace=w1&actions=MEMBER_ADDED")
	if res.StatusCode != http.StatusMovedPermanently || res.Header.Get("Location") != "/audit-log?workspace=w1&actions=MEMBER_ADDED" {
		t.Errorf("status %d, Location %q", res.StatusCode, res.Header.Get("Location"))
	}
}

// TestMountedInTheServer checks the page through auditlogd's router: its
// middleware adds the global headers, and the access log hides invite tokens.
func TestMountedInTheServer(t *testing.T) {
	s := wNewServer(t)
	for _, path := range []string{"/audit-log", "/invite/inv_do-not-log-me"} {
		res, err := http.Get(s.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", path, res.StatusCode)
		}
		for k, v := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"} {
			if got := res.Header.Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q", path, k, got, v)
			}
		}
		if res.Header.Get("Content-Security-Policy") != web.ContentSecurityPolicy {
			t.Errorf("%s: no CSP", path)
		}
	}
	// The access log line is written once the handler returns, which may be
	// a moment after the client has the whole response.
	logged := func(logs string) bool {
		return strings.Contains(logs, `"route":"/invite/{token}"`) && strings.Contains(logs, `"route":"/audit-log"`)
	}
	logs := s.logs.String()
	for deadline := time.Now().Add(5 * time.Second); !logged(logs) && time.Now().Before(deadline); logs = s.logs.String() {
		time.Sleep(10 * time.Millisecond)
	}
	if !logged(logs) {
		t.Errorf("the access log has no lines for the pages:\n%s", logs)
	}
	if strings.Contains(logs, "do-not-log-me") {
		t.Error("the invite token is in the access log")
	}
}
