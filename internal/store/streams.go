package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/lease"
	"github.com/auditlogd/auditlogd/internal/stream"
	"github.com/auditlogd/auditlogd/internal/workspace"
)

type logStreamRow struct {
	ID                  string `gorm:"primaryKey"`
	WorkspaceID         string
	URL                 string
	Description         *string
	Secret              []byte
	CreatedBy           string
	CreatedAt           int64 `gorm:"autoCreateTime:false"`
	DeletedAt           *int64
	Status              string
	DeliveredThrough    int64
	LastDeliveryAt      *int64
	LastError           *string
	ConsecutiveFailures int
	NextAttemptAt       int64
	Version             int64
}

func (logStreamRow) TableName() string { return "log_streams" }

func (r logStreamRow) toDomain() workspace.LogStream {
	return workspace.LogStream{ID: r.ID, WorkspaceID: r.WorkspaceID, URL: r.URL, Description: r.Description,
		CreatedBy: r.CreatedBy, CreatedAt: fromMs(r.CreatedAt), DeletedAt: fromMsPtr(r.DeletedAt), SealedSecret: r.Secret,
		Status: stream.Status(r.Status), DeliveredThrough: r.DeliveredThrough, LastDeliveryAt: fromMsPtr(r.LastDeliveryAt),
		LastError: r.LastError}
}

func (r logStreamRow) toStream() stream.Stream {
	h := stream.Health{Status: stream.Status(r.Status), ConsecutiveFailures: r.ConsecutiveFailures, NextAttemptAt: fromMs(r.NextAttemptAt)}
	if r.LastError != nil {
		h.LastError = *r.LastError
	}
	if r.LastDeliveryAt != nil {
		h.LastDeliveryAt = fromMs(*r.LastDeliveryAt)
	}
	return stream.Stream{ID: r.ID, WorkspaceID: r.WorkspaceID, URL: r.URL, SealedSecret: r.Secret, Deleted: r.DeletedAt != nil,
		DeliveredThrough: r.DeliveredThrough, Health: h}
}

// CreateLogStream inserts a stream.
func (s *Workspaces) CreateLogStream(ctx context.Context, ls workspace.LogStream) error {
	r := logStreamRow{ID: ls.ID, WorkspaceID: ls.WorkspaceID, URL: ls.URL, Description: ls.Description, Secret: ls.SealedSecret,
		CreatedBy: ls.CreatedBy, CreatedAt: ls.CreatedAt.UnixMilli(), Status: string(ls.Status), DeliveredThrough: ls.DeliveredThrough}
	return s.c.run(ctx, true, func(db *gorm.DB) error { return db.Create(&r).Error })
}

// GetLogStream returns a stream of the workspace.
func (s *Workspaces) GetLogStream(ctx context.Context, workspaceID, id string) (workspace.LogStream, error) {
	var r logStreamRow
	err := s.c.run(ctx, false, func(db *gorm.DB) error {
		return db.Take(&r, "id = ? AND workspace_id = ?", id, workspaceID).Error
	})
	return r.toDomain(), err
}

// ListLogStreams returns the workspace's live streams, newest first.
func (s *Workspaces) ListLogStreams(ctx context.Context, workspaceID string) ([]workspace.LogStream, error) {
	var rows []logStreamRow
	err := s.c.run(ctx, false, func(db *gorm.DB) error {
		return db.Where("workspace_id = ? AND deleted_at IS NULL", workspaceID).Order("created_at DESC, id DESC").Find(&rows).Error
	})
	return convert(rows, logStreamRow.toDomain), err
}

// DeleteLogStream marks a stream deleted; its deliverer stops.
func (s *Workspaces) DeleteLogStream(ctx context.Context, id string, at time.Time) error {
	return s.c.run(ctx, true, func(db *gorm.DB) error {
		return db.Model(&logStreamRow{}).Where("id = ?", id).
			Updates(map[string]any{"deleted_at": at.UnixMilli(), "version": gorm.Expr("version + 1")}).Error
	})
}

// Streams implements stream.Store: what the deliverer reads and records.
type Streams struct{ c conn }

// Streams returns the store of the stream deliverer.
func (db *DB) Streams() *Streams { return &Streams{db.conn()} }

var _ stream.Store = (*Streams)(nil)

// LiveStreams returns the ids of the streams that are not deleted.
func (s *Streams) LiveStreams(ctx context.Context) ([]string, error) {
	var ids []string
	err := s.c.run(ctx, false, func(db *gorm.DB) error {
		return db.Model(&logStreamRow{}).Where("deleted_at IS NULL").Order("id").Pluck("id", &ids).Error
	})
	return ids, err
}

// GetStream returns a stream, deleted or not.
func (s *Streams) GetStream(ctx context.Context, id string) (stream.Stream, error) {
	var r logStreamRow
	err := s.c.run(ctx, false, func(db *gorm.DB) error { return db.Take(&r, "id = ?", id).Error })
	return r.toStream(), err
}

// EventsAfter returns at most limit events of the workspace with a sequence
// above after, in sequence order.
func (s *Streams) EventsAfter(ctx context.Context, workspaceID string, after int64, limit int) ([]audit.Event, error) {
	out := make([]audit.Event, 0, limit)
	err := s.c.run(ctx, false, func(db *gorm.DB) error {
		rows, err := db.Raw("SELECT "+eventColumns+" FROM audit_events WHERE workspace_id = ? AND sequence > ? ORDER BY sequence LIMIT ?",
			workspaceID, after, limit).Rows()
		if err != nil {
			return err
		}
		defer rows.Close()
		var sc eventScan
		for rows.Next() {
			if err := rows.Scan(sc.dest()...); err != nil {
				return err
			}
			out = append(out, sc.event())
		}
		return rows.Err()
	})
	return out, err
}

// ReadBatch returns at most limit events of the workspace with a sequence
// above after, in sequence order, with the workspace's chain head and
// whether the stream is deleted, all in one statement (one snapshot: the
// head covers the events). The head and the deletion are uncorrelated
// subqueries, which the database evaluates once; with no event there is no
// row, and they are not needed.
func (s *Streams) ReadBatch(ctx context.Context, streamID, workspaceID string, after int64, limit int) ([]audit.Event, audit.ChainHead, bool, error) {
	out := make([]audit.Event, 0, limit)
	var head audit.ChainHead
	var deleted bool
	err := s.c.run(ctx, false, func(db *gorm.DB) error {
		rows, err := db.Raw(`SELECT `+eventColumns+`,
			(SELECT deleted_at IS NOT NULL FROM log_streams WHERE id = ?),
			(SELECT chain_sequence FROM workspaces WHERE id = ?), (SELECT chain_hash FROM workspaces WHERE id = ?),
			(SELECT chain_at FROM workspaces WHERE id = ?), (SELECT chain_pruned_through FROM workspaces WHERE id = ?)
			FROM audit_events WHERE workspace_id = ? AND sequence > ? ORDER BY sequence LIMIT ?`,
			streamID, workspaceID, workspaceID, workspaceID, workspaceID, workspaceID, after, limit).Rows()
		if err != nil {
			return err
		}
		defer rows.Close()
		var sc eventScan
		var hs headScan
		var del bool
		dest := append(sc.dest(), &del)
		dest = append(dest, hs.dest()...)
		for rows.Next() {
			if err := rows.Scan(dest...); err != nil {
				return err
			}
			out = append(out, sc.event())
		}
		if len(out) > 0 {
			h := hs.head()
			head, deleted = audit.ChainHead{Sequence: h.seq, Hash: h.hash, PrunedThrough: h.pruned}, del
		}
		return rows.Err()
	})
	return out, head, deleted, err
}

// Head returns the workspace's chain head.
func (s *Streams) Head(ctx context.Context, workspaceID string) (audit.ChainHead, error) {
	return (&Events{s.c}).Head(ctx, workspaceID)
}

// ErrStreamMoved means a stream's position is not where the deliverer
// thought: another deliverer advanced it, or the stream was deleted.
var ErrStreamMoved = errors.New("store: the stream's position moved")

// RecordDelivery records an acknowledged batch: the position moves from
// from to through, with the stream's new health. It is fenced by the lease
// (a deliverer whose holding ended cannot write) and conditional on the
// position still being from.
func (s *Streams) RecordDelivery(ctx context.Context, l lease.Lease, streamID string, from, through int64, h stream.Health) error {
	return s.record(ctx, l, streamID, &from, through, h)
}

// RecordFailure records a failed attempt's health, fenced by the lease.
func (s *Streams) RecordFailure(ctx context.Context, l lease.Lease, streamID string, h stream.Health) error {
	return s.record(ctx, l, streamID, nil, 0, h)
}

func (s *Streams) record(ctx context.Context, l lease.Lease, streamID string, from *int64, through int64, h stream.Health) error {
	if s.c.db.dialect != SQLite && !s.c.tx {
		return s.recordOne(ctx, l, streamID, from, through, h)
	}
	return s.c.inTx(ctx, func(c conn) error {
		if err := checkFence(ctx, c, l); err != nil {
			return err
		}
		updates := map[string]any{"status": string(h.Status), "consecutive_failures": h.ConsecutiveFailures,
			"next_attempt_at": h.NextAttemptAt.UnixMilli(), "version": gorm.Expr("version + 1"), "last_error": nil}
		if h.LastError != "" {
			updates["last_error"] = truncateError(h.LastError)
		}
		if !h.LastDeliveryAt.IsZero() {
			updates["last_delivery_at"] = h.LastDeliveryAt.UnixMilli()
		}
		return c.run(ctx, true, func(db *gorm.DB) error {
			q := db.Model(&logStreamRow{}).Where("id = ? AND deleted_at IS NULL", streamID)
			if from != nil {
				q = q.Where("delivered_through = ?", *from)
				updates["delivered_through"] = through
			}
			res := q.Updates(updates)
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected != 1 {
				return ErrStreamMoved
			}
			return nil
		})
	})
}

// recordOne is record on MySQL in one autocommitted statement instead of a
// transaction of four round trips (BEGIN, the fence, the update, COMMIT):
// a deliverer catching up records a position per batch of 100 events, so
// this is most of its database time. The statement writes both rows, as
// the transaction does — the lease's version (the fence, which on Galera
// puts the lease row in the write set) and the stream — and only if the
// lease is still held and the stream's position is still from.
func (s *Streams) recordOne(ctx context.Context, l lease.Lease, streamID string, from *int64, through int64, h stream.Health) error {
	var lastError any
	if h.LastError != "" {
		lastError = truncateError(h.LastError)
	}
	set := "l.version = l.version + 1, s.version = s.version + 1, s.status = ?, s.consecutive_failures = ?, s.next_attempt_at = ?, s.last_error = ?"
	args := []any{string(h.Status), h.ConsecutiveFailures, h.NextAttemptAt.UnixMilli(), lastError}
	if !h.LastDeliveryAt.IsZero() {
		set += ", s.last_delivery_at = ?"
		args = append(args, h.LastDeliveryAt.UnixMilli())
	}
	if from != nil {
		set += ", s.delivered_through = ?"
		args = append(args, through)
	}
	where := "s.id = ? AND s.deleted_at IS NULL AND l.name = ? AND l.owner = ? AND l.token = ? AND l.expires_at >= " + nowMs(s.c.db.dialect)
	args = append(args, streamID, l.Name, l.Owner, l.Token)
	if from != nil {
		where += " AND s.delivered_through = ?"
		args = append(args, *from)
	}
	q := "UPDATE log_streams s, leases l SET " + set + " WHERE " + where
	for attempt := 1; ; attempt++ {
		var n int64
		var raw error
		err := s.c.run(ctx, true, func(db *gorm.DB) error {
			res := db.Exec(q, args...)
			n, raw = res.RowsAffected, res.Error
			return res.Error
		})
		if raw != nil && retryable(raw) && attempt < maxTxAttempts {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(txBackoff(attempt)):
			}
			continue
		}
		if err != nil {
			return err
		}
		switch n {
		case 2: // both rows changed (each version moved)
			return nil
		case 0:
			// Neither: say which condition failed, as the transaction would.
			var held int64
			err := s.c.run(ctx, false, func(db *gorm.DB) error {
				return db.Raw(`SELECT COUNT(*) FROM leases WHERE name = ? AND owner = ? AND token = ? AND expires_at >= `+nowMs(s.c.db.dialect),
					l.Name, l.Owner, l.Token).Row().Scan(&held)
			})
			if err != nil {
				return err
			}
			if held == 0 {
				return lease.ErrLost
			}
			return ErrStreamMoved
		default:
			return fmt.Errorf("store: recording stream %s changed %d rows, want 2", streamID, n)
		}
	}
}

func truncateError(s string) string {
	if len(s) <= 300 {
		return s
	}
	cut := 300
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut]
}
