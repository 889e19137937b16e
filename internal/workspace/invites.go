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

func (s *Service) validateInvite(in *CreateInviteInput) error {
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
	case InviteEmail:
		if in.Email == nil {
			return apperr.Invalid("input.email", "an EMAIL invite needs the invitee's email")
		}
		e, err := normalizeEmail("input.email", *in.Email)
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
	return nil
}

// CreateInvite creates a public invite link or an email invite.
func (s *Service) CreateInvite(ctx context.Context, p *auth.Principal, in CreateInviteInput) (CreatedInvite, error) {
	actor, err := user(p)
	if err != nil {
		return CreatedInvite{}, err
	}
	var out CreatedInvite
	err = s.store.InTx(ctx, func(tx Store) error {
		// Who may comes before what is asked, as the @admin directive has it.
		if _, err := lockAsAdmin(ctx, tx, in.WorkspaceID, actor.Subject); err != nil {
			return err
		}
		if err := s.validateInvite(&in); err != nil {
			return err
		}
		now := s.clock()
		if in.Kind == InviteEmail {
			if err := checkInvitable(ctx, tx, in.WorkspaceID, *in.Email, now); err != nil {
				return err
			}
		}
		token, hash := NewInviteToken()
		inv := Invite{ID: ids.New(now), WorkspaceID: in.WorkspaceID, Kind: in.Kind, Email: in.Email,
			Role: in.Role, TokenHash: hash, CreatedBy: actor.Subject, CreatedAt: now, ExpiresAt: truncMs(in.ExpiresAt)}
		if err := tx.CreateInvite(ctx, inv); err != nil {
			return err
		}
		action := map[InviteKind]audit.Action{InvitePublic: audit.PublicInviteLinkCreated, InviteEmail: audit.EmailInviteCreated}[in.Kind]
		out = CreatedInvite{Invite: inv, Token: token, URL: s.publicURL + "/invite/" + token}
		return tx.AppendEvents(ctx, s.memberEvent(ctx, actor, action, in.WorkspaceID, inviteRef(inv), nil, &inv.Role, now))
	})
	return out, err
}

// checkInvitable refuses an email invite for someone who is already a member
// or already has a pending invite: both would only confuse the invitee.
func checkInvitable(ctx context.Context, tx Store, workspaceID, email string, now time.Time) error {
	pending, member, err := tx.EmailInviteBlockers(ctx, workspaceID, email, now)
	switch {
	case err != nil:
		return err
	case member:
		return apperr.New(apperr.Conflict, "%s is already a member of this workspace", email)
	case pending:
		return apperr.New(apperr.Conflict, "%s already has a pending invite to this workspace", email)
	}
	return nil
}

// DeleteInvite deletes a live invite of the workspace. Invites of other
// workspaces, and deleted ones, are NOT_FOUND.
func (s *Service) DeleteInvite(ctx context.Context, p *auth.Principal, workspaceID, id string) error {
	actor, err := user(p)
	if err != nil {
		return err
	}
	return s.store.InTx(ctx, func(tx Store) error {
		if _, err := lockAsAdmin(ctx, tx, workspaceID, actor.Subject); err != nil {
			return err
		}
		if !validID(id) {
			return apperr.New(apperr.NotFound, "invite link not found")
		}
		inv, err := tx.GetInvite(ctx, workspaceID, id)
		if err != nil {
			return notFound(err, "invite link not found")
		}
		now := s.clock()
		if err := tx.DeleteInvite(ctx, id, now); err != nil {
			return err
		}
		action := map[InviteKind]audit.Action{InvitePublic: audit.PublicInviteLinkDeleted, InviteEmail: audit.EmailInviteDeleted}[inv.Kind]
		return tx.AppendEvents(ctx, s.memberEvent(ctx, actor, action, workspaceID, inviteRef(inv), nil, nil, now))
	})
}

// InviteLinks lists the workspace's invites that are not deleted. The
// @admin directive guards the field; the check is repeated here.
func (s *Service) InviteLinks(ctx context.Context, p *auth.Principal, workspaceID string) ([]Invite, error) {
	acc, err := s.Access(ctx, p, workspaceID)
	if err != nil {
		return nil, err
	}
	if !acc.IsAdmin() {
		return nil, apperr.New(apperr.Forbidden, "only an admin of this workspace may do this")
	}
	return s.store.ListInvites(ctx, workspaceID)
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
	keys := s.throttleKeys(ctx, actor)
	if err := s.takeAttempt(keys); err != nil {
		return Membership{}, err
	}
	m, err := s.acceptInvite(ctx, actor, token)
	if !errors.Is(err, apperr.ErrNotFound) {
		s.refundAttempt(keys) // only failures count
	}
	return m, err
}

func (s *Service) acceptInvite(ctx context.Context, actor auth.Principal, token string) (Membership, error) {
	var m Membership
	gone := apperr.New(apperr.NotFound, "this invite does not exist, was deleted, has expired or was already used")
	token = strings.TrimSpace(token)
	if len(token) > maxTokenInput || !strings.HasPrefix(token, tokenPrefix) {
		return Membership{}, gone
	}
	hash := HashInviteToken(token)
	err := s.store.InTx(ctx, func(tx Store) error {
		inv, err := tx.FindInviteByTokenHash(ctx, hash)
		if err != nil {
			return notFound(err, gone.Message)
		}
		// Lock the workspace first, like every membership change, then read the
		// invite again: it may have been used or deleted while we waited.
		if _, err := tx.LockWorkspace(ctx, inv.WorkspaceID); err != nil {
			return err
		}
		if inv, err = tx.FindInviteByTokenHash(ctx, hash); err != nil {
			return notFound(err, gone.Message)
		}
		now := s.clock()
		if !inv.Usable(now) {
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
		return s.admit(ctx, tx, actor, inv, now, &m)
	})
	return m, err
}

// checkInvitee enforces that an email invite is accepted only by the invited,
// verified address.
func checkInvitee(actor auth.Principal, inv Invite) error {
	if inv.Kind != InviteEmail {
		return nil
	}
	if !actor.EmailIsVerified() {
		return apperr.New(apperr.Forbidden, "verify your email address before accepting an email invite")
	}
	if !strings.EqualFold(*inv.Email, actor.Email) {
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
	action := map[InviteKind]audit.Action{InvitePublic: audit.PublicInviteLinkAccepted, InviteEmail: audit.EmailInviteAccepted}[inv.Kind]
	accepted := s.memberEvent(ctx, actor, action, inv.WorkspaceID, inviteRef(inv), nil, &inv.Role, now)
	added := s.memberEvent(ctx, actor, audit.MemberAdded, inv.WorkspaceID, userRef(actor.Subject, actor.Email), nil, &inv.Role, now)
	// The acceptance comes first, then the membership it made.
	ids := ids.NewN(now, 2)
	accepted.ID, added.ID = ids[0], ids[1]
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
