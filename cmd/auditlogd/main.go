// Command auditlogd serves the audit log API. Subcommands:
//
//	auditlogd [serve] [--demo] [--addr :8080]   run the HTTP server (migrates first)
//	auditlogd migrate                           apply pending migrations and exit
//	auditlogd token --sub ID --email ADDR ...   print a JWT signed with AUDITLOG_JWT_SECRET
//	auditlogd prune                             apply the retention policy once and exit
//	auditlogd seed --workspaces N --events M    fill the database for benchmarks
//	auditlogd verify [--workspace ID]           check the workspaces' hash chains in the database
//	auditlogd verify-export FILE --head H --keys K  check an export offline
//
// Configuration is by AUDITLOG_* environment variables; see README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/go-sql-driver/mysql"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// A page of the log allocates about half a megabyte while the live heap
	// is a few megabytes, so at the default GOGC=100 the collector runs every
	// few requests. 200 halves that for a few more megabytes of heap; GOGC in
	// the environment still wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
	// The MySQL driver logs dropped connections through a process-wide
	// logger; route it into the JSON log, once, here.
	_ = mysql.SetLogger(driverLog{newLogger(os.Stderr, slog.LevelWarn)})
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "auditlogd:", err)
		os.Exit(1)
	}
}

// env is the process environment as a lookup function; flags may override
// single variables.
type env func(string) string

func (e env) with(overrides map[string]string) env {
	return func(k string) string {
		if v, ok := overrides[k]; ok && v != "" {
			return v
		}
		return e(k)
	}
}

// run dispatches to a subcommand; serve is the default.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	e := env(getenv)
	switch cmd {
	case "serve":
		return serve(ctx, args, e, stdout, stderr)
	case "migrate":
		return migrate(ctx, args, e, stdout, stderr)
	case "token":
		return token(args, e, stdout, stderr)
	case "prune":
		return prune(ctx, args, e, stdout, stderr)
	case "seed":
		return seedCmd(ctx, args, e, stdout, stderr)
	case "verify":
		return verifyCmd(ctx, args, e, stdout, stderr)
	case "verify-export":
		return verifyExportCmd(ctx, args, stdout, stderr)
	case "help":
		usage(stdout)
		return nil
	}
	usage(stderr)
	return fmt.Errorf("unknown command %q", cmd)
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: auditlogd [command] [flags]

commands:
  serve     run the HTTP server, applying pending migrations first (default)
            --demo   on an empty database, create a demo workspace and print an admin token
            --addr   listen address (AUDITLOG_ADDR)
  migrate   apply pending migrations and exit
  token     print a JWT signed with AUDITLOG_JWT_SECRET
            --sub ID --email ADDR [--name N] [--scope S] [--ttl 1h]
  prune     apply the retention policy (AUDITLOG_RETENTION) once and exit
  seed      fill the database with a realistic audit log for benchmarks
            --workspaces N --events M --admin-sub SUB --admin-email EMAIL [--workers 4] [--seed 1]
  verify    recompute every workspace's hash chain from the database (or one: --workspace ID);
            prints one JSON line per workspace, exit status 1 on any problem
  verify-export
            check an export file offline against its signed head and the published keys;
            prints one JSON line, exit status 1 on any problem
            FILE --head HEAD.json --keys JWKS-FILE-OR-URL [--filtered] [--from SEQ]

Configuration is read from AUDITLOG_* environment variables (see README.md).
`)
}

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// newLogger returns a JSON logger: one object per line.
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

// driverLog adapts slog to the MySQL driver's logger interface.
type driverLog struct{ log *slog.Logger }

func (d driverLog) Print(v ...any) { d.log.Warn("mysql driver", "message", fmt.Sprint(v...)) }
