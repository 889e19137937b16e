package workspace

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/auditlogd/auditlogd/internal/apperr"
	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/auth"
	"github.com/auditlogd/auditlogd/internal/ids"
	"github.com/auditlogd/auditlogd/internal/role"
)

// Service owns workspaces, memberships and invites, and the audit events
// their changes write. Every mutating method runs one transaction that makes
// the change and appends its events; authorization is checked again inside
// that transaction, after the workspace row is locked, so a decision cannot be
// overtaken by a concurrent change.
type Service struct {
	store          Store
	now            func() time.Time
	publicURL      string
	inviteThrottle Throttle
	users          *userCache
}

// NewService returns a Service. publicURL is the base of the invite URLs it
// returns; now is the clock.
func NewService(store Store, publicURL string, now func() time.Time) *Service {
	return &Service{store: store, publicURL: strings.TrimRight(publicURL, "/"), now: now, users: newUserCache()}
}

func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Millisecond) }

// user returns the principal if it is a user, or UNAUTHENTICATED.
func user(p *auth.Principal) (auth.Principal, error) {
	if p == nil {
		return auth.Principal{}, apperr.New(apperr.Unauthenticated, "sign in with a bearer token to use this operation")
	}
	if !p.IsUser() {
		return auth.Principal{}, apperr.New(apperr.Unauthenticated, "this operation needs a user token (one with an email claim)")
	}
	return *p, nil
}

// EnsureUser creates or refreshes the user record of a user principal ("just
// in time" provisioning). It writes only when something changed, and skips
// even the read for an identity it saw unchanged within the last minute.
func (s *Service) EnsureUser(ctx context.Context, p auth.Principal) error {
	if !p.IsUser() {
		return nil
	}
	fingerprint := p.Email + "\x00" + p.Name
	if s.users.fresh(p.Subject, fingerprint, s.now()) {
		return nil
	}
	var name *string
	if p.Name != "" {
		name = &p.Name
	}
	cur, err := s.store.GetUser(ctx, p.Subject)
	switch {
	case err == nil:
		if cur.Email == p.Email && equalPtr(cur.Name, name) {
			s.users.put(p.Subject, fingerprint, s.now())
			return nil
		}
	case !errors.Is(err, apperr.ErrNotFound):
		return err
	}
	now := s.clock()
	u := User{ID: p.Subject, Email: p.Email, Name: name, CreatedAt: now, UpdatedAt: now}
	if err := s.store.SaveUser(ctx, u); err != nil {
		return err
	}
	s.users.put(p.Subject, fingerprint, s.now())
	return nil
}

func equalPtr(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// Viewer returns the signed-in user.
func (s *Service) Viewer(ctx context.Context, p *auth.Principal) (User, error) {
	u, err := user(p)
	if err != nil {
		return User{}, err
	}
	return s.store.GetUser(ctx, u.Subject)
}

// Users returns the users with the given ids, in no particular order (the
// dataloader puts them in key order).
func (s *Service) Users(ctx context.Context, ids []string) ([]User, error) {
	return s.store.GetUsers(ctx, ids)
}

// Workspaces returns the workspaces with the given ids, in no particular order.
func (s *Service) Workspaces(ctx context.Context, ids []string) ([]Workspace, error) {
	return s.store.GetWorkspaces(ctx, ids)
}

// WorkspacesOf returns the viewer's workspaces.
func (s *Service) WorkspacesOf(ctx context.Context, p *auth.Principal) ([]Workspace, error) {
	u, err := user(p)
	if err != nil {
		return nil, err
	}
	return s.store.WorkspacesOf(ctx, u.Subject)
}

// Access returns what the principal may do in the workspace. It is what the
// @admin and @businessPlan directives consult, on every request.
func (s *Service) Access(ctx context.Context, p *auth.Principal, workspaceID string) (Access, error) {
	u, err := user(p)
	if err != nil {
		return Access{}, err
	}
	if !validID(workspaceID) {
		return Access{}, nil
	}
	return s.store.GetAccess(ctx, workspaceID, u.Subject)
}

// Workspace returns the workspace if the viewer is a member, or nil.
func (s *Service) Workspace(ctx context.Context, p *auth.Principal, id string) (*Workspace, error) {
	acc, err := s.Access(ctx, p, id)
	if err != nil || !acc.IsMember() {
		return nil, err
	}
	w, err := s.store.GetWorkspace(ctx, id)
	if err != nil {
		return nil, err
	}
	return &w, nil
}

// ViewerRole returns the viewer's role in the workspace.
func (s *Service) ViewerRole(ctx context.Context, p *auth.Principal, workspaceID string) (role.Role, error) {
	acc, err := s.Access(ctx, p, workspaceID)
	if err != nil {
		return "", err
	}
	if !acc.IsMember() {
		return "", apperr.New(apperr.Forbidden, "you are not a member of this workspace")
	}
	return *acc.Role, nil
}

// Members lists the workspace's members; any member may see them.
func (s *Service) Members(ctx context.Context, p *auth.Principal, workspaceID string) ([]Membership, error) {
	acc, err := s.Access(ctx, p, workspaceID)
	if err != nil {
		return nil, err
	}
	if !acc.IsMember() {
		return nil, apperr.New(apperr.Forbidden, "you are not a member of this workspace")
	}
	return s.store.ListMemberships(ctx, workspaceID)
}

// CreateWorkspace creates a workspace on the FREE plan with the viewer as its
// first admin.
func (s *Service) CreateWorkspace(ctx context.Context, p *auth.Principal, name string) (Workspace, error) {
	u, err := user(p)
	if err != nil {
		return Workspace{}, err
	}
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 100 {
		return Workspace{}, apperr.Invalid("input.name", "must be 1 to 100 characters")
	}
	var w Workspace
	err = s.store.InTx(ctx, func(tx Store) error {
		now := s.clock()
		w = Workspace{ID: ids.New(now), Name: name, Plan: PlanFree, CreatedAt: now, UpdatedAt: now}
		if err := tx.CreateWorkspace(ctx, w); err != nil {
			return err
		}
		m := Membership{WorkspaceID: w.ID, UserID: u.Subject, Role: role.Admin, JoinedAt: now}
		if err := tx.CreateMembership(ctx, m); err != nil {
			return err
		}
		return tx.AppendEvents(ctx, s.memberEvent(ctx, u, audit.MemberAdded, w.ID, userRef(u.Subject, u.Email), nil, ptr(role.Admin), now))
	})
	return w, err
}

// SetPlan changes a workspace's plan. Only a token with the billing:write
// scope may do it: it is how the billing system reports plan changes.
func (s *Service) SetPlan(ctx context.Context, p *auth.Principal, workspaceID string, plan Plan) (Workspace, error) {
	if p == nil {
		return Workspace{}, apperr.New(apperr.Unauthenticated, "sign in with a bearer token to use this operation")
	}
	if !p.HasScope(auth.ScopeBillingWrite) {
		return Workspace{}, apperr.New(apperr.Forbidden, "changing the plan needs a token with the %s scope", auth.ScopeBillingWrite)
	}
	if !plan.Valid() {
		return Workspace{}, apperr.Invalid("plan", "unknown plan %q", string(plan))
	}
	if !validID(workspaceID) {
		return Workspace{}, apperr.New(apperr.NotFound, "workspace not found")
	}
	var w Workspace
	err := s.store.InTx(ctx, func(tx Store) error {
		var err error
		if w, err = tx.LockWorkspace(ctx, workspaceID); err != nil {
			return notFound(err, "workspace not found")
		}
		if w.Plan == plan {
			return nil
		}
		w.Plan, w.UpdatedAt = plan, s.clock()
		return tx.SetPlan(ctx, workspaceID, plan, w.UpdatedAt)
	})
	return w, err
}

// lockAsAdmin locks the workspace and checks, under that lock, that the
// viewer is one of its admins. A missing workspace is FORBIDDEN too, so that
// ids cannot be probed.
func lockAsAdmin(ctx context.Context, tx Store, workspaceID, userID string) (Workspace, error) {
	forbidden := apperr.New(apperr.Forbidden, "only an admin of this workspace may do this")
	if !validID(workspaceID) {
		return Workspace{}, forbidden
	}
	w, r, err := tx.LockWorkspaceAs(ctx, workspaceID, userID)
	if errors.Is(err, apperr.ErrNotFound) || (err == nil && (r == nil || *r != role.Admin)) {
		return Workspace{}, forbidden
	}
	return w, err
}

// memberEvent builds an event whose actor is the viewer, stamped with the
// request's context.
func (s *Service) memberEvent(ctx context.Context, actor auth.Principal, action audit.Action, workspaceID string, target *audit.Target, prev, granted *role.Role, at time.Time) audit.Event {
	e := audit.Event{
		ID:           ids.New(at),
		WorkspaceID:  workspaceID,
		Action:       action,
		OccurredAt:   at,
		Actor:        audit.Actor{ID: actor.Subject, Email: ptr(actor.Email), Type: audit.ActorUser},
		Target:       target,
		PreviousRole: prev,
		Role:         granted,
	}
	audit.Stamp(ctx, &e)
	return e
}

func userRef(id, email string) *audit.Target {
	return &audit.Target{Type: audit.TargetUser, ID: id, Label: ptr(email)}
}

func ptr[T any](v T) *T { return &v }

// notFound turns the store's not-found into a NOT_FOUND with msg and passes
// other errors through.
func notFound(err error, msg string) error {
	if errors.Is(err, apperr.ErrNotFound) {
		return apperr.New(apperr.NotFound, "%s", msg)
	}
	return err
}

// validID reports whether s looks like an id this service issues. Ids that
// cannot exist are answered without a query.
func validID(s string) bool { return ids.Valid(s) }
