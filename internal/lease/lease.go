// Package lease makes background work run once across replicas. Any number
// of auditlogd processes may share a database; a job such as the retention
// pruner or a log stream's deliverer must run on one of them at a time, and
// move to another when that one dies (docs/API.md §12).
//
// A lease is a row in the database: a name, an owner, an expiry by the
// database's clock, and a fencing token. Taking and renewing it are single
// conditional statements, so the database decides who holds it: two
// replicas never both succeed, whatever their clocks say. The token
// increases on every acquisition; a holder's writes check it in their own
// transaction, so that a holder that was paused past its expiry (a long GC,
// a frozen VM) cannot write after another took over.
//
// Runner is the loop around a job: it acquires the lease, starts the job,
// renews well before expiry, and cancels the job's context as soon as a
// renewal fails or the lease runs out by the local clock.
package lease

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"
)

// Lease is one holding of a named lease: who holds it, with which token,
// until when.
type Lease struct {
	// Name names the job, e.g. "retention".
	Name string
	// Owner identifies the holder: one process (see NewOwner).
	Owner string
	// Token is the fencing token. It increases with every acquisition of
	// the name, by anyone, so a larger token is a later holding.
	Token int64
	// ExpiresAt is when the holding ends unless renewed, by the database's
	// clock. It is informational: nothing compares it with a replica's
	// clock.
	ExpiresAt time.Time
}

// Errors of the Store.
var (
	// ErrHeld means another owner holds the lease and it has not expired.
	ErrHeld = errors.New("lease: held by another owner")
	// ErrLost means the holding is over: it expired, was released, or
	// another owner took the lease. A write fenced by it must not happen.
	ErrLost = errors.New("lease: lost")
)

// Store keeps leases in the database, which is the single judge of time and
// ownership. Every method decides with the database's clock.
type Store interface {
	// Acquire takes the lease for owner for ttl when nobody holds it, it
	// expired, or owner already holds it; the token increases in every case.
	// It returns ErrHeld when another owner holds it.
	Acquire(ctx context.Context, name, owner string, ttl time.Duration) (Lease, error)
	// Renew extends the holding l to ttl from now, if it still holds: same
	// owner, same token, not expired. Otherwise it returns ErrLost.
	Renew(ctx context.Context, l Lease, ttl time.Duration) (Lease, error)
	// Release ends the holding l at once, so that another owner can take
	// the lease without waiting for it to expire. Releasing a holding that
	// is already over does nothing.
	Release(ctx context.Context, l Lease) error
}

// NewOwner returns an owner id for this process: host name, pid and a random
// suffix, readable in the leases table and unique even across restarts that
// reuse a pid.
func NewOwner() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	if len(host) > 100 {
		host = host[:100]
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))
}
