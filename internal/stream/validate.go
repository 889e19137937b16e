package stream

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/auditlogd/auditlogd/internal/apperr"
)

// MaxURLLength bounds a stream's URL. Real endpoints are far shorter; the
// bound keeps a stored URL, its log lines and its label small.
const MaxURLLength = 2048

// urlField is the input field ValidateURL's errors name: the url of
// createLogStream's input (docs/API.md §11).
const urlField = "input.url"

// lookupTimeout bounds the DNS lookup of ValidateURL, so that a name whose
// servers never answer fails the mutation quickly instead of holding it.
const lookupTimeout = 5 * time.Second

// Resolver resolves a host name to its addresses. *net.Resolver satisfies
// it (net.DefaultResolver in production); tests pass a fake so that a name
// can resolve to 127.0.0.1 without touching DNS.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// ValidateURL checks a stream URL when the stream is created, and returns it
// parsed. Its errors are BAD_USER_INPUT on the field input.url, with a
// message an admin can act on.
//
// Unless allowPrivate, the URL must be https and every address its host
// resolves to must be public (see checkAddr). This is a courtesy — it tells
// the admin now rather than at the first delivery — and not the defence: DNS
// can answer differently later, so Client checks the address it actually
// connects to, every time.
//
// With allowPrivate (AUDITLOG_STREAM_ALLOW_PRIVATE=true), http and private
// addresses are allowed; the host must still resolve, which catches typos.
func ValidateURL(ctx context.Context, raw string, allowPrivate bool, r Resolver) (*url.URL, error) {
	u, err := parseStreamURL(raw, allowPrivate)
	if err != nil {
		return nil, apperr.Invalid(urlField, "%s", err.Error())
	}
	host := u.Hostname()
	if a, err := netip.ParseAddr(host); err == nil {
		if !allowPrivate {
			if err := checkAddr(a); err != nil {
				return nil, apperr.Invalid(urlField, "%s; streams deliver only to public addresses", err.Error())
			}
		}
		return u, nil
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		var dnsErr *net.DNSError
		if len(addrs) == 0 && (err == nil || (errors.As(err, &dnsErr) && dnsErr.IsNotFound)) {
			return nil, apperr.Invalid(urlField, "host %s does not resolve to any address", host)
		}
		return nil, apperr.Invalid(urlField, "host %s could not be resolved; try again later", host)
	}
	if !allowPrivate {
		for _, a := range addrs {
			// Some resolvers hand A records over as IPv4-mapped IPv6;
			// name them the way the admin would, as IPv4.
			if err := checkAddr(a.Unmap()); err != nil {
				return nil, apperr.Invalid(urlField, "host %s resolves to %s; streams deliver only to public addresses", host, err.(*RefusedAddressError).describe())
			}
		}
	}
	return u, nil
}

// describe is "10.0.0.5, a private address" for messages about a host.
func (e *RefusedAddressError) describe() string {
	return e.Addr.String() + ", a " + e.Reason + " address"
}

// parseStreamURL checks the shape of a stream URL, without DNS. Client runs
// it before every delivery too, so a URL stored before a rule existed (or
// written to the database by hand) is held to the same rules.
func parseStreamURL(raw string, allowPrivate bool) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("is required")
	}
	if len(raw) > MaxURLLength {
		return nil, errors.New("must be at most " + strconv.Itoa(MaxURLLength) + " characters")
	}
	if strings.ContainsFunc(raw, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return nil, errors.New("must not contain spaces or control characters")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" {
		return nil, errors.New("is not a valid URL; use the form https://siem.example.com/auditlog")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && allowPrivate:
	case u.Scheme == "http":
		return nil, errors.New("must use https")
	case u.Scheme == "":
		return nil, errors.New("must be an absolute URL starting with https://")
	default:
		return nil, errors.New("must use https, not " + strconv.Quote(u.Scheme))
	}
	if u.User != nil {
		return nil, errors.New("must not carry a user name or password; deliveries are authenticated by their signature")
	}
	if u.Hostname() == "" {
		return nil, errors.New("must name a host")
	}
	if u.Fragment != "" || strings.HasSuffix(raw, "#") {
		return nil, errors.New("must not have a #fragment (it is never sent to the server)")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, errors.New("has an invalid port")
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return nil, errors.New("has an empty port")
	}
	return u, nil
}
