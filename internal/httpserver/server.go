// Package httpserver is auditlogd's HTTP surface: the chi router, its
// middleware (request id, client address, access log, panic recovery, CORS,
// rate limits, body limit, authentication, compression), the health,
// readiness and metrics endpoints, the GraphQL Playground, and the mounting
// of the GraphQL API and the export download.
package httpserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/cors"
	"github.com/klauspost/compress/gzhttp"

	"github.com/auditlogd/auditlogd/internal/apperr"
	"github.com/auditlogd/auditlogd/internal/auth"
	"github.com/auditlogd/auditlogd/internal/gqlhttp"
	"github.com/auditlogd/auditlogd/internal/metrics"
	"github.com/auditlogd/auditlogd/internal/reqinfo"
)

// MaxBodyBytes bounds a GraphQL request body.
const MaxBodyBytes = 1 << 20

// ReadyChecker is what readiness checks: that the database can serve
// requests (store.DB.Ready reads a table; a ping is not enough on a Galera
// node without quorum).
type ReadyChecker interface {
	Ready(ctx context.Context) error
}

// UserSyncer creates or refreshes the user behind a verified token.
type UserSyncer interface {
	EnsureUser(ctx context.Context, p auth.Principal) error
}

// KeyAuthenticator turns an API key (a bearer token that starts with alk_)
// into its principal, or an error for a key that cannot be used.
type KeyAuthenticator interface {
	AuthenticateKey(ctx context.Context, token string) (auth.Principal, error)
}

// Deps are what the router serves.
type Deps struct {
	Logger   *slog.Logger
	Metrics  *metrics.Metrics
	DB       ReadyChecker
	Verifier *auth.Verifier
	Users    UserSyncer
	Keys     KeyAuthenticator
	GraphQL  http.Handler
	Exports  ExportDownloader
	// RateLimiter counts requests per user, and anonymous requests per
	// client address (an IPv6 /64, an IPv4 address).
	RateLimiter RateLimiter
	// AddressLimiter counts requests that carry a token per client address,
	// before the token is verified or the body read; it is more generous
	// than RateLimiter, since many users may share an address.
	AddressLimiter RateLimiter
	TrustedProxies []netip.Prefix
	// CORSOrigins are the exact origins (scheme://host[:port]) whose
	// browser pages may call /graphql; none means same-origin only.
	CORSOrigins []string
	// Playground configures the GraphQL Playground at /.
	Playground PlaygroundOptions
	// MetricsElsewhere is true when /metrics is served on a listener of its
	// own (AUDITLOG_METRICS_ADDR, see MetricsHandler), and so not here.
	MetricsElsewhere bool
	// Downloads bound concurrent export downloads; zero values take the
	// defaults of DownloadLimits.
	Downloads DownloadLimits
	// JWKS is the document of the public keys that sign log heads, served
	// at /.well-known/auditlog-keys.json.
	JWKS []byte
	// Extra mounts more handlers (the web page) on the router, under the
	// same middleware.
	Extra func(r chi.Router)
}

type server struct {
	log       *slog.Logger
	metrics   *metrics.Metrics
	ips       clientIP
	deps      Deps
	downloads *downloadSlots
}

// New returns the router. It fails only on a Playground assets folder that
// does not hold the pinned release.
func New(d Deps) (http.Handler, error) {
	s := &server{log: d.Logger, metrics: d.Metrics, ips: clientIP{trusted: d.TrustedProxies}, deps: d,
		downloads: newDownloadSlots(d.Downloads)}
	compress, err := gzhttp.NewWrapper(gzhttp.MinSize(1024))
	if err != nil {
		return nil, err
	}
	r := chi.NewRouter()
	r.Use(s.requestContext, s.accessLog, s.recoverPanics, securityHeaders)
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) { writeStatus(w, http.StatusOK, "ok") })
	r.Get("/readyz", s.ready)
	if !d.MetricsElsewhere {
		r.Handle("/metrics", d.Metrics.Handler())
	}
	if !d.Playground.Disabled {
		pg, err := newPlayground(d.Playground.AssetsDir)
		if err != nil {
			return nil, fmt.Errorf("AUDITLOG_PLAYGROUND_ASSETS: %w", err)
		}
		r.Get("/", pg.ServeHTTP)
		r.Get("/playground/*", compress(pg).ServeHTTP)
	}
	if d.JWKS != nil {
		r.Get("/.well-known/auditlog-keys.json", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/jwk-set+json")
			// Keys change only with a deployment; verifiers may cache them a while.
			w.Header().Set("Cache-Control", "public, max-age=300")
			w.Header().Set("Access-Control-Allow-Origin", "*")
			_, _ = w.Write(d.JWKS)
		})
	}
	r.Group(func(r chi.Router) {
		// Cheapest refusals first: CORS preflights are answered at once,
		// then the per-address limit (before the body is read), the token is
		// verified and the per-user limit taken, and only then is the body
		// read and checked, and the user saved.
		r.Use(s.graphQLMedia)
		if len(d.CORSOrigins) > 0 {
			r.Use(corsHandler(d.CORSOrigins))
		}
		r.Use(s.limitAddress, s.verifyToken, s.rateLimit, s.limitBody, s.requireJSON, s.saveUser, s.graphQLStatus)
		gql := compress(d.GraphQL)
		r.Handle("/graphql", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if isWebsocketUpgrade(r) {
				d.GraphQL.ServeHTTP(w, r) // a websocket is not compressed by gzhttp
				return
			}
			gql.ServeHTTP(w, r)
		}))
	})
	if d.Exports != nil {
		r.With(s.limitAddress, s.rateLimit).Get("/exports/{id}", compress(http.HandlerFunc(s.download)).ServeHTTP)
	}
	if d.Extra != nil {
		d.Extra(r)
	}
	r.NotFound(func(w http.ResponseWriter, r *http.Request) { writeStatus(w, http.StatusNotFound, "not found") })
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeStatus(w, http.StatusMethodNotAllowed, "method not allowed")
	})
	return r, nil
}

// MetricsHandler serves /metrics alone, for a listener of its own
// (AUDITLOG_METRICS_ADDR): everything else is 404.
func MetricsHandler(m *metrics.Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { writeStatus(w, http.StatusNotFound, "not found") })
	return mux
}

// corsHandler answers CORS for /graphql: exact origins only (no wildcards),
// the methods and headers a GraphQL client sends, no credentials (the API
// takes bearer tokens, never cookies), preflights cached for 10 minutes.
func corsHandler(origins []string) func(http.Handler) http.Handler {
	allowed := map[string]bool{}
	for _, o := range origins {
		allowed[o] = true
	}
	return cors.New(cors.Options{
		AllowOriginFunc: func(_ *http.Request, origin string) bool { return allowed[origin] },
		AllowedMethods:  []string{http.MethodGet, http.MethodPost, http.MethodOptions},
		AllowedHeaders: []string{"Accept", "Authorization", "Content-Type", "X-Request-Id",
			"Apollo-Require-Preflight", "Apollographql-Client-Name", "Apollographql-Client-Version"},
		ExposedHeaders:   []string{"X-Request-Id", "Retry-After"},
		AllowCredentials: false,
		MaxAge:           600,
	}).Handler
}

// graphQLMedia records the media type a /graphql client accepts, so that
// the errors answered before GraphQL runs (401, 413, 429…) carry it too:
// with application/graphql-response+json a client reads them as GraphQL
// errors whatever their status.
func (s *server) graphQLMedia(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := context.WithValue(r.Context(), mediaKey{}, gqlhttp.Negotiate(r.Header.Get("Accept")))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

type mediaKey struct{}

// errorMediaType is the Content-Type of an error answered outside GraphQL.
func errorMediaType(r *http.Request) string {
	if m, ok := r.Context().Value(mediaKey{}).(string); ok {
		return m + "; charset=utf-8"
	}
	return "application/json"
}

func writeStatus(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, `{"status":"`+msg+`"}`+"\n")
}

// ready answers 200 while the database can serve requests, 503 otherwise.
func (s *server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.deps.DB.Ready(ctx); err != nil {
		s.log.WarnContext(r.Context(), "not ready: database cannot serve requests", "error", err.Error())
		writeStatus(w, http.StatusServiceUnavailable, "database unavailable")
		return
	}
	writeStatus(w, http.StatusOK, "ok")
}

// limitBody reads at most MaxBodyBytes of the body up front; a larger body is
// answered 413 before any parsing.
func (s *server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > MaxBodyBytes {
			s.fail(w, r, apperr.New(apperr.BadUserInput, "the request body is larger than 1 MiB").WithStatus(http.StatusRequestEntityTooLarge))
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				s.fail(w, r, apperr.New(apperr.BadUserInput, "the request body is larger than 1 MiB").WithStatus(http.StatusRequestEntityTooLarge))
				return
			}
			if err != nil {
				s.fail(w, r, apperr.New(apperr.BadUserInput, "the request body could not be read"))
				return
			}
			r.Body = &bodyReader{Reader: bytes.NewReader(b), bytes: b}
		}
		next.ServeHTTP(w, r)
	})
}

// bodyReader is a request body read in full by limitBody; later middleware
// can look at its bytes without reading it again.
type bodyReader struct {
	*bytes.Reader
	bytes []byte
}

// Close does nothing: the bytes are in memory.
func (*bodyReader) Close() error { return nil }

// verifyToken verifies the bearer token, if any. No token: the request
// goes on anonymous. A bad token: 401 with a GraphQL-shaped body (and the
// client address is charged, so that guessing or replaying tokens is as
// limited as anything anonymous). A good one: its principal goes into the
// context. Nothing here reads the body or the database.
func (s *server) verifyToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, err := auth.TokenFromRequest(r)
		if errors.Is(err, auth.ErrNoToken) {
			next.ServeHTTP(w, r)
			return
		}
		var p auth.Principal
		if err == nil {
			p, err = s.tokens().principal(r.Context(), token)
			var fault *faultError
			if errors.As(err, &fault) {
				s.fail(w, r, fault.err) // the database, not the token
				return
			}
		}
		if err != nil {
			if s.deps.RateLimiter != nil {
				if ok, wait := s.deps.RateLimiter.Allow(anonymousKey(r)); !ok {
					s.tooMany(w, r, wait)
					return
				}
			}
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			s.fail(w, r, apperr.New(apperr.Unauthenticated, "%s", err.Error()))
			return
		}
		next.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), p)))
	})
}

func (s *server) tokens() Authenticator {
	return Authenticator{Verifier: s.deps.Verifier, Keys: s.deps.Keys, Users: s.deps.Users}
}

// Authenticator turns a bearer token into its principal: an API key (alk_…)
// or a JWT. The HTTP middleware and the websocket transport (whose token
// comes in connection_init) authenticate the same way.
type Authenticator struct {
	Verifier *auth.Verifier
	Keys     KeyAuthenticator
	Users    UserSyncer
}

// faultError wraps an error that is not the token's fault (the database).
type faultError struct{ err error }

func (e *faultError) Error() string { return e.err.Error() }
func (e *faultError) Unwrap() error { return e.err }

// principal verifies token without saving its user.
func (a Authenticator) principal(ctx context.Context, token string) (auth.Principal, error) {
	if a.Keys != nil && strings.HasPrefix(token, "alk_") {
		p, err := a.Keys.AuthenticateKey(ctx, token)
		if err != nil && !errors.Is(err, auth.ErrInvalidKey) {
			return auth.Principal{}, &faultError{err}
		}
		return p, err
	}
	return a.Verifier.Verify(token)
}

// Authenticate verifies token and creates or refreshes its user. An error
// that refuses the token is an apperr UNAUTHENTICATED; anything else is a
// fault.
func (a Authenticator) Authenticate(ctx context.Context, token string) (auth.Principal, error) {
	p, err := a.principal(ctx, token)
	var fault *faultError
	if errors.As(err, &fault) {
		return auth.Principal{}, fault.err
	}
	if err != nil {
		return auth.Principal{}, apperr.New(apperr.Unauthenticated, "%s", err.Error())
	}
	if err := a.Users.EnsureUser(ctx, p); err != nil {
		return auth.Principal{}, err
	}
	return p, nil
}

// saveUser creates or refreshes the user behind a verified token, once the
// request has passed every cheaper check.
func (s *server) saveUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := auth.PrincipalFrom(r.Context())
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		if err := s.deps.Users.EnsureUser(r.Context(), p); err != nil {
			reqID := reqinfo.From(r.Context()).RequestID
			s.log.ErrorContext(r.Context(), "cannot save the user of a token", "request_id", reqID, "error", err.Error())
			s.fail(w, r, apperr.New(apperr.Internal, "%s", "the service cannot reach its database; try again shortly and quote request id "+reqID+" if it persists").WithStatus(http.StatusServiceUnavailable))
			return
		}
		next.ServeHTTP(w, r)
	})
}
