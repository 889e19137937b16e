package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/auditlogd/auditlogd/internal/testenv"
)

// JWT edge cases of issue 4, item 2, with tokens made by jwx directly (not
// by the server's own signer).

// hJWT signs claims with alg and key; alg none makes an unsigned token.
func hJWT(t testing.TB, alg jwa.SignatureAlgorithm, key any, claims map[string]any) string {
	t.Helper()
	tok := jwt.New()
	for k, v := range claims {
		if err := tok.Set(k, v); err != nil {
			t.Fatalf("set %s: %v", k, err)
		}
	}
	var b []byte
	var err error
	if alg == jwa.NoSignature {
		b, err = jwt.Sign(tok, jwt.WithInsecureNoSignature())
	} else {
		b, err = jwt.Sign(tok, jwt.WithKey(alg, key))
	}
	if err != nil {
		t.Fatalf("sign %s: %v", alg, err)
	}
	return string(b)
}

// hClaims are the claims of a valid user token for a fresh subject.
func hClaims(name string) map[string]any {
	sub := fmt.Sprintf("jwt-%s-%d", name, userSeq.Add(1))
	now := time.Now()
	return map[string]any{"sub": sub, "email": sub + "@example.com", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"iss": hIssuer, "aud": hAudience}
}

// The issuer and audience of the identity provider in the public-key tests
// (with a public key both are required settings).
const (
	hIssuer   = "https://id.example.com"
	hAudience = "auditlogd"
)

// hIdPEnv configures a server for tokens of an identity provider with key
// path.
func hIdPEnv(path string) map[string]string {
	return map[string]string{"AUDITLOG_JWT_SECRET": "", "AUDITLOG_JWT_PUBLIC_KEY": path,
		"AUDITLOG_JWT_ISSUER": hIssuer, "AUDITLOG_JWT_AUDIENCE": hAudience}
}

// hWith returns a copy of claims with kv set (nil deletes).
func hWith(claims map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(claims))
	for k, v := range claims {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

// hWant401 sends a createWorkspace mutation with the Authorization header
// and checks the 401: exactly the GraphQL-shaped body of the contract,
// nothing created, no user saved for sub.
func hWant401(t *testing.T, s *server, authorization, sub string) {
	t.Helper()
	beforeWS := hCount(t, s, "workspaces")
	r := s.post(t, "", `mutation { createWorkspace(input: {name: "Intruder"}) { id } }`, nil, withHeader("Authorization", authorization))
	if r.Status != http.StatusUnauthorized {
		t.Errorf("status %d, want 401: %s", r.Status, r.Raw)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(r.Raw), &body); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, r.Raw)
	}
	errs, _ := body["errors"].([]any)
	if len(body) != 1 || len(errs) != 1 {
		t.Fatalf(`body %s, want {"errors":[one error]}`, r.Raw)
	}
	e, _ := errs[0].(map[string]any)
	msg, _ := e["message"].(string)
	ext, _ := e["extensions"].(map[string]any)
	if msg == "" || len(ext) != 1 || ext["code"] != "UNAUTHENTICATED" {
		t.Errorf(`error %s, want {"message":"…","extensions":{"code":"UNAUTHENTICATED"}}`, r.Raw)
	}
	if after := hCount(t, s, "workspaces"); after != beforeWS {
		t.Errorf("workspaces %d -> %d: a rejected token ran a mutation", beforeWS, after)
	}
	if sub != "" {
		var n int
		if err := hPool(s).QueryRow("SELECT COUNT(*) FROM users WHERE id = ?", sub).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("a rejected token saved its user %s", sub)
		}
	}
}

// hWantViewer checks that the token is accepted as sub.
func hWantViewer(t *testing.T, s *server, token, sub string) {
	t.Helper()
	var out struct{ Viewer struct{ ID string } }
	s.ok(t, token, `{ viewer { id } }`, nil, &out)
	if out.Viewer.ID != sub {
		t.Errorf("viewer %q, want %q", out.Viewer.ID, sub)
	}
}

func TestJWTRejectedHS256Tokens(t *testing.T) {
	t.Parallel()
	secret := []byte(testSecret)
	type tc struct {
		name   string
		claims map[string]any // for sub, nil when there is none to check
		token  func(t *testing.T, c map[string]any) string
	}
	hs := func(alg jwa.SignatureAlgorithm, key []byte, edit ...any) func(t *testing.T, c map[string]any) string {
		return func(t *testing.T, c map[string]any) string { return hJWT(t, alg, key, hWith(c, edit...)) }
	}
	// The times are taken when a database's subtest starts, not here: with
	// -parallel 2 on a busy machine a parallel subtest can wait minutes
	// for its turn, and "2 minutes ahead" would have become "now".
	makeCases := func(now time.Time) []tc {
		return []tc{
			{"HS512 with the right secret", hClaims("hs512"), hs(jwa.HS512, secret)},
			{"HS384 with the right secret", hClaims("hs384"), hs(jwa.HS384, secret)},
			{"alg none", hClaims("none"), func(t *testing.T, c map[string]any) string { return hJWT(t, jwa.NoSignature, nil, c) }},
			{"alg none with the HS256 signature kept", hClaims("none-sig"), func(t *testing.T, c map[string]any) string {
				good := strings.Split(hJWT(t, jwa.HS256, secret, c), ".")
				none := strings.Split(hJWT(t, jwa.NoSignature, nil, c), ".")
				return none[0] + "." + none[1] + "." + good[2]
			}},
			{"another secret", hClaims("other"), hs(jwa.HS256, []byte("another-secret-0123456789-abcdefghijklmnopqrstuvwxyz"))},
			{"exp: 0", hClaims("exp0"), hs(jwa.HS256, secret, "exp", 0)},
			{"exp negative", hClaims("expneg"), hs(jwa.HS256, secret, "exp", -1)},
			{"exp missing", hClaims("noexp"), hs(jwa.HS256, secret, "exp", nil)},
			{"expired", hClaims("expired"), hs(jwa.HS256, secret, "exp", now.Add(-time.Hour).Unix(), "iat", now.Add(-2*time.Hour).Unix())},
			{"expired beyond the skew", hClaims("expired-skew"), hs(jwa.HS256, secret, "exp", now.Add(-2*time.Minute).Unix())},
			{"nbf in the future", hClaims("nbf"), hs(jwa.HS256, secret, "nbf", now.Add(time.Hour).Unix())},
			{"nbf beyond the skew", hClaims("nbf-skew"), hs(jwa.HS256, secret, "nbf", now.Add(2*time.Minute).Unix())},
			{"iat in the future", hClaims("iat"), hs(jwa.HS256, secret, "iat", now.Add(time.Hour).Unix(), "exp", now.Add(2*time.Hour).Unix())},
			{"iat beyond the skew", hClaims("iat-skew"), hs(jwa.HS256, secret, "iat", now.Add(2*time.Minute).Unix())},
			{"sub missing", nil, hs(jwa.HS256, secret, "sub", nil)},
			{"sub empty", nil, hs(jwa.HS256, secret, "sub", "")},
			{"payload swapped under a valid signature", hClaims("splice"), func(t *testing.T, c map[string]any) string {
				honest := strings.Split(hJWT(t, jwa.HS256, secret, hClaims("honest")), ".")
				forged := strings.Split(hJWT(t, jwa.HS256, []byte("x-secret-0123456789-abcdefghijklmnopqrstuvwxyz"), c), ".")
				return honest[0] + "." + forged[1] + "." + honest[2]
			}},
			{"signature stripped", hClaims("stripped"), func(t *testing.T, c map[string]any) string {
				p := strings.Split(hJWT(t, jwa.HS256, secret, c), ".")
				return p[0] + "." + p[1] + "."
			}},
			{"email not an email", hClaims("bad-email"), hs(jwa.HS256, secret, "email", "not-an-email")},
		}
	}
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, nil)
		for _, c := range makeCases(time.Now()) {
			t.Run(c.name, func(t *testing.T) {
				claims := c.claims
				if claims == nil {
					claims = hClaims("nosub")
				}
				sub, _ := claims["sub"].(string)
				if c.claims == nil {
					sub = ""
				}
				hWant401(t, s, "Bearer "+c.token(t, claims), sub)
			})
		}
		t.Run("Basic authorization", func(t *testing.T) {
			hWant401(t, s, "Basic dXNlcjpwYXNzd29yZA==", "")
		})
		t.Run("a valid token under another scheme", func(t *testing.T) {
			c := hClaims("scheme")
			hWant401(t, s, "Token "+hJWT(t, jwa.HS256, secret, c), c["sub"].(string))
		})
		t.Run("the same claims signed right are accepted", func(t *testing.T) {
			c := hClaims("good")
			hWantViewer(t, s, hJWT(t, jwa.HS256, secret, c), c["sub"].(string))
			// Within the 30 s skew, nbf and iat a little ahead are tolerated.
			c = hClaims("skew")
			hWantViewer(t, s, hJWT(t, jwa.HS256, secret, hWith(c, "nbf", time.Now().Add(10*time.Second).Unix(), "iat", time.Now().Add(10*time.Second).Unix())), c["sub"].(string))
		})
	})
}

func TestJWTIssuerAndAudience(t *testing.T) {
	t.Parallel()
	const iss, aud = "https://idp.example.com/", "auditlogd"
	secret := []byte(testSecret)
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, map[string]string{"AUDITLOG_JWT_ISSUER": iss, "AUDITLOG_JWT_AUDIENCE": aud})
		for name, edit := range map[string][]any{
			"iss missing":              {"iss", nil},
			"iss wrong":                {"iss", "https://evil.example.com/"},
			"iss differs in the slash": {"iss", strings.TrimSuffix(iss, "/")},
			"aud missing":              {"aud", nil},
			"aud wrong":                {"aud", "someone-else"},
			"aud list without it":      {"aud", []string{"a", "b"}},
			"both wrong":               {"iss", "x", "aud", "y"},
		} {
			t.Run(name, func(t *testing.T) {
				c := hWith(hClaims("issaud"), "iss", iss, "aud", aud)
				c = hWith(c, edit...)
				hWant401(t, s, "Bearer "+hJWT(t, jwa.HS256, secret, c), c["sub"].(string))
			})
		}
		t.Run("the right ones are accepted", func(t *testing.T) {
			c := hWith(hClaims("issaud-ok"), "iss", iss, "aud", aud)
			hWantViewer(t, s, hJWT(t, jwa.HS256, secret, c), c["sub"].(string))
			c = hWith(hClaims("issaud-list"), "iss", iss, "aud", []string{"other", aud})
			hWantViewer(t, s, hJWT(t, jwa.HS256, secret, c), c["sub"].(string))
		})
	})
}

// hWriteKey writes a PKIX public key as PEM and returns the path and bytes.
func hWriteKey(t *testing.T, pub any) (string, []byte) {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	b := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	path := filepath.Join(t.TempDir(), "jwt-public.pem")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, b
}

func TestJWTRS256(t *testing.T) {
	t.Parallel()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		path, pemBytes := hWriteKey(t, &priv.PublicKey)
		der, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
		s := newServer(t, db, hIdPEnv(path))

		t.Run("a valid RS256 token is accepted", func(t *testing.T) {
			c := hClaims("rs256")
			hWantViewer(t, s, hJWT(t, jwa.RS256, priv, c), c["sub"].(string))
		})
		for name, sign := range map[string]func(t *testing.T, c map[string]any) string{
			"HS256 with the public key PEM as secret": func(t *testing.T, c map[string]any) string { return hJWT(t, jwa.HS256, pemBytes, c) },
			"HS256 with the public key DER as secret": func(t *testing.T, c map[string]any) string { return hJWT(t, jwa.HS256, der, c) },
			"HS256 with the test secret":              func(t *testing.T, c map[string]any) string { return hJWT(t, jwa.HS256, []byte(testSecret), c) },
			"RS512 with the right key":                func(t *testing.T, c map[string]any) string { return hJWT(t, jwa.RS512, priv, c) },
			"PS256 with the right key":                func(t *testing.T, c map[string]any) string { return hJWT(t, jwa.PS256, priv, c) },
			"RS256 with another key":                  func(t *testing.T, c map[string]any) string { return hJWT(t, jwa.RS256, other, c) },
			"alg none":                                func(t *testing.T, c map[string]any) string { return hJWT(t, jwa.NoSignature, nil, c) },
			"RS256 expired": func(t *testing.T, c map[string]any) string {
				return hJWT(t, jwa.RS256, priv, hWith(c, "exp", time.Now().Add(-time.Hour).Unix(), "iat", time.Now().Add(-2*time.Hour).Unix()))
			},
			"RS256 exp: 0": func(t *testing.T, c map[string]any) string {
				return hJWT(t, jwa.RS256, priv, hWith(c, "exp", 0))
			},
			// The same identity provider's token for another application.
			"RS256 for another audience": func(t *testing.T, c map[string]any) string {
				return hJWT(t, jwa.RS256, priv, hWith(c, "aud", "another-app"))
			},
			"RS256 without an audience": func(t *testing.T, c map[string]any) string {
				return hJWT(t, jwa.RS256, priv, hWith(c, "aud", nil))
			},
			"RS256 from another issuer": func(t *testing.T, c map[string]any) string {
				return hJWT(t, jwa.RS256, priv, hWith(c, "iss", "https://evil.example.com"))
			},
		} {
			t.Run(name, func(t *testing.T) {
				c := hClaims("rs-bad")
				hWant401(t, s, "Bearer "+sign(t, c), c["sub"].(string))
			})
		}
	})
}

func TestJWTES256(t *testing.T) {
	t.Parallel()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		path, pemBytes := hWriteKey(t, &priv.PublicKey)
		s := newServer(t, db, hIdPEnv(path))

		t.Run("a valid ES256 token is accepted", func(t *testing.T) {
			c := hClaims("es256")
			hWantViewer(t, s, hJWT(t, jwa.ES256, priv, c), c["sub"].(string))
		})
		for name, sign := range map[string]func(t *testing.T, c map[string]any) string{
			"HS256 with the public key PEM as secret": func(t *testing.T, c map[string]any) string { return hJWT(t, jwa.HS256, pemBytes, c) },
			"ES256 with another key":                  func(t *testing.T, c map[string]any) string { return hJWT(t, jwa.ES256, other, c) },
			"alg none":                                func(t *testing.T, c map[string]any) string { return hJWT(t, jwa.NoSignature, nil, c) },
			"ES256 nbf in the future": func(t *testing.T, c map[string]any) string {
				return hJWT(t, jwa.ES256, priv, hWith(c, "nbf", time.Now().Add(time.Hour).Unix()))
			},
			"ES256 without sub": func(t *testing.T, c map[string]any) string {
				return hJWT(t, jwa.ES256, priv, hWith(c, "sub", nil))
			},
		} {
			t.Run(name, func(t *testing.T) {
				c := hClaims("es-bad")
				hWant401(t, s, "Bearer "+sign(t, c), c["sub"].(string))
			})
		}
	})
}

// TestJWTOnlyTheBearerHeaderCounts: a valid token anywhere but the
// Authorization header leaves the request anonymous.
func TestJWTOnlyTheBearerHeaderCounts(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, nil)
		c := hClaims("elsewhere")
		sub := c["sub"].(string)
		token := hJWT(t, jwa.HS256, []byte(testSecret), c)
		viewer, _ := json.Marshal(map[string]any{"query": `{ viewer { id } }`})
		create, _ := json.Marshal(map[string]any{"query": `mutation { createWorkspace(input: {name: "Elsewhere"}) { id } }`})
		get := func(extra string) string {
			return "/graphql?" + url.Values{"query": {`{ viewer { id } }`}}.Encode() + "&" + extra
		}
		for name, send := range map[string]func(t *testing.T, body []byte) *response{
			"cookie jwt": func(t *testing.T, body []byte) *response {
				return hRequest(t, s, http.MethodPost, "/graphql", "application/json", strings.NewReader(string(body)), withHeader("Cookie", "jwt="+token))
			},
			"cookie access_token": func(t *testing.T, body []byte) *response {
				return hRequest(t, s, http.MethodPost, "/graphql", "application/json", strings.NewReader(string(body)), withHeader("Cookie", "access_token="+token))
			},
			"query string jwt": func(t *testing.T, body []byte) *response {
				return hRequest(t, s, http.MethodPost, "/graphql?jwt="+token, "application/json", strings.NewReader(string(body)))
			},
			"query string access_token": func(t *testing.T, body []byte) *response {
				return hRequest(t, s, http.MethodPost, "/graphql?access_token="+token, "application/json", strings.NewReader(string(body)))
			},
			"GET with jwt": func(t *testing.T, body []byte) *response {
				if strings.Contains(string(body), "mutation") {
					return nil
				}
				return hRequest(t, s, http.MethodGet, get("jwt="+token), "", nil)
			},
			"GET with access_token": func(t *testing.T, body []byte) *response {
				if strings.Contains(string(body), "mutation") {
					return nil
				}
				return hRequest(t, s, http.MethodGet, get("access_token="+token), "", nil)
			},
			"X-Access-Token header": func(t *testing.T, body []byte) *response {
				return hRequest(t, s, http.MethodPost, "/graphql", "application/json", strings.NewReader(string(body)), withHeader("X-Access-Token", token))
			},
		} {
			t.Run(name, func(t *testing.T) {
				r := send(t, viewer)
				if r.Status != http.StatusOK {
					t.Errorf("status %d, want 200 (anonymous, not 401): %s", r.Status, r.Raw)
				}
				hAllCoded(t, r)
				if r.code() != "UNAUTHENTICATED" {
					t.Errorf("code %q, want UNAUTHENTICATED: %s", r.code(), r.Raw)
				}
				if strings.Contains(r.Raw, sub) {
					t.Errorf("the request was authenticated as %s: %s", sub, r.Raw)
				}
				before := hCount(t, s, "workspaces")
				if r := send(t, create); r != nil && r.code() != "UNAUTHENTICATED" {
					t.Errorf("createWorkspace: code %q, want UNAUTHENTICATED: %s", r.code(), r.Raw)
				}
				if after := hCount(t, s, "workspaces"); after != before {
					t.Errorf("workspaces %d -> %d", before, after)
				}
			})
		}
		// The token was never used as a header, so its user is unknown.
		var n int
		if err := hPool(s).QueryRow("SELECT COUNT(*) FROM users WHERE id = ?", sub).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("a token outside the Authorization header saved its user")
		}
		// And the same token in the header works.
		hWantViewer(t, s, token, sub)
	})
}
