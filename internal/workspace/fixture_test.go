package workspace_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/auditlogd/auditlogd/internal/apperr"
	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/auth"
	"github.com/auditlogd/auditlogd/internal/role"
	"github.com/auditlogd/auditlogd/internal/store"
	"github.com/auditlogd/auditlogd/internal/testenv"
	"github.com/auditlogd/auditlogd/internal/workspace"
)

// start is where every fixture's clock begins: a fixed moment, so that
// expiries, day limits and hour buckets fall the same way on every run.
var start = time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)

// clock is a settable clock that moves only when the test moves it. The
// service, the store (which stamps events after the lock) and the throttle
// all read it.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

// Now is the clock's time.
func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// countingStore is the real store with a count of its GetAccess calls, in and
// out of transactions; everything else goes straight through.
type countingStore struct {
	workspace.Store
	accessReads *atomic.Int64
}

func (s countingStore) InTx(ctx context.Context, fn func(tx workspace.Store) error) error {
	return s.Store.InTx(ctx, func(tx workspace.Store) error {
		return fn(countingStore{Store: tx, accessReads: s.accessReads})
	})
}

func (s countingStore) GetAccess(ctx context.Context, workspaceID, userID string) (workspace.Access, error) {
	s.accessReads.Add(1)
	return s.Store.GetAccess(ctx, workspaceID, userID)
}

// countingEvents is the real read side of the log with a record of the
// ListEvents calls: how many, and how many of them also read the access row.
type countingEvents struct {
	audit.Store
	lists, withAccess atomic.Int64
}

func (s *countingEvents) ListEvents(ctx context.Context, q audit.Query) (audit.ListResult, error) {
	s.lists.Add(1)
	if q.AccessOf != nil {
		s.withAccess.Add(1)
	}
	return s.Store.ListEvents(ctx, q)
}

// fixture is a workspace service on a fresh database, with the audit read
// side and the exporter wired to it as the server wires them.
type fixture struct {
	t           *testing.T
	ctx         context.Context
	db          *store.DB
	clock       *clock
	svc         *workspace.Service
	accessReads atomic.Int64
	events      *countingEvents
	audit       *audit.Service
	exporter    *audit.Exporter
	billing     *auth.Principal

	mu         sync.Mutex
	workspaces []string // created through the fixture, dumped on failure
}

// newFixture opens and migrates tdb and builds the services on it. edit may
// change the service's options (the clock is always the fixture's).
func newFixture(t *testing.T, tdb testenv.DB, edit ...func(*workspace.Options)) *fixture {
	t.Helper()
	f := &fixture{t: t, ctx: context.Background(), clock: &clock{now: start},
		billing: &auth.Principal{Subject: "billing-service", Scopes: []string{auth.ScopeBillingWrite}}}
	db, err := store.Open(f.ctx, tdb.URL, store.Options{Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(f.ctx); err != nil {
		t.Fatal(err)
	}
	f.db = db
	opts := workspace.Options{PublicURL: "https://auditlog.test", Now: f.clock.Now, WorkspacesPerUserPerDay: 1000}
	for _, e := range edit {
		e(&opts)
	}
	f.svc = workspace.NewService(countingStore{Store: db.Workspaces(), accessReads: &f.accessReads}, opts)
	f.events = &countingEvents{Store: db.Events()}
	f.audit = audit.NewService(f.events, f.svc, audit.NewCursorCodec([]byte("cursor-key-0123456789-abcdefghijklmnop")), 90*24*time.Hour, f.clock.Now)
	f.exporter = audit.NewExporter(db.Events(), f.svc, audit.NewURLSigner([]byte("export-key-0123456789-abcdefghijklmnop"), "https://auditlog.test"),
		audit.ExporterConfig{TTL: 15 * time.Minute, Retention: 90 * 24 * time.Hour, Now: f.clock.Now})
	t.Cleanup(f.dumpOnFailure)
	return f
}

// dumpOnFailure logs what the database holds of the fixture's workspaces
// when the test failed: members and every event, oldest first.
func (f *fixture) dumpOnFailure() {
	if !f.t.Failed() {
		return
	}
	f.mu.Lock()
	ids := append([]string(nil), f.workspaces...)
	f.mu.Unlock()
	ctx := context.Background()
	for _, id := range ids {
		var b strings.Builder
		fmt.Fprintf(&b, "workspace %s\n", id)
		ms, err := f.db.Workspaces().ListMembershipsOf(ctx, []string{id})
		fmt.Fprintf(&b, "  members (err %v):\n", err)
		for _, m := range ms {
			fmt.Fprintf(&b, "    %s %s joined %s\n", m.UserID, m.Role, m.JoinedAt.Format(time.RFC3339Nano))
		}
		evs, err := f.allEvents(ctx, id)
		fmt.Fprintf(&b, "  events (err %v):\n", err)
		for _, e := range evs {
			fmt.Fprintf(&b, "    %s %s %s by %s %s\n", e.OccurredAt.Format(time.RFC3339Nano), e.ID, e.Action, e.Actor.ID, describeTarget(e))
		}
		f.t.Log(b.String())
	}
}

func describeTarget(e audit.Event) string {
	s := ""
	if e.Target != nil {
		s = "on " + string(e.Target.Type) + " " + e.Target.ID
		if e.Target.Label != nil {
			s += " (" + *e.Target.Label + ")"
		}
	}
	if e.PreviousRole != nil {
		s += " from " + string(*e.PreviousRole)
	}
	if e.Role != nil {
		s += " to " + string(*e.Role)
	}
	return s
}

func (f *fixture) allEvents(ctx context.Context, workspaceID string) ([]audit.Event, error) {
	res, err := f.db.Events().ListEvents(ctx, audit.Query{WorkspaceID: workspaceID, Limit: 10_000})
	return res.Events, err
}

// eventsOf returns every event of the workspace, oldest first, straight from
// the store (no access rules, no retention window).
func (f *fixture) eventsOf(workspaceID string) []audit.Event {
	f.t.Helper()
	evs, err := f.allEvents(f.ctx, workspaceID)
	if err != nil {
		f.t.Fatalf("events of %s: %v", workspaceID, err)
	}
	return evs
}

// user signs a user in (EnsureUser) and returns their principal; the id is
// name, the email name@example.com unless address is given.
func (f *fixture) user(name string, verified bool, address ...string) *auth.Principal {
	f.t.Helper()
	p := &auth.Principal{Subject: name, Email: name + "@example.com", Name: name, EmailVerified: verified}
	if len(address) > 0 {
		p.Email = address[0]
	}
	if err := f.svc.EnsureUser(f.ctx, *p); err != nil {
		f.t.Fatalf("EnsureUser(%s): %v", name, err)
	}
	return p
}

// workspace creates a workspace owned (as its first admin) by owner, on plan.
func (f *fixture) workspace(owner *auth.Principal, plan workspace.Plan) string {
	f.t.Helper()
	w, err := f.svc.CreateWorkspace(f.ctx, owner, "ws of "+owner.Subject)
	if err != nil {
		f.t.Fatalf("CreateWorkspace by %s: %v", owner.Subject, err)
	}
	f.mu.Lock()
	f.workspaces = append(f.workspaces, w.ID)
	f.mu.Unlock()
	if plan != workspace.PlanFree {
		if _, err := f.svc.SetPlan(f.ctx, f.billing, w.ID, plan); err != nil {
			f.t.Fatalf("SetPlan(%s): %v", plan, err)
		}
	}
	return w.ID
}

// join makes p a member of the workspace with role r, through a PUBLIC link
// (and, for ADMIN, a promotion by admin), so that unverified users can join.
func (f *fixture) join(admin *auth.Principal, workspaceID string, p *auth.Principal, r role.Role) {
	f.t.Helper()
	inv, err := f.svc.CreateInvite(f.ctx, admin, workspace.CreateInviteInput{WorkspaceID: workspaceID, Kind: workspace.InvitePublic})
	if err != nil {
		f.t.Fatalf("CreateInvite: %v", err)
	}
	if _, err := f.svc.AcceptInvite(f.ctx, p, inv.Token); err != nil {
		f.t.Fatalf("AcceptInvite by %s: %v", p.Subject, err)
	}
	if r == role.Admin {
		if _, err := f.svc.UpdateMemberRole(f.ctx, admin, workspaceID, p.Subject, role.Admin); err != nil {
			f.t.Fatalf("UpdateMemberRole(%s, ADMIN): %v", p.Subject, err)
		}
	}
}

// roles returns the workspace's members and their roles.
func (f *fixture) roles(workspaceID string) map[string]role.Role {
	f.t.Helper()
	ms, err := f.db.Workspaces().ListMembershipsOf(f.ctx, []string{workspaceID})
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string]role.Role{}
	for _, m := range ms {
		out[m.UserID] = m.Role
	}
	return out
}

// invite returns the workspace's live invite with that id, as an admin's
// list shows it.
func (f *fixture) invite(admin *auth.Principal, workspaceID, id string) (workspace.Invite, bool) {
	f.t.Helper()
	invs, err := f.svc.InviteLinks(f.ctx, admin, workspaceID)
	if err != nil {
		f.t.Fatalf("InviteLinks: %v", err)
	}
	for _, inv := range invs {
		if inv.ID == id {
			return inv, true
		}
	}
	return workspace.Invite{}, false
}

// code is err's public code, "" for no error: what a client would see.
func code(err error) apperr.Code {
	if err == nil {
		return ""
	}
	return apperr.CodeOf(err)
}

// ev is the part of an event the service decides, for comparisons.
type ev struct {
	Action       audit.Action
	Actor        string
	Target       string
	PreviousRole role.Role
	Role         role.Role
}

// summarize projects events onto ev.
func summarize(evs []audit.Event) []ev {
	out := make([]ev, 0, len(evs))
	for _, e := range evs {
		s := ev{Action: e.Action, Actor: e.Actor.ID}
		if e.Target != nil {
			s.Target = e.Target.ID
		}
		if e.PreviousRole != nil {
			s.PreviousRole = *e.PreviousRole
		}
		if e.Role != nil {
			s.Role = *e.Role
		}
		out = append(out, s)
	}
	return out
}
