package httpserver

import (
	"encoding/json"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/auditlogd/auditlogd/internal/apperr"
	"github.com/auditlogd/auditlogd/internal/auth"
	"github.com/auditlogd/auditlogd/internal/ratelimit"
	"github.com/auditlogd/auditlogd/internal/reqinfo"
)

// RateLimiter is a set of token buckets by key; ratelimit.Limiter implements
// it.
type RateLimiter interface {
	Allow(key string) (bool, time.Duration)
}

// anonymousKey is the bucket of a request without a (valid) token: its
// client address, IPv6 addresses by their /64 (one host usually has a whole
// /64 to pick addresses from), IPv4 addresses alone.
func anonymousKey(r *http.Request) string {
	return "ip:" + ratelimit.AddressKey(reqinfo.From(r.Context()).IPAddress)
}

// limitAddress is the cheap per-address limit that runs before the body is
// read or the token verified. A request without an Authorization header is
// anonymous: it takes its token from the anonymous bucket of its address
// here, and is not charged again. A request with one takes a token from
// the address's bucket of AddressLimiter, which many users behind one
// address share; its user is charged after the token is verified.
func (s *server) limitAddress(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limiter, key := s.deps.RateLimiter, anonymousKey(r)
		if r.Header.Get("Authorization") != "" {
			limiter = s.deps.AddressLimiter
		}
		if limiter != nil {
			if ok, wait := limiter.Allow(key); !ok {
				s.tooMany(w, r, wait)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// rateLimit answers 429 with Retry-After once a user exceeds its rate.
// Anonymous requests were counted by limitAddress already.
func (s *server) rateLimit(next http.Handler) http.Handler {
	if s.deps.RateLimiter == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := auth.PrincipalFrom(r.Context()); ok {
			key := "user:" + p.Subject
			if p.APIKey != nil {
				key = "key:" + p.Subject // a key has its own allowance
			}
			if ok, wait := s.deps.RateLimiter.Allow(key); !ok {
				s.tooMany(w, r, wait)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (s *server) tooMany(w http.ResponseWriter, r *http.Request, wait time.Duration) {
	w.Header().Set("Retry-After", retryAfter(wait))
	s.fail(w, r, apperr.New(apperr.RateLimited, "%s", "too many requests; try again in "+retryAfter(wait)+" s"))
}

func retryAfter(d time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(d.Seconds()))))
}

// graphQLStatus turns a GraphQL answer that holds a RATE_LIMITED error into
// HTTP 429 with Retry-After, as the contract asks.
func (s *server) graphQLStatus(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, hint := apperr.WithHint(r.Context())
		next.ServeHTTP(&hintWriter{ResponseWriter: w, hint: hint}, r.WithContext(ctx))
	})
}

// hintWriter rewrites the status of a response whose hint says it was rate
// limited; the body (with the RATE_LIMITED error) is written as it is.
type hintWriter struct {
	http.ResponseWriter
	hint    *apperr.Hint
	written bool
}

func (h *hintWriter) WriteHeader(code int) {
	if h.written {
		return
	}
	h.written = true
	if limited, wait := h.hint.RateLimited(); limited && code < 400 {
		h.Header().Set("Retry-After", retryAfter(wait))
		code = http.StatusTooManyRequests
	}
	h.ResponseWriter.WriteHeader(code)
}

func (h *hintWriter) Write(b []byte) (int, error) {
	if !h.written {
		h.WriteHeader(http.StatusOK)
	}
	return h.ResponseWriter.Write(b)
}

func (h *hintWriter) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// graphQLRequest is the shape of a POST body.
type graphQLRequest struct {
	Query         string         `json:"query"`
	OperationName string         `json:"operationName"`
	Variables     map[string]any `json:"variables"`
	Extensions    map[string]any `json:"extensions"`
}

// requireJSON admits only what the API speaks: GET with a well-formed query
// string, or POST of one JSON object with Content-Type application/json.
// Form posts and text/plain bodies are refused (a cross-site form can send
// those without a CORS preflight), and so are JSON arrays of operations
// (batches would multiply one request's cost past every per-request limit)
// and connection upgrades.
func (s *server) requireJSON(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" {
			// Subscriptions (graphql-transport-ws) upgrade a GET; their
			// token comes in connection_init. Any other upgrade is refused
			// here, with a code (gqlgen would answer without one).
			if isWebsocketUpgrade(r) {
				if msg := websocketHandshakeProblem(r); msg != "" {
					s.fail(w, r, apperr.New(apperr.BadUserInput, "%s", msg))
					return
				}
				next.ServeHTTP(w, r)
				return
			}
			s.fail(w, r, apperr.New(apperr.BadUserInput, "this endpoint upgrades only to a websocket (GET, Upgrade: websocket) for subscriptions"))
			return
		}
		switch r.Method {
		case http.MethodGet:
			if msg := checkQueryString(r.URL.RawQuery); msg != "" {
				s.fail(w, r, apperr.New(apperr.BadUserInput, "%s", msg))
				return
			}
			next.ServeHTTP(w, r)
			return
		case http.MethodPost:
		default:
			w.Header().Set("Allow", "GET, POST")
			s.fail(w, r, apperr.New(apperr.BadUserInput, "use POST (or GET for queries)").WithStatus(http.StatusMethodNotAllowed))
			return
		}
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "application/json" {
			s.fail(w, r, apperr.New(apperr.BadUserInput, "send the request as Content-Type: application/json").WithStatus(http.StatusUnsupportedMediaType))
			return
		}
		body, _ := r.Body.(*bodyReader)
		var raw []byte
		if body != nil {
			raw = body.bytes
		}
		trimmed := trimSpace(raw)
		if len(trimmed) > 0 && trimmed[0] == '[' {
			s.fail(w, r, apperr.New(apperr.BadUserInput, "batched requests (a JSON array) are not supported; send one operation per request"))
			return
		}
		var req graphQLRequest
		if err := json.Unmarshal(raw, &req); err != nil {
			s.fail(w, r, apperr.New(apperr.BadUserInput, "the body must be a JSON object with query, variables and operationName"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// checkQueryString checks what the GET transport will read from the query
// string, so that a malformed one is answered with an error code (gqlgen's
// own answers have none). It returns what is wrong, or "".
func checkQueryString(raw string) string {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return "the query string is malformed: " + err.Error()
	}
	for _, name := range []string{"variables", "extensions"} {
		if v := q.Get(name); v != "" {
			var m map[string]any
			if json.Unmarshal([]byte(v), &m) != nil {
				return name + " must be a JSON object"
			}
		}
	}
	return ""
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r') {
		b = b[1:]
	}
	return b
}

// isWebsocketUpgrade reports whether r asks to open a websocket.
func isWebsocketUpgrade(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// websocketHandshakeProblem says what is wrong with a websocket handshake
// (RFC 6455 §4.2.1), so that a malformed one is answered with a code rather
// than the websocket library's plain text; "" when it is well formed.
func websocketHandshakeProblem(r *http.Request) string {
	if !headerHasToken(r.Header, "Connection", "upgrade") {
		return "a websocket handshake needs Connection: Upgrade"
	}
	if r.Header.Get("Sec-WebSocket-Version") != "13" {
		return "a websocket handshake needs Sec-WebSocket-Version: 13"
	}
	if r.Header.Get("Sec-WebSocket-Key") == "" {
		return "a websocket handshake needs a Sec-WebSocket-Key"
	}
	return ""
}

// headerHasToken reports whether a comma-separated header holds token.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
