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
	"github.com/auditlogd/auditlogd/internal/email"
	"github.com/auditlogd/auditlogd/internal/ids"
	"github.com/auditlogd/auditlogd/internal/role"
)

// Limits on what one user can make, so that one account cannot grow the
// work of its own requests without bound (every list a request can ask for
// has a known maximum length, which the GraphQL cost model charges for).
const (
	// MaxWorkspacesPerUser bounds the workspaces a user belongs to: joining
	// or being added to one more is a CONFLICT, and Query.workspaces lists
	// at most this many.
	MaxWorkspacesPerUser = 100
	// DefaultWorkspacesPerUserPerDay bounds the workspaces one user creates
	// in any 24 hours (AUDITLOG_WORKSPACES_PER_USER_PER_DAY).
	DefaultWorkspacesPerUserPerDay = 20
	// DefaultPublicInviteTTL is how long a PUBLIC invite link lives when it
	// is created without expiresAt (AUDITLOG_PUBLIC_INVITE_TTL).
	DefaultPublicInviteTTL = 7 * 24 * time.Hour
)

// Service owns workspaces, memberships and invites, the access rules of
// every operation (it is the one place that decides who may do what; see
// access.go), and the audit events its changes write. Every mutating method
// runs one transaction that locks the workspace, checks the rules under that
// lock, makes the change and appends its events, so that a decision cannot
// be overtaken by a concurrent change.
type Service struct {
	store           Store
	now             func() time.Time
	publicURL       string
	publicInviteTTL time.Duration
	createdPerDay   int
	inviteThrottle  Throttle
	users           *userCache
	keyUses         *keyUses
	streams         *StreamPolicy
}

// Options configure a Service.
type Options struct {
	// PublicURL is the base of the invite URLs the service returns.
	PublicURL string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// PublicInviteTTL is the lifetime of a PUBLIC link created without
	// expiresAt; DefaultPublicInviteTTL when zero.
	PublicInviteTTL time.Duration
	// WorkspacesPerUserPerDay bounds the workspaces one user creates in any
	// 24 hours; DefaultWorkspacesPerUserPerDay when zero.
	WorkspacesPerUserPerDay int
}

// NewService returns a Service.
func NewService(store Store, o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.PublicInviteTTL <= 0 {
		o.PublicInviteTTL = DefaultPublicInviteTTL
	}
	if o.WorkspacesPerUserPerDay <= 0 {
		o.WorkspacesPerUserPerDay = DefaultWorkspacesPerUserPerDay
	}
	return &Service{store: store, publicURL: strings.TrimRight(o.PublicURL, "/"), now: o.Now,
		publicInviteTTL: o.PublicInviteTTL, createdPerDay: o.WorkspacesPerUserPerDay, users: newUserCache(),
		keyUses: &keyUses{last: map[string]time.Time{}}}
}

// EnsureUser creates or refreshes the user record of a user principal ("just
// in time" provisioning). It writes only when something changed, and skips
// even the read for an identity it saw unchanged within the last minute.
func (s *Service) EnsureUser(ctx context.Context, p auth.Principal) error {
	if !p.IsUser() {
		return nil
	}
	fingerprint := p.Email + "\x00" + p.Name + "\x00" + map[bool]string{true: "v"}[p.EmailVerified]
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
		if cur.Email == p.Email && cur.EmailVerified == p.EmailVerified && equalPtr(cur.Name, name) {
			s.users.put(p.Subject, fingerprint, s.now())
			return nil
		}
	case !errors.Is(err, apperr.ErrNotFound):
		return err
	}
	now := s.clock()
	u := User{ID: p.Subject, Email: p.Email, EmailVerified: p.EmailVerified, Name: name, CreatedAt: now, UpdatedAt: now}
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
// dataloader puts them in key order). Callers reach users only through
// objects the viewer may already see (members, invite creators).
func (s *Service) Users(ctx context.Context, ids []string) ([]User, error) {
	return s.store.GetUsers(ctx, ids)
}

// Workspaces returns the workspaces with the given ids, in no particular
// order; callers reach them only through the viewer's memberships.
func (s *Service) Workspaces(ctx context.Context, ids []string) ([]Workspace, error) {
	return s.store.GetWorkspaces(ctx, ids)
}

// WorkspacesOf returns the viewer's workspaces (at most
// MaxWorkspacesPerUser), and remembers the viewer's role in each for the
// rest of the request, so that asking each one's viewerRole, members or
// invites costs no further access query.
func (s *Service) WorkspacesOf(ctx context.Context, p *auth.Principal) ([]Workspace, error) {
	u, err := user(p)
	if err != nil {
		return nil, err
	}
	mws, err := s.store.WorkspacesOf(ctx, u.Subject, MaxWorkspacesPerUser)
	if err != nil {
		return nil, err
	}
	primeRoles(ctx, u.Subject, mws)
	out := make([]Workspace, len(mws))
	for i, w := range mws {
		out[i] = w.Workspace
	}
	return out, nil
}

// Workspace returns the workspace if the viewer is a member (or an API key
// of it), or nil.
func (s *Service) Workspace(ctx context.Context, p *auth.Principal, id string) (*Workspace, error) {
	acc, err := s.Access(ctx, p, id)
	if err != nil || (acc.RequireMember() != nil && !(acc.Key && acc.Exists)) {
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
	if err := acc.RequireMember(); err != nil {
		return "", err
	}
	return *acc.Role, nil
}

// Members lists the workspace's members; any member may see them.
func (s *Service) Members(ctx context.Context, p *auth.Principal, workspaceID string) ([]Membership, error) {
	acc, err := s.Access(ctx, p, workspaceID)
	if err != nil {
		return nil, err
	}
	if err := acc.RequireMember(); err != nil {
		return nil, err
	}
	return s.members(ctx, workspaceID)
}

// CreateWorkspace creates a workspace on the FREE plan with the viewer as its
// first admin. A user belongs to at most MaxWorkspacesPerUser workspaces and
// creates at most WorkspacesPerUserPerDay in any 24 hours.
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
		// One user's creations are counted one at a time.
		if err := tx.LockUser(ctx, u.Subject); err != nil {
			return err
		}
		if err := roomForOneMore(ctx, tx, u.Subject, "you"); err != nil {
			return err
		}
		created, err := tx.CountWorkspacesCreatedSince(ctx, u.Subject, s.now().Add(-24*time.Hour))
		if err != nil {
			return err
		}
		if created >= s.createdPerDay {
			return apperr.Throttled(time.Hour, "you have created %d workspaces in the last 24 hours, the most allowed; try again later", created)
		}
		start := s.clock()
		w = Workspace{ID: ids.New(start), Name: name, Plan: PlanFree, CreatedBy: u.Subject, CreatedAt: start, UpdatedAt: start}
		now, err := tx.CreateWorkspace(ctx, w)
		if err != nil {
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

// roomForOneMore refuses a membership that would take userID past
// MaxWorkspacesPerUser. who names the user in the message. It holds the
// user's row until the transaction ends before counting: the ways into a
// workspace (creating one, being added, accepting an invite) each lock a
// different workspace, so without the user's lock concurrent joins would all
// count the same memberships and all pass.
func roomForOneMore(ctx context.Context, tx Store, userID, who string) error {
	if err := tx.LockUser(ctx, userID); err != nil {
		return err
	}
	n, err := tx.CountMemberships(ctx, userID)
	if err != nil {
		return err
	}
	if n >= MaxWorkspacesPerUser {
		return apperr.New(apperr.Conflict, "%s already belong(s) to %d workspaces, the most allowed", who, n)
	}
	return nil
}

// SetPlan changes a workspace's plan. Only a token with the billing:write
// scope may do it: it is how the billing system reports plan changes.
func (s *Service) SetPlan(ctx context.Context, p *auth.Principal, workspaceID string, plan Plan) (Workspace, error) {
	if p == nil {
		return Workspace{}, errSignIn
	}
	if !p.HasScope(auth.ScopeBillingWrite) {
		return Workspace{}, apperr.New(apperr.Forbidden, "changing the plan needs a token with the %s scope", auth.ScopeBillingWrite)
	}
	if !plan.Valid() {
		return Workspace{}, apperr.Invalid("plan", "unknown plan %q", string(plan))
	}
	if !ids.Valid(workspaceID) {
		return Workspace{}, apperr.New(apperr.NotFound, "workspace not found")
	}
	var w Workspace
	err := s.store.InTx(ctx, func(tx Store) error {
		lk, err := tx.LockWorkspace(ctx, workspaceID, "")
		if err != nil {
			return notFound(err, "workspace not found")
		}
		w = lk.Workspace
		if w.Plan == plan {
			return nil
		}
		w.Plan, w.UpdatedAt = plan, lk.Now
		return tx.SetPlan(ctx, workspaceID, plan, w.UpdatedAt)
	})
	if err == nil {
		forget(ctx, workspaceID)
	}
	return w, err
}

// asAdmin runs fn in one transaction that has locked the workspace and found,
// under that lock, that the viewer is one of its admins — who may comes before
// what is asked, so fn validates its input only after this. A missing
// workspace is FORBIDDEN too, so that ids cannot be probed. After a change the
// request forgets what it knew of the workspace.
func (s *Service) asAdmin(ctx context.Context, p *auth.Principal, workspaceID string, fn func(tx Store, lk Locked, actor auth.Principal) error) error {
	actor, err := user(p)
	if err != nil {
		return err
	}
	err = s.store.InTx(ctx, func(tx Store) error {
		lk, err := lockAs(ctx, tx, workspaceID, actor.Subject)
		if err != nil {
			return err
		}
		if err := lk.Access().RequireAdmin(); err != nil {
			return err
		}
		return fn(tx, lk, actor)
	})
	forget(ctx, workspaceID)
	return err
}

// lockAs locks the workspace for userID; a workspace that does not exist (or
// an id that cannot exist) is refused as FORBIDDEN.
func lockAs(ctx context.Context, tx Store, workspaceID, userID string) (Locked, error) {
	if !ids.Valid(workspaceID) {
		return Locked{}, errNotAdmin
	}
	lk, err := tx.LockWorkspace(ctx, workspaceID, userID)
	if errors.Is(err, apperr.ErrNotFound) {
		return Locked{}, errNotAdmin
	}
	return lk, err
}

func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Millisecond) }

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

func userRef(id, address string) *audit.Target {
	return &audit.Target{Type: audit.TargetUser, ID: id, Label: ptr(address)}
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

// canonicalEmail checks an address typed into field and returns its
// canonical form (package email), or BAD_USER_INPUT.
func canonicalEmail(field, s string) (string, error) {
	c, err := email.Canonical(strings.TrimSpace(s))
	if err != nil {
		return "", apperr.Invalid(field, "must be a plain email address such as name@example.com, at most %d characters", email.MaxLen)
	}
	return c, nil
}
