package httpserver

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientIP finds the address of the client behind a request. The
// X-Forwarded-For header is believed only as far as it was written by
// trusted proxies: walking it from the right, the first address that is not a
// trusted proxy is the client. Without trusted proxies the header is ignored,
// since any client can write it.
type clientIP struct {
	trusted []netip.Prefix
}

func (c clientIP) isTrusted(a netip.Addr) bool {
	for _, p := range c.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func remoteAddr(r *http.Request) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// of returns the client address of r, or "" if it cannot be known.
func (c clientIP) of(r *http.Request) string {
	remote, ok := remoteAddr(r)
	if !ok {
		return ""
	}
	if !c.isTrusted(remote) {
		return remote.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	client := remote
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // a forged or garbled entry: stop at the last good hop
		}
		client = a.Unmap()
		if !c.isTrusted(client) {
			break
		}
	}
	return client.String()
}

// fromTrustedProxy reports whether r came straight from a trusted proxy.
func (c clientIP) fromTrustedProxy(r *http.Request) bool {
	remote, ok := remoteAddr(r)
	return ok && c.isTrusted(remote)
}
