package insight

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/auditlogd/auditlogd/internal/role"
)

func nets(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range s {
		out = append(out, netip.MustParsePrefix(p))
	}
	return out
}

func TestDecideExternalDomain(t *testing.T) {
	trusted, _ := NormalizeTrustedDomains([]string{"example.com", "*.corp.example", "bücher.de"})
	for _, tc := range []struct {
		name string
		c    Context
		want bool
	}{
		{"invite-outside-trusted", Context{Action: "EMAIL_INVITE_CREATED", PersonEmail: "eve@gmail.com", TrustedDomains: trusted}, true},
		{"invite-inside-trusted", Context{Action: "EMAIL_INVITE_CREATED", PersonEmail: "bob@example.com", TrustedDomains: trusted}, false},
		{"domain-differs-only-in-case", Context{Action: "MEMBER_ADDED", PersonEmail: "Bob@EXAMPLE.COM", TrustedDomains: trusted}, false},
		{"idn-email-u-label-trusted-a-label", Context{Action: "MEMBER_ADDED", PersonEmail: "jo@bücher.de", TrustedDomains: trusted}, false},
		{"idn-email-a-label-trusted-a-label", Context{Action: "MEMBER_ADDED", PersonEmail: "jo@xn--bcher-kva.de", TrustedDomains: trusted}, false},
		{"idn-email-upper-u-label", Context{Action: "MEMBER_ADDED", PersonEmail: "jo@BÜCHER.DE", TrustedDomains: trusted}, false},
		{"look-alike-domain-is-external", Context{Action: "MEMBER_ADDED", PersonEmail: "ceo@ехample.com", TrustedDomains: trusted}, true},
		{"subdomain-of-exact-entry-is-external", Context{Action: "MEMBER_ADDED", PersonEmail: "a@mail.example.com", TrustedDomains: trusted}, true},
		{"wildcard-subdomain-is-trusted", Context{Action: "MEMBER_ADDED", PersonEmail: "a@eu.corp.example", TrustedDomains: trusted}, false},
		{"wildcard-apex-is-external", Context{Action: "MEMBER_ADDED", PersonEmail: "a@corp.example", TrustedDomains: trusted}, true},
		{"public-link-accepted-outside", Context{Action: "PUBLIC_INVITE_LINK_ACCEPTED", PersonEmail: "eve@gmail.com", TrustedDomains: trusted}, true},
		{"email-invite-accepted-outside", Context{Action: "EMAIL_INVITE_ACCEPTED", PersonEmail: "eve@gmail.com", TrustedDomains: trusted}, true},
		{"unset-admins-domain-is-trusted", Context{Action: "MEMBER_ADDED", PersonEmail: "bob@acme.io", AdminDomains: []string{"acme.io"}}, false},
		{"unset-outside-admins-domains", Context{Action: "MEMBER_ADDED", PersonEmail: "eve@gmail.com", AdminDomains: []string{"acme.io", "partner.io"}}, true},
		{"unset-admin-domain-in-another-case-and-form", Context{Action: "MEMBER_ADDED", PersonEmail: "jo@xn--bcher-kva.de", AdminDomains: []string{"BÜCHER.de"}}, false},
		{"set-trusted-wins-over-admins-domains", Context{Action: "MEMBER_ADDED", PersonEmail: "eve@gmail.com", TrustedDomains: trusted, AdminDomains: []string{"gmail.com"}}, true},
		{"unset-and-no-admins-first-event", Context{Action: "MEMBER_ADDED", PersonEmail: "founder@gmail.com", Role: role.Admin}, false},
		{"unset-and-only-unreadable-admin-domains", Context{Action: "MEMBER_ADDED", PersonEmail: "eve@gmail.com", AdminDomains: []string{"bad_domain"}}, false},
		{"unreadable-person-domain-is-external", Context{Action: "MEMBER_ADDED", PersonEmail: "eve@exa_mple.com", TrustedDomains: trusted}, true},
		{"no-person", Context{Action: "MEMBER_ADDED", TrustedDomains: trusted}, false},
		{"public-link-created-has-no-person", Context{Action: "PUBLIC_INVITE_LINK_CREATED", PersonEmail: "eve@gmail.com", TrustedDomains: trusted}, false},
		{"invite-deleted-is-not-inviting", Context{Action: "EMAIL_INVITE_DELETED", PersonEmail: "eve@gmail.com", TrustedDomains: trusted}, false},
		{"removal-is-not-adding", Context{Action: "MEMBER_REMOVED", PersonEmail: "eve@gmail.com", TrustedDomains: trusted}, false},
		{"role-change-is-not-adding", Context{Action: "MEMBER_ROLE_UPDATED", PersonEmail: "eve@gmail.com", TrustedDomains: trusted}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Decide(tc.c).Has(ExternalDomain); got != tc.want {
				t.Errorf("EXTERNAL_DOMAIN = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDecideAdminGranted(t *testing.T) {
	for _, tc := range []struct {
		name     string
		action   string
		prev, to role.Role
		want     bool
	}{
		{"added-as-admin", "MEMBER_ADDED", "", role.Admin, true},
		{"added-as-member", "MEMBER_ADDED", "", role.Member, false},
		{"invited-as-admin", "EMAIL_INVITE_CREATED", "", role.Admin, true},
		{"invited-as-member", "EMAIL_INVITE_CREATED", "", role.Member, false},
		{"email-invite-accepted-as-admin", "EMAIL_INVITE_ACCEPTED", "", role.Admin, true},
		{"public-link-accepted-as-admin", "PUBLIC_INVITE_LINK_ACCEPTED", "", role.Admin, true},
		{"changed-member-to-admin", "MEMBER_ROLE_UPDATED", role.Member, role.Admin, true},
		{"changed-admin-to-member", "MEMBER_ROLE_UPDATED", role.Admin, role.Member, false},
		{"admin-to-admin-changes-nothing", "MEMBER_ROLE_UPDATED", role.Admin, role.Admin, false},
		{"removing-an-admin", "MEMBER_REMOVED", role.Admin, "", false},
		{"deleting-an-admin-invite", "EMAIL_INVITE_DELETED", "", role.Admin, false},
		{"export", "AUDIT_LOG_EXPORTED", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Decide(Context{Action: tc.action, PreviousRole: tc.prev, Role: tc.to}).Has(AdminGranted)
			if got != tc.want {
				t.Errorf("ADMIN_GRANTED = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDecideBurst(t *testing.T) {
	for _, tc := range []struct {
		name   string
		action string
		recent int
		want   bool
	}{
		{"first", "MEMBER_ADDED", 0, false},
		{"ninth-event-is-not-a-burst", "MEMBER_ADDED", 8, false},
		{"tenth-event-is-a-burst", "MEMBER_ADDED", 9, true},
		{"eleventh-and-later", "MEMBER_REMOVED", 10, true},
		{"fiftieth", "MEMBER_ROLE_UPDATED", 49, true},
		{"tenth-invite-created", "EMAIL_INVITE_CREATED", 9, true},
		{"tenth-public-link-deleted", "PUBLIC_INVITE_LINK_DELETED", 9, true},
		{"tenth-acceptance", "EMAIL_INVITE_ACCEPTED", 9, true},
		{"export-is-not-user-management", "AUDIT_LOG_EXPORTED", 30, false},
		{"api-key-is-not-user-management", "API_KEY_CREATED", 30, false},
		{"log-stream-is-not-user-management", "LOG_STREAM_CREATED", 30, false},
		{"trusted-domains-is-not-user-management", "TRUSTED_DOMAINS_UPDATED", 30, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Decide(Context{Action: tc.action, RecentActorEvents: tc.recent}).Has(Burst)
			if got != tc.want {
				t.Errorf("BURST = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestBurstWindowBoundaries shows what the store must count: the actor's
// earlier user-management events at or after BurstWindowStart(t).
func TestBurstWindowBoundaries(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	// countBefore counts as the store does: earlier events whose time is
	// inside [BurstWindowStart(at), at].
	countBefore := func(earlier []time.Time, at time.Time) int {
		n := 0
		for _, e := range earlier {
			if !e.Before(BurstWindowStart(at)) && !e.After(at) {
				n++
			}
		}
		return n
	}
	every := func(first time.Time, n int, step time.Duration) []time.Time {
		var out []time.Time
		for i := range n {
			out = append(out, first.Add(time.Duration(i)*step))
		}
		return out
	}
	at := t0.Add(10 * time.Minute)
	for _, tc := range []struct {
		name    string
		earlier []time.Time
		want    bool
	}{
		{"nine-earlier-the-first-exactly-ten-minutes-before", every(t0, 9, time.Minute), true},
		{"nine-earlier-the-first-a-nanosecond-too-early", append(every(t0.Add(time.Minute), 8, time.Minute), t0.Add(-time.Nanosecond)), false},
		{"eight-earlier-within-a-minute", every(at.Add(-time.Minute), 8, time.Second), false},
		{"nine-earlier-at-the-same-instant", every(at, 9, 0), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Context{Action: "MEMBER_ADDED", RecentActorEvents: countBefore(tc.earlier, at)}
			if got := Decide(c).Has(Burst); got != tc.want {
				t.Errorf("BURST = %v with %d counted, want %v", got, c.RecentActorEvents, tc.want)
			}
		})
	}
	if !BurstWindowStart(at).Equal(t0) {
		t.Errorf("BurstWindowStart = %v, want %v", BurstWindowStart(at), t0)
	}
}

func TestDecideNewLocation(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Context
		want bool
	}{
		{"first-event-ever-is-not-new", Context{Address: "203.0.113.7"}, false},
		{"same-24-other-host", Context{Address: "203.0.113.200", ActorSeenBefore: true, SeenNetworks: nets("203.0.113.0/24")}, false},
		{"neighbouring-24", Context{Address: "203.0.114.7", ActorSeenBefore: true, SeenNetworks: nets("203.0.113.0/24")}, true},
		{"one-of-several-seen", Context{Address: "198.51.100.9", ActorSeenBefore: true, SeenNetworks: nets("203.0.113.0/24", "198.51.100.0/24")}, false},
		{"same-64-other-host", Context{Address: "2001:db8:1:2::beef", ActorSeenBefore: true, SeenNetworks: nets("2001:db8:1:2::/64")}, false},
		{"neighbouring-64", Context{Address: "2001:db8:1:3::1", ActorSeenBefore: true, SeenNetworks: nets("2001:db8:1:2::/64")}, true},
		{"same-48-other-64-is-new", Context{Address: "2001:db8:1:ffff::1", ActorSeenBefore: true, SeenNetworks: nets("2001:db8:1:2::/64")}, true},
		{"mapped-v4-is-the-v4-network", Context{Address: "::ffff:203.0.113.9", ActorSeenBefore: true, SeenNetworks: nets("203.0.113.0/24")}, false},
		{"v4-seen-as-mapped-stored-as-v4", Context{Address: "203.0.113.9", ActorSeenBefore: true, SeenNetworks: []netip.Prefix{Network(netip.MustParseAddr("::ffff:203.0.113.1"))}}, false},
		{"seen-network-given-unmasked", Context{Address: "203.0.113.9", ActorSeenBefore: true, SeenNetworks: nets("203.0.113.77/24")}, false},
		{"seen-before-but-not-within-retention", Context{Address: "203.0.113.9", ActorSeenBefore: true}, true},
		{"no-address", Context{ActorSeenBefore: true, SeenNetworks: nets("203.0.113.0/24")}, false},
		{"unparseable-address", Context{Address: "unknown", ActorSeenBefore: true}, false},
		{"applies-to-exports-too", Context{Action: "AUDIT_LOG_EXPORTED", Address: "192.0.2.1", ActorSeenBefore: true, SeenNetworks: nets("203.0.113.0/24")}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Decide(tc.c).Has(NewLocation); got != tc.want {
				t.Errorf("NEW_LOCATION = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDecideAllAtOnceInTheEnumsOrder(t *testing.T) {
	c := Context{
		Action: "MEMBER_ADDED", PersonEmail: "eve@gmail.com", Role: role.Admin,
		AdminDomains: []string{"acme.io"}, RecentActorEvents: 12,
		Address: "192.0.2.1", ActorSeenBefore: true, SeenNetworks: nets("203.0.113.0/24"),
	}
	if diff := cmp.Diff(Flags(), Decide(c).Flags()); diff != "" {
		t.Errorf("flags (-want +got):\n%s", diff)
	}
	if got := Decide(Context{}); got != 0 {
		t.Errorf("the zero Context has flags %v", got)
	}
}

func TestPersonEmail(t *testing.T) {
	for _, tc := range []struct {
		action, label, actor, want string
	}{
		{"EMAIL_INVITE_CREATED", "carol@x.io", "admin@acme.io", "carol@x.io"},
		{"MEMBER_ADDED", "dave@x.io", "admin@acme.io", "dave@x.io"},
		{"EMAIL_INVITE_ACCEPTED", "carol@x.io", "carol@x.io", "carol@x.io"},
		{"PUBLIC_INVITE_LINK_ACCEPTED", "", "eve@gmail.com", "eve@gmail.com"},
		{"MEMBER_REMOVED", "dave@x.io", "admin@acme.io", ""},
		{"MEMBER_ADDED", "not an email", "admin@acme.io", ""},
	} {
		if got := PersonEmail(tc.action, tc.label, tc.actor); got != tc.want {
			t.Errorf("PersonEmail(%s, %q, %q) = %q, want %q", tc.action, tc.label, tc.actor, got, tc.want)
		}
	}
}

func TestUserManagementActions(t *testing.T) {
	if n := len(UserManagementActions()); n != 9 {
		t.Errorf("%d user-management actions, want the 9 of docs/API.md §5 other than the export", n)
	}
	if IsUserManagement("AUDIT_LOG_EXPORTED") || !IsUserManagement("MEMBER_ROLE_UPDATED") {
		t.Error("IsUserManagement is wrong")
	}
}
