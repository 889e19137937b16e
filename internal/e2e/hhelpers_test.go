package e2e

import (
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// Helpers of the hardening tests (abuse, JWT, rate limits).

// hRequest sends a raw HTTP request to the server; body may be nil.
func hRequest(t testing.TB, s *server, method, path, contentType string, body io.Reader, opts ...reqOpt) *response {
	t.Helper()
	req, err := http.NewRequest(method, s.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for _, o := range opts {
		o(req)
	}
	return s.send(t, req)
}

// hGet runs a GraphQL operation over GET.
func hGet(t testing.TB, s *server, token, query string, vars map[string]any, opts ...reqOpt) *response {
	t.Helper()
	q := url.Values{"query": {query}}
	if vars != nil {
		b, _ := json.Marshal(vars)
		q.Set("variables", string(b))
	}
	if token != "" {
		opts = append(opts, withHeader("Authorization", "Bearer "+token))
	}
	return hRequest(t, s, http.MethodGet, "/graphql?"+q.Encode(), "", nil, opts...)
}

// hPool is a connection to the server's database, for counting rows.
func hPool(s *server) *sql.DB {
	p := s.app.DB.Pools()
	if w, ok := p["write"]; ok {
		return w
	}
	return p["main"]
}

// hCount counts the rows of table (a fixed name chosen by the test).
func hCount(t testing.TB, s *server, table string) int {
	t.Helper()
	var n int
	if err := hPool(s).QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// hWantError checks the status and that the body is GraphQL-shaped: no
// data, at least one error, every error with a message and an
// extensions.code, the first one code.
func hWantError(t testing.TB, r *response, status int, code string) {
	t.Helper()
	if r.Status != status {
		t.Errorf("status %d, want %d: %s", r.Status, status, r.Raw)
	}
	hAllCoded(t, r)
	if got := r.code(); got != code {
		t.Errorf("code %q, want %q: %s", got, code, r.Raw)
	}
}

// hAllCoded checks that the body holds errors and that each one has a
// message and a string extensions.code.
func hAllCoded(t testing.TB, r *response) {
	t.Helper()
	var body struct {
		Errors []struct {
			Message    string         `json:"message"`
			Extensions map[string]any `json:"extensions"`
		} `json:"errors"`
	}
	if err := json.Unmarshal([]byte(r.Raw), &body); err != nil {
		t.Errorf("body is not a JSON object: %v: %.500q", err, r.Raw)
		return
	}
	if len(body.Errors) == 0 {
		t.Errorf("no errors in the body: %.500s", r.Raw)
	}
	for i, e := range body.Errors {
		if e.Message == "" {
			t.Errorf("error %d has no message: %.500s", i, r.Raw)
		}
		if c, ok := e.Extensions["code"].(string); !ok || c == "" {
			t.Errorf("error %d has no extensions.code: %.500s", i, r.Raw)
		}
	}
}

// hRetryAfter returns the Retry-After header as whole seconds, failing the
// test unless it is an integer of at least 1.
func hRetryAfter(t testing.TB, r *response) int {
	t.Helper()
	v := r.Header.Get("Retry-After")
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Errorf("Retry-After %q, want a whole number of seconds >= 1", v)
	}
	return n
}

// hNoSuggestion fails if any error message suggests a name.
func hNoSuggestion(t testing.TB, r *response) {
	t.Helper()
	if strings.Contains(strings.ToLower(r.Raw), "did you mean") {
		t.Errorf("an error suggests names although introspection is off: %s", r.Raw)
	}
}

// hFromAddr makes a request come from addr through a trusted proxy (the
// server must trust 127.0.0.1 in AUDITLOG_TRUSTED_PROXIES).
func hFromAddr(addr string) reqOpt { return withHeader("X-Forwarded-For", addr) }
