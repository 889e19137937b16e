package integrity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gowebpki/jcs"

	"github.com/auditlogd/auditlogd/internal/timefmt"
)

// Head is the newest link of a workspace's chain at a moment: the sequence
// and hash of its newest event (0 and ZeroHash for an empty log) and when it
// was signed. A head someone keeps is what later exposes a log rewritten or
// truncated as a whole, which the chain alone cannot.
type Head struct {
	WorkspaceID string
	Sequence    int64
	Hash        Hash
	SignedAt    time.Time
}

// SignedHead is a Head with its Ed25519 signature, as auditLogHead and
// AuditLogExport.head return it and as an auditor keeps it (HEAD.json).
type SignedHead struct {
	Head
	// KeyID names the signing key in the JWKS (its RFC 7638 thumbprint).
	KeyID string
	// Signature is base64url without padding of the Ed25519 signature over
	// SigningInput.
	Signature string
}

// SigningInput is the message a head's signature covers: the RFC 8785 (JCS)
// canonical JSON of {"hash","sequence","signedAt","workspaceId"} (docs/API.md
// §9), with the hash in lowercase hex and signedAt in the API's time format.
// Heads are few, so this goes through the JCS library as a whole.
func (h Head) SigningInput() ([]byte, error) {
	if h.Sequence < 0 || h.Sequence > MaxSequence {
		return nil, errors.New("a head's sequence is an integer from 0 to 2^53 − 1")
	}
	raw, err := json.Marshal(struct {
		Hash        string `json:"hash"`
		Sequence    int64  `json:"sequence"`
		SignedAt    string `json:"signedAt"`
		WorkspaceID string `json:"workspaceId"`
	}{h.Hash.String(), h.Sequence, timefmt.Format(h.SignedAt), h.WorkspaceID})
	if err != nil {
		return nil, err
	}
	return jcs.Transform(raw)
}

// signedHeadJSON is a signed head as the API and HEAD.json spell it.
type signedHeadJSON struct {
	WorkspaceID string `json:"workspaceId"`
	Sequence    int64  `json:"sequence"`
	Hash        Hash   `json:"hash"`
	SignedAt    string `json:"signedAt"`
	KeyID       string `json:"keyId"`
	Signature   string `json:"signature"`
}

// MarshalJSON writes the head as the API's AuditLogHead object.
func (h SignedHead) MarshalJSON() ([]byte, error) {
	return json.Marshal(signedHeadJSON{h.WorkspaceID, h.Sequence, h.Hash, timefmt.Format(h.SignedAt), h.KeyID, h.Signature})
}

// UnmarshalJSON reads an AuditLogHead object. Every field is required, and
// signedAt must be in the API's own format, so that the bytes a verifier
// checks are the bytes the server signed.
func (h *SignedHead) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	for _, k := range headKeys {
		if v, ok := raw[k]; !ok || bytes.Equal(v, []byte("null")) {
			return fmt.Errorf("the head has no %q", k)
		}
	}
	var j signedHeadJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	at, err := time.Parse(time.RFC3339Nano, j.SignedAt)
	if err != nil || timefmt.Format(at) != j.SignedAt {
		return fmt.Errorf("the head's signedAt %q is not a time in the API's format (%s)", j.SignedAt, timefmt.Layout)
	}
	*h = SignedHead{Head: Head{WorkspaceID: j.WorkspaceID, Sequence: j.Sequence, Hash: j.Hash, SignedAt: at.UTC()},
		KeyID: j.KeyID, Signature: j.Signature}
	return nil
}

var headKeys = []string{"workspaceId", "sequence", "hash", "signedAt", "keyId", "signature"}

// ParseSignedHead reads a signed head from a file an auditor saved: the
// AuditLogHead object itself, or any JSON holding exactly one such object —
// a whole GraphQL response to auditLogHead or exportAuditLog, say.
func ParseSignedHead(b []byte) (SignedHead, error) {
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		return SignedHead{}, fmt.Errorf("not JSON: %w", err)
	}
	var found []map[string]any
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if _, ok := v["signature"]; ok {
				if _, ok := v["keyId"]; ok {
					found = append(found, v)
					return
				}
			}
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(doc)
	switch len(found) {
	case 0:
		return SignedHead{}, errors.New("no head (an object with keyId and signature) in it")
	case 1:
	default:
		return SignedHead{}, fmt.Errorf("%d heads in it; keep the one to check", len(found))
	}
	obj, err := json.Marshal(found[0])
	if err != nil {
		return SignedHead{}, err
	}
	var h SignedHead
	return h, h.UnmarshalJSON(obj)
}

// Signer signs heads with the service's Ed25519 key and publishes its public
// keys: the signing key first, then retired keys that earlier heads were
// signed with, so that those heads still verify after a rotation.
type Signer struct {
	key     ed25519.PrivateKey
	keyID   string
	retired []ed25519.PublicKey
}

// NewSigner returns a Signer for key that also publishes retired. A retired
// key equal to key, or listed twice, is published once.
func NewSigner(key ed25519.PrivateKey, retired ...ed25519.PublicKey) *Signer {
	pub := key.Public().(ed25519.PublicKey)
	s := &Signer{key: key, keyID: KeyID(pub)}
	seen := map[string]bool{string(pub): true}
	for _, r := range retired {
		if !seen[string(r)] {
			seen[string(r)] = true
			s.retired = append(s.retired, r)
		}
	}
	return s
}

// GenerateSigner makes a Signer with a random key, for a process started
// without AUDITLOG_SIGNING_KEY. Its heads stop verifying once the process
// ends (nobody keeps the key), which the caller should warn about.
func GenerateSigner() (*Signer, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return NewSigner(key), nil
}

// KeyID is the id of the signing key, as heads carry it.
func (s *Signer) KeyID() string { return s.keyID }

// PublicKey is the signing key's public half.
func (s *Signer) PublicKey() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// Sign signs h. SignedAt is truncated to the millisecond first, since that
// is all the signed text holds; the returned head carries the truncated time.
func (s *Signer) Sign(h Head) (SignedHead, error) {
	h.SignedAt = h.SignedAt.UTC().Truncate(time.Millisecond)
	msg, err := h.SigningInput()
	if err != nil {
		return SignedHead{}, err
	}
	sig := ed25519.Sign(s.key, msg)
	return SignedHead{Head: h, KeyID: s.keyID, Signature: base64.RawURLEncoding.EncodeToString(sig)}, nil
}

// JWKS is the document GET /.well-known/auditlog-keys.json serves: the
// signing key, then the retired ones.
func (s *Signer) JWKS() JWKS {
	keys := []JWK{PublicJWK(s.PublicKey())}
	for _, r := range s.retired {
		keys = append(keys, PublicJWK(r))
	}
	return JWKS{Keys: keys}
}

// JWK is one Ed25519 public key as RFC 8037 writes it in a JSON Web Key.
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid,omitempty"`
	Alg string `json:"alg,omitempty"`
	Use string `json:"use,omitempty"`
}

// JWKS is a JSON Web Key Set: {"keys":[…]}.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// PublicJWK is pub as a signing JWK with its thumbprint as kid.
func PublicJWK(pub ed25519.PublicKey) JWK {
	return JWK{Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(pub), Kid: KeyID(pub),
		Alg: "EdDSA", Use: "sig"}
}

// KeyID is the RFC 7638 JWK thumbprint of pub (SHA-256, base64url without
// padding): it depends on the key alone, so every replica and every restart
// names the same key the same way, and anyone can recompute it from the JWKS.
func KeyID(pub ed25519.PublicKey) string {
	// RFC 7638 §3.2: the required members of an OKP key (RFC 8037 §2) in
	// lexicographic order, no whitespace.
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// ParseJWKS reads a JWKS document. Keys of other types may be in it; only
// Ed25519 keys can verify a head.
func ParseJWKS(b []byte) (JWKS, error) {
	var ks JWKS
	if err := json.Unmarshal(b, &ks); err != nil {
		return JWKS{}, fmt.Errorf("not a JWKS document: %w", err)
	}
	if ks.Keys == nil {
		return JWKS{}, errors.New(`not a JWKS document: no "keys" array`)
	}
	return ks, nil
}

// Errors of VerifyHead.
var (
	// ErrUnknownKey: no key in the JWKS has the head's keyId.
	ErrUnknownKey = errors.New("the head's keyId is not in the key set")
	// ErrBadSignature: the signature does not verify with that key.
	ErrBadSignature = errors.New("the head's signature does not verify")
)

// Key returns the Ed25519 public key named kid, if ks holds one usable for
// verifying signatures.
func (ks JWKS) Key(kid string) (ed25519.PublicKey, error) {
	for _, k := range ks.Keys {
		if k.Kid != kid {
			continue
		}
		if k.Kty != "OKP" || k.Crv != "Ed25519" {
			return nil, fmt.Errorf("key %q is %s/%s, not an Ed25519 key", kid, k.Kty, k.Crv)
		}
		if (k.Alg != "" && k.Alg != "EdDSA") || (k.Use != "" && k.Use != "sig") {
			return nil, fmt.Errorf("key %q is not for EdDSA signatures (alg %q, use %q)", kid, k.Alg, k.Use)
		}
		x, err := base64.RawURLEncoding.Strict().DecodeString(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("key %q: x is not a base64url Ed25519 public key", kid)
		}
		return ed25519.PublicKey(x), nil
	}
	return nil, fmt.Errorf("%w (keyId %q)", ErrUnknownKey, kid)
}

// VerifyHead checks h's signature with the key of ks that h names. It says
// nothing about whether the log reaches h; the chain verifiers do that.
func VerifyHead(h SignedHead, ks JWKS) error {
	pub, err := ks.Key(h.KeyID)
	if err != nil {
		return err
	}
	sig, err := base64.RawURLEncoding.Strict().DecodeString(h.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("%w: the signature is not base64url of 64 bytes", ErrBadSignature)
	}
	msg, err := h.SigningInput()
	if err != nil {
		return err
	}
	if !ed25519.Verify(pub, msg, sig) {
		return fmt.Errorf("%w with key %q", ErrBadSignature, h.KeyID)
	}
	return nil
}
