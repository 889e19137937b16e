package e2e

import (
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
)

// mariadb is a MariaDB server that a test owns: its own data directory and
// socket, started with mariadb-install-db and mariadbd, and killed and
// restarted at will.
type mariadb struct {
	t       testing.TB
	dir     string
	cmd     *exec.Cmd
	stopped chan struct{}
}

// startMariaDB installs and starts a private MariaDB server. It skips the
// test when the binaries are missing, unless CI is set.
func startMariaDB(t testing.TB) *mariadb {
	t.Helper()
	for _, bin := range []string{"mariadb-install-db", "mariadbd"} {
		if _, err := exec.LookPath(bin); err != nil {
			if _, err := os.Stat("/usr/sbin/" + bin); err != nil {
				if os.Getenv("CI") != "" {
					t.Fatalf("%s is not installed", bin)
				}
				t.Skipf("%s is not installed; this test needs a MariaDB server of its own", bin)
			}
		}
	}
	// A short path: unix socket paths are limited to about 100 bytes.
	dir, err := os.MkdirTemp("", "alt-mdb-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	m := &mariadb{t: t, dir: dir}
	install := exec.Command("mariadb-install-db", "--no-defaults", "--user=root", "--datadir="+m.dataDir(),
		"--auth-root-authentication-method=normal", "--skip-test-db")
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}
	m.start()
	t.Cleanup(m.kill)
	db := m.open("")
	defer db.Close()
	if _, err := db.Exec("CREATE DATABASE auditlog CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		t.Fatal(err)
	}
	return m
}

func (m *mariadb) dataDir() string { return filepath.Join(m.dir, "data") }
func (m *mariadb) socket() string  { return filepath.Join(m.dir, "s.sock") }

// dsn is the go-sql-driver DSN of database name on this server.
func (m *mariadb) dsn(name string) string { return "root@unix(" + m.socket() + ")/" + name }

func (m *mariadb) open(name string) *sql.DB {
	db, err := sql.Open("mysql", m.dsn(name))
	if err != nil {
		m.t.Fatal(err)
	}
	return db
}

// start runs mariadbd and waits until it answers.
func (m *mariadb) start() {
	m.t.Helper()
	m.cmd = exec.Command("mariadbd", "--no-defaults", "--user=root", "--datadir="+m.dataDir(), "--socket="+m.socket(),
		"--skip-networking", "--innodb-buffer-pool-size=64M", "--innodb-log-file-size=32M", "--log-error="+filepath.Join(m.dir, "error.log"))
	if err := m.cmd.Start(); err != nil {
		m.t.Fatalf("mariadbd: %v", err)
	}
	m.stopped = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) {
		_ = c.Wait()
		close(done)
	}(m.cmd, m.stopped)
	db := m.open("")
	defer db.Close()
	deadline := time.Now().Add(60 * time.Second)
	for db.Ping() != nil {
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(m.dir, "error.log"))
			m.t.Fatalf("mariadbd did not come up:\n%s", log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kill stops the server with SIGKILL, as a crash would, and waits for it to
// be gone.
func (m *mariadb) kill() {
	if m.cmd == nil || m.cmd.Process == nil {
		return
	}
	_ = m.cmd.Process.Signal(syscall.SIGKILL)
	<-m.stopped
	m.cmd = nil
}
