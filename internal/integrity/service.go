package integrity

import (
	"context"
	"time"

	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/auth"
)

// Store is what the integrity service reads: a workspace's chain head, and a
// consistent snapshot of its chain. internal/store implements it.
type Store interface {
	// Head returns the chain head the workspace row keeps.
	Head(ctx context.Context, workspaceID string) (audit.ChainHead, error)
	// ScanChain reads the head and then, in the same snapshot, every
	// retained event, oldest first by sequence, as raw columns (those beyond
	// the head too: the verifier reports them).
	ScanChain(ctx context.Context, workspaceID string, batch int, fn func(head audit.ChainHead, r *audit.Row) error) (audit.ChainHead, error)
}

// Service serves heads and verifications of workspaces' chains, with the
// same access rules as the log itself (decided by the gate).
type Service struct {
	store  Store
	gate   audit.Gate
	signer *Signer
	now    func() time.Time
}

// NewService returns a Service signing heads with signer.
func NewService(store Store, gate audit.Gate, signer *Signer, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, gate: gate, signer: signer, now: now}
}

// Signer returns the service's signer (for the JWKS endpoint).
func (s *Service) Signer() *Signer { return s.signer }

// sign signs a workspace's head as of at.
func (s *Service) sign(workspaceID string, h audit.ChainHead, at time.Time) (SignedHead, error) {
	return s.signer.Sign(Head{WorkspaceID: workspaceID, Sequence: h.Sequence, Hash: h.Hash, SignedAt: at.UTC().Truncate(time.Millisecond)})
}

// Head returns the workspace's signed head now, if p may read its log.
func (s *Service) Head(ctx context.Context, p *auth.Principal, workspaceID string) (SignedHead, error) {
	if err := s.gate.AuthorizeLogRead(ctx, p, workspaceID, nil); err != nil {
		return SignedHead{}, err
	}
	h, err := s.store.Head(ctx, workspaceID)
	if err != nil {
		return SignedHead{}, err
	}
	return s.sign(workspaceID, h, s.now())
}

// ExportHead is the signed head at an export's snapshot: the head its
// request saw under the workspace lock, signed as of the request.
func (s *Service) ExportHead(e audit.Export) (SignedHead, error) {
	return s.sign(e.WorkspaceID, e.Head, e.CreatedAt)
}

// Verification is a verified chain and the signed head it was checked
// against.
type Verification struct {
	Result
	Head SignedHead
}

// Verify recomputes the whole retained chain of the workspace from the
// database, if p may read its log.
func (s *Service) Verify(ctx context.Context, p *auth.Principal, workspaceID string) (Verification, error) {
	if err := s.gate.AuthorizeLogRead(ctx, p, workspaceID, nil); err != nil {
		return Verification{}, err
	}
	return s.VerifyWorkspace(ctx, workspaceID)
}

// VerifyWorkspace recomputes a workspace's chain without an access check:
// for operators (auditlogd verify) and for Verify.
func (s *Service) VerifyWorkspace(ctx context.Context, workspaceID string) (Verification, error) {
	var v *Verifier
	head, err := s.store.ScanChain(ctx, workspaceID, 5000, func(h audit.ChainHead, r *audit.Row) error {
		if v == nil {
			v = newChainVerifier(workspaceID, h)
		}
		prev, _ := HashFromBytes(r.PrevHash)
		hash, _ := HashFromBytes(r.Hash)
		v.Row(r, r.Sequence, prev, hash)
		return nil
	})
	if err != nil {
		return Verification{}, err
	}
	if v == nil {
		v = newChainVerifier(workspaceID, head)
	}
	signed, err := s.sign(workspaceID, head, s.now())
	if err != nil {
		return Verification{}, err
	}
	return Verification{Result: v.Finish(), Head: signed}, nil
}

func newChainVerifier(workspaceID string, h audit.ChainHead) *Verifier {
	return NewVerifier(workspaceID, Options{Order: Ascending, RetainedFrom: h.PrunedThrough + 1,
		Head: &Head{WorkspaceID: workspaceID, Sequence: h.Sequence, Hash: h.Hash}})
}
