package replicas

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/auditlogd/auditlogd/internal/auth"
)

// outcome is what a client was told of a mutation.
type outcome int

const (
	// acked: the mutation succeeded (HTTP 200, data, no error).
	acked outcome = iota
	// refused: a GraphQL error with a code the service decides on
	// (FORBIDDEN, CONFLICT, NOT_FOUND, …): nothing changed.
	refused
	// inDoubt: no answer, a 5xx, or INTERNAL. The client cannot know
	// whether the change committed (a node killed after certifying a
	// commit but before answering it, say); the check reconciles it.
	inDoubt
)

func (o outcome) String() string { return [...]string{"acked", "refused", "in doubt"}[o] }

// request is one mutation the test sent, with the events its success writes
// (docs/API.md §6) and what the client was told.
type request struct {
	id      string // X-Request-Id, which the events record
	kind    string // the mutation's name
	ws      string
	replica int
	expect  []string
	outcome outcome
	code    string // the error code, HTTP status or transport error
}

// person is a user with a token.
type person struct {
	id, email, token string
}

// rig drives the three replicas: it signs tokens, balances requests over the
// replicas that answer /readyz, and records every mutation.
type rig struct {
	t        *testing.T
	replicas map[int]*replica
	verifier *auth.Verifier
	http     *http.Client
	bal      *balancer

	seq    atomic.Int64
	people atomic.Int64
	mu     sync.Mutex
	reqs   []*request
}

// newPerson makes a user with a unique id and email and a token for them;
// the service learns of them on their first request.
func (g *rig) newPerson(name string) *person {
	n := g.people.Add(1)
	p := &person{id: fmt.Sprintf("%s-%d", name, n), email: fmt.Sprintf("%s.%d@example.com", name, n)}
	tok, err := g.verifier.Sign(auth.Claims{Subject: p.id, Email: p.email, Name: name})
	if err != nil {
		g.t.Fatal(err)
	}
	p.token = tok
	return p
}

// gqlResponse is a GraphQL response.
type gqlResponse struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    string `json:"message"`
		Extensions struct {
			Code string `json:"code"`
		} `json:"extensions"`
	} `json:"errors"`
}

// post sends one GraphQL request to replica r with a request id.
func (g *rig) post(r int, token, reqID, query string, vars map[string]any) (int, gqlResponse, error) {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, g.replicas[r].base+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	if reqID != "" {
		req.Header.Set("X-Request-Id", reqID)
	}
	res, err := g.http.Do(req)
	if err != nil {
		return 0, gqlResponse{}, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return res.StatusCode, gqlResponse{}, err
	}
	var out gqlResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		return res.StatusCode, gqlResponse{}, fmt.Errorf("not JSON: %q", raw)
	}
	return res.StatusCode, out, nil
}

// mutate sends a mutation to replica r, records it with the events its
// success writes, and decodes its data into out when it succeeds.
func (g *rig) mutate(kind string, r int, token, ws string, expect []string, query string, vars map[string]any, out any) *request {
	rq := &request{id: fmt.Sprintf("rq-%06d", g.seq.Add(1)), kind: kind, ws: ws, replica: r, expect: expect}
	status, res, err := g.post(r, token, rq.id, query, vars)
	switch {
	case err != nil:
		rq.outcome, rq.code = inDoubt, "transport: "+err.Error()
	case status != http.StatusOK:
		rq.outcome, rq.code = inDoubt, fmt.Sprintf("HTTP %d", status)
	case len(res.Errors) > 0 && (res.Errors[0].Extensions.Code == "INTERNAL" || res.Errors[0].Extensions.Code == ""):
		rq.outcome, rq.code = inDoubt, "INTERNAL"
	case len(res.Errors) > 0:
		rq.outcome, rq.code = refused, res.Errors[0].Extensions.Code
	default:
		rq.outcome = acked
		if out != nil {
			if err := json.Unmarshal(res.Data, out); err != nil {
				g.t.Errorf("%s: data %s: %v", kind, res.Data, err)
			}
		}
	}
	g.mu.Lock()
	g.reqs = append(g.reqs, rq)
	g.mu.Unlock()
	return rq
}

// mustMutate is mutate for the test's setup, which must succeed; it tries
// other replicas while the answer is in doubt, and fails the test when the
// mutation is refused.
func (g *rig) mustMutate(kind string, token, ws string, expect []string, query string, vars map[string]any, out any) {
	g.t.Helper()
	for attempt := 0; attempt < 10; attempt++ {
		rq := g.mutate(kind, g.bal.pick(), token, ws, expect, query, vars, out)
		switch rq.outcome {
		case acked:
			return
		case refused:
			g.t.Fatalf("setup: %s refused: %s", kind, rq.code)
		}
		time.Sleep(time.Second)
	}
	g.t.Fatalf("setup: %s kept failing", kind)
}

// read runs a query (not recorded) through replica r.
func (g *rig) read(r int, token, query string, vars map[string]any, out any) error {
	status, res, err := g.post(r, token, "", query, vars)
	if err != nil {
		return err
	}
	if status != http.StatusOK || len(res.Errors) > 0 {
		return fmt.Errorf("HTTP %d %+v", status, res.Errors)
	}
	return json.Unmarshal(res.Data, out)
}

// requests returns every mutation recorded.
func (g *rig) requests() []*request {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]*request(nil), g.reqs...)
}

// balancer is the load balancer in front of the replicas: it sends
// requests round robin to those whose /readyz answered 200 last.
type balancer struct {
	mu   sync.Mutex
	up   map[int]bool
	next int
}

func newBalancer(n int) *balancer {
	b := &balancer{up: map[int]bool{}}
	for i := 1; i <= n; i++ {
		b.up[i] = true
	}
	return b
}

func (b *balancer) set(r int, up bool) {
	b.mu.Lock()
	b.up[r] = up
	b.mu.Unlock()
}

// upList returns the replicas that are up, at most n, starting with the
// next in turn (at least one: the next, when none is up).
func (b *balancer) upList(n int) []int {
	out := []int{b.pick()}
	for len(out) < n {
		r := b.pick(out...)
		b.mu.Lock()
		up := b.up[r]
		b.mu.Unlock()
		if !up || r == out[0] {
			break
		}
		out = append(out, r)
	}
	return out
}

// pick returns the next replica that is up and not among avoid (the next
// one not among avoid when none is up).
func (b *balancer) pick(avoid ...int) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(b.up)
	skip := func(r int) bool {
		for _, a := range avoid {
			if a == r {
				return true
			}
		}
		return false
	}
	for _, wantUp := range []bool{true, false} {
		for i := 0; i < n; i++ {
			b.next = b.next%n + 1
			if !skip(b.next) && (!wantUp || b.up[b.next]) {
				return b.next
			}
		}
	}
	b.next = b.next%n + 1
	return b.next
}

// sample is one answer of a replica's /readyz.
type sample struct {
	replica    int
	start, end time.Time
	status     int // 0: no answer
}

// pollReady asks every replica's /readyz every 200 ms until ctx ends,
// records each answer, and tells the balancer.
func (g *rig) pollReady(ctx context.Context, out *[]sample, mu *sync.Mutex) *sync.WaitGroup {
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 5 * time.Second}
	for n, r := range g.replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				s := sample{replica: n, start: time.Now()}
				if res, err := client.Get(r.base + "/readyz"); err == nil {
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					s.status = res.StatusCode
				}
				s.end = time.Now()
				mu.Lock()
				*out = append(*out, s)
				mu.Unlock()
				g.bal.set(n, s.status == http.StatusOK)
				select {
				case <-ctx.Done():
				case <-time.After(200 * time.Millisecond):
				}
			}
		}()
	}
	return &wg
}
