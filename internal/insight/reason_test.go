package insight

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/auditlogd/auditlogd/internal/role"
)

func TestReason(t *testing.T) {
	net24 := netip.MustParsePrefix("203.0.113.0/24")
	for _, tc := range []struct {
		name string
		flag Flag
		d    Details
		want string
	}{
		{"added-external", ExternalDomain, Details{Action: "MEMBER_ADDED", Domain: "gmail.com"}, "added someone from gmail.com, outside your trusted domains"},
		{"invited-external", ExternalDomain, Details{Action: "EMAIL_INVITE_CREATED", Domain: "gmail.com"}, "invited someone from gmail.com, outside your trusted domains"},
		{"accepted-external", ExternalDomain, Details{Action: "PUBLIC_INVITE_LINK_ACCEPTED", Domain: "gmail.com"}, "someone from gmail.com accepted an invite, outside your trusted domains"},
		{"accepted-external-unknown-domain", ExternalDomain, Details{Action: "EMAIL_INVITE_ACCEPTED"}, "someone from outside your trusted domains accepted an invite"},
		{"added-external-unknown-domain", ExternalDomain, Details{Action: "MEMBER_ADDED"}, "added someone from outside your trusted domains"},
		{"external-idn-shows-both-forms", ExternalDomain, Details{Action: "MEMBER_ADDED", Domain: "xn--bcher-kva.de"}, "added someone from xn--bcher-kva.de (bücher.de), outside your trusted domains"},
		{"admin", AdminGranted, Details{}, "gave the ADMIN role"},
		{"burst-10th", Burst, Details{BurstCount: 10}, "10th change by this person within 10 minutes"},
		{"burst-11th", Burst, Details{BurstCount: 11}, "11th change by this person within 10 minutes"},
		{"burst-21st", Burst, Details{BurstCount: 21}, "21st change by this person within 10 minutes"},
		{"burst-22nd", Burst, Details{BurstCount: 22}, "22nd change by this person within 10 minutes"},
		{"burst-23rd", Burst, Details{BurstCount: 23}, "23rd change by this person within 10 minutes"},
		{"burst-112th", Burst, Details{BurstCount: 112}, "112th change by this person within 10 minutes"},
		{"burst-count-unknown", Burst, Details{}, "10th or later change by this person within 10 minutes"},
		{"new-network-v4", NewLocation, Details{Network: net24}, "acted from a new network (203.0.113.0/24)"},
		{"new-network-v6", NewLocation, Details{Network: netip.MustParsePrefix("2001:db8:1:2::/64")}, "acted from a new network (2001:db8:1:2::/64)"},
		{"new-network-unknown", NewLocation, Details{}, "acted from a new network"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Reason(tc.flag, tc.d); got != tc.want {
				t.Errorf("Reason = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestReasonsFromTheWritePathAndTheReadPathAgree(t *testing.T) {
	c := Context{
		Action: "MEMBER_ADDED", PersonEmail: "Eve@GMAIL.com", Role: role.Admin,
		AdminDomains: []string{"acme.io"}, RecentActorEvents: 11,
		Address: "203.0.113.7", ActorSeenBefore: true,
	}
	flags := Decide(c)
	want := []string{
		"added someone from gmail.com, outside your trusted domains",
		"gave the ADMIN role",
		"12th change by this person within 10 minutes",
		"acted from a new network (203.0.113.0/24)",
	}
	if diff := cmp.Diff(want, Reasons(flags, DetailsOf(c))); diff != "" {
		t.Errorf("write path (-want +got):\n%s", diff)
	}
	// Read back from the stored event, the count is unknown; the rest is
	// the same.
	want[2] = "10th or later change by this person within 10 minutes"
	got := Reasons(flags, DetailsOfEvent("MEMBER_ADDED", "Eve@GMAIL.com", "admin@acme.io", "203.0.113.7"))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("read path (-want +got):\n%s", diff)
	}
	if got := DetailsOfEvent("PUBLIC_INVITE_LINK_ACCEPTED", "", "eve@gmail.com", "").Domain; got != "gmail.com" {
		t.Errorf("an acceptance's person is its actor: domain %q", got)
	}
	if got := Reasons(0, Details{}); got == nil || len(got) != 0 {
		t.Errorf("Reasons of no flags = %#v, want empty", got)
	}
}
