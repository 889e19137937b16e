package workspace

import (
	"context"
	"time"

	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/role"
)

// Store is the storage the workspace service needs. Methods return
// apperr.ErrNotFound for missing rows and apperr.ErrConflict for a violated
// unique key. internal/store implements it.
type Store interface {
	// InTx runs fn in one transaction, retrying it a bounded number of times
	// on a deadlock, a certification conflict or a busy database. fn must
	// not keep state across attempts.
	InTx(ctx context.Context, fn func(tx Store) error) error

	GetUser(ctx context.Context, id string) (User, error)
	GetUsers(ctx context.Context, ids []string) ([]User, error)
	// FindVerifiedUsersByEmail returns at most limit users whose email is
	// verified and has the canonical form key (see package email).
	FindVerifiedUsersByEmail(ctx context.Context, key string, limit int) ([]User, error)
	// SaveUser inserts u or updates its email, verification, name and
	// updatedAt.
	SaveUser(ctx context.Context, u User) error
	// LockUser holds the user's row until the transaction ends, so that one
	// user's workspace creations, and the memberships counted against
	// MaxWorkspacesPerUser, are counted one at a time. It writes the row:
	// on a multi-primary cluster only a row both rivals write makes them
	// conflict.
	LockUser(ctx context.Context, id string) error
	// CountMemberships counts the workspaces userID belongs to.
	CountMemberships(ctx context.Context, userID string) (int, error)
	// CountWorkspacesCreatedSince counts the workspaces userID created at
	// or after since.
	CountWorkspacesCreatedSince(ctx context.Context, userID string, since time.Time) (int, error)

	// CreateWorkspace inserts a workspace. The transaction then holds its
	// row as if it had locked it, and the returned time is read after the
	// insert: the time of everything the transaction writes in it.
	CreateWorkspace(ctx context.Context, w Workspace) (time.Time, error)
	GetWorkspace(ctx context.Context, id string) (Workspace, error)
	GetWorkspaces(ctx context.Context, ids []string) ([]Workspace, error)
	// LockWorkspace reads the workspace and userID's role in it and holds a
	// write lock on the workspace's row until the transaction ends; every
	// change in a workspace takes it first, so changes serialize per
	// workspace. It then reads the clock (Locked.Now). Events can only be
	// appended for workspaces the transaction locked (or created), stamped
	// no earlier than that time.
	LockWorkspace(ctx context.Context, id, userID string) (Locked, error)
	SetPlan(ctx context.Context, id string, plan Plan, at time.Time) error
	// WorkspacesOf returns at most limit of the workspaces userID belongs
	// to, by name, with the user's role in each.
	WorkspacesOf(ctx context.Context, userID string, limit int) ([]MemberWorkspace, error)
	// GetAccess reads the workspace's plan and the user's role in one query.
	GetAccess(ctx context.Context, workspaceID, userID string) (Access, error)

	GetMembership(ctx context.Context, workspaceID, userID string) (Membership, error)
	// GetMember returns a membership with its user, in one query.
	GetMember(ctx context.Context, workspaceID, userID string) (Membership, User, error)
	// ListMembershipsOf returns the members of the workspaces, each
	// workspace's in the order they joined.
	ListMembershipsOf(ctx context.Context, workspaceIDs []string) ([]Membership, error)
	CreateMembership(ctx context.Context, m Membership) error
	UpdateRole(ctx context.Context, workspaceID, userID string, r role.Role) error
	DeleteMembership(ctx context.Context, workspaceID, userID string) error
	CountAdmins(ctx context.Context, workspaceID string) (int, error)

	CreateInvite(ctx context.Context, inv Invite) error
	// GetInvite returns a live (not deleted) invite of the workspace.
	GetInvite(ctx context.Context, workspaceID, id string) (Invite, error)
	// FindInviteByTokenHash returns the invite with that token hash, deleted
	// or not. Callers lock the invite's workspace before relying on it.
	FindInviteByTokenHash(ctx context.Context, hash []byte) (Invite, error)
	// ListInvitesOf returns the invites of the workspaces that are not
	// deleted, each workspace's newest first.
	ListInvitesOf(ctx context.Context, workspaceIDs []string) ([]Invite, error)
	// EmailInviteBlockers reports, in one query, whether a usable email
	// invite for the canonical address exists in the workspace, and whether
	// a user with that address is already a member.
	EmailInviteBlockers(ctx context.Context, workspaceID, email string, now time.Time) (pending, member bool, err error)
	DeleteInvite(ctx context.Context, id string, at time.Time) error
	// RecordAcceptance counts one acceptance, and for an email invite marks it
	// used; it reports false if an email invite was used meanwhile.
	RecordAcceptance(ctx context.Context, inv Invite, at time.Time) (bool, error)

	CreateAPIKey(ctx context.Context, k APIKey) error
	// GetAPIKey returns a key of the workspace, revoked or not.
	GetAPIKey(ctx context.Context, workspaceID, id string) (APIKey, error)
	// FindAPIKeyByHash returns the key with that token hash.
	FindAPIKeyByHash(ctx context.Context, hash []byte) (APIKey, error)
	// ListAPIKeys returns the workspace's keys, newest first.
	ListAPIKeys(ctx context.Context, workspaceID string) ([]APIKey, error)
	RevokeAPIKey(ctx context.Context, id string, at time.Time) error
	// TouchAPIKey sets the key's lastUsedAt to at unless it is already
	// later than notBefore (so that replicas write it about once a minute).
	TouchAPIKey(ctx context.Context, id string, at, notBefore time.Time) error

	CreateLogStream(ctx context.Context, ls LogStream) error
	// GetLogStream returns a stream of the workspace, deleted or not.
	GetLogStream(ctx context.Context, workspaceID, id string) (LogStream, error)
	// ListLogStreams returns the workspace's streams that are not deleted,
	// newest first.
	ListLogStreams(ctx context.Context, workspaceID string) ([]LogStream, error)
	DeleteLogStream(ctx context.Context, id string, at time.Time) error

	// AppendEvents writes audit events in the caller's transaction. It
	// refuses events of a workspace the transaction did not lock, and
	// events stamped before the lock's clock reading.
	AppendEvents(ctx context.Context, events ...audit.Event) error

	// SetTrustedDomains replaces a locked workspace's trusted domains
	// (canonical); the workspace's row carries them (Workspace.TrustedDomains).
	SetTrustedDomains(ctx context.Context, id string, domains []string, at time.Time) error
}
