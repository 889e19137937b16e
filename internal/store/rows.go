package store

import (
	"time"

	"github.com/auditlogd/auditlogd/internal/email"
	"github.com/auditlogd/auditlogd/internal/role"
	"github.com/auditlogd/auditlogd/internal/workspace"
)

// Row structs mirror the tables. They never leave this package: toDomain and
// fromDomain convert at the boundary. Times are Unix milliseconds.

type userRow struct {
	ID            string `gorm:"primaryKey"`
	Email         string
	EmailKey      string
	EmailVerified bool
	Name          *string
	CreatedAt     int64 `gorm:"autoCreateTime:false"`
	UpdatedAt     int64 `gorm:"autoUpdateTime:false"`
}

func (userRow) TableName() string { return "users" }

func (r userRow) toDomain() workspace.User {
	return workspace.User{ID: r.ID, Email: r.Email, EmailVerified: r.EmailVerified, Name: r.Name, CreatedAt: fromMs(r.CreatedAt), UpdatedAt: fromMs(r.UpdatedAt)}
}

func userFromDomain(u workspace.User) userRow {
	return userRow{ID: u.ID, Email: u.Email, EmailKey: email.Key(u.Email), EmailVerified: u.EmailVerified, Name: u.Name,
		CreatedAt: u.CreatedAt.UnixMilli(), UpdatedAt: u.UpdatedAt.UnixMilli()}
}

type workspaceRow struct {
	ID        string `gorm:"primaryKey"`
	Name      string
	Plan      string
	CreatedBy *string
	CreatedAt int64 `gorm:"autoCreateTime:false"`
	UpdatedAt int64 `gorm:"autoUpdateTime:false"`
	// TrustedDomains is the canonical list joined by commas (NULL or "":
	// none); setTrustedDomains writes it.
	TrustedDomains *string
}

func (workspaceRow) TableName() string { return "workspaces" }

func (r workspaceRow) toDomain() workspace.Workspace {
	w := workspace.Workspace{ID: r.ID, Name: r.Name, Plan: workspace.Plan(r.Plan), CreatedAt: fromMs(r.CreatedAt), UpdatedAt: fromMs(r.UpdatedAt)}
	if r.CreatedBy != nil {
		w.CreatedBy = *r.CreatedBy
	}
	if r.TrustedDomains != nil {
		w.TrustedDomains = splitDomains(*r.TrustedDomains)
	}
	return w
}

func workspaceFromDomain(w workspace.Workspace) workspaceRow {
	r := workspaceRow{ID: w.ID, Name: w.Name, Plan: string(w.Plan), CreatedAt: w.CreatedAt.UnixMilli(), UpdatedAt: w.UpdatedAt.UnixMilli()}
	if w.CreatedBy != "" {
		r.CreatedBy = &w.CreatedBy
	}
	return r
}

type membershipRow struct {
	WorkspaceID string `gorm:"primaryKey"`
	UserID      string `gorm:"primaryKey"`
	Role        string
	JoinedAt    int64
}

func (membershipRow) TableName() string { return "memberships" }

func (r membershipRow) toDomain() workspace.Membership {
	return workspace.Membership{WorkspaceID: r.WorkspaceID, UserID: r.UserID, Role: role.Role(r.Role), JoinedAt: fromMs(r.JoinedAt)}
}

func membershipFromDomain(m workspace.Membership) membershipRow {
	return membershipRow{WorkspaceID: m.WorkspaceID, UserID: m.UserID, Role: string(m.Role), JoinedAt: m.JoinedAt.UnixMilli()}
}

type inviteRow struct {
	ID            string `gorm:"primaryKey"`
	WorkspaceID   string
	Kind          string
	Email         *string
	Role          string
	TokenHash     []byte
	CreatedBy     string
	CreatedAt     int64 `gorm:"autoCreateTime:false"`
	ExpiresAt     *int64
	DeletedAt     *int64
	UsedAt        *int64
	AcceptedCount int
}

func (inviteRow) TableName() string { return "invite_links" }

func (r inviteRow) toDomain() workspace.Invite {
	return workspace.Invite{
		ID: r.ID, WorkspaceID: r.WorkspaceID, Kind: workspace.InviteKind(r.Kind), Email: r.Email,
		Role: role.Role(r.Role), TokenHash: r.TokenHash, CreatedBy: r.CreatedBy, CreatedAt: fromMs(r.CreatedAt),
		ExpiresAt: fromMsPtr(r.ExpiresAt), DeletedAt: fromMsPtr(r.DeletedAt), UsedAt: fromMsPtr(r.UsedAt),
		AcceptedCount: r.AcceptedCount,
	}
}

func inviteFromDomain(i workspace.Invite) inviteRow {
	return inviteRow{
		ID: i.ID, WorkspaceID: i.WorkspaceID, Kind: string(i.Kind), Email: i.Email, Role: string(i.Role),
		TokenHash: i.TokenHash, CreatedBy: i.CreatedBy, CreatedAt: i.CreatedAt.UnixMilli(),
		ExpiresAt: toMsPtr(i.ExpiresAt), DeletedAt: toMsPtr(i.DeletedAt), UsedAt: toMsPtr(i.UsedAt),
		AcceptedCount: i.AcceptedCount,
	}
}

func fromMs(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func fromMsPtr(ms *int64) *time.Time {
	if ms == nil {
		return nil
	}
	t := fromMs(*ms)
	return &t
}

func toMsPtr(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	ms := t.UnixMilli()
	return &ms
}

func convert[R any, D any](rows []R, f func(R) D) []D {
	out := make([]D, len(rows))
	for i, r := range rows {
		out[i] = f(r)
	}
	return out
}
