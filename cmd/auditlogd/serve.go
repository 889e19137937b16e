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

// printDemo seeds the demo workspace and prints how to use it.
func printDemo(ctx context.Context, a *app.App, w io.Writer) error {
	res, err := demo.Seed(ctx, a.DB.Workspaces(), a.Config.PublicURL, a.Now())
	if err != nil {
		return err
	}
	if res.WorkspaceID == "" {
		fmt.Fprintln(w, "The database is not empty; --demo created nothing.")
		return nil
	}
	base := a.Config.PublicURL
	verified := true
	tok, err := a.Verifier.Sign(auth.Claims{Subject: demo.Admin.Subject, Email: demo.Admin.Email, Name: demo.Admin.Name, EmailVerified: &verified, TTL: 24 * time.Hour})
	if err != nil {
		fmt.Fprintf(w, "Demo workspace %s is ready, but no token can be printed: %v\n", res.WorkspaceID, err)
		return nil
	}
	fmt.Fprintf(w, `
auditlogd demo is ready: workspace "Acme Inc. (demo)" (%s) on the BUSINESS plan.

  Admin token for alice@example.com (valid 24 hours):
    %s

  Audit Log page (signs you in as alice@example.com):
    %s

  GraphQL Playground: %s/
    paste into HTTP HEADERS: {"Authorization": "Bearer %s"}

  Example query:
    { auditLog(workspaceId: "%s", first: 10) { totalCount edges { node { occurredAt action actor { email } target { label } role previousRole } } } }

  With curl:
    curl -s %s/graphql -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' \
      -d '{"query":"{ workspaces { id name plan viewerRole } }"}'

`, res.WorkspaceID, tok, base+"/audit-log#token="+tok, base, tok, res.WorkspaceID, base, tok)
	return nil
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
