// Package config reads auditlogd's configuration from the environment and
// validates all of it at start, so that a bad value stops the process at once
// with one line naming the variable, instead of failing on some later request.
package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/auditlogd/auditlogd/internal/dburl"
	"github.com/auditlogd/auditlogd/internal/integrity"
)

// Error is a configuration error; it names the variable at fault.
type Error struct {
	Var string
	Msg string
}

func (e *Error) Error() string { return e.Var + ": " + e.Msg }

// JWT is how bearer tokens are verified.
type JWT struct {
	// Algorithm is pinned: HS256 with Secret, or RS256/ES256 with PublicKey.
	Algorithm string
	Secret    []byte
	PublicKey any
	// SecretGenerated is true when no key was configured and a random
	// secret was made for this process.
	SecretGenerated bool
	Issuer          string
	Audience        string
	// EmailVerifiedDefault is whether a token without an email_verified
	// claim counts as verified (AUDITLOG_JWT_EMAIL_VERIFIED_DEFAULT).
	EmailVerifiedDefault bool
}

// Config is the whole validated configuration.
type Config struct {
	Addr                  string
	DatabaseURL           string
	JWT                   JWT
	PublicURL             string
	ExportSecret          []byte
	ExportSecretGenerated bool
	// Signer signs log heads (AUDITLOG_SIGNING_KEY); SignerGenerated is
	// true when no key was configured and a random one was made.
	Signer                  *integrity.Signer
	SignerGenerated         bool
	ExportTTL               time.Duration
	PublicInviteTTL         time.Duration
	WorkspacesPerUserPerDay int
	// StreamAllowPrivate lets log streams use http:// and private addresses
	// (AUDITLOG_STREAM_ALLOW_PRIVATE).
	StreamAllowPrivate      bool
	Retention               time.Duration
	PruneInterval           time.Duration
	TrustedProxies          []netip.Prefix
	RateLimitRPS            float64
	InviteAttemptsPerMinute int
	Introspection           bool
	LogLevel                slog.Level
	DBMaxOpenConns          int
	DBQueryTimeout          time.Duration
	ShutdownTimeout         time.Duration

	// LeaseTTL is how long a replica holds a background job's lease between
	// renewals (AUDITLOG_LEASE_TTL): a dead replica's job moves to another
	// within about 1.3 × LeaseTTL.
	LeaseTTL time.Duration
	// CORSOrigins are the exact origins allowed to call /graphql from a
	// browser (AUDITLOG_CORS_ORIGINS).
	CORSOrigins []string
	// Playground serves the GraphQL Playground at / (AUDITLOG_PLAYGROUND).
	Playground bool
	// PlaygroundAssets is a folder holding GraphiQL's pinned release,
	// served instead of the CDN (AUDITLOG_PLAYGROUND_ASSETS).
	PlaygroundAssets string
	// MetricsAddr is a listen address of its own for /metrics
	// (AUDITLOG_METRICS_ADDR); empty: /metrics is on the main listener.
	MetricsAddr string
}

// Defaults, as docs/API.md §2 gives them.
const (
	DefaultAddr        = ":8080"
	DefaultDatabaseURL = "sqlite://auditlog.db"
	DefaultPublicURL   = "http://localhost:8080"
	minSecretLen       = 32
)

// Load reads and validates the configuration from getenv (os.Getenv in
// production; a map in tests).
func Load(getenv func(string) string) (*Config, error) {
	r := reader{getenv: getenv}
	c := &Config{
		Addr:                    r.str("AUDITLOG_ADDR", DefaultAddr),
		DatabaseURL:             r.str("AUDITLOG_DATABASE_URL", DefaultDatabaseURL),
		PublicURL:               r.publicURL("AUDITLOG_PUBLIC_URL"),
		ExportTTL:               r.duration("AUDITLOG_EXPORT_TTL", 15*time.Minute, time.Second, 7*24*time.Hour),
		PublicInviteTTL:         r.duration("AUDITLOG_PUBLIC_INVITE_TTL", 7*24*time.Hour, time.Minute, 365*24*time.Hour),
		WorkspacesPerUserPerDay: r.int("AUDITLOG_WORKSPACES_PER_USER_PER_DAY", 20, 1, 1_000_000),
		StreamAllowPrivate:      r.bool("AUDITLOG_STREAM_ALLOW_PRIVATE", false),
		Retention:               r.duration("AUDITLOG_RETENTION", 2160*time.Hour, time.Second, 100*365*24*time.Hour),
		PruneInterval:           r.duration("AUDITLOG_PRUNE_INTERVAL", time.Hour, time.Second, 7*24*time.Hour),
		TrustedProxies:          r.prefixes("AUDITLOG_TRUSTED_PROXIES"),
		RateLimitRPS:            r.float("AUDITLOG_RATE_LIMIT_RPS", 20),
		InviteAttemptsPerMinute: r.int("AUDITLOG_INVITE_ATTEMPTS_PER_MINUTE", 10, 0, 1_000_000),
		Introspection:           r.bool("AUDITLOG_INTROSPECTION", true),
		LogLevel:                r.level("AUDITLOG_LOG_LEVEL"),
		DBMaxOpenConns:          r.int("AUDITLOG_DB_MAX_OPEN_CONNS", 20, 1, 10_000),
		DBQueryTimeout:          r.duration("AUDITLOG_DB_QUERY_TIMEOUT", 10*time.Second, 10*time.Millisecond, time.Hour),
		ShutdownTimeout:         r.duration("AUDITLOG_SHUTDOWN_TIMEOUT", 30*time.Second, 0, time.Hour),
		CORSOrigins:             r.origins("AUDITLOG_CORS_ORIGINS"),
		Playground:              r.bool("AUDITLOG_PLAYGROUND", true),
		PlaygroundAssets:        r.dir("AUDITLOG_PLAYGROUND_ASSETS"),
		MetricsAddr:             r.str("AUDITLOG_METRICS_ADDR", ""),
	}
	if c.MetricsAddr != "" {
		r.check("AUDITLOG_METRICS_ADDR", validAddr(c.MetricsAddr))
	}
	c.LeaseTTL = r.duration("AUDITLOG_LEASE_TTL", 15*time.Second, time.Second, 10*time.Minute)
	r.check("AUDITLOG_ADDR", validAddr(c.Addr))
	if _, _, err := dburl.Parse(c.DatabaseURL); err != nil {
		r.fail("AUDITLOG_DATABASE_URL", "%s", err.Error())
	}
	c.JWT = r.jwt()
	c.ExportSecret, c.ExportSecretGenerated = r.secret("AUDITLOG_EXPORT_SECRET")
	c.Signer, c.SignerGenerated = r.signer()
	if r.err != nil {
		return nil, r.err
	}
	return c, nil
}

// reader collects the first error while reading variables.
type reader struct {
	getenv func(string) string
	err    error
}

func (r *reader) fail(name, format string, args ...any) {
	if r.err == nil {
		r.err = &Error{Var: name, Msg: fmt.Sprintf(format, args...)}
	}
}

func (r *reader) check(name string, err error) {
	if err != nil {
		r.fail(name, "%s", err.Error())
	}
}

func (r *reader) str(name, def string) string {
	if v := strings.TrimSpace(r.getenv(name)); v != "" {
		return v
	}
	return def
}

func (r *reader) duration(name string, def, lo, hi time.Duration) time.Duration {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		r.fail(name, "%q is not a duration (use e.g. 90s, 15m, 2160h)", v)
		return def
	}
	if d < lo || d > hi {
		r.fail(name, "must be between %s and %s", lo, hi)
	}
	return d
}

func (r *reader) int(name string, def, lo, hi int) int {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		r.fail(name, "must be a whole number between %d and %d", lo, hi)
		return def
	}
	return n
}

func (r *reader) float(name string, def float64) float64 {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || !(f >= 0 && f <= 1e6) { // written so that NaN fails too
		r.fail(name, "must be a number between 0 and 1000000 (0 turns it off)")
		return def
	}
	return f
}

func (r *reader) bool(name string, def bool) bool {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.fail(name, "must be true or false")
		return def
	}
	return b
}

func (r *reader) level(name string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(r.str(name, "info"))); err != nil {
		r.fail(name, "must be debug, info, warn or error")
	}
	return l
}

func (r *reader) publicURL(name string) string {
	v := r.str(name, DefaultPublicURL)
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		r.fail(name, "must be an absolute http(s) URL without query, e.g. https://audit.example.com")
		return v
	}
	return strings.TrimRight(v, "/")
}

func (r *reader) prefixes(name string) []netip.Prefix {
	var out []netip.Prefix
	for _, part := range strings.Split(r.str(name, ""), ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if p, err := netip.ParsePrefix(part); err == nil {
			if p.Addr().Is4In6() && p.Bits() >= 96 {
				// Client addresses are compared unmapped; so are their prefixes.
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			out = append(out, p.Masked())
			continue
		}
		if a, err := netip.ParseAddr(part); err == nil {
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		r.fail(name, "%q is not a CIDR such as 10.0.0.0/8 or an IP address", part)
	}
	return out
}

// signer reads the Ed25519 key that signs log heads, or makes one.
func (r *reader) signer() (*integrity.Signer, bool) {
	s, generated, err := integrity.SignerFromEnv(r.getenv)
	if err != nil {
		msg := err.Error()
		var kf *integrity.KeyFileError
		if errors.As(err, &kf) {
			msg = kf.Path + ": " + kf.Msg
		}
		r.fail(integrity.SigningKeyVar, "%s", msg)
	}
	return s, generated
}

// secret reads a key of at least 32 bytes, or makes a random one.
func (r *reader) secret(name string) ([]byte, bool) {
	if v := r.getenv(name); v != "" {
		if len(v) < minSecretLen {
			r.fail(name, "must be at least %d bytes (e.g. openssl rand -hex 32)", minSecretLen)
		}
		return []byte(v), false
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		r.fail(name, "cannot generate a random key: %v", err)
	}
	return b, true
}

func (r *reader) jwt() JWT {
	j := JWT{Issuer: r.str("AUDITLOG_JWT_ISSUER", ""), Audience: r.str("AUDITLOG_JWT_AUDIENCE", ""),
		EmailVerifiedDefault: r.bool("AUDITLOG_JWT_EMAIL_VERIFIED_DEFAULT", false)}
	keyPath := r.str("AUDITLOG_JWT_PUBLIC_KEY", "")
	if keyPath != "" && r.getenv("AUDITLOG_JWT_SECRET") != "" {
		r.fail("AUDITLOG_JWT_PUBLIC_KEY", "set either AUDITLOG_JWT_SECRET (HS256) or AUDITLOG_JWT_PUBLIC_KEY (RS256/ES256), not both")
		return j
	}
	if keyPath == "" {
		j.Algorithm = "HS256"
		j.Secret, j.SecretGenerated = r.secret("AUDITLOG_JWT_SECRET")
		return j
	}
	key, alg, err := readPublicKey(keyPath)
	if err != nil {
		r.fail("AUDITLOG_JWT_PUBLIC_KEY", "%v", err)
		return j
	}
	// An identity provider signs tokens for many applications with one key:
	// without iss and aud checks, a token it issued for another application
	// would get in here.
	if j.Issuer == "" {
		r.fail("AUDITLOG_JWT_ISSUER", "is required with AUDITLOG_JWT_PUBLIC_KEY: set it to your identity provider's issuer (the iss claim)")
		return j
	}
	if j.Audience == "" {
		r.fail("AUDITLOG_JWT_AUDIENCE", "is required with AUDITLOG_JWT_PUBLIC_KEY: set it to the audience your identity provider puts in tokens for auditlogd (the aud claim)")
		return j
	}
	j.PublicKey, j.Algorithm = key, alg
	return j
}

// readPublicKey reads a PEM RSA or P-256 EC public key and returns it with
// the algorithm it pins.
func readPublicKey(path string) (any, string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("cannot read the key file: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, "", fmt.Errorf("%s holds no PEM block", path)
	}
	var key any
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	default:
		return nil, "", fmt.Errorf("%s holds a %q PEM block, not a public key", path, block.Type)
	}
	if err != nil {
		return nil, "", fmt.Errorf("cannot parse the public key: %w", err)
	}
	switch k := key.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, "", fmt.Errorf("the RSA key has %d bits; at least 2048 are required", k.N.BitLen())
		}
		return k, "RS256", nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, "", fmt.Errorf("the EC key must be on curve P-256 (ES256)")
		}
		return k, "ES256", nil
	}
	return nil, "", fmt.Errorf("unsupported key type %T: use RSA (RS256) or EC P-256 (ES256)", key)
}

// origins reads a comma-separated list of exact origins: scheme and host
// (and port), as a browser sends them in Origin; no paths, no wildcards.
func (r *reader) origins(name string) []string {
	var out []string
	for _, part := range strings.Split(r.str(name, ""), ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		u, err := url.Parse(part)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Contains(part, "*") ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			r.fail(name, "%q is not an exact origin such as https://app.example.com (scheme, host and port only; no wildcards)", part)
			continue
		}
		out = append(out, strings.ToLower(u.Scheme+"://"+u.Host))
	}
	return out
}

// dir reads the path of a folder that must exist.
func (r *reader) dir(name string) string {
	v := r.str(name, "")
	if v == "" {
		return ""
	}
	if st, err := os.Stat(v); err != nil || !st.IsDir() {
		r.fail(name, "%q is not a readable folder", v)
	}
	return v
}

func validAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not a listen address such as :8080 or 127.0.0.1:8080", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q has no valid port", addr)
	}
	return nil
}
