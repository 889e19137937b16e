package audit

import (
	"time"

	"github.com/oklog/ulid/v2"
)

// NewID returns a new sortable id (a ULID) whose time part is t, so that ids
// of events sort like their occurredAt. Ids made in the same millisecond by
// this process increase monotonically.
func NewID(t time.Time) string {
	return ulid.MustNew(ulid.Timestamp(t), ulid.DefaultEntropy()).String()
}

// ValidID reports whether s is a well-formed id as NewID makes them.
func ValidID(s string) bool {
	_, err := ulid.ParseStrict(s)
	return err == nil && len(s) == ulid.EncodedSize
}
