package store

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/auditlogd/auditlogd/internal/apperr"
	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/digest"
	"github.com/auditlogd/auditlogd/internal/workspace"
)

// Bulk inserts many rows at once, for the seed command. Events go through
// the same path as the services' (appendEvents), so the hourly counters stay
// exact.
type Bulk struct{ c conn }

// Bulk returns the bulk loader.
func (db *DB) Bulk() *Bulk { return &Bulk{db.conn()} }

const bulkBatch = 1000

// InsertUsers inserts users.
func (b *Bulk) InsertUsers(ctx context.Context, users []workspace.User) error {
	return insertAll(ctx, b.c, convert(users, userFromDomain))
}

// InsertWorkspaces inserts workspaces.
func (b *Bulk) InsertWorkspaces(ctx context.Context, ws []workspace.Workspace) error {
	return insertAll(ctx, b.c, convert(ws, workspaceFromDomain))
}

// InsertMemberships inserts memberships.
func (b *Bulk) InsertMemberships(ctx context.Context, ms []workspace.Membership) error {
	return insertAll(ctx, b.c, convert(ms, membershipFromDomain))
}

// InsertInvites inserts invites.
func (b *Bulk) InsertInvites(ctx context.Context, invs []workspace.Invite) error {
	return insertAll(ctx, b.c, convert(invs, inviteFromDomain))
}

// InsertEvents inserts events and bumps their counters, in one transaction
// per call. Events that come with their sequences and hashes (the seeder
// computes each workspace's chain as it generates it) are inserted as they
// are; SetChainHead then records each workspace's head. Events without are
// chained here, in time order, after their workspace's head, under its lock
// (a test's history written straight into the table).
func (b *Bulk) InsertEvents(ctx context.Context, events []audit.Event) error {
	// History may land in hours whose summaries were kept as final.
	defer func() {
		for _, id := range workspaceIDs(events) {
			b.c.db.actorSums.forget(id)
		}
	}()
	if len(events) > 0 && events[0].Sequence != 0 {
		return b.c.inTx(ctx, func(c conn) error { return appendEvents(ctx, c, events) })
	}
	events = slices.Clone(events)
	slices.SortStableFunc(events, func(a, b audit.Event) int {
		return cmp.Or(a.OccurredAt.Compare(b.OccurredAt), cmp.Compare(a.ID, b.ID))
	})
	return b.c.inTx(ctx, func(c conn) error {
		ws := &Workspaces{c}
		for _, e := range events {
			if _, ok := c.state.locked[e.WorkspaceID]; !ok {
				_, _, err := ws.lockWorkspace(ctx, e.WorkspaceID, "")
				if errors.Is(err, apperr.ErrNotFound) {
					// Events of a workspace without a row (tests of the
					// event table alone) are chained from the start, and
					// there is no head to keep.
					c.state.locked[e.WorkspaceID] = &lockState{headless: true}
				} else if err != nil {
					return err
				}
			}
		}
		c.chainAnyOrder(events)
		if err := appendEvents(ctx, c, events); err != nil {
			return err
		}
		return c.run(ctx, true, func(db *gorm.DB) error { return c.writeHeads(ctx, db) })
	})
}

// SetChainHead records a workspace's chain head after its events were
// inserted with their sequences and hashes.
func (b *Bulk) SetChainHead(ctx context.Context, workspaceID string, seq int64, hash digest.SHA256, at time.Time) error {
	return b.c.run(ctx, true, func(db *gorm.DB) error {
		return db.Exec("UPDATE workspaces SET chain_sequence = ?, chain_hash = ?, chain_at = ? WHERE id = ?",
			seq, hash[:], at.UnixMilli(), workspaceID).Error
	})
}

func insertAll[R any](ctx context.Context, c conn, rows []R) error {
	if len(rows) == 0 {
		return nil
	}
	return c.inTx(ctx, func(c conn) error {
		return c.run(ctx, true, func(db *gorm.DB) error { return db.CreateInBatches(rows, bulkBatch).Error })
	})
}

// index is one secondary index as information_schema describes it.
type index struct {
	name    string
	unique  bool
	columns []string
}

// definition is the index as an ALTER TABLE clause that adds it back.
func (ix index) definition() string {
	kind := "INDEX"
	if ix.unique {
		kind = "UNIQUE INDEX"
	}
	return "ADD " + kind + " " + ix.name + " (" + strings.Join(ix.columns, ", ") + ")"
}

// WithoutEventIndexes runs fn with the secondary indexes of audit_events
// dropped, then builds them again, all at once, by sorting (much faster than
// maintaining them row by row when millions of rows arrive and the indexes
// outgrow the buffer pool). It only does so on MySQL and when the table is
// empty; otherwise it just runs fn. The indexes are rebuilt even if fn fails.
// The definitions come from the live schema, so they are put back exactly as
// the migrations made them, unique ones (the chain's (workspace_id, sequence))
// unique again.
func (b *Bulk) WithoutEventIndexes(ctx context.Context, fn func() error) (err error) {
	if b.c.db.dialect != MySQL {
		return fn()
	}
	db := b.c.writer.WithContext(ctx)
	var any []int
	if err := db.Raw("SELECT 1 FROM audit_events LIMIT 1").Scan(&any).Error; err != nil {
		return err
	}
	if len(any) > 0 {
		return fn()
	}
	idx, err := eventIndexes(db)
	if err != nil || len(idx) == 0 {
		return errors.Join(err, fn())
	}
	var drops, adds []string
	for _, ix := range idx {
		drops = append(drops, "DROP INDEX "+ix.name)
		adds = append(adds, ix.definition())
	}
	if err := db.Exec("ALTER TABLE audit_events " + strings.Join(drops, ", ")).Error; err != nil {
		return err
	}
	defer func() {
		// A fresh context: the indexes must come back even if ctx was cancelled.
		rebuild := b.c.writer.WithContext(context.WithoutCancel(ctx))
		err = errors.Join(err, rebuild.Exec("ALTER TABLE audit_events "+strings.Join(adds, ", ")).Error)
	}()
	return fn()
}

// eventIndexes reads the secondary indexes of audit_events.
func eventIndexes(db *gorm.DB) ([]index, error) {
	var rows []struct {
		IndexName  string
		ColumnName string
		NonUnique  int
	}
	err := db.Raw(`SELECT index_name AS index_name, column_name AS column_name, non_unique AS non_unique FROM information_schema.statistics
		WHERE table_schema = DATABASE() AND table_name = 'audit_events' AND index_name <> 'PRIMARY'
		ORDER BY index_name, seq_in_index`).Scan(&rows).Error
	var out []index
	for _, r := range rows {
		if len(out) == 0 || out[len(out)-1].name != r.IndexName {
			out = append(out, index{name: r.IndexName, unique: r.NonUnique == 0})
		}
		out[len(out)-1].columns = append(out[len(out)-1].columns, r.ColumnName)
	}
	return out, err
}

// workspaceIDs lists the workspaces of events, once each.
func workspaceIDs(events []audit.Event) []string {
	var out []string
	for _, e := range events {
		if !slices.Contains(out, e.WorkspaceID) {
			out = append(out, e.WorkspaceID)
		}
	}
	return out
}
