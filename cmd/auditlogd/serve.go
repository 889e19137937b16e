package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/auditlogd/auditlogd/internal/app"
	"github.com/auditlogd/auditlogd/internal/auth"
	"github.com/auditlogd/auditlogd/internal/config"
	"github.com/auditlogd/auditlogd/internal/demo"
)

// serve runs the HTTP server and the retention job until ctx is cancelled
// (SIGINT or SIGTERM), then shuts down gracefully: it stops accepting, lets
// in-flight requests (exports included) finish within
// AUDITLOG_SHUTDOWN_TIMEOUT, stops the retention job and closes the database.
func serve(ctx context.Context, args []string, e env, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", stderr)
	withDemo := fs.Bool("demo", false, "on an empty database, create a demo workspace and print an admin token")
	addr := fs.String("addr", "", "listen address (overrides AUDITLOG_ADDR)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(e.with(map[string]string{"AUDITLOG_ADDR": *addr}))
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.LogLevel)
	if cfg.JWT.SecretGenerated {
		log.Warn("AUDITLOG_JWT_SECRET is not set: using a random key for this process; tokens will not survive a restart")
	}
	if cfg.SignerGenerated {
		log.Warn("AUDITLOG_SIGNING_KEY is not set: signing log heads with a random key for this process; heads it signs will not verify after a restart or on other replicas")
	}
	if cfg.ExportSecretGenerated {
		log.Warn("AUDITLOG_EXPORT_SECRET is not set: using a random key; export URLs and cursors will not survive a restart or work across replicas")
	}
	a, err := app.New(ctx, cfg, log, app.Options{})
	if err != nil {
		return err
	}
	defer a.Close()

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("AUDITLOG_ADDR: %w", err)
	}
	if *withDemo {
		if err := printDemo(ctx, a, stdout); err != nil {
			ln.Close()
			return err
		}
	}
	srv := &http.Server{
		Handler:           a.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	// /metrics on a listener of its own, when configured (and then not on
	// the main one): an internal port that the load balancer does not expose.
	var metricsSrv *http.Server
	if a.MetricsHandler != nil {
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			_ = srv.Close()
			return fmt.Errorf("AUDITLOG_METRICS_ADDR: %w", err)
		}
		metricsSrv = &http.Server{Handler: a.MetricsHandler, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second,
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
		go func() { _ = metricsSrv.Serve(mln) }()
		defer metricsSrv.Close()
		log.Info("metrics listening", "addr", mln.Addr().String())
	}
	pruneCtx, stopPruning := context.WithCancel(context.WithoutCancel(ctx))
	pruned := make(chan struct{})
	go func() {
		defer close(pruned)
		a.PruneLoop(pruneCtx, cfg.PruneInterval)
	}()
	delivered := make(chan struct{})
	go func() {
		defer close(delivered)
		a.DeliverLoop(pruneCtx)
	}()
	defer func() {
		stopPruning()
		<-pruned
		<-delivered
	}()
	log.Info("listening", "addr", ln.Addr().String(), "database", redactDSN(cfg.DatabaseURL), "public_url", cfg.PublicURL)

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown: requests still running were cut off", "error", err.Error())
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

// printDemo seeds the demo workspace (or finds it again on a restart) and
// prints how to use it: the workspace as it is now (name, plan), a token of
// its admin, and an example query that works for that workspace as it is.
func printDemo(ctx context.Context, a *app.App, w io.Writer) error {
	res, err := demo.Seed(ctx, a.DB.Workspaces(), a.Config.PublicURL, a.Now())
	if err != nil {
		return err
	}
	base := a.Config.PublicURL
	verified := true
	tok, err := a.Verifier.Sign(auth.Claims{Subject: demo.Admin.Subject, Email: demo.Admin.Email, Name: demo.Admin.Name, EmailVerified: &verified, TTL: 24 * time.Hour})
	if err != nil {
		fmt.Fprintf(w, "Demo workspace %s is ready, but no token can be printed: %v\n", res.WorkspaceID, err)
		return nil
	}
	state := "is ready"
	if !res.Created {
		state = "was created by an earlier run"
	}
	query, note := demoQuery(res)
	fmt.Fprintf(w, `
auditlogd demo %s: workspace %q (%s) on the %s plan, where %s is %s.

  Admin token for %s (valid 24 hours):
    %s

  Audit Log page (signs you in as %s):
    %s

  GraphQL Playground: %s/
    paste into HTTP HEADERS: {"Authorization": "Bearer %s"}

  Example query%s:
    %s

  With curl:
    curl -s %s/graphql -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' \
      -d '{"query":"{ workspaces { id name plan viewerRole } }"}'

`, state, res.Name, res.WorkspaceID, res.Plan, demo.Admin.Email, res.AdminRole, demo.Admin.Email, tok,
		demo.Admin.Email, base+"/audit-log#token="+tok, base, tok, note, query, base, tok)
	return nil
}

// demoQuery is an example query that works for the demo workspace as it is
// now: its audit log while the demo admin may read it, its members
// otherwise (with a note saying why).
func demoQuery(res demo.Result) (query, note string) {
	if res.CanReadLog() {
		return fmt.Sprintf(`{ auditLog(workspaceId: %q, first: 10) { totalCount edges { node { occurredAt action actor { email } target { label } role previousRole } } } }`, res.WorkspaceID), ""
	}
	return fmt.Sprintf(`{ workspace(id: %q) { name plan viewerRole members { user { email } role } } }`, res.WorkspaceID),
		" (the audit log needs an ADMIN of a BUSINESS workspace, which this one no longer is for " + demo.Admin.Email + ")"
}

// redactDSN hides a password in a database URL for the log.
func redactDSN(u string) string {
	scheme := strings.Index(u, "://")
	at := strings.LastIndex(u, "@")
	if scheme < 0 || at < scheme+3 {
		return u
	}
	user, _, hasPassword := strings.Cut(u[scheme+3:at], ":")
	if !hasPassword {
		return u
	}
	return u[:scheme+3] + user + ":***" + u[at:]
}
