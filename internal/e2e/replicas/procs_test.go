package replicas

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildBinary builds the auditlogd command once, as an operator would, into
// the test's temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the test builds cmd/auditlogd with go, which is not on PATH: %v", err)
	}
	out := filepath.Join(t.TempDir(), "auditlogd")
	cmd := exec.Command(goBin, "build", "-o", out, "github.com/auditlogd/auditlogd/cmd/auditlogd")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build cmd/auditlogd: %v\n%s", err, b)
	}
	return out
}

// writeSigningKey writes a fresh Ed25519 private key as PKCS #8 PEM, the
// AUDITLOG_SIGNING_KEY every replica shares.
func writeSigningKey(t *testing.T) string {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "signing.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// childEnv is the process environment without the test's own AUDITLOG_
// settings, plus vars.
func childEnv(vars map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AUDITLOG_") {
			env = append(env, kv)
		}
	}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	return env
}

// runCommand runs an auditlogd command to completion and returns its
// standard output; it fails the test on a non-zero exit unless allowFail.
func runCommand(t *testing.T, bin string, vars map[string]string, allowFail bool, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = childEnv(vars)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil && !allowFail {
		t.Fatalf("auditlogd %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), err
}

// logLine is one JSON log line of a replica.
type logLine struct {
	Time  time.Time `json:"time"`
	Level string    `json:"level"`
	Msg   string    `json:"msg"`
	Lease string    `json:"lease"`
	Owner string    `json:"owner"`
	Token int64     `json:"token"`
	Addr  string    `json:"addr"`
	Error string    `json:"error"`
	raw   string
}

// replica is one `auditlogd serve` process.
type replica struct {
	n    int // its number, also the number of its Galera node
	base string
	cmd  *exec.Cmd
	pid  int

	mu     sync.Mutex
	lines  []logLine
	exited chan struct{}
}

// startReplica starts `auditlogd serve` on a free loopback port and waits
// until it listens.
func startReplica(t *testing.T, bin string, n int, vars map[string]string) *replica {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0")
	cmd.Env = childEnv(vars)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &replica{n: n, cmd: cmd, pid: cmd.Process.Pid, exited: make(chan struct{})}
	listening := make(chan string, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var l logLine
			_ = json.Unmarshal(sc.Bytes(), &l)
			l.raw = sc.Text()
			r.mu.Lock()
			r.lines = append(r.lines, l)
			r.mu.Unlock()
			if l.Msg == "listening" {
				select {
				case listening <- l.Addr:
				default:
				}
			}
		}
	}()
	go func() {
		<-scanned
		_ = cmd.Wait()
		close(r.exited)
	}()
	t.Cleanup(func() {
		r.stop()
		if t.Failed() {
			t.Logf("replica %d (pid %d), the end of its log:\n%s", r.n, r.pid, r.logTail(40))
		}
	})
	select {
	case addr := <-listening:
		r.base = "http://" + addr
	case <-r.exited:
		t.Fatalf("replica %d exited before listening:\n%s", n, r.logTail(40))
	case <-time.After(2 * time.Minute):
		t.Fatalf("replica %d did not listen within two minutes:\n%s", n, r.logTail(40))
	}
	return r
}

// stop sends SIGTERM and waits for the exit (SIGKILL after 30 s).
func (r *replica) stop() {
	select {
	case <-r.exited:
		return
	default:
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(30 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.exited
	}
}

// log returns a copy of the log lines so far.
func (r *replica) log() []logLine {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]logLine(nil), r.lines...)
}

func (r *replica) logTail(n int) string {
	lines := r.log()
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l.raw)
		b.WriteByte('\n')
	}
	return b.String()
}

// ownsLease reports whether a lease owner names this process
// (lease.NewOwner: host/pid/random).
func (r *replica) ownsLease(owner string) bool {
	parts := strings.Split(owner, "/")
	return len(parts) == 3 && parts[1] == fmt.Sprint(r.pid)
}
