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
)

// Result says what Seed made.
type Result struct {
	Created     bool
	WorkspaceID string
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

// Seed creates the demo workspace if the database has no workspace yet. It
// returns the demo workspace of an earlier run otherwise, when it exists.
func Seed(ctx context.Context, store Store, publicURL string, now time.Time) (Result, error) {
	existing, err := store.WorkspacesOf(ctx, Admin.Subject, workspace.MaxWorkspacesPerUser)
	if err != nil {
		return Result{}, err
	}
	if len(existing) > 0 {
		return Result{WorkspaceID: existing[0].ID}, nil
	}
	clk := &steppingClock{t: now.Add(-30 * 24 * time.Hour)}
	svc := workspace.NewService(store.WithClock(clk.now), workspace.Options{PublicURL: publicURL, Now: clk.now})
	s := script{ctx: ctx, svc: svc, clk: clk}
	id := s.run()
	if s.err != nil {
		return Result{}, fmt.Errorf("demo: %w", s.err)
	}
	return Result{Created: true, WorkspaceID: id}, nil
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
	s.signIn(alice, bob, carol, dave, erin)
	var ws workspace.Workspace
	s.do(func() (err error) {
		ws, err = s.svc.CreateWorkspace(s.as("203.0.113.10", firefox), &alice, "Acme Inc. (demo)")
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
	return ws.ID
}
