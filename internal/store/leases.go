package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/auditlogd/auditlogd/internal/lease"
)

// Leases implements lease.Store: the leases table (migration 0005), in which
// replicas take turns at background jobs.
//
// Every decision is one conditional statement evaluated by the database with
// its own clock (nowMs), so that two replicas whose clocks disagree still
// cannot both hold a lease. Each statement runs in its own transaction
// through inTx, which retries a deadlock: on Galera that is also what a
// certification conflict between two nodes writing the lease row looks like
// (error 1213), and the retry then sees the winner's row.
type Leases struct{ c conn }

var _ lease.Store = (*Leases)(nil)

// Leases returns the store of background-work leases.
func (db *DB) Leases() *Leases { return &Leases{db.conn()} }

// InTx runs fn in one transaction, for writes fenced by CheckFence.
func (s *Leases) InTx(ctx context.Context, fn func(tx *Leases) error) error {
	return s.c.inTx(ctx, func(c conn) error { return fn(&Leases{c}) })
}

// nowMs is the database's clock in Unix milliseconds, as an SQL expression.
// MySQL: the microseconds since the epoch of UTC_TIMESTAMP, which involves no
// time zone (UNIX_TIMESTAMP(NOW()) would convert through the session's, and
// is ambiguous for an hour each autumn where there is daylight saving). It is
// fixed for the duration of a statement, and on Galera replicated as a value
// (row-based replication), not re-evaluated on other nodes.
func nowMs(d Dialect) string {
	if d == SQLite {
		return "CAST(unixepoch('subsec') * 1000 AS INTEGER)"
	}
	return "(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6)) DIV 1000)"
}

// leaseRow is a row of the leases table.
type leaseRow struct {
	Name      string
	Owner     string
	Token     int64
	ExpiresAt int64
}

func (r leaseRow) toDomain() lease.Lease {
	return lease.Lease{Name: r.Name, Owner: r.Owner, Token: r.Token, ExpiresAt: fromMs(r.ExpiresAt)}
}

// Acquire takes the lease when it is expired or owner's (an UPDATE that
// increments the token), or when nobody ever took it (an INSERT that does
// nothing if a rival inserted first). See lease.Store.
func (s *Leases) Acquire(ctx context.Context, name, owner string, ttl time.Duration) (lease.Lease, error) {
	now := nowMs(s.c.db.dialect)
	var (
		row  leaseRow
		took bool
	)
	err := s.c.inTx(ctx, func(c conn) error {
		took, row = false, leaseRow{}
		return c.run(ctx, true, func(db *gorm.DB) error {
			res := db.Exec(`UPDATE leases SET owner = ?, token = token + 1, version = version + 1,
				acquired_at = `+now+`, renewed_at = `+now+`, expires_at = `+now+` + ?
				WHERE name = ? AND (expires_at < `+now+` OR owner = ?)`,
				owner, ttl.Milliseconds(), name, owner)
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected == 0 {
				res = db.Exec(insertLeaseSQL(c.db.dialect, now), name, owner, ttl.Milliseconds())
				if res.Error != nil {
					return res.Error
				}
			}
			if res.RowsAffected != 1 {
				return nil
			}
			took = true
			return db.Raw("SELECT name, owner, token, expires_at FROM leases WHERE name = ?", name).Scan(&row).Error
		})
	})
	if err != nil {
		return lease.Lease{}, fmt.Errorf("acquire lease %s: %w", name, err)
	}
	if !took || row.Owner != owner {
		return lease.Lease{}, lease.ErrHeld
	}
	return row.toDomain(), nil
}

// insertLeaseSQL inserts a lease's first row, and does nothing when it
// exists: a rival that inserted first wins, and this acquisition fails.
func insertLeaseSQL(d Dialect, now string) string {
	values := `(name, owner, token, version, acquired_at, renewed_at, expires_at)
		VALUES (?, ?, 1, 1, ` + now + `, ` + now + `, ` + now + ` + ?)`
	if d == SQLite {
		return "INSERT INTO leases " + values + " ON CONFLICT (name) DO NOTHING"
	}
	// Assigning name to itself changes nothing: 0 rows affected.
	return "INSERT INTO leases " + values + " ON DUPLICATE KEY UPDATE name = name"
}

// Renew extends a holding that has neither expired nor changed hands. See
// lease.Store.
func (s *Leases) Renew(ctx context.Context, l lease.Lease, ttl time.Duration) (lease.Lease, error) {
	now := nowMs(s.c.db.dialect)
	var (
		expires int64
		held    bool
	)
	err := s.c.inTx(ctx, func(c conn) error {
		held = false
		return c.run(ctx, true, func(db *gorm.DB) error {
			res := db.Exec(`UPDATE leases SET version = version + 1, renewed_at = `+now+`, expires_at = `+now+` + ?
				WHERE name = ? AND owner = ? AND token = ? AND expires_at >= `+now,
				ttl.Milliseconds(), l.Name, l.Owner, l.Token)
			if res.Error != nil || res.RowsAffected != 1 {
				return res.Error
			}
			held = true
			return db.Raw("SELECT expires_at FROM leases WHERE name = ?", l.Name).Scan(&expires).Error
		})
	})
	if err != nil {
		return lease.Lease{}, fmt.Errorf("renew lease %s: %w", l.Name, err)
	}
	if !held {
		return lease.Lease{}, lease.ErrLost
	}
	l.ExpiresAt = fromMs(expires)
	return l, nil
}

// Release makes the lease expired at once, if the holding l still has it.
// The owner and token stay: the next acquisition increments the token.
func (s *Leases) Release(ctx context.Context, l lease.Lease) error {
	now := nowMs(s.c.db.dialect)
	err := s.c.inTx(ctx, func(c conn) error {
		return c.run(ctx, true, func(db *gorm.DB) error {
			return db.Exec(`UPDATE leases SET version = version + 1, expires_at = `+now+` - 1
				WHERE name = ? AND owner = ? AND token = ?`, l.Name, l.Owner, l.Token).Error
		})
	})
	if err != nil {
		return fmt.Errorf("release lease %s: %w", l.Name, err)
	}
	return nil
}

// Holder returns the lease's current row: its owner, token and expiry, even
// when that has passed. It returns apperr.ErrNotFound for a lease never
// taken. For operators and tests; the Runner does not need it.
func (s *Leases) Holder(ctx context.Context, name string) (lease.Lease, error) {
	var rows []leaseRow
	err := s.c.run(ctx, false, func(db *gorm.DB) error {
		return db.Raw("SELECT name, owner, token, expires_at FROM leases WHERE name = ?", name).Scan(&rows).Error
	})
	if err != nil {
		return lease.Lease{}, err
	}
	if len(rows) == 0 {
		return lease.Lease{}, translate(gorm.ErrRecordNotFound)
	}
	return rows[0].toDomain(), nil
}

// CheckFence returns lease.ErrLost unless the holding l still has the lease
// (same owner and token, not expired by the database's clock). Call it in the
// transaction of a write made on behalf of a lease holder (InTx), first: the
// write then commits only if the holding was valid at a point in the
// transaction's serial order. See checkFence.
func (s *Leases) CheckFence(ctx context.Context, l lease.Lease) error {
	return checkFence(ctx, s.c, l)
}

// checkFence is CheckFence for store code: the transaction of any write a
// lease holder makes (a stream's delivered position, say) calls it before
// writing, and aborts with lease.ErrLost (wrapped: test with errors.Is).
//
// It is an UPDATE of the lease row, not a read, on purpose. On one server,
// the row lock it takes makes a rival's takeover wait until this transaction
// ends, so the write is ordered before the takeover. On Galera, where a lock
// taken on one node does not block another, the changed row puts the lease
// into this transaction's write set: a takeover committed through another
// node in the meantime conflicts with it, and this transaction fails
// certification (1213); its retry then finds the new token and refuses. A
// SELECT, even FOR UPDATE, would be certified against nothing.
func checkFence(ctx context.Context, c conn, l lease.Lease) error {
	if !c.tx {
		return fmt.Errorf("check fence of lease %s: not in a transaction", l.Name)
	}
	now := nowMs(c.db.dialect)
	var n int64
	err := c.run(ctx, true, func(db *gorm.DB) error {
		res := db.Exec(`UPDATE leases SET version = version + 1
			WHERE name = ? AND owner = ? AND token = ? AND expires_at >= `+now, l.Name, l.Owner, l.Token)
		n = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return err
	}
	if n != 1 {
		return lease.ErrLost
	}
	return nil
}
