package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/auditlogd/auditlogd/internal/testenv"
)

func get(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(b)
}

// TestHTTPSurface covers the endpoints around the API: health, readiness,
// the Playground, request ids, and the metrics of requests, operations,
// error codes and the database pool.
func TestHTTPSurface(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, nil)
		if code, _, body := get(t, s.srv.URL+"/healthz"); code != 200 || !strings.Contains(body, "ok") {
			t.Errorf("/healthz: %d %s", code, body)
		}
		if code := s.readyz(t); code != 200 {
			t.Errorf("/readyz: %d", code)
		}
		code, hdr, body := get(t, s.srv.URL+"/")
		if code != 200 || !strings.Contains(hdr.Get("Content-Type"), "text/html") || !strings.Contains(body, "/graphql") {
			t.Errorf("Playground: %d %s", code, hdr.Get("Content-Type"))
		}
		if id := hdr.Get("X-Request-Id"); len(id) != 26 {
			t.Errorf("X-Request-Id %q", id)
		}

		admin := s.newUser(t, "admin")
		ws := s.newWorkspace(t, admin, "FREE")
		s.post(t, admin.token, `query NamedRead($w: ID!) { auditLog(workspaceId: $w) { totalCount } }`, map[string]any{"w": ws}) // BUSINESS_PLAN_REQUIRED
		s.post(t, "", `query Anonymous { viewer { id } }`, nil)                                                                  // UNAUTHENTICATED
		s.post(t, admin.token, `query { viewer { id } }`, nil, withHeader("X-Request-Id", "client-chosen"))

		_, _, metrics := get(t, s.srv.URL+"/metrics")
		for _, want := range []string{
			`auditlogd_graphql_operations_total{operation="NamedRead"} 1`,
			`auditlogd_graphql_operation_duration_seconds_count{operation="NamedRead"} 1`,
			`auditlogd_errors_total{code="BUSINESS_PLAN_REQUIRED"} 1`,
			`auditlogd_errors_total{code="UNAUTHENTICATED"} 1`,
			`auditlogd_http_requests_total{method="POST",route="/graphql",status="OK"}`,
			`auditlogd_http_request_duration_seconds_count{route="/graphql"}`,
			`go_sql_max_open_connections{db_name=`,
			`go_goroutines`,
		} {
			if !strings.Contains(metrics, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		if strings.Contains(metrics, "client-chosen") {
			t.Error("a client's X-Request-Id reached the metrics")
		}
	})
}
