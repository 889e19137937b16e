// Package httpserver is auditlogd's HTTP surface: the chi router, its
// middleware (request id, client address, access log, panic recovery, body
// limit, authentication), the health, readiness and metrics endpoints, and
// the mounting of the GraphQL API and the export download.
package httpserver

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql/playground"
	"github.com/go-chi/chi/v5"

	"github.com/auditlogd/auditlogd/internal/apperr"
	"github.com/auditlogd/auditlogd/internal/auth"
	"github.com/auditlogd/auditlogd/internal/metrics"
	"github.com/auditlogd/auditlogd/internal/reqinfo"
)

// MaxBodyBytes bounds a GraphQL request body.
const MaxBodyBytes = 1 << 20

// Pinger is what readiness checks: the database.
type Pinger interface {
	Ping(ctx context.Context) error
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
	Logger         *slog.Logger
	Metrics        *metrics.Metrics
	DB             Pinger
	Verifier       *auth.Verifier
	Users          UserSyncer
	Keys           KeyAuthenticator
	GraphQL        http.Handler
	Exports        ExportDownloader
	RateLimiter    RateLimiter
	TrustedProxies []netip.Prefix
	// JWKS is the document of the public keys that sign log heads, served
	// at /.well-known/auditlog-keys.json.
	JWKS []byte
	// Extra mounts more handlers (the web page) on the router, under the
	// same middleware.
	Extra func(r chi.Router)
}

type server struct {
	log     *slog.Logger
	metrics *metrics.Metrics
	ips     clientIP
	deps    Deps
}

// New returns the router.
func New(d Deps) http.Handler {
	s := &server{log: d.Logger, metrics: d.Metrics, ips: clientIP{trusted: d.TrustedProxies}, deps: d}
	r := chi.NewRouter()
	r.Use(s.requestContext, s.accessLog, s.recoverPanics, securityHeaders)
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) { writeStatus(w, http.StatusOK, "ok") })
	r.Get("/readyz", s.ready)
	r.Handle("/metrics", d.Metrics.Handler())
	if d.JWKS != nil {
		r.Get("/.well-known/auditlog-keys.json", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/jwk-set+json")
			// Keys change only with a deployment; verifiers may cache them a while.
			w.Header().Set("Cache-Control", "public, max-age=300")
			w.Header().Set("Access-Control-Allow-Origin", "*")
			_, _ = w.Write(d.JWKS)
		})
	}
	r.Get("/", playground.Handler("auditlogd", "/graphql"))
	r.Group(func(r chi.Router) {
		r.Use(s.limitBody, s.requireJSON, s.authenticate, s.rateLimit, s.graphQLStatus)
		r.Handle("/graphql", d.GraphQL)
	})
	if d.Exports != nil {
		r.With(s.rateLimit).Get("/exports/{id}", s.download)
	}
	if d.Extra != nil {
		d.Extra(r)
	}
	r.NotFound(func(w http.ResponseWriter, r *http.Request) { writeStatus(w, http.StatusNotFound, "not found") })
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeStatus(w, http.StatusMethodNotAllowed, "method not allowed")
	})
	return r
}

func writeStatus(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, `{"status":"`+msg+`"}`+"\n")
}

// ready answers 200 while the database answers, 503 otherwise.
func (s *server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.deps.DB.Ping(ctx); err != nil {
		s.log.WarnContext(r.Context(), "not ready: database does not answer", "error", err.Error())
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

// authenticate verifies the bearer token, if any. No token: the request
// goes on anonymous. A bad token: 401 with a GraphQL-shaped body. A good
// one: its principal goes into the context and its user is created or
// refreshed.
func (s *server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, err := auth.TokenFromRequest(r)
		if errors.Is(err, auth.ErrNoToken) {
			next.ServeHTTP(w, r)
			return
		}
		var p auth.Principal
		if err == nil && s.deps.Keys != nil && strings.HasPrefix(token, "alk_") {
			p, err = s.deps.Keys.AuthenticateKey(r.Context(), token)
			if err != nil && !errors.Is(err, auth.ErrInvalidKey) {
				s.fail(w, r, err) // the database, not the key
				return
			}
			if err == nil {
				next.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), p)))
				return
			}
		} else if err == nil {
			p, err = s.deps.Verifier.Verify(token)
		}
		if err != nil {
			// Bad tokens count against the client address, so that guessing
			// or replaying them is as limited as anything else.
			if s.deps.RateLimiter != nil {
				if ok, wait := s.deps.RateLimiter.Allow("ip:" + reqinfo.From(r.Context()).IPAddress); !ok {
					s.tooMany(w, r, wait)
					return
				}
			}
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			s.fail(w, r, apperr.New(apperr.Unauthenticated, "%s", err.Error()))
			return
		}
		if err := s.deps.Users.EnsureUser(r.Context(), p); err != nil {
			reqID := reqinfo.From(r.Context()).RequestID
			s.log.ErrorContext(r.Context(), "cannot save the user of a token", "request_id", reqID, "error", err.Error())
			s.fail(w, r, apperr.New(apperr.Internal, "%s", "the service cannot reach its database; try again shortly and quote request id "+reqID+" if it persists").WithStatus(http.StatusServiceUnavailable))
			return
		}
		next.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), p)))
	})
}
