package integrity_test

import (
	"testing"

	"github.com/auditlogd/auditlogd/internal/integrity"
)

// The chain is hashed once per appended event (the write path, the seeder)
// and once per event by verifyAuditLog, whose budget is a million events in
// 5 s with the database reads. These measure one event's hash.

// BenchmarkEventHash is the write path: a typical event, every field set.
func BenchmarkEventHash(b *testing.B) {
	e := hEvent()
	var h integrity.Hasher
	prev := integrity.Hash{1}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		next, err := h.Event(&e, int64(i%1000+1), prev)
		if err != nil {
			b.Fatal(err)
		}
		prev = next
	}
}

// BenchmarkRowHash is the database verifier's path: raw columns.
func BenchmarkRowHash(b *testing.B) {
	e := hEvent()
	r := eventRow(&e)
	var h integrity.Hasher
	prev := integrity.Hash{1}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		next, err := h.Row(e.WorkspaceID, r, int64(i%1000+1), prev)
		if err != nil {
			b.Fatal(err)
		}
		prev = next
	}
}

// BenchmarkEventHashEscaped is an event whose user agent needs escaping and
// so goes through the JCS library for that one string.
func BenchmarkEventHashEscaped(b *testing.B) {
	e := hEvent()
	e.UserAgent = hp(`Mozilla/5.0 "quoted" \ back`)
	var h integrity.Hasher
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Event(&e, 7, integrity.Hash{1}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEventHashLibrary is the reference path the fast writer replaces:
// the generic object, encoding/json, then jcs.Transform over all of it.
func BenchmarkEventHashLibrary(b *testing.B) {
	e := hEvent()
	b.ReportAllocs()
	for b.Loop() {
		_ = referenceCanonical(b, &e, 7, integrity.Hash{1})
	}
}
