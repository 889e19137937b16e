// Command auditlogd-bench measures a running auditlogd against the raw speed
// of its database. It drives the server over HTTP like a client would, runs
// the equivalent SQL directly through database/sql for each read, and prints
// a report (markdown, or JSON with --json).
//
//	auditlogd-bench --url http://127.0.0.1:8080 --database-url 'mysql://root@tcp(127.0.0.1:3306)/bench' \
//	    --jwt-secret "$AUDITLOG_JWT_SECRET" --admin-sub bench-admin --admin-email bench@example.com \
//	    --workspace <largest> --server-pid <pid> --suite all
//
// Suites: reads (pages, filters, deep pages, totalCount, backward paging),
// export (CSV and JSON: rows/s and the server's peak memory, against a plain
// database/sql scan of the same rows), writes (audited mutations with
// concurrent clients), streams (log streams: latency event → receiver,
// writes with and without streams, catch-up of a backlog; not part of all).
// See docs/BENCHMARKS.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "auditlogd-bench:", err)
		os.Exit(1)
	}
}

// options are the command's flags.
type options struct {
	URL         string
	DatabaseURL string
	JWTSecret   string
	AdminSub    string
	AdminEmail  string
	Workspace   string
	ServerPID   int
	Suite       string
	Iterations  int
	Clients     int
	WriteTime   time.Duration
	JSON        bool
	// ExportEncodings are the Accept-Encodings each export is downloaded
	// with: identity, gzip, zstd.
	ExportEncodings []string
	// The streams suite (streams.go).
	Streams           int
	StreamClients     int
	StreamRate        float64
	StreamLatencyTime time.Duration
	StreamRounds      int
	CatchUpTimeout    time.Duration
	StreamParts       string
}

func parse(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("auditlogd-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.URL, "url", "http://127.0.0.1:8080", "base URL of the running server")
	fs.StringVar(&o.DatabaseURL, "database-url", os.Getenv("AUDITLOG_DATABASE_URL"), "the server's database (mysql://DSN), for the SQL floor")
	fs.StringVar(&o.JWTSecret, "jwt-secret", os.Getenv("AUDITLOG_JWT_SECRET"), "the server's HS256 secret, to sign the admin's token")
	fs.StringVar(&o.AdminSub, "admin-sub", "bench-admin", "an admin of the workspace (seed --admin-sub)")
	fs.StringVar(&o.AdminEmail, "admin-email", "bench@example.com", "that admin's email")
	fs.StringVar(&o.Workspace, "workspace", "", "workspace to read (seed's \"largest\")")
	fs.IntVar(&o.ServerPID, "server-pid", 0, "pid of the server process, to read its memory (Linux /proc)")
	fs.StringVar(&o.Suite, "suite", "all", "comma-separated: reads, export, writes, streams; all is reads,export,writes")
	fs.IntVar(&o.Iterations, "iterations", 200, "samples per read benchmark")
	fs.IntVar(&o.Clients, "clients", 16, "concurrent clients of the write benchmark")
	fs.DurationVar(&o.WriteTime, "write-time", 20*time.Second, "how long the write benchmark runs")
	fs.BoolVar(&o.JSON, "json", false, "print the report as JSON")
	fs.IntVar(&o.Streams, "streams", 10, "streams: active log streams, each to its own receiver in this process")
	fs.IntVar(&o.StreamClients, "stream-clients", 4, "streams: clients writing during the latency benchmark")
	fs.Float64Var(&o.StreamRate, "stream-rate", 100, "streams: audited mutations per second in all during the latency benchmark")
	fs.DurationVar(&o.StreamLatencyTime, "stream-latency-time", 20*time.Second, "streams: how long the latency benchmark writes")
	fs.IntVar(&o.StreamRounds, "stream-rounds", 2, "streams: rounds of the writes benchmark, each one run without streams and one with (ordered without, with, with, without, …)")
	fs.StringVar(&o.StreamParts, "stream-parts", "latency,writes,catchup", "streams: which of its benchmarks to run")
	fs.DurationVar(&o.CatchUpTimeout, "catchup-timeout", 30*time.Minute, "streams: how long the catch-up of --workspace's log may take")
	encodings := fs.String("export-encodings", "identity,gzip", "comma-separated Accept-Encodings to download each export with (identity, gzip, zstd)")
	err := fs.Parse(args)
	for _, e := range strings.Split(*encodings, ",") {
		if e = strings.TrimSpace(e); e != "" {
			o.ExportEncodings = append(o.ExportEncodings, e)
		}
	}
	if err != nil {
		return o, err
	}
	if o.Streams < 1 || o.StreamClients < 1 || o.StreamRate <= 0 || o.StreamRounds < 1 {
		return o, errors.New("--streams, --stream-clients, --stream-rate and --stream-rounds must be positive")
	}
	if o.Workspace == "" || o.DatabaseURL == "" || o.JWTSecret == "" {
		return o, errors.New("--workspace, --database-url and --jwt-secret are required")
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}
	b, err := newBench(ctx, o)
	if err != nil {
		return err
	}
	defer b.close()
	rep := &report{Started: time.Now().UTC(), Machine: machine(), Workspace: o.Workspace}
	suites := map[string]func(context.Context, *report) error{
		"reads": b.reads, "export": b.exports, "writes": b.writes, "streams": b.streams,
	}
	chosen := map[string]bool{}
	for _, s := range strings.Split(o.Suite, ",") {
		switch s = strings.TrimSpace(s); s {
		case "all":
			chosen["reads"], chosen["export"], chosen["writes"] = true, true, true
		case "":
		default:
			if suites[s] == nil {
				return fmt.Errorf("--suite: no suite %q", s)
			}
			chosen[s] = true
		}
	}
	for _, name := range []string{"reads", "export", "writes", "streams"} {
		if !chosen[name] {
			continue
		}
		fmt.Fprintf(stderr, "running %s…\n", name)
		if err := suites[name](ctx, rep); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	if o.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	rep.markdown(stdout)
	return nil
}
