// Package ids makes the sortable ids (ULIDs) of events, workspaces, invites,
// exports and requests.
package ids

import (
	"crypto/rand"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

// New returns a new sortable id (a ULID) whose time part is t, so that ids
// of events sort like their occurredAt. Within one millisecond, ids made by
// this process increase in the order they are made, even when ids for other
// milliseconds are made in between: events written one after the other in
// the same millisecond keep their order in the log.
func New(t time.Time) string { return generator.next(ulid.Timestamp(t)).String() }

// NewN returns n ids for events that happen together at t, strictly
// increasing in the order given.
func NewN(t time.Time, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = New(t)
	}
	return out
}

// Valid reports whether s is a well-formed id as New makes them.
func Valid(s string) bool {
	_, err := ulid.ParseStrict(s)
	return err == nil && len(s) == ulid.EncodedSize
}

// generator is the process's id generator. It is the one piece of package state:
// ordering ids within a millisecond needs a single source per process (as the
// ULID library's own default entropy is).
var generator = &idGenerator{}

// idGenerator remembers the last id of the last few milliseconds. A new id
// for one of them is that id plus one; for a new millisecond it starts from
// 80 fresh random bits. (A single "last id" would restart at random as soon
// as an id for another millisecond came in between.)
type idGenerator struct {
	mu     sync.Mutex
	recent [32]ulid.ULID
	slot   int
}

func (g *idGenerator) next(ms uint64) ulid.ULID {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i := range g.recent {
		if id := &g.recent[i]; id.Time() == ms && *id != (ulid.ULID{}) {
			if increment(id) {
				return *id
			}
			break // 2^80 ids in one millisecond: start afresh
		}
	}
	var id ulid.ULID
	if err := id.SetTime(ms); err != nil {
		panic("audit: time out of ULID range: " + err.Error())
	}
	if _, err := rand.Read(id[6:]); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	id[6] &= 0x7f // room above, so that increments do not overflow in practice
	g.recent[g.slot] = id
	g.slot = (g.slot + 1) % len(g.recent)
	return id
}

// increment adds one to the 80-bit random part of id, reporting false on
// overflow.
func increment(id *ulid.ULID) bool {
	for i := len(id) - 1; i >= 6; i-- {
		id[i]++
		if id[i] != 0 {
			return true
		}
	}
	return false
}
