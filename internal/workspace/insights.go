package workspace

import (
	"context"
	"strings"

	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/auth"
	"github.com/auditlogd/auditlogd/internal/insight"
)

// SetTrustedDomains replaces the workspace's trusted domains (docs/API.md
// §14): the email domains whose people joining are not flagged
// EXTERNAL_DOMAIN. Admins only, any plan; the list is validated and kept in
// canonical form (insight.NormalizeTrustedDomains), and an empty list
// clears it, so that the admins' own domains are trusted again. It writes
// TRUSTED_DOMAINS_UPDATED, whose label is the new list, comma-separated.
func (s *Service) SetTrustedDomains(ctx context.Context, p *auth.Principal, workspaceID string, domains []string) (Workspace, error) {
	var out Workspace
	err := s.asAdmin(ctx, p, workspaceID, func(tx Store, lk Locked, actor auth.Principal) error {
		list, err := insight.NormalizeTrustedDomains(domains)
		if err != nil {
			return err
		}
		if err := tx.SetTrustedDomains(ctx, workspaceID, list, lk.Now); err != nil {
			return err
		}
		out = lk.Workspace
		out.UpdatedAt, out.TrustedDomains = lk.Now, list
		label := strings.Join(list, ",")
		target := &audit.Target{Type: audit.TargetWorkspace, ID: workspaceID, Label: &label}
		return tx.AppendEvents(ctx, s.memberEvent(ctx, actor, audit.TrustedDomainsUpdated, workspaceID, target, nil, nil, lk.Now))
	})
	return out, err
}

// TrustedDomains returns w's trusted domains (canonical), or an empty list
// when none are set; admins only. They come with w's row, and the access
// row is read once per request, so asking costs no query of its own
// however many workspaces or aliases ask.
func (s *Service) TrustedDomains(ctx context.Context, p *auth.Principal, w *Workspace) ([]string, error) {
	acc, err := s.Access(ctx, p, w.ID)
	if err != nil {
		return nil, err
	}
	if err := acc.RequireAdmin(); err != nil {
		return nil, err
	}
	if w.TrustedDomains == nil {
		return []string{}, nil
	}
	return w.TrustedDomains, nil
}
