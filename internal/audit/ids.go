package audit

import (
	"crypto/rand"
	"time"

	"github.com/oklog/ulid/v2"
)

// NewID returns a new sortable id (a ULID) whose time part is t, so that ids
// of events sort like their occurredAt. Ids made in the same millisecond by
// this process increase monotonically.
func NewID(t time.Time) string {
	return ulid.MustNew(ulid.Timestamp(t), ulid.DefaultEntropy()).String()
}

// NewIDs returns n ids for events that happen together at t, strictly
// increasing in the order given: the events of one transaction then sort in
// the order they were written, even if other goroutines make ids for other
// milliseconds in between (which resets NewID's shared monotonic entropy).
func NewIDs(t time.Time, n int) []string {
	entropy := ulid.Monotonic(rand.Reader, 0)
	out := make([]string, n)
	for i := range out {
		out[i] = ulid.MustNew(ulid.Timestamp(t), entropy).String()
	}
	return out
}

// ValidID reports whether s is a well-formed id as NewID makes them.
func ValidID(s string) bool {
	_, err := ulid.ParseStrict(s)
	return err == nil && len(s) == ulid.EncodedSize
}
