// Package app wires auditlogd together: it opens and migrates the database,
// builds the services, the GraphQL handler and the router. The command and
// the end-to-end tests build the service the same way, through New.
package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/auditlogd/auditlogd/graph"
	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/auth"
	"github.com/auditlogd/auditlogd/internal/config"
	"github.com/auditlogd/auditlogd/internal/httpserver"
	"github.com/auditlogd/auditlogd/internal/integrity"
	"github.com/auditlogd/auditlogd/internal/lease"
	"github.com/auditlogd/auditlogd/internal/live"
	"github.com/auditlogd/auditlogd/internal/metrics"
	"github.com/auditlogd/auditlogd/internal/notify"
	"github.com/auditlogd/auditlogd/internal/ratelimit"
	"github.com/auditlogd/auditlogd/internal/store"
	"github.com/auditlogd/auditlogd/internal/stream"
	"github.com/auditlogd/auditlogd/internal/web"
	"github.com/auditlogd/auditlogd/internal/workspace"
)

// Limits on a GraphQL operation. ComplexityLimit admits a full page of 100
// events with every field (edges and nodes), and little more; the depth
// admits workspace → members → user with room to spare; root fields bound
// aliasing; MaxFields bounds the fields of an operation in all (fragments
// expanded), with room for the standard introspection query of graphql-js
// (230); IntrospectionMaxDepth is that query's depth (15, with its
// nine levels of ofType), which introspection alone may reach; the token
// limit bounds parsing work before any of the others.
const (
	ComplexityLimit       = 5000
	MaxDepth              = 10
	MaxRootFields         = 20
	MaxFields             = 500
	IntrospectionMaxDepth = 15
	ParserTokenLimit      = 5000
)

// App is a wired auditlogd.
type App struct {
	Config     *config.Config
	Log        *slog.Logger
	DB         *store.DB
	Metrics    *metrics.Metrics
	Verifier   *auth.Verifier
	Workspaces *workspace.Service
	Audit      *audit.Service
	Exporter   *audit.Exporter
	Integrity  *integrity.Service
	Pruner     *audit.Pruner
	// Live feeds the auditLogEvents subscriptions; Deliverer pushes log
	// streams (run it with DeliverLoop).
	Live      *live.Hub
	Deliverer *stream.Deliverer
	// Handler is the HTTP router with every endpoint.
	Handler http.Handler
	// MetricsHandler serves /metrics alone, for AUDITLOG_METRICS_ADDR; nil
	// when /metrics is on Handler.
	MetricsHandler http.Handler
	// Now is the clock every service uses.
	Now func() time.Time
}

// Options adjust New for tests.
type Options struct {
	// Now replaces the clock (time.Now).
	Now func() time.Time
	// ExportBatchDeadline replaces how long one batch of an export may take
	// to reach the client (a minute).
	ExportBatchDeadline time.Duration
	// Downloads replace the limits on export downloads at once.
	Downloads httpserver.DownloadLimits
	// StreamTimeout replaces how long a log stream's receiver has to answer
	// a delivery (docs/API.md §11: 10 s), so that tests of a receiver that
	// hangs need not wait that long.
	StreamTimeout time.Duration
}

// AddressRateFactor is how many times the per-user rate a client address
// may send with tokens, before they are verified: many users may share an
// address (an office behind NAT), but one address cannot make the server
// verify tokens and read bodies without bound.
const AddressRateFactor = 10

// New opens the database, applies pending migrations and builds everything.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger, opts Options) (*App, error) {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	// Commits that extend a log wake this process's stream deliverers and
	// live subscriptions at once (other replicas' commits are polled for).
	commits := notify.NewHub()
	m := metrics.New()
	db, err := store.Open(ctx, cfg.DatabaseURL, store.Options{MaxOpenConns: cfg.DBMaxOpenConns, QueryTimeout: cfg.DBQueryTimeout, Now: now,
		OnCommit: func(ids []string) { commits.Notify(ids...) }, OnConflict: m.TransactionConflict, Retention: cfg.Retention})
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	logGalera(log, db)
	applied, err := db.Migrate(ctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate: %w", err)
	}
	if len(applied) > 0 {
		log.Info("migrations applied", "migrations", applied)
	}
	verifier, err := auth.NewVerifier(auth.Settings{Algorithm: cfg.JWT.Algorithm, Secret: cfg.JWT.Secret,
		PublicKey: cfg.JWT.PublicKey, Issuer: cfg.JWT.Issuer, Audience: cfg.JWT.Audience,
		EmailVerifiedDefault: cfg.JWT.EmailVerifiedDefault, Now: now})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("jwt: %w", err)
	}
	a := &App{Config: cfg, Log: log, DB: db, Metrics: m, Verifier: verifier, Now: now}
	a.Metrics.RegisterDBPools(db.Pools())
	a.Workspaces = workspace.NewService(db.Workspaces(), workspace.Options{PublicURL: cfg.PublicURL, Now: now,
		PublicInviteTTL: cfg.PublicInviteTTL, WorkspacesPerUserPerDay: cfg.WorkspacesPerUserPerDay})
	if cfg.InviteAttemptsPerMinute > 0 {
		a.Workspaces.SetInviteThrottle(ratelimit.PerMinute(cfg.InviteAttemptsPerMinute, now))
	}
	a.Audit = audit.NewService(db.Events(), a.Workspaces, audit.NewCursorCodec(cfg.ExportSecret), cfg.Retention, now)
	a.Exporter = audit.NewExporter(db.Events(), a.Workspaces, audit.NewURLSigner(cfg.ExportSecret, cfg.PublicURL),
		audit.ExporterConfig{TTL: cfg.ExportTTL, Retention: cfg.Retention, BatchDeadline: opts.ExportBatchDeadline, Now: now})
	a.Integrity = integrity.NewService(db.Events(), a.Workspaces, cfg.Signer, now)
	secrets, err := stream.NewSecretBox(cfg.ExportSecret)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("stream secrets: %w", err)
	}
	a.Workspaces.SetStreamPolicy(workspace.StreamPolicy{AllowPrivate: cfg.StreamAllowPrivate, Resolver: net.DefaultResolver, Secrets: secrets})
	a.Live = live.NewHub(db.Streams(), a.Workspaces, commits, live.Options{Log: log})
	a.Deliverer = &stream.Deliverer{Store: db.Streams(), Leases: db.Leases(), Owner: lease.NewOwner(), TTL: cfg.LeaseTTL,
		Client: stream.NewClient(stream.Options{AllowPrivate: cfg.StreamAllowPrivate, Timeout: opts.StreamTimeout}), Secrets: secrets, Signer: cfg.Signer,
		Wake: commits, Now: now, Log: log, Linger: stream.DefaultLinger}
	a.Pruner = audit.NewPruner(db.Events(), cfg.Retention, 0, now)
	jwks, err := json.Marshal(cfg.Signer.JWKS())
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("jwks: %w", err)
	}
	gql := graph.NewHandler(&graph.Resolver{WorkspaceService: a.Workspaces, AuditService: a.Audit, Exporter: a.Exporter,
		IntegrityService: a.Integrity, Live: a.Live}, graph.Options{
		Logger: log, Introspection: cfg.Introspection, ComplexityLimit: ComplexityLimit, Observer: a.Metrics,
		Authenticate:     httpserver.Authenticator{Verifier: verifier, Keys: a.Workspaces, Users: a.Workspaces}.Authenticate,
		WebsocketOrigins: originHosts(cfg.CORSOrigins),
		Limits: graph.Limits{MaxDepth: MaxDepth, MaxRootFields: MaxRootFields, MaxFields: MaxFields,
			IntrospectionMaxDepth: IntrospectionMaxDepth}, ParserTokenLimit: ParserTokenLimit,
	})
	deps := httpserver.Deps{
		Logger: log, Metrics: a.Metrics, DB: db, Verifier: verifier, Users: a.Workspaces, Keys: a.Workspaces, GraphQL: gql,
		Exports: a.Exporter, TrustedProxies: cfg.TrustedProxies, JWKS: jwks, CORSOrigins: cfg.CORSOrigins,
		Playground:       httpserver.PlaygroundOptions{Disabled: !cfg.Playground, AssetsDir: cfg.PlaygroundAssets},
		MetricsElsewhere: cfg.MetricsAddr != "",
		Downloads:        opts.Downloads,
		// The Audit Log page (/audit-log) and the invite page (/invite/{token}).
		Extra: web.New().Mount,
	}
	if cfg.RateLimitRPS > 0 {
		deps.RateLimiter = ratelimit.New(cfg.RateLimitRPS, int(math.Ceil(cfg.RateLimitRPS*5)), now)
		perAddress := cfg.RateLimitRPS * AddressRateFactor
		deps.AddressLimiter = ratelimit.New(perAddress, int(math.Ceil(perAddress*5)), now)
	}
	a.Handler, err = httpserver.New(deps)
	if err != nil {
		db.Close()
		return nil, err
	}
	if cfg.MetricsAddr != "" {
		a.MetricsHandler = httpserver.MetricsHandler(a.Metrics)
	}
	return a, nil
}

// logGalera says, at start, when the database is a Galera node and whether
// its reads see what other nodes committed (docs/SCALING.md §2).
func logGalera(log *slog.Logger, db *store.DB) {
	galera, wait := db.Galera()
	if !galera {
		return
	}
	if n, err := strconv.Atoi(wait); err == nil && n&1 == 1 {
		log.Info("database: a Galera cluster node; reads wait until it has applied what the cluster committed before them", "wsrep_sync_wait", wait)
		return
	}
	log.Warn("database: a Galera cluster node without wsrep_sync_wait bit 1: a read through this replica can miss what was just acknowledged through another", "wsrep_sync_wait", wait)
}

// originHosts are the host patterns of origins (scheme://host[:port]), as
// the websocket's origin check compares them.
func originHosts(origins []string) []string {
	var out []string
	for _, o := range origins {
		if u, err := url.Parse(o); err == nil && u.Host != "" {
			out = append(out, u.Host)
		}
	}
	return out
}

// DeliverLoop delivers every live log stream until ctx ends; with several
// replicas, each stream on one of them (a lease per stream).
func (a *App) DeliverLoop(ctx context.Context) { a.Deliverer.Run(ctx) }

// Prune applies the retention policy once, and records and logs what it
// deleted.
func (a *App) Prune(ctx context.Context) (audit.PruneResult, error) {
	res, err := a.Pruner.Run(ctx)
	a.reportPrune(res, err)
	return res, err
}

// RetentionLease names the lease of the retention job.
const RetentionLease = "retention"

// PruneLoop runs the retention job every interval until ctx ends, on one
// replica at a time: only the holder of the RetentionLease prunes, and when
// it dies another replica takes over within about 1.3 × AUDITLOG_LEASE_TTL.
// Pruning is not fenced: it only deletes what the retention no longer
// allows, so a holder paused past its lease that deletes one more batch does
// no harm.
func (a *App) PruneLoop(ctx context.Context, interval time.Duration) {
	r := &lease.Runner{Store: a.DB.Leases(), Name: RetentionLease, Owner: lease.NewOwner(), TTL: a.Config.LeaseTTL, Log: a.Log,
		Job: func(ctx context.Context, _ lease.Lease) error {
			a.Pruner.Loop(ctx, interval, a.reportPrune)
			return nil
		}}
	r.Run(ctx)
}

func (a *App) reportPrune(res audit.PruneResult, err error) {
	a.Metrics.AddPruned(res.Events)
	if err != nil {
		a.Log.Error("retention: prune failed", "error", err.Error(), "events_deleted", res.Events)
		return
	}
	a.Log.Info("retention: pruned", "events_deleted", res.Events, "exports_deleted", res.Exports,
		"workspaces", res.Workspaces, "duration_ms", res.Took.Milliseconds(), "retention", a.Config.Retention.String())
}

// Close releases the database.
func (a *App) Close() error { return a.DB.Close() }
