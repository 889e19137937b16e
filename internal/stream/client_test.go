package stream

import (
	"bufio"
	"context"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// receiver is a real HTTP server a test delivers to. It counts the
// connections it accepted and the requests it served, so a test can show
// that a refused delivery never reached it at all.
type receiver struct {
	*httptest.Server
	conns    atomic.Int64
	requests atomic.Int64
	pool     *x509.CertPool // trusts the server's certificate (TLS only)
}

func startReceiver(t *testing.T, tlsOn bool, h http.HandlerFunc) *receiver {
	t.Helper()
	r := &receiver{}
	r.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.requests.Add(1)
		h(w, req)
	}))
	r.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point of some tests
	r.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			r.conns.Add(1)
		}
	}
	if tlsOn {
		r.StartTLS()
		r.pool = x509.NewCertPool()
		r.pool.AddCert(r.Certificate())
	} else {
		r.Start()
	}
	t.Cleanup(r.Close)
	return r
}

// port is the receiver's port, for URLs that name the host differently.
func (r *receiver) port() string {
	u, _ := url.Parse(r.URL)
	return u.Port()
}

func ok(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }

const testSecret = "whsec_MfKQ9r4mXbYHnDn0yG3pZ8tVt6cQe1sB7wLhA2kR5uE"

func TestDeliverPostsTheSignedBodyAndIsAcknowledged(t *testing.T) {
	type seen struct {
		method, contentType, signature, delivery, userAgent string
		body                                                []byte
	}
	got := make(chan seen, 1)
	r := startReceiver(t, true, func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		got <- seen{req.Method, req.Header.Get("Content-Type"), req.Header.Get(SignatureHeader),
			req.Header.Get(DeliveryHeader), req.Header.Get("User-Agent"), b}
		w.WriteHeader(http.StatusAccepted)
	})
	now := time.Unix(1767225600, 0)
	c := NewClient(Options{AllowPrivate: true, RootCAs: r.pool, Now: func() time.Time { return now }})
	body := []byte(`{"workspaceId":"01JWS","streamId":"01JST","events":[{"id":"e1"}],"head":{"sequence":1}}`)

	res := c.Deliver(context.Background(), r.URL+"/hook", testSecret, body, "01JDELIVERY")

	if !res.Acknowledged || res.StatusCode != http.StatusAccepted || res.Error != "" {
		t.Fatalf("Result = %+v, want acknowledged with 202", res)
	}
	s := <-got
	if s.method != http.MethodPost || s.contentType != "application/json" || s.delivery != "01JDELIVERY" || s.userAgent != userAgent {
		t.Errorf("request = %+v", s)
	}
	if string(s.body) != string(body) {
		t.Errorf("body = %s, want %s", s.body, body)
	}
	if want := "t=1767225600,v1=c9c5f8e7770179d6d3e74709a64878d5379364f436c89dcf38341d837bbbf8a4"; s.signature != want {
		t.Errorf("signature = %q, want %q", s.signature, want)
	}
	if err := Verify(s.signature, testSecret, s.body, time.Minute, now); err != nil {
		t.Errorf("Verify of what the receiver got = %v", err)
	}
}

func TestDeliverAcknowledgesEvery2xx(t *testing.T) {
	for _, code := range []int{200, 201, 202, 204, 299} {
		r := startReceiver(t, false, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) })
		res := NewClient(Options{AllowPrivate: true}).Deliver(context.Background(), r.URL, testSecret, []byte(`{}`), "d")
		if !res.Acknowledged || res.StatusCode != code {
			t.Errorf("HTTP %d: Result = %+v, want acknowledged", code, res)
		}
	}
}

func TestDeliverFailsOnAnythingButA2xx(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		want    string
	}{
		{"500-empty", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(500) }, "HTTP 500"},
		{"400-with-message", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(400)
			io.WriteString(w, "  invalid\n\tsignature  ")
		}, "HTTP 400: invalid signature"},
		{"503-control-characters-replaced", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(503)
			w.Write([]byte("down\x1b[31m\xff"))
		}, "HTTP 503: down?[31m?"},
		{"502-long-body-cut", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(502)
			io.WriteString(w, strings.Repeat("x", 1000))
		}, "HTTP 502: " + strings.Repeat("x", maxExcerpt) + "…"},
		{"404", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(404) }, "HTTP 404"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startReceiver(t, false, tc.handler)
			res := NewClient(Options{AllowPrivate: true}).Deliver(context.Background(), r.URL, testSecret, []byte(`{}`), "d")
			if res.Acknowledged || res.Error != tc.want {
				t.Errorf("Result = %+v, want failure %q", res, tc.want)
			}
		})
	}
}

func TestDeliverDoesNotFollowRedirects(t *testing.T) {
	target := startReceiver(t, false, ok)
	for _, code := range []int{301, 302, 303, 307, 308} {
		r := startReceiver(t, false, func(w http.ResponseWriter, req *http.Request) {
			http.Redirect(w, req, target.URL+"/elsewhere", code)
		})
		res := NewClient(Options{AllowPrivate: true}).Deliver(context.Background(), r.URL, testSecret, []byte(`{}`), "d")
		want := "HTTP " + strconv.Itoa(code) + " (redirects are not followed)"
		if res.Acknowledged || res.StatusCode != code || res.Error != want {
			t.Errorf("%d: Result = %+v, want failure %q", code, res, want)
		}
	}
	if n := target.requests.Load(); n != 0 {
		t.Errorf("the redirect target got %d requests", n)
	}
}

// hold returns a channel that is closed when the test ends, before its
// receivers are closed (cleanups run last-in first-out): a handler that
// waits on it cannot hold httptest.Server.Close, whatever the client did.
func hold(t *testing.T) <-chan struct{} {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	return release
}

func TestDeliverTimesOutOnASlowReceiver(t *testing.T) {
	const timeout = 300 * time.Millisecond
	t.Run("no-answer", func(t *testing.T) {
		var release <-chan struct{}
		r := startReceiver(t, true, func(w http.ResponseWriter, req *http.Request) {
			select {
			case <-release:
			case <-req.Context().Done():
			}
		})
		release = hold(t)
		res := NewClient(Options{AllowPrivate: true, RootCAs: r.pool, Timeout: timeout}).
			Deliver(context.Background(), r.URL, testSecret, []byte(`{}`), "d")
		if res.Acknowledged || res.StatusCode != 0 || res.Error != "timeout after 300ms" {
			t.Errorf("Result = %+v, want a timeout", res)
		}
	})
	t.Run("accepts-but-never-handshakes", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		conns := make(chan net.Conn, 16)
		t.Cleanup(func() {
			l.Close()
			for c := range conns {
				c.Close()
			}
		})
		go func() {
			defer close(conns)
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				conns <- c // held open, never answered, closed at the end
			}
		}()
		res := NewClient(Options{AllowPrivate: true, Timeout: timeout}).
			Deliver(context.Background(), "https://"+l.Addr().String()+"/", testSecret, []byte(`{}`), "d")
		if res.Acknowledged || res.Error != "timeout after 300ms" {
			t.Errorf("Result = %+v, want a timeout", res)
		}
	})
	// A status that arrived in time is the answer even if the body then
	// stalls: a 2xx acknowledges, anything else fails with its status.
	for _, status := range []int{200, 500} {
		t.Run("status-"+strconv.Itoa(status)+"-then-a-stalled-body", func(t *testing.T) {
			var release <-chan struct{}
			r := startReceiver(t, true, func(w http.ResponseWriter, req *http.Request) {
				w.WriteHeader(status)
				io.WriteString(w, "partial")
				w.(http.Flusher).Flush()
				select {
				case <-release:
				case <-req.Context().Done():
				}
			})
			release = hold(t)
			res := NewClient(Options{AllowPrivate: true, RootCAs: r.pool, Timeout: timeout}).
				Deliver(context.Background(), r.URL, testSecret, []byte(`{}`), "d")
			if res.StatusCode != status || res.Acknowledged != (status == 200) {
				t.Errorf("Result = %+v, want status %d", res, status)
			}
			if status == 500 && res.Error != "HTTP 500: partial" {
				t.Errorf("Error = %q, want %q", res.Error, "HTTP 500: partial")
			}
		})
	}
}

// endless writes status and then its pattern until the client goes away,
// and reports how much it managed to write.
func endless(status int, wrote *atomic.Int64) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(status)
		chunk := []byte(strings.Repeat("y", 32<<10))
		for {
			n, err := w.Write(chunk)
			wrote.Add(int64(n))
			if err != nil {
				return
			}
		}
	}
}

func TestDeliverReadsNoMoreThanALimitOfAHugeAnswer(t *testing.T) {
	for _, status := range []int{200, 500} {
		var wrote atomic.Int64
		r := startReceiver(t, false, endless(status, &wrote))
		// The timeout is a minute: reading the endless body would end in
		// it, so a result that is not a timeout shows Deliver stopped.
		c := NewClient(Options{AllowPrivate: true, Timeout: time.Minute})
		res := c.Deliver(context.Background(), r.URL, testSecret, []byte(`{}`), "d")
		switch status {
		case 200:
			if !res.Acknowledged {
				t.Errorf("200 with an endless body: Result = %+v, want acknowledged", res)
			}
		default:
			want := "HTTP 500: " + strings.Repeat("y", maxExcerpt) + "…"
			if res.Error != want {
				t.Errorf("500 with an endless body: Error = %q, want %q", res.Error, want)
			}
		}
	}
}

func TestSanitizeExcerptReadsOnlyTheStart(t *testing.T) {
	if got := sanitizeExcerpt([]byte("héllo wörld")); got != "héllo wörld" {
		t.Errorf("UTF-8 text changed: %q", got)
	}
	if got := sanitizeExcerpt([]byte("\n\n")); got != "" {
		t.Errorf("white space only = %q, want empty", got)
	}
}

func TestDeliverRefusesPrivateAddressesAtConnectTime(t *testing.T) {
	r := startReceiver(t, true, ok)
	dns := startDNS(t, map[string][]string{
		"receiver.example.com": {"127.0.0.1"},
		"mixed.example.com":    {"127.0.0.1", "10.0.0.5"},
	})
	url := "https://receiver.example.com:" + r.port() + "/hook"

	// Creation: the name resolved to a public address then (as it would
	// for an attacker who controls its DNS), so validation passed...
	public := &fakeResolver{hosts: map[string][]string{"receiver.example.com": {"93.184.216.34"}}}
	if _, err := ValidateURL(context.Background(), url, false, public); err != nil {
		t.Fatalf("ValidateURL = %v", err)
	}
	// ... and now it resolves to 127.0.0.1: the delivery is refused
	// without a connection being made.
	c := NewClient(Options{Resolver: dns, RootCAs: r.pool})
	res := c.Deliver(context.Background(), url, testSecret, []byte(`{}`), "d")
	if res.Acknowledged || res.Error != "address 127.0.0.1 is loopback" {
		t.Errorf("Result = %+v, want refused as loopback", res)
	}
	res = c.Deliver(context.Background(), "https://mixed.example.com:"+r.port()+"/", testSecret, []byte(`{}`), "d")
	if res.Acknowledged || !strings.HasPrefix(res.Error, "address ") {
		t.Errorf("name with two private addresses: Result = %+v, want refused", res)
	}
	if n := r.conns.Load(); n != 0 {
		t.Errorf("the receiver accepted %d connections", n)
	}

	// The same client setup with AllowPrivate reaches the receiver, so the
	// refusal above is the policy, not a broken test resolver.
	c = NewClient(Options{Resolver: dns, RootCAs: r.pool, AllowPrivate: true})
	if res := c.Deliver(context.Background(), url, testSecret, []byte(`{}`), "d"); !res.Acknowledged {
		t.Errorf("with AllowPrivate: Result = %+v, want acknowledged", res)
	}
}

func TestDeliverRefusesLocalhostThroughTheSystemResolver(t *testing.T) {
	r := startReceiver(t, true, ok)
	res := NewClient(Options{RootCAs: r.pool}).Deliver(context.Background(), "https://localhost:"+r.port()+"/", testSecret, []byte(`{}`), "d")
	if res.Acknowledged || !strings.HasSuffix(res.Error, " is loopback") {
		t.Errorf("Result = %+v, want refused as loopback", res)
	}
	if n := r.conns.Load(); n != 0 {
		t.Errorf("the receiver accepted %d connections", n)
	}
}

func TestDeliverRefusesEveryForbiddenRangeAtConnectTime(t *testing.T) {
	r := startReceiver(t, true, ok)
	c := NewClient(Options{RootCAs: r.pool, Timeout: 5 * time.Second})
	for _, tc := range refusedCases {
		a := netip.MustParseAddr(tc.addr)
		if a.Zone() != "" {
			continue // the zone names an interface this machine may not have
		}
		t.Run(tc.name, func(t *testing.T) {
			u := "https://" + netip.AddrPortFrom(a, 0).String()
			u = strings.TrimSuffix(u, ":0") + ":" + r.port() + "/"
			res := c.Deliver(context.Background(), u, testSecret, []byte(`{}`), "d")
			if res.Acknowledged || !strings.HasPrefix(res.Error, "address ") || !strings.HasSuffix(res.Error, " is "+tc.reason) {
				t.Errorf("Deliver to %s: Result = %+v, want refused as %s", u, res, tc.reason)
			}
		})
	}
	if n := r.conns.Load(); n != 0 {
		t.Errorf("the receiver accepted %d connections", n)
	}
}

func TestDeliverRefusesHTTPWithoutAllowPrivate(t *testing.T) {
	r := startReceiver(t, false, ok)
	res := NewClient(Options{}).Deliver(context.Background(), r.URL, testSecret, []byte(`{}`), "d")
	if res.Acknowledged || res.Error != "invalid URL: it must use https" {
		t.Errorf("Result = %+v", res)
	}
	if n := r.conns.Load(); n != 0 {
		t.Errorf("the receiver accepted %d connections", n)
	}
}

func TestDeliverDescribesConnectionFailures(t *testing.T) {
	closed := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return addr
	}()
	tlsReceiver := startReceiver(t, true, ok)
	plainReceiver := startReceiver(t, false, ok)
	hangUp := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				// Read the whole request, then hang up without a word.
				if req, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
					io.Copy(io.Discard, req.Body)
				}
				c.Close()
			}
		}()
		return l.Addr().String()
	}()
	for _, tc := range []struct {
		name, url string
		pool      *x509.CertPool
		want      string
	}{
		{"connection-refused", "http://" + closed + "/", nil, "connection refused"},
		{"unknown-certificate-authority", tlsReceiver.URL, nil, "TLS error: certificate signed by an unknown authority"},
		{"certificate-for-another-name", "https://localhost:" + tlsReceiver.port() + "/", tlsReceiver.pool, "TLS error: certificate is not valid for localhost"},
		{"https-to-a-plain-http-server", "https://" + strings.TrimPrefix(plainReceiver.URL, "http://"), nil, "TLS error: the server did not answer TLS (is it http?)"},
		{"server-hangs-up", "http://" + hangUp + "/", nil, "connection closed without an answer"},
		{"unknown-host", "http://nowhere.invalid/", nil, "host nowhere.invalid not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewClient(Options{AllowPrivate: true, RootCAs: tc.pool, Resolver: startDNS(t, nil)})
			res := c.Deliver(context.Background(), tc.url, testSecret, []byte(`{}`), "d")
			if res.Acknowledged || res.StatusCode != 0 || res.Error != tc.want {
				t.Errorf("Result = %+v, want %q", res, tc.want)
			}
		})
	}
}

func TestDeliverSaysCancelledWhenItsContextEnds(t *testing.T) {
	var once sync.Once
	arrived := make(chan struct{})
	var release <-chan struct{}
	r := startReceiver(t, false, func(w http.ResponseWriter, req *http.Request) {
		once.Do(func() { close(arrived) })
		select {
		case <-release:
		case <-req.Context().Done():
		}
	})
	release = hold(t)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-arrived; cancel() }()
	res := NewClient(Options{AllowPrivate: true, Timeout: time.Minute}).Deliver(ctx, r.URL, testSecret, []byte(`{}`), "d")
	if res.Acknowledged || res.Error != "delivery cancelled" {
		t.Errorf("Result = %+v, want cancelled", res)
	}
}
