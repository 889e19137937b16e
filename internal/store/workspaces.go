package store

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/auditlogd/auditlogd/internal/apperr"
	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/role"
	"github.com/auditlogd/auditlogd/internal/workspace"
)

// Workspaces implements workspace.Store.
type Workspaces struct{ c conn }

var _ workspace.Store = (*Workspaces)(nil)

// InTx runs fn in one transaction; see workspace.Store.
func (s *Workspaces) InTx(ctx context.Context, fn func(tx workspace.Store) error) error {
	return s.c.inTx(ctx, func(c conn) error { return fn(&Workspaces{c}) })
}

// GetUser returns one user.
func (s *Workspaces) GetUser(ctx context.Context, id string) (workspace.User, error) {
	var r userRow
	err := s.c.run(ctx, false, func(db *gorm.DB) error { return db.Take(&r, "id = ?", id).Error })
	return r.toDomain(), err
}

// GetUsers returns the users that exist among ids.
func (s *Workspaces) GetUsers(ctx context.Context, ids []string) ([]workspace.User, error) {
	var rows []userRow
	err := s.c.run(ctx, false, func(db *gorm.DB) error { return db.Where("id IN ?", ids).Find(&rows).Error })
	return convert(rows, userRow.toDomain), err
}

// FindUserByEmail returns the most recently seen user with that email.
func (s *Workspaces) FindUserByEmail(ctx context.Context, email string) (workspace.User, error) {
	var r userRow
	err := s.c.run(ctx, false, func(db *gorm.DB) error {
		return db.Where("email_key = ?", audit.MatchKey(email)).Order("updated_at DESC").Take(&r).Error
	})
	return r.toDomain(), err
}

// SaveUser inserts the user or refreshes its email and name.
func (s *Workspaces) SaveUser(ctx context.Context, u workspace.User) error {
	r := userFromDomain(u)
	return s.c.run(ctx, true, func(db *gorm.DB) error {
		return db.Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "id"}},
			DoUpdates: clause.AssignmentColumns([]string{"email", "email_key", "name", "updated_at"}),
		}).Create(&r).Error
	})
}

// CreateWorkspace inserts a workspace.
func (s *Workspaces) CreateWorkspace(ctx context.Context, w workspace.Workspace) error {
	r := workspaceFromDomain(w)
	return s.c.run(ctx, true, func(db *gorm.DB) error { return db.Create(&r).Error })
}

// GetWorkspace returns one workspace.
func (s *Workspaces) GetWorkspace(ctx context.Context, id string) (workspace.Workspace, error) {
	var r workspaceRow
	err := s.c.run(ctx, false, func(db *gorm.DB) error { return db.Take(&r, "id = ?", id).Error })
	return r.toDomain(), err
}

// GetWorkspaces returns the workspaces that exist among ids.
func (s *Workspaces) GetWorkspaces(ctx context.Context, ids []string) ([]workspace.Workspace, error) {
	var rows []workspaceRow
	err := s.c.run(ctx, false, func(db *gorm.DB) error { return db.Where("id IN ?", ids).Find(&rows).Error })
	return convert(rows, workspaceRow.toDomain), err
}

// LockWorkspace reads the workspace FOR UPDATE. (SQLite has one writer at a
// time, so its transactions are serialized already.)
func (s *Workspaces) LockWorkspace(ctx context.Context, id string) (workspace.Workspace, error) {
	var r workspaceRow
	err := s.c.run(ctx, true, func(db *gorm.DB) error {
		return db.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate}).Take(&r, "id = ?", id).Error
	})
	return r.toDomain(), err
}

// LockWorkspaceAs reads the workspace FOR UPDATE together with userID's role.
func (s *Workspaces) LockWorkspaceAs(ctx context.Context, id, userID string) (workspace.Workspace, *role.Role, error) {
	var w workspaceRow
	var roleCol *string
	err := s.c.run(ctx, true, func(db *gorm.DB) error {
		return db.Table("workspaces").
			Select("workspaces.id, workspaces.name, workspaces.plan, workspaces.created_at, workspaces.updated_at, m.role").
			Joins("LEFT JOIN memberships m ON m.workspace_id = workspaces.id AND m.user_id = ?", userID).
			Where("workspaces.id = ?", id).
			Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate}).
			Row().Scan(&w.ID, &w.Name, &w.Plan, &w.CreatedAt, &w.UpdatedAt, &roleCol)
	})
	if err != nil {
		return workspace.Workspace{}, nil, err
	}
	var r *role.Role
	if roleCol != nil {
		v := role.Role(*roleCol)
		r = &v
	}
	return w.toDomain(), r, nil
}

// SetPlan changes the plan.
func (s *Workspaces) SetPlan(ctx context.Context, id string, plan workspace.Plan, at time.Time) error {
	return s.c.run(ctx, true, func(db *gorm.DB) error {
		return db.Model(&workspaceRow{}).Where("id = ?", id).
			Updates(map[string]any{"plan": string(plan), "updated_at": at.UnixMilli()}).Error
	})
}

// WorkspacesOf returns the user's workspaces by name.
func (s *Workspaces) WorkspacesOf(ctx context.Context, userID string) ([]workspace.Workspace, error) {
	var rows []workspaceRow
	err := s.c.run(ctx, false, func(db *gorm.DB) error {
		return db.Joins("JOIN memberships m ON m.workspace_id = workspaces.id").
			Where("m.user_id = ?", userID).Order("workspaces.name, workspaces.id").Find(&rows).Error
	})
	return convert(rows, workspaceRow.toDomain), err
}

// GetAccess reads the plan and the user's role in one query. It runs on
// every guarded request, so it scans by hand rather than by reflection.
func (s *Workspaces) GetAccess(ctx context.Context, workspaceID, userID string) (workspace.Access, error) {
	var plan string
	var roleCol *string
	err := s.c.run(ctx, false, func(db *gorm.DB) error {
		return db.Raw(`SELECT w.plan, m.role FROM workspaces w
			LEFT JOIN memberships m ON m.workspace_id = w.id AND m.user_id = ? WHERE w.id = ?`, userID, workspaceID).
			Row().Scan(&plan, &roleCol)
	})
	if errors.Is(err, apperr.ErrNotFound) {
		return workspace.Access{}, nil
	}
	if err != nil {
		return workspace.Access{}, err
	}
	acc := workspace.Access{Exists: true, Plan: workspace.Plan(plan)}
	if roleCol != nil {
		r := role.Role(*roleCol)
		acc.Role = &r
	}
	return acc, nil
}

// GetMembership returns one membership.
func (s *Workspaces) GetMembership(ctx context.Context, workspaceID, userID string) (workspace.Membership, error) {
	var r membershipRow
	err := s.c.run(ctx, false, func(db *gorm.DB) error {
		return db.Take(&r, "workspace_id = ? AND user_id = ?", workspaceID, userID).Error
	})
	return r.toDomain(), err
}

// GetMember returns a membership with its user.
func (s *Workspaces) GetMember(ctx context.Context, workspaceID, userID string) (workspace.Membership, workspace.User, error) {
	var m membershipRow
	var u userRow
	err := s.c.run(ctx, false, func(db *gorm.DB) error {
		return db.Raw(`SELECT m.workspace_id, m.user_id, m.role, m.joined_at, u.email, u.name, u.created_at, u.updated_at
			FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.workspace_id = ? AND m.user_id = ?`, workspaceID, userID).
			Row().Scan(&m.WorkspaceID, &m.UserID, &m.Role, &m.JoinedAt, &u.Email, &u.Name, &u.CreatedAt, &u.UpdatedAt)
	})
	if err != nil {
		return workspace.Membership{}, workspace.User{}, err
	}
	u.ID = m.UserID
	return m.toDomain(), u.toDomain(), nil
}

// ListMemberships returns the workspace's members in the order they joined.
func (s *Workspaces) ListMemberships(ctx context.Context, workspaceID string) ([]workspace.Membership, error) {
	var rows []membershipRow
	err := s.c.run(ctx, false, func(db *gorm.DB) error {
		return db.Where("workspace_id = ?", workspaceID).Order("joined_at, user_id").Find(&rows).Error
	})
	return convert(rows, membershipRow.toDomain), err
}

// CreateMembership inserts a membership; a duplicate is apperr.ErrConflict.
func (s *Workspaces) CreateMembership(ctx context.Context, m workspace.Membership) error {
	r := membershipFromDomain(m)
	return s.c.run(ctx, true, func(db *gorm.DB) error { return db.Create(&r).Error })
}

// UpdateRole sets a member's role.
func (s *Workspaces) UpdateRole(ctx context.Context, workspaceID, userID string, role role.Role) error {
	return s.c.run(ctx, true, func(db *gorm.DB) error {
		return db.Model(&membershipRow{}).Where("workspace_id = ? AND user_id = ?", workspaceID, userID).
			Update("role", string(role)).Error
	})
}

// DeleteMembership removes a membership.
func (s *Workspaces) DeleteMembership(ctx context.Context, workspaceID, userID string) error {
	return s.c.run(ctx, true, func(db *gorm.DB) error {
		return db.Where("workspace_id = ? AND user_id = ?", workspaceID, userID).Delete(&membershipRow{}).Error
	})
}

// CountAdmins counts the workspace's admins.
func (s *Workspaces) CountAdmins(ctx context.Context, workspaceID string) (int, error) {
	var n int64
	err := s.c.run(ctx, false, func(db *gorm.DB) error {
		return db.Model(&membershipRow{}).Where("workspace_id = ? AND role = ?", workspaceID, string(role.Admin)).Count(&n).Error
	})
	return int(n), err
}

// CreateInvite inserts an invite.
func (s *Workspaces) CreateInvite(ctx context.Context, inv workspace.Invite) error {
	r := inviteFromDomain(inv)
	return s.c.run(ctx, true, func(db *gorm.DB) error { return db.Create(&r).Error })
}

// GetInvite returns a live invite of the workspace.
func (s *Workspaces) GetInvite(ctx context.Context, workspaceID, id string) (workspace.Invite, error) {
	var r inviteRow
	err := s.c.run(ctx, false, func(db *gorm.DB) error {
		return db.Take(&r, "id = ? AND workspace_id = ? AND deleted_at IS NULL", id, workspaceID).Error
	})
	return r.toDomain(), err
}

// FindInviteByTokenHash returns the invite with that token hash.
func (s *Workspaces) FindInviteByTokenHash(ctx context.Context, hash []byte) (workspace.Invite, error) {
	var r inviteRow
	err := s.c.run(ctx, false, func(db *gorm.DB) error { return db.Take(&r, "token_hash = ?", hash).Error })
	return r.toDomain(), err
}

// ListInvites returns the workspace's invites that are not deleted, newest first.
func (s *Workspaces) ListInvites(ctx context.Context, workspaceID string) ([]workspace.Invite, error) {
	var rows []inviteRow
	err := s.c.run(ctx, false, func(db *gorm.DB) error {
		return db.Where("workspace_id = ? AND deleted_at IS NULL", workspaceID).Order("created_at DESC, id DESC").Find(&rows).Error
	})
	return convert(rows, inviteRow.toDomain), err
}

// EmailInviteBlockers reports a pending email invite and an existing member
// with that email, in one query.
func (s *Workspaces) EmailInviteBlockers(ctx context.Context, workspaceID, email string, now time.Time) (bool, bool, error) {
	var pending, member bool
	err := s.c.run(ctx, false, func(db *gorm.DB) error {
		return db.Raw(`SELECT
			EXISTS (SELECT 1 FROM invite_links WHERE workspace_id = ? AND email = ? AND kind = ?
				AND deleted_at IS NULL AND used_at IS NULL AND (expires_at IS NULL OR expires_at > ?)),
			EXISTS (SELECT 1 FROM users u JOIN memberships m ON m.user_id = u.id
				WHERE u.email_key = ? AND m.workspace_id = ?)`,
			workspaceID, email, string(workspace.InviteEmail), now.UnixMilli(), audit.MatchKey(email), workspaceID).
			Row().Scan(&pending, &member)
	})
	return pending, member, err
}

// DeleteInvite marks an invite deleted.
func (s *Workspaces) DeleteInvite(ctx context.Context, id string, at time.Time) error {
	return s.c.run(ctx, true, func(db *gorm.DB) error {
		return db.Model(&inviteRow{}).Where("id = ?", id).Update("deleted_at", at.UnixMilli()).Error
	})
}

// RecordAcceptance counts an acceptance; an email invite is used up, and only
// if nobody used it first.
func (s *Workspaces) RecordAcceptance(ctx context.Context, inv workspace.Invite, at time.Time) (bool, error) {
	var affected int64
	err := s.c.run(ctx, true, func(db *gorm.DB) error {
		q := db.Model(&inviteRow{}).Where("id = ? AND deleted_at IS NULL", inv.ID)
		updates := map[string]any{"accepted_count": gorm.Expr("accepted_count + 1")}
		if inv.Kind == workspace.InviteEmail {
			q = q.Where("used_at IS NULL")
			updates["used_at"] = at.UnixMilli()
		}
		res := q.Updates(updates)
		affected = res.RowsAffected
		return res.Error
	})
	return affected == 1, err
}

// AppendEvents writes audit events in the caller's transaction.
func (s *Workspaces) AppendEvents(ctx context.Context, events ...audit.Event) error {
	return appendEvents(ctx, s.c, events)
}
