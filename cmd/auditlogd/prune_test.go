package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/auditlogd/auditlogd/internal/app"
	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/auth"
	"github.com/auditlogd/auditlogd/internal/config"
	"github.com/auditlogd/auditlogd/internal/role"
	"github.com/auditlogd/auditlogd/internal/testenv"
	"github.com/auditlogd/auditlogd/internal/workspace"
)

const xSecret = "prune-test-secret-0123456789-abcdefghijklmnop"

// xEnv is a process environment as a map.
func xEnv(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// xOpen builds the service on the database with a fixed clock, as the
// server would have run at that time.
func xOpen(t *testing.T, getenv func(string) string, now time.Time) *app.App {
	t.Helper()
	cfg, err := config.Load(getenv)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)), app.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func xCountRows(t *testing.T, a *app.App, query string, args ...any) int {
	t.Helper()
	for _, p := range a.DB.Pools() {
		var n int
		if err := p.QueryRow(query, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		return n
	}
	t.Fatal("no pool")
	return 0
}

// xHistory makes, through the services, a BUSINESS workspace whose first
// events and export are three hours old and whose last event is new.
func xHistory(t *testing.T, getenv func(string) string, now time.Time) (oldEvents int) {
	t.Helper()
	ctx := context.Background()
	admin := &auth.Principal{Subject: "user-admin", Email: "admin@example.com", EmailVerified: true}
	member := &auth.Principal{Subject: "user-member", Email: "member@example.com", EmailVerified: true}
	billing := &auth.Principal{Subject: "billing", Scopes: []string{auth.ScopeBillingWrite}}

	past := xOpen(t, getenv, now.Add(-3*time.Hour))
	defer past.Close()
	for _, p := range []*auth.Principal{admin, member} {
		if err := past.Workspaces.EnsureUser(ctx, *p); err != nil {
			t.Fatal(err)
		}
	}
	ws, err := past.Workspaces.CreateWorkspace(ctx, admin, "Pruned")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := past.Workspaces.SetPlan(ctx, billing, ws.ID, workspace.PlanBusiness); err != nil {
		t.Fatal(err)
	}
	if _, err := past.Exporter.Create(ctx, admin, ws.ID, audit.CSV, audit.Filter{}); err != nil {
		t.Fatal(err)
	}
	oldEvents = xCountRows(t, past, "SELECT COUNT(*) FROM audit_events")

	current := xOpen(t, getenv, now)
	defer current.Close()
	if _, err := current.Workspaces.AddMember(ctx, admin, ws.ID, member.Email, role.Member); err != nil {
		t.Fatal(err)
	}
	if _, err := current.Exporter.Create(ctx, admin, ws.ID, audit.JSON, audit.Filter{}); err != nil {
		t.Fatal(err)
	}
	return oldEvents
}

// TestPruneCommandAppliesRetentionOnceAndPrintsJSON runs `auditlogd prune`
// on a database holding old and new events and exports.
func TestPruneCommandAppliesRetentionOnceAndPrintsJSON(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		getenv := xEnv(map[string]string{
			"AUDITLOG_DATABASE_URL":  db.URL,
			"AUDITLOG_JWT_SECRET":    xSecret,
			"AUDITLOG_EXPORT_SECRET": xSecret,
			"AUDITLOG_RETENTION":     "1h",
		})
		oldEvents := xHistory(t, getenv, time.Now())
		if oldEvents != 2 {
			t.Fatalf("the history has %d old events, want 2 (workspace created, log exported)", oldEvents)
		}

		type output struct {
			EventsDeleted  int64 `json:"events_deleted"`
			ExportsDeleted int64 `json:"exports_deleted"`
			Workspaces     int   `json:"workspaces"`
			DurationMs     int64 `json:"duration_ms"`
		}
		prune := func() (output, string) {
			t.Helper()
			var stdout, stderr bytes.Buffer
			if err := run(context.Background(), []string{"prune"}, getenv, &stdout, &stderr); err != nil {
				t.Fatalf("prune: %v\nstderr: %s", err, stderr.String())
			}
			lines := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
			if len(lines) != 1 || !strings.HasSuffix(stdout.String(), "\n") {
				t.Fatalf("stdout is not one line: %q", stdout.String())
			}
			var keys map[string]json.RawMessage
			if err := json.Unmarshal([]byte(lines[0]), &keys); err != nil {
				t.Fatalf("stdout is not a JSON object: %v: %s", err, lines[0])
			}
			var got []string
			for k := range keys {
				got = append(got, k)
			}
			if diff := cmp.Diff([]string{"duration_ms", "events_deleted", "exports_deleted", "workspaces"}, slices.Sorted(slices.Values(got))); diff != "" {
				t.Errorf("keys of the output line (-want +got):\n%s", diff)
			}
			var out output
			dec := json.NewDecoder(strings.NewReader(lines[0]))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&out); err != nil {
				t.Fatalf("decode %s: %v", lines[0], err)
			}
			if out.DurationMs < 0 {
				t.Errorf("duration_ms %d is negative", out.DurationMs)
			}
			return out, stderr.String()
		}

		first, logs := prune()
		if diff := cmp.Diff(output{EventsDeleted: 2, ExportsDeleted: 1, Workspaces: 1}, output{first.EventsDeleted, first.ExportsDeleted, first.Workspaces, 0}); diff != "" {
			t.Errorf("first run (-want +got):\n%s", diff)
		}
		if !strings.Contains(logs, `"msg":"retention: pruned"`) {
			t.Errorf("stderr has no JSON log line of the prune:\n%s", logs)
		}
		second, _ := prune()
		if diff := cmp.Diff(output{Workspaces: 1}, output{second.EventsDeleted, second.ExportsDeleted, second.Workspaces, 0}); diff != "" {
			t.Errorf("second run (-want +got):\n%s", diff)
		}

		a := xOpen(t, getenv, time.Now())
		defer a.Close()
		if n := xCountRows(t, a, "SELECT COUNT(*) FROM audit_events WHERE occurred_at < ?", time.Now().Add(-time.Hour).UnixMilli()); n != 0 {
			t.Errorf("%d old events are left", n)
		}
		if n := xCountRows(t, a, "SELECT COUNT(*) FROM audit_events"); n != 2 {
			t.Errorf("%d events are left, want the 2 new ones", n)
		}
		if n := xCountRows(t, a, "SELECT COUNT(*) FROM audit_exports"); n != 1 {
			t.Errorf("%d export records are left, want the live one", n)
		}
	})
}

// TestPruneCommandRefusesBadConfiguration checks that prune stops at once,
// naming the variable, and prints nothing on stdout.
func TestPruneCommandRefusesBadConfiguration(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		name     string
		vars     map[string]string
		variable string
	}{
		{"retention-not-a-duration", map[string]string{"AUDITLOG_RETENTION": "ninety days"}, "AUDITLOG_RETENTION"},
		{"database-url-unknown-scheme", map[string]string{"AUDITLOG_DATABASE_URL": "postgres://localhost/audit"}, "AUDITLOG_DATABASE_URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			vars := map[string]string{"AUDITLOG_DATABASE_URL": "sqlite://" + dir + "/" + tc.name + ".db", "AUDITLOG_JWT_SECRET": xSecret}
			for k, v := range tc.vars {
				vars[k] = v
			}
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), []string{"prune"}, xEnv(vars), &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tc.variable) {
				t.Errorf("prune: error %v, want one naming %s", err, tc.variable)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
		})
	}
}
