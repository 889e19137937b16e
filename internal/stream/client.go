package stream

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"
)

// DefaultTimeout bounds one delivery, from dialling to the end of the
// answer: "a 2xx answer within 10 s acknowledges the batch" (docs/API.md §11).
const DefaultTimeout = 10 * time.Second

// maxResponseBody is as much of an answer as a delivery reads: enough for
// the start of an error message, never enough for a receiver (or whatever
// answers in its place) to make the deliverer read without end.
const maxResponseBody = 4 << 10

// maxExcerpt is how much of a failed answer's body goes into Result.Error,
// in characters: the gist of "invalid signature", not a page of HTML.
const maxExcerpt = 120

// userAgent names the sender in the receiver's access logs.
const userAgent = "auditlogd-stream/1"

// Options configure a Client. The zero value is the production setting:
// public https endpoints only, 10 s per delivery, the system's DNS and roots.
type Options struct {
	// AllowPrivate is AUDITLOG_STREAM_ALLOW_PRIVATE: http and private,
	// loopback or link-local addresses are then allowed (on-premises
	// receivers, tests).
	AllowPrivate bool
	// Timeout bounds a whole delivery; zero means DefaultTimeout.
	Timeout time.Duration
	// Resolver resolves host names when connecting; nil means the system's.
	// Tests point it at a DNS server of their own.
	Resolver *net.Resolver
	// RootCAs verifies receivers' certificates; nil means the system's roots.
	RootCAs *x509.CertPool
	// Now is the clock of the signature's timestamp; nil means time.Now.
	Now func() time.Time
}

// Client delivers batches to receivers. It is safe for concurrent use, and
// one Client should serve every stream of a process so that connections to
// a receiver are reused between batches.
//
// Without AllowPrivate, every connection is checked when it is made, against
// the address actually being dialled (a net.Dialer Control function): a name
// that resolved to a public address when the stream was created and to
// 127.0.0.1 now (DNS rebinding) is refused before a byte is sent. The
// environment's HTTP proxy is ignored for the same reason — through a proxy
// the check would judge the proxy, not the receiver.
type Client struct {
	hc           *http.Client
	allowPrivate bool
	timeout      time.Duration
	now          func() time.Time
}

// NewClient returns a Client configured by o.
func NewClient(o Options) *Client {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	dialer := &net.Dialer{Timeout: o.Timeout, KeepAlive: 30 * time.Second, Resolver: o.Resolver}
	if !o.AllowPrivate {
		dialer.Control = refusePrivate
	}
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: o.RootCAs},
		TLSHandshakeTimeout:    o.Timeout,
		ResponseHeaderTimeout:  o.Timeout,
		MaxResponseHeaderBytes: 64 << 10,
		MaxIdleConnsPerHost:    2,
		IdleConnTimeout:        90 * time.Second,
		ForceAttemptHTTP2:      true,
		DisableCompression:     true,
	}
	return &Client{
		hc: &http.Client{
			Transport: tr,
			Timeout:   o.Timeout,
			// A redirect is a failure: following it would send the log
			// somewhere the admin did not choose, and could walk the
			// check above into an internal address by another route.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		allowPrivate: o.AllowPrivate,
		timeout:      o.Timeout,
		now:          o.Now,
	}
}

// refusePrivate is the dialer's Control function: it runs after DNS, with
// the address about to be connected to, and refuses every address that is
// not public (checkAddr).
func refusePrivate(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("refusing to connect to %q: not an IP address and port", address)
	}
	return checkAddr(ap.Addr())
}

// CloseIdleConnections closes the connections kept for reuse, for a clean
// shutdown and for tests that look for leaks.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// Result is the outcome of one delivery attempt.
type Result struct {
	// Acknowledged is true when the receiver answered 2xx in time: the batch
	// is delivered and deliveredThrough may move on.
	Acknowledged bool
	// StatusCode is the receiver's HTTP status, 0 when there was no answer.
	StatusCode int
	// Error says why the attempt failed, short and safe to show an admin as
	// the stream's lastError: "HTTP 500", "timeout after 10s", "connection
	// refused", "address 10.0.0.5 is private". Empty when acknowledged.
	Error string
	// Duration is how long the attempt took, for metrics.
	Duration time.Duration
}

// Deliver POSTs one batch to url, signed with secret, and says whether the
// receiver acknowledged it. body is sent as is (build it with Body); the
// delivery id goes in X-Auditlog-Delivery and should be the same for every
// retry of a batch. Deliver never follows a redirect and reads at most 4 KiB
// of any answer.
//
// A failure for any reason — an answer other than 2xx, a timeout, a refused
// or reset connection, a TLS error, a refused address, a URL that breaks the
// rules — is a Result with Error set, never a Go error: every failure is
// retried the same way (docs/API.md §11). If ctx ends first the Result says
// "delivery cancelled"; a deliverer shutting down should not count that as
// the receiver's failure.
func (c *Client) Deliver(ctx context.Context, url, secret string, body []byte, deliveryID string) Result {
	start := time.Now()
	r := c.deliver(ctx, url, secret, body, deliveryID)
	r.Duration = time.Since(start)
	return r
}

func (c *Client) deliver(ctx context.Context, rawURL, secret string, body []byte, deliveryID string) Result {
	u, err := parseStreamURL(rawURL, c.allowPrivate)
	if err != nil {
		return Result{Error: "invalid URL: it " + err.Error()}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return Result{Error: "invalid URL"}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set(SignatureHeader, Sign(c.now(), body, secret))
	req.Header.Set(DeliveryHeader, deliveryID)
	resp, err := c.hc.Do(req)
	if err != nil {
		return Result{Error: c.describe(ctx, err)}
	}
	defer resp.Body.Close()
	// What arrived before the limit, the timeout or an error is all the
	// message needs; a read error changes nothing about the outcome.
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		// The status is the acknowledgement; a body cut short by a
		// timeout after it does not undo it.
		return Result{Acknowledged: true, StatusCode: resp.StatusCode}
	}
	msg := fmt.Sprintf("HTTP %d", resp.StatusCode)
	if resp.StatusCode >= 300 && resp.StatusCode <= 399 {
		msg += " (redirects are not followed)"
	} else if s := sanitizeExcerpt(excerpt); s != "" {
		msg += ": " + s
	}
	return Result{StatusCode: resp.StatusCode, Error: msg}
}

// describe turns a transport error into a short message for an admin. It
// names the kind of failure, never the raw Go error, which can be long and
// says more about our side than theirs.
func (c *Client) describe(ctx context.Context, err error) string {
	var refused *RefusedAddressError
	var dnsErr *net.DNSError
	var netErr net.Error
	switch {
	case ctx.Err() != nil:
		return "delivery cancelled"
	case errors.As(err, &refused):
		return refused.Error()
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return "host " + dnsErr.Name + " not found"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timeout after " + c.timeout.String()
	case errors.As(err, &dnsErr):
		return "DNS lookup of " + dnsErr.Name + " failed"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
		return "network unreachable"
	}
	if msg := describeTLS(err); msg != "" {
		return msg
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "connection closed without an answer"
	}
	return "connection failed"
}

// describeTLS names a TLS failure, or returns "" when err is not one.
func describeTLS(err error) string {
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	var header tls.RecordHeaderError
	var alert tls.AlertError
	switch {
	case errors.As(err, &unknownCA):
		return "TLS error: certificate signed by an unknown authority"
	case errors.As(err, &hostname):
		return "TLS error: certificate is not valid for " + hostname.Host
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return "TLS error: certificate expired or not yet valid"
	case errors.As(err, &invalid), errors.As(err, &verify):
		return "TLS error: certificate not trusted"
	case errors.As(err, &header),
		// net/http's own words for a RecordHeaderError that looks like HTTP.
		strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return "TLS error: the server did not answer TLS (is it http?)"
	case errors.As(err, &alert):
		return "TLS error: handshake refused by the server"
	case strings.Contains(err.Error(), "tls:"):
		return "TLS error: handshake failed"
	}
	return ""
}

// sanitizeExcerpt makes the start of a receiver's answer fit for lastError:
// valid UTF-8, printable, runs of white space as one space, at most
// maxExcerpt characters.
func sanitizeExcerpt(b []byte) string {
	var out strings.Builder
	n, space := 0, false
	for len(b) > 0 && n < maxExcerpt {
		r, size := utf8.DecodeRune(b)
		b = b[size:]
		switch {
		case r == utf8.RuneError && size <= 1:
			r = '?'
		case unicode.IsSpace(r):
			space = out.Len() > 0
			continue
		case !unicode.IsPrint(r):
			r = '?'
		}
		if space {
			out.WriteByte(' ')
			n++
			space = false
		}
		out.WriteRune(r)
		n++
	}
	s := out.String()
	if len(b) > 0 {
		s += "…"
	}
	return s
}
