package integrity_test

import (
	"bytes"
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

// FuzzExportRoundTrip: whatever a field holds, an export written by the
// audit encoder (with the chain columns) verifies complete, as CSV and as
// JSON. It exercises the byte-exact CSV reader, the undoing of the formula
// guard (ambiguities included) and the JSON reader against the encoders.
func FuzzExportRoundTrip(f *testing.F) {
	for _, s := range []string{"", "plain", "=1+2", "'=x", "'", "a,b", `say "hi"`, "line\r\nbreak", "\rreturn",
		"\ttab", "-1", "+1", "@x", "zoë 😀", "\xff\xfe", "\u2028", "\x00\x1f\x7f", "'\r", "''=", ",\r\n\""} {
		f.Add(s, uint8(0))
	}
	s := integrity.NewSigner(newKey(f))
	f.Fuzz(func(t *testing.T, v string, where uint8) {
		e := hEvent()
		switch where % 6 {
		case 0:
			e.Target.Label = hp(v)
		case 1:
			e.UserAgent = hp(v)
		case 2:
			e.Actor.Email = hp(v)
		case 3:
			e.Actor.ID = v
		case 4:
			e.ID, e.RequestID, e.IPAddress = v, hp(v), hp(v)
		case 5:
			e.Action, e.Target.ID, e.Target.Type = audit.Action(v), v, audit.TargetType(v)
		}
		if v == "" && where%6 != 3 && where%6 != 5 {
			// An empty optional value is an empty CSV cell, which reads as
			// null: the service stores none (see docs/INTEGRITY.md).
			return
		}
		hash, err := integrity.EventHash(&e, 1, integrity.ZeroHash)
		if err != nil {
			t.Fatal(err)
		}
		rows := []link{{Event: e, Sequence: 1, PrevHash: integrity.ZeroHash, Hash: hash}}
		head := signedHeadOf(t, s, rows)
		for _, format := range []audit.Format{audit.CSV, audit.JSON} {
			file := exportFile(t, format, rows, nil)
			rep, err := integrity.VerifyExport(bytes.NewReader(file), integrity.ExportOptions{Head: head, Keys: s.JWKS()})
			if err != nil {
				t.Fatalf("%s: %v\n%q", format, err, file)
			}
			if !rep.Complete {
				t.Fatalf("%s: %+v\n%q", format, rep.Problems, file)
			}
		}
	})
}

// FuzzVerifyExportInput: any bytes given as an export file give a report or
// an error, never a panic, and a report's counts are consistent. The seeds
// are real CSV and JSON exports.
func FuzzVerifyExportInput(f *testing.F) {
	s := integrity.NewSigner(newKey(f))
	chain := makeChain(f, 1, integrity.ZeroHash, 4)
	head := signedHeadOf(f, s, chain)
	for _, format := range []audit.Format{audit.CSV, audit.JSON} {
		f.Add(exportFile(f, format, chain, nil))
		f.Add(exportFile(f, format, chain, map[int][]string{1: {"BURST", "NEW_LOCATION"}}))
	}
	f.Add([]byte(`[{"id":"\u0041","actor":{"id":1}}]`))
	f.Add([]byte("[]"))
	f.Fuzz(func(t *testing.T, file []byte) {
		rep, err := integrity.VerifyExport(bytes.NewReader(file), integrity.ExportOptions{Head: head, Keys: s.JWKS()})
		if err != nil {
			return
		}
		if rep.OK != (rep.ProblemCount == 0) || int64(len(rep.Problems)) > rep.ProblemCount ||
			len(rep.Problems) > integrity.MaxProblems || (rep.Complete && !rep.OK) {
			t.Fatalf("inconsistent report %+v", rep)
		}
	})
}
