package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"regexp"
	"testing"

	"github.com/auditlogd/auditlogd/internal/app"
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
