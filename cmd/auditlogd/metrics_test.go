package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeMetricsOnTheirOwnListener: with AUDITLOG_METRICS_ADDR, serve
// answers /metrics on that listener and 404 on the main one.
func TestServeMetricsOnTheirOwnListener(t *testing.T) {
	child := exec.Command(os.Args[0], "serve", "--addr", "127.0.0.1:0")
	child.Env = append(os.Environ(), "AUDITLOG_TEST_EXEC_MAIN=1",
		"AUDITLOG_DATABASE_URL=sqlite://"+filepath.Join(t.TempDir(), "auditlog.db"),
		"AUDITLOG_JWT_SECRET="+shutdownSecret, "AUDITLOG_METRICS_ADDR=127.0.0.1:0")
	stderr, _ := child.StderrPipe()
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	addrs := map[string]string{}
	lines := bufio.NewScanner(stderr)
	deadline := time.Now().Add(30 * time.Second)
	for len(addrs) < 2 && lines.Scan() && time.Now().Before(deadline) {
		var l struct{ Msg, Addr string }
		if json.Unmarshal(lines.Bytes(), &l) == nil && (l.Msg == "listening" || l.Msg == "metrics listening") {
			addrs[l.Msg] = l.Addr
		}
	}
	go func() { _, _ = io.Copy(io.Discard, stderr) }()
	if len(addrs) < 2 {
		t.Fatalf("the server logged listeners %v", addrs)
	}
	get := func(url string) (int, string) {
		res, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, body := get("http://" + addrs["metrics listening"] + "/metrics"); code != 200 || !strings.Contains(body, "auditlogd_export_downloads_running") {
		t.Errorf("/metrics on AUDITLOG_METRICS_ADDR: %d", code)
	}
	if code, _ := get("http://" + addrs["listening"] + "/metrics"); code != http.StatusNotFound {
		t.Errorf("/metrics on the main listener: %d, want 404", code)
	}
	if code, _ := get("http://" + addrs["listening"] + "/healthz"); code != 200 {
		t.Errorf("/healthz on the main listener: %d", code)
	}
	_ = child.Process.Signal(syscall.SIGTERM)
}
