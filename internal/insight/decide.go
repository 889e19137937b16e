package insight

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/auditlogd/auditlogd/internal/role"
)

// The action names flags depend on (docs/API.md §5). They are plain strings
// rather than audit.Action so that the audit package can depend on this
// one (its events carry a Set) without a cycle; the names are fixed by the
// contract, so they cannot drift.
const (
	actionPublicInviteLinkCreated  = "PUBLIC_INVITE_LINK_CREATED"
	actionPublicInviteLinkDeleted  = "PUBLIC_INVITE_LINK_DELETED"
	actionPublicInviteLinkAccepted = "PUBLIC_INVITE_LINK_ACCEPTED"
	actionEmailInviteCreated       = "EMAIL_INVITE_CREATED"
	actionEmailInviteDeleted       = "EMAIL_INVITE_DELETED"
	actionEmailInviteAccepted      = "EMAIL_INVITE_ACCEPTED"
	actionMemberAdded              = "MEMBER_ADDED"
	actionMemberRemoved            = "MEMBER_REMOVED"
	actionMemberRoleUpdated        = "MEMBER_ROLE_UPDATED"
)

// The BURST rule (docs/API.md §14): the actor's BurstThreshold-th or later
// user-management event in the workspace within BurstWindow.
const (
	BurstThreshold = 10
	BurstWindow    = 10 * time.Minute
)

// UserManagementActions are the actions that count towards BURST, and the
// only ones that can be flagged BURST: the nine of docs/API.md §5 that invite,
// admit, add, remove or re-role people, or create and delete the invites
// that do. Reading the log (AUDIT_LOG_EXPORTED) is not managing users, nor
// is configuring the workspace's integrations and settings (API keys, log
// streams, trusted domains): those have their own events and are not what
// "ten changes to the team in ten minutes" is about.
func UserManagementActions() []string {
	return []string{
		actionPublicInviteLinkCreated, actionPublicInviteLinkDeleted, actionPublicInviteLinkAccepted,
		actionEmailInviteCreated, actionEmailInviteDeleted, actionEmailInviteAccepted,
		actionMemberAdded, actionMemberRemoved, actionMemberRoleUpdated,
	}
}

// IsUserManagement reports whether action counts towards BURST.
func IsUserManagement(action string) bool {
	return slices.Contains(UserManagementActions(), action)
}

// BurstWindowStart is the earliest occurredAt that counts towards the BURST
// of an event at t: the window is [t − 10 min, t], both ends included, so
// an event exactly ten minutes earlier still counts.
func BurstWindowStart(t time.Time) time.Time { return t.Add(-BurstWindow) }

// personActions are the actions that invite, add or admit a person, the
// only ones EXTERNAL_DOMAIN looks at.
var personActions = []string{
	actionEmailInviteCreated, actionEmailInviteAccepted, actionPublicInviteLinkAccepted, actionMemberAdded,
}

// PersonEmail is the email of the person an event invites, adds or admits,
// from the fields an event records: the target's label for an email invite
// or an added member, the actor's email for an acceptance (the actor is the
// person joining; a public link's target has no email). "" for other
// actions or when the field is not an email. The write path fills
// Context.PersonEmail with it and the read path explains the flag with it,
// so both name the same person.
func PersonEmail(action, targetLabel, actorEmail string) string {
	var e string
	switch action {
	case actionEmailInviteCreated, actionMemberAdded:
		e = targetLabel
	case actionEmailInviteAccepted, actionPublicInviteLinkAccepted:
		e = actorEmail
	}
	if !strings.Contains(e, "@") {
		return ""
	}
	return e
}

// Context is what the write transaction knows when it decides an event's
// flags: the event itself, and what it reads cheaply under the workspace
// lock. Every field's zero value decides "no flag", so a forgotten field can
// only hide a flag, never invent one.
type Context struct {
	// Action is the event's action, as docs/API.md §5 names it.
	Action string
	// PersonEmail is the email of the person the event invites, adds or
	// admits (PersonEmail), "" when there is none.
	PersonEmail string
	// Role is the role the event grants or sets; PreviousRole the role
	// before a change ("" when none).
	Role, PreviousRole role.Role

	// TrustedDomains are the workspace's trusted domains, as stored
	// (canonical, from NormalizeTrustedDomains).
	TrustedDomains []string
	// AdminDomains are the email domains of the workspace's admins before
	// this event's change, used while TrustedDomains is empty. Any form;
	// Decide canonicalises them (EmailDomain of each admin's email does).
	// Before the change: an admin added from gmail.com must not vouch for
	// gmail.com in their own MEMBER_ADDED.
	AdminDomains []string

	// RecentActorEvents counts the actor's user-management events in this
	// workspace with occurredAt in [BurstWindowStart(t), t], written before
	// this one (this transaction's earlier events included).
	RecentActorEvents int

	// Address is the client address the event records ("" when none).
	Address string
	// ActorSeenBefore is whether the actor has any earlier event in this
	// workspace (of any age the store knows of): NEW_LOCATION is never
	// raised on an actor's first event.
	ActorSeenBefore bool
	// SeenNetworks are the networks (Network) of the actor's earlier events
	// in this workspace within the retention window. It may hold just the
	// event's own network when the store looked that one up.
	SeenNetworks []netip.Prefix
}

// Decide returns the flags of the event c describes (docs/API.md §14). It is
// pure: the same Context always gives the same Set, which is what lets the
// flags be decided once, in the event's transaction, and never change.
func Decide(c Context) Set {
	var s Set
	if externalDomain(c) {
		s = s.With(ExternalDomain)
	}
	if adminGranted(c) {
		s = s.With(AdminGranted)
	}
	if burst(c) {
		s = s.With(Burst)
	}
	if newLocation(c) {
		s = s.With(NewLocation)
	}
	return s
}

// externalDomain: the event invites, adds or admits a person whose email
// domain is not trusted. While no trusted domains are set, the admins'
// domains are trusted; with neither (a workspace's very first event, its
// creator's MEMBER_ADDED) there is nothing to be outside of, so no flag. An
// email whose domain cannot be read is not trusted.
func externalDomain(c Context) bool {
	if !slices.Contains(personActions, c.Action) || c.PersonEmail == "" {
		return false
	}
	trusted := c.TrustedDomains
	if len(trusted) == 0 {
		trusted = canonicalAll(c.AdminDomains)
	}
	if len(trusted) == 0 {
		return false
	}
	d, err := EmailDomain(c.PersonEmail)
	return err != nil || !Trusted(d, trusted)
}

// canonicalAll is the canonical form of each domain that has one.
func canonicalAll(domains []string) []string {
	out := make([]string, 0, len(domains))
	for _, d := range domains {
		if c, err := canonicalDomain(d); err == nil {
			out = append(out, c)
		}
	}
	return out
}

// adminGranted: the event gives someone the ADMIN role — adds, invites,
// admits or changes them to ADMIN. The creator's own MEMBER_ADDED when a
// workspace is created is such an event and is flagged like any other.
func adminGranted(c Context) bool {
	if c.Role != role.Admin {
		return false
	}
	switch c.Action {
	case actionMemberAdded, actionEmailInviteCreated, actionPublicInviteLinkCreated,
		actionEmailInviteAccepted, actionPublicInviteLinkAccepted:
		return true
	case actionMemberRoleUpdated:
		return c.PreviousRole != role.Admin
	}
	return false
}

// burst: this user-management event is the actor's BurstThreshold-th or
// later in the window, counting itself.
func burst(c Context) bool {
	return IsUserManagement(c.Action) && c.RecentActorEvents+1 >= BurstThreshold
}

// newLocation: the actor has acted in this workspace before, and not from
// this event's network within the retention window.
func newLocation(c Context) bool {
	if !c.ActorSeenBefore {
		return false
	}
	n, ok := ParseNetwork(c.Address)
	if !ok {
		return false
	}
	return !slices.ContainsFunc(c.SeenNetworks, func(p netip.Prefix) bool { return p.Masked() == n })
}
