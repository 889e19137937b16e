package store

import (
	"context"

	"gorm.io/gorm"

	"github.com/auditlogd/auditlogd/internal/audit"
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
// per call.
func (b *Bulk) InsertEvents(ctx context.Context, events []audit.Event) error {
	return b.c.inTx(ctx, func(c conn) error { return appendEvents(ctx, c, events) })
}

func insertAll[R any](ctx context.Context, c conn, rows []R) error {
	if len(rows) == 0 {
		return nil
	}
	return c.inTx(ctx, func(c conn) error {
		return c.run(ctx, true, func(db *gorm.DB) error { return db.CreateInBatches(rows, bulkBatch).Error })
	})
}
