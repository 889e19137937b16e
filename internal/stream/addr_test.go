package stream

import (
	"errors"
	"net/netip"
	"testing"
)

// refusedCases is one or more addresses from every block a stream may not
// reach, with the reason the admin is told. The client tests dial each of
// them too.
var refusedCases = []struct {
	name, addr, reason string
}{
	{"this-network-0.0.0.0/8", "0.1.2.3", "unspecified (this network)"},
	{"unspecified-v4", "0.0.0.0", "unspecified (this network)"},
	{"private-10/8", "10.0.0.5", "private"},
	{"private-172.16/12-low", "172.16.0.1", "private"},
	{"private-172.16/12-high", "172.31.255.254", "private"},
	{"private-192.168/16", "192.168.1.1", "private"},
	{"cgnat-100.64/10-low", "100.64.0.1", "shared (carrier-grade NAT)"},
	{"cgnat-100.64/10-high", "100.127.255.254", "shared (carrier-grade NAT)"},
	{"loopback-127.0.0.1", "127.0.0.1", "loopback"},
	{"loopback-127/8", "127.1.2.3", "loopback"},
	{"link-local-169.254/16-metadata", "169.254.169.254", "link-local"},
	{"ietf-protocol-192.0.0/24", "192.0.0.170", "reserved (IETF protocol assignments)"},
	{"documentation-192.0.2/24", "192.0.2.10", "reserved for documentation"},
	{"documentation-198.51.100/24", "198.51.100.7", "reserved for documentation"},
	{"documentation-203.0.113/24", "203.0.113.9", "reserved for documentation"},
	{"benchmarking-198.18/15", "198.19.0.1", "reserved for benchmarking"},
	{"6to4-relay-192.88.99/24", "192.88.99.1", "reserved (6to4 relay anycast)"},
	{"multicast-224/4", "239.255.255.250", "multicast"},
	{"broadcast", "255.255.255.255", "broadcast"},
	{"reserved-240/4", "240.0.0.1", "reserved"},
	{"unspecified-v6", "::", "unspecified"},
	{"loopback-v6", "::1", "loopback"},
	{"unique-local-fc00/7", "fd12:3456::1", "private"},
	{"unique-local-fc00/7-fc", "fc00::1", "private"},
	{"link-local-fe80/10", "fe80::1", "link-local"},
	{"link-local-fe80/10-zoned", "fe80::1%eth0", "link-local"},
	{"site-local-fec0/10", "fec0::1", "private (deprecated site-local)"},
	{"multicast-ff00/8", "ff02::1", "multicast"},
	{"mapped-loopback", "::ffff:127.0.0.1", "loopback"},
	{"mapped-private", "::ffff:10.1.2.3", "private"},
	{"mapped-link-local", "::ffff:169.254.169.254", "link-local"},
	{"mapped-cgnat", "::ffff:100.100.100.100", "shared (carrier-grade NAT)"},
	{"compatible-loopback", "::127.0.0.1", "loopback"},
	{"compatible-private", "::192.168.0.1", "private"},
	{"nat64-private", "64:ff9b::10.0.0.1", "private"},
	{"nat64-loopback", "64:ff9b::127.0.0.1", "loopback"},
	{"nat64-local-use", "64:ff9b:1::808:808", "reserved (local-use NAT64)"},
	{"6to4-embedding-private", "2002:c0a8:0101::1", "private"},
	{"6to4-embedding-loopback", "2002:7f00:1::1", "loopback"},
	{"teredo", "2001:0:4136:e378::1", "reserved (Teredo tunnel)"},
	{"documentation-2001:db8/32", "2001:db8::1", "reserved for documentation"},
	{"documentation-3fff/20", "3fff::1", "reserved for documentation"},
	{"benchmarking-2001:2/48", "2001:2::1", "reserved for benchmarking"},
	{"discard-100::/64", "100::1", "reserved (discard-only)"},
	{"outside-global-unicast", "4000::1", "reserved"},
}

func TestCheckAddrRefusesEveryNonPublicRange(t *testing.T) {
	for _, tc := range refusedCases {
		t.Run(tc.name, func(t *testing.T) {
			a := netip.MustParseAddr(tc.addr)
			err := checkAddr(a)
			var refused *RefusedAddressError
			if !errors.As(err, &refused) {
				t.Fatalf("checkAddr(%s) = %v, want a refusal", tc.addr, err)
			}
			if refused.Reason != tc.reason {
				t.Errorf("reason = %q, want %q", refused.Reason, tc.reason)
			}
			if want := "address " + a.String() + " is " + tc.reason; err.Error() != want {
				t.Errorf("message = %q, want %q", err.Error(), want)
			}
		})
	}
}

func TestCheckAddrAllowsPublicAddresses(t *testing.T) {
	for _, tc := range []struct{ name, addr string }{
		{"v4-public", "8.8.8.8"},
		{"v4-just-below-10/8", "9.255.255.255"},
		{"v4-just-above-172.16/12", "172.32.0.1"},
		{"v4-just-below-cgnat", "100.63.255.255"},
		{"v4-just-above-cgnat", "100.128.0.1"},
		{"v4-next-to-192.0.0/24", "192.0.1.1"},
		{"v4-just-below-multicast", "223.255.255.254"},
		{"v6-public", "2606:4700:4700::1111"},
		{"mapped-public", "::ffff:8.8.8.8"},
		{"nat64-public", "64:ff9b::8.8.8.8"},
		{"6to4-embedding-public", "2002:0808:0808::1"},
		{"v6-next-to-documentation", "2001:db9::1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := checkAddr(netip.MustParseAddr(tc.addr)); err != nil {
				t.Errorf("checkAddr(%s) = %v, want nil", tc.addr, err)
			}
		})
	}
}

func TestCheckAddrRefusesTheInvalidAddress(t *testing.T) {
	if err := checkAddr(netip.Addr{}); err == nil {
		t.Error("the zero netip.Addr was allowed")
	}
}
