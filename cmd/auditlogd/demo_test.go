package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"

	"github.com/auditlogd/auditlogd/internal/app"
	"github.com/auditlogd/auditlogd/internal/auth"
	"github.com/auditlogd/auditlogd/internal/config"
	"github.com/auditlogd/auditlogd/internal/demo"
	"github.com/auditlogd/auditlogd/internal/testenv"
)

// TestPrintDemoLinksTheAuditLogPage checks that serve --demo prints a link
// that opens the Audit Log page signed in as the demo admin.
func TestPrintDemoLinksTheAuditLogPage(t *testing.T) {
	vars := map[string]string{
		"AUDITLOG_DATABASE_URL": testenv.SQLite(t).URL,
		"AUDITLOG_JWT_SECRET":   "demo-test-secret-0123456789-abcdefghijklmnop",
		"AUDITLOG_PUBLIC_URL":   "https://audit.example.com",
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)), app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var out bytes.Buffer
	if err := printDemo(context.Background(), a, &out); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s+https://audit\.example\.com/audit-log#token=(\S+)$`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no Audit Log link in the demo output:\n%s", out.String())
	}
	p, err := a.Verifier.Verify(m[1])
	if err != nil {
		t.Fatalf("the link's token does not verify: %v", err)
	}
	if p.Subject != demo.Admin.Subject || p.Email != demo.Admin.Email {
		t.Errorf("the link signs in as %s <%s>, want the demo admin", p.Subject, p.Email)
	}
}

// TestPrintDemoOnRestartNamesTheDemoWorkspace: restarting serve --demo after
// the demo admin created another workspace (whose name sorts first) prints
// the demo workspace, with its real plan, and an example query that works;
// after the plan changes, the banner says so and its query still works.
func TestPrintDemoOnRestartNamesTheDemoWorkspace(t *testing.T) {
	testenv.ForEachDB(t, testPrintDemoOnRestart)
}

func testPrintDemoOnRestart(t *testing.T, db testenv.DB) {
	dbURL := db.URL
	open := func() *app.App {
		vars := map[string]string{
			"AUDITLOG_DATABASE_URL": dbURL,
			"AUDITLOG_JWT_SECRET":   "demo-test-secret-0123456789-abcdefghijklmnop",
		}
		cfg, err := config.Load(func(k string) string { return vars[k] })
		if err != nil {
			t.Fatal(err)
		}
		a, err := app.New(context.Background(), cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)), app.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		return a
	}
	banner := regexp.MustCompile(`auditlogd demo (is ready|was created by an earlier run): workspace "([^"]+)" \((\S+)\) on the (\S+) plan`)
	token := regexp.MustCompile(`(?m)^  Admin token for \S+ \(valid 24 hours\):\n\s+(\S+)$`)
	example := regexp.MustCompile(`(?m)^  Example query[^\n]*:\n\s+(.+)$`)
	run := func(a *app.App) (state, name, id, plan, tok, query string) {
		t.Helper()
		var out bytes.Buffer
		if err := printDemo(context.Background(), a, &out); err != nil {
			t.Fatal(err)
		}
		b, tk, q := banner.FindStringSubmatch(out.String()), token.FindStringSubmatch(out.String()), example.FindStringSubmatch(out.String())
		if b == nil || tk == nil || q == nil {
			t.Fatalf("the banner lacks a workspace, token or query:\n%s", out.String())
		}
		return b[1], b[2], b[3], b[4], tk[1], q[1]
	}
	gql := func(a *app.App, tok, query string, vars map[string]any) map[string]any {
		t.Helper()
		srv := httptest.NewServer(a.Handler)
		defer srv.Close()
		body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out struct {
			Data   map[string]any
			Errors []any
		}
		if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != 200 || len(out.Errors) > 0 {
			t.Fatalf("%s: status %d, errors %v (%v)", query, res.StatusCode, out.Errors, err)
		}
		return out.Data
	}

	a := open()
	state, name, demoID, plan, tok, _ := run(a)
	if state != "is ready" || name != demo.WorkspaceName || plan != "BUSINESS" {
		t.Fatalf("first run: %s, %q, %s", state, name, plan)
	}
	// The admin makes a workspace whose name sorts before the demo's.
	gql(a, tok, `mutation { createWorkspace(input: {name: "Acme"}) { id } }`, nil)
	a.Close()

	a = open()
	state, name, id, plan, tok, query := run(a)
	if state != "was created by an earlier run" || name != demo.WorkspaceName || id != demoID || plan != "BUSINESS" {
		t.Fatalf("restart: %s, %q (%s), %s; want the demo workspace %s on BUSINESS", state, name, id, plan, demoID)
	}
	if data := gql(a, tok, query, nil); data["auditLog"] == nil {
		t.Errorf("the example query %s answered %v", query, data)
	}

	// The billing system moves the demo to TEAMS: the banner says so, and its
	// query is one that works on TEAMS.
	billing, err := a.Verifier.Sign(auth.Claims{Subject: "billing", Scope: auth.ScopeBillingWrite})
	if err != nil {
		t.Fatal(err)
	}
	gql(a, billing, `mutation($w: ID!) { setWorkspacePlan(workspaceId: $w, plan: TEAMS) { id } }`, map[string]any{"w": demoID})
	_, name, id, plan, tok, query = run(a)
	if name != demo.WorkspaceName || id != demoID || plan != "TEAMS" {
		t.Fatalf("after the plan change: %q (%s) on %s", name, id, plan)
	}
	if data := gql(a, tok, query, nil); data["workspace"] == nil {
		t.Errorf("the example query %s answered %v", query, data)
	}
}
