package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/auditlogd/auditlogd/internal/app"
	"github.com/auditlogd/auditlogd/internal/testenv"
)

// Real clients against a real server (issue 10): the graphql-http audit of
// the GraphQL-over-HTTP specification, and Apollo Client. They are
// JavaScript, in internal/e2e/clients with its own package-lock.json; .ci/run
// installs them with `npm ci`. Without node or the installed packages these
// tests skip, unless CI is set, when they fail.

// clientsDir is the folder of the JavaScript client tests, once its
// packages are installed.
func clientsDir(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs("clients")
	if err != nil {
		t.Fatal(err)
	}
	missing := ""
	if _, err := exec.LookPath("node"); err != nil {
		missing = "node is not installed"
	} else if _, err := os.Stat(filepath.Join(dir, "node_modules", "graphql-http")); err != nil {
		missing = "the client packages are not installed (cd internal/e2e/clients && npm ci)"
	}
	if missing != "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s; CI must run the client tests", missing)
		}
		t.Skipf("%s; skipping the real-client tests", missing)
	}
	return dir
}

// runNode runs node with args in the clients folder and the given
// environment, and returns its output; a non-zero exit fails the test with
// the output.
func runNode(t testing.TB, dir string, env map[string]string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", args...)
	cmd.Dir = dir
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestClientsGraphQLHTTPAudit runs graphql-http's auditServer: no errors
// and no warnings (notices are for MAYs).
func TestClientsGraphQLHTTPAudit(t *testing.T) {
	t.Parallel()
	dir := clientsDir(t)
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, nil)
		out := runNode(t, dir, map[string]string{"AUDITLOG_GRAPHQL_URL": s.srv.URL + "/graphql"}, "audit.mjs")
		t.Log(out)
		if !strings.Contains(out, " 0 warnings, 0 errors") {
			t.Errorf("the audit found warnings or errors:\n%s", out)
		}
	})
}

// TestClientsApollo runs Apollo Client: a query, a paged auditLog, a
// mutation with variables, a validation error as a GraphQL error, and
// persisted queries over POST and GET.
func TestClientsApollo(t *testing.T) {
	t.Parallel()
	dir := clientsDir(t)
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		f := newDLFixtureN(t, db, nil, app.Options{}, 40)
		out := runNode(t, dir, map[string]string{
			"AUDITLOG_GRAPHQL_URL": f.s.srv.URL + "/graphql",
			"AUDITLOG_TOKEN":       f.admin.token,
			"AUDITLOG_WORKSPACE":   f.ws,
		}, "--test", "--test-reporter=spec", "apollo.test.mjs")
		t.Log(out)
	})
}

// TestClientsIntrospectionQueryIsCurrent: the standard introspection query
// the Go tests send (testdata) is the one the installed graphql-js makes, so
// that upgrading graphql-js re-checks the introspection limits.
func TestClientsIntrospectionQueryIsCurrent(t *testing.T) {
	dir := clientsDir(t)
	out := runNode(t, dir, nil, "introspection-query.mjs")
	if out != standardIntrospectionQuery {
		t.Errorf("testdata/introspection-query.graphql is not the installed graphql-js' query; regenerate it:\n  cd internal/e2e/clients && node introspection-query.mjs > ../testdata/introspection-query.graphql")
	}
}
