// Package digest is the SHA-256 digest type of the audit log's hash chain:
// an event's hash and prevHash, a head's hash. It stays 32 bytes inside the
// service (the database stores it as BINARY(32), half the width of hex text,
// and row width is what export speed follows); the API and export files
// spell it as 64 lowercase hex digits. It is a leaf so that the log's types
// (package audit) and the chain's rules (package integrity) can share it.
package digest

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// SHA256 is a SHA-256 digest.
type SHA256 [32]byte

// String is the lowercase hex spelling the API uses.
func (h SHA256) String() string { return hex.EncodeToString(h[:]) }

// AppendHex appends the lowercase hex spelling of h to dst.
func (h SHA256) AppendHex(dst []byte) []byte { return hex.AppendEncode(dst, h[:]) }

// MarshalText writes the lowercase hex spelling, so heads and reports
// marshal to the same text the API shows.
func (h SHA256) MarshalText() ([]byte, error) { return h.AppendHex(nil), nil }

// UnmarshalText reads exactly 64 lowercase hex digits (see Parse).
func (h *SHA256) UnmarshalText(b []byte) error {
	p, err := parse(b)
	if err != nil {
		return err
	}
	*h = p
	return nil
}

// MarshalGQL writes h as a GraphQL String of 64 lowercase hex digits.
func (h SHA256) MarshalGQL(w io.Writer) {
	b := make([]byte, 0, 66)
	b = append(b, '"')
	b = h.AppendHex(b)
	b = append(b, '"')
	_, _ = w.Write(b)
}

// UnmarshalGQL reads a GraphQL String of 64 lowercase hex digits.
func (h *SHA256) UnmarshalGQL(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("a hash is a string of 64 lowercase hex digits, not %s", strconv.Quote(fmt.Sprint(v)))
	}
	return h.UnmarshalText([]byte(s))
}

// Parse reads a hash as the API writes it: exactly 64 lowercase hex digits.
// Upper case is refused rather than folded, because a verifier that accepted
// another spelling would pass a file whose bytes were changed.
func Parse(s string) (SHA256, error) { return parse([]byte(s)) }

func parse(b []byte) (SHA256, error) {
	var h SHA256
	if len(b) != 2*len(h) {
		return h, fmt.Errorf("a hash is 64 lowercase hex digits, not %d characters", len(b))
	}
	for _, c := range b {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return h, errors.New("a hash is 64 lowercase hex digits")
		}
	}
	_, err := hex.Decode(h[:], b)
	return h, err
}

// FromBytes reads a hash stored as 32 bytes (a BINARY(32) column). A value of
// another length — a NULL or a truncated column — is not a hash; the caller
// reports it rather than panicking on a conversion.
func FromBytes(b []byte) (SHA256, bool) {
	if len(b) != len(SHA256{}) {
		return SHA256{}, false
	}
	return SHA256(b), true
}
