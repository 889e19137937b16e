package stream

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/auditlogd/auditlogd/internal/apperr"
)

// fakeResolver answers from a map; a name it does not know is not found.
type fakeResolver struct {
	hosts map[string][]string
	err   error // returned for every name when set
	asked []string
}

func (f *fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	f.asked = append(f.asked, host)
	if f.err != nil {
		return nil, f.err
	}
	list, ok := f.hosts[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []netip.Addr
	for _, s := range list {
		out = append(out, netip.MustParseAddr(s))
	}
	return out, nil
}

func newFakeResolver() *fakeResolver {
	return &fakeResolver{hosts: map[string][]string{
		"siem.example.com":     {"93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"},
		"localhost.evil.test":  {"127.0.0.1"},
		"metadata.evil.test":   {"169.254.169.254"},
		"half-private.test":    {"93.184.216.34", "10.0.0.5"},
		"mapped.evil.test":     {"::ffff:192.168.0.10"},
		"onprem.internal.test": {"10.1.2.3"},
		"empty.test":           {},
	}}
}

func TestValidateURL(t *testing.T) {
	for _, tc := range []struct {
		name, url    string
		allowPrivate bool
		wantErr      string // substring of the message; "" means valid
	}{
		{"https-public-host", "https://siem.example.com/auditlog?tenant=1", false, ""},
		{"https-public-host-with-port", "https://siem.example.com:8443/in", false, ""},
		{"public-ip-literal", "https://93.184.216.34/in", false, ""},
		{"empty", "", false, "is required"},
		{"http-refused", "http://siem.example.com/in", false, "must use https"},
		{"http-allowed-with-allow-private", "http://siem.example.com/in", true, ""},
		{"other-scheme", "ftp://siem.example.com/in", false, `must use https, not "ftp"`},
		{"gopher-refused-even-with-allow-private", "gopher://siem.example.com/", true, "must use https"},
		{"relative", "/auditlog", false, "must be an absolute URL"},
		{"no-scheme-host-only", "siem.example.com", false, "must be an absolute URL"},
		{"opaque", "https:siem.example.com", false, "is not a valid URL"},
		{"no-host", "https:///auditlog", false, "must name a host"},
		{"userinfo", "https://user:pass@siem.example.com/in", false, "must not carry a user name or password"},
		{"userinfo-name-only", "https://user@siem.example.com/in", false, "must not carry a user name or password"},
		{"fragment", "https://siem.example.com/in#x", false, "must not have a #fragment"},
		{"empty-fragment", "https://siem.example.com/in#", false, "must not have a #fragment"},
		{"bad-port", "https://siem.example.com:99999/in", false, "has an invalid port"},
		{"empty-port", "https://siem.example.com:/in", false, "has an empty port"},
		{"space", "https://siem.example.com/a b", false, "must not contain spaces"},
		{"control-character", "https://siem.example.com/\x00", false, "must not contain spaces or control characters"},
		{"too-long", "https://siem.example.com/" + strings.Repeat("a", MaxURLLength), false, "must be at most 2048 characters"},
		{"name-resolves-to-loopback", "https://localhost.evil.test/", false, "host localhost.evil.test resolves to 127.0.0.1, a loopback address"},
		{"name-resolves-to-metadata", "https://metadata.evil.test/", false, "resolves to 169.254.169.254, a link-local address"},
		{"one-of-several-addresses-private", "https://half-private.test/", false, "resolves to 10.0.0.5, a private address"},
		{"name-resolves-to-mapped-private", "https://mapped.evil.test/", false, "resolves to 192.168.0.10, a private address"},
		{"private-name-allowed-with-allow-private", "https://onprem.internal.test/", true, ""},
		{"ip-literal-loopback", "https://127.0.0.1/in", false, "address 127.0.0.1 is loopback; streams deliver only to public addresses"},
		{"ip-literal-v6-loopback", "https://[::1]:8443/in", false, "address ::1 is loopback"},
		{"ip-literal-mapped-loopback", "https://[::ffff:127.0.0.1]/in", false, "address ::ffff:127.0.0.1 is loopback"},
		{"ip-literal-private-allowed-with-allow-private", "http://10.0.0.5:8080/in", true, ""},
		{"unknown-host", "https://nowhere.test/", false, "host nowhere.test does not resolve to any address"},
		{"unknown-host-even-with-allow-private", "https://nowhere.test/", true, "does not resolve"},
		{"host-without-addresses", "https://empty.test/", false, "does not resolve to any address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := ValidateURL(context.Background(), tc.url, tc.allowPrivate, newFakeResolver())
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("ValidateURL(%q) = %v, want valid", tc.url, err)
				}
				if u.String() != tc.url {
					t.Errorf("URL = %q, want %q", u, tc.url)
				}
				return
			}
			e, ok := apperr.As(err)
			if !ok || e.Code != apperr.BadUserInput || e.Field != "input.url" {
				t.Fatalf("ValidateURL(%q) = %#v, want BAD_USER_INPUT on input.url", tc.url, err)
			}
			if !strings.Contains(e.Message, tc.wantErr) {
				t.Errorf("message = %q, want it to contain %q", e.Message, tc.wantErr)
			}
		})
	}
}

func TestValidateURLDoesNotResolveIPLiterals(t *testing.T) {
	r := newFakeResolver()
	if _, err := ValidateURL(context.Background(), "https://93.184.216.34/", false, r); err != nil {
		t.Fatal(err)
	}
	if len(r.asked) != 0 {
		t.Errorf("resolver asked %v for an IP literal", r.asked)
	}
}

func TestValidateURLReportsAFailingResolverAsTemporary(t *testing.T) {
	r := &fakeResolver{err: &net.DNSError{Err: "server misbehaving", Name: "siem.example.com", IsTemporary: true}}
	_, err := ValidateURL(context.Background(), "https://siem.example.com/", false, r)
	e, ok := apperr.As(err)
	if !ok || !strings.Contains(e.Message, "could not be resolved; try again later") {
		t.Fatalf("err = %v, want a try-again message", err)
	}
	if !errors.Is(err, apperr.ErrBadUserInput) {
		t.Error("not BAD_USER_INPUT")
	}
}
