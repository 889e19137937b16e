// Package galera starts a private MariaDB Galera cluster on loopback for
// tests: N mariadbd processes from Debian's mariadb-server and galera-4
// packages, each with its own data directory, SQL port, group communication
// (gcomm) port, IST port and SST port. It exists so that tests can show what
// one MariaDB server cannot: that replicas talking to different nodes of a
// multi-primary cluster keep auditlogd's invariants, that certification
// conflicts are retried, and that a node killed mid-load rejoins with every
// committed row.
//
// The first node bootstraps the cluster (--wsrep-new-cluster); the others
// join through gcomm:// and receive a state snapshot (SST) from it. SST uses
// rsync, Debian's default, which works here as root on one condition: the
// nodes run as the mysql user, as the packaged service does, because rsync's
// daemon, started by root, switches to "nobody" and cannot write the data
// directory. (mariabackup SST works as root too, but its script sleeps ten
// seconds per transfer.) A node that was killed rejoins by incremental state
// transfer (IST) from the others' write-set caches: Restart first recovers
// the node's last committed position with --wsrep-recover, as the packaged
// galera_recovery does, since a killed node's grastate.dat says "unknown".
//
// Start skips the test with a clear message when the binaries, the provider
// library or rsync cannot be found, unless CI is set: then it fails. Each
// cluster lives in a directory os.TempDir()/alt-galera-*, which records the
// test process that owns it; Start kills the servers of directories whose
// owner is gone (an interrupted run) and removes them.
package galera

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Providers lists where distributions install the Galera 4 provider library.
var providers = []string{
	"/usr/lib/galera/libgalera_smm.so",
	"/usr/lib/galera-4/libgalera_smm.so",
	"/usr/lib64/galera-4/libgalera_smm.so",
	"/usr/lib64/galera/libgalera_smm.so",
}

// ProviderEnv names a variable that overrides where the provider library is.
const ProviderEnv = "AUDITLOG_GALERA_PROVIDER"

// Timeouts of the harness's own waits. They are ceilings for a loaded CI
// machine, not expectations.
const (
	startTimeout = 180 * time.Second
	syncTimeout  = 120 * time.Second
)

// dirPrefix names the cluster directories in os.TempDir(), so that leftovers
// of interrupted runs can be found.
const dirPrefix = "alt-galera-"

// Cluster is a running Galera cluster owned by one test.
type Cluster struct {
	t        testing.TB
	dir      string
	name     string
	mariadbd string
	// cred is the mysql user's when the test runs as root (nil otherwise).
	cred  *syscall.Credential
	nodes []*Node
}

// Node is one mariadbd of the cluster.
type Node struct {
	c *Cluster
	// Index is the node's number, 1 to N.
	Index int
	// Name is its wsrep_node_name ("node1", …).
	Name string
	// Port is the SQL port on 127.0.0.1; GcommPort, ISTPort and SSTPort are
	// those of group communication and of the two kinds of state transfer.
	Port, GcommPort, ISTPort, SSTPort int

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	logFrom int64 // offset in error.log where the current run began
}

// Start starts a cluster of n nodes (3 is what the tests use), waits until
// every node is Synced in a primary component of size n, and stops and
// removes it all when the test ends.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	if n < 1 {
		t.Fatalf("galera: %d nodes", n)
	}
	bins, cred := requirements(t)
	sweepLeftovers(t)

	dir, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		t.Fatal(err)
	}
	// The nodes run as mysql: they must be able to reach their directories.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "owner"), []byte(ownerMark(os.Getpid())), 0o644); err != nil {
		t.Fatal(err)
	}
	c := &Cluster{t: t, dir: dir, name: filepath.Base(dir), mariadbd: bins["mariadbd"], cred: cred}
	t.Cleanup(c.teardown)

	ports := freePorts(t, 4*n)
	for i := 0; i < n; i++ {
		node := &Node{c: c, Index: i + 1, Name: fmt.Sprintf("node%d", i+1),
			Port: ports[4*i], GcommPort: ports[4*i+1], ISTPort: ports[4*i+2], SSTPort: ports[4*i+3]}
		c.nodes = append(c.nodes, node)
	}
	for _, node := range c.nodes {
		if err := os.MkdirAll(node.dataDir(), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(node.cnf(), []byte(node.config(bins["provider"])), 0o644); err != nil {
			t.Fatal(err)
		}
		c.chown(t, node.dir())
	}

	// Only the first node is installed; the others get their data by SST.
	first := c.nodes[0]
	args := []string{"--no-defaults", "--datadir=" + first.dataDir(), "--auth-root-authentication-method=normal", "--skip-test-db"}
	if cred != nil {
		args = append(args, "--user=mysql")
	}
	install := exec.Command(bins["mariadb-install-db"], args...)
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}
	c.chown(t, first.dir())

	began := time.Now()
	first.start(t, "--wsrep-new-cluster")
	first.waitSynced(t, 1)
	for i, node := range c.nodes[1:] {
		node.start(t)
		node.waitSynced(t, i+2)
	}
	t.Logf("galera: %d-node cluster %s formed in %s", n, c.name, time.Since(began).Round(100*time.Millisecond))
	return c
}

// requirements finds the binaries and the provider, and the user the nodes
// run as; it skips (or, under CI, fails) the test when something is missing.
func requirements(t testing.TB) (map[string]string, *syscall.Credential) {
	t.Helper()
	missing := func(what string) {
		t.Helper()
		msg := "galera: " + what + "; install mariadb-server, galera-4 and rsync (bash .ci/run does)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	bins := map[string]string{}
	for _, name := range []string{"mariadbd", "mariadb-install-db", "wsrep_sst_rsync", "rsync"} {
		p, ok := lookBin(name)
		if !ok {
			missing(name + " is not installed")
		}
		bins[name] = p
	}
	if _, ok := lookBin("ss"); !ok {
		if _, ok := lookBin("lsof"); !ok {
			missing("the SST script needs ss (iproute2) or lsof")
		}
	}
	candidates := providers
	if p := os.Getenv(ProviderEnv); p != "" {
		candidates = []string{p}
	}
	for _, p := range candidates {
		if _, err := os.Stat(p); err == nil {
			bins["provider"] = p
			break
		}
	}
	if bins["provider"] == "" {
		missing("the Galera provider library (libgalera_smm.so) is not installed")
	}
	if os.Geteuid() != 0 {
		return bins, nil
	}
	u, err := user.Lookup("mysql")
	if err != nil {
		missing("running as root, the nodes need the mysql user (rsync SST cannot run as root)")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return bins, &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}

func lookBin(name string) (string, bool) {
	if p, err := exec.LookPath(name); err == nil {
		return p, true
	}
	for _, d := range []string{"/usr/sbin", "/usr/bin", "/sbin", "/usr/local/sbin", "/usr/local/bin"} {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p, true
		}
	}
	return "", false
}

// freePorts reserves n distinct free TCP ports on loopback. They are held
// open until all are chosen, so that none is handed out twice.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for len(ports) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// Nodes returns the nodes, node 1 first.
func (c *Cluster) Nodes() []*Node { return c.nodes }

// Node returns node i (1-based).
func (c *Cluster) Node(i int) *Node { return c.nodes[i-1] }

// CreateDatabase creates a database through node 1; DDL replicates to every
// node in total order (TOI).
func (c *Cluster) CreateDatabase(t testing.TB, name string) {
	t.Helper()
	db := c.nodes[0].Open(t, "")
	if _, err := db.Exec("CREATE DATABASE `" + name + "` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		t.Fatalf("galera: create database: %v", err)
	}
}

// WaitSynced waits until every running node is Synced in one primary
// component that has exactly the running nodes as members.
func (c *Cluster) WaitSynced(t testing.TB) {
	t.Helper()
	running := 0
	for _, n := range c.nodes {
		if n.Running() {
			running++
		}
	}
	for _, n := range c.nodes {
		if n.Running() {
			n.waitSynced(t, running)
		}
	}
}

func (c *Cluster) chown(t testing.TB, path string) {
	t.Helper()
	if c.cred == nil {
		return
	}
	err := filepath.Walk(path, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(c.cred.Uid), int(c.cred.Gid))
	})
	if err != nil {
		t.Fatalf("galera: chown %s: %v", path, err)
	}
}

// teardown kills every node and removes the cluster's directory. When the
// test failed, it first logs the end of each node's error log.
func (c *Cluster) teardown() {
	for _, n := range c.nodes {
		n.Kill()
	}
	if c.t.Failed() {
		for _, n := range c.nodes {
			c.t.Logf("galera: %s error log (end):\n%s", n.Name, n.LogTail(60))
		}
	}
	os.RemoveAll(c.dir)
}

func (n *Node) dir() string      { return filepath.Join(n.c.dir, n.Name) }
func (n *Node) dataDir() string  { return filepath.Join(n.dir(), "data") }
func (n *Node) cnf() string      { return filepath.Join(n.dir(), "my.cnf") }
func (n *Node) errorLog() string { return filepath.Join(n.dir(), "error.log") }

// procFile records the pid of the node's running mariadbd (also its process
// group), for sweepLeftovers. It lives outside the node's directory, which
// belongs to mysql.
func (n *Node) procFile() string { return filepath.Join(n.c.dir, n.Name+".proc") }

// config is the node's my.cnf. Besides addresses and paths it holds what
// Galera requires of every node (row-based replication, interleaved
// auto-increment locks, InnoDB) and failure detection tuned for a test: a
// killed node leaves the component after about three seconds instead of the
// default five to fifteen.
func (n *Node) config(provider string) string {
	var peers []string
	for _, p := range n.c.nodes {
		peers = append(peers, fmt.Sprintf("127.0.0.1:%d", p.GcommPort))
	}
	opts := strings.Join([]string{
		fmt.Sprintf("gmcast.listen_addr=tcp://127.0.0.1:%d", n.GcommPort),
		fmt.Sprintf("ist.recv_addr=127.0.0.1:%d", n.ISTPort),
		"gcache.size=64M",
		"evs.suspect_timeout=PT3S",
		"evs.inactive_timeout=PT6S",
		"evs.install_timeout=PT4S",
	}, ";")
	lines := []string{
		"[mysqld]",
		"datadir=" + n.dataDir(),
		"socket=" + filepath.Join(n.dir(), "s.sock"),
		fmt.Sprintf("port=%d", n.Port),
		"bind-address=127.0.0.1",
		"log-error=" + n.errorLog(),
		"pid-file=" + filepath.Join(n.dir(), "mariadbd.pid"),
		"character-set-server=utf8mb4",
		"collation-server=utf8mb4_unicode_ci",
		"innodb-buffer-pool-size=64M",
		"innodb-log-file-size=32M",
		// Durability comes from the other nodes; the test machine is shared.
		"innodb-flush-log-at-trx-commit=2",
		"performance-schema=OFF",
		"max-connections=300",
		"binlog-format=ROW",
		"innodb-autoinc-lock-mode=2",
		"default-storage-engine=InnoDB",
		"wsrep-on=ON",
		"wsrep-provider=" + provider,
		"wsrep-cluster-name=" + n.c.name,
		"wsrep-cluster-address=gcomm://" + strings.Join(peers, ","),
		"wsrep-node-name=" + n.Name,
		fmt.Sprintf("wsrep-node-address=127.0.0.1:%d", n.GcommPort),
		fmt.Sprintf("wsrep-sst-receive-address=127.0.0.1:%d", n.SSTPort),
		"wsrep-sst-method=rsync",
		"wsrep-slave-threads=2",
		`wsrep-provider-options="` + opts + `"`,
	}
	return strings.Join(lines, "\n") + "\n"
}

// DSN is the go-sql-driver DSN of database db on this node, as root over
// TCP. It sets wsrep_sync_wait=1 for every session: a read then waits until
// the node has applied every transaction the cluster committed before it, so
// that what a client wrote through one node it reads through any other.
// Without it a read can run before the node applied a commit of another node
// (apply is asynchronous), and a replica behind a load balancer would not see
// a write it just acknowledged.
func (n *Node) DSN(db string) string {
	return n.rawDSN(db) + "?wsrep_sync_wait=1"
}

// rawDSN is the DSN without session settings.
func (n *Node) rawDSN(db string) string {
	return fmt.Sprintf("root@tcp(127.0.0.1:%d)/%s", n.Port, db)
}

// URL is the AUDITLOG_DATABASE_URL of database db on this node.
func (n *Node) URL(db string) string { return "mysql://" + n.DSN(db) }

// Open opens database db on this node (with DSN's settings); it is closed
// when the test ends.
func (n *Node) Open(t testing.TB, db string) *sql.DB {
	t.Helper()
	conn, err := sql.Open("mysql", n.DSN(db))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// Running reports whether the node's mariadbd is running.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd != nil
}

// start runs mariadbd with the node's configuration and extra arguments.
func (n *Node) start(t testing.TB, extra ...string) {
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		t.Fatalf("galera: %s is already running", n.Name)
	}
	if st, err := os.Stat(n.errorLog()); err == nil {
		n.logFrom = st.Size()
	} else {
		n.logFrom = 0
	}
	out, err := os.OpenFile(filepath.Join(n.c.dir, n.Name+".out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(n.c.mariadbd, append([]string{"--defaults-file=" + n.cnf()}, extra...)...)
	cmd.Stdout, cmd.Stderr = out, out
	// The SST scripts are found through PATH.
	cmd.Env = append(os.Environ(), "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	// Its own process group, so that kill takes the SST scripts and rsync
	// along; killed with the test process if that dies first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: n.c.cred}
	if err := cmd.Start(); err != nil {
		t.Fatalf("galera: start %s: %v", n.Name, err)
	}
	_ = os.WriteFile(n.procFile(), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644)
	n.cmd = cmd
	n.exited = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) {
		_ = c.Wait()
		close(done)
	}(cmd, n.exited)
}

// Kill stops the node with SIGKILL, as a crash would, and returns when its
// processes are gone. The others notice within a few seconds (see config);
// WaitSynced waits for that.
func (n *Node) Kill() {
	n.mu.Lock()
	cmd, exited := n.cmd, n.exited
	n.cmd = nil
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-exited
	os.Remove(n.procFile())
}

// Rejoin says how a restarted node caught up with the cluster.
type Rejoin string

// The ways a node catches up.
const (
	// IST is an incremental state transfer: the write sets it missed, from
	// another node's cache.
	IST Rejoin = "IST"
	// SST is a full state snapshot transfer (rsync of a donor's data).
	SST Rejoin = "SST"
	// NoTransfer means the node was already current.
	NoTransfer Rejoin = "none"
)

var recovered = regexp.MustCompile(`WSREP: Recovered position: ([0-9a-f-]{36}:-?\d+)`)

// Restart starts a killed node again and waits until it is Synced in the
// cluster. It first recovers the node's last committed position from InnoDB
// (mariadbd --wsrep-recover) and passes it on, so that the node can rejoin by
// IST; when the others no longer have the write sets it missed, Galera falls
// back to SST by itself. It returns how the node caught up.
func (n *Node) Restart(t testing.TB) Rejoin {
	t.Helper()
	var extra []string
	if pos := n.recoverPosition(t); pos != "" {
		extra = append(extra, "--wsrep-start-position="+pos)
	}
	return n.restart(t, extra...)
}

// RestartEmpty starts a killed node again with an empty data directory, as a
// replaced machine would: it must rejoin by SST.
func (n *Node) RestartEmpty(t testing.TB) Rejoin {
	t.Helper()
	if n.Running() {
		t.Fatalf("galera: %s is running", n.Name)
	}
	if err := os.RemoveAll(n.dataDir()); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(n.dataDir(), 0o750); err != nil {
		t.Fatal(err)
	}
	n.c.chown(t, n.dataDir())
	return n.restart(t)
}

func (n *Node) restart(t testing.TB, extra ...string) Rejoin {
	t.Helper()
	n.start(t, extra...)
	size := 0
	for _, o := range n.c.nodes {
		if o.Running() {
			size++
		}
	}
	n.waitSynced(t, size)
	// The rsync script runs in both cases (for an IST it copies nothing)
	// and says which it was.
	log := n.logSinceStart()
	switch {
	case strings.Contains(log, "rsync SST completed on joiner"):
		return SST
	case strings.Contains(log, "rsync IST completed on joiner"), strings.Contains(log, "IST received"):
		return IST
	}
	return NoTransfer
}

// recoverPosition runs mariadbd --wsrep-recover on the stopped node and
// returns the uuid:seqno it recovered ("" when it has none).
func (n *Node) recoverPosition(t testing.TB) string {
	t.Helper()
	if n.Running() {
		t.Fatalf("galera: %s is running", n.Name)
	}
	logFile := filepath.Join(n.dir(), "recover.log")
	os.Remove(logFile)
	cmd := exec.Command(n.c.mariadbd, "--defaults-file="+n.cnf(), "--wsrep-recover", "--log-error="+logFile)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: n.c.cred}
	out, err := cmd.CombinedOutput()
	log, _ := os.ReadFile(logFile)
	if err != nil {
		t.Fatalf("galera: %s --wsrep-recover: %v\n%s%s", n.Name, err, out, log)
	}
	m := recovered.FindSubmatch(append(out, log...))
	if m == nil || strings.HasSuffix(string(m[1]), ":-1") {
		return ""
	}
	return string(m[1])
}

// waitSynced waits until the node answers, is Synced and ready, and sees a
// primary component of size members.
func (n *Node) waitSynced(t testing.TB, size int) {
	t.Helper()
	n.mu.Lock()
	exited := n.exited
	n.mu.Unlock()
	db, err := sql.Open("mysql", n.rawDSN("")+"?timeout=2s")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	deadline := time.Now().Add(syncTimeout)
	if size == 1 {
		deadline = time.Now().Add(startTimeout)
	}
	last := "no answer"
	for {
		st, err := status(db)
		if err == nil {
			last = fmt.Sprintf("state %s, status %s, ready %s, size %s", st["wsrep_local_state_comment"],
				st["wsrep_cluster_status"], st["wsrep_ready"], st["wsrep_cluster_size"])
			if st["wsrep_local_state_comment"] == "Synced" && st["wsrep_cluster_status"] == "Primary" &&
				st["wsrep_ready"] == "ON" && st["wsrep_cluster_size"] == strconv.Itoa(size) {
				return
			}
		} else {
			last = err.Error()
		}
		select {
		case <-exited:
			t.Fatalf("galera: %s exited while starting:\n%s", n.Name, n.LogTail(60))
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("galera: %s not Synced in a cluster of %d (%s):\n%s", n.Name, size, last, n.LogTail(60))
		}
	}
}

func status(db *sql.DB) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	rows, err := db.QueryContext(ctx, "SHOW GLOBAL STATUS WHERE Variable_name IN "+
		"('wsrep_local_state_comment', 'wsrep_cluster_status', 'wsrep_ready', 'wsrep_cluster_size')")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	st := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		st[strings.ToLower(k)] = v
	}
	return st, rows.Err()
}

// Status returns one of the node's global status variables, such as
// wsrep_local_cert_failures.
func (n *Node) Status(t testing.TB, name string) string {
	t.Helper()
	db, err := sql.Open("mysql", n.rawDSN(""))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v string
	if err := db.QueryRow("SELECT variable_value FROM information_schema.global_status WHERE variable_name = ?", name).Scan(&v); err != nil {
		t.Fatalf("galera: %s status %s: %v", n.Name, name, err)
	}
	return v
}

// LogTail returns the last lines of the node's error log.
func (n *Node) LogTail(lines int) string {
	b, _ := os.ReadFile(n.errorLog())
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

func (n *Node) logSinceStart() string {
	b, _ := os.ReadFile(n.errorLog())
	n.mu.Lock()
	from := n.logFrom
	n.mu.Unlock()
	if int64(len(b)) < from {
		from = 0
	}
	return string(b[from:])
}

// IsCertificationFailure reports whether err is what the MySQL driver returns
// when Galera aborts a transaction for a conflicting write set committed
// through another node: error 1213 (SQLSTATE 40001), the deadlock error,
// whether the transaction failed certification at commit or was aborted by
// the applier ("brute force") before.
func IsCertificationFailure(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1213
}

// ownerMark identifies a process across pid reuse: its pid and start time.
func ownerMark(pid int) string {
	return strconv.Itoa(pid) + " " + procStart(pid)
}

// procStart is the start time of process pid (field 22 of /proc/pid/stat),
// or "" when there is no such process.
func procStart(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return ""
	}
	return f[19]
}

// sweepLeftovers kills the servers of cluster directories whose owning test
// process is gone, and removes those directories. A directory whose owner
// still runs (another package's test, in parallel) is left alone, and only a
// process whose command line names the directory is killed.
func sweepLeftovers(t testing.TB) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "owner"))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) == 2 {
			pid, _ := strconv.Atoi(f[0])
			if procStart(pid) == f[1] {
				continue
			}
		}
		procs, _ := filepath.Glob(filepath.Join(dir, "*.proc"))
		for _, p := range procs {
			b, _ := os.ReadFile(p)
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil || pid <= 1 {
				continue
			}
			cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			if strings.Contains(string(cmdline), dir+"/") {
				_ = syscall.Kill(-pid, syscall.SIGKILL)
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if len(procs) > 0 {
			waitGone(procs)
		}
		t.Logf("galera: removed %s, left by an interrupted run", dir)
		os.RemoveAll(dir)
	}
}

// waitGone waits briefly for killed processes to disappear.
func waitGone(procFiles []string) {
	deadline := time.Now().Add(5 * time.Second)
	for _, p := range procFiles {
		b, _ := os.ReadFile(p)
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		for pid > 1 && time.Now().Before(deadline) {
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
