package integrity_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/gowebpki/jcs"

	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/integrity"
	"github.com/auditlogd/auditlogd/internal/role"
	"github.com/auditlogd/auditlogd/internal/timefmt"
)

// Shared by the tests of this package: sample events, the reference
// canonical form (the library over the generic object), and chains.

const hWorkspace = "01HZY3J4QK2M6N8P0R2S4T6V8A"

func hp(s string) *string { return &s }

func hRole(r role.Role) *role.Role { return &r }

// hEvent is a MEMBER_ROLE_UPDATED with every field set.
func hEvent() audit.Event {
	return audit.Event{
		ID:           "01HZY3J4QK2M6N8P0R2S4T6V8W",
		WorkspaceID:  hWorkspace,
		Action:       audit.MemberRoleUpdated,
		OccurredAt:   time.Date(2026, 11, 28, 9, 30, 0, 123_000_000, time.UTC),
		Actor:        audit.Actor{ID: "u-alice", Email: hp("alice@example.com"), Type: audit.ActorUser},
		Target:       &audit.Target{Type: audit.TargetUser, ID: "u-bob", Label: hp("bob@example.com")},
		PreviousRole: hRole(role.Member),
		Role:         hRole(role.Admin),
		IPAddress:    hp("192.0.2.7"),
		UserAgent:    hp("Mozilla/5.0 (X11; Linux x86_64)"),
		RequestID:    hp("01HZY3J4QK2M6N8P0R2S4T6V8R"),
	}
}

// hSparse is a system event without target, email, roles or request info.
func hSparse() audit.Event {
	return audit.Event{
		ID:          "01HZY3J4QK2M6N8P0R2S4T6V8X",
		WorkspaceID: hWorkspace,
		Action:      audit.MemberAdded,
		OccurredAt:  time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC),
		Actor:       audit.Actor{ID: "system", Type: audit.ActorSystem},
	}
}

// referenceCanonical is the oracle: docs/API.md §9's object built generically
// (maps, encoding/json) and canonicalized by the JCS library as a whole.
// The package's fast writer must produce exactly these bytes.
func referenceCanonical(tb testing.TB, e *audit.Event, seq int64, prev integrity.Hash) []byte {
	tb.Helper()
	var target any
	if e.Target != nil {
		target = map[string]any{"type": string(e.Target.Type), "id": e.Target.ID, "label": e.Target.Label}
	}
	obj := map[string]any{
		"workspaceId":  e.WorkspaceID,
		"sequence":     seq,
		"prevHash":     prev.String(),
		"id":           e.ID,
		"occurredAt":   timefmt.Format(e.OccurredAt),
		"action":       string(e.Action),
		"actor":        map[string]any{"id": e.Actor.ID, "email": e.Actor.Email, "type": string(e.Actor.Type)},
		"target":       target,
		"previousRole": e.PreviousRole,
		"role":         e.Role,
		"ipAddress":    e.IPAddress,
		"userAgent":    e.UserAgent,
		"requestId":    e.RequestID,
	}
	raw, err := json.Marshal(obj)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := jcs.Transform(raw)
	if err != nil {
		tb.Fatalf("jcs.Transform(%s): %v", raw, err)
	}
	return c
}

// eventRow is e as the store's streaming reader hands it out.
func eventRow(e *audit.Event) *audit.Row {
	b := func(p *string) []byte {
		if p == nil {
			return nil
		}
		return []byte(*p)
	}
	r := &audit.Row{OccurredAtMs: e.OccurredAt.UnixMilli(), ID: []byte(e.ID), Action: []byte(e.Action),
		ActorID: []byte(e.Actor.ID), ActorEmail: b(e.Actor.Email), ActorType: []byte(e.Actor.Type),
		IPAddress: b(e.IPAddress), UserAgent: b(e.UserAgent), RequestID: b(e.RequestID)}
	if e.Target != nil {
		r.TargetType, r.TargetID, r.TargetLabel = []byte(e.Target.Type), []byte(e.Target.ID), b(e.Target.Label)
	}
	if e.PreviousRole != nil {
		r.PreviousRole = []byte(*e.PreviousRole)
	}
	if e.Role != nil {
		r.Role = []byte(*e.Role)
	}
	return r
}

// link is one chained event: what the store will hold.
type link struct {
	Event    audit.Event
	Sequence int64
	PrevHash integrity.Hash
	Hash     integrity.Hash
}

// makeChain chains n varied events of hWorkspace, oldest first, starting at
// sequence first (whose prevHash is anchor).
func makeChain(tb testing.TB, first int64, anchor integrity.Hash, n int) []link {
	tb.Helper()
	var h integrity.Hasher
	prev := anchor
	out := make([]link, 0, n)
	start := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	for i := range n {
		e := hEvent()
		if i%3 == 1 {
			e = hSparse()
		}
		e.ID = fmt.Sprintf("01HZY3J4QK2M6N8P0R2S%06d", int(first)+i)
		e.OccurredAt = start.Add(time.Duration(i) * time.Minute)
		if i%4 == 2 {
			e.UserAgent = hp(`curl/8.5 "quoted" \ back`)
		}
		seq := first + int64(i)
		hash, err := h.Event(&e, seq, prev)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, link{Event: e, Sequence: seq, PrevHash: prev, Hash: hash})
		prev = hash
	}
	return out
}
