package store

import (
	"context"
	"database/sql"
	"time"

	"gorm.io/gorm"

	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/digest"
	"github.com/auditlogd/auditlogd/internal/insight"
)

var _ audit.ExportStore = (*Events)(nil)

type exportRow struct {
	ID              string `gorm:"primaryKey"`
	WorkspaceID     string
	RequestedBy     string
	RequestedByKey  bool
	Format          string
	Filter          string
	SnapshotAt      int64
	SnapshotEventID string
	HeadSequence    int64
	HeadHash        []byte
	CreatedAt       int64 `gorm:"autoCreateTime:false"`
	ExpiresAt       int64
}

func (exportRow) TableName() string { return "audit_exports" }

// InTx runs fn in one transaction; see workspace.Store.InTx.
func (s *Events) InTx(ctx context.Context, fn func(tx audit.ExportStore) error) error {
	return s.c.inTx(ctx, func(c conn) error { return fn(&Events{c}) })
}

// AppendEvents writes audit events in the caller's transaction, which must
// have locked their workspaces (see conn.checkLocked).
func (s *Events) AppendEvents(ctx context.Context, events ...audit.Event) error {
	return appendLocked(ctx, s.c, events)
}

// LockWorkspace takes the workspace row's write lock with userID's access
// row, then reads the clock (see audit.ExportStore).
func (s *Events) LockWorkspace(ctx context.Context, workspaceID, userID string) (audit.Lock, error) {
	lk, head, err := (&Workspaces{s.c}).lockWorkspace(ctx, workspaceID, userID)
	if err != nil {
		return audit.Lock{}, err
	}
	return audit.Lock{Access: audit.AccessRow{Exists: true, Plan: string(lk.Plan), Role: lk.Role}, Now: lk.Now,
		Head: audit.ChainHead{Sequence: head.seq, Hash: head.hash, PrunedThrough: head.pruned}}, nil
}

// CreateExport records an export request.
func (s *Events) CreateExport(ctx context.Context, e audit.Export) error {
	f, err := audit.MarshalFilter(e.Filter)
	if err != nil {
		return err
	}
	r := exportRow{ID: e.ID, WorkspaceID: e.WorkspaceID, RequestedBy: e.RequestedBy, RequestedByKey: e.RequestedByKey, Format: string(e.Format), Filter: f,
		SnapshotAt: e.Snapshot.OccurredAt.UnixMilli(), SnapshotEventID: e.Snapshot.ID,
		HeadSequence: e.Head.Sequence, HeadHash: e.Head.Hash[:],
		CreatedAt: e.CreatedAt.UnixMilli(), ExpiresAt: e.ExpiresAt.UnixMilli()}
	return s.c.run(ctx, true, func(db *gorm.DB) error { return db.Create(&r).Error })
}

// GetExport returns an export request.
func (s *Events) GetExport(ctx context.Context, id string) (audit.Export, error) {
	var r exportRow
	if err := s.c.run(ctx, false, func(db *gorm.DB) error { return db.Take(&r, "id = ?", id).Error }); err != nil {
		return audit.Export{}, err
	}
	f, err := audit.UnmarshalFilter(r.Filter)
	if err != nil {
		return audit.Export{}, err
	}
	return audit.Export{ID: r.ID, WorkspaceID: r.WorkspaceID, RequestedBy: r.RequestedBy, RequestedByKey: r.RequestedByKey, Format: audit.Format(r.Format), Filter: f,
		Snapshot:  audit.Position{OccurredAt: fromMs(r.SnapshotAt), ID: r.SnapshotEventID},
		Head:      audit.ChainHead{Sequence: r.HeadSequence, Hash: headHash(r.HeadHash)},
		CreatedAt: fromMs(r.CreatedAt), ExpiresAt: fromMs(r.ExpiresAt)}, nil
}

// headHash reads a stored head hash; a missing one is the empty log's.
func headHash(b []byte) digest.SHA256 {
	h, _ := digest.FromBytes(b)
	return h
}

// streamCols is the number of byte columns of an audit.Row: 13 of the
// event, then its prev_hash and hash.
const streamCols = 15

// streamedRow is one row of a batch: its time and where each of its columns
// lies in the batch's buffer (start < 0 for NULL).
type streamedRow struct {
	ms, seq    int64
	flags      insight.Set
	start, end [streamCols]int
}

// batch is one keyset batch of an export, read in full: the rows' bytes in
// one buffer, and where each row's columns lie in it.
type batch struct {
	buf  []byte
	rows []streamedRow
	err  error
}

// StreamEvents runs q in keyset batches of q.Limit rows. Each batch is
// scanned as raw bytes into a reused buffer and its statement finished
// before fn sees the rows, so that a slow reader of the export never keeps a
// statement open past its deadline, nor a connection busy. While fn works
// through one batch, the next is read: the database and the encoder work at
// the same time. Memory stays bounded by two batches.
func (s *Events) StreamEvents(ctx context.Context, q audit.Query, fn func(*audit.Row) error) error {
	return s.StreamEventsAdaptive(ctx, q, nil, fn)
}

var _ audit.AdaptiveStreamer = (*Events)(nil)

// StreamEventsAdaptive is StreamEvents with a batch size that may change
// while it streams: size (when not nil) is asked before each batch is read,
// instead of using q.Limit.
func (s *Events) StreamEventsAdaptive(ctx context.Context, q audit.Query, size func() int, fn func(*audit.Row) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	free := make(chan *batch, 2)
	free <- &batch{buf: make([]byte, 0, 64<<10)}
	free <- &batch{buf: make([]byte, 0, 64<<10)}
	full := make(chan *batch, 1)
	go s.readBatches(ctx, q, size, free, full)

	var row audit.Row
	cols := [streamCols]*[]byte{&row.ID, &row.Action, &row.ActorID, &row.ActorEmail, &row.ActorType,
		&row.TargetType, &row.TargetID, &row.TargetLabel, &row.PreviousRole, &row.Role, &row.IPAddress,
		&row.UserAgent, &row.RequestID, &row.PrevHash, &row.Hash}
	for b := range full {
		if b.err != nil {
			return b.err
		}
		for _, r := range b.rows {
			row.OccurredAtMs, row.Sequence, row.Flags = r.ms, r.seq, r.flags
			for i, c := range cols {
				*c = nil
				if r.start[i] >= 0 {
					*c = b.buf[r.start[i]:r.end[i]:r.end[i]]
				}
			}
			if err := fn(&row); err != nil {
				return err
			}
		}
		free <- b
	}
	return ctx.Err()
}

// readBatches reads q batch after batch into the buffers it takes from free
// and hands them to full, until a batch is short, an error occurs (sent as
// the last batch) or ctx ends. It closes full when it stops.
func (s *Events) readBatches(ctx context.Context, q audit.Query, size func() int, free <-chan *batch, full chan<- *batch) {
	defer close(full)
	var (
		raw  [streamCols]sql.RawBytes
		wsID sql.RawBytes
		ms   int64
	)
	var seq sql.NullInt64
	var flags insight.Set
	// The columns of eventColumns: id, workspace_id, occurred_at, the rest
	// of the event, then sequence, prev_hash, hash, flags.
	dest := []any{&raw[0], &wsID, &ms}
	for i := 1; i < 13; i++ {
		dest = append(dest, &raw[i])
	}
	dest = append(dest, &seq, &raw[13], &raw[14], &flags)
	for {
		var b *batch
		select {
		case b = <-free:
		case <-ctx.Done():
			return
		}
		b.buf, b.rows, b.err = b.buf[:0], b.rows[:0], nil
		if size != nil {
			q.Limit = max(1, size())
		}
		query, args := listQuery(s.c.db.dialect, q)
		b.err = s.c.run(ctx, false, func(db *gorm.DB) error {
			rows, err := db.Raw(query, args...).Rows()
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				if err := rows.Scan(dest...); err != nil {
					return err
				}
				r := streamedRow{ms: ms, seq: seq.Int64, flags: flags}
				for i, c := range raw {
					r.start[i], r.end[i] = -1, -1
					if c != nil {
						r.start[i] = len(b.buf)
						b.buf = append(b.buf, c...)
						r.end[i] = len(b.buf)
					}
				}
				b.rows = append(b.rows, r)
			}
			return rows.Err()
		})
		select {
		case full <- b:
		case <-ctx.Done():
			return
		}
		if b.err != nil || len(b.rows) < q.Limit {
			return
		}
		last := b.rows[len(b.rows)-1]
		id := string(b.buf[last.start[0]:last.end[0]]) // copied: b now belongs to the encoder
		q.From = &audit.Bound{Position: audit.Position{OccurredAt: fromMs(last.ms), ID: id}}
	}
}

// WorkspaceIDs pages through the ids of all workspaces, for the retention job.
func (s *Events) WorkspaceIDs(ctx context.Context, after string, limit int) ([]string, error) {
	var ids []string
	err := s.c.run(ctx, false, func(db *gorm.DB) error {
		return db.Model(&workspaceRow{}).Where("id > ?", after).Order("id").Limit(limit).Pluck("id", &ids).Error
	})
	return ids, err
}

// PruneEvents deletes at most about batch events of the workspace older than
// cutoff, oldest first, and returns how many it deleted. Each call is one
// short statement over a primary-key range at the old end of the workspace's
// log, far from where writers insert, so it blocks nobody for long.
//
// The workspace row records the highest sequence deleted
// (chain_pruned_through), in the same transaction, so that verification
// knows where the retained chain starts: retention deletes whole oldest
// events only, and the oldest kept event's prevHash anchors the rest. The
// delete comes first and the row's update last, so writers of the workspace
// wait only for that one short statement.
func (s *Events) PruneEvents(ctx context.Context, workspaceID string, cutoff time.Time, batch int) (int64, error) {
	var deleted int64
	err := s.c.inTx(ctx, func(c conn) error {
		return c.run(ctx, true, func(db *gorm.DB) error {
			var bound []int64
			if err := db.Raw("SELECT occurred_at FROM audit_events WHERE workspace_id = ? AND occurred_at < ? ORDER BY occurred_at, id LIMIT 1 OFFSET ?",
				workspaceID, cutoff.UnixMilli(), batch-1).Scan(&bound).Error; err != nil {
				return err
			}
			upper := cutoff.UnixMilli()
			if len(bound) == 1 {
				upper = min(upper, bound[0]+1)
			}
			var through sql.NullInt64
			if err := db.Raw("SELECT MAX(sequence) FROM audit_events WHERE workspace_id = ? AND occurred_at < ?", workspaceID, upper).
				Row().Scan(&through); err != nil {
				return err
			}
			res := db.Exec("DELETE FROM audit_events WHERE workspace_id = ? AND occurred_at < ?", workspaceID, upper)
			if res.Error != nil {
				return res.Error
			}
			deleted = res.RowsAffected
			if !through.Valid || deleted == 0 {
				return nil
			}
			greatest := "GREATEST"
			if s.c.db.dialect == SQLite {
				greatest = "MAX"
			}
			return db.Exec("UPDATE workspaces SET chain_pruned_through = "+greatest+"(chain_pruned_through, ?) WHERE id = ?", through.Int64, workspaceID).Error
		})
	})
	return deleted, err
}

// PruneCounters deletes the hourly counters (by action and by actor) of
// hours that ended before cutoff, which counts and summaries never read
// (they cover only whole hours inside the window), and the networks last
// seen before cutoff, which NEW_LOCATION no longer counts as seen (but not
// the marker that the actor was seen at all: seenMarker).
func (s *Events) PruneCounters(ctx context.Context, workspaceID string, cutoff time.Time) error {
	defer s.c.db.actorSums.forget(workspaceID)
	return s.c.run(ctx, true, func(db *gorm.DB) error {
		for _, kind := range []string{countsByAction, countsByActor} {
			if err := db.Exec("DELETE FROM audit_event_counts WHERE workspace_id = ? AND kind = ? AND hour_start < ?",
				workspaceID, kind, hourStart(cutoff.UnixMilli())).Error; err != nil {
				return err
			}
		}
		return db.Exec("DELETE FROM actor_networks WHERE workspace_id = ? AND last_seen < ? AND network <> ?", workspaceID, cutoff.UnixMilli(), seenMarker).Error
	})
}

// DeleteExpiredExports deletes export records that expired before cutoff.
func (s *Events) DeleteExpiredExports(ctx context.Context, cutoff time.Time) (int64, error) {
	var n int64
	err := s.c.run(ctx, true, func(db *gorm.DB) error {
		res := db.Where("expires_at < ?", cutoff.UnixMilli()).Delete(&exportRow{})
		n = res.RowsAffected
		return res.Error
	})
	return n, err
}
