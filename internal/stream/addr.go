package stream

import (
	"fmt"
	"net/netip"
)

// RefusedAddressError is why a stream may not connect to an address: it is
// not a public unicast address on the internet. The message is short and
// safe to show an admin as a stream's lastError or a BAD_USER_INPUT message.
type RefusedAddressError struct {
	Addr   netip.Addr
	Reason string // "private", "loopback", "link-local", … (see refusedRanges)
}

func (e *RefusedAddressError) Error() string {
	return fmt.Sprintf("address %s is %s", e.Addr, e.Reason)
}

// rangeRule is one block of addresses a stream may not reach.
type rangeRule struct {
	prefix netip.Prefix
	reason string
}

// refusedV4 is every IPv4 block that is not a public unicast destination,
// after the IANA special-purpose registry (RFC 6890 and its updates). Blocks
// that are not routed on the internet (documentation, benchmarking, the
// protocol-assignment block) are refused too: no real receiver lives there,
// but internal networks do squat on them (198.18.0.0/15 especially), so
// allowing them would only open a door.
var refusedV4 = []rangeRule{
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified (this network)"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared (carrier-grade NAT)"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},
	{netip.MustParsePrefix("192.0.0.0/24"), "reserved (IETF protocol assignments)"},
	{netip.MustParsePrefix("192.0.2.0/24"), "reserved for documentation"},
	{netip.MustParsePrefix("192.88.99.0/24"), "reserved (6to4 relay anycast)"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},
	{netip.MustParsePrefix("198.18.0.0/15"), "reserved for benchmarking"},
	{netip.MustParsePrefix("198.51.100.0/24"), "reserved for documentation"},
	{netip.MustParsePrefix("203.0.113.0/24"), "reserved for documentation"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("255.255.255.255/32"), "broadcast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
}

// embedsV4 are IPv6 blocks whose addresses carry an IPv4 address in their
// low 32 bits (IPv4-mapped, IPv4-compatible, NAT64). Such an address is
// judged by the IPv4 address inside it, so ::ffff:127.0.0.1 and
// 64:ff9b::10.0.0.1 are refused while 64:ff9b::8.8.8.8 (a public server
// reached through a NAT64 gateway on an IPv6-only network) is allowed.
var embedsV4 = []netip.Prefix{
	netip.MustParsePrefix("::ffff:0:0/96"), // IPv4-mapped
	netip.MustParsePrefix("64:ff9b::/96"),  // NAT64 well-known prefix (RFC 6052)
	netip.MustParsePrefix("::/96"),         // IPv4-compatible (deprecated); :: and ::1 are caught before
}

// refusedV6 are the IPv6 blocks refused outright. Anything outside
// 2000::/3, the global unicast space, is refused as well (see checkAddr).
var refusedV6 = []rangeRule{
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "reserved (local-use NAT64)"},
	{netip.MustParsePrefix("100::/64"), "reserved (discard-only)"},
	{netip.MustParsePrefix("fc00::/7"), "private"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("fec0::/10"), "private (deprecated site-local)"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
	{netip.MustParsePrefix("2001::/32"), "reserved (Teredo tunnel)"},
	{netip.MustParsePrefix("2001:2::/48"), "reserved for benchmarking"},
	{netip.MustParsePrefix("2001:db8::/32"), "reserved for documentation"},
	{netip.MustParsePrefix("3fff::/20"), "reserved for documentation"},
}

var (
	globalUnicastV6 = netip.MustParsePrefix("2000::/3")
	sixToFour       = netip.MustParsePrefix("2002::/16")
)

// checkAddr returns nil when a may be reached by a stream without
// AUDITLOG_STREAM_ALLOW_PRIVATE, and a *RefusedAddressError naming a (as it
// was given, so the admin recognises it) otherwise.
func checkAddr(a netip.Addr) error {
	if reason := refusal(a.WithZone("")); reason != "" {
		return &RefusedAddressError{Addr: a, Reason: reason}
	}
	return nil
}

// refusal is why a is not a public unicast address, or "" when it is.
func refusal(a netip.Addr) string {
	if !a.IsValid() {
		return "invalid"
	}
	if a.Is4() {
		return refusalV4(a)
	}
	for _, r := range refusedV6 {
		if r.prefix.Contains(a) {
			return r.reason
		}
	}
	for _, p := range embedsV4 {
		if p.Contains(a) {
			b := a.As16()
			return refusalV4(netip.AddrFrom4([4]byte(b[12:16])))
		}
	}
	if sixToFour.Contains(a) {
		// 2002:AABB:CCDD::/48 routes to the 6to4 site of IPv4 AA.BB.CC.DD.
		b := a.As16()
		return refusalV4(netip.AddrFrom4([4]byte(b[2:6])))
	}
	if !globalUnicastV6.Contains(a) {
		return "reserved"
	}
	return ""
}

func refusalV4(a netip.Addr) string {
	for _, r := range refusedV4 {
		if r.prefix.Contains(a) {
			return r.reason
		}
	}
	return ""
}
