package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/auditlogd/auditlogd/internal/app"
	"github.com/auditlogd/auditlogd/internal/auth"
	"github.com/auditlogd/auditlogd/internal/config"
	"github.com/auditlogd/auditlogd/internal/testenv"
)

const testSecret = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"

// server is a running auditlogd on a fresh database.
type server struct {
	t     testing.TB
	db    testenv.DB
	app   *app.App
	srv   *httptest.Server
	clock *testenv.Clock
	logs  *testenv.LogBuffer
}

// newServer starts auditlogd on db with the given extra environment.
func newServer(t testing.TB, db testenv.DB, env map[string]string) *server {
	t.Helper()
	return newServerWith(t, db, env, app.Options{})
}

// newServerWith is newServer with app options (the clock is always the
// test's).
func newServerWith(t testing.TB, db testenv.DB, env map[string]string, opts app.Options) *server {
	t.Helper()
	vars := map[string]string{
		"AUDITLOG_DATABASE_URL":   db.URL,
		"AUDITLOG_JWT_SECRET":     testSecret,
		"AUDITLOG_EXPORT_SECRET":  "export-secret-0123456789-abcdefghijklmnopqrstuvwxyz",
		"AUDITLOG_RATE_LIMIT_RPS": "0",
		// The tests' tokens stand for users of an identity provider that
		// verifies emails; the tests of the default (false) set it back.
		"AUDITLOG_JWT_EMAIL_VERIFIED_DEFAULT": "true",
		// Tests create many workspaces per admin; the limit has its own test.
		"AUDITLOG_WORKSPACES_PER_USER_PER_DAY": "1000000",
	}
	for k, v := range env {
		vars[k] = v
	}
	s := &server{t: t, db: db, clock: &testenv.Clock{}, logs: &testenv.LogBuffer{}}
	s.srv = httptest.NewUnstartedServer(nil)
	if _, ok := env["AUDITLOG_PUBLIC_URL"]; !ok {
		vars["AUDITLOG_PUBLIC_URL"] = "http://" + s.srv.Listener.Addr().String()
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	log := slog.New(slog.NewJSONHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts.Now = s.clock.Now
	a, err := app.New(context.Background(), cfg, log, opts)
	if err != nil {
		t.Fatalf("app: %v", err)
	}
	s.app = a
	s.srv.Config.Handler = a.Handler
	s.srv.Start()
	t.Cleanup(func() {
		s.srv.Close()
		a.Close()
	})
	return s
}

// user is a person with a token.
type user struct {
	id    string
	email string
	token string
}

var userSeq atomic.Int64

// newUser makes a user with a unique id and email and signs them in once, so
// that the service knows them.
func (s *server) newUser(t testing.TB, name string) user {
	t.Helper()
	n := userSeq.Add(1)
	u := user{id: fmt.Sprintf("user-%s-%d", name, n), email: fmt.Sprintf("%s.%d@example.com", name, n)}
	u.token = s.sign(t, auth.Claims{Subject: u.id, Email: u.email, Name: name})
	s.ok(t, u.token, `{ viewer { id } }`, nil)
	return u
}

func (s *server) sign(t testing.TB, c auth.Claims) string {
	t.Helper()
	tok, err := s.app.Verifier.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// billingToken is a service token allowed to set plans.
func (s *server) billingToken(t testing.TB) string {
	return s.sign(t, auth.Claims{Subject: "billing-service", Scope: "billing:write"})
}

// response is a GraphQL response as a client sees it.
type response struct {
	Status int
	Header http.Header
	Data   json.RawMessage `json:"data"`
	Errors []gqlError      `json:"errors"`
	Raw    string
}

type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// code returns the code of the first error, or "".
func (r *response) code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

type reqOpt func(*http.Request)

func withHeader(k, v string) reqOpt { return func(r *http.Request) { r.Header.Set(k, v) } }

// post sends a GraphQL request over HTTP.
func (s *server) post(t testing.TB, token, query string, vars map[string]any, opts ...reqOpt) *response {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, s.srv.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for _, o := range opts {
		o(req)
	}
	return s.send(t, req)
}

func (s *server) send(t testing.TB, req *http.Request) *response {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	r := &response{Status: res.StatusCode, Header: res.Header, Raw: string(b)}
	if len(b) > 0 && strings.HasPrefix(strings.TrimSpace(string(b)), "{") {
		if err := json.Unmarshal(b, r); err != nil {
			t.Fatalf("response is not JSON: %v: %s", err, b)
		}
	}
	return r
}

// ok sends a request that must succeed and decodes its data into out (if not nil).
func (s *server) ok(t testing.TB, token, query string, vars map[string]any, out ...any) *response {
	t.Helper()
	r := s.post(t, token, query, vars)
	if r.Status != http.StatusOK || len(r.Errors) > 0 {
		t.Fatalf("request failed: status %d: %s\nquery: %s", r.Status, r.Raw, query)
	}
	if len(out) > 0 {
		if err := json.Unmarshal(r.Data, out[0]); err != nil {
			t.Fatalf("decode data: %v: %s", err, r.Data)
		}
	}
	return r
}

// fails sends a request that must fail with code, and returns the response.
func (s *server) fails(t testing.TB, token, query string, vars map[string]any, code string) *response {
	t.Helper()
	r := s.post(t, token, query, vars)
	if r.code() != code {
		t.Fatalf("want error %s, got status %d: %s\nquery: %s", code, r.Status, r.Raw, query)
	}
	return r
}

// newWorkspace creates a workspace with admin as its admin and sets its plan.
func (s *server) newWorkspace(t testing.TB, admin user, plan string) string {
	t.Helper()
	var out struct{ CreateWorkspace struct{ ID string } }
	s.ok(t, admin.token, `mutation($n: String!) { createWorkspace(input: {name: $n}) { id } }`, map[string]any{"n": "WS " + admin.id}, &out)
	if plan != "FREE" {
		s.ok(t, s.billingToken(t), `mutation($w: ID!, $p: Plan!) { setWorkspacePlan(workspaceId: $w, plan: $p) { id } }`,
			map[string]any{"w": out.CreateWorkspace.ID, "p": plan})
	}
	return out.CreateWorkspace.ID
}

// addMember adds u to the workspace with role, as admin.
func (s *server) addMember(t testing.TB, admin user, ws string, u user, role string) {
	t.Helper()
	s.ok(t, admin.token, `mutation($w: ID!, $e: String!, $r: Role) { addMember(input: {workspaceId: $w, email: $e, role: $r}) { role } }`,
		map[string]any{"w": ws, "e": u.email, "r": role})
}

// event is an AuditEvent as the API returns it.
type event struct {
	ID         string `json:"id"`
	Action     string `json:"action"`
	OccurredAt string `json:"occurredAt"`
	Actor      struct {
		ID    string  `json:"id"`
		Email *string `json:"email"`
		Type  string  `json:"type"`
	} `json:"actor"`
	Target *struct {
		Type  string  `json:"type"`
		ID    string  `json:"id"`
		Label *string `json:"label"`
	} `json:"target"`
	PreviousRole *string `json:"previousRole"`
	Role         *string `json:"role"`
	IPAddress    *string `json:"ipAddress"`
	UserAgent    *string `json:"userAgent"`
	RequestID    *string `json:"requestId"`
	// Flags are the event's flags (docs/API.md §14), in the enum's order.
	Flags []string `json:"flags"`
}

const eventFields = `id action occurredAt actor { id email type } target { type id label } previousRole role ipAddress userAgent requestId flags`

// connection is an AuditEventConnection as the API returns it.
type connection struct {
	Edges []struct {
		Cursor string `json:"cursor"`
		Node   event  `json:"node"`
	} `json:"edges"`
	Nodes    []event `json:"nodes"`
	PageInfo struct {
		HasNextPage     bool    `json:"hasNextPage"`
		HasPreviousPage bool    `json:"hasPreviousPage"`
		StartCursor     *string `json:"startCursor"`
		EndCursor       *string `json:"endCursor"`
	} `json:"pageInfo"`
	TotalCount int `json:"totalCount"`
}

const auditLogQuery = `query($w: ID!, $first: Int, $after: String, $last: Int, $before: String, $filter: AuditLogFilter, $order: AuditLogOrder) {
  auditLog(workspaceId: $w, first: $first, after: $after, last: $last, before: $before, filter: $filter, orderBy: $order) {
    edges { cursor node { ` + eventFields + ` } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}`

// auditLog reads one page of the log; vars may set first, after, last,
// before, filter and order.
func (s *server) auditLog(t testing.TB, token, ws string, vars map[string]any) connection {
	t.Helper()
	v := map[string]any{"w": ws}
	for k, x := range vars {
		v[k] = x
	}
	var out struct{ AuditLog connection }
	s.ok(t, token, auditLogQuery, v, &out)
	return out.AuditLog
}

// allEvents pages through the whole log (newest first) and returns it.
func (s *server) allEvents(t testing.TB, token, ws string, filter map[string]any) []event {
	t.Helper()
	var all []event
	vars := map[string]any{"first": 100}
	if filter != nil {
		vars["filter"] = filter
	}
	for {
		c := s.auditLog(t, token, ws, vars)
		for _, e := range c.Edges {
			all = append(all, e.Node)
		}
		if !c.PageInfo.HasNextPage {
			return all
		}
		vars["after"] = *c.PageInfo.EndCursor
	}
}

func ptr[T any](v T) *T { return &v }

func deref(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}
