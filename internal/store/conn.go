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
)

// maxTxAttempts bounds how often a transaction is retried after a deadlock or
// a busy database before the error is returned.
const maxTxAttempts = 5

// conn is a handle on the database, either outside a transaction (reads go to
// the reader, writes to the writer) or inside one (both are the transaction).
type conn struct {
	db     *DB
	reader *gorm.DB
	writer *gorm.DB
	tx     bool
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
		if err == nil || attempt == maxTxAttempts || !retryable(err) {
			return translate(err)
		}
		backoff := time.Duration(attempt*attempt)*5*time.Millisecond + rand.N(5*time.Millisecond)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
	}
}

func (c conn) attempt(ctx context.Context, fn func(conn) error) error {
	ctx, cancel := context.WithTimeout(ctx, c.db.opts.QueryTimeout)
	defer cancel()
	return c.writer.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return fn(conn{db: c.db, reader: tx, writer: tx, tx: true})
	})
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
