package insight

import (
	"net/netip"
	"testing"
)

func TestNetwork(t *testing.T) {
	for _, tc := range []struct {
		name, addr, want string
	}{
		{"v4-is-its-24", "203.0.113.7", "203.0.113.0/24"},
		{"v4-first-of-the-24", "203.0.113.0", "203.0.113.0/24"},
		{"v4-last-of-the-24", "203.0.113.255", "203.0.113.0/24"},
		{"v4-neighbour-24", "203.0.114.1", "203.0.114.0/24"},
		{"v4-mapped-counts-as-v4", "::ffff:203.0.113.7", "203.0.113.0/24"},
		{"v6-is-its-64", "2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"},
		{"v6-other-host-same-64", "2001:db8:1:2::1", "2001:db8:1:2::/64"},
		{"v6-neighbour-64", "2001:db8:1:3::1", "2001:db8:1:3::/64"},
		{"v6-zone-dropped", "fe80::1%eth0", "fe80::/64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ParseNetwork(tc.addr)
			if !ok || got.String() != tc.want {
				t.Errorf("ParseNetwork(%q) = %v, %v; want %s", tc.addr, got, ok, tc.want)
			}
			if Network(netip.MustParseAddr(tc.addr)) != got {
				t.Error("Network and ParseNetwork disagree")
			}
		})
	}
}

func TestNetworkOfNothing(t *testing.T) {
	for _, s := range []string{"", "not-an-ip", "203.0.113.7:443", "203.0.113.0/24"} {
		if p, ok := ParseNetwork(s); ok {
			t.Errorf("ParseNetwork(%q) = %v, want none", s, p)
		}
	}
	if Network(netip.Addr{}).IsValid() {
		t.Error("Network of the zero Addr is valid")
	}
}
