package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	gosqlite "github.com/glebarez/go-sqlite"
	"github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"github.com/auditlogd/auditlogd/internal/apperr"
	"github.com/auditlogd/auditlogd/internal/audit"
)

// maxTxAttempts bounds how often a transaction is attempted after deadlocks
// or a busy database before the error is returned. On a Galera cluster a
// transaction that loses to a rival committed through another node gets the
// deadlock error too; with several replicas writing one workspace through
// different nodes, a transaction can lose a few times in a row (the replicas
// test saw five losses in a row for about one in a hundred transactions when
// this was five). The pauses between attempts (txBackoff) add up to at most
// about a second.
const maxTxAttempts = 10

// txBackoff is the pause after the n-th failed attempt: exponential from
// 5 ms, at most 200 ms, drawn from its upper half at random, so that rivals
// that lost together do not come back together.
func txBackoff(n int) time.Duration {
	d := min(200*time.Millisecond, 5*time.Millisecond<<min(n-1, 10))
	return d/2 + rand.N(d/2+1)
}

// conn is a handle on the database, either outside a transaction (reads go to
// the reader, writes to the writer) or inside one (both are the transaction,
// and state holds what the transaction has locked).
type conn struct {
	db     *DB
	reader *gorm.DB
	writer *gorm.DB
	tx     bool
	state  *txState
	// now is the clock that event-writing transactions read after taking
	// their workspace's lock.
	now func() time.Time
}

// txState is what one transaction attempt has locked: the workspaces whose
// rows it holds, each with the time the clock read right after the lock and
// the head of the workspace's hash chain. AppendEvents writes events only for
// those workspaces, stamped no earlier than that time, and chains them from
// that head: "lock, then clock, then sequence" is enforced here, not left to
// each caller.
type txState struct {
	locked map[string]*lockState
}

// lockState is one locked workspace: the lock's clock reading and the chain
// head, which advances as the transaction appends events.
type lockState struct {
	now  time.Time
	head chainHead
	// trusted are the workspace's trusted domains, read with the lock.
	trusted []string
	// pre is the locking user's history, read with the lock, for the flags
	// of the transaction's first event (see actorPrefetch); nil once used.
	pre *actorPrefetch
	// appended is whether the transaction appended events, so the new head
	// must be written back to the workspace row.
	appended bool
	// headless marks events inserted in bulk for a workspace without a row.
	headless bool
	// wrote is whether the transaction wrote events of the workspace (to
	// announce after the commit).
	wrote bool
}

// lock records that the transaction holds workspaceID's row, whose chain
// head is head, and reads the clock after the lock, truncated to the
// millisecond. The reading is at least a millisecond after the workspace's
// newest event, so that a workspace's events are stamped in the order of
// their sequences even when replicas' clocks disagree (or within one
// millisecond): occurredAt never decreases as the sequence grows, which is
// what lets retention delete whole oldest events.
func (c conn) lock(workspaceID string, head chainHead) time.Time {
	at := c.now().UTC().Truncate(time.Millisecond)
	if floor := time.UnixMilli(head.atMs + 1).UTC(); head.atMs > 0 && at.Before(floor) {
		at = floor
	}
	if prev, ok := c.state.locked[workspaceID]; ok {
		if prev.now.After(at) {
			at = prev.now
		}
		prev.now = at
		return at
	}
	c.state.locked[workspaceID] = &lockState{now: at, head: head}
	return at
}

// checkLocked returns an error unless the transaction locked every event's
// workspace before the event's time was read.
func (c conn) checkLocked(events []audit.Event) error {
	if !c.tx {
		return errors.New("store: events are appended only inside a transaction that locked their workspace")
	}
	for _, e := range events {
		st, ok := c.state.locked[e.WorkspaceID]
		if !ok {
			return fmt.Errorf("store: event %s is for workspace %s, which this transaction did not lock", e.ID, e.WorkspaceID)
		}
		if e.OccurredAt.Before(st.now) {
			return fmt.Errorf("store: event %s is stamped %s, before its workspace was locked at %s (read the clock after the lock)",
				e.ID, e.OccurredAt.Format(time.RFC3339Nano), st.now.Format(time.RFC3339Nano))
		}
	}
	return nil
}

// run gives fn a handle with a statement deadline and translates its error.
func (c conn) run(ctx context.Context, write bool, fn func(*gorm.DB) error) error {
	ctx, cancel := context.WithTimeout(ctx, c.db.opts.QueryTimeout)
	defer cancel()
	h := c.reader
	if write {
		h = c.writer
	}
	return translate(fn(h.WithContext(ctx)))
}

// inTx runs fn in a transaction (or in the current one), retrying the whole
// transaction on deadlocks and busy errors.
func (c conn) inTx(ctx context.Context, fn func(conn) error) error {
	if c.tx {
		return fn(c)
	}
	// MySQL sessions run READ COMMITTED (set when a connection opens):
	// statements see what committed before them (an invite read after taking
	// the workspace lock is current), and InnoDB takes no gap locks, which
	// keeps concurrent inserts from deadlocking.
	for attempt := 1; ; attempt++ {
		err := c.attempt(ctx, fn)
		if err == nil || !retryable(err) {
			return translate(err)
		}
		if on := c.db.opts.OnConflict; on != nil {
			on(conflictCause(err), attempt == maxTxAttempts)
		}
		if attempt == maxTxAttempts {
			return translate(err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(txBackoff(attempt)):
		}
	}
}

func (c conn) attempt(ctx context.Context, fn func(conn) error) error {
	ctx, cancel := context.WithTimeout(ctx, c.db.opts.QueryTimeout)
	defer cancel()
	state := &txState{locked: map[string]*lockState{}}
	err := c.writer.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return fn(conn{db: c.db, reader: tx, writer: tx, tx: true, now: c.now, state: state})
	})
	if err == nil && c.db.opts.OnCommit != nil {
		var wrote []string
		for id, st := range state.locked {
			if st.wrote {
				wrote = append(wrote, id)
			}
		}
		if len(wrote) > 0 {
			c.db.opts.OnCommit(wrote)
		}
	}
	return err
}

// retryable reports whether err means "try the transaction again": a MySQL
// deadlock, or SQLite being busy or locked by another connection.
func retryable(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1213 || me.Number == 1020
	}
	var se *gosqlite.Error
	if errors.As(err, &se) {
		code := se.Code() & 0xff
		return code == 5 || code == 6 // SQLITE_BUSY, SQLITE_LOCKED
	}
	return false
}

// conflictCause names a retryable error for metrics: "deadlock" (MySQL
// 1213: a deadlock on one server; on Galera also a transaction that failed
// certification or was aborted by a conflicting write set applied from
// another node), "record_changed" (1020) or "sqlite_busy".
func conflictCause(err error) string {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		if me.Number == 1020 {
			return "record_changed"
		}
		return "deadlock"
	}
	return "sqlite_busy"
}

// translate maps GORM's errors to the domain's: missing rows are NOT_FOUND,
// unique-key violations CONFLICT. Domain errors pass through; anything else
// is wrapped as a storage fault (INTERNAL to clients).
func translate(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gorm.ErrRecordNotFound), errors.Is(err, sql.ErrNoRows):
		return apperr.ErrNotFound
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return apperr.ErrConflict
	}
	if _, ok := apperr.As(err); ok {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var sf *storageError
	if errors.As(err, &sf) {
		return err
	}
	return &storageError{err: err}
}

// storageError marks a database fault. Its text may mention SQL, so it is
// only ever logged.
type storageError struct{ err error }

func (e *storageError) Error() string { return fmt.Sprintf("storage: %v", e.err) }
func (e *storageError) Unwrap() error { return e.err }
