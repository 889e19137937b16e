// Package email is the one canonical form in which auditlogd compares email
// addresses: invites, addMember, the users' email keys and the audit log's
// email filters all go through Canonical, so that an address matches exactly
// the addresses a mail system would deliver to the same mailbox by its
// domain's rules, and never a look-alike.
//
// The local part is compared exactly except for ASCII letter case: Unicode
// case folding would make "Kate@" written with the Kelvin sign (U+212A) or
// "ſam@" with a long s equal to "kate@" and "sam@". The domain is normalised
// with IDNA (UTS #46, the lookup profile) to its ASCII form, as DNS resolves
// it, so "bücher.example" and "xn--bcher-kva.example" are the same domain.
package email

import (
	"errors"
	"net/mail"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// MaxLen bounds an address, as RFC 5321 does (254 octets on the wire).
const MaxLen = 254

// ErrInvalid means the text is not a plain email address.
var ErrInvalid = errors.New("not a plain email address such as name@example.com")

var profile = idna.Lookup

// Canonical returns the canonical form of a plain address (no display name,
// no surrounding spaces or angle brackets): the local part with ASCII letters
// lower-cased and every other byte kept, "@", and the domain in IDNA ASCII
// form, lower-cased.
func Canonical(s string) (string, error) {
	if s == "" || len(s) > MaxLen || !utf8.ValidString(s) {
		return "", ErrInvalid
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return "", ErrInvalid
	}
	at := strings.LastIndexByte(s, '@')
	local, domain := s[:at], s[at+1:]
	if local == "" || domain == "" {
		return "", ErrInvalid
	}
	ascii, err := profile.ToASCII(domain)
	if err != nil || ascii == "" || strings.HasSuffix(ascii, ".") {
		return "", ErrInvalid
	}
	return lowerASCII(local) + "@" + strings.ToLower(ascii), nil
}

// Key is the form in which the audit log's actorEmail and targetLabel filters
// compare: the canonical form of an address, and for any other label (an
// export format, a host name, a list of domains) the text with its ASCII
// letters lower-cased. Both sides of a comparison go through Key.
func Key(s string) string {
	if c, err := Canonical(s); err == nil {
		return c
	}
	return lowerASCII(s)
}

// Domain returns the canonical domain of a canonical address.
func Domain(canonical string) string {
	return canonical[strings.LastIndexByte(canonical, '@')+1:]
}

// lowerASCII lower-cases A–Z only.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
