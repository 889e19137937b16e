package auth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-chi/jwtauth/v5"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// Limits on claims, matching what the database stores.
const (
	maxSubjectLen = 191
	maxEmailLen   = 320
	maxNameLen    = 200
	clockSkew     = 30 * time.Second
)

// ErrNoToken means the request carried no Authorization header: it is
// anonymous, which is not an error in itself.
var ErrNoToken = errors.New("no bearer token")

// Settings configure a Verifier.
type Settings struct {
	// Algorithm is pinned: HS256, RS256 or ES256. A token signed with any
	// other algorithm, "none" included, is refused.
	Algorithm string
	// Secret is the HS256 key; PublicKey the RS256/ES256 key.
	Secret    []byte
	PublicKey any
	// Issuer and Audience, when set, must match iss and aud.
	Issuer   string
	Audience string
	// EmailVerifiedDefault is whether a token without an email_verified
	// claim counts as verified.
	EmailVerifiedDefault bool
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Verifier checks bearer tokens with go-chi/jwtauth and turns them into
// Principals.
type Verifier struct {
	ja       *jwtauth.JWTAuth
	settings Settings
}

// NewVerifier returns a Verifier for s.
func NewVerifier(s Settings) (*Verifier, error) {
	if s.Now == nil {
		s.Now = time.Now
	}
	opts := []jwt.ValidateOption{
		jwt.WithAcceptableSkew(clockSkew),
		jwt.WithClock(jwt.ClockFunc(s.Now)),
		jwt.WithRequiredClaim("exp"),
		jwt.WithRequiredClaim("sub"),
	}
	if s.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(s.Issuer))
	}
	if s.Audience != "" {
		opts = append(opts, jwt.WithAudience(s.Audience))
	}
	var ja *jwtauth.JWTAuth
	switch s.Algorithm {
	case "HS256":
		if len(s.Secret) < 32 {
			return nil, errors.New("the HS256 secret must be at least 32 bytes")
		}
		ja = jwtauth.New("HS256", s.Secret, nil, opts...)
	case "RS256", "ES256":
		if s.PublicKey == nil {
			return nil, fmt.Errorf("%s needs a public key", s.Algorithm)
		}
		ja = jwtauth.New(s.Algorithm, nil, s.PublicKey, opts...)
	default:
		return nil, fmt.Errorf("unsupported algorithm %q", s.Algorithm)
	}
	return &Verifier{ja: ja, settings: s}, nil
}

// TokenFromRequest returns the bearer token of r. Only the Authorization
// header counts: tokens in cookies or query strings are ignored, so that a
// page cannot be made to act with a user's cookie and tokens do not end up in
// logged URLs. A header that is present but not a bearer token is an error.
func TokenFromRequest(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", ErrNoToken
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return "", errors.New("the Authorization header must be \"Bearer <token>\"")
	}
	return strings.TrimSpace(token), nil
}

// Verify checks the token's signature, algorithm and claims and returns its
// principal.
func (v *Verifier) Verify(token string) (Principal, error) {
	if len(token) > 8192 {
		return Principal{}, errors.New("the token is too long")
	}
	if !compact(token) {
		return Principal{}, errors.New("the token is malformed: a JWT is three base64url segments")
	}
	if err := noCritical(token); err != nil {
		return Principal{}, err
	}
	t, err := jwtauth.VerifyToken(v.ja, token)
	if err != nil {
		return Principal{}, describe(err)
	}
	now := v.settings.Now()
	// jwx treats exp: 0 as "no expiry"; an audit service must not.
	if exp := t.Expiration(); exp.Unix() <= 0 || !now.Before(exp.Add(clockSkew)) {
		return Principal{}, errors.New("the token has expired")
	}
	if iat := t.IssuedAt(); !iat.IsZero() && iat.After(now.Add(clockSkew)) {
		return Principal{}, errors.New("the token was issued in the future")
	}
	if nbf := t.NotBefore(); !nbf.IsZero() && nbf.After(now.Add(clockSkew)) {
		return Principal{}, errors.New("the token is not valid yet")
	}
	return principalOf(t, v.settings.EmailVerifiedDefault)
}

// noCritical refuses a token whose protected header lists critical
// extensions: this verifier understands none, and RFC 7515 §4.1.11 says a
// recipient that does not understand one must reject the token.
func noCritical(token string) error {
	header, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(header)
	if err != nil {
		return errors.New("the token is malformed: its header is not base64url")
	}
	var h map[string]json.RawMessage
	if err := json.Unmarshal(raw, &h); err != nil {
		return errors.New("the token is malformed: its header is not a JSON object")
	}
	if _, ok := h["crit"]; ok {
		return errors.New("the token is invalid: it lists critical header extensions this service does not understand")
	}
	return nil
}

// validSubject reports whether sub can be a user id: valid UTF-8 of 1 to
// maxSubjectLen bytes, no control characters, and no white space at either
// end. Databases whose collations pad with spaces would otherwise take
// "alice " for "alice".
func validSubject(sub string) bool {
	if sub == "" || len(sub) > maxSubjectLen || !utf8.ValidString(sub) {
		return false
	}
	for _, r := range sub {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return false
		}
	}
	first, _ := utf8.DecodeRuneInString(sub)
	last, _ := utf8.DecodeLastRuneInString(sub)
	return !unicode.IsSpace(first) && !unicode.IsSpace(last)
}

// compact reports whether token is a JWS in compact serialization written
// the one way tokens are issued: three base64url segments, unpadded and
// canonically encoded. jwx also decodes padded and standard-alphabet
// segments and ignores stray bits in the last character, so one signed token
// could otherwise be spelled many ways.
func compact(token string) bool {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		b, err := base64.RawURLEncoding.DecodeString(p)
		if err != nil || base64.RawURLEncoding.EncodeToString(b) != p {
			return false
		}
	}
	return true
}

func describe(err error) error {
	switch {
	case errors.Is(err, jwtauth.ErrExpired):
		return errors.New("the token has expired")
	case errors.Is(err, jwtauth.ErrNBFInvalid):
		return errors.New("the token is not valid yet")
	case errors.Is(err, jwtauth.ErrIATInvalid):
		return errors.New("the token was issued in the future")
	}
	return errors.New("the token is invalid: bad signature, algorithm or claims")
}

func principalOf(t jwt.Token, emailVerifiedDefault bool) (Principal, error) {
	p := Principal{Subject: t.Subject(), EmailVerified: emailVerifiedDefault}
	if !validSubject(p.Subject) {
		return Principal{}, fmt.Errorf("the token's sub must be 1 to %d bytes of text without control characters or surrounding white space", maxSubjectLen)
	}
	claims := t.PrivateClaims()
	var ok bool
	if v, has := claims["email"]; has {
		// Kept as the identity provider wrote it (it is recorded on events);
		// it is matched to invites and by addMember only in its canonical
		// form (package email), which a malformed address does not have.
		if p.Email, ok = v.(string); !ok || len(p.Email) > maxEmailLen || !strings.Contains(p.Email, "@") || !utf8.ValidString(p.Email) {
			return Principal{}, errors.New("the token's email claim is not an email address")
		}
	}
	if v, has := claims["name"]; has {
		if p.Name, ok = v.(string); !ok || !utf8.ValidString(p.Name) {
			return Principal{}, errors.New("the token's name claim must be a string")
		}
		if utf8.RuneCountInString(p.Name) > maxNameLen {
			p.Name = string([]rune(p.Name)[:maxNameLen])
		}
	}
	if v, has := claims["email_verified"]; has {
		b, ok := v.(bool)
		if !ok {
			return Principal{}, errors.New("the token's email_verified claim must be true or false")
		}
		p.EmailVerified = b
	}
	p.Scopes = ParseScopes(claims["scope"])
	return p, nil
}

// Claims describe a token to sign.
type Claims struct {
	Subject  string
	Email    string
	Name     string
	Scope    string
	TTL      time.Duration
	Issuer   string
	Audience string
	// EmailVerified, when set, is written as the email_verified claim.
	EmailVerified *bool
}

// Sign makes an HS256 token with the configured secret. It is for the
// `token` command and for tests; with a public key configured there is no
// private key to sign with.
func (v *Verifier) Sign(c Claims) (string, error) {
	if v.settings.Algorithm != "HS256" {
		return "", errors.New("tokens can only be signed with an HS256 secret (AUDITLOG_JWT_SECRET)")
	}
	if c.Subject == "" {
		return "", errors.New("a token needs a subject (--sub)")
	}
	if c.TTL <= 0 {
		c.TTL = time.Hour
	}
	now := v.settings.Now()
	claims := map[string]any{"sub": c.Subject, "iat": now.Unix(), "exp": now.Add(c.TTL).Unix()}
	if c.EmailVerified != nil {
		claims["email_verified"] = *c.EmailVerified
	}
	for k, val := range map[string]string{"email": c.Email, "name": c.Name, "scope": c.Scope,
		"iss": firstNonEmpty(c.Issuer, v.settings.Issuer), "aud": firstNonEmpty(c.Audience, v.settings.Audience)} {
		if val != "" {
			claims[k] = val
		}
	}
	_, s, err := v.ja.Encode(claims)
	return s, err
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
