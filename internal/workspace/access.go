package workspace

import (
	"context"
	"errors"
	"sync"

	"github.com/auditlogd/auditlogd/internal/apperr"
	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/auth"
	"github.com/auditlogd/auditlogd/internal/ids"
)

// The refusals of the access rules, each written once. A workspace that does
// not exist is refused like one the user does not belong to, so that ids
// cannot be probed.
var (
	errSignIn    = apperr.New(apperr.Unauthenticated, "sign in with a bearer token to use this operation")
	errUserOnly  = apperr.New(apperr.Unauthenticated, "this operation needs a user token (one with an email claim)")
	errNotMember = apperr.New(apperr.Forbidden, "you are not a member of this workspace")
	errNotAdmin  = apperr.New(apperr.Forbidden, "only an admin of this workspace may do this")
	errNeedsPlan = apperr.New(apperr.BusinessPlanRequired, "the audit log is available on the Business plan")
	errKeyOnly   = apperr.New(apperr.Forbidden, "an API key may only read its own workspace's audit log")
)

// RequireMember allows any member.
func (a Access) RequireMember() error {
	if !a.IsMember() {
		return errNotMember
	}
	return nil
}

// RequireAdmin allows an admin.
func (a Access) RequireAdmin() error {
	if !a.IsAdmin() {
		return errNotAdmin
	}
	return nil
}

// RequireLogRead allows an admin of a BUSINESS workspace: who may comes
// before what the plan allows, so that a workspace's plan is never revealed
// to someone who may not administer it.
//
// An API key of the workspace needs no role: reading the log is all it may
// do, while the workspace is on BUSINESS.
func (a Access) RequireLogRead() error {
	if a.Key && a.Exists {
		if a.Plan != PlanBusiness {
			return errNeedsPlan
		}
		return nil
	}
	if err := a.RequireAdmin(); err != nil {
		return err
	}
	if a.Plan != PlanBusiness {
		return errNeedsPlan
	}
	return nil
}

// user returns the principal if it is a user, or UNAUTHENTICATED (FORBIDDEN
// for an API key, which is authenticated but may only read its log).
func user(p *auth.Principal) (auth.Principal, error) {
	if p == nil {
		return auth.Principal{}, errSignIn
	}
	if p.APIKey != nil {
		return auth.Principal{}, errKeyOnly
	}
	if !p.IsUser() {
		return auth.Principal{}, errUserOnly
	}
	return *p, nil
}

// Access returns what the principal may do in the workspace, from the
// request's memory when an earlier field of the request already read it (see
// WithRequestScope), otherwise with one query.
func (s *Service) Access(ctx context.Context, p *auth.Principal, workspaceID string) (Access, error) {
	if p != nil && p.APIKey != nil {
		return s.keyAccess(ctx, p, workspaceID)
	}
	u, err := user(p)
	if err != nil {
		return Access{}, err
	}
	if !ids.Valid(workspaceID) {
		return Access{}, nil // cannot exist: answered without a query
	}
	sc := scopeFrom(ctx)
	if sc == nil {
		return s.store.GetAccess(ctx, workspaceID, u.Subject)
	}
	return sc.access(u.Subject, workspaceID, func() (Access, error) {
		return s.store.GetAccess(ctx, workspaceID, u.Subject)
	})
}

// keyAccess is the access of an API key: none outside its workspace; in it,
// no role, and the workspace's plan.
func (s *Service) keyAccess(ctx context.Context, p *auth.Principal, workspaceID string) (Access, error) {
	if workspaceID != p.APIKey.WorkspaceID || !ids.Valid(workspaceID) {
		return Access{}, nil
	}
	read := func() (Access, error) {
		acc, err := s.store.GetAccess(ctx, workspaceID, "")
		acc.Key = acc.Exists
		return acc, err
	}
	if sc := scopeFrom(ctx); sc != nil {
		return sc.access(p.Subject, workspaceID, read)
	}
	return read()
}

// AuthorizeLogRead implements audit.Gate: the audit log (pages, counts,
// exports, downloads) is for admins of BUSINESS workspaces.
func (s *Service) AuthorizeLogRead(ctx context.Context, p *auth.Principal, workspaceID string, row *audit.AccessRow) error {
	if p == nil {
		return errSignIn
	}
	if p.APIKey == nil && !p.IsUser() {
		return errUserOnly
	}
	var (
		acc Access
		err error
	)
	if row != nil {
		acc = Access{Exists: row.Exists, Plan: Plan(row.Plan), Role: row.Role}
		if p.APIKey != nil {
			// A key has no role; it stands only in its own workspace.
			acc.Role, acc.Key = nil, acc.Exists && p.APIKey.WorkspaceID == workspaceID
		}
		if sc := scopeFrom(ctx); sc != nil && ids.Valid(workspaceID) {
			sc.remember(p.Subject, workspaceID, acc)
		}
	} else if acc, err = s.Access(ctx, p, workspaceID); err != nil {
		return err
	}
	return acc.RequireLogRead()
}

// AuthorizeDownload implements audit.Gate: an export's file is served only
// while its requester is still an admin of the workspace and the workspace
// is still on BUSINESS.
//
// For an export requested with an API key, the key must still be live.
func (s *Service) AuthorizeDownload(ctx context.Context, requestedBy string, byKey bool, workspaceID string) error {
	if !ids.Valid(workspaceID) {
		return errNotAdmin
	}
	if byKey {
		k, err := s.store.GetAPIKey(ctx, workspaceID, requestedBy)
		if errors.Is(err, apperr.ErrNotFound) || (err == nil && !k.Live(s.now())) {
			return errKeyOnly
		}
		if err != nil {
			return err
		}
		requestedBy = ""
	}
	acc, err := s.store.GetAccess(ctx, workspaceID, requestedBy)
	if err != nil {
		return err
	}
	acc.Key = byKey && acc.Exists
	return acc.RequireLogRead()
}

// KnowsAccess implements audit.Gate.
func (s *Service) KnowsAccess(ctx context.Context, p *auth.Principal, workspaceID string) bool {
	sc := scopeFrom(ctx)
	return sc != nil && p != nil && sc.known(p.Subject, workspaceID)
}

// EarlyRefusal is what the @admin and @businessPlan directives ask before a
// guarded field runs: it refuses, without a query, what every guarded field
// would refuse anyway — no principal, a workspace id that cannot exist, and a
// principal the request already knows to have no place in the workspace. It
// never allows anything: the service behind the field decides, with the
// same rules, whatever EarlyRefusal lets through.
func (s *Service) EarlyRefusal(ctx context.Context, p *auth.Principal, workspaceID string) error {
	if p != nil && p.APIKey != nil {
		if workspaceID != p.APIKey.WorkspaceID {
			return errKeyOnly
		}
		return nil
	}
	u, err := user(p)
	if err != nil {
		return err
	}
	if !ids.Valid(workspaceID) {
		return errNotAdmin
	}
	if sc := scopeFrom(ctx); sc != nil {
		if acc, ok := sc.cached(u.Subject, workspaceID); ok && !acc.IsMember() {
			return errNotAdmin
		}
	}
	return nil
}

// scope is the memory one request keeps: the access rows already read, so
// that however many fields (or aliases of one field) ask about a workspace,
// the request reads its access row once; and the batch loaders of member and
// invite lists. Nothing in it outlives the request.
type scope struct {
	mu   sync.Mutex
	rows map[string]*accessEntry
	// lists batches the member and invite lists that a request's fields ask
	// for, one query for all the workspaces of a request.
	lists *listLoaders
}

// accessEntry is one access row, read once: concurrent fields wait for the
// first reader instead of querying too.
type accessEntry struct {
	ready chan struct{}
	acc   Access
	err   error
}

type scopeKey struct{}

// WithRequestScope returns a context with a fresh per-request memory; the
// GraphQL handler installs one per request.
func (s *Service) WithRequestScope(ctx context.Context) context.Context {
	return context.WithValue(ctx, scopeKey{}, &scope{rows: map[string]*accessEntry{}, lists: s.newListLoaders()})
}

func scopeFrom(ctx context.Context) *scope {
	sc, _ := ctx.Value(scopeKey{}).(*scope)
	return sc
}

func accessKey(userID, workspaceID string) string { return userID + "\x00" + workspaceID }

// access returns the row for (userID, workspaceID), reading it with read the
// first time only.
func (sc *scope) access(userID, workspaceID string, read func() (Access, error)) (Access, error) {
	k := accessKey(userID, workspaceID)
	sc.mu.Lock()
	e, ok := sc.rows[k]
	if !ok {
		e = &accessEntry{ready: make(chan struct{})}
		sc.rows[k] = e
	}
	sc.mu.Unlock()
	if ok {
		<-e.ready
		return e.acc, e.err
	}
	e.acc, e.err = read()
	if e.err != nil {
		// A failed read is not remembered: a later field may try again.
		sc.mu.Lock()
		delete(sc.rows, k)
		sc.mu.Unlock()
	}
	close(e.ready)
	return e.acc, e.err
}

// remember stores a row read by other means (with the list of the user's
// workspaces, or together with a page of the log).
func (sc *scope) remember(userID, workspaceID string, acc Access) {
	e := &accessEntry{ready: make(chan struct{}), acc: acc}
	close(e.ready)
	sc.mu.Lock()
	sc.rows[accessKey(userID, workspaceID)] = e
	sc.mu.Unlock()
}

// cached returns the row if it has been read already (without waiting).
func (sc *scope) cached(userID, workspaceID string) (Access, bool) {
	sc.mu.Lock()
	e, ok := sc.rows[accessKey(userID, workspaceID)]
	sc.mu.Unlock()
	if !ok {
		return Access{}, false
	}
	select {
	case <-e.ready:
		return e.acc, e.err == nil
	default:
		return Access{}, false
	}
}

func (sc *scope) known(userID, workspaceID string) bool {
	_, ok := sc.cached(userID, workspaceID)
	return ok
}

// forget drops every remembered row of the workspace: a mutation changed it,
// and later fields of the same response must see the change.
func (sc *scope) forget(workspaceID string) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	for k := range sc.rows {
		if len(k) >= len(workspaceID) && k[len(k)-len(workspaceID):] == workspaceID {
			delete(sc.rows, k)
		}
	}
	sc.lists.forget(workspaceID)
}

// forget drops the request's memory of the workspace after a change.
func forget(ctx context.Context, workspaceID string) {
	if sc := scopeFrom(ctx); sc != nil {
		sc.forget(workspaceID)
	}
}

// primeRoles remembers the access rows that a list of the user's workspaces
// already holds.
func primeRoles(ctx context.Context, userID string, ws []MemberWorkspace) {
	sc := scopeFrom(ctx)
	if sc == nil {
		return
	}
	ids := make([]string, len(ws))
	for i, w := range ws {
		r := w.Role
		sc.remember(userID, w.ID, Access{Exists: true, Plan: w.Plan, Role: &r})
		ids[i] = w.ID
	}
	sc.lists.list(ids)
}
