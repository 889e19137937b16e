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
	// on a deadlock or busy database. fn must not keep state across attempts.
	InTx(ctx context.Context, fn func(tx Store) error) error

	GetUser(ctx context.Context, id string) (User, error)
	GetUsers(ctx context.Context, ids []string) ([]User, error)
	// FindUserByEmail returns the most recently seen user with email,
	// compared without regard to case.
	FindUserByEmail(ctx context.Context, email string) (User, error)
	// SaveUser inserts u or updates its email, name and updatedAt.
	SaveUser(ctx context.Context, u User) error

	CreateWorkspace(ctx context.Context, w Workspace) error
	GetWorkspace(ctx context.Context, id string) (Workspace, error)
	GetWorkspaces(ctx context.Context, ids []string) ([]Workspace, error)
	// LockWorkspace reads the workspace and holds a write lock on its row
	// until the transaction ends; every membership change takes it first, so
	// they serialize per workspace.
	LockWorkspace(ctx context.Context, id string) (Workspace, error)
	// LockWorkspaceAs is LockWorkspace that also returns userID's role in
	// the workspace (nil for a non-member), in the same statement.
	LockWorkspaceAs(ctx context.Context, id, userID string) (Workspace, *role.Role, error)
	SetPlan(ctx context.Context, id string, plan Plan, at time.Time) error
	// WorkspacesOf returns the workspaces userID belongs to, by name.
	WorkspacesOf(ctx context.Context, userID string) ([]Workspace, error)
	// GetAccess reads the workspace's plan and the user's role in one query.
	GetAccess(ctx context.Context, workspaceID, userID string) (Access, error)

	GetMembership(ctx context.Context, workspaceID, userID string) (Membership, error)
	// GetMember returns a membership with its user, in one query.
	GetMember(ctx context.Context, workspaceID, userID string) (Membership, User, error)
	ListMemberships(ctx context.Context, workspaceID string) ([]Membership, error)
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
	// ListInvites returns the workspace's invites that are not deleted, newest first.
	ListInvites(ctx context.Context, workspaceID string) ([]Invite, error)
	// EmailInviteBlockers reports, in one query, whether a usable email
	// invite for email exists in the workspace, and whether a user with that
	// email is already a member.
	EmailInviteBlockers(ctx context.Context, workspaceID, email string, now time.Time) (pending, member bool, err error)
	DeleteInvite(ctx context.Context, id string, at time.Time) error
	// RecordAcceptance counts one acceptance, and for an email invite marks it
	// used; it reports false if an email invite was used meanwhile.
	RecordAcceptance(ctx context.Context, inv Invite, at time.Time) (bool, error)

	// AppendEvents writes audit events, in the caller's transaction.
	AppendEvents(ctx context.Context, events ...audit.Event) error
}
