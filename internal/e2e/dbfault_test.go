package e2e

import (
	"database/sql"
	"net/http"
	"strings"
	"testing"
	"time"

	_ "github.com/glebarez/go-sqlite"

	"github.com/auditlogd/auditlogd/internal/testenv"
)

// openSQL opens the test's database directly, to check state and to break
// things underneath the server.
func openSQL(t testing.TB, db testenv.DB) *sql.DB {
	t.Helper()
	driver, dsn := "mysql", strings.TrimPrefix(db.URL, "mysql://")
	if db.Dialect == "sqlite" {
		driver, dsn = "sqlite", strings.TrimPrefix(db.URL, "sqlite://")+"?_pragma=busy_timeout(10000)"
	}
	conn, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func (s *server) readyz(t testing.TB) int {
	t.Helper()
	res, err := http.Get(s.srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// waitReady polls /readyz until it answers want.
func (s *server) waitReady(t testing.TB, want int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for s.readyz(t) != want {
		if time.Now().After(deadline) {
			t.Fatalf("/readyz did not answer %d within %s", want, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// leaky reports whether an error message says something of the database's
// internals.
func leaky(msg string) bool {
	m := strings.ToLower(msg)
	for _, w := range []string{"sql", "select", "insert", "mysql", "mariadb", "dial", "unix", "socket", "connection refused", "gorm", ".go:", "goroutine"} {
		if strings.Contains(m, w) {
			return true
		}
	}
	return false
}

// TestDatabaseCrashAndRecovery kills the server's MariaDB with SIGKILL while
// writers and readers are busy, and restarts it: /readyz answers 503 while it
// is down and 200 again after, without restarting auditlogd; errors in
// between reveal nothing of SQL; no request panics; work resumes; and the log
// and the state still agree exactly (no change without its event, no event
// without its change).
func TestDatabaseCrashAndRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts its own MariaDB server")
	}
	m := startMariaDB(t)
	db := testenv.DB{Dialect: "mysql", URL: "mysql://" + m.dsn("auditlog")}
	s := newServer(t, db, map[string]string{"AUDITLOG_DB_QUERY_TIMEOUT": "3s"})
	w := newWorkload(t, s, 4)
	stop := w.run(2)
	time.Sleep(time.Second)

	m.kill()
	s.waitReady(t, http.StatusServiceUnavailable, 10*time.Second)
	down := s.post(t, w.admin.token, `mutation($w: ID!) { createInviteLink(input: {workspaceId: $w, kind: PUBLIC}) { token } }`,
		map[string]any{"w": w.spaces[0].id})
	if down.Status == http.StatusOK && len(down.Errors) == 0 {
		t.Fatalf("a mutation succeeded while the database was down: %s", down.Raw)
	}
	if len(down.Errors) == 0 || leaky(down.Errors[0].Message) {
		t.Errorf("error while the database is down: %s", down.Raw)
	}
	if c := down.code(); c != "INTERNAL" {
		t.Errorf("error code while the database is down: %q, want INTERNAL", c)
	}
	time.Sleep(500 * time.Millisecond)

	before := w.mutations()
	m.start()
	s.waitReady(t, http.StatusOK, 30*time.Second)
	time.Sleep(2 * time.Second)
	stop()

	if after := w.mutations(); after <= before {
		t.Errorf("no mutation succeeded after the database came back (%d before, %d after)", before, after)
	}
	w.mu.Lock()
	for status := range w.statuses {
		if status != http.StatusOK && status != http.StatusServiceUnavailable {
			t.Errorf("HTTP %d seen (%d times); want only 200, or 503 while the database is down", status, w.statuses[status])
		}
	}
	for code := range w.codes {
		if code != "INTERNAL" {
			t.Errorf("error code %q seen %d times; want only INTERNAL while the database is down", code, w.codes[code])
		}
	}
	for _, msg := range w.messages {
		if leaky(msg) {
			t.Errorf("an error message reveals internals: %q", msg)
		}
	}
	w.mu.Unlock()
	if strings.Contains(s.logs.String(), `"msg":"panic"`) {
		t.Error("a request panicked")
	}
	conn := m.open("auditlog")
	defer conn.Close()
	n := checkLogMatchesState(t, conn, w.ids())
	t.Logf("%d mutations succeeded, %d events checked against the state", w.mutations(), n)
}

// TestMutationWithoutItsEventRollsBack breaks the event table underneath the
// server: the mutation must fail as INTERNAL and leave no change behind.
func TestMutationWithoutItsEventRollsBack(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		s := newServer(t, db, nil)
		admin := s.newUser(t, "admin")
		ws := s.newWorkspace(t, admin, "BUSINESS")
		bob := s.newUser(t, "bob")
		conn := openSQL(t, db)
		if _, err := conn.Exec("ALTER TABLE audit_events RENAME TO audit_events_away"); err != nil {
			t.Fatal(err)
		}
		r := s.post(t, admin.token, `mutation($w: ID!, $e: String!) { addMember(input: {workspaceId: $w, email: $e}) { role } }`,
			map[string]any{"w": ws, "e": bob.email})
		if r.code() != "INTERNAL" || leaky(r.Errors[0].Message) {
			t.Errorf("addMember without an event table: %s", r.Raw)
		}
		if _, err := conn.Exec("ALTER TABLE audit_events_away RENAME TO audit_events"); err != nil {
			t.Fatal(err)
		}
		var members struct {
			Workspace struct {
				Members []struct{ User struct{ ID string } }
			}
		}
		s.ok(t, admin.token, `query($w: ID!) { workspace(id: $w) { members { user { id } } } }`, map[string]any{"w": ws}, &members)
		for _, m := range members.Workspace.Members {
			if m.User.ID == bob.id {
				t.Fatal("bob became a member although the event could not be written")
			}
		}
		checkLogMatchesState(t, conn, []string{ws})
	})
}
