package store

import (
	"context"
	"time"

	"gorm.io/gorm"

	"github.com/auditlogd/auditlogd/internal/workspace"
)

type apiKeyRow struct {
	ID          string `gorm:"primaryKey"`
	WorkspaceID string
	Name        string
	Prefix      string
	TokenHash   []byte
	CreatedBy   string
	CreatedAt   int64 `gorm:"autoCreateTime:false"`
	ExpiresAt   *int64
	LastUsedAt  *int64
	RevokedAt   *int64
}

func (apiKeyRow) TableName() string { return "api_keys" }

func (r apiKeyRow) toDomain() workspace.APIKey {
	return workspace.APIKey{ID: r.ID, WorkspaceID: r.WorkspaceID, Name: r.Name, Prefix: r.Prefix, TokenHash: r.TokenHash,
		CreatedBy: r.CreatedBy, CreatedAt: fromMs(r.CreatedAt), ExpiresAt: fromMsPtr(r.ExpiresAt),
		LastUsedAt: fromMsPtr(r.LastUsedAt), RevokedAt: fromMsPtr(r.RevokedAt)}
}

func apiKeyFromDomain(k workspace.APIKey) apiKeyRow {
	return apiKeyRow{ID: k.ID, WorkspaceID: k.WorkspaceID, Name: k.Name, Prefix: k.Prefix, TokenHash: k.TokenHash,
		CreatedBy: k.CreatedBy, CreatedAt: k.CreatedAt.UnixMilli(), ExpiresAt: toMsPtr(k.ExpiresAt),
		LastUsedAt: toMsPtr(k.LastUsedAt), RevokedAt: toMsPtr(k.RevokedAt)}
}

// CreateAPIKey inserts a key.
func (s *Workspaces) CreateAPIKey(ctx context.Context, k workspace.APIKey) error {
	r := apiKeyFromDomain(k)
	return s.c.run(ctx, true, func(db *gorm.DB) error { return db.Create(&r).Error })
}

// GetAPIKey returns a key of the workspace.
func (s *Workspaces) GetAPIKey(ctx context.Context, workspaceID, id string) (workspace.APIKey, error) {
	var r apiKeyRow
	err := s.c.run(ctx, false, func(db *gorm.DB) error {
		return db.Take(&r, "id = ? AND workspace_id = ?", id, workspaceID).Error
	})
	return r.toDomain(), err
}

// FindAPIKeyByHash returns the key with that token hash.
func (s *Workspaces) FindAPIKeyByHash(ctx context.Context, hash []byte) (workspace.APIKey, error) {
	var r apiKeyRow
	err := s.c.run(ctx, false, func(db *gorm.DB) error { return db.Take(&r, "token_hash = ?", hash).Error })
	return r.toDomain(), err
}

// ListAPIKeys returns the workspace's keys, newest first.
func (s *Workspaces) ListAPIKeys(ctx context.Context, workspaceID string) ([]workspace.APIKey, error) {
	var rows []apiKeyRow
	err := s.c.run(ctx, false, func(db *gorm.DB) error {
		return db.Where("workspace_id = ?", workspaceID).Order("created_at DESC, id DESC").Find(&rows).Error
	})
	return convert(rows, apiKeyRow.toDomain), err
}

// RevokeAPIKey marks a key revoked.
func (s *Workspaces) RevokeAPIKey(ctx context.Context, id string, at time.Time) error {
	return s.c.run(ctx, true, func(db *gorm.DB) error {
		return db.Model(&apiKeyRow{}).Where("id = ?", id).Update("revoked_at", at.UnixMilli()).Error
	})
}

// TouchAPIKey records a use of the key unless a use after notBefore is
// recorded already. Like SaveUser it is a retried transaction of its own:
// replicas on different Galera nodes touch a busy key at the same moment.
func (s *Workspaces) TouchAPIKey(ctx context.Context, id string, at, notBefore time.Time) error {
	return s.c.inTx(ctx, func(c conn) error {
		return c.run(ctx, true, func(db *gorm.DB) error {
			return db.Model(&apiKeyRow{}).Where("id = ? AND (last_used_at IS NULL OR last_used_at < ?)", id, notBefore.UnixMilli()).
				Update("last_used_at", at.UnixMilli()).Error
		})
	})
}
