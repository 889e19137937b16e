package insight

import (
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"

	"github.com/auditlogd/auditlogd/internal/apperr"
)

// MaxTrustedDomains is how many trusted domains a workspace may have
// (issue 15), counted after normalisation and deduplication.
const MaxTrustedDomains = 50

// trustedDomainsField is the argument setTrustedDomains's errors name.
const trustedDomainsField = "domains"

// maxEntryBytes bounds one entry before any work is done on it. A domain is
// at most 253 characters as an A-label; its U-label form in UTF-8 can be a
// few times longer, never this long.
const maxEntryBytes = 1024

// wildcardPrefix starts the one wildcard form allowed: "*.example.com"
// trusts every subdomain of example.com, at any depth, but not example.com
// itself (list both to trust both). Nothing else is a wildcard.
const wildcardPrefix = "*."

// Domains are kept and compared in one canonical form: the IDNA A-label
// (punycode) form, lower-case ASCII, without a trailing dot — "bücher.de",
// "BÜCHER.de" and "xn--bcher-kva.de" are all "xn--bcher-kva.de". A-labels
// because they are what DNS and mail actually use, compare byte for byte
// with no Unicode collation (a MySQL _ci collation would equate characters
// IDNA keeps apart), and cannot hide a look-alike: "аpple.com" with a
// Cyrillic а is plainly xn--pple-43d.com. DisplayDomain shows the U-label
// beside it for people.

// NormalizeTrustedDomains validates the list an admin gives
// setTrustedDomains and returns it in canonical form, deduplicated and
// sorted (so the stored list, and the label of TRUSTED_DOMAINS_UPDATED, do
// not depend on the order it was typed in). An empty list is valid: it
// clears the setting, and admins' domains are trusted again.
//
// Each entry is a domain name ("example.com", "bücher.de") or "*." and a
// domain name; surrounding white space is ignored. Refused, with an error
// naming the entry: URLs, paths, ports, email addresses, IP addresses,
// names with one label, invalid IDNA, a public suffix such as "co.uk" (it
// would trust everyone under it), and more than MaxTrustedDomains distinct
// domains. Errors are BAD_USER_INPUT on the argument domains.
func NormalizeTrustedDomains(entries []string) ([]string, error) {
	seen := make(map[string]bool, len(entries))
	var out []string
	for i, raw := range entries {
		d, err := normalizeEntry(raw)
		if err != nil {
			return nil, apperr.Invalid(trustedDomainsField, "entry %d (%s): %s", i+1, quoteEntry(raw), err.Error())
		}
		if seen[d] {
			continue
		}
		if len(out) == MaxTrustedDomains {
			return nil, apperr.Invalid(trustedDomainsField, "at most %d trusted domains; entry %d (%s) is the %s different one", MaxTrustedDomains, i+1, quoteEntry(raw), ordinal(MaxTrustedDomains+1))
		}
		seen[d] = true
		out = append(out, d)
	}
	slices.Sort(out)
	if out == nil {
		out = []string{}
	}
	return out, nil
}

// quoteEntry quotes an entry for an error message, cut short so that a huge
// entry does not make a huge message.
func quoteEntry(s string) string {
	const max = 100
	if len(s) > max {
		cut := max
		for cut > 0 && !isRuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + "…"
	}
	return strconv.Quote(s)
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// normalizeEntry is one trusted-domain entry in canonical form.
func normalizeEntry(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", errors.New("is empty")
	}
	if len(s) > maxEntryBytes {
		return "", errors.New("is too long for a domain name")
	}
	base, wildcard := strings.CutPrefix(s, wildcardPrefix)
	if strings.Contains(base, "*") {
		return "", errors.New(`a wildcard is allowed only as a leading "*." (as in *.example.com)`)
	}
	d, err := canonicalDomain(base)
	if err != nil {
		return "", err
	}
	if ps, icann := publicsuffix.PublicSuffix(d); icann && ps == d {
		return "", errors.New(d + " is a public suffix; trusting it would trust everyone under it")
	}
	if !strings.Contains(d, ".") {
		return "", errors.New("needs at least one dot, as in example.com")
	}
	if wildcard {
		return wildcardPrefix + d, nil
	}
	return d, nil
}

// canonicalDomain is s in the canonical form (see above), or an error
// saying in plain words why s is not a domain name. It accepts names with
// one label (an email may be user@localhost); policy on top of the form is
// the caller's.
func canonicalDomain(s string) (string, error) {
	if strings.Contains(s, "://") || strings.ContainsAny(s, "/:@?#[]\\") {
		if _, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
			return "", errors.New("is an IP address; give a domain name such as example.com")
		}
		return "", errors.New("give the domain alone, as in example.com, without a scheme, path, port or @")
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return "", errors.New("must not contain spaces or control characters")
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return "", errors.New("is an IP address; give a domain name such as example.com")
	}
	// The lookup profile maps what a person may type (capitals, full-width
	// letters, the ideographic full stop) to what DNS uses, and refuses
	// what no domain may contain.
	a, err := idna.Lookup.ToASCII(s)
	if err != nil {
		return "", errors.New("is not a valid domain name")
	}
	a = strings.ToLower(strings.TrimSuffix(a, "."))
	if a == "" {
		return "", errors.New("is not a valid domain name")
	}
	if len(a) > 253 {
		return "", errors.New("is longer than 253 characters")
	}
	labels := strings.Split(a, ".")
	for _, l := range labels {
		switch {
		case l == "":
			return "", errors.New("has an empty label (two dots in a row, or a leading dot)")
		case len(l) > 63:
			return "", errors.New("has a label longer than 63 characters")
		case !isLDH(l):
			return "", errors.New("is not a valid domain name")
		}
	}
	if isDigits(labels[len(labels)-1]) {
		return "", errors.New("ends in a number, so it is not a domain name")
	}
	return a, nil
}

// isLDH reports whether l is letters, digits and hyphens, not starting or
// ending with a hyphen: what IDNA's output must be, checked again here so
// that nothing else can ever be stored.
func isLDH(l string) bool {
	if l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// EmailDomain is the domain of an email address in canonical form: the part
// after the last @, IDNA-normalised and lower-cased, so that it compares
// with trusted domains ("Bob@Bücher.DE" → "xn--bcher-kva.de"). It fails for
// a string without @ or whose domain is not a valid name.
func EmailDomain(email string) (string, error) {
	i := strings.LastIndexByte(email, '@')
	if i < 0 {
		return "", errors.New("insight: not an email address")
	}
	d, err := canonicalDomain(email[i+1:])
	if err != nil {
		return "", errors.New("insight: the email's domain " + err.Error())
	}
	return d, nil
}

// Trusted reports whether domain is trusted by the list: equal to an entry,
// or a subdomain (any depth) of an entry "*.base". Both sides must be in
// canonical form (EmailDomain, NormalizeTrustedDomains); comparing there,
// and only there, is what makes "Example.COM" and "example.com" one domain.
func Trusted(domain string, trusted []string) bool {
	if domain == "" {
		return false
	}
	for _, t := range trusted {
		if base, ok := strings.CutPrefix(t, wildcardPrefix); ok {
			if strings.HasSuffix(domain, "."+base) {
				return true
			}
		} else if domain == t {
			return true
		}
	}
	return false
}

// DisplayDomain is a canonical domain for people: as is when it is plain
// ASCII, and with its Unicode form beside it otherwise —
// "xn--bcher-kva.de (bücher.de)". The A-label comes first because it is the
// truth: a look-alike shows as what it is.
func DisplayDomain(d string) string {
	base, wildcard := strings.CutPrefix(d, wildcardPrefix)
	if !strings.Contains(base, "xn--") {
		return d
	}
	u, err := idna.Lookup.ToUnicode(base)
	if err != nil || u == base {
		return d
	}
	if wildcard {
		u = wildcardPrefix + u
	}
	return d + " (" + u + ")"
}
