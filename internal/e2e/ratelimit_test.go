package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/auditlogd/auditlogd/internal/auth"
	"github.com/auditlogd/auditlogd/internal/testenv"
)

// Rate limits of issue 4, item 3.

// hFreshUser signs a token for a new user without sending any request, so
// that the user's bucket is full.
func hFreshUser(t testing.TB, s *server, name string) user {
	t.Helper()
	n := userSeq.Add(1)
	u := user{id: fmt.Sprintf("user-%s-%d", name, n), email: fmt.Sprintf("%s.%d@example.com", name, n)}
	u.token = s.sign(t, auth.Claims{Subject: u.id, Email: u.email, Name: name})
	return u
}

// hWant429 checks a rate-limited answer: 429, Retry-After of at least a
// second, a GraphQL-shaped body with code RATE_LIMITED.
func hWant429(t testing.TB, r *response) int {
	t.Helper()
	hWantError(t, r, http.StatusTooManyRequests, "RATE_LIMITED")
	return hRetryAfter(t, r)
}

// hUntilLimited sends requests until one is answered 429 (at most max) and
// returns how many were not, and the limited response.
func hUntilLimited(t testing.TB, max int, send func() *response) (int, *response) {
	t.Helper()
	for i := 0; i < max; i++ {
		r := send()
		if r.Status == http.StatusTooManyRequests {
			return i, r
		}
		if r.Status != http.StatusOK {
			t.Fatalf("request %d: status %d: %s", i+1, r.Status, r.Raw)
		}
	}
	return max, nil
}

func TestRateLimitPerUser(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		// 2 requests per second, bursts of 10.
		s := newServer(t, db, map[string]string{"AUDITLOG_RATE_LIMIT_RPS": "2"})
		alice, bob := hFreshUser(t, s, "alice"), hFreshUser(t, s, "bob")

		n, r := hUntilLimited(t, 20, func() *response { return s.post(t, alice.token, `{ viewer { id } }`, nil) })
		if n != 10 || r == nil {
			t.Fatalf("%d requests passed before a 429, want 10", n)
		}
		if wait := hWant429(t, r); wait > 1 {
			t.Errorf("Retry-After %d s; at 2 requests/s the next one is allowed within a second", wait)
		}
		// Limited means refused before running: a mutation does nothing.
		before := hCount(t, s, "workspaces")
		hWant429(t, s.post(t, alice.token, `mutation { createWorkspace(input: {name: "Over"}) { id } }`, nil))
		if after := hCount(t, s, "workspaces"); after != before {
			t.Errorf("workspaces %d -> %d: a limited request ran", before, after)
		}
		// Over GET too.
		hWant429(t, hGet(t, s, alice.token, `{ viewer { id } }`, nil))

		// Per user: Bob, from the same address, is unaffected.
		s.ok(t, bob.token, `{ viewer { id } }`, nil)
		// So are anonymous requests from that address.
		if r := s.post(t, "", `{ __typename }`, nil); r.Status != http.StatusOK {
			t.Errorf("anonymous request: status %d: %s", r.Status, r.Raw)
		}

		// The bucket refills at the configured rate.
		// (Real time passes too, so allow for a fraction of a token more.)
		viewer := func() *response { return s.post(t, alice.token, `{ viewer { id } }`, nil) }
		s.clock.Advance(time.Second)
		if n, r := hUntilLimited(t, 20, viewer); n < 2 || n > 3 || r == nil {
			t.Errorf("a second later, %d requests passed before a 429, want 2", n)
		}
		s.clock.Advance(5 * time.Second)
		if n, _ := hUntilLimited(t, 20, viewer); n < 10 || n > 11 {
			t.Errorf("after 5 s, %d requests passed before a 429, want a full burst of 10", n)
		}
	})
}

func TestRateLimitAnonymousPerAddress(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		t.Run("behind a trusted proxy", func(t *testing.T) {
			s := newServer(t, db, map[string]string{"AUDITLOG_RATE_LIMIT_RPS": "2", "AUDITLOG_TRUSTED_PROXIES": "127.0.0.1/32"})
			anon := func(addr string) func() *response {
				return func() *response { return s.post(t, "", `{ __typename }`, nil, hFromAddr(addr)) }
			}
			n, r := hUntilLimited(t, 20, anon("203.0.113.7"))
			if n != 10 || r == nil {
				t.Fatalf("%d anonymous requests passed before a 429, want 10", n)
			}
			hWant429(t, r)
			// Another address has its own bucket.
			if n, _ := hUntilLimited(t, 20, anon("198.51.100.9")); n != 10 {
				t.Errorf("another address: %d requests passed, want 10", n)
			}
			// A signed-in user at the limited address is counted as a user.
			if r := s.post(t, hFreshUser(t, s, "behind").token, `{ viewer { id } }`, nil, hFromAddr("203.0.113.7")); r.Status != http.StatusOK || len(r.Errors) > 0 {
				t.Errorf("a user at the limited address: status %d: %s", r.Status, r.Raw)
			}
			// Rejected tokens count against the address too.
			if n, r := hUntilLimited(t, 20, func() *response {
				r := s.post(t, "", `{ __typename }`, nil, hFromAddr("192.0.2.44"), withHeader("Authorization", "Bearer not-a-token"))
				if r.Status == http.StatusUnauthorized {
					r.Status = http.StatusOK // counted as passed
				}
				return r
			}); n != 10 || r == nil {
				t.Errorf("%d bad tokens passed before a 429, want 10", n)
			} else {
				hWant429(t, r)
			}
		})
		t.Run("a forged X-Forwarded-For does not escape the limit", func(t *testing.T) {
			s := newServer(t, db, map[string]string{"AUDITLOG_RATE_LIMIT_RPS": "2"})
			i := 0
			n, r := hUntilLimited(t, 20, func() *response {
				i++
				return s.post(t, "", `{ __typename }`, nil, hFromAddr(fmt.Sprintf("10.0.0.%d", i)))
			})
			if n != 10 || r == nil {
				t.Fatalf("%d requests with forged addresses passed before a 429, want 10", n)
			}
			hWant429(t, r)
		})
	})
}

func TestRateLimitOff(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, map[string]string{"AUDITLOG_RATE_LIMIT_RPS": "0"})
		u := hFreshUser(t, s, "unlimited")
		for i := 0; i < 60; i++ {
			s.ok(t, u.token, `{ viewer { id } }`, nil)
			if r := s.post(t, "", `{ __typename }`, nil); r.Status != http.StatusOK {
				t.Fatalf("anonymous request %d: status %d: %s", i+1, r.Status, r.Raw)
			}
		}
	})
}

// TestRateLimitNormalUseIsNeverLimited: at the default 20 requests per
// second, an admin who opens the audit log page (several requests at once),
// then reads a page of the log every second, never sees a 429.
func TestRateLimitNormalUseIsNeverLimited(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, map[string]string{"AUDITLOG_RATE_LIMIT_RPS": "20"})
		admin := s.newUser(t, "admin")
		ws := s.newWorkspace(t, admin, "BUSINESS")
		for i := 0; i < 5; i++ {
			s.addMember(t, admin, ws, s.newUser(t, fmt.Sprintf("m%d", i)), "MEMBER")
		}
		pageLoad := []string{
			`{ viewer { id email name } }`,
			`{ workspaces { id name plan viewerRole } }`,
			`query($w: ID!) { workspace(id: $w) { id name members { role user { id email } } inviteLinks { id kind } } }`,
			auditLogQuery,
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		var limited []string
		load := func() {
			for _, q := range pageLoad {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := s.post(t, admin.token, q, map[string]any{"w": ws, "first": 50})
					if r.Status != http.StatusOK || len(r.Errors) > 0 {
						mu.Lock()
						limited = append(limited, fmt.Sprintf("status %d: %.200s", r.Status, r.Raw))
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
		}
		load()
		var cursor any
		for sec := 0; sec < 5; sec++ {
			time.Sleep(time.Second)
			vars := map[string]any{"first": 10}
			if cursor != nil {
				vars["after"] = cursor
			}
			c := s.auditLog(t, admin.token, ws, vars)
			if c.PageInfo.EndCursor != nil && c.PageInfo.HasNextPage {
				cursor = *c.PageInfo.EndCursor
			} else {
				cursor = nil
			}
			if sec == 2 {
				load() // the admin reloads the page
			}
		}
		if len(limited) > 0 {
			t.Errorf("normal use was refused:\n%v", limited)
		}
	})
}

// hInviteToken looks like an invite token but was never issued.
func hInviteToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "inv_" + base64.RawURLEncoding.EncodeToString(b)
}

const hAcceptQuery = `mutation($t: String!) { acceptInvite(token: $t) { role workspace { id } user { id } } }`

// hPublicLink creates a public invite link and returns its token.
func hPublicLink(t testing.TB, s *server, admin user, ws string) string {
	t.Helper()
	var out struct {
		CreateInviteLink struct{ Token string }
	}
	s.ok(t, admin.token, `mutation($w: ID!) { createInviteLink(input: {workspaceId: $w, kind: PUBLIC}) { token } }`, map[string]any{"w": ws}, &out)
	return out.CreateInviteLink.Token
}

// hAccept sends acceptInvite for u from addr.
func hAccept(t testing.TB, s *server, u user, token, addr string) *response {
	t.Helper()
	return s.post(t, u.token, hAcceptQuery, map[string]any{"t": token}, hFromAddr(addr))
}

func hWantNotFound(t testing.TB, r *response) {
	t.Helper()
	if r.Status != http.StatusOK || r.code() != "NOT_FOUND" {
		t.Errorf("want 200 with NOT_FOUND, got %d: %s", r.Status, r.Raw)
	}
}

func hIsMember(t testing.TB, s *server, ws string, u user) bool {
	t.Helper()
	var n int
	if err := hPool(s).QueryRow("SELECT COUNT(*) FROM memberships WHERE workspace_id = ? AND user_id = ?", ws, u.id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func TestRateLimitFailedInviteAttempts(t *testing.T) {
	t.Parallel()
	env := map[string]string{"AUDITLOG_INVITE_ATTEMPTS_PER_MINUTE": "3", "AUDITLOG_TRUSTED_PROXIES": "127.0.0.1/32"}
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()

		t.Run("per user", func(t *testing.T) {
			s := newServer(t, db, env)
			admin := s.newUser(t, "admin")
			ws := s.newWorkspace(t, admin, "FREE")
			link := hPublicLink(t, s, admin, ws)
			guesser := s.newUser(t, "guesser")
			for i := 0; i < 3; i++ {
				hWantNotFound(t, hAccept(t, s, guesser, hInviteToken(), fmt.Sprintf("203.0.113.%d", i+1)))
			}
			// The 4th, from yet another address, is refused for the user.
			wait := hWant429(t, hAccept(t, s, guesser, hInviteToken(), "203.0.113.9"))
			if wait > 60 {
				t.Errorf("Retry-After %d s, want at most a minute", wait)
			}
			// A valid token is refused too, and changes nothing.
			hWant429(t, hAccept(t, s, guesser, link, "203.0.113.10"))
			if hIsMember(t, s, ws, guesser) {
				t.Fatal("a limited acceptInvite made the user a member")
			}
			// Another user, from another address, is unaffected.
			other := s.newUser(t, "other")
			if r := hAccept(t, s, other, link, "198.51.100.1"); r.Status != http.StatusOK || len(r.Errors) > 0 {
				t.Errorf("another user: status %d: %s", r.Status, r.Raw)
			}
			// Once the window has passed (the server's clock), the valid token
			// works.
			s.clock.Advance(61 * time.Second)
			if r := hAccept(t, s, guesser, link, "203.0.113.11"); r.Status != http.StatusOK || len(r.Errors) > 0 {
				t.Fatalf("after the window: status %d: %s", r.Status, r.Raw)
			}
			if !hIsMember(t, s, ws, guesser) {
				t.Error("the accepted invite did not make the user a member")
			}
		})

		t.Run("per address", func(t *testing.T) {
			s := newServer(t, db, env)
			admin := s.newUser(t, "admin")
			ws := s.newWorkspace(t, admin, "FREE")
			link := hPublicLink(t, s, admin, ws)
			const addr = "203.0.113.50"
			// Three users each fail once from the same address.
			for i := 0; i < 3; i++ {
				hWantNotFound(t, hAccept(t, s, s.newUser(t, fmt.Sprintf("g%d", i)), hInviteToken(), addr))
			}
			// A fourth user from that address is limited, valid token or not.
			fourth := s.newUser(t, "fourth")
			hWant429(t, hAccept(t, s, fourth, hInviteToken(), addr))
			hWant429(t, hAccept(t, s, fourth, link, addr))
			// The same user from another address is not: the user has no
			// failures of their own.
			if r := hAccept(t, s, fourth, link, "198.51.100.50"); r.Status != http.StatusOK || len(r.Errors) > 0 {
				t.Errorf("from another address: status %d: %s", r.Status, r.Raw)
			}
			s.clock.Advance(61 * time.Second)
			hWantNotFound(t, hAccept(t, s, s.newUser(t, "later"), hInviteToken(), addr))
		})

		t.Run("successful accepts do not count", func(t *testing.T) {
			s := newServer(t, db, env)
			admin := s.newUser(t, "admin")
			ws := s.newWorkspace(t, admin, "FREE")
			link := hPublicLink(t, s, admin, ws)
			const addr = "203.0.113.77"
			joiner := s.newUser(t, "joiner")
			for i := 0; i < 6; i++ {
				// New users joining, and the same user accepting again (a no-op).
				for _, u := range []user{s.newUser(t, fmt.Sprintf("j%d", i)), joiner} {
					if r := hAccept(t, s, u, link, addr); r.Status != http.StatusOK || len(r.Errors) > 0 {
						t.Fatalf("accept %d: status %d: %s", i, r.Status, r.Raw)
					}
				}
			}
			// The address and the user still have their whole allowance.
			for i := 0; i < 3; i++ {
				hWantNotFound(t, hAccept(t, s, joiner, hInviteToken(), addr))
			}
			hWant429(t, hAccept(t, s, joiner, hInviteToken(), addr))
		})

		t.Run("anonymous attempts are refused before counting", func(t *testing.T) {
			s := newServer(t, db, env)
			for i := 0; i < 5; i++ {
				r := s.post(t, "", hAcceptQuery, map[string]any{"t": hInviteToken()}, hFromAddr("203.0.113.99"))
				if r.code() != "UNAUTHENTICATED" {
					t.Fatalf("anonymous accept: %s", r.Raw)
				}
			}
			hWantNotFound(t, hAccept(t, s, s.newUser(t, "after-anon"), hInviteToken(), "203.0.113.99"))
		})

		t.Run("concurrent guesses share the allowance", func(t *testing.T) {
			s := newServer(t, db, env)
			guesser := s.newUser(t, "racer")
			const n = 24
			results := make([]*response, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range results {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					results[i] = hAccept(t, s, guesser, hInviteToken(), fmt.Sprintf("198.51.100.%d", i+1))
				}()
			}
			close(start)
			wg.Wait()
			tried, limited := 0, 0
			for _, r := range results {
				switch {
				case r.code() == "NOT_FOUND":
					tried++
				case r.Status == http.StatusTooManyRequests && r.code() == "RATE_LIMITED":
					limited++
				default:
					t.Errorf("unexpected answer: %d %s", r.Status, r.Raw)
				}
			}
			if tried > 3 {
				t.Errorf("%d of %d concurrent guesses were tried against the database; at most 3 are allowed per minute", tried, n)
			}
			if tried+limited != n {
				t.Errorf("%d tried + %d limited != %d", tried, limited, n)
			}
		})
	})
}
