// Package workspace is the domain of workspaces, their members and their
// invites. Every change it makes is written to the audit log in the same
// transaction as the change itself.
package workspace

import (
	"time"

	"github.com/auditlogd/auditlogd/internal/role"
)

// Plan is a workspace's billing plan.
type Plan string

// The plans.
const (
	PlanFree     Plan = "FREE"
	PlanTeams    Plan = "TEAMS"
	PlanBusiness Plan = "BUSINESS"
)

// Valid reports whether p is a known plan.
func (p Plan) Valid() bool { return p == PlanFree || p == PlanTeams || p == PlanBusiness }

// InviteKind says how an invite reaches people.
type InviteKind string

// The invite kinds.
const (
	// InvitePublic is a link anyone holding it may use until it is deleted or expires.
	InvitePublic InviteKind = "PUBLIC"
	// InviteEmail is for one address and is used up once accepted.
	InviteEmail InviteKind = "EMAIL"
)

// User is a person known to the service, created or refreshed from their
// token on each visit.
type User struct {
	ID    string
	Email string
	// EmailVerified is what the user's latest token said (see
	// auth.Principal.EmailVerified). Only verified emails are ever matched.
	EmailVerified bool
	Name          *string
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Workspace is a team: members, invites and an audit log.
type Workspace struct {
	ID   string
	Name string
	Plan Plan
	// CreatedBy is the user who created it (it bounds how many workspaces
	// one user creates per day).
	CreatedBy string
	CreatedAt time.Time
	UpdatedAt time.Time
	// TrustedDomains are its trusted domains (docs/API.md §14), canonical;
	// nil for none. Read with the row, so listing them costs no query.
	TrustedDomains []string
}

// MemberWorkspace is one of a user's workspaces with the user's role in it.
type MemberWorkspace struct {
	Workspace
	Role role.Role
}

// Locked is a workspace whose row the transaction holds, the role in it of
// the user who locked it (nil for a non-member), and the time the store's
// clock read right after the lock: the time of everything the transaction
// writes, so that a workspace's events are stamped in the order they commit.
type Locked struct {
	Workspace
	Role *role.Role
	Now  time.Time
	// HeadSequence is the sequence of the workspace's newest event when the
	// lock was taken (the next event appended is HeadSequence+1), and
	// PrunedThrough the highest sequence retention has deleted.
	HeadSequence  int64
	PrunedThrough int64
}

// Access returns what the locked row says the user may do.
func (l Locked) Access() Access { return Access{Exists: true, Plan: l.Plan, Role: l.Role} }

// Membership is a user's place in a workspace.
type Membership struct {
	WorkspaceID string
	UserID      string
	Role        role.Role
	JoinedAt    time.Time
}

// Invite is a public invite link or an email invite. Its token is never
// stored, only its hash.
type Invite struct {
	ID            string
	WorkspaceID   string
	Kind          InviteKind
	Email         *string
	Role          role.Role
	TokenHash     []byte
	CreatedBy     string
	CreatedAt     time.Time
	ExpiresAt     *time.Time
	DeletedAt     *time.Time
	UsedAt        *time.Time
	AcceptedCount int
}

// Usable reports whether the invite can still be accepted at now.
func (i Invite) Usable(now time.Time) bool {
	if i.DeletedAt != nil {
		return false
	}
	if i.ExpiresAt != nil && !now.Before(*i.ExpiresAt) {
		return false
	}
	return i.Kind != InviteEmail || i.UsedAt == nil
}

// Access is what a user may do in a workspace, read from the database at
// the time of the request (never from token claims).
type Access struct {
	// Exists is false when the workspace does not exist.
	Exists bool
	Plan   Plan
	// Role is nil when the user is not a member.
	Role *role.Role
	// Key is true when the principal is an API key of this workspace (it has
	// no role: it may read the log, and nothing else).
	Key bool
}

// IsAdmin reports whether the access is an admin's.
func (a Access) IsAdmin() bool { return a.Exists && a.Role != nil && *a.Role == role.Admin }

// IsMember reports whether the access is any member's.
func (a Access) IsMember() bool { return a.Exists && a.Role != nil }
