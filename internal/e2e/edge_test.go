package e2e

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/auditlogd/auditlogd/internal/app"
	"github.com/auditlogd/auditlogd/internal/config"
	"github.com/auditlogd/auditlogd/internal/httpserver"
	"github.com/auditlogd/auditlogd/internal/testenv"
)

// The HTTP edge in front of GraphQL: CORS and compression (issue 10), the
// order of the cheap refusals and IPv6 buckets (issue 14, finding 11), the
// metrics (finding 9) and the Playground's switches (finding 8).

// rawClient sends requests without Go's transparent gzip, so that tests see
// Content-Encoding as the server sent it.
var rawClient = &http.Client{Transport: &http.Transport{DisableCompression: true}}

func rawDo(t testing.TB, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	res, err := rawClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, b
}

func TestEdgeCORS(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		const app1 = "https://app.example.com"
		s := newServer(t, db, map[string]string{"AUDITLOG_CORS_ORIGINS": app1 + ", http://localhost:3000"})
		u := s.newUser(t, "cors")
		preflight := func(origin string) *http.Response {
			req, _ := http.NewRequest(http.MethodOptions, s.srv.URL+"/graphql", nil)
			req.Header.Set("Origin", origin)
			req.Header.Set("Access-Control-Request-Method", "POST")
			req.Header.Set("Access-Control-Request-Headers", "authorization, content-type, accept")
			res, _ := rawDo(t, req)
			return res
		}
		t.Run("preflight from an allowed origin", func(t *testing.T) {
			res := preflight(app1)
			h := res.Header
			if res.StatusCode >= 300 || h.Get("Access-Control-Allow-Origin") != app1 {
				t.Fatalf("status %d, Allow-Origin %q", res.StatusCode, h.Get("Access-Control-Allow-Origin"))
			}
			if m := h.Get("Access-Control-Allow-Methods"); !strings.Contains(m, "POST") {
				t.Errorf("Allow-Methods %q", m)
			}
			hdrs := strings.ToLower(h.Get("Access-Control-Allow-Headers"))
			for _, want := range []string{"authorization", "content-type", "accept"} {
				if !strings.Contains(hdrs, want) {
					t.Errorf("Allow-Headers %q lacks %s", hdrs, want)
				}
			}
			if h.Get("Access-Control-Allow-Credentials") != "" {
				t.Errorf("credentials allowed: %q", h.Get("Access-Control-Allow-Credentials"))
			}
			if h.Get("Access-Control-Max-Age") == "" {
				t.Error("no Max-Age: browsers would preflight every request")
			}
		})
		t.Run("a request from an allowed origin", func(t *testing.T) {
			r := s.post(t, u.token, `{ viewer { id } }`, nil, withHeader("Origin", app1))
			if r.Status != http.StatusOK || r.Header.Get("Access-Control-Allow-Origin") != app1 {
				t.Errorf("status %d, Allow-Origin %q", r.Status, r.Header.Get("Access-Control-Allow-Origin"))
			}
			if !strings.Contains(r.Header.Get("Access-Control-Expose-Headers"), "X-Request-Id") {
				t.Errorf("Expose-Headers %q", r.Header.Get("Access-Control-Expose-Headers"))
			}
			if !strings.Contains(strings.Join(r.Header.Values("Vary"), ","), "Origin") {
				t.Errorf("Vary %q does not name Origin", r.Header.Values("Vary"))
			}
		})
		for _, origin := range []string{"https://evil.example.com", "https://app.example.com.evil.example", "http://app.example.com", "null"} {
			t.Run("refused origin "+origin, func(t *testing.T) {
				if res := preflight(origin); res.Header.Get("Access-Control-Allow-Origin") != "" {
					t.Errorf("preflight from %s allowed", origin)
				}
				r := s.post(t, u.token, `{ viewer { id } }`, nil, withHeader("Origin", origin))
				if r.Header.Get("Access-Control-Allow-Origin") != "" {
					t.Errorf("request from %s allowed", origin)
				}
			})
		}
		t.Run("no origins configured: same origin only", func(t *testing.T) {
			plain := newServer(t, db, nil)
			req, _ := http.NewRequest(http.MethodOptions, plain.srv.URL+"/graphql", nil)
			req.Header.Set("Origin", app1)
			req.Header.Set("Access-Control-Request-Method", "POST")
			res, _ := rawDo(t, req)
			if res.Header.Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("preflight allowed without AUDITLOG_CORS_ORIGINS")
			}
		})
	})
}

func TestEdgeCompression(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		f := newDLFixtureSmall(t, db)
		s := f.s
		page := fmt.Sprintf(`{"query":"query($w: ID!) { auditLog(workspaceId: $w, first: 100) { edges { node { %s } } } }","variables":{"w":%q}}`, eventFields, f.ws)
		post := func(enc string) (*http.Response, []byte) {
			req, _ := http.NewRequest(http.MethodPost, s.srv.URL+"/graphql", strings.NewReader(page))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+f.admin.token)
			if enc != "" {
				req.Header.Set("Accept-Encoding", enc)
			}
			return rawDo(t, req)
		}
		plainRes, plain := post("")
		if plainRes.Header.Get("Content-Encoding") != "" || !strings.Contains(string(plain), "edges") {
			t.Fatalf("uncompressed page: %q, %.200s", plainRes.Header.Get("Content-Encoding"), plain)
		}
		gzRes, gz := post("gzip")
		if gzRes.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("Content-Encoding %q for a client that accepts gzip", gzRes.Header.Get("Content-Encoding"))
		}
		if !strings.Contains(strings.Join(gzRes.Header.Values("Vary"), ","), "Accept-Encoding") {
			t.Errorf("Vary %q does not name Accept-Encoding", gzRes.Header.Values("Vary"))
		}
		if got := gunzip(t, gz); !bytes.Equal(got, plain) {
			t.Errorf("the gzipped page differs from the plain one")
		}
		t.Logf("a page of 100 events: %d bytes, %d gzipped", len(plain), len(gz))
		if len(gz)*3 > len(plain) {
			t.Errorf("gzip made %d bytes of %d", len(gz), len(plain))
		}
		if res, _ := post("gzip;q=0, identity"); res.Header.Get("Content-Encoding") != "" {
			t.Errorf("compressed although gzip;q=0")
		}
		// Small answers are not worth compressing.
		req, _ := http.NewRequest(http.MethodPost, s.srv.URL+"/graphql", strings.NewReader(`{"query":"{ viewer { id } }"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+f.admin.token)
		req.Header.Set("Accept-Encoding", "gzip")
		if res, _ := rawDo(t, req); res.Header.Get("Content-Encoding") != "" {
			t.Errorf("a tiny answer was compressed")
		}

		t.Run("export downloads", func(t *testing.T) {
			path := f.exportURL(t)
			get := func(enc string) (*http.Response, []byte) {
				req, _ := http.NewRequest(http.MethodGet, s.srv.URL+path, nil)
				if enc != "" {
					req.Header.Set("Accept-Encoding", enc)
				}
				return rawDo(t, req)
			}
			pr, plain := get("")
			gr, gz := get("gzip")
			if pr.StatusCode != 200 || gr.StatusCode != 200 || gr.Header.Get("Content-Encoding") != "gzip" {
				t.Fatalf("statuses %d, %d; Content-Encoding %q", pr.StatusCode, gr.StatusCode, gr.Header.Get("Content-Encoding"))
			}
			if got := gunzip(t, gz); !bytes.Equal(got, plain) {
				t.Errorf("the gzipped file (%d bytes unpacked) differs from the plain one (%d)", len(got), len(plain))
			}
			if gr.Header.Get("Content-Disposition") == "" || gr.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("headers lost: %v", gr.Header)
			}
			t.Logf("an export of %d events: %d bytes, %d gzipped", dlSmallEvents, len(plain), len(gz))
		})
	})
}

func gunzip(t testing.TB, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

const dlSmallEvents = 2000

// newDLFixtureSmall is a server with a BUSINESS workspace of 2,000 events.
func newDLFixtureSmall(t *testing.T, db testenv.DB) *dlFixture {
	t.Helper()
	return newDLFixtureN(t, db, nil, app.Options{}, dlSmallEvents)
}

// TestEdgeCheapRefusalsComeFirst: the per-address limit is taken before the
// body is read and the token verified (issue 14, finding 11), the per-user
// limit before the body, and bad tokens before the body too.
func TestEdgeCheapRefusalsComeFirst(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, map[string]string{"AUDITLOG_RATE_LIMIT_RPS": "1", "AUDITLOG_TRUSTED_PROXIES": "127.0.0.1/32"})
		// send writes a request whose body has begun and never ends, on a
		// raw connection: a server that read the body before refusing would
		// never answer.
		send := func(addr, token string, body io.Reader) *response {
			if body != nil {
				return s.post(t, token, `{ __typename }`, nil, hFromAddr(addr))
			}
			conn, err := net.Dial("tcp", s.srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			head := "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n" +
				"X-Forwarded-For: " + addr + "\r\n"
			if token != "" {
				head += "Authorization: Bearer " + token + "\r\n"
			}
			if _, err := io.WriteString(conn, head+"\r\na\r\n{\"query\":\"\r\n"); err != nil {
				t.Fatal(err)
			}
			_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			res, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer while the body is still coming: %v", err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			r := &response{Status: res.StatusCode, Header: res.Header, Raw: string(b)}
			_ = json.Unmarshal(b, r)
			return r
		}
		endless := func() io.Reader { return nil }
		t.Run("anonymous, over the address's rate", func(t *testing.T) {
			for range 5 { // the burst
				send("203.0.113.50", "", strings.NewReader(""))
			}
			hWant429(t, send("203.0.113.50", "", endless()))
		})
		t.Run("a bad token, before its body", func(t *testing.T) {
			hWantError(t, send("203.0.113.51", "not-a-jwt", endless()), http.StatusUnauthorized, "UNAUTHENTICATED")
		})
		t.Run("a user over their rate, before the body", func(t *testing.T) {
			u := hFreshUser(t, s, "over")
			for range 5 {
				send("203.0.113.52", u.token, strings.NewReader(""))
			}
			hWant429(t, send("203.0.113.52", u.token, endless()))
		})
	})
}

// TestEdgeIPv6AddressesShareTheirSlash64: anonymous buckets are per IPv6
// /64 (one host can pick from a whole /64) and per IPv4 address.
func TestEdgeIPv6AddressesShareTheirSlash64(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, map[string]string{"AUDITLOG_RATE_LIMIT_RPS": "2", "AUDITLOG_TRUSTED_PROXIES": "127.0.0.1/32"})
		i := 0
		n, r := hUntilLimited(t, 20, func() *response {
			i++
			return s.post(t, "", `{ __typename }`, nil, hFromAddr(fmt.Sprintf("2001:db8:aa:bb::%x", i)))
		})
		if n != 10 || r == nil {
			t.Fatalf("%d requests from one /64, each from a new address, passed before a 429; want 10", n)
		}
		hWant429(t, r)
		if n, _ := hUntilLimited(t, 20, func() *response {
			return s.post(t, "", `{ __typename }`, nil, hFromAddr("2001:db8:aa:cc::1"))
		}); n != 10 {
			t.Errorf("another /64: %d passed, want its own 10", n)
		}
		if n, _ := hUntilLimited(t, 20, func() *response {
			return s.post(t, "", `{ __typename }`, nil, hFromAddr("203.0.113.20"))
		}); n != 10 {
			t.Errorf("an IPv4 address: %d passed, want 10", n)
		}
		if n, _ := hUntilLimited(t, 20, func() *response {
			return s.post(t, "", `{ __typename }`, nil, hFromAddr("203.0.113.21"))
		}); n != 10 {
			t.Errorf("the next IPv4 address: %d passed, want its own 10", n)
		}
	})
}

// TestEdgeMetricsLabelsAndListener: operation names reach /metrics only for
// requests that authenticated and validated; AUDITLOG_METRICS_ADDR moves
// /metrics off the main listener.
func TestEdgeMetricsLabelsAndListener(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, nil)
		u := s.newUser(t, "metrics")
		s.post(t, u.token, `query SignedInValid { viewer { id } }`, nil)
		s.post(t, "", `query AnonymousChosenName { viewer { id } }`, nil)
		s.post(t, u.token, `query SignedInInvalid { viewer { nope } }`, nil)
		for i := range 5 {
			s.post(t, "", fmt.Sprintf(`query Flood%d { __typename }`, i), nil)
		}
		_, _, m := get(t, s.srv.URL+"/metrics")
		if !strings.Contains(m, `auditlogd_graphql_operations_total{operation="SignedInValid"} 1`) {
			t.Errorf("the signed-in, valid operation is not counted by name")
		}
		for _, leaked := range []string{"AnonymousChosenName", "SignedInInvalid", "Flood"} {
			if strings.Contains(m, leaked) {
				t.Errorf("/metrics holds the client-chosen name %s", leaked)
			}
		}
		for _, want := range []string{`operation="unauthenticated"} 6`, `operation="rejected"} 1`} {
			if !strings.Contains(m, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}

		sep := newServer(t, db, map[string]string{"AUDITLOG_METRICS_ADDR": "127.0.0.1:0"})
		if code, _, _ := get(t, sep.srv.URL+"/metrics"); code != http.StatusNotFound {
			t.Errorf("/metrics on the main listener with AUDITLOG_METRICS_ADDR: %d, want 404", code)
		}
		ms := httptest.NewServer(sep.app.MetricsHandler)
		defer ms.Close()
		if code, _, body := get(t, ms.URL+"/metrics"); code != 200 || !strings.Contains(body, "auditlogd_http_requests_total") {
			t.Errorf("/metrics on its own listener: %d", code)
		}
		if code, _, _ := get(t, ms.URL+"/graphql"); code != http.StatusNotFound {
			t.Errorf("the metrics listener serves /graphql: %d", code)
		}
	})
}

// TestEdgePlayground: a CSP, no persisted headers, the off switch, and a
// folder of assets that must be the pinned release.
func TestEdgePlayground(t *testing.T) {
	t.Parallel()
	db := testenv.SQLite(t)
	s := newServer(t, db, nil)
	code, hdr, page := get(t, s.srv.URL+"/")
	if code != 200 || !strings.Contains(page, `id="playground-offline"`) {
		t.Fatalf("/: %d", code)
	}
	csp := hdr.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self' https://cdn.jsdelivr.net;", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(page, "<script>") || strings.Contains(page, "onerror=") {
		t.Error("the page has inline script, which its CSP forbids")
	}
	for _, a := range httpserver.PlaygroundAssets {
		if !strings.Contains(html.UnescapeString(page), a.Integrity) {
			t.Errorf("the page does not pin %s/%s by its hash", a.Package, a.Path)
		}
	}
	_, _, js := get(t, s.srv.URL+"/playground/playground.js")
	if !strings.Contains(js, "shouldPersistHeaders: false") || strings.Contains(js, "shouldPersistHeaders: true") {
		t.Error("the Playground keeps headers (bearer tokens) in localStorage")
	}

	off := newServer(t, db, map[string]string{"AUDITLOG_PLAYGROUND": "false"})
	for _, p := range []string{"/", "/playground/playground.js"} {
		if code, _, _ := get(t, off.srv.URL+p); code != http.StatusNotFound {
			t.Errorf("AUDITLOG_PLAYGROUND=false: %s answers %d", p, code)
		}
	}

	t.Run("assets that are not the pinned release stop the server", func(t *testing.T) {
		dir := t.TempDir()
		for _, a := range httpserver.PlaygroundAssets {
			p := filepath.Join(dir, a.Package, filepath.FromSlash(a.Path))
			_ = os.MkdirAll(filepath.Dir(p), 0o755)
			_ = os.WriteFile(p, []byte("not the release"), 0o644)
		}
		vars := map[string]string{"AUDITLOG_DATABASE_URL": testenv.SQLite(t).URL, "AUDITLOG_JWT_SECRET": testSecret, "AUDITLOG_PLAYGROUND_ASSETS": dir}
		cfg, err := config.Load(func(k string) string { return vars[k] })
		if err != nil {
			t.Fatal(err)
		}
		a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), app.Options{})
		if err == nil {
			a.Close()
			t.Fatal("the server started with the wrong assets")
		}
		if !strings.Contains(err.Error(), "AUDITLOG_PLAYGROUND_ASSETS") || !strings.Contains(err.Error(), "npm install") {
			t.Errorf("the error does not name the variable and the fix: %v", err)
		}
	})
}
