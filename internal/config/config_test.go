package config_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/auditlogd/auditlogd/internal/config"
)

const secret32 = "0123456789abcdef0123456789abcdef"

// env turns a map into a getenv.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	c, err := config.Load(env(nil))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	type contract struct {
		Addr, DatabaseURL, PublicURL string
		ExportTTL, Retention         time.Duration
		RateLimitRPS                 float64
		InviteAttemptsPerMinute      int
		Algorithm                    string
		SecretGenerated              bool
		ExportSecretGenerated        bool
		Issuer, Audience             string
		TrustedProxies               int
	}
	want := contract{
		Addr: ":8080", DatabaseURL: "sqlite://auditlog.db", PublicURL: "http://localhost:8080",
		ExportTTL: 15 * time.Minute, Retention: 2160 * time.Hour, RateLimitRPS: 20, InviteAttemptsPerMinute: 10,
		Algorithm: "HS256", SecretGenerated: true, ExportSecretGenerated: true,
	}
	got := contract{
		Addr: c.Addr, DatabaseURL: c.DatabaseURL, PublicURL: c.PublicURL, ExportTTL: c.ExportTTL, Retention: c.Retention,
		RateLimitRPS: c.RateLimitRPS, InviteAttemptsPerMinute: c.InviteAttemptsPerMinute, Algorithm: c.JWT.Algorithm,
		SecretGenerated: c.JWT.SecretGenerated, ExportSecretGenerated: c.ExportSecretGenerated,
		Issuer: c.JWT.Issuer, Audience: c.JWT.Audience, TrustedProxies: len(c.TrustedProxies),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-docs/API.md §2 +got):\n%s", diff)
	}
	if len(c.JWT.Secret) < 32 || len(c.ExportSecret) < 32 {
		t.Errorf("generated secrets are %d and %d bytes, want at least 32", len(c.JWT.Secret), len(c.ExportSecret))
	}
	if c.JWT.PublicKey != nil {
		t.Errorf("a public key without AUDITLOG_JWT_PUBLIC_KEY: %T", c.JWT.PublicKey)
	}
	if c.LogLevel != slog.LevelInfo || !c.Introspection {
		t.Errorf("log level %v, introspection %v; want info, true", c.LogLevel, c.Introspection)
	}
	// Generated keys differ per process start.
	c2, err := config.Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if string(c.JWT.Secret) == string(c2.JWT.Secret) || string(c.ExportSecret) == string(c2.ExportSecret) || string(c.JWT.Secret) == string(c.ExportSecret) {
		t.Error("generated secrets repeat")
	}
}

func TestLoadReadsEveryVariable(t *testing.T) {
	t.Parallel()
	c, err := config.Load(env(map[string]string{
		"AUDITLOG_ADDR":                       "127.0.0.1:9090",
		"AUDITLOG_DATABASE_URL":               "mysql://root@tcp(127.0.0.1:3306)/auditlog",
		"AUDITLOG_JWT_SECRET":                 secret32,
		"AUDITLOG_JWT_ISSUER":                 "https://id.example.com",
		"AUDITLOG_JWT_AUDIENCE":               "auditlogd",
		"AUDITLOG_PUBLIC_URL":                 "https://audit.example.com/",
		"AUDITLOG_EXPORT_SECRET":              secret32 + "x",
		"AUDITLOG_EXPORT_TTL":                 "5m",
		"AUDITLOG_RETENTION":                  "48h",
		"AUDITLOG_RATE_LIMIT_RPS":             "0",
		"AUDITLOG_INVITE_ATTEMPTS_PER_MINUTE": "3",
	}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	type read struct {
		Addr, DatabaseURL, PublicURL, Algorithm, Secret, Issuer, Audience, ExportSecret string
		ExportTTL, Retention                                                            time.Duration
		RateLimitRPS                                                                    float64
		InviteAttempts                                                                  int
		Generated                                                                       [2]bool
	}
	want := read{"127.0.0.1:9090", "mysql://root@tcp(127.0.0.1:3306)/auditlog", "https://audit.example.com", "HS256", secret32,
		"https://id.example.com", "auditlogd", secret32 + "x", 5 * time.Minute, 48 * time.Hour, 0, 3, [2]bool{false, false}}
	got := read{c.Addr, c.DatabaseURL, c.PublicURL, c.JWT.Algorithm, string(c.JWT.Secret), c.JWT.Issuer, c.JWT.Audience,
		string(c.ExportSecret), c.ExportTTL, c.Retention, c.RateLimitRPS, c.InviteAttemptsPerMinute,
		[2]bool{c.JWT.SecretGenerated, c.ExportSecretGenerated}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
}

// TestLoadRefusesBadValues checks that every bad value stops Load with a
// *config.Error that names the variable at fault.
func TestLoadRefusesBadValues(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	privDER := x509.MarshalPKCS1PrivateKey(priv)
	goodKey := writePublicKey(t, dir, "good.pem", &priv.PublicKey)
	noPEM := write("no-pem.pem", "this is not PEM at all\n")
	privatePEM := write("private.pem", string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: privDER})))
	certLike := write("cert.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("not a certificate")})))
	garbage := write("garbage.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte("garbage")})))
	garbagePKCS1 := write("garbage-pkcs1.pem", string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: []byte("garbage")})))
	unreadable := filepath.Join(dir, "missing.pem")
	directory := dir

	for _, tc := range []struct {
		name, variable, value string
		also                  map[string]string
	}{
		{"database-url-without-scheme", "AUDITLOG_DATABASE_URL", "auditlog.db", nil},
		{"database-url-postgres", "AUDITLOG_DATABASE_URL", "postgres://localhost/auditlog", nil},
		{"database-url-sqlite-without-path", "AUDITLOG_DATABASE_URL", "sqlite://", nil},
		{"database-url-mysql-without-db-name", "AUDITLOG_DATABASE_URL", "mysql://root@tcp(127.0.0.1:3306)/", nil},
		{"database-url-mysql-bad-dsn", "AUDITLOG_DATABASE_URL", "mysql://root@tcp(127.0.0.1:3306", nil},
		{"database-url-mysql-upper-case-scheme", "AUDITLOG_DATABASE_URL", "MYSQL://root@tcp(127.0.0.1:3306)/auditlog", nil},
		{"jwt-secret-31-bytes", "AUDITLOG_JWT_SECRET", secret32[:31], nil},
		{"jwt-secret-short", "AUDITLOG_JWT_SECRET", "secret", nil},
		{"jwt-public-key-unreadable", "AUDITLOG_JWT_PUBLIC_KEY", unreadable, nil},
		{"jwt-public-key-is-a-directory", "AUDITLOG_JWT_PUBLIC_KEY", directory, nil},
		{"jwt-public-key-not-pem", "AUDITLOG_JWT_PUBLIC_KEY", noPEM, nil},
		{"jwt-public-key-is-a-private-key", "AUDITLOG_JWT_PUBLIC_KEY", privatePEM, nil},
		{"jwt-public-key-is-a-certificate-block", "AUDITLOG_JWT_PUBLIC_KEY", certLike, nil},
		{"jwt-public-key-pem-holds-garbage", "AUDITLOG_JWT_PUBLIC_KEY", garbage, nil},
		{"jwt-public-key-pkcs1-pem-holds-garbage", "AUDITLOG_JWT_PUBLIC_KEY", garbagePKCS1, nil},
		{"jwt-secret-and-public-key-both-set", "AUDITLOG_JWT_PUBLIC_KEY", goodKey, map[string]string{"AUDITLOG_JWT_SECRET": secret32}},
		{"export-ttl-not-a-duration", "AUDITLOG_EXPORT_TTL", "15", nil},
		{"export-ttl-words", "AUDITLOG_EXPORT_TTL", "fifteen minutes", nil},
		{"export-ttl-negative", "AUDITLOG_EXPORT_TTL", "-1m", nil},
		{"export-ttl-zero", "AUDITLOG_EXPORT_TTL", "0s", nil},
		{"retention-in-days", "AUDITLOG_RETENTION", "90d", nil},
		{"retention-zero", "AUDITLOG_RETENTION", "0", nil},
		{"retention-negative", "AUDITLOG_RETENTION", "-48h", nil},
		{"trusted-proxies-bad-prefix-length", "AUDITLOG_TRUSTED_PROXIES", "10.0.0.0/33", nil},
		{"trusted-proxies-hostname", "AUDITLOG_TRUSTED_PROXIES", "proxy.internal", nil},
		{"trusted-proxies-one-bad-among-good", "AUDITLOG_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.0.300", nil},
		{"rate-limit-negative", "AUDITLOG_RATE_LIMIT_RPS", "-1", nil},
		{"rate-limit-not-a-number", "AUDITLOG_RATE_LIMIT_RPS", "fast", nil},
		{"rate-limit-nan", "AUDITLOG_RATE_LIMIT_RPS", "NaN", nil},
		{"rate-limit-infinite", "AUDITLOG_RATE_LIMIT_RPS", "+Inf", nil},
		{"invite-attempts-negative", "AUDITLOG_INVITE_ATTEMPTS_PER_MINUTE", "-1", nil},
		{"invite-attempts-fraction", "AUDITLOG_INVITE_ATTEMPTS_PER_MINUTE", "2.5", nil},
		{"public-url-without-scheme", "AUDITLOG_PUBLIC_URL", "audit.example.com", nil},
		{"public-url-host-and-port-only", "AUDITLOG_PUBLIC_URL", "localhost:8080", nil},
		{"public-url-ftp", "AUDITLOG_PUBLIC_URL", "ftp://audit.example.com", nil},
		{"public-url-without-host", "AUDITLOG_PUBLIC_URL", "https://", nil},
		{"public-url-with-query", "AUDITLOG_PUBLIC_URL", "https://audit.example.com/?x=1", nil},
		{"public-url-with-fragment", "AUDITLOG_PUBLIC_URL", "https://audit.example.com/#top", nil},
		{"public-url-unparseable", "AUDITLOG_PUBLIC_URL", "http://[::1", nil},
		{"addr-without-port", "AUDITLOG_ADDR", "localhost", nil},
		{"addr-port-only-without-colon", "AUDITLOG_ADDR", "8080", nil},
		{"addr-port-out-of-range", "AUDITLOG_ADDR", ":65536", nil},
		{"addr-port-not-a-number", "AUDITLOG_ADDR", ":eighty", nil},
		{"export-secret-short", "AUDITLOG_EXPORT_SECRET", "short-export-secret", nil},
		{"log-level-unknown", "AUDITLOG_LOG_LEVEL", "loud", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := map[string]string{tc.variable: tc.value}
			for k, v := range tc.also {
				m[k] = v
			}
			c, err := config.Load(env(m))
			if err == nil {
				t.Fatalf("Load accepted %s=%q", tc.variable, tc.value)
			}
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v (%T) is not a *config.Error", err, err)
			}
			if ce.Var != tc.variable {
				t.Errorf("error names %s, want %s: %v", ce.Var, tc.variable, err)
			}
			if !strings.HasPrefix(err.Error(), tc.variable+": ") || ce.Msg == "" || strings.Contains(ce.Msg, "\n") {
				t.Errorf("error %q is not one line that starts with the variable", err.Error())
			}
			if c != nil {
				t.Errorf("Load returned a config with its error")
			}
		})
	}
}

// writePublicKey writes pub as a PKIX "PUBLIC KEY" PEM file and returns its path.
func writePublicKey(t *testing.T, dir, name string, pub crypto.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, dir, name, "PUBLIC KEY", der)
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLoadPublicKeys checks which public keys pin which algorithm, and
// which are refused.
func TestLoadPublicKeys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rsa2048, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	for _, tc := range []struct {
		name    string
		path    string
		key     crypto.PublicKey
		wantAlg string // "" when refused
	}{
		{"rsa-2048-pkix-is-RS256", writePublicKey(t, dir, "rsa2048.pem", &rsa2048.PublicKey), &rsa2048.PublicKey, "RS256"},
		{"rsa-2048-pkcs1-is-RS256", writePEM(t, dir, "rsa2048-pkcs1.pem", "RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&rsa2048.PublicKey)), &rsa2048.PublicKey, "RS256"},
		{"ec-p256-is-ES256", writePublicKey(t, dir, "p256.pem", &p256.PublicKey), &p256.PublicKey, "ES256"},
		{"rsa-1024-is-refused", writePublicKey(t, dir, "rsa1024.pem", &rsa1024.PublicKey), nil, ""},
		{"rsa-1024-pkcs1-is-refused", writePEM(t, dir, "rsa1024-pkcs1.pem", "RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&rsa1024.PublicKey)), nil, ""},
		{"ec-p384-is-refused", writePublicKey(t, dir, "p384.pem", &p384.PublicKey), nil, ""},
		{"ed25519-is-refused", writePublicKey(t, dir, "ed25519.pem", edPub), nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := config.Load(env(map[string]string{"AUDITLOG_JWT_PUBLIC_KEY": tc.path,
				"AUDITLOG_JWT_ISSUER": "https://id.example.com", "AUDITLOG_JWT_AUDIENCE": "auditlogd"}))
			if tc.wantAlg == "" {
				var ce *config.Error
				if !errors.As(err, &ce) || ce.Var != "AUDITLOG_JWT_PUBLIC_KEY" {
					t.Fatalf("Load: %v, want a *config.Error naming AUDITLOG_JWT_PUBLIC_KEY", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if c.JWT.Algorithm != tc.wantAlg {
				t.Errorf("algorithm %s, want %s", c.JWT.Algorithm, tc.wantAlg)
			}
			if k, ok := c.JWT.PublicKey.(equaler); !ok || !k.Equal(tc.key) {
				t.Errorf("public key %T is not the key in the file", c.JWT.PublicKey)
			}
			if c.JWT.Secret != nil || c.JWT.SecretGenerated {
				t.Errorf("with a public key there is also an HS256 secret (generated %v)", c.JWT.SecretGenerated)
			}
		})
	}
}

// TestPublicKeyNeedsIssuerAndAudience: an identity provider signs tokens for
// many applications with one key, so with a public key the issuer and the
// audience must be pinned, and Load names the variable that is missing.
func TestPublicKeyNeedsIssuerAndAudience(t *testing.T) {
	t.Parallel()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	path := writePublicKey(t, t.TempDir(), "p256.pem", &key.PublicKey)
	for _, tc := range []struct {
		name    string
		vars    map[string]string
		wantVar string
	}{
		{"neither", map[string]string{}, "AUDITLOG_JWT_ISSUER"},
		{"no-audience", map[string]string{"AUDITLOG_JWT_ISSUER": "https://id.example.com"}, "AUDITLOG_JWT_AUDIENCE"},
		{"no-issuer", map[string]string{"AUDITLOG_JWT_AUDIENCE": "auditlogd"}, "AUDITLOG_JWT_ISSUER"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.vars["AUDITLOG_JWT_PUBLIC_KEY"] = path
			_, err := config.Load(env(tc.vars))
			var ce *config.Error
			if !errors.As(err, &ce) || ce.Var != tc.wantVar {
				t.Fatalf("Load: %v, want a *config.Error naming %s", err, tc.wantVar)
			}
		})
	}
}

func TestLoadTrustedProxies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, value string
		want        []string
	}{
		{"unset-is-none", "", nil},
		{"one-cidr", "10.0.0.0/8", []string{"10.0.0.0/8"}},
		{"bare-ipv4-is-one-address", "192.168.1.7", []string{"192.168.1.7/32"}},
		{"bare-ipv6-is-one-address", "::1", []string{"::1/128"}},
		{"ipv6-cidr", "2001:db8::/32", []string{"2001:db8::/32"}},
		{"cidr-with-host-bits-is-masked", "10.1.2.3/8", []string{"10.0.0.0/8"}},
		{"ipv4-mapped-address-is-ipv4", "::ffff:10.0.0.1", []string{"10.0.0.1/32"}},
		{"ipv4-mapped-cidr-is-ipv4", "::ffff:10.0.0.0/104", []string{"10.0.0.0/8"}},
		{"list-with-spaces-and-empty-items", " 10.0.0.0/8 , 172.16.0.0/12,,192.168.1.7 ,",
			[]string{"10.0.0.0/8", "172.16.0.0/12", "192.168.1.7/32"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := config.Load(env(map[string]string{"AUDITLOG_TRUSTED_PROXIES": tc.value}))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			var got []string
			for _, p := range c.TrustedProxies {
				got = append(got, p.String())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("trusted proxies (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadDatabaseURLs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, url string }{
		{"sqlite-relative", "sqlite://auditlog.db"},
		{"sqlite-absolute", "sqlite:///var/lib/auditlogd/auditlog.db"},
		{"mysql-with-db-name", "mysql://root@tcp(127.0.0.1:3306)/auditlog"},
		{"mysql-with-options", "mysql://user:pw@tcp(db:3306)/auditlog?parseTime=true&loc=UTC"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := config.Load(env(map[string]string{"AUDITLOG_DATABASE_URL": tc.url}))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if c.DatabaseURL != tc.url {
				t.Errorf("database URL %q, want %q", c.DatabaseURL, tc.url)
			}
		})
	}
}
