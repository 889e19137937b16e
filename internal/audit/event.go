// Package audit is the domain of the audit log: what an event is, how the log
// is filtered and paged, how it is exported, and how long it is kept.
//
// Events are written by the services that make the changes they describe, in
// the same transaction (see the workspace package); this package owns the
// read side and the vocabulary both sides share.
package audit

import (
	"context"
	"time"

	"github.com/auditlogd/auditlogd/internal/digest"
	"github.com/auditlogd/auditlogd/internal/insight"
	"github.com/auditlogd/auditlogd/internal/reqinfo"
	"github.com/auditlogd/auditlogd/internal/role"
)

// Action is what happened. The values are the GraphQL enum's names.
type Action string

// The audited actions (docs/API.md §5).
const (
	PublicInviteLinkCreated  Action = "PUBLIC_INVITE_LINK_CREATED"
	PublicInviteLinkDeleted  Action = "PUBLIC_INVITE_LINK_DELETED"
	PublicInviteLinkAccepted Action = "PUBLIC_INVITE_LINK_ACCEPTED"
	EmailInviteCreated       Action = "EMAIL_INVITE_CREATED"
	EmailInviteDeleted       Action = "EMAIL_INVITE_DELETED"
	EmailInviteAccepted      Action = "EMAIL_INVITE_ACCEPTED"
	MemberAdded              Action = "MEMBER_ADDED"
	MemberRemoved            Action = "MEMBER_REMOVED"
	MemberRoleUpdated        Action = "MEMBER_ROLE_UPDATED"
	AuditLogExported         Action = "AUDIT_LOG_EXPORTED"
	APIKeyCreated            Action = "API_KEY_CREATED"
	APIKeyRevoked            Action = "API_KEY_REVOKED"
	LogStreamCreated         Action = "LOG_STREAM_CREATED"
	LogStreamDeleted         Action = "LOG_STREAM_DELETED"
	TrustedDomainsUpdated    Action = "TRUSTED_DOMAINS_UPDATED"
)

// Actions lists every action in the schema's order.
func Actions() []Action {
	return []Action{
		PublicInviteLinkCreated, PublicInviteLinkDeleted, PublicInviteLinkAccepted,
		EmailInviteCreated, EmailInviteDeleted, EmailInviteAccepted,
		MemberAdded, MemberRemoved, MemberRoleUpdated, AuditLogExported,
		APIKeyCreated, APIKeyRevoked, LogStreamCreated, LogStreamDeleted, TrustedDomainsUpdated,
	}
}

// Valid reports whether a is one of the known actions.
func (a Action) Valid() bool {
	for _, k := range Actions() {
		if a == k {
			return true
		}
	}
	return false
}

// ActorType says who acted: a signed-in user, a service token, or the system.
type ActorType string

// The actor types.
const (
	ActorUser    ActorType = "USER"
	ActorService ActorType = "SERVICE"
	ActorSystem  ActorType = "SYSTEM"
)

// TargetType says what an event is about.
type TargetType string

// The target types.
const (
	TargetUser       TargetType = "USER"
	TargetInviteLink TargetType = "INVITE_LINK"
	TargetWorkspace  TargetType = "WORKSPACE"
	TargetExport     TargetType = "EXPORT"
	TargetAPIKey     TargetType = "API_KEY"
	TargetLogStream  TargetType = "LOG_STREAM"
)

// Actor is who performed an action, as they were at that moment.
type Actor struct {
	ID    string
	Email *string // snapshot; nil for actors without an email
	Type  ActorType
}

// Target is what an action was about, as it was at that moment.
type Target struct {
	Type  TargetType
	ID    string
	Label *string // human label snapshot, e.g. the invited or affected email
}

// Event is one immutable audit log entry.
type Event struct {
	ID           string
	WorkspaceID  string
	Action       Action
	OccurredAt   time.Time
	Actor        Actor
	Target       *Target
	PreviousRole *role.Role
	Role         *role.Role
	IPAddress    *string
	UserAgent    *string
	RequestID    *string
	// Sequence, PrevHash and Hash place the event in its workspace's hash
	// chain (docs/API.md §9; package integrity). The store assigns them when it
	// appends the event, under the workspace's lock; Sequence is 0 until then.
	Sequence int64
	PrevHash digest.SHA256
	Hash     digest.SHA256
	// FlagSet holds the reasons the event deserves a look (docs/API.md
	// §14), decided by the store when it appends the event, in its
	// transaction, and never changed; advisory, so not hashed.
	FlagSet insight.Set
}

// Flags lists the event's flags in the enum's order ([] for none).
func (e Event) Flags() []insight.Flag { return e.FlagSet.Flags() }

// Position is the place of an event in the log's total order.
func (e Event) Position() Position { return Position{OccurredAt: e.OccurredAt, ID: e.ID} }

// Stamp copies the request info in ctx onto e; empty values stay nil.
func Stamp(ctx context.Context, e *Event) {
	ri := reqinfo.From(ctx)
	e.RequestID = optional(ri.RequestID)
	e.IPAddress = optional(ri.IPAddress)
	e.UserAgent = optional(ri.UserAgent)
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// FlagContext is what e itself says towards its flags (docs/API.md §14):
// its action, the person it invites, adds or admits, the roles, and its
// address. The writer adds what it reads about the workspace and the actor
// (trusted or admins' domains, recent events, networks seen) before
// insight.Decide.
func (e *Event) FlagContext() insight.Context {
	c := insight.Context{Action: string(e.Action)}
	var label, actorEmail string
	if e.Target != nil && e.Target.Label != nil {
		label = *e.Target.Label
	}
	if e.Actor.Email != nil {
		actorEmail = *e.Actor.Email
	}
	c.PersonEmail = insight.PersonEmail(c.Action, label, actorEmail)
	if e.Role != nil {
		c.Role = *e.Role
	}
	if e.PreviousRole != nil {
		c.PreviousRole = *e.PreviousRole
	}
	if e.IPAddress != nil {
		c.Address = *e.IPAddress
	}
	return c
}
