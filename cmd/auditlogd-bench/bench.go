package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/auditlogd/auditlogd/internal/auth"
)

// bench holds what every suite uses: an HTTP client with the admin's token
// and a direct database/sql connection for the SQL floor.
type bench struct {
	o     options
	http  *http.Client
	db    *sql.DB
	token string
	// owners are the tokens of the admins of the workspaces the bench
	// made (newWriters); other workspaces are the admin's of --admin-sub.
	owners map[string]string
}

// tokenFor returns the token of an admin of the workspace.
func (b *bench) tokenFor(ws string) string {
	if t, ok := b.owners[ws]; ok {
		return t
	}
	return b.token
}

func newBench(ctx context.Context, o options) (*bench, error) {
	dsn, ok := strings.CutPrefix(o.DatabaseURL, "mysql://")
	if !ok {
		return nil, fmt.Errorf("--database-url must be mysql://DSN (the benchmarks compare against MySQL/MariaDB)")
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	cfg.InterpolateParams = true
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(32)
	if err := db.PingContext(ctx); err != nil {
		return nil, err
	}
	v, err := auth.NewVerifier(auth.Settings{Algorithm: "HS256", Secret: []byte(o.JWTSecret)})
	if err != nil {
		return nil, err
	}
	verified := true
	tok, err := v.Sign(auth.Claims{Subject: o.AdminSub, Email: o.AdminEmail, EmailVerified: &verified, TTL: 12 * time.Hour})
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64, DisableCompression: true}
	return &bench{o: o, http: &http.Client{Transport: tr}, db: db, token: tok, owners: map[string]string{}}, nil
}

func (b *bench) close() { b.db.Close() }

// gql sends one GraphQL request and decodes data into out.
func (b *bench) gql(ctx context.Context, token, query string, vars map[string]any, out any) error {
	_, err := b.timedGQL(ctx, token, query, vars, out)
	return err
}

// timedGQL is gql that also returns how long the request took, from sending
// it until the whole response body was read (decoding it is the client's
// business and is not counted).
func (b *bench) timedGQL(ctx context.Context, token, query string, vars map[string]any, out any) (time.Duration, error) {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.o.URL+"/graphql", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	start := time.Now()
	res, err := b.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	took := time.Since(start)
	if err != nil {
		return took, err
	}
	var r struct {
		Data   json.RawMessage `json:"data"`
		Errors []struct {
			Message string `json:"message"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return took, fmt.Errorf("status %d: %s", res.StatusCode, raw)
	}
	if len(r.Errors) > 0 {
		return took, fmt.Errorf("graphql: %s", r.Errors[0].Message)
	}
	if out != nil {
		return took, json.Unmarshal(r.Data, out)
	}
	return took, nil
}

// durations summarizes latency samples.
type durations []time.Duration

func (d durations) pct(p float64) float64 {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p)
	return float64(s[i].Microseconds()) / 1000
}

// memory reads the server's resident memory from /proc: current and peak
// (VmHWM) in MiB.
func memory(pid int) (rss, peak float64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		var kb float64
		if _, err := fmt.Sscanf(line, "VmRSS: %f kB", &kb); err == nil {
			rss = kb / 1024
		}
		if _, err := fmt.Sscanf(line, "VmHWM: %f kB", &kb); err == nil {
			peak = kb / 1024
		}
	}
	return rss, peak, nil
}

// resetPeak resets the process's peak RSS so that VmHWM measures from now.
func resetPeak(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// machine describes the machine the report was made on.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "model name") {
				_, model, _ = strings.Cut(line, ": ")
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb float64
		if _, err := fmt.Sscanf(strings.SplitN(string(b), "\n", 2)[0], "MemTotal: %f kB", &kb); err == nil {
			mem = fmt.Sprintf(", %.0f GiB RAM", kb/1024/1024)
		}
	}
	return fmt.Sprintf("%d cores (%s)%s, %s/%s, %s", runtime.NumCPU(), strings.TrimSpace(model), mem, runtime.GOOS, runtime.GOARCH, runtime.Version())
}
