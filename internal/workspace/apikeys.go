package workspace

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/auditlogd/auditlogd/internal/apperr"
	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/auth"
	"github.com/auditlogd/auditlogd/internal/ids"
)

// API key tokens are "alk_" and 32 random bytes in base64url: 256 bits from
// crypto/rand. Only their SHA-256 is stored; the first 12 characters are kept
// as the key's prefix, so that people can tell their keys apart.
const (
	APIKeyPrefix    = "alk_"
	apiKeyBytes     = 32
	apiKeyPrefixLen = 12
	maxAPIKeyName   = 100
	// lastUsedEvery is how often a key's lastUsedAt is written: at most once
	// a minute per key and replica, not once per request.
	lastUsedEvery = time.Minute
)

// APIKey is a workspace's key for a partner: read access to its one
// workspace's audit log (docs/API.md §10).
type APIKey struct {
	ID          string
	WorkspaceID string
	Name        string
	Prefix      string
	TokenHash   []byte
	CreatedBy   string
	CreatedAt   time.Time
	ExpiresAt   *time.Time
	LastUsedAt  *time.Time
	RevokedAt   *time.Time
}

// Live reports whether the key can be used at now.
func (k APIKey) Live(now time.Time) bool {
	return k.RevokedAt == nil && (k.ExpiresAt == nil || now.Before(*k.ExpiresAt))
}

// CreateAPIKeyInput describes a new key.
type CreateAPIKeyInput struct {
	WorkspaceID string
	Name        string
	ExpiresAt   *time.Time
}

// CreatedAPIKey is a new key and its token, which is shown only once.
type CreatedAPIKey struct {
	Key   APIKey
	Token string
}

// newAPIKeyToken returns a fresh token and the hash that is stored.
func newAPIKeyToken() (token string, hash []byte) {
	b := make([]byte, apiKeyBytes)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error()) // never fails on supported platforms
	}
	token = APIKeyPrefix + base64.RawURLEncoding.EncodeToString(b)
	return token, hashAPIKey(token)
}

func hashAPIKey(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// CreateAPIKey makes a key for the workspace's audit log. Admins of BUSINESS
// workspaces only; it writes API_KEY_CREATED.
func (s *Service) CreateAPIKey(ctx context.Context, p *auth.Principal, in CreateAPIKeyInput) (CreatedAPIKey, error) {
	var out CreatedAPIKey
	err := s.asAdmin(ctx, p, in.WorkspaceID, func(tx Store, lk Locked, actor auth.Principal) error {
		if err := lk.Access().RequireLogRead(); err != nil {
			return err
		}
		name := strings.TrimSpace(in.Name)
		if name == "" || utf8.RuneCountInString(name) > maxAPIKeyName {
			return apperr.Invalid("input.name", "must be 1 to %d characters", maxAPIKeyName)
		}
		if in.ExpiresAt != nil && !in.ExpiresAt.After(lk.Now) {
			return apperr.Invalid("input.expiresAt", "must be in the future")
		}
		token, hash := newAPIKeyToken()
		k := APIKey{ID: ids.New(lk.Now), WorkspaceID: in.WorkspaceID, Name: name, Prefix: token[:apiKeyPrefixLen],
			TokenHash: hash, CreatedBy: actor.Subject, CreatedAt: lk.Now, ExpiresAt: truncMs(in.ExpiresAt)}
		if err := tx.CreateAPIKey(ctx, k); err != nil {
			return err
		}
		out = CreatedAPIKey{Key: k, Token: token}
		return tx.AppendEvents(ctx, s.memberEvent(ctx, actor, audit.APIKeyCreated, in.WorkspaceID, keyRef(k), nil, nil, lk.Now))
	})
	return out, err
}

// RevokeAPIKey revokes a live key of the workspace at once; requests with it
// then get 401. Keys of other workspaces, and revoked ones, are NOT_FOUND.
func (s *Service) RevokeAPIKey(ctx context.Context, p *auth.Principal, workspaceID, id string) error {
	return s.asAdmin(ctx, p, workspaceID, func(tx Store, lk Locked, actor auth.Principal) error {
		if !ids.Valid(id) {
			return apperr.New(apperr.NotFound, "API key not found")
		}
		k, err := tx.GetAPIKey(ctx, workspaceID, id)
		if err != nil {
			return notFound(err, "API key not found")
		}
		if k.RevokedAt != nil {
			return apperr.New(apperr.NotFound, "this API key was already revoked")
		}
		if err := tx.RevokeAPIKey(ctx, id, lk.Now); err != nil {
			return err
		}
		return tx.AppendEvents(ctx, s.memberEvent(ctx, actor, audit.APIKeyRevoked, workspaceID, keyRef(k), nil, nil, lk.Now))
	})
}

// APIKeys lists the workspace's keys, revoked ones included, newest first;
// admins only.
func (s *Service) APIKeys(ctx context.Context, p *auth.Principal, workspaceID string) ([]APIKey, error) {
	acc, err := s.Access(ctx, p, workspaceID)
	if err != nil {
		return nil, err
	}
	if err := acc.RequireAdmin(); err != nil {
		return nil, err
	}
	return s.store.ListAPIKeys(ctx, workspaceID)
}

// errBadKey answers every key that cannot be used, alike: unknown, revoked
// and expired keys are not told apart.
var errBadKey = auth.ErrInvalidKey

// AuthenticateKey turns an API key token into its principal, or an error
// (HTTP 401) for a key that is unknown, revoked or expired. It records the
// key's use, at most once a minute.
func (s *Service) AuthenticateKey(ctx context.Context, token string) (auth.Principal, error) {
	if !strings.HasPrefix(token, APIKeyPrefix) || len(token) > 256 {
		return auth.Principal{}, errBadKey
	}
	k, err := s.store.FindAPIKeyByHash(ctx, hashAPIKey(token))
	if errors.Is(err, apperr.ErrNotFound) {
		return auth.Principal{}, errBadKey
	}
	if err != nil {
		return auth.Principal{}, err
	}
	now := s.clock()
	if !k.Live(now) {
		return auth.Principal{}, errBadKey
	}
	if s.keyUses.due(k.ID, now) {
		if err := s.store.TouchAPIKey(ctx, k.ID, now, now.Add(-lastUsedEvery)); err != nil {
			return auth.Principal{}, err
		}
	}
	return auth.Principal{Subject: k.ID, Name: k.Name, APIKey: &auth.APIKey{WorkspaceID: k.WorkspaceID}}, nil
}

// keyUses remembers when this replica last wrote each key's lastUsedAt.
type keyUses struct {
	mu   sync.Mutex
	last map[string]time.Time
}

// due reports whether the key's use should be written now, and if so notes
// that it is.
func (u *keyUses) due(id string, now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if t, ok := u.last[id]; ok && now.Sub(t) < lastUsedEvery {
		return false
	}
	if len(u.last) >= 10_000 {
		clear(u.last) // bounded; at worst a few more writes
	}
	u.last[id] = now
	return true
}

func keyRef(k APIKey) *audit.Target {
	return &audit.Target{Type: audit.TargetAPIKey, ID: k.ID, Label: ptr(k.Name)}
}
