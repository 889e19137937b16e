package stream

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// The headers of a delivery (docs/API.md §11).
const (
	// SignatureHeader carries "t=<unix seconds>,v1=<hex HMAC-SHA256>", the
	// shape of Stripe's Stripe-Signature, so receivers can reuse the
	// verification code they already have.
	SignatureHeader = "X-Auditlog-Signature"
	// DeliveryHeader carries the delivery's id: the same for every retry of
	// one batch, so a receiver can tell a retry from a new batch in its logs.
	DeliveryHeader = "X-Auditlog-Delivery"
)

// SecretPrefix starts every signing secret, so that a leaked one is
// recognisable (by a person or a secret scanner) for what it is.
const SecretPrefix = "whsec_"

// secretBytes is the randomness of a signing secret: 256 bits, as strong as
// HMAC-SHA256 itself, so the secret is never the weaker link.
const secretBytes = 32

// DefaultTolerance is how far a signature's timestamp may be from the
// receiver's clock when Verify is given no tolerance: Stripe's default, wide
// enough for clock skew and a slow retry, narrow enough that a captured
// delivery cannot be replayed later.
const DefaultTolerance = 5 * time.Minute

// NewSigningSecret returns a fresh signing secret, "whsec_" followed by 256
// random bits in unpadded base64url. It is shown to the admin once, in
// CreateLogStreamPayload; the server keeps it to sign deliveries. The whole
// string, prefix included, is the HMAC key, so a receiver uses it exactly as
// shown.
func NewSigningSecret() (string, error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return SecretPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// Sign returns the value of the X-Auditlog-Signature header for body sent
// at t: "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>", with
// one v1 per secret. Several secrets are for rotation: while a receiver moves
// to a new secret, the header carries a signature under each, and either
// secret verifies.
func Sign(t time.Time, body []byte, secrets ...string) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	var b strings.Builder
	b.WriteString("t=")
	b.WriteString(ts)
	for _, s := range secrets {
		b.WriteString(",v1=")
		b.WriteString(hex.EncodeToString(mac(s, ts, body)))
	}
	return b.String()
}

// mac is HMAC-SHA256(secret, ts + "." + body). Signing the timestamp with the
// body is what makes the tolerance window a defence against replay: an old
// body cannot be sent again under a new timestamp.
func mac(secret, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Why Verify refused a delivery. Receivers should answer 400 for any of
// them, and may log which one.
var (
	ErrMalformedSignature = errors.New("signature header is missing or malformed")
	ErrSignatureExpired   = errors.New("signature timestamp is outside the tolerance window")
	ErrSignatureMismatch  = errors.New("no signature in the header matches the body and secret")
)

// Verify checks an X-Auditlog-Signature header against the raw request body
// (the bytes as received, before any JSON decoding) and the stream's signing
// secret. It is for receivers written in Go; docs/INTEGRATIONS.md shows the
// same steps in other languages.
//
// The header's timestamp must be within tolerance of now, in either
// direction (tolerance <= 0 means DefaultTolerance), and at least one of its
// v1 values must equal the HMAC; the comparison is constant-time. Elements
// other than t and v1 are ignored, so a future v2 scheme does not break
// today's receivers.
func Verify(header, secret string, body []byte, tolerance time.Duration, now time.Time) error {
	ts, sigs, err := parseSignature(header)
	if err != nil {
		return err
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrMalformedSignature
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	// Compare in seconds: the header has no finer precision, and
	// time.Duration would overflow for a forged t far from now.
	tol := int64(tolerance / time.Second)
	if d := now.Unix() - t; d > tol || d < -tol {
		return ErrSignatureExpired
	}
	want := mac(secret, ts, body)
	ok := false
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			ok = true
		}
	}
	if !ok {
		return ErrSignatureMismatch
	}
	return nil
}

// maxSignatures bounds the v1 values Verify compares, so that a forged
// header with thousands of them costs a receiver no more than a real one.
const maxSignatures = 8

// parseSignature splits "t=…,v1=…,v1=…" into the timestamp and the decoded
// v1 values. Malformed v1 values are skipped (they cannot match); a header
// without exactly one t or without any v1 is malformed.
func parseSignature(header string) (string, [][]byte, error) {
	var ts string
	var sigs [][]byte
	nt := 0
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			ts = v
			nt++
		case "v1":
			if len(sigs) == maxSignatures {
				continue
			}
			if b, err := hex.DecodeString(v); err == nil && len(b) == sha256.Size {
				sigs = append(sigs, b)
			}
		}
	}
	if nt != 1 || ts == "" || len(sigs) == 0 {
		return "", nil, ErrMalformedSignature
	}
	return ts, sigs, nil
}
