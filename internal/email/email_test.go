package email

import "testing"

func TestCanonical(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"plain", "bob@example.com", "bob@example.com"},
		{"ascii-case-folds", "BOB@Example.COM", "bob@example.com"},
		{"kelvin-sign-local-part-stays", "\u212Aate@example.com", "\u212Aate@example.com"},
		{"long-s-local-part-stays", "\u017Fam@example.com", "\u017Fam@example.com"},
		{"accent-kept", "jos\u00e9@example.com", "jos\u00e9@example.com"},
		{"non-ascii-upper-not-folded", "JOS\u00c9@example.com", "jos\u00c9@example.com"},
		{"idn-domain-to-ascii", "anna@B\u00fccher.example", "anna@xn--bcher-kva.example"},
		{"punycode-domain-same", "anna@XN--BCHER-KVA.example", "anna@xn--bcher-kva.example"},
		{"plus-kept", "a+tag@example.com", "a+tag@example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Canonical(tc.in)
			if err != nil || got != tc.want {
				t.Errorf("Canonical(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestCanonicalRefuses(t *testing.T) {
	for _, in := range []string{"", "nope", "@example.com", "a@", "Bob <bob@example.com>", " bob@example.com",
		"bob@example.com ", "bob@exa mple.com", "bob@-bad-.example", "a@b@c", "\xff@example.com", "bob@example.com."} {
		if got, err := Canonical(in); err == nil {
			t.Errorf("Canonical(%q) = %q, want an error", in, got)
		}
	}
}

func TestLookAlikesDiffer(t *testing.T) {
	pairs := [][2]string{
		{"kate@example.com", "\u212Aate@example.com"},
		{"sam@example.com", "\u017Fam@example.com"},
		{"jose@example.com", "jos\u00e9@example.com"},
	}
	for _, p := range pairs {
		if Key(p[0]) == Key(p[1]) {
			t.Errorf("Key(%q) == Key(%q): look-alikes must not match", p[0], p[1])
		}
	}
}

func TestKeyOfLabels(t *testing.T) {
	for in, want := range map[string]string{"CSV": "csv", "Hooks.Example.COM": "hooks.example.com", "Alice@Example.com": "alice@example.com", "\u00c9": "\u00c9"} {
		if got := Key(in); got != want {
			t.Errorf("Key(%q) = %q, want %q", in, got, want)
		}
	}
}
