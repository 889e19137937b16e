package workspace

import (
	"context"
	"errors"

	"github.com/auditlogd/auditlogd/internal/apperr"
	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/auth"
	"github.com/auditlogd/auditlogd/internal/role"
)

// AddMember adds a user the service already knows, found by their verified
// email, to the workspace.
//
// It answers no more than the members list will show once the user is in:
// an address that no verified user has — never signed in, not verified,
// or verified by nobody — is NOT_FOUND ("send an email invite instead"),
// the same answer for all three; several users with one verified address
// are a CONFLICT, never a guess. Each failed lookup counts against the admin
// and their client address like a failed invite acceptance, so the
// operation cannot be used to test addresses in bulk. The accepted risk: one
// lookup at a time does tell an admin whether an address has a verified
// account here (docs/SECURITY.md).
func (s *Service) AddMember(ctx context.Context, p *auth.Principal, workspaceID, address string, want role.Role) (Membership, error) {
	var m Membership
	err := s.asAdmin(ctx, p, workspaceID, func(tx Store, lk Locked, actor auth.Principal) error {
		if !want.Valid() {
			return apperr.Invalid("input.role", "unknown role %q", string(want))
		}
		key, err := canonicalEmail("input.email", address)
		if err != nil {
			return err
		}
		u, err := s.lookup(ctx, tx, actor, key)
		if err != nil {
			return err
		}
		if err := roomForOneMore(ctx, tx, u.ID, "this user"); err != nil {
			return err
		}
		m = Membership{WorkspaceID: workspaceID, UserID: u.ID, Role: want, JoinedAt: lk.Now}
		if err := tx.CreateMembership(ctx, m); err != nil {
			if errors.Is(err, apperr.ErrConflict) {
				return apperr.New(apperr.Conflict, "this user is already a member of the workspace")
			}
			return err
		}
		return tx.AppendEvents(ctx, s.memberEvent(ctx, actor, audit.MemberAdded, workspaceID, userRef(u.ID, u.Email), nil, &want, lk.Now))
	})
	return m, err
}

// lookup finds the one verified user with the canonical address key. A miss
// takes an attempt from the actor's (and their address's) allowance; past it,
// lookups are RATE_LIMITED.
func (s *Service) lookup(ctx context.Context, tx Store, actor auth.Principal, key string) (User, error) {
	keys := s.throttleKeys(ctx, "lookup", actor)
	if err := s.takeAttempt(keys, "too many addMember lookups that found nobody"); err != nil {
		return User{}, err
	}
	us, err := tx.FindVerifiedUsersByEmail(ctx, key, 2)
	switch {
	case err != nil:
		s.refundAttempt(keys)
		return User{}, err
	case len(us) == 0:
		return User{}, apperr.New(apperr.NotFound, "no user with this verified email has signed in yet; send an email invite instead")
	case len(us) > 1:
		return User{}, apperr.New(apperr.Conflict, "several users have this verified email; send an email invite instead")
	}
	s.refundAttempt(keys) // only misses count
	return us[0], nil
}

// RemoveMember removes a member. Removing the last admin is a CONFLICT.
func (s *Service) RemoveMember(ctx context.Context, p *auth.Principal, workspaceID, userID string) error {
	return s.asAdmin(ctx, p, workspaceID, func(tx Store, lk Locked, actor auth.Principal) error {
		m, u, err := tx.GetMember(ctx, workspaceID, userID)
		if err != nil {
			return notFound(err, "this user is not a member of the workspace")
		}
		if m.Role == role.Admin {
			if err := keepAnAdmin(ctx, tx, workspaceID, "remove"); err != nil {
				return err
			}
		}
		if err := tx.DeleteMembership(ctx, workspaceID, userID); err != nil {
			return err
		}
		return tx.AppendEvents(ctx, s.memberEvent(ctx, actor, audit.MemberRemoved, workspaceID, userRef(u.ID, u.Email), &m.Role, nil, lk.Now))
	})
}

// UpdateMemberRole sets a member's role. Setting the role the member already
// has changes nothing and writes nothing; demoting the last admin is a
// CONFLICT.
func (s *Service) UpdateMemberRole(ctx context.Context, p *auth.Principal, workspaceID, userID string, want role.Role) (Membership, error) {
	var m Membership
	err := s.asAdmin(ctx, p, workspaceID, func(tx Store, lk Locked, actor auth.Principal) error {
		if !want.Valid() {
			return apperr.Invalid("input.role", "unknown role %q", string(want))
		}
		var (
			u   User
			err error
		)
		if m, u, err = tx.GetMember(ctx, workspaceID, userID); err != nil {
			return notFound(err, "this user is not a member of the workspace")
		}
		if m.Role == want {
			return nil
		}
		if m.Role == role.Admin {
			if err := keepAnAdmin(ctx, tx, workspaceID, "demote"); err != nil {
				return err
			}
		}
		if err := tx.UpdateRole(ctx, workspaceID, userID, want); err != nil {
			return err
		}
		prev := m.Role
		m.Role = want
		return tx.AppendEvents(ctx, s.memberEvent(ctx, actor, audit.MemberRoleUpdated, workspaceID, userRef(u.ID, u.Email), &prev, &want, lk.Now))
	})
	return m, err
}

// keepAnAdmin refuses a change that would leave the workspace without an
// admin. The caller holds the workspace lock, so the count cannot change
// underneath it.
func keepAnAdmin(ctx context.Context, tx Store, workspaceID, verb string) error {
	n, err := tx.CountAdmins(ctx, workspaceID)
	if err != nil {
		return err
	}
	if n <= 1 {
		return apperr.New(apperr.Conflict, "cannot %s the last admin: a workspace always keeps at least one admin", verb)
	}
	return nil
}
