package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/auditlogd/auditlogd/internal/app"
	"github.com/auditlogd/auditlogd/internal/auth"
	"github.com/auditlogd/auditlogd/internal/config"
	"github.com/auditlogd/auditlogd/internal/seed"
	"github.com/auditlogd/auditlogd/internal/store"
)

// migrate applies pending migrations and exits.
func migrate(ctx context.Context, args []string, e env, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(e)
	if err != nil {
		return err
	}
	db, err := store.Open(ctx, cfg.DatabaseURL, store.Options{MaxOpenConns: 2, QueryTimeout: time.Minute})
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer db.Close()
	applied, err := db.Migrate(ctx)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintln(stdout, "the database is up to date")
		return nil
	}
	fmt.Fprintf(stdout, "applied: %s\n", strings.Join(applied, ", "))
	return nil
}

// token prints a JWT signed with the configured HS256 secret.
func token(args []string, e env, stdout, stderr io.Writer) error {
	fs := newFlagSet("token", stderr)
	var c auth.Claims
	fs.StringVar(&c.Subject, "sub", "", "the user's id (required)")
	fs.StringVar(&c.Email, "email", "", "the user's email (required for user tokens)")
	fs.StringVar(&c.Name, "name", "", "display name")
	fs.StringVar(&c.Scope, "scope", "", "space-separated scopes, e.g. billing:write")
	fs.DurationVar(&c.TTL, "ttl", time.Hour, "lifetime")
	verified := fs.Bool("email-verified", true, "the email_verified claim (with --email)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c.EmailVerified = verified
	if c.Subject == "" {
		return fmt.Errorf("token: --sub is required")
	}
	if c.TTL <= 0 {
		return fmt.Errorf("token: --ttl must be positive")
	}
	cfg, err := config.Load(e)
	if err != nil {
		return err
	}
	if cfg.JWT.Algorithm != "HS256" {
		return fmt.Errorf("token: tokens are verified with AUDITLOG_JWT_PUBLIC_KEY; sign them with your identity provider")
	}
	if cfg.JWT.SecretGenerated {
		return fmt.Errorf("token: AUDITLOG_JWT_SECRET is not set; a token signed with a random key would be useless")
	}
	v, err := auth.NewVerifier(auth.Settings{Algorithm: "HS256", Secret: cfg.JWT.Secret, Issuer: cfg.JWT.Issuer, Audience: cfg.JWT.Audience})
	if err != nil {
		return err
	}
	tok, err := v.Sign(c)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

// prune applies the retention policy once and prints what it deleted.
func prune(ctx context.Context, args []string, e env, stdout, stderr io.Writer) error {
	fs := newFlagSet("prune", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(e)
	if err != nil {
		return err
	}
	a, err := app.New(ctx, cfg, newLogger(stderr, cfg.LogLevel), app.Options{})
	if err != nil {
		return err
	}
	defer a.Close()
	res, err := a.Prune(ctx)
	if err != nil {
		return fmt.Errorf("prune: %w", err)
	}
	fmt.Fprintf(stdout, "{\"events_deleted\":%d,\"exports_deleted\":%d,\"workspaces\":%d,\"duration_ms\":%d}\n",
		res.Events, res.Exports, res.Workspaces, res.Took.Milliseconds())
	return nil
}

// seedCmd fills the configured database with a realistic audit log for
// benchmarks and prints one JSON line describing it.
func seedCmd(ctx context.Context, args []string, e env, stdout, stderr io.Writer) error {
	fs := newFlagSet("seed", stderr)
	var o seed.Options
	fs.IntVar(&o.Workspaces, "workspaces", 10, "number of BUSINESS workspaces")
	fs.IntVar(&o.Events, "events", 100_000, "number of events in total (the first workspace holds half)")
	fs.StringVar(&o.AdminSub, "admin-sub", "", "id of a user made ADMIN of every seeded workspace (required)")
	fs.StringVar(&o.AdminEmail, "admin-email", "", "that user's email (required)")
	fs.IntVar(&o.Workers, "workers", 4, "parallel insert workers")
	fs.IntVar(&o.Batch, "batch", 2000, "events per insert statement")
	fs.Uint64Var(&o.Seed, "seed", 1, "random seed, for reproducible data")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(e)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.LogLevel)
	a, err := app.New(ctx, cfg, log, app.Options{})
	if err != nil {
		return err
	}
	defer a.Close()
	o.Window, o.Now = cfg.Retention, a.Now()
	if a.DB.Dialect() == store.SQLite {
		o.Workers = 1 // SQLite has one writer: more workers would only queue
	}
	start := time.Now()
	res, err := seed.Run(ctx, a.DB.Bulk(), o)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	took := time.Since(start)
	log.Info("seeded", "workspaces", len(res.Workspaces), "events", res.Events, "largest", res.Largest,
		"seconds", took.Seconds(), "events_per_second", int(float64(res.Events)/took.Seconds()))
	return json.NewEncoder(stdout).Encode(res)
}
