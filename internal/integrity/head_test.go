package integrity_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/auditlogd/auditlogd/internal/integrity"
)

// RFC 8037 ("CFRG ECDH and Signatures in JOSE") Appendix A.1: an Ed25519
// key as a JWK, with the thumbprint A.3 computes for it and the JWS A.4
// signs with it.
const (
	rfc8037D          = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
	rfc8037X          = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
	rfc8037Thumbprint = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
	rfc8037Input      = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
	rfc8037Signature  = "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
)

func rfc8037Key(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	seed, err := base64.RawURLEncoding.DecodeString(rfc8037D)
	if err != nil {
		t.Fatal(err)
	}
	return ed25519.NewKeyFromSeed(seed)
}

func newKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestKeyIDIsTheRFC7638Thumbprint(t *testing.T) {
	t.Parallel()
	key := rfc8037Key(t)
	pub := key.Public().(ed25519.PublicKey)
	if got := base64.RawURLEncoding.EncodeToString(pub); got != rfc8037X {
		t.Fatalf("public key of RFC 8037's d = %s, want x = %s", got, rfc8037X)
	}
	if got := integrity.KeyID(pub); got != rfc8037Thumbprint {
		t.Errorf("KeyID = %s, want RFC 8037 A.3's thumbprint %s", got, rfc8037Thumbprint)
	}
	// And for random keys, what an independent JOSE library computes.
	for range 5 {
		pub := newKey(t).Public().(ed25519.PublicKey)
		k, err := jwk.FromRaw(pub)
		if err != nil {
			t.Fatal(err)
		}
		tp, err := k.Thumbprint(crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := integrity.KeyID(pub), base64.RawURLEncoding.EncodeToString(tp); got != want {
			t.Errorf("KeyID = %s, jwx thumbprint %s", got, want)
		}
	}
	if integrity.NewSigner(key).KeyID() != rfc8037Thumbprint {
		t.Error("a Signer's KeyID is not its key's thumbprint")
	}
}

// TestSignatureEncodingIsRFC8037 signs RFC 8037 A.4's input with its key:
// Ed25519 is deterministic, so the base64url (unpadded) signature must be
// the RFC's.
func TestSignatureEncodingIsRFC8037(t *testing.T) {
	t.Parallel()
	sig := ed25519.Sign(rfc8037Key(t), []byte(rfc8037Input))
	if got := base64.RawURLEncoding.EncodeToString(sig); got != rfc8037Signature {
		t.Errorf("signature %s, want %s", got, rfc8037Signature)
	}
}

func hHead() integrity.Head {
	h, _ := integrity.ParseHash("599253d3c8218e4c959676713a9df8f4231e21e3a7d727abfff1033d3b1b201a")
	return integrity.Head{WorkspaceID: hWorkspace, Sequence: 42, Hash: h,
		SignedAt: time.Date(2026, 11, 28, 9, 31, 0, 456_789_000, time.UTC)}
}

func TestHeadSigningInputIsTheContractObject(t *testing.T) {
	t.Parallel()
	got, err := hHead().SigningInput()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"hash":"599253d3c8218e4c959676713a9df8f4231e21e3a7d727abfff1033d3b1b201a","sequence":42,` +
		`"signedAt":"2026-11-28T09:31:00.456Z","workspaceId":"01HZY3J4QK2M6N8P0R2S4T6V8A"}`
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("signing input (-want +got):\n%s", diff)
	}
	empty := integrity.Head{WorkspaceID: "w", SignedAt: time.Unix(0, 0)}
	got, err = empty.SigningInput()
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"hash":"` + strings.Repeat("0", 64) + `","sequence":0,"signedAt":"1970-01-01T00:00:00.000Z","workspaceId":"w"}`; string(got) != want {
		t.Errorf("empty log's head: %s, want %s", got, want)
	}
}

func TestVerifyHead(t *testing.T) {
	t.Parallel()
	signer := integrity.NewSigner(rfc8037Key(t))
	other := integrity.NewSigner(newKey(t))
	good, err := signer.Sign(hHead())
	if err != nil {
		t.Fatal(err)
	}
	if good.SignedAt.Nanosecond()%1_000_000 != 0 {
		t.Errorf("Sign kept sub-millisecond time %v, which the signature does not cover", good.SignedAt)
	}
	byOther, err := other.Sign(hHead())
	if err != nil {
		t.Fatal(err)
	}
	keys := signer.JWKS()
	for _, tc := range []struct {
		name string
		head func() integrity.SignedHead
		keys integrity.JWKS
		want error // nil, ErrBadSignature or ErrUnknownKey; errAny for another failure
	}{
		{"signed-head-verifies", func() integrity.SignedHead { return good }, keys, nil},
		{"other-key-claiming-our-key-id", func() integrity.SignedHead {
			h := byOther
			h.KeyID = good.KeyID
			return h
		}, keys, integrity.ErrBadSignature},
		{"other-key-not-published", func() integrity.SignedHead { return byOther }, keys, integrity.ErrUnknownKey},
		{"workspace-changed", func() integrity.SignedHead { h := good; h.WorkspaceID += "x"; return h }, keys, integrity.ErrBadSignature},
		{"sequence-changed", func() integrity.SignedHead { h := good; h.Sequence--; return h }, keys, integrity.ErrBadSignature},
		{"hash-changed", func() integrity.SignedHead { h := good; h.Hash[31] ^= 1; return h }, keys, integrity.ErrBadSignature},
		{"signed-at-changed", func() integrity.SignedHead {
			h := good
			h.SignedAt = h.SignedAt.Add(time.Millisecond)
			return h
		}, keys, integrity.ErrBadSignature},
		{"signature-padded", func() integrity.SignedHead { h := good; h.Signature += "=="; return h }, keys, integrity.ErrBadSignature},
		{"signature-standard-base64", func() integrity.SignedHead {
			h := good
			sig, _ := base64.RawURLEncoding.DecodeString(h.Signature)
			h.Signature = base64.StdEncoding.EncodeToString(sig)
			return h
		}, keys, integrity.ErrBadSignature},
		{"signature-truncated", func() integrity.SignedHead { h := good; h.Signature = h.Signature[:40]; return h }, keys, integrity.ErrBadSignature},
		{"empty-key-set", func() integrity.SignedHead { return good }, integrity.JWKS{}, integrity.ErrUnknownKey},
		{"key-published-for-another-algorithm", func() integrity.SignedHead { return good }, integrity.JWKS{Keys: []integrity.JWK{
			func() integrity.JWK { k := keys.Keys[0]; k.Alg = "ES256"; return k }()}}, errAny},
		{"key-of-another-curve", func() integrity.SignedHead { return good }, integrity.JWKS{Keys: []integrity.JWK{
			func() integrity.JWK { k := keys.Keys[0]; k.Crv = "X25519"; return k }()}}, errAny},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := integrity.VerifyHead(tc.head(), tc.keys)
			switch {
			case tc.want == nil && err != nil:
				t.Errorf("VerifyHead: %v, want it to verify", err)
			case tc.want == errAny && err == nil, tc.want != nil && tc.want != errAny && !errors.Is(err, tc.want):
				t.Errorf("VerifyHead: %v, want %v", err, tc.want)
			}
		})
	}
}

var errAny = errors.New("any error")

// TestRotationKeepsOldHeadsVerifiable: after the signing key changes, heads
// signed by the retired key verify against the new JWKS, new heads carry the
// new key id, and a head of a key that was never published does not verify.
func TestRotationKeepsOldHeadsVerifiable(t *testing.T) {
	t.Parallel()
	oldKey, newKeyPriv := newKey(t), newKey(t)
	before := integrity.NewSigner(oldKey)
	old, _ := before.Sign(hHead())
	after := integrity.NewSigner(newKeyPriv, oldKey.Public().(ed25519.PublicKey))
	fresh, _ := after.Sign(hHead())
	if fresh.KeyID == old.KeyID {
		t.Fatal("the new key has the old key's id")
	}
	ks := after.JWKS()
	if len(ks.Keys) != 2 || ks.Keys[0].Kid != fresh.KeyID || ks.Keys[1].Kid != old.KeyID {
		t.Fatalf("JWKS after rotation = %+v, want the new key then the old", ks)
	}
	for _, h := range []integrity.SignedHead{old, fresh} {
		if err := integrity.VerifyHead(h, ks); err != nil {
			t.Errorf("head of key %s: %v", h.KeyID, err)
		}
	}
	stranger, _ := integrity.NewSigner(newKey(t)).Sign(hHead())
	if err := integrity.VerifyHead(stranger, ks); !errors.Is(err, integrity.ErrUnknownKey) {
		t.Errorf("head of an unpublished key: %v, want ErrUnknownKey", err)
	}
}

// TestJWKSDocument: the exact shape docs/API.md §9 fixes, readable by a
// mainstream JOSE library.
func TestJWKSDocument(t *testing.T) {
	t.Parallel()
	s := integrity.NewSigner(rfc8037Key(t))
	b, err := json.Marshal(s.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + rfc8037X + `","kid":"` + rfc8037Thumbprint + `","alg":"EdDSA","use":"sig"}]}`
	if string(b) != want {
		t.Errorf("JWKS\n got %s\nwant %s", b, want)
	}
	set, err := jwk.Parse(b)
	if err != nil {
		t.Fatalf("jwx cannot read the JWKS: %v", err)
	}
	if k, ok := set.LookupKeyID(rfc8037Thumbprint); !ok || k.KeyType() != "OKP" {
		t.Errorf("jwx finds no OKP key %s in it", rfc8037Thumbprint)
	}
	back, err := integrity.ParseJWKS(b)
	if err != nil || !cmp.Equal(back, s.JWKS()) {
		t.Errorf("ParseJWKS: %+v, %v", back, err)
	}
	for _, bad := range []string{`[]`, `{}`, `{"keys":`, `not json`} {
		if _, err := integrity.ParseJWKS([]byte(bad)); err == nil {
			t.Errorf("ParseJWKS(%s) accepted it", bad)
		}
	}
}

func TestSignedHeadJSON(t *testing.T) {
	t.Parallel()
	s := integrity.NewSigner(rfc8037Key(t))
	h, _ := s.Sign(hHead())
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"workspaceId":"01HZY3J4QK2M6N8P0R2S4T6V8A","sequence":42,` +
		`"hash":"599253d3c8218e4c959676713a9df8f4231e21e3a7d727abfff1033d3b1b201a",` +
		`"signedAt":"2026-11-28T09:31:00.456Z","keyId":"` + rfc8037Thumbprint + `","signature":"` + h.Signature + `"}`
	if string(b) != want {
		t.Errorf("head JSON\n got %s\nwant %s", b, want)
	}
	for _, tc := range []struct {
		name, doc string
		ok        bool
	}{
		{"bare-head", string(b), true},
		{"graphql-response-to-exportAuditLog", `{"data":{"exportAuditLog":{"id":"x","url":"u","head":` + string(b) + `}}}`, true},
		{"two-heads", `[` + string(b) + `,` + string(b) + `]`, false},
		{"no-head", `{"data":{}}`, false},
		{"missing-field", strings.Replace(string(b), `"sequence":42,`, ``, 1), false},
		{"null-field", strings.Replace(string(b), `"sequence":42`, `"sequence":null`, 1), false},
		{"signed-at-not-in-api-format", strings.Replace(string(b), `09:31:00.456Z`, `09:31:00.456+00:00`, 1), false},
		{"hash-upper-case", strings.Replace(string(b), `599253d3c8`, `599253D3C8`, 1), false},
		{"not-json", `{`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := integrity.ParseSignedHead([]byte(tc.doc))
			if tc.ok {
				if err != nil || got != h {
					t.Errorf("ParseSignedHead = %+v, %v; want %+v", got, err, h)
				}
				if err := integrity.VerifyHead(got, s.JWKS()); err != nil {
					t.Errorf("the parsed head does not verify: %v", err)
				}
			} else if err == nil {
				t.Errorf("ParseSignedHead accepted it: %+v", got)
			}
		})
	}
}

func writePEM(t *testing.T, blocks ...any) string {
	t.Helper()
	var b strings.Builder
	for _, x := range blocks {
		switch v := x.(type) {
		case string:
			b.WriteString(v)
		case *pem.Block:
			b.Write(pem.EncodeToMemory(v))
		}
	}
	path := filepath.Join(t.TempDir(), "signing-key.pem")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func privBlock(t *testing.T, k any) *pem.Block {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return &pem.Block{Type: "PRIVATE KEY", Bytes: der}
}

func pubBlock(t *testing.T, k any) *pem.Block {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return &pem.Block{Type: "PUBLIC KEY", Bytes: der}
}

func TestSigningKeyFile(t *testing.T) {
	t.Parallel()
	cur, old1, old2 := newKey(t), newKey(t), newKey(t)
	pub := func(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, tc := range []struct {
		name    string
		path    func(t *testing.T) string
		kids    []string // published key ids, signing key first
		errText []string // each must be in the error
	}{
		{"private-key-alone", func(t *testing.T) string { return writePEM(t, privBlock(t, cur)) },
			[]string{integrity.KeyID(pub(cur))}, nil},
		{"retired-keys-after-the-private-key-with-notes", func(t *testing.T) string {
			return writePEM(t, privBlock(t, cur), "retired 2026-01-05:\n", pubBlock(t, pub(old1)),
				"retired 2025-06-30:\n", pubBlock(t, pub(old2)))
		}, []string{integrity.KeyID(pub(cur)), integrity.KeyID(pub(old1)), integrity.KeyID(pub(old2))}, nil},
		{"own-public-key-and-duplicates-published-once", func(t *testing.T) string {
			return writePEM(t, privBlock(t, cur), pubBlock(t, pub(cur)), pubBlock(t, pub(old1)), pubBlock(t, pub(old1)))
		}, []string{integrity.KeyID(pub(cur)), integrity.KeyID(pub(old1))}, nil},
		{"missing-file", func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope.pem") }, nil,
			[]string{"AUDITLOG_SIGNING_KEY", "nope.pem", "cannot read"}},
		{"not-pem", func(t *testing.T) string { return writePEM(t, "just some text\n") }, nil,
			[]string{"AUDITLOG_SIGNING_KEY", "no PEM block", "openssl genpkey -algorithm ed25519"}},
		{"rsa-key", func(t *testing.T) string { return writePEM(t, privBlock(t, rsaKey)) }, nil,
			[]string{"AUDITLOG_SIGNING_KEY", "RSA", "not Ed25519"}},
		{"ecdsa-retired-key", func(t *testing.T) string { return writePEM(t, privBlock(t, cur), pubBlock(t, &ecKey.PublicKey)) }, nil,
			[]string{"AUDITLOG_SIGNING_KEY", "ECDSA", "not Ed25519"}},
		{"two-private-keys", func(t *testing.T) string { return writePEM(t, privBlock(t, cur), privBlock(t, old1)) }, nil,
			[]string{"AUDITLOG_SIGNING_KEY", "more than one PRIVATE KEY", "PUBLIC KEY"}},
		{"public-keys-only", func(t *testing.T) string { return writePEM(t, pubBlock(t, pub(cur))) }, nil,
			[]string{"AUDITLOG_SIGNING_KEY", "no PRIVATE KEY"}},
		{"encrypted-key", func(t *testing.T) string {
			return writePEM(t, &pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{0x30, 0}})
		}, nil, []string{"AUDITLOG_SIGNING_KEY", "encrypted"}},
		{"openssh-key", func(t *testing.T) string {
			return writePEM(t, &pem.Block{Type: "OPENSSH PRIVATE KEY", Bytes: []byte{1}})
		}, nil, []string{"AUDITLOG_SIGNING_KEY", `"OPENSSH PRIVATE KEY"`}},
		{"garbled-pkcs8", func(t *testing.T) string {
			return writePEM(t, &pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}})
		}, nil, []string{"AUDITLOG_SIGNING_KEY", "not PKCS #8"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path(t)
			s, generated, err := integrity.SignerFromEnv(func(k string) string {
				if k == "AUDITLOG_SIGNING_KEY" {
					return path
				}
				return ""
			})
			if tc.errText != nil {
				if err == nil {
					t.Fatal("the file was accepted")
				}
				var kfe *integrity.KeyFileError
				if !errors.As(err, &kfe) || kfe.Var != "AUDITLOG_SIGNING_KEY" || kfe.Path != path {
					t.Errorf("error %v is not a KeyFileError naming the variable and the path", err)
				}
				for _, s := range append(tc.errText, path) {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not say %q", err, s)
					}
				}
				return
			}
			if err != nil || generated {
				t.Fatalf("SignerFromEnv: %v (generated %v)", err, generated)
			}
			var kids []string
			for _, k := range s.JWKS().Keys {
				kids = append(kids, k.Kid)
			}
			if diff := cmp.Diff(tc.kids, kids); diff != "" {
				t.Errorf("published key ids (-want +got):\n%s", diff)
			}
			if s.KeyID() != tc.kids[0] {
				t.Errorf("signs with %s, want %s", s.KeyID(), tc.kids[0])
			}
		})
	}
}

func TestUnsetSigningKeyMakesARandomKeyPerProcess(t *testing.T) {
	t.Parallel()
	env := func(string) string { return "" }
	a, generatedA, errA := integrity.SignerFromEnv(env)
	b, generatedB, errB := integrity.SignerFromEnv(env)
	if errA != nil || errB != nil || !generatedA || !generatedB {
		t.Fatalf("SignerFromEnv without the variable: %v, %v, generated %v %v", errA, errB, generatedA, generatedB)
	}
	if a.KeyID() == b.KeyID() {
		t.Error("two processes got the same random key")
	}
	h, _ := a.Sign(hHead())
	if err := integrity.VerifyHead(h, a.JWKS()); err != nil {
		t.Error(err)
	}
}

func TestLoadJWKSFromFileAndURL(t *testing.T) {
	t.Parallel()
	s := integrity.NewSigner(newKey(t))
	doc, _ := json.Marshal(s.JWKS())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/auditlog-keys.json" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(doc)
	}))
	t.Cleanup(srv.Close)
	path := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(path, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{path, srv.URL + "/.well-known/auditlog-keys.json"} {
		ks, err := integrity.LoadJWKS(t.Context(), src, srv.Client())
		if err != nil || !cmp.Equal(ks, s.JWKS()) {
			t.Errorf("LoadJWKS(%s) = %+v, %v", src, ks, err)
		}
	}
	for _, src := range []string{srv.URL + "/missing", filepath.Join(t.TempDir(), "missing.json")} {
		if _, err := integrity.LoadJWKS(t.Context(), src, srv.Client()); err == nil {
			t.Errorf("LoadJWKS(%s) succeeded", src)
		}
	}
}
