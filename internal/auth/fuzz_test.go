package auth

import (
	"strings"
	"testing"
	"time"
)

// fzSecret and fzNow fix the verifier of FuzzTokenParse, so that the tokens
// in its committed corpus stay valid.
var (
	fzSecret = []byte("fuzz-secret-0123456789-abcdefghijklmnopqrstuvwxyz")
	fzNow    = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
)

// fzClaims are the tokens the fuzz verifier signs; the corpus holds them.
var fzClaims = []Claims{
	{Subject: "user-ada", Email: "ada@example.com", Name: "Ada", TTL: 24 * time.Hour},
	{Subject: "billing-service", Scope: "billing:write", TTL: 24 * time.Hour},
	{Subject: "user-bob", Email: "bob@example.com", Scope: "read write", TTL: time.Minute},
}

// fzVerifier returns the verifier and the tokens it signed.
func fzVerifier(t testing.TB) (*Verifier, map[string]Principal) {
	t.Helper()
	v, err := NewVerifier(Settings{Algorithm: "HS256", Secret: fzSecret, Now: func() time.Time { return fzNow }})
	if err != nil {
		t.Fatal(err)
	}
	signed := map[string]Principal{}
	for _, c := range fzClaims {
		tok, err := v.Sign(c)
		if err != nil {
			t.Fatal(err)
		}
		p, err := v.Verify(tok)
		if err != nil {
			t.Fatalf("the verifier refuses its own token %s: %v", tok, err)
		}
		signed[tok] = p
	}
	return v, signed
}

func FuzzTokenParse(f *testing.F) {
	v, signed := fzVerifier(f)
	for tok := range signed {
		f.Add(tok)
		parts := strings.Split(tok, ".")
		f.Add(parts[0] + "." + parts[1] + ".")                              // signature stripped
		f.Add(parts[0] + "." + parts[1] + "." + parts[2] + "=")             // padded
		f.Add(parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-1]) // truncated
		f.Add(`{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`)
	}
	f.Add("")
	f.Add("..")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4IiwiZXhwIjo5OTk5OTk5OTk5fQ.")
	f.Add(strings.Repeat("A", 9000))
	f.Fuzz(func(t *testing.T, token string) {
		p, err := v.Verify(token)
		want, issued := signed[token]
		switch {
		case err == nil && !issued:
			t.Fatalf("Verify accepted %q, which the verifier never signed (principal %+v)", token, p)
		case err == nil && (p.Subject != want.Subject || p.Email != want.Email || strings.Join(p.Scopes, " ") != strings.Join(want.Scopes, " ")):
			t.Fatalf("Verify(%q) = %+v, want %+v", token, p, want)
		case err != nil && issued:
			t.Fatalf("Verify refused its own token %q: %v", token, err)
		case err != nil && err.Error() == "":
			t.Fatalf("Verify(%q) failed without a message", token)
		}
	})
}
