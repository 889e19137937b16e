package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/auditlogd/auditlogd/internal/auth"
)

// TestMain lets a test run this binary's main() in a child process, to send
// it real signals.
func TestMain(m *testing.M) {
	if os.Getenv("AUDITLOG_TEST_EXEC_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const shutdownSecret = "shutdown-test-secret-0123456789abcdefghijklmnop"

// TestSIGTERMFinishesInFlightExportAndExitsZero starts `auditlogd serve` in a
// child process, begins a large export download that it reads slowly, and
// sends SIGTERM: the server stops accepting connections at once, lets the
// download finish completely, stops the retention job, and exits 0.
func TestSIGTERMFinishesInFlightExportAndExitsZero(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 80,000 events")
	}
	// The file must be far larger than socket buffers hold (about 23 MiB
	// here), so that the server is still writing it when the signal arrives.
	// The race detector makes seeding that much too slow; under it the test
	// only checks that a smaller download completes and the exit is clean.
	events := 80000
	if raceEnabled {
		events = 10000
	}
	dir := t.TempDir()
	env := map[string]string{
		"AUDITLOG_DATABASE_URL":     "sqlite://" + filepath.Join(dir, "auditlog.db"),
		"AUDITLOG_JWT_SECRET":       shutdownSecret,
		"AUDITLOG_EXPORT_SECRET":    shutdownSecret,
		"AUDITLOG_RATE_LIMIT_RPS":   "0",
		"AUDITLOG_SHUTDOWN_TIMEOUT": "60s",
		"AUDITLOG_DB_QUERY_TIMEOUT": "5m",
	}
	getenv := func(k string) string { return env[k] }
	var seedOut bytes.Buffer
	if err := run(context.Background(), []string{"seed", "--workspaces", "1", "--events", strconv.Itoa(events), "--admin-sub", "admin", "--admin-email", "admin@example.com"},
		getenv, &seedOut, io.Discard); err != nil {
		t.Fatalf("seed: %v", err)
	}
	var seeded struct{ Largest string }
	if err := json.Unmarshal(seedOut.Bytes(), &seeded); err != nil {
		t.Fatal(err)
	}

	child := exec.Command(os.Args[0], "serve", "--addr", "127.0.0.1:0")
	child.Env = append(os.Environ(), "AUDITLOG_TEST_EXEC_MAIN=1")
	for k, v := range env {
		child.Env = append(child.Env, k+"="+v)
	}
	stderr, _ := child.StderrPipe()
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Process.Kill() })
	logs := make(chan string, 1000)
	addr := ""
	lines := bufio.NewScanner(stderr)
	go func() {
		for lines.Scan() {
			logs <- lines.Text()
		}
		close(logs)
	}()
	for addr == "" {
		select {
		case line, ok := <-logs:
			if !ok {
				t.Fatal("the server exited before listening")
			}
			var l struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "listening" {
				addr = l.Addr
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the server did not start listening")
		}
	}
	base := "http://" + addr

	v, _ := auth.NewVerifier(auth.Settings{Algorithm: "HS256", Secret: []byte(shutdownSecret)})
	tok, _ := v.Sign(auth.Claims{Subject: "admin", Email: "admin@example.com"})
	body := `{"query":"mutation($w: ID!) { exportAuditLog(input: {workspaceId: $w, format: CSV}) { url } }","variables":{"w":"` + seeded.Largest + `"}}`
	req, _ := http.NewRequest(http.MethodPost, base+"/graphql", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Data struct{ ExportAuditLog struct{ URL string } }
	}
	_ = json.NewDecoder(res.Body).Decode(&out)
	res.Body.Close()
	u, err := url.Parse(out.Data.ExportAuditLog.URL)
	if err != nil || u.Path == "" {
		t.Fatalf("no export URL: %+v", out)
	}

	dl, err := http.Get(base + u.RequestURI())
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Body.Close()
	first := make([]byte, 1<<20)
	n, err := io.ReadFull(dl.Body, first)
	if err != nil {
		t.Fatalf("first MiB of the export: %v", err)
	}
	if err := child.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// New connections are refused soon after the signal.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the server still accepts connections 5 s after SIGTERM")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The download in flight completes, read slowly; a server that closed
	// its connections would cut it short.
	rows := bytes.Count(first[:n], []byte("\n"))
	buf := make([]byte, 256<<10)
	exited := make(chan error, 1)
	go func() { exited <- child.Wait() }()
	for {
		m, err := dl.Body.Read(buf)
		rows += bytes.Count(buf[:m], []byte("\n"))
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the export was cut off after %d lines: %v", rows, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	if want := events + 1; rows != want { // the header and every seeded event
		t.Errorf("the export has %d lines, want %d", rows, want)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit: %v, want status 0", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not exit after the download finished")
	}
	var sawStopped bool
	for line := range logs {
		sawStopped = sawStopped || strings.Contains(line, `"msg":"stopped"`)
	}
	if !sawStopped {
		t.Error(`no "stopped" log line`)
	}
}
