package workspace

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"github.com/auditlogd/auditlogd/internal/apperr"
	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/auth"
	"github.com/auditlogd/auditlogd/internal/email"
	"github.com/auditlogd/auditlogd/internal/ids"
	"github.com/auditlogd/auditlogd/internal/role"
)

// Invite tokens are "inv_" and 32 random bytes in base64url: 256 bits from
// crypto/rand, far beyond guessing. Only their SHA-256 is stored.
const (
	tokenPrefix   = "inv_"
	tokenBytes    = 32
	maxTokenInput = 256
)

// NewInviteToken returns a fresh invite token and the hash that is stored.
func NewInviteToken() (token string, hash []byte) {
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error()) // never fails on supported platforms
	}
	token = tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return token, HashInviteToken(token)
}

// HashInviteToken is how a token is looked up: by its SHA-256. A slow hash is
// not needed, the token has full entropy.
func HashInviteToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// CreateInviteInput describes a new invite.
type CreateInviteInput struct {
	WorkspaceID string
	Kind        InviteKind
	Email       *string
	Role        role.Role
	ExpiresAt   *time.Time
}

// CreatedInvite is a new invite and its token, which is shown only once.
type CreatedInvite struct {
	Invite Invite
	Token  string
	URL    string
}

// inviteVerb is what happened to an invite, for its audit action.
type inviteVerb int

const (
	inviteCreated inviteVerb = iota
	inviteDeleted
	inviteAccepted
)

// action is the one place that names the audit action of an invite event.
func (k InviteKind) action(v inviteVerb) audit.Action {
	public := k == InvitePublic
	switch v {
	case inviteCreated:
		return map[bool]audit.Action{true: audit.PublicInviteLinkCreated, false: audit.EmailInviteCreated}[public]
	case inviteDeleted:
		return map[bool]audit.Action{true: audit.PublicInviteLinkDeleted, false: audit.EmailInviteDeleted}[public]
	}
	return map[bool]audit.Action{true: audit.PublicInviteLinkAccepted, false: audit.EmailInviteAccepted}[public]
}

// validateInvite checks the input and fills in the defaults: the role
// (MEMBER), the canonical email of an EMAIL invite, and the expiry of a
// PUBLIC link. A PUBLIC link never grants ADMIN: anyone holding it would
// become an admin, and it keeps working after the admin who shared it is
// removed.
func (s *Service) validateInvite(in *CreateInviteInput, now time.Time) error {
	if in.Role == "" {
		in.Role = role.Member
	}
	if !in.Role.Valid() {
		return apperr.Invalid("input.role", "unknown role %q", string(in.Role))
	}
	switch in.Kind {
	case InvitePublic:
		if in.Email != nil {
			return apperr.Invalid("input.email", "a PUBLIC invite link is not bound to an email; leave email out")
		}
		if in.Role == role.Admin {
			return apperr.Invalid("input.role", "a PUBLIC invite link cannot grant ADMIN; send an EMAIL invite to make someone an admin")
		}
	case InviteEmail:
		if in.Email == nil {
			return apperr.Invalid("input.email", "an EMAIL invite needs the invitee's email")
		}
		e, err := canonicalEmail("input.email", *in.Email)
		if err != nil {
			return err
		}
		in.Email = &e
	default:
		return apperr.Invalid("input.kind", "must be PUBLIC or EMAIL")
	}
	if in.ExpiresAt != nil && !in.ExpiresAt.After(s.now()) {
		return apperr.Invalid("input.expiresAt", "must be in the future")
	}
	if in.ExpiresAt == nil && in.Kind == InvitePublic {
		exp := s.clock().Add(s.publicInviteTTL)
		in.ExpiresAt = &exp
	}
	return nil
}

// CreateInvite creates a public invite link or an email invite.
func (s *Service) CreateInvite(ctx context.Context, p *auth.Principal, in CreateInviteInput) (CreatedInvite, error) {
	var out CreatedInvite
	err := s.asAdmin(ctx, p, in.WorkspaceID, func(tx Store, lk Locked, actor auth.Principal) error {
		if err := s.validateInvite(&in, lk.Now); err != nil {
			return err
		}
		if in.Kind == InviteEmail {
			if err := checkInvitable(ctx, tx, in.WorkspaceID, *in.Email, lk.Now); err != nil {
				return err
			}
		}
		token, hash := NewInviteToken()
		inv := Invite{ID: ids.New(lk.Now), WorkspaceID: in.WorkspaceID, Kind: in.Kind, Email: in.Email,
			Role: in.Role, TokenHash: hash, CreatedBy: actor.Subject, CreatedAt: lk.Now, ExpiresAt: truncMs(in.ExpiresAt)}
		if err := tx.CreateInvite(ctx, inv); err != nil {
			return err
		}
		out = CreatedInvite{Invite: inv, Token: token, URL: s.publicURL + "/invite/" + token}
		return tx.AppendEvents(ctx, s.memberEvent(ctx, actor, in.Kind.action(inviteCreated), in.WorkspaceID, inviteRef(inv), nil, &inv.Role, lk.Now))
	})
	return out, err
}

// checkInvitable refuses an email invite for someone who is already a member
// or already has a pending invite: both would only confuse the invitee.
func checkInvitable(ctx context.Context, tx Store, workspaceID, address string, now time.Time) error {
	pending, member, err := tx.EmailInviteBlockers(ctx, workspaceID, address, now)
	switch {
	case err != nil:
		return err
	case member:
		return apperr.New(apperr.Conflict, "%s is already a member of this workspace", address)
	case pending:
		return apperr.New(apperr.Conflict, "%s already has a pending invite to this workspace", address)
	}
	return nil
}

// DeleteInvite deletes a live invite of the workspace. Invites of other
// workspaces, and deleted ones, are NOT_FOUND.
func (s *Service) DeleteInvite(ctx context.Context, p *auth.Principal, workspaceID, id string) error {
	return s.asAdmin(ctx, p, workspaceID, func(tx Store, lk Locked, actor auth.Principal) error {
		if !ids.Valid(id) {
			return apperr.New(apperr.NotFound, "invite link not found")
		}
		inv, err := tx.GetInvite(ctx, workspaceID, id)
		if err != nil {
			return notFound(err, "invite link not found")
		}
		if err := tx.DeleteInvite(ctx, id, lk.Now); err != nil {
			return err
		}
		return tx.AppendEvents(ctx, s.memberEvent(ctx, actor, inv.Kind.action(inviteDeleted), workspaceID, inviteRef(inv), nil, nil, lk.Now))
	})
}

// InviteLinks lists the workspace's invites that are not deleted; only its
// admins may see them.
func (s *Service) InviteLinks(ctx context.Context, p *auth.Principal, workspaceID string) ([]Invite, error) {
	acc, err := s.Access(ctx, p, workspaceID)
	if err != nil {
		return nil, err
	}
	if err := acc.RequireAdmin(); err != nil {
		return nil, err
	}
	return s.invites(ctx, workspaceID)
}

// AcceptInvite makes the viewer a member through an invite token. Unknown,
// deleted, expired and used tokens are all NOT_FOUND, and each such failure
// counts against the user and their client address: past the limit, attempts
// are RATE_LIMITED, so tokens cannot be guessed. An email invite only admits
// the invited address. Accepting while already a member changes nothing and
// writes nothing.
func (s *Service) AcceptInvite(ctx context.Context, p *auth.Principal, token string) (Membership, error) {
	actor, err := user(p)
	if err != nil {
		return Membership{}, err
	}
	keys := s.throttleKeys(ctx, "invite", actor)
	if err := s.takeAttempt(keys, "too many failed invite attempts"); err != nil {
		return Membership{}, err
	}
	m, ws, err := s.acceptInvite(ctx, actor, token)
	if !errors.Is(err, apperr.ErrNotFound) {
		s.refundAttempt(keys) // only failures count
	}
	if ws != "" {
		forget(ctx, ws)
	}
	return m, err
}

func (s *Service) acceptInvite(ctx context.Context, actor auth.Principal, token string) (Membership, string, error) {
	var (
		m  Membership
		ws string
	)
	gone := apperr.New(apperr.NotFound, "this invite does not exist, was deleted, has expired or was already used")
	token = strings.TrimSpace(token)
	if len(token) > maxTokenInput || !strings.HasPrefix(token, tokenPrefix) {
		return Membership{}, "", gone
	}
	hash := HashInviteToken(token)
	err := s.store.InTx(ctx, func(tx Store) error {
		inv, err := tx.FindInviteByTokenHash(ctx, hash)
		if err != nil {
			return notFound(err, gone.Message)
		}
		// Lock the workspace first, like every membership change, then read the
		// invite again: it may have been used or deleted while we waited.
		lk, err := tx.LockWorkspace(ctx, inv.WorkspaceID, actor.Subject)
		if err != nil {
			return notFound(err, gone.Message)
		}
		ws = inv.WorkspaceID
		if inv, err = tx.FindInviteByTokenHash(ctx, hash); err != nil {
			return notFound(err, gone.Message)
		}
		if !inv.Usable(lk.Now) {
			return gone
		}
		if err := checkInvitee(actor, inv); err != nil {
			return err
		}
		if m, err = tx.GetMembership(ctx, inv.WorkspaceID, actor.Subject); err == nil {
			return nil // already a member: nothing changes
		} else if !errors.Is(err, apperr.ErrNotFound) {
			return err
		}
		if err := roomForOneMore(ctx, tx, actor.Subject, "you"); err != nil {
			return err
		}
		return s.admit(ctx, tx, actor, inv, lk.Now, &m)
	})
	return m, ws, err
}

// checkInvitee enforces that an email invite is accepted only by the invited,
// verified address.
func checkInvitee(actor auth.Principal, inv Invite) error {
	if inv.Kind != InviteEmail {
		return nil
	}
	if !actor.EmailVerified {
		return apperr.New(apperr.Forbidden, "verify your email address before accepting an email invite")
	}
	// Invites store the canonical address; compare the token's in that form
	// too (no Unicode case folding: a look-alike address is another address).
	if got, err := email.Canonical(actor.Email); err != nil || got != *inv.Email {
		return apperr.New(apperr.Forbidden, "this invite was sent to a different email address")
	}
	return nil
}

// admit records the acceptance, creates the membership and writes both
// events.
func (s *Service) admit(ctx context.Context, tx Store, actor auth.Principal, inv Invite, now time.Time, m *Membership) error {
	ok, err := tx.RecordAcceptance(ctx, inv, now)
	if err != nil {
		return err
	}
	if !ok {
		return apperr.New(apperr.NotFound, "this invite does not exist, was deleted, has expired or was already used")
	}
	*m = Membership{WorkspaceID: inv.WorkspaceID, UserID: actor.Subject, Role: inv.Role, JoinedAt: now}
	if err := tx.CreateMembership(ctx, *m); err != nil {
		return err
	}
	accepted := s.memberEvent(ctx, actor, inv.Kind.action(inviteAccepted), inv.WorkspaceID, inviteRef(inv), nil, &inv.Role, now)
	added := s.memberEvent(ctx, actor, audit.MemberAdded, inv.WorkspaceID, userRef(actor.Subject, actor.Email), nil, &inv.Role, now)
	// The acceptance comes first, then the membership it made.
	two := ids.NewN(now, 2)
	accepted.ID, added.ID = two[0], two[1]
	return tx.AppendEvents(ctx, accepted, added)
}

func inviteRef(inv Invite) *audit.Target {
	return &audit.Target{Type: audit.TargetInviteLink, ID: inv.ID, Label: inv.Email}
}

func truncMs(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := t.UTC().Truncate(time.Millisecond)
	return &v
}
