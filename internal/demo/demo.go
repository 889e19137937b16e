// Package demo fills an empty database with a demo BUSINESS workspace and a
// believable month of history, made through the real services (so every event
// is exactly what production would write), with a clock that steps through
// the past month.
package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/auditlogd/auditlogd/internal/auth"
	"github.com/auditlogd/auditlogd/internal/ids"
	"github.com/auditlogd/auditlogd/internal/reqinfo"
	"github.com/auditlogd/auditlogd/internal/role"
	"github.com/auditlogd/auditlogd/internal/workspace"
)

// Admin is the demo workspace's admin, whose token serve --demo prints.
var Admin = auth.Principal{Subject: "demo-alice", Email: "alice@example.com", Name: "Alice Admin", EmailVerified: true}

// people of the demo, besides Alice.
var (
	bob   = auth.Principal{Subject: "demo-bob", Email: "bob@example.com", Name: "Bob Builder", EmailVerified: true}
	carol = auth.Principal{Subject: "demo-carol", Email: "carol@example.com", Name: "Carol Chen", EmailVerified: true}
	dave  = auth.Principal{Subject: "demo-dave", Email: "dave@example.com", Name: "Dave Diaz", EmailVerified: true}
	erin  = auth.Principal{Subject: "demo-erin", Email: "erin@example.com", Name: "Erin Evans", EmailVerified: true}
	// frank is from outside the workspace's domain: his addition is flagged
	// EXTERNAL_DOMAIN (docs/API.md §14).
	frank = auth.Principal{Subject: "demo-frank", Email: "frank.contractor@gmail.com", Name: "Frank Fischer", EmailVerified: true}
)

// WorkspaceName is the name of the demo workspace.
const WorkspaceName = "Acme Inc. (demo)"

// Result says what Seed made, or found: the demo workspace as it is now
// (a restart finds it with whatever plan it has since been given), and the
// demo admin's role in it.
type Result struct {
	Created     bool
	WorkspaceID string
	Name        string
	Plan        workspace.Plan
	// AdminRole is the demo admin's role in the workspace now.
	AdminRole role.Role
}

// CanReadLog reports whether the demo admin can read the workspace's audit
// log now: an ADMIN of a BUSINESS workspace.
func (r Result) CanReadLog() bool {
	return r.AdminRole == role.Admin && r.Plan == workspace.PlanBusiness
}

// steppingClock starts in the past and moves forward as the script says.
type steppingClock struct{ t time.Time }

func (c *steppingClock) now() time.Time        { return c.t }
func (c *steppingClock) after(d time.Duration) { c.t = c.t.Add(d) }

// Store is the workspace store with a clock of the demo's choosing (the
// demo's events happen over the past month).
type Store interface {
	workspace.Store
	WithClock(now func() time.Time) workspace.Store
}

// Seed creates the demo workspace if the demo admin has no workspace yet.
// Otherwise (a restart) it finds the demo workspace of the earlier run: the
// oldest of the admin's workspaces with the demo's name, or, if the admin
// has left it, the oldest of their workspaces. WorkspacesOf sorts by name, so
// the first of the list is not necessarily the demo's (the admin may have
// created "Acme" since). Either way the Result says the workspace's name,
// plan and the admin's role as they are now.
func Seed(ctx context.Context, store Store, publicURL string, now time.Time) (Result, error) {
	existing, err := store.WorkspacesOf(ctx, Admin.Subject, workspace.MaxWorkspacesPerUser)
	if err != nil {
		return Result{}, err
	}
	if len(existing) > 0 {
		return describe(ctx, store, pickDemo(existing))
	}
	clk := &steppingClock{t: now.Add(-30 * 24 * time.Hour)}
	svc := workspace.NewService(store.WithClock(clk.now), workspace.Options{PublicURL: publicURL, Now: clk.now})
	s := script{ctx: ctx, svc: svc, clk: clk}
	id := s.run()
	if s.err != nil {
		return Result{}, fmt.Errorf("demo: %w", s.err)
	}
	res, err := describe(ctx, store, workspace.Workspace{ID: id})
	res.Created = true
	return res, err
}

// pickDemo is the demo workspace among the admin's workspaces.
func pickDemo(mws []workspace.MemberWorkspace) workspace.Workspace {
	ws := make([]workspace.Workspace, len(mws))
	for i, m := range mws {
		ws[i] = m.Workspace
	}
	older := func(a, b workspace.Workspace) bool {
		return a.CreatedAt.Before(b.CreatedAt) || (a.CreatedAt.Equal(b.CreatedAt) && a.ID < b.ID)
	}
	var demo, oldest *workspace.Workspace
	for i := range ws {
		w := &ws[i]
		if oldest == nil || older(*w, *oldest) {
			oldest = w
		}
		if w.Name == WorkspaceName && (demo == nil || older(*w, *demo)) {
			demo = w
		}
	}
	if demo != nil {
		return *demo
	}
	return *oldest
}

// describe reads the workspace and the demo admin's role in it, now.
func describe(ctx context.Context, store workspace.Store, w workspace.Workspace) (Result, error) {
	ws, err := store.GetWorkspace(ctx, w.ID)
	if err != nil {
		return Result{}, err
	}
	m, err := store.GetMembership(ctx, ws.ID, Admin.Subject)
	if err != nil {
		return Result{}, err
	}
	return Result{WorkspaceID: ws.ID, Name: ws.Name, Plan: ws.Plan, AdminRole: m.Role}, nil
}

// script runs the demo's history, stopping at the first error.
type script struct {
	ctx context.Context
	svc *workspace.Service
	clk *steppingClock
	err error
}

// as returns a context that looks like a request from p's browser.
func (s *script) as(ip, ua string) context.Context {
	return reqinfo.With(s.ctx, reqinfo.Info{RequestID: ids.New(s.clk.now()), IPAddress: ip, UserAgent: ua})
}

const (
	firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
	safari  = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15"
	chrome  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)

func (s *script) do(f func() error) {
	if s.err == nil {
		s.err = f()
	}
}

func (s *script) signIn(ps ...auth.Principal) {
	for _, p := range ps {
		s.do(func() error { return s.svc.EnsureUser(s.ctx, p) })
	}
}

func (s *script) run() string {
	alice := Admin
	s.signIn(alice, bob, carol, dave, erin, frank)
	var ws workspace.Workspace
	s.do(func() (err error) {
		ws, err = s.svc.CreateWorkspace(s.as("203.0.113.10", firefox), &alice, WorkspaceName)
		return err
	})
	billing := auth.Principal{Subject: "billing", Scopes: []string{auth.ScopeBillingWrite}}
	s.do(func() error { _, err := s.svc.SetPlan(s.ctx, &billing, ws.ID, workspace.PlanBusiness); return err })

	s.clk.after(26 * time.Hour)
	var link workspace.CreatedInvite
	s.do(func() (err error) {
		link, err = s.svc.CreateInvite(s.as("203.0.113.10", firefox), &alice, workspace.CreateInviteInput{WorkspaceID: ws.ID, Kind: workspace.InvitePublic, Role: role.Member})
		return err
	})
	s.clk.after(3 * time.Hour)
	s.do(func() error {
		_, err := s.svc.AcceptInvite(s.as("198.51.100.23", safari), &bob, link.Token)
		return err
	})

	s.clk.after(2*24*time.Hour + 5*time.Hour)
	var carolInvite workspace.CreatedInvite
	s.do(func() (err error) {
		carolInvite, err = s.svc.CreateInvite(s.as("203.0.113.10", firefox), &alice, workspace.CreateInviteInput{WorkspaceID: ws.ID, Kind: workspace.InviteEmail, Email: &carol.Email, Role: role.Admin})
		return err
	})
	s.clk.after(50 * time.Minute)
	s.do(func() error {
		_, err := s.svc.AcceptInvite(s.as("192.0.2.44", chrome), &carol, carolInvite.Token)
		return err
	})

	s.clk.after(4 * 24 * time.Hour)
	s.do(func() error {
		_, err := s.svc.AddMember(s.as("192.0.2.44", chrome), &carol, ws.ID, dave.Email, role.Member)
		return err
	})
	s.clk.after(6 * 24 * time.Hour)
	s.do(func() error {
		_, err := s.svc.UpdateMemberRole(s.as("203.0.113.10", firefox), &alice, ws.ID, bob.Subject, role.Admin)
		return err
	})
	s.clk.after(3*24*time.Hour + 2*time.Hour)
	var erinInvite workspace.CreatedInvite
	s.do(func() (err error) {
		erinInvite, err = s.svc.CreateInvite(s.as("198.51.100.23", safari), &bob, workspace.CreateInviteInput{WorkspaceID: ws.ID, Kind: workspace.InviteEmail, Email: &erin.Email, Role: role.Member})
		return err
	})
	s.clk.after(20 * time.Hour)
	s.do(func() error {
		return s.svc.DeleteInvite(s.as("198.51.100.23", safari), &bob, ws.ID, erinInvite.Invite.ID)
	})
	s.clk.after(2 * 24 * time.Hour)
	s.do(func() error { return s.svc.RemoveMember(s.as("192.0.2.44", chrome), &carol, ws.ID, dave.Subject) })
	s.clk.after(5 * 24 * time.Hour)
	s.do(func() error { return s.svc.DeleteInvite(s.as("203.0.113.10", firefox), &alice, ws.ID, link.Invite.ID) })
	s.clk.after(2 * 24 * time.Hour)
	s.do(func() error {
		_, err := s.svc.UpdateMemberRole(s.as("203.0.113.10", firefox), &alice, ws.ID, bob.Subject, role.Member)
		return err
	})

	// The last days hold one event of each flag of docs/API.md §14, so that
	// the page's highlights and "this week" have something to show.
	s.clk.after(24 * time.Hour)
	s.do(func() error {
		_, err := s.svc.AddMember(s.as("192.0.2.44", chrome), &carol, ws.ID, frank.Email, role.Member) // EXTERNAL_DOMAIN
		return err
	})
	s.clk.after(20 * time.Hour)
	for i := range 10 { // alice invites the new hires: the tenth is a BURST
		s.clk.after(30 * time.Second)
		s.do(func() error {
			email := fmt.Sprintf("new.hire%d@example.com", i+1)
			_, err := s.svc.CreateInvite(s.as("203.0.113.10", firefox), &alice, workspace.CreateInviteInput{WorkspaceID: ws.ID, Kind: workspace.InviteEmail, Email: &email, Role: role.Member})
			return err
		})
	}
	s.clk.after(5 * time.Hour)
	s.do(func() error { // from a hotel: NEW_LOCATION, and ADMIN_GRANTED
		_, err := s.svc.UpdateMemberRole(s.as("192.0.2.77", safari), &alice, ws.ID, bob.Subject, role.Admin)
		return err
	})
	return ws.ID
}
