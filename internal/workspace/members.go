package workspace

import (
	"context"
	"errors"
	"net/mail"
	"strings"

	"github.com/auditlogd/auditlogd/internal/apperr"
	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/auth"
	"github.com/auditlogd/auditlogd/internal/role"
)

const maxEmailLen = 254

// normalizeEmail checks that s is a plain address (no display name) and
// returns it lowercased, the form invites and filters compare.
func normalizeEmail(field, s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > maxEmailLen {
		return "", apperr.Invalid(field, "must be an email address of at most %d characters", maxEmailLen)
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return "", apperr.Invalid(field, "must be a plain email address such as name@example.com")
	}
	return strings.ToLower(s), nil
}

// AddMember adds a user the service already knows, found by email, to the
// workspace. Unknown emails are NOT_FOUND (send an email invite instead);
// existing members are a CONFLICT.
func (s *Service) AddMember(ctx context.Context, p *auth.Principal, workspaceID, email string, want role.Role) (Membership, error) {
	actor, err := user(p)
	if err != nil {
		return Membership{}, err
	}
	var m Membership
	err = s.store.InTx(ctx, func(tx Store) error {
		// Who may comes before what is asked, as the @admin directive has it.
		if _, err := lockAsAdmin(ctx, tx, workspaceID, actor.Subject); err != nil {
			return err
		}
		if !want.Valid() {
			return apperr.Invalid("input.role", "unknown role %q", string(want))
		}
		email, err := normalizeEmail("input.email", email)
		if err != nil {
			return err
		}
		u, err := tx.FindUserByEmail(ctx, email)
		if err != nil {
			return notFound(err, "no user with this email has signed in yet; send an email invite instead")
		}
		now := s.clock()
		m = Membership{WorkspaceID: workspaceID, UserID: u.ID, Role: want, JoinedAt: now}
		if err := tx.CreateMembership(ctx, m); err != nil {
			if errors.Is(err, apperr.ErrConflict) {
				return apperr.New(apperr.Conflict, "this user is already a member of the workspace")
			}
			return err
		}
		return tx.AppendEvents(ctx, s.memberEvent(ctx, actor, audit.MemberAdded, workspaceID, userRef(u.ID, u.Email), nil, &want, now))
	})
	return m, err
}

// RemoveMember removes a member. Removing the last admin is a CONFLICT.
func (s *Service) RemoveMember(ctx context.Context, p *auth.Principal, workspaceID, userID string) error {
	actor, err := user(p)
	if err != nil {
		return err
	}
	return s.store.InTx(ctx, func(tx Store) error {
		if _, err := lockAsAdmin(ctx, tx, workspaceID, actor.Subject); err != nil {
			return err
		}
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
		return tx.AppendEvents(ctx, s.memberEvent(ctx, actor, audit.MemberRemoved, workspaceID, userRef(u.ID, u.Email), &m.Role, nil, s.clock()))
	})
}

// UpdateMemberRole sets a member's role. Setting the role the member already
// has changes nothing and writes nothing; demoting the last admin is a
// CONFLICT.
func (s *Service) UpdateMemberRole(ctx context.Context, p *auth.Principal, workspaceID, userID string, want role.Role) (Membership, error) {
	actor, err := user(p)
	if err != nil {
		return Membership{}, err
	}
	if !want.Valid() {
		return Membership{}, apperr.Invalid("input.role", "unknown role %q", string(want))
	}
	var m Membership
	err = s.store.InTx(ctx, func(tx Store) error {
		if _, err := lockAsAdmin(ctx, tx, workspaceID, actor.Subject); err != nil {
			return err
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
		return tx.AppendEvents(ctx, s.memberEvent(ctx, actor, audit.MemberRoleUpdated, workspaceID, userRef(u.ID, u.Email), &prev, &want, s.clock()))
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
