package insight

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/auditlogd/auditlogd/internal/apperr"
)

func TestNormalizeTrustedDomainsAccepts(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []string
		want []string
	}{
		{"empty-list-clears", []string{}, []string{}},
		{"nil-list-clears", nil, []string{}},
		{"plain", []string{"example.com"}, []string{"example.com"}},
		{"upper-case-lowered", []string{"Example.COM"}, []string{"example.com"}},
		{"surrounding-space-trimmed", []string{"  example.com\t"}, []string{"example.com"}},
		{"trailing-dot-dropped", []string{"example.com."}, []string{"example.com"}},
		{"idn-u-label-to-a-label", []string{"bücher.de"}, []string{"xn--bcher-kva.de"}},
		{"idn-upper-u-label-to-a-label", []string{"BÜCHER.DE"}, []string{"xn--bcher-kva.de"}},
		{"idn-a-label-kept", []string{"xn--bcher-kva.de"}, []string{"xn--bcher-kva.de"}},
		{"idn-upper-a-label-lowered", []string{"XN--BCHER-KVA.DE"}, []string{"xn--bcher-kva.de"}},
		{"full-width-mapped", []string{"ｅｘａｍｐｌｅ．ｃｏｍ"}, []string{"example.com"}},
		{"ideographic-full-stop-mapped", []string{"example。com"}, []string{"example.com"}},
		{"sharp-s-kept-not-folded-to-ss", []string{"faß.de"}, []string{"xn--fa-hia.de"}},
		{"look-alike-stays-distinct", []string{"аpple.com", "apple.com"}, []string{"apple.com", "xn--pple-43d.com"}},
		{"wildcard", []string{"*.example.com"}, []string{"*.example.com"}},
		{"wildcard-idn", []string{"*.Bücher.de"}, []string{"*.xn--bcher-kva.de"}},
		{"wildcard-and-apex-are-two-entries", []string{"example.com", "*.example.com"}, []string{"*.example.com", "example.com"}},
		{"duplicates-in-every-form-once", []string{"bücher.de", "XN--BCHER-KVA.DE", "Bücher.de.", "example.com", "EXAMPLE.com"}, []string{"example.com", "xn--bcher-kva.de"}},
		{"sorted", []string{"zeta.io", "alpha.io", "mid.io"}, []string{"alpha.io", "mid.io", "zeta.io"}},
		{"subdomain", []string{"eu.mail.example.com"}, []string{"eu.mail.example.com"}},
		{"under-a-public-suffix", []string{"example.co.uk"}, []string{"example.co.uk"}},
		{"private-tld", []string{"corp.internal"}, []string{"corp.internal"}},
		{"digits-in-labels", []string{"123.example.com", "3com.com"}, []string{"123.example.com", "3com.com"}},
		{"exactly-253-characters", []string{strings.Repeat(strings.Repeat("a", 62)+".", 4) + "c"}, []string{strings.Repeat(strings.Repeat("a", 62)+".", 4) + "c"}},
		{"label-of-63", []string{strings.Repeat("a", 63) + ".com"}, []string{strings.Repeat("a", 63) + ".com"}},
		{"fifty-distinct", fiftyDomains(), sortedFifty()},
		{"fifty-distinct-plus-duplicates", append(fiftyDomains(), "D0.example.com", "d49.EXAMPLE.com"), sortedFifty()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NormalizeTrustedDomains(tc.in)
			if err != nil {
				t.Fatalf("NormalizeTrustedDomains(%q) = %v", tc.in, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("NormalizeTrustedDomains(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func fiftyDomains() []string {
	var out []string
	for i := range MaxTrustedDomains {
		out = append(out, fmt.Sprintf("d%d.example.com", i))
	}
	return out
}

func sortedFifty() []string {
	out, _ := NormalizeTrustedDomains(fiftyDomains())
	return out
}

func TestNormalizeTrustedDomainsRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []string
		want string // the whole message
	}{
		{"empty-entry", []string{"example.com", " "}, `entry 2 (" "): is empty`},
		{"url", []string{"https://example.com"}, `entry 1 ("https://example.com"): give the domain alone, as in example.com, without a scheme, path, port or @`},
		{"path", []string{"example.com/team"}, `entry 1 ("example.com/team"): give the domain alone, as in example.com, without a scheme, path, port or @`},
		{"port", []string{"example.com:443"}, `entry 1 ("example.com:443"): give the domain alone, as in example.com, without a scheme, path, port or @`},
		{"email", []string{"alice@example.com"}, `entry 1 ("alice@example.com"): give the domain alone, as in example.com, without a scheme, path, port or @`},
		{"at-sign-prefix", []string{"@example.com"}, `entry 1 ("@example.com"): give the domain alone, as in example.com, without a scheme, path, port or @`},
		{"ipv4", []string{"10.0.0.1"}, `entry 1 ("10.0.0.1"): is an IP address; give a domain name such as example.com`},
		{"ipv6", []string{"::1"}, `entry 1 ("::1"): is an IP address; give a domain name such as example.com`},
		{"ipv6-bracketed", []string{"[2001:db8::1]"}, `entry 1 ("[2001:db8::1]"): is an IP address; give a domain name such as example.com`},
		{"numeric-tld", []string{"1.2.3"}, `entry 1 ("1.2.3"): ends in a number, so it is not a domain name`},
		{"single-label", []string{"localhost"}, `entry 1 ("localhost"): needs at least one dot, as in example.com`},
		{"public-suffix-tld", []string{"com"}, `entry 1 ("com"): com is a public suffix; trusting it would trust everyone under it`},
		{"public-suffix-two-labels", []string{"co.uk"}, `entry 1 ("co.uk"): co.uk is a public suffix; trusting it would trust everyone under it`},
		{"wildcard-over-public-suffix", []string{"*.co.uk"}, `entry 1 ("*.co.uk"): co.uk is a public suffix; trusting it would trust everyone under it`},
		{"wildcard-over-tld", []string{"*.com"}, `entry 1 ("*.com"): com is a public suffix; trusting it would trust everyone under it`},
		{"wildcard-alone", []string{"*"}, `entry 1 ("*"): a wildcard is allowed only as a leading "*." (as in *.example.com)`},
		{"wildcard-in-the-middle", []string{"mail.*.example.com"}, `entry 1 ("mail.*.example.com"): a wildcard is allowed only as a leading "*." (as in *.example.com)`},
		{"wildcard-without-dot", []string{"*example.com"}, `entry 1 ("*example.com"): a wildcard is allowed only as a leading "*." (as in *.example.com)`},
		{"double-wildcard", []string{"*.*.example.com"}, `entry 1 ("*.*.example.com"): a wildcard is allowed only as a leading "*." (as in *.example.com)`},
		{"inner-space", []string{"exa mple.com"}, `entry 1 ("exa mple.com"): must not contain spaces or control characters`},
		{"underscore", []string{"a_b.com"}, `entry 1 ("a_b.com"): is not a valid domain name`},
		{"leading-hyphen", []string{"-abc.com"}, `entry 1 ("-abc.com"): is not a valid domain name`},
		{"bad-punycode", []string{"xn--a.com"}, `entry 1 ("xn--a.com"): is not a valid domain name`},
		{"zero-width-joiner", []string{"a\u200db.com"}, `entry 1 ("a\u200db.com"): is not a valid domain name`},
		{"empty-label", []string{"a..com"}, `entry 1 ("a..com"): has an empty label (two dots in a row, or a leading dot)`},
		{"leading-dot", []string{".example.com"}, `entry 1 (".example.com"): has an empty label (two dots in a row, or a leading dot)`},
		{"only-a-dot", []string{"."}, `entry 1 ("."): is not a valid domain name`},
		{"label-of-64", []string{strings.Repeat("a", 64) + ".com"}, `entry 1 ("` + strings.Repeat("a", 64) + `.com"): has a label longer than 63 characters`},
		{"longer-than-253", []string{strings.Repeat(strings.Repeat("a", 60)+".", 5) + "com"}, `entry 1 ("` + strings.Repeat(strings.Repeat("a", 60)+".", 5)[:100] + `"…): is longer than 253 characters`},
		{"huge-entry-cut-in-message", []string{strings.Repeat("é", 600)}, `entry 1 ("` + strings.Repeat("é", 50) + `"…): is too long for a domain name`},
		{"fifty-one-distinct", append(fiftyDomains(), "one-more.example.com"), `at most 50 trusted domains; entry 51 ("one-more.example.com") is the 51st different one`},
		{"names-the-first-bad-entry", []string{"good.com", "also.good.com", "bad_one.com", "worse..com"}, `entry 3 ("bad_one.com"): is not a valid domain name`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NormalizeTrustedDomains(tc.in)
			e, ok := apperr.As(err)
			if !ok || e.Code != apperr.BadUserInput || e.Field != "domains" {
				t.Fatalf("NormalizeTrustedDomains = %q, %v; want BAD_USER_INPUT on domains", got, err)
			}
			if e.Message != tc.want {
				t.Errorf("message:\n got %s\nwant %s", e.Message, tc.want)
			}
		})
	}
}

func TestEmailDomain(t *testing.T) {
	for _, tc := range []struct {
		email, want string
		wantErr     bool
	}{
		{"alice@example.com", "example.com", false},
		{"Alice@Example.COM", "example.com", false},
		{"bob@bücher.de", "xn--bcher-kva.de", false},
		{"bob@BÜCHER.DE", "xn--bcher-kva.de", false},
		{"bob@xn--bcher-kva.de", "xn--bcher-kva.de", false},
		{"bob@XN--BCHER-KVA.DE", "xn--bcher-kva.de", false},
		{`"odd@local"@example.org`, "example.org", false},
		{"root@localhost", "localhost", false},
		{"dot@example.com.", "example.com", false},
		{"no-at-sign", "", true},
		{"empty@", "", true},
		{"bad@exa_mple.com", "", true},
		{"ip@[10.0.0.1]", "", true},
	} {
		t.Run(tc.email, func(t *testing.T) {
			got, err := EmailDomain(tc.email)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("EmailDomain(%q) = %q, %v; want %q (error: %v)", tc.email, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestTrusted(t *testing.T) {
	trusted := []string{"example.com", "*.corp.example", "xn--bcher-kva.de"}
	for _, tc := range []struct {
		name, domain string
		want         bool
	}{
		{"exact", "example.com", true},
		{"subdomain-of-an-exact-entry-is-not-trusted", "mail.example.com", false},
		{"suffix-that-is-not-a-subdomain", "badexample.com", false},
		{"wildcard-one-level", "eu.corp.example", true},
		{"wildcard-any-depth", "a.b.eu.corp.example", true},
		{"wildcard-not-the-apex", "corp.example", false},
		{"wildcard-suffix-that-is-not-a-subdomain", "evilcorp.example", false},
		{"idn-a-label", "xn--bcher-kva.de", true},
		{"empty", "", false},
		{"other", "gmail.com", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Trusted(tc.domain, trusted); got != tc.want {
				t.Errorf("Trusted(%q) = %v, want %v", tc.domain, got, tc.want)
			}
		})
	}
	// Case and IDN forms meet in the canonical form, through EmailDomain
	// on one side and NormalizeTrustedDomains on the other.
	list, err := NormalizeTrustedDomains([]string{"BÜCHER.de", "Example.COM"})
	if err != nil {
		t.Fatal(err)
	}
	for _, email := range []string{"a@bücher.de", "a@XN--BCHER-KVA.DE", "a@EXAMPLE.com"} {
		d, _ := EmailDomain(email)
		if !Trusted(d, list) {
			t.Errorf("%s (domain %q) not trusted by %q", email, d, list)
		}
	}
}

func TestDisplayDomain(t *testing.T) {
	for in, want := range map[string]string{
		"example.com":        "example.com",
		"xn--bcher-kva.de":   "xn--bcher-kva.de (bücher.de)",
		"xn--pple-43d.com":   "xn--pple-43d.com (аpple.com)",
		"*.xn--bcher-kva.de": "*.xn--bcher-kva.de (*.bücher.de)",
	} {
		if got := DisplayDomain(in); got != want {
			t.Errorf("DisplayDomain(%q) = %q, want %q", in, got, want)
		}
	}
}
