package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/auditlogd/auditlogd/internal/auth"
)

// writeResult is the audited-mutation benchmark.
type writeResult struct {
	Clients        int     `json:"clients"`
	Seconds        float64 `json:"seconds"`
	Mutations      int     `json:"mutations"`
	PerSec         float64 `json:"perSec"`
	P50            float64 `json:"p50Ms"`
	P99            float64 `json:"p99Ms"`
	Errors         int     `json:"errors"`
	EventsExpected int     `json:"eventsExpected"`
	EventsFound    int     `json:"eventsFound"`
}

// writer is one client: its own workspace and a member whose role it flips
// and whom it removes and adds back, plus invites it creates and deletes.
type writer struct {
	ws     string
	member string
	email  string
	lat    durations
	counts map[string]int
	errs   int
	round  int // runs so far, so that each run's invitees are new
}

// writes runs clients concurrently for the configured time, each cycling
// through audited mutations, then checks in the database that every
// successful mutation wrote exactly its one event.
func (b *bench) writes(ctx context.Context, rep *report) error {
	writers, err := b.newWriters(ctx, b.o.Clients, "bench writes")
	if err != nil {
		return err
	}
	res, err := b.runWriters(ctx, writers, b.o.WriteTime)
	if err != nil {
		return err
	}
	rep.Writes = &res
	return nil
}

// newWriters makes n clients, each with its own BUSINESS workspace (named
// prefix and its number) and a member.
func (b *bench) newWriters(ctx context.Context, n int, prefix string) ([]*writer, error) {
	v, err := auth.NewVerifier(auth.Settings{Algorithm: "HS256", Secret: []byte(b.o.JWTSecret)})
	if err != nil {
		return nil, err
	}
	billing, _ := v.Sign(auth.Claims{Subject: "bench-billing", Scope: "billing:write", TTL: time.Hour})
	verified := true
	stamp := time.Now().UnixNano()
	// The workspaces belong to an admin of their own: a user belongs to at
	// most 100 workspaces (docs/API.md §2), and the bench may run many times.
	owner, err := v.Sign(auth.Claims{Subject: fmt.Sprintf("%s-%d", b.o.AdminSub, stamp), Email: fmt.Sprintf("owner.%d@bench.example.com", stamp),
		EmailVerified: &verified, TTL: 12 * time.Hour})
	if err != nil {
		return nil, err
	}
	writers := make([]*writer, n)
	for i := range writers {
		w := &writer{member: fmt.Sprintf("bench-member-%d-%d", stamp, i), email: fmt.Sprintf("member%d.%d@bench.example.com", i, stamp), counts: map[string]int{}}
		tok, _ := v.Sign(auth.Claims{Subject: w.member, Email: w.email, EmailVerified: &verified, TTL: time.Hour})
		if err := b.gql(ctx, tok, `{ viewer { id } }`, nil, nil); err != nil {
			return nil, err
		}
		var out struct{ CreateWorkspace struct{ ID string } }
		if err := b.gql(ctx, owner, `mutation($n: String!) { createWorkspace(input: {name: $n}) { id } }`, map[string]any{"n": fmt.Sprintf("%s %d", prefix, i)}, &out); err != nil {
			return nil, err
		}
		w.ws = out.CreateWorkspace.ID
		b.owners[w.ws] = owner
		if err := b.gql(ctx, billing, `mutation($w: ID!) { setWorkspacePlan(workspaceId: $w, plan: BUSINESS) { id } }`, map[string]any{"w": w.ws}, nil); err != nil {
			return nil, err
		}
		if err := b.gql(ctx, owner, `mutation($w: ID!, $e: String!) { addMember(input: {workspaceId: $w, email: $e}) { role } }`, map[string]any{"w": w.ws, "e": w.email}, nil); err != nil {
			return nil, err
		}
		writers[i] = w
	}
	return writers, nil
}

// runWriters runs the writers concurrently for d and checks in the database
// that every successful mutation wrote exactly its one event.
func (b *bench) runWriters(ctx context.Context, writers []*writer, d time.Duration) (writeResult, error) {
	for _, w := range writers {
		w.lat, w.counts, w.errs = nil, map[string]int{}, 0
		w.round++
	}
	before, err := b.eventCounts(ctx, writers)
	if err != nil {
		return writeResult{}, err
	}
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for _, w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.cycle(ctx, w, deadline)
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	after, err := b.eventCounts(ctx, writers)
	if err != nil {
		return writeResult{}, err
	}
	res := writeResult{Clients: len(writers), Seconds: secs, EventsFound: after - before}
	var all durations
	for _, w := range writers {
		all = append(all, w.lat...)
		res.Errors += w.errs
		for _, n := range w.counts {
			res.Mutations += n
		}
	}
	res.EventsExpected = res.Mutations
	res.PerSec = float64(res.Mutations) / secs
	res.P50, res.P99 = all.pct(.5), all.pct(.99)
	return res, nil
}

// cycle runs one client's mutations until the deadline.
func (b *bench) cycle(ctx context.Context, w *writer, deadline time.Time) {
	do := func(name, q string, vars map[string]any, out any) bool {
		took, err := b.timedGQL(ctx, b.tokenFor(w.ws), q, vars, out)
		w.lat = append(w.lat, took)
		if err != nil {
			w.errs++
			return false
		}
		w.counts[name]++
		return true
	}
	for n := 0; time.Now().Before(deadline) && ctx.Err() == nil; n++ {
		var inv struct {
			CreateInviteLink struct{ InviteLink struct{ ID string } }
		}
		email := fmt.Sprintf("invitee%d.%d.%s@bench.example.com", w.round, n, strings.ToLower(w.ws))
		if do("create", `mutation($w: ID!, $e: String!) { createInviteLink(input: {workspaceId: $w, kind: EMAIL, email: $e}) { inviteLink { id } } }`,
			map[string]any{"w": w.ws, "e": email}, &inv) {
			do("delete", `mutation($w: ID!, $id: ID!) { deleteInviteLink(workspaceId: $w, id: $id) { deletedInviteLinkId } }`,
				map[string]any{"w": w.ws, "id": inv.CreateInviteLink.InviteLink.ID}, nil)
		}
		do("promote", `mutation($w: ID!, $u: ID!) { updateMemberRole(input: {workspaceId: $w, userId: $u, role: ADMIN}) { role } }`, map[string]any{"w": w.ws, "u": w.member}, nil)
		do("demote", `mutation($w: ID!, $u: ID!) { updateMemberRole(input: {workspaceId: $w, userId: $u, role: MEMBER}) { role } }`, map[string]any{"w": w.ws, "u": w.member}, nil)
		if do("remove", `mutation($w: ID!, $u: ID!) { removeMember(workspaceId: $w, userId: $u) { removedUserId } }`, map[string]any{"w": w.ws, "u": w.member}, nil) {
			do("add", `mutation($w: ID!, $e: String!) { addMember(input: {workspaceId: $w, email: $e}) { role } }`, map[string]any{"w": w.ws, "e": w.email}, nil)
		}
	}
}

// eventCounts counts the events of the writers' workspaces in the database.
func (b *bench) eventCounts(ctx context.Context, ws []*writer) (int, error) {
	ids := make([]any, len(ws))
	marks := make([]string, len(ws))
	for i, w := range ws {
		ids[i], marks[i] = w.ws, "?"
	}
	var n int
	err := b.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_events WHERE workspace_id IN (`+strings.Join(marks, ",")+`)`, ids...).Scan(&n)
	return n, err
}
