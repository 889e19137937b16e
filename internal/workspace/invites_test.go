package workspace_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/auditlogd/auditlogd/internal/apperr"
	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/auth"
	"github.com/auditlogd/auditlogd/internal/ratelimit"
	"github.com/auditlogd/auditlogd/internal/reqinfo"
	"github.com/auditlogd/auditlogd/internal/role"
	"github.com/auditlogd/auditlogd/internal/testenv"
	"github.com/auditlogd/auditlogd/internal/workspace"
)

// newLimiter is the throttle the server uses, n attempts a minute, on the
// fixture's clock.
func newLimiter(n int, c *clock) *ratelimit.Limiter { return ratelimit.PerMinute(n, c.Now) }

// TestCreateInviteRules shows the defaults and refusals of createInviteLink:
// a PUBLIC link without expiresAt expires after the configured lifetime and
// never grants ADMIN; an EMAIL invite keeps the canonical address and has no
// default expiry; inconsistent input is BAD_USER_INPUT naming the field.
func TestCreateInviteRules(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, tdb testenv.DB) {
		const ttl = 36 * time.Hour
		f := newFixture(t, tdb, func(o *workspace.Options) { o.PublicInviteTTL = ttl })
		ann := f.user("ann", true)
		ws := f.workspace(ann, workspace.PlanFree)
		now := f.clock.Now()
		later := now.Add(time.Hour + 1500*time.Microsecond)
		past := now.Add(-time.Millisecond)
		addr := func(s string) *string { return &s }
		ptime := func(t time.Time) *time.Time { return &t }

		type got struct {
			Code      apperr.Code
			Field     string
			Role      role.Role
			Email     *string
			ExpiresAt *time.Time
		}
		for _, tc := range []struct {
			name string
			in   workspace.CreateInviteInput
			want got
		}{
			{"public-default-expiry-and-role", workspace.CreateInviteInput{Kind: workspace.InvitePublic},
				got{Role: role.Member, ExpiresAt: ptime(now.Add(ttl))}},
			{"public-explicit-expiry-kept-to-the-millisecond", workspace.CreateInviteInput{Kind: workspace.InvitePublic, ExpiresAt: &later},
				got{Role: role.Member, ExpiresAt: ptime(later.Truncate(time.Millisecond))}},
			{"public-cannot-grant-admin", workspace.CreateInviteInput{Kind: workspace.InvitePublic, Role: role.Admin},
				got{Code: apperr.BadUserInput, Field: "input.role"}},
			{"public-with-email-refused", workspace.CreateInviteInput{Kind: workspace.InvitePublic, Email: addr("a@example.com")},
				got{Code: apperr.BadUserInput, Field: "input.email"}},
			{"expiry-in-the-past-refused", workspace.CreateInviteInput{Kind: workspace.InvitePublic, ExpiresAt: &past},
				got{Code: apperr.BadUserInput, Field: "input.expiresAt"}},
			{"expiry-now-refused", workspace.CreateInviteInput{Kind: workspace.InvitePublic, ExpiresAt: &now},
				got{Code: apperr.BadUserInput, Field: "input.expiresAt"}},
			{"email-without-address-refused", workspace.CreateInviteInput{Kind: workspace.InviteEmail},
				got{Code: apperr.BadUserInput, Field: "input.email"}},
			{"email-bad-address-refused", workspace.CreateInviteInput{Kind: workspace.InviteEmail, Email: addr("Carol <carol@example.com>")},
				got{Code: apperr.BadUserInput, Field: "input.email"}},
			{"email-may-grant-admin-no-default-expiry", workspace.CreateInviteInput{Kind: workspace.InviteEmail, Email: addr(" Carol@Example.COM "), Role: role.Admin},
				got{Role: role.Admin, Email: addr("carol@example.com")}},
			{"email-pending-invite-conflict", workspace.CreateInviteInput{Kind: workspace.InviteEmail, Email: addr("carol@example.com")},
				got{Code: apperr.Conflict}},
			{"email-for-a-member-conflict", workspace.CreateInviteInput{Kind: workspace.InviteEmail, Email: addr("ANN@example.com")},
				got{Code: apperr.Conflict}},
			{"unknown-kind-refused", workspace.CreateInviteInput{Kind: "SMOKE"},
				got{Code: apperr.BadUserInput, Field: "input.kind"}},
		} {
			in := tc.in
			in.WorkspaceID = ws
			c, err := f.svc.CreateInvite(f.ctx, ann, in)
			var g got
			if err != nil {
				g = got{Code: code(err)}
				if e, ok := apperr.As(err); ok {
					g.Field = e.Field
				}
			} else {
				g = got{Role: c.Invite.Role, Email: c.Invite.Email, ExpiresAt: c.Invite.ExpiresAt}
				stored, ok := f.invite(ann, ws, c.Invite.ID)
				if !ok || !cmp.Equal(stored.ExpiresAt, c.Invite.ExpiresAt) || stored.Role != c.Invite.Role || !cmp.Equal(stored.Email, c.Invite.Email) {
					t.Errorf("%s: stored %+v, returned %+v", tc.name, stored, c.Invite)
				}
				if c.URL != "https://auditlog.test/invite/"+c.Token {
					t.Errorf("%s: url %q", tc.name, c.URL)
				}
			}
			if diff := cmp.Diff(tc.want, g); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tc.name, diff)
			}
		}
	})
}

// TestPublicLinkUntilExpiryOrDeletion shows that a PUBLIC link admits any
// number of users until the millisecond it expires, and none once deleted;
// every acceptance writes the link's acceptance and the new member, and is
// counted on the link.
func TestPublicLinkUntilExpiryOrDeletion(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, tdb testenv.DB) {
		f := newFixture(t, tdb)
		ann := f.user("ann", true)
		ws := f.workspace(ann, workspace.PlanFree)
		exp := f.clock.Now().Add(time.Hour)
		link, err := f.svc.CreateInvite(f.ctx, ann, workspace.CreateInviteInput{WorkspaceID: ws, Kind: workspace.InvitePublic, ExpiresAt: &exp})
		if err != nil {
			t.Fatal(err)
		}
		var want []ev
		for i := range 3 {
			p := f.user(fmt.Sprint("u", i), i%2 == 0) // verification does not matter for PUBLIC
			m, err := f.svc.AcceptInvite(f.ctx, p, link.Token)
			if err != nil || m.Role != role.Member || m.UserID != p.Subject {
				t.Fatalf("acceptance %d: %+v, %v", i, m, err)
			}
			want = append(want, ev{Action: audit.PublicInviteLinkAccepted, Actor: p.Subject, Target: link.Invite.ID, Role: role.Member},
				ev{Action: audit.MemberAdded, Actor: p.Subject, Target: p.Subject, Role: role.Member})
		}
		f.clock.Advance(time.Hour - time.Millisecond)
		last := f.user("last", true)
		if _, err := f.svc.AcceptInvite(f.ctx, last, link.Token); err != nil {
			t.Errorf("one millisecond before expiry: %v", err)
		}
		want = append(want, ev{Action: audit.PublicInviteLinkAccepted, Actor: "last", Target: link.Invite.ID, Role: role.Member},
			ev{Action: audit.MemberAdded, Actor: "last", Target: "last", Role: role.Member})
		f.clock.Advance(time.Millisecond)
		if _, err := f.svc.AcceptInvite(f.ctx, f.user("late", true), link.Token); code(err) != apperr.NotFound {
			t.Errorf("at expiry: %v, want NOT_FOUND", err)
		}
		if inv, _ := f.invite(ann, ws, link.Invite.ID); inv.AcceptedCount != 4 {
			t.Errorf("acceptedCount %d, want 4", inv.AcceptedCount)
		}

		// A deleted link admits nobody.
		other, err := f.svc.CreateInvite(f.ctx, ann, workspace.CreateInviteInput{WorkspaceID: ws, Kind: workspace.InvitePublic})
		if err != nil {
			t.Fatal(err)
		}
		if err := f.svc.DeleteInvite(f.ctx, ann, ws, other.Invite.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.AcceptInvite(f.ctx, f.user("after-delete", true), other.Token); code(err) != apperr.NotFound {
			t.Errorf("deleted link: %v, want NOT_FOUND", err)
		}
		if err := f.svc.DeleteInvite(f.ctx, ann, ws, other.Invite.ID); code(err) != apperr.NotFound {
			t.Errorf("deleting twice: %v, want NOT_FOUND", err)
		}

		var got []ev
		for _, e := range summarize(f.eventsOf(ws)) {
			if e.Action == audit.PublicInviteLinkAccepted || (e.Action == audit.MemberAdded && e.Actor != "ann") {
				got = append(got, e)
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("acceptance events (-want +got):\n%s", diff)
		}
	})
}

// TestEmailInviteOnlyForTheInvitedAddress shows who may accept an EMAIL
// invite: a verified user whose address has the invite's canonical form
// (ASCII case and the IDNA form of the domain do not matter); a look-alike
// (Kelvin sign, long s) is another address, and an unverified address is not
// believed, both FORBIDDEN and writing nothing. Once accepted, the invite is
// used up.
func TestEmailInviteOnlyForTheInvitedAddress(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, tdb testenv.DB) {
		f := newFixture(t, tdb)
		ann := f.user("ann", true)
		for _, tc := range []struct {
			name     string
			invited  string
			accepter string
			verified bool
			want     apperr.Code
		}{
			{"exact-address", "kate@example.com", "kate@example.com", true, ""},
			{"ascii-case-ignored", "kate@example.com", "KATE@Example.Com", true, ""},
			{"idn-domain-same-mailbox", "anna@b\u00fccher.example", "anna@xn--bcher-kva.example", true, ""},
			{"kelvin-sign-is-another-address", "kate@example.com", "\u212Aate@example.com", true, apperr.Forbidden},
			{"kelvin-sign-invitee-is-another-address", "\u212Aate@example.com", "kate@example.com", true, apperr.Forbidden},
			{"long-s-is-another-address", "sam@example.com", "\u017Fam@example.com", true, apperr.Forbidden},
			{"other-address", "kate@example.com", "kat@example.com", true, apperr.Forbidden},
			{"unverified-exact-address", "kate@example.com", "kate@example.com", false, apperr.Forbidden},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ws := f.workspace(ann, workspace.PlanFree)
				inv, err := f.svc.CreateInvite(f.ctx, ann, workspace.CreateInviteInput{WorkspaceID: ws, Kind: workspace.InviteEmail, Email: &tc.invited})
				if err != nil {
					t.Fatal(err)
				}
				p := f.user("u-"+tc.name, tc.verified, tc.accepter)
				before := len(f.eventsOf(ws))
				m, err := f.svc.AcceptInvite(f.ctx, p, inv.Token)
				if code(err) != tc.want {
					t.Fatalf("AcceptInvite: %v, want %q", err, tc.want)
				}
				if tc.want != "" {
					if n := len(f.eventsOf(ws)) - before; n != 0 {
						t.Errorf("a refused acceptance wrote %d events", n)
					}
					if _, member := f.roles(ws)[p.Subject]; member {
						t.Errorf("a refused acceptance made %s a member", p.Subject)
					}
					return
				}
				if m.Role != role.Member || m.UserID != p.Subject {
					t.Errorf("membership %+v", m)
				}
				want := []ev{
					{Action: audit.EmailInviteAccepted, Actor: p.Subject, Target: inv.Invite.ID, Role: role.Member},
					{Action: audit.MemberAdded, Actor: p.Subject, Target: p.Subject, Role: role.Member},
				}
				if diff := cmp.Diff(want, summarize(f.eventsOf(ws)[before:])); diff != "" {
					t.Errorf("events (-want +got):\n%s", diff)
				}
				// Used up: another verified account with the same address
				// finds nothing.
				twin := f.user("twin-"+tc.name, true, tc.accepter)
				if _, err := f.svc.AcceptInvite(f.ctx, twin, inv.Token); code(err) != apperr.NotFound {
					t.Errorf("second acceptance: %v, want NOT_FOUND", err)
				}
			})
		}
	})
}

// TestAcceptingWhileMemberWritesNothing shows that accepting an invite into a
// workspace one already belongs to returns the membership as it is (an
// admin stays an admin), writes no event and does not count on the link.
func TestAcceptingWhileMemberWritesNothing(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, tdb testenv.DB) {
		f := newFixture(t, tdb)
		ann, mia := f.user("ann", true), f.user("mia", true)
		ws := f.workspace(ann, workspace.PlanFree)
		f.join(ann, ws, mia, role.Member)
		link, err := f.svc.CreateInvite(f.ctx, ann, workspace.CreateInviteInput{WorkspaceID: ws, Kind: workspace.InvitePublic})
		if err != nil {
			t.Fatal(err)
		}
		before := len(f.eventsOf(ws))
		for _, p := range []*auth.Principal{ann, mia, mia} {
			m, err := f.svc.AcceptInvite(f.ctx, p, link.Token)
			if err != nil {
				t.Errorf("%s: %v", p.Subject, err)
			}
			if want := f.roles(ws)[p.Subject]; m.Role != want || m.UserID != p.Subject {
				t.Errorf("%s: membership %+v, want role %s", p.Subject, m, want)
			}
		}
		if n := len(f.eventsOf(ws)) - before; n != 0 {
			t.Errorf("%d events written", n)
		}
		if inv, _ := f.invite(ann, ws, link.Invite.ID); inv.AcceptedCount != 0 {
			t.Errorf("acceptedCount %d, want 0", inv.AcceptedCount)
		}
		if diff := cmp.Diff(map[string]role.Role{"ann": role.Admin, "mia": role.Member}, f.roles(ws)); diff != "" {
			t.Errorf("roles (-want +got):\n%s", diff)
		}
	})
}

// TestConcurrentAcceptanceOfOneEmailInvite has two sessions of the invited
// user accept the same EMAIL invite at once, ten times over: the user is
// admitted once, with one pair of events and one counted acceptance; the
// other session either sees the membership or finds the invite used.
func TestConcurrentAcceptanceOfOneEmailInvite(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, tdb testenv.DB) {
		f := newFixture(t, tdb)
		ann, kate := f.user("ann", true), f.user("kate", true)
		for round := range 10 {
			ws := f.workspace(ann, workspace.PlanFree)
			inv, err := f.svc.CreateInvite(f.ctx, ann, workspace.CreateInviteInput{WorkspaceID: ws, Kind: workspace.InviteEmail, Email: &kate.Email})
			if err != nil {
				t.Fatal(err)
			}
			before := len(f.eventsOf(ws))
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i := range errs {
				ctx := reqinfo.With(context.Background(), reqinfo.Info{RequestID: fmt.Sprint("session-", i)})
				wg.Go(func() { _, errs[i] = f.svc.AcceptInvite(ctx, kate, inv.Token) })
			}
			wg.Wait()
			ok := 0
			for _, err := range errs {
				switch code(err) {
				case "":
					ok++
				case apperr.NotFound:
				default:
					t.Errorf("round %d: %v", round, err)
				}
			}
			if ok == 0 {
				t.Errorf("round %d: nobody admitted: %v, %v", round, errs[0], errs[1])
			}
			want := []ev{
				{Action: audit.EmailInviteAccepted, Actor: "kate", Target: inv.Invite.ID, Role: role.Member},
				{Action: audit.MemberAdded, Actor: "kate", Target: "kate", Role: role.Member},
			}
			if diff := cmp.Diff(want, summarize(f.eventsOf(ws)[before:])); diff != "" {
				t.Errorf("round %d: events (-want +got):\n%s", round, diff)
			}
			if got := f.roles(ws)["kate"]; got != role.Member {
				t.Errorf("round %d: kate is %q", round, got)
			}
		}
	})
}

// TestInviteThrottleCountsOnlyFailures shows which acceptInvite attempts
// count against the allowances of the user and of the client address: only
// those that find no usable invite (NOT_FOUND). Successes, acceptances that
// change nothing and FORBIDDEN refusals give their attempt back. Past the
// allowance every attempt, even with a good token, is RATE_LIMITED with a
// retry-after; an attempt refused by one allowance takes nothing from the
// other; and the clock gives attempts back.
func TestInviteThrottleCountsOnlyFailures(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, tdb testenv.DB) {
		const allowance = 3
		f := newFixture(t, tdb)
		f.svc.SetInviteThrottle(newLimiter(allowance, f.clock))
		from := func(ip string) context.Context {
			return reqinfo.With(context.Background(), reqinfo.Info{IPAddress: ip})
		}
		home, away, third := from("203.0.113.7"), from("198.51.100.9"), from("192.0.2.1")
		ann, uma, vic := f.user("ann", true), f.user("uma", true), f.user("vic", true)
		ws := f.workspace(ann, workspace.PlanFree)
		link, err := f.svc.CreateInvite(f.ctx, ann, workspace.CreateInviteInput{WorkspaceID: ws, Kind: workspace.InvitePublic})
		if err != nil {
			t.Fatal(err)
		}
		other := "someone@example.com"
		forAnother, err := f.svc.CreateInvite(f.ctx, ann, workspace.CreateInviteInput{WorkspaceID: ws, Kind: workspace.InviteEmail, Email: &other})
		if err != nil {
			t.Fatal(err)
		}

		attempt := func(ctx context.Context, p *auth.Principal, token string) error {
			_, err := f.svc.AcceptInvite(ctx, p, token)
			return err
		}
		// Far more than the allowance of attempts that do not fail.
		for i := range 2 * allowance {
			if err := attempt(home, uma, link.Token); err != nil {
				t.Fatalf("success %d: %v", i, err)
			}
			if err := attempt(home, uma, forAnother.Token); code(err) != apperr.Forbidden {
				t.Fatalf("forbidden %d: %v", i, err)
			}
		}
		// Then the allowance of failures, and no more.
		for i := range allowance {
			if err := attempt(home, uma, fmt.Sprint("inv_guess", i)); code(err) != apperr.NotFound {
				t.Fatalf("failure %d: %v, want NOT_FOUND", i, err)
			}
		}
		err = attempt(home, uma, link.Token)
		rateLimited(t, "good-token-past-the-allowance", err)
		rateLimited(t, "user-from-another-address", attempt(away, uma, link.Token))
		rateLimited(t, "another-user-from-the-same-address", attempt(home, vic, link.Token))
		// vic's refusal at home took nothing from vic's own allowance: the
		// full allowance of failures is left from another address.
		for i := range allowance {
			if err := attempt(away, vic, fmt.Sprint("inv_vic", i)); code(err) != apperr.NotFound {
				t.Errorf("vic away, failure %d: %v, want NOT_FOUND", i, err)
			}
		}
		rateLimited(t, "vic-past-the-allowance", attempt(third, vic, link.Token))

		e, _ := apperr.As(err)
		f.clock.Advance(e.RetryAfter)
		if err := attempt(third, uma, "inv_again"); code(err) != apperr.NotFound {
			t.Errorf("after the retry-after: %v, want NOT_FOUND", err)
		}
		rateLimited(t, "and-then-no-more", attempt(third, uma, link.Token))
	})
}

// TestInviteThrottleUnderConcurrency sends ten failing acceptances at once
// against an allowance of three: attempts are taken before they are tried,
// so exactly three are tried (NOT_FOUND) and seven are RATE_LIMITED.
func TestInviteThrottleUnderConcurrency(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, tdb testenv.DB) {
		const allowance = 3
		f := newFixture(t, tdb)
		f.svc.SetInviteThrottle(newLimiter(allowance, f.clock))
		uma := f.user("uma", true)
		errs := make([]error, 10)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() { _, errs[i] = f.svc.AcceptInvite(f.ctx, uma, fmt.Sprint("inv_guess", i)) })
		}
		wg.Wait()
		codes := map[apperr.Code]int{}
		for _, err := range errs {
			codes[code(err)]++
		}
		if diff := cmp.Diff(map[apperr.Code]int{apperr.NotFound: allowance, apperr.RateLimited: len(errs) - allowance}, codes); diff != "" {
			t.Errorf("outcomes (-want +got):\n%s", diff)
		}
	})
}
