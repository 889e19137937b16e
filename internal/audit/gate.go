package audit

import (
	"context"
	"time"

	"github.com/auditlogd/auditlogd/internal/auth"
	"github.com/auditlogd/auditlogd/internal/digest"
	"github.com/auditlogd/auditlogd/internal/role"
)

// AccessRow is what the database says about a principal and a workspace at
// one moment: whether the workspace exists, its plan, and the user's role in
// it (nil for a non-member or a principal that is not a user). The store
// reads it in the same statement as a page of the log, or under the
// workspace lock; the Gate decides from it.
type AccessRow struct {
	Exists bool
	Plan   string
	Role   *role.Role
}

// Gate decides who may read a workspace's audit log. The workspace service
// implements it: that is where every access rule lives, for every kind of
// principal. This package asks it before it returns a page, a count or an
// export, and never decides by itself.
type Gate interface {
	// AuthorizeLogRead returns nil if p may read workspaceID's log now, or
	// the error to answer (UNAUTHENTICATED, FORBIDDEN,
	// BUSINESS_PLAN_REQUIRED). With row, it decides from that row (read by
	// the caller, e.g. together with a page) and remembers it for the rest
	// of the request; without, it uses the request's remembered row or reads
	// one.
	AuthorizeLogRead(ctx context.Context, p *auth.Principal, workspaceID string, row *AccessRow) error
	// KnowsAccess reports whether the request already holds p's access row
	// for workspaceID, so that checking costs no query.
	KnowsAccess(ctx context.Context, p *auth.Principal, workspaceID string) bool
	// AuthorizeDownload returns nil if the recorded requester of an export
	// (a user, or an API key when byKey) may still read workspaceID's log
	// now, when its file is downloaded.
	AuthorizeDownload(ctx context.Context, requestedBy string, byKey bool, workspaceID string) error
}

// Lock is a workspace row locked by a transaction: the access row read with
// the lock, the time the store's clock read after the lock, which stamps the
// events the transaction writes, and the head of the workspace's hash chain
// at that moment.
type Lock struct {
	Access AccessRow
	Now    time.Time
	Head   ChainHead
}

// ChainHead is the head of a workspace's hash chain as the database keeps it
// with the workspace: the sequence and hash of its newest event (0 and zeros
// for an empty log), and the highest sequence retention has deleted (the
// oldest retained event has the next one).
type ChainHead struct {
	Sequence      int64
	Hash          digest.SHA256
	PrunedThrough int64
}
