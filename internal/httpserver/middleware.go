package httpserver

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/auditlogd/auditlogd/internal/apperr"
	"github.com/auditlogd/auditlogd/internal/ids"
	"github.com/auditlogd/auditlogd/internal/reqinfo"
)

const maxUserAgent = 512

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// requestContext gives every request an id (echoed in X-Request-Id), finds
// the client address and user agent, and puts them in the context, where the
// services find them for the events they write and the logs find the id.
func (s *server) requestContext(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !s.ips.fromTrustedProxy(r) || !requestIDPattern.MatchString(id) {
			id = ids.New(time.Now())
		}
		w.Header().Set("X-Request-Id", id)
		ri := reqinfo.Info{RequestID: id, IPAddress: s.ips.of(r), UserAgent: cleanUserAgent(r.UserAgent())}
		next.ServeHTTP(w, r.WithContext(reqinfo.With(r.Context(), ri)))
	})
}

// cleanUserAgent keeps the user agent as evidence but bounds it: valid UTF-8,
// no control characters, at most 512 bytes.
func cleanUserAgent(ua string) string {
	ua = strings.ToValidUTF8(ua, "\uFFFD")
	ua = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, ua)
	if len(ua) > maxUserAgent {
		cut := maxUserAgent
		for cut > 0 && !utf8.RuneStart(ua[cut]) {
			cut--
		}
		ua = ua[:cut]
	}
	return ua
}

// statusRecorder remembers the status and size of a response. It passes
// Flush and the ResponseController's deadline calls through.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Flush lets streaming handlers flush through the recorder.
func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// accessLog logs one JSON line per request and records its metrics. It logs
// the route and a path without its query string, and hides invite tokens, so
// that secrets in URLs never reach the log.
func (s *server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		ctx, queries := reqinfo.WithQueries(r.Context())
		r = r.WithContext(ctx)
		next.ServeHTTP(rec, r)
		took := time.Since(start)
		route := chi.RouteContext(r.Context()).RoutePattern()
		if route == "" {
			route = "unmatched"
		}
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		s.metrics.ObserveHTTP(route, r.Method, rec.status, took)
		level := slog.LevelInfo
		if rec.status >= 500 {
			level = slog.LevelError
		}
		s.log.LogAttrs(r.Context(), level, "request",
			slog.String("request_id", reqinfo.From(r.Context()).RequestID),
			slog.String("method", r.Method), slog.String("route", route), slog.String("path", redactPath(r.URL.Path)),
			slog.Int("status", rec.status), slog.Int64("bytes", rec.bytes),
			slog.Float64("duration_ms", float64(took.Microseconds())/1000),
			slog.Int64("db_queries", queries.Count()),
			slog.String("ip", reqinfo.From(r.Context()).IPAddress))
	})
}

// redactPath hides the token of /invite/{token} paths.
func redactPath(p string) string {
	if strings.HasPrefix(p, "/invite/") {
		return "/invite/[redacted]"
	}
	if len(p) > 256 {
		return p[:256] + "…"
	}
	return p
}

// recoverPanics turns a handler's panic into a 500 with an INTERNAL body; the
// stack goes to the log under the request id.
func (s *server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.ErrorContext(r.Context(), "panic", "request_id", reqinfo.From(r.Context()).RequestID,
					"panic", p, "stack", string(debug.Stack()))
				s.fail(w, r, apperr.New(apperr.Internal, "%s", "internal error; quote request id "+reqinfo.From(r.Context()).RequestID+" when you report it"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// securityHeaders are sent with every response.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}

// gqlErrorBody is the GraphQL-shaped body of errors answered outside
// GraphQL execution (401, 413, 429, 500).
type gqlErrorBody struct {
	Errors []gqlError `json:"errors"`
}

type gqlError struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

// fail answers err outside GraphQL execution with a GraphQL-shaped body and
// the HTTP status of its code (apperr.HTTPStatus). Anything but an
// *apperr.Error is a fault: it is logged under the request id and answered
// INTERNAL with nothing but that id.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	e, ok := apperr.As(err)
	if !ok {
		reqID := reqinfo.From(r.Context()).RequestID
		s.log.ErrorContext(r.Context(), "internal error", "request_id", reqID, "route", chi.RouteContext(r.Context()).RoutePattern(), "error", err.Error())
		e = apperr.New(apperr.Internal, "internal error; quote request id %s when you report it", reqID)
	}
	s.metrics.CountError(string(e.Code))
	if _, read := r.Body.(*bodyReader); !read && r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		// Refused before its body was read: close the connection after the
		// answer, rather than let net/http read (up to 256 KB of) the body
		// first, which a client that never finishes it would hold forever.
		w.Header().Set("Connection", "close")
	}
	w.Header().Set("Content-Type", errorMediaType(r))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(apperr.HTTPStatus(e))
	_ = json.NewEncoder(w).Encode(gqlErrorBody{Errors: []gqlError{{Message: e.Message, Extensions: map[string]any{"code": string(e.Code)}}}})
}
