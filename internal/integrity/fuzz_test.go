package integrity_test

import (
	"testing"
	"time"

	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/integrity"
	"github.com/auditlogd/auditlogd/internal/role"
)

// FuzzCanonicalMatchesJCS: for any event, the package's canonical bytes (the
// fast writer, through Event and through Row) are exactly what the JCS
// library makes of the generic object. This is the proof that the fast path
// hand-rolls no escaping of its own.
func FuzzCanonicalMatchesJCS(f *testing.F) {
	full, sparse := hEvent(), hSparse()
	add := func(e audit.Event, nulls uint16, seq int64, prev []byte) {
		s := func(p *string) string {
			if p == nil {
				return ""
			}
			return *p
		}
		tt, tid, tl := "", "", ""
		if e.Target != nil {
			tt, tid, tl = string(e.Target.Type), e.Target.ID, s(e.Target.Label)
		}
		pr, r := "", ""
		if e.PreviousRole != nil {
			pr = string(*e.PreviousRole)
		}
		if e.Role != nil {
			r = string(*e.Role)
		}
		f.Add(e.WorkspaceID, e.ID, string(e.Action), e.Actor.ID, s(e.Actor.Email), string(e.Actor.Type), tt, tid, tl,
			pr, r, s(e.IPAddress), s(e.UserAgent), s(e.RequestID), nulls, seq, e.OccurredAt.UnixMilli(), prev)
	}
	add(full, 0, 42, []byte{1, 2, 3})
	add(sparse, 0xffff, 1, nil)
	e := full
	e.UserAgent = hp("a \"quoted\" \\ back\x00\x1f\x7f")
	add(e, 0, integrity.MaxSequence, []byte("0123456789abcdef0123456789abcdef"))
	e.Target.Label = hp("\xff\xfe\xe2\x82 zoë 😀 \u2028")
	add(e, 1<<3, 2, nil)
	e.Actor.Email = hp("=cmd|' /C calc'!A0")
	add(e, 1<<1, 3, nil)

	f.Fuzz(func(t *testing.T, ws, id, action, actorID, actorEmail, actorType, targetType, targetID, targetLabel,
		previousRole, newRole, ip, ua, requestID string, nulls uint16, seq, ms int64, prevBytes []byte) {
		if seq < 1 {
			seq = -seq%integrity.MaxSequence + 1
		}
		if seq > integrity.MaxSequence {
			seq = seq%integrity.MaxSequence + 1
		}
		// Years 0000–9999: the API's time format is RFC 3339 only there.
		ms %= 253_402_300_800_000
		if ms < -62_135_596_800_000 {
			ms = -ms
		}
		var prev integrity.Hash
		copy(prev[:], prevBytes)
		opt := func(bit int, v string) *string {
			if nulls&(1<<bit) != 0 {
				return nil
			}
			return &v
		}
		e := audit.Event{ID: id, WorkspaceID: ws, Action: audit.Action(action), OccurredAt: time.UnixMilli(ms).UTC(),
			Actor:     audit.Actor{ID: actorID, Email: opt(0, actorEmail), Type: audit.ActorType(actorType)},
			IPAddress: opt(1, ip), UserAgent: opt(2, ua), RequestID: opt(3, requestID)}
		if nulls&(1<<4) == 0 {
			e.Target = &audit.Target{Type: audit.TargetType(targetType), ID: targetID, Label: opt(5, targetLabel)}
		}
		if p := opt(6, previousRole); p != nil {
			e.PreviousRole = (*role.Role)(p)
		}
		if p := opt(7, newRole); p != nil {
			e.Role = (*role.Role)(p)
		}

		want := referenceCanonical(t, &e, seq, prev)
		got, err := integrity.AppendCanonicalEvent(nil, &e, seq, prev)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("canonical form differs from the JCS library's\n got %q\nwant %q", got, want)
		}
		var h integrity.Hasher
		fromEvent, err := h.Event(&e, seq, prev)
		if err != nil {
			t.Fatal(err)
		}
		fromRow, err := h.Row(ws, eventRow(&e), seq, prev)
		if err != nil {
			t.Fatal(err)
		}
		if fromEvent != fromRow {
			t.Fatalf("Row hash %s differs from Event hash %s", fromRow, fromEvent)
		}
	})
}
