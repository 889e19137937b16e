package stream

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

// The known answer was computed outside Go, twice:
//
//	python3 -c 'import hmac,hashlib; print(hmac.new(b"whsec_MfKQ9r4mXbYHnDn0yG3pZ8tVt6cQe1sB7wLhA2kR5uE",
//	  b"1767225600." + b"{\"workspaceId\":\"01JWS\",\"streamId\":\"01JST\",\"events\":[{\"id\":\"e1\"}],\"head\":{\"sequence\":1}}",
//	  hashlib.sha256).hexdigest())'
//	printf '%s' '1767225600.{"workspaceId":"01JWS","streamId":"01JST","events":[{"id":"e1"}],"head":{"sequence":1}}' |
//	  openssl dgst -sha256 -hmac 'whsec_MfKQ9r4mXbYHnDn0yG3pZ8tVt6cQe1sB7wLhA2kR5uE'
const (
	knownSecret = "whsec_MfKQ9r4mXbYHnDn0yG3pZ8tVt6cQe1sB7wLhA2kR5uE"
	knownBody   = `{"workspaceId":"01JWS","streamId":"01JST","events":[{"id":"e1"}],"head":{"sequence":1}}`
	knownUnix   = 1767225600 // 2026-01-01T00:00:00Z
	knownMAC    = "c9c5f8e7770179d6d3e74709a64878d5379364f436c89dcf38341d837bbbf8a4"
)

func TestSignMatchesAnIndependentlyComputedHMAC(t *testing.T) {
	got := Sign(time.Unix(knownUnix, 0), []byte(knownBody), knownSecret)
	if want := "t=1767225600,v1=" + knownMAC; got != want {
		t.Errorf("Sign = %q, want %q", got, want)
	}
}

func TestSignWithTwoSecretsCarriesTwoSignatures(t *testing.T) {
	got := Sign(time.Unix(knownUnix, 0), []byte(knownBody), "whsec_old", knownSecret)
	if !strings.HasPrefix(got, "t=1767225600,v1=") || !strings.HasSuffix(got, ",v1="+knownMAC) || strings.Count(got, "v1=") != 2 {
		t.Errorf("Sign = %q, want t and two v1 values, the second %s", got, knownMAC)
	}
}

func TestVerify(t *testing.T) {
	now := time.Unix(knownUnix, 0)
	body := []byte(knownBody)
	valid := "t=1767225600,v1=" + knownMAC
	other := Sign(now, body, "whsec_someone_else")
	for _, tc := range []struct {
		name    string
		header  string
		secret  string
		body    []byte
		tol     time.Duration
		now     time.Time
		wantErr error
	}{
		{"known-answer", valid, knownSecret, body, time.Minute, now, nil},
		{"spaces-around-elements", " t=1767225600 , v1=" + knownMAC + " ", knownSecret, body, time.Minute, now, nil},
		{"elements-in-any-order", "v1=" + knownMAC + ",t=1767225600", knownSecret, body, time.Minute, now, nil},
		{"unknown-schemes-ignored", "t=1767225600,v0=abc,v2=def,v1=" + knownMAC, knownSecret, body, time.Minute, now, nil},
		{"rotation-new-secret-second", other + ",v1=" + knownMAC, knownSecret, body, time.Minute, now, nil},
		{"rotation-new-secret-first", valid + strings.TrimPrefix(other, "t=1767225600"), knownSecret, body, time.Minute, now, nil},
		{"uppercase-hex-accepted", "t=1767225600,v1=" + strings.ToUpper(knownMAC), knownSecret, body, time.Minute, now, nil},
		{"wrong-secret", valid, "whsec_wrong", body, time.Minute, now, ErrSignatureMismatch},
		{"body-changed-by-one-byte", valid, knownSecret, []byte(strings.Replace(knownBody, "e1", "e2", 1)), time.Minute, now, ErrSignatureMismatch},
		{"body-reencoded-with-spaces", valid, knownSecret, []byte(strings.ReplaceAll(knownBody, ",", ", ")), time.Minute, now, ErrSignatureMismatch},
		{"timestamp-changed-replay", "t=1767225601,v1=" + knownMAC, knownSecret, body, time.Minute, now.Add(time.Second), ErrSignatureMismatch},
		{"only-someone-elses-signature", other, knownSecret, body, time.Minute, now, ErrSignatureMismatch},
		{"at-the-tolerance-in-the-past", valid, knownSecret, body, time.Minute, now.Add(time.Minute), nil},
		{"a-second-past-the-tolerance", valid, knownSecret, body, time.Minute, now.Add(time.Minute + time.Second), ErrSignatureExpired},
		{"at-the-tolerance-in-the-future", valid, knownSecret, body, time.Minute, now.Add(-time.Minute), nil},
		{"a-second-beyond-the-tolerance-in-the-future", valid, knownSecret, body, time.Minute, now.Add(-time.Minute - time.Second), ErrSignatureExpired},
		{"zero-tolerance-means-five-minutes-inside", valid, knownSecret, body, 0, now.Add(5 * time.Minute), nil},
		{"zero-tolerance-means-five-minutes-outside", valid, knownSecret, body, 0, now.Add(5*time.Minute + time.Second), ErrSignatureExpired},
		{"expired-is-checked-before-the-mac", valid, "whsec_wrong", body, time.Minute, now.Add(time.Hour), ErrSignatureExpired},
		{"timestamp-far-in-the-future", "t=9223372036854775807,v1=" + knownMAC, knownSecret, body, time.Minute, now, ErrSignatureExpired},
		{"timestamp-far-in-the-past", "t=-9223372036854775808,v1=" + knownMAC, knownSecret, body, time.Minute, now, ErrSignatureExpired},
		{"empty-header", "", knownSecret, body, time.Minute, now, ErrMalformedSignature},
		{"no-timestamp", "v1=" + knownMAC, knownSecret, body, time.Minute, now, ErrMalformedSignature},
		{"two-timestamps", "t=1767225600,t=1767225600,v1=" + knownMAC, knownSecret, body, time.Minute, now, ErrMalformedSignature},
		{"no-v1", "t=1767225600", knownSecret, body, time.Minute, now, ErrMalformedSignature},
		{"timestamp-not-a-number", "t=soon,v1=" + knownMAC, knownSecret, body, time.Minute, now, ErrMalformedSignature},
		{"timestamp-with-fraction", "t=1767225600.5,v1=" + knownMAC, knownSecret, body, time.Minute, now, ErrMalformedSignature},
		{"v1-not-hex", "t=1767225600,v1=zz", knownSecret, body, time.Minute, now, ErrMalformedSignature},
		{"v1-too-short", "t=1767225600,v1=" + knownMAC[:62], knownSecret, body, time.Minute, now, ErrMalformedSignature},
		{"github-style-header", "sha256=" + knownMAC, knownSecret, body, time.Minute, now, ErrMalformedSignature},
		{"right-signature-after-eight-others-ignored", "t=1767225600" + strings.Repeat(",v1="+strings.Repeat("0", 64), maxSignatures) + ",v1=" + knownMAC, knownSecret, body, time.Minute, now, ErrSignatureMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify(tc.header, tc.secret, tc.body, tc.tol, tc.now)
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("Verify = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestNewSigningSecret(t *testing.T) {
	a, err := NewSigningSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewSigningSecret()
	if a == b {
		t.Error("two secrets are equal")
	}
	raw, ok := strings.CutPrefix(a, "whsec_")
	if !ok {
		t.Fatalf("secret %q does not start with whsec_", a)
	}
	key, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil || len(key) < 32 {
		t.Errorf("secret %q: %d random bytes (%v), want at least 32 in unpadded base64url", a, len(key), err)
	}
	body := []byte(`{"x":1}`)
	if err := Verify(Sign(time.Now(), body, a), a, body, time.Minute, time.Now()); err != nil {
		t.Errorf("a new secret does not verify its own signature: %v", err)
	}
}
