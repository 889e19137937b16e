package insight

import "net/netip"

// The sizes of "a network" for NEW_LOCATION (docs/API.md §14): an IPv4 /24 is
// what one office, home or mobile carrier hands out around one address; an
// IPv6 /64 is one subnet, and the addresses within it change by themselves
// (privacy extensions), so comparing whole addresses would flag everyone.
const (
	networkBitsV4 = 24
	networkBitsV6 = 64
)

// Network is the network addr belongs to: its IPv4 /24 or IPv6 /64, masked
// ("203.0.113.7" → 203.0.113.0/24). An IPv4-mapped IPv6 address counts as
// the IPv4 address it carries, since it is the same client seen through a
// dual-stack socket; a zone is dropped. The zero Prefix for an invalid addr.
func Network(addr netip.Addr) netip.Prefix {
	if !addr.IsValid() {
		return netip.Prefix{}
	}
	a := addr.Unmap().WithZone("")
	bits := networkBitsV6
	if a.Is4() {
		bits = networkBitsV4
	}
	p, _ := a.Prefix(bits)
	return p
}

// ParseNetwork is Network of an address as an event records it
// (ipAddress), and false when there is none or it does not parse.
// Prefix.String() of the result is a good key to store seen networks by.
func ParseNetwork(ipAddress string) (netip.Prefix, bool) {
	a, err := netip.ParseAddr(ipAddress)
	if err != nil {
		return netip.Prefix{}, false
	}
	return Network(a), true
}
