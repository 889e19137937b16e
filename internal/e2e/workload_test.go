package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"
)

// workload drives concurrent audited mutations and log reads against a
// server, one workspace per writer, and records what the clients saw.
type workload struct {
	s      *server
	admin  user
	spaces []workloadSpace
	client *http.Client

	mu        sync.Mutex
	successes map[string]int // successful mutations by name
	statuses  map[int]int    // HTTP statuses seen
	codes     map[string]int // GraphQL error codes seen
	messages  []string       // error messages seen (a sample)
	latency   []time.Duration
	reads     []time.Duration // latency of log reads
	writes    []time.Duration // latency of mutations
}

type workloadSpace struct {
	id     string
	member user
}

func newWorkload(t testing.TB, s *server, writers int) *workload {
	t.Helper()
	w := &workload{s: s, admin: s.newUser(t, "loadadmin"), client: &http.Client{Timeout: 30 * time.Second},
		successes: map[string]int{}, statuses: map[int]int{}, codes: map[string]int{}}
	for i := 0; i < writers; i++ {
		ws := s.newWorkspace(t, w.admin, "BUSINESS")
		m := s.newUser(t, fmt.Sprintf("loadmember%d", i))
		s.addMember(t, w.admin, ws, m, "MEMBER")
		w.spaces = append(w.spaces, workloadSpace{id: ws, member: m})
	}
	return w
}

func (w *workload) ids() []string {
	out := make([]string, len(w.spaces))
	for i, s := range w.spaces {
		out[i] = s.id
	}
	return out
}

// call sends one GraphQL request without failing the test on errors: the
// outcome is recorded, and data is decoded into out on success.
func (w *workload) call(ctx context.Context, name, query string, vars map[string]any, out any) bool {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequestWithContext(requestContext(ctx), http.MethodPost, w.s.srv.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+w.admin.token)
	start := time.Now()
	res, err := w.client.Do(req)
	took := time.Since(start)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.latency = append(w.latency, took)
	if name == "auditLog" {
		w.reads = append(w.reads, took)
	} else {
		w.writes = append(w.writes, took)
	}
	if err != nil {
		w.statuses[-1]++
		return false
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	w.statuses[res.StatusCode]++
	var r response
	if json.Unmarshal(raw, &r) != nil {
		w.codes["<not json>"]++
		return false
	}
	if len(r.Errors) > 0 {
		w.codes[r.code()]++
		if len(w.messages) < 50 {
			w.messages = append(w.messages, r.Errors[0].Message)
		}
		return false
	}
	if res.StatusCode != http.StatusOK {
		return false
	}
	w.successes[name]++
	if out != nil {
		_ = json.Unmarshal(r.Data, out)
	}
	return true
}

// write cycles through audited mutations on one workspace until ctx ends.
// It tracks whether its member is in the workspace, so that after a failure
// (the database went away) it picks up where the state is.
func (w *workload) write(ctx context.Context, sp workloadSpace) {
	present := true
	for n := 0; ctx.Err() == nil; n++ {
		if !present {
			present = w.call(ctx, "addMember", `mutation($w: ID!, $e: String!) { addMember(input: {workspaceId: $w, email: $e}) { role } }`,
				map[string]any{"w": sp.id, "e": sp.member.email}, nil)
			continue
		}
		var inv struct {
			CreateInviteLink struct{ InviteLink struct{ ID string } }
		}
		if w.call(ctx, "createInviteLink", `mutation($w: ID!, $e: String!) { createInviteLink(input: {workspaceId: $w, kind: EMAIL, email: $e}) { inviteLink { id } } }`,
			map[string]any{"w": sp.id, "e": fmt.Sprintf("load%d.%s@example.com", n, sp.member.id)}, &inv) {
			w.call(ctx, "deleteInviteLink", `mutation($w: ID!, $id: ID!) { deleteInviteLink(workspaceId: $w, id: $id) { deletedInviteLinkId } }`,
				map[string]any{"w": sp.id, "id": inv.CreateInviteLink.InviteLink.ID}, nil)
		}
		w.call(ctx, "updateMemberRole", `mutation($w: ID!, $u: ID!) { updateMemberRole(input: {workspaceId: $w, userId: $u, role: ADMIN}) { role } }`,
			map[string]any{"w": sp.id, "u": sp.member.id}, nil)
		w.call(ctx, "updateMemberRole", `mutation($w: ID!, $u: ID!) { updateMemberRole(input: {workspaceId: $w, userId: $u, role: MEMBER}) { role } }`,
			map[string]any{"w": sp.id, "u": sp.member.id}, nil)
		if w.call(ctx, "removeMember", `mutation($w: ID!, $u: ID!) { removeMember(workspaceId: $w, userId: $u) { removedUserId } }`,
			map[string]any{"w": sp.id, "u": sp.member.id}, nil) {
			present = false
		}
	}
}

// read pages through workspaces' logs until ctx ends.
func (w *workload) read(ctx context.Context) {
	for i := 0; ctx.Err() == nil; i++ {
		sp := w.spaces[i%len(w.spaces)]
		w.call(ctx, "auditLog", `query($w: ID!) { auditLog(workspaceId: $w, first: 50) { totalCount edges { cursor node { id action actor { email } target { label } } } } }`,
			map[string]any{"w": sp.id}, nil)
	}
}

// run starts writers (one per workspace) and readers, and returns a func
// that stops them and waits. Stopping lets requests in flight finish (their
// outcome is recorded), so that what the clients saw is complete.
func (w *workload) run(readers int) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, sp := range w.spaces {
		wg.Add(1)
		go func() { defer wg.Done(); w.write(ctx, sp) }()
	}
	for i := 0; i < readers; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); w.read(ctx) }()
	}
	return func() { cancel(); wg.Wait() }
}

// requestContext is the context of one request: not cancelled when the
// workload stops, so that a request in flight completes and is counted.
func requestContext(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

// mutations is the number of successful mutations.
func (w *workload) mutations() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for name, c := range w.successes {
		if name != "auditLog" {
			n += c
		}
	}
	return n
}
