package store

import (
	"context"
	"errors"
	"slices"
	"strings"
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

// WithClock returns the store with another clock for the events its
// transactions stamp (the demo writes a month of history with a clock that
// steps through the past).
func (s *Workspaces) WithClock(now func() time.Time) workspace.Store {
	c := s.c
	c.now = now
	return &Workspaces{c}
}

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

// FindVerifiedUsersByEmail returns at most limit users with that verified
// canonical address.
func (s *Workspaces) FindVerifiedUsersByEmail(ctx context.Context, key string, limit int) ([]workspace.User, error) {
	var rows []userRow
	err := s.c.run(ctx, false, func(db *gorm.DB) error {
		return db.Where("email_key = ? AND email_verified = ?", key, true).Order("id").Limit(limit).Find(&rows).Error
	})
	return convert(rows, userRow.toDomain), err
}

// LockUser holds the user's row until the transaction ends, by writing it
// (version + 1): on Galera a SELECT … FOR UPDATE would not conflict with a
// transaction on another node that counted the same user's workspaces, and
// both would commit (see migration 0009). A missing user is
// apperr.ErrNotFound.
func (s *Workspaces) LockUser(ctx context.Context, id string) error {
	return s.c.run(ctx, true, func(db *gorm.DB) error {
		res := db.Exec("UPDATE users SET version = version + 1 WHERE id = ?", id)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return gorm.ErrRecordNotFound
		}
		return nil
	})
}

// CountMemberships counts the user's workspaces.
func (s *Workspaces) CountMemberships(ctx context.Context, userID string) (int, error) {
	var n int64
	err := s.c.run(ctx, false, func(db *gorm.DB) error {
		return db.Model(&membershipRow{}).Where("user_id = ?", userID).Count(&n).Error
	})
	return int(n), err
}

// CountWorkspacesCreatedSince counts the workspaces the user created since.
func (s *Workspaces) CountWorkspacesCreatedSince(ctx context.Context, userID string, since time.Time) (int, error) {
	var n int64
	err := s.c.run(ctx, false, func(db *gorm.DB) error {
		return db.Model(&workspaceRow{}).Where("created_by = ? AND created_at >= ?", userID, since.UnixMilli()).Count(&n).Error
	})
	return int(n), err
}

// SaveUser inserts the user or refreshes its email and name. It runs as a
// transaction of its own so that losing to a concurrent write of the row is
// retried like any transaction: a new user's first requests often reach
// several replicas at once, and on Galera their inserts conflict at
// certification (error 1213), which the server retries only once for a
// statement outside a transaction (wsrep_retry_autocommit).
func (s *Workspaces) SaveUser(ctx context.Context, u workspace.User) error {
	r := userFromDomain(u)
	return s.c.inTx(ctx, func(c conn) error {
		return c.run(ctx, true, func(db *gorm.DB) error {
			return db.Clauses(clause.OnConflict{
				Columns:   []clause.Column{{Name: "id"}},
				DoUpdates: clause.AssignmentColumns([]string{"email", "email_key", "email_verified", "name", "updated_at"}),
			}).Create(&r).Error
		})
	})
}

// CreateWorkspace inserts a workspace; the transaction then holds its row
// (nobody else can see it before the commit) and reads the clock.
func (s *Workspaces) CreateWorkspace(ctx context.Context, w workspace.Workspace) (time.Time, error) {
	r := workspaceFromDomain(w)
	if err := s.c.run(ctx, true, func(db *gorm.DB) error { return db.Create(&r).Error }); err != nil {
		return time.Time{}, err
	}
	if !s.c.tx {
		return time.Time{}, nil
	}
	return s.c.lock(w.ID, chainHead{}), nil
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

// LockWorkspace reads the workspace FOR UPDATE together with userID's role,
// records the lock in the transaction and then reads the clock. (SQLite has
// one writer at a time, so its transactions are serialized already.)
func (s *Workspaces) LockWorkspace(ctx context.Context, id, userID string) (workspace.Locked, error) {
	lk, _, err := s.lockWorkspace(ctx, id, userID)
	return lk, err
}

// lockWorkspace is LockWorkspace that also returns the chain head read with
// the lock.
func (s *Workspaces) lockWorkspace(ctx context.Context, id, userID string) (workspace.Locked, chainHead, error) {
	if !s.c.tx {
		return workspace.Locked{}, chainHead{}, errors.New("store: LockWorkspace outside a transaction")
	}
	var w workspaceRow
	var roleCol *string
	var hs headScan
	pre := prefetchFor(ctx, userID)
	pcols, pargs := pre.columns(id)
	err := s.c.run(ctx, true, func(db *gorm.DB) error {
		dest := append([]any{&w.ID, &w.Name, &w.Plan, &w.CreatedBy, &w.CreatedAt, &w.UpdatedAt, &roleCol, &w.TrustedDomains}, hs.dest()...)
		dest = append(dest, pre.dest()...)
		return db.Table("workspaces").
			Select("workspaces.id, workspaces.name, workspaces.plan, workspaces.created_by, workspaces.created_at, workspaces.updated_at, m.role, workspaces.trusted_domains, "+
				"workspaces.chain_sequence, workspaces.chain_hash, workspaces.chain_at, workspaces.chain_pruned_through, "+pcols, pargs...).
			Joins("LEFT JOIN memberships m ON m.workspace_id = workspaces.id AND m.user_id = ?", userID).
			Where("workspaces.id = ?", id).
			Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate}).
			Row().Scan(dest...)
	})
	if err != nil {
		return workspace.Locked{}, chainHead{}, err
	}
	head := hs.head()
	lk := workspace.Locked{Workspace: w.toDomain(), Now: s.c.lock(id, head), HeadSequence: head.seq, PrunedThrough: head.pruned}
	s.c.state.locked[id].trusted = lk.TrustedDomains
	if userID != "" {
		s.c.state.locked[id].pre = pre
	}
	if roleCol != nil {
		r := role.Role(*roleCol)
		lk.Role = &r
	}
	return lk, head, nil
}

// SetPlan changes the plan.
func (s *Workspaces) SetPlan(ctx context.Context, id string, plan workspace.Plan, at time.Time) error {
	return s.c.run(ctx, true, func(db *gorm.DB) error {
		return db.Model(&workspaceRow{}).Where("id = ?", id).
			Updates(map[string]any{"plan": string(plan), "updated_at": at.UnixMilli()}).Error
	})
}

// WorkspacesOf returns at most limit of the user's workspaces, by name, with
// the user's role in each.
func (s *Workspaces) WorkspacesOf(ctx context.Context, userID string, limit int) ([]workspace.MemberWorkspace, error) {
	var out []workspace.MemberWorkspace
	err := s.c.run(ctx, false, func(db *gorm.DB) error {
		rows, err := db.Raw(`SELECT w.id, w.name, w.plan, w.created_by, w.created_at, w.updated_at, w.trusted_domains, m.role
			FROM memberships m JOIN workspaces w ON w.id = m.workspace_id
			WHERE m.user_id = ? ORDER BY w.name, w.id LIMIT ?`, userID, limit).Rows()
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var w workspaceRow
			var r string
			if err := rows.Scan(&w.ID, &w.Name, &w.Plan, &w.CreatedBy, &w.CreatedAt, &w.UpdatedAt, &w.TrustedDomains, &r); err != nil {
				return err
			}
			out = append(out, workspace.MemberWorkspace{Workspace: w.toDomain(), Role: role.Role(r)})
		}
		return rows.Err()
	})
	return out, err
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

// ListMembershipsOf returns the members of the workspaces, each
// workspace's in the order they joined.
func (s *Workspaces) ListMembershipsOf(ctx context.Context, workspaceIDs []string) ([]workspace.Membership, error) {
	var rows []membershipRow
	err := s.c.run(ctx, false, func(db *gorm.DB) error {
		return db.Where("workspace_id IN ?", workspaceIDs).Order("workspace_id, joined_at, user_id").Find(&rows).Error
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

// ListInvitesOf returns the live invites of the workspaces, each
// workspace's newest first.
func (s *Workspaces) ListInvitesOf(ctx context.Context, workspaceIDs []string) ([]workspace.Invite, error) {
	var rows []inviteRow
	err := s.c.run(ctx, false, func(db *gorm.DB) error {
		return db.Where("workspace_id IN ? AND deleted_at IS NULL", workspaceIDs).
			Order("workspace_id, created_at DESC, id DESC").Find(&rows).Error
	})
	return convert(rows, inviteRow.toDomain), err
}

// EmailInviteBlockers reports a pending email invite and an existing member
// with that email, in one query.
func (s *Workspaces) EmailInviteBlockers(ctx context.Context, workspaceID, address string, now time.Time) (bool, bool, error) {
	var pending, member bool
	err := s.c.run(ctx, false, func(db *gorm.DB) error {
		return db.Raw(`SELECT
			EXISTS (SELECT 1 FROM invite_links WHERE workspace_id = ? AND email = ? AND kind = ?
				AND deleted_at IS NULL AND used_at IS NULL AND (expires_at IS NULL OR expires_at > ?)),
			EXISTS (SELECT 1 FROM users u JOIN memberships m ON m.user_id = u.id
				WHERE u.email_key = ? AND m.workspace_id = ?)`,
			workspaceID, address, string(workspace.InviteEmail), now.UnixMilli(), address, workspaceID).
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

// AppendEvents writes audit events in the caller's transaction, which must
// have locked their workspaces (see conn.checkLocked).
func (s *Workspaces) AppendEvents(ctx context.Context, events ...audit.Event) error {
	return appendLocked(ctx, s.c, events)
}

// splitDomains reads the trusted_domains column: canonical domains joined
// by commas, "" (or NULL) for none.
func splitDomains(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// SetTrustedDomains replaces the workspace's trusted domains (canonical, as
// insight.NormalizeTrustedDomains returns them). The transaction must hold
// the workspace's lock; later events of the same transaction are flagged
// against the new list.
func (s *Workspaces) SetTrustedDomains(ctx context.Context, id string, domains []string, at time.Time) error {
	st, ok := s.c.state.locked[id]
	if !s.c.tx || !ok {
		return errors.New("store: SetTrustedDomains outside a transaction that locked the workspace")
	}
	err := s.c.run(ctx, true, func(db *gorm.DB) error {
		return db.Exec("UPDATE workspaces SET trusted_domains = ?, updated_at = ? WHERE id = ?", strings.Join(domains, ","), at.UnixMilli(), id).Error
	})
	if err == nil {
		st.trusted = slices.Clone(domains)
	}
	return err
}
