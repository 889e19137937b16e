package integrity_test

import (
	"bytes"
	"testing"

	"github.com/auditlogd/auditlogd/internal/audit"

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

// BenchmarkVerifierRow is verifyAuditLog's per-event cost without the
// database: hash, link and bookkeeping of one row read as raw columns. A
// million events cost a million times this.
func BenchmarkVerifierRow(b *testing.B) {
	chain := makeChain(b, 1, integrity.ZeroHash, 1024)
	for i := range chain {
		chain[i].Event.UserAgent = hp("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Safari/605.1.15")
	}
	var h integrity.Hasher
	prev := integrity.ZeroHash
	rows := make([]*audit.Row, len(chain))
	for i := range chain {
		chain[i].PrevHash = prev
		chain[i].Hash, _ = h.Event(&chain[i].Event, chain[i].Sequence, prev)
		prev = chain[i].Hash
		rows[i] = eventRow(&chain[i].Event)
	}
	b.ReportAllocs()
	v := integrity.NewVerifier(hWorkspace, integrity.Options{})
	i := 0
	for b.Loop() {
		if i == len(rows) {
			if res := v.Finish(); !res.OK {
				b.Fatalf("problems: %+v", res.Problems)
			}
			v, i = integrity.NewVerifier(hWorkspace, integrity.Options{}), 0
		}
		v.Row(rows[i], chain[i].Sequence, chain[i].PrevHash, chain[i].Hash)
		i++
	}
}

// BenchmarkVerifyExport verifies a 10,000-row export file per iteration and
// reports the cost per row.
func BenchmarkVerifyExport(b *testing.B) {
	s := integrity.NewSigner(newKey(b))
	chain := makeChain(b, 1, integrity.ZeroHash, 10_000)
	head := signedHeadOf(b, s, chain)
	for _, f := range []audit.Format{audit.CSV, audit.JSON} {
		file := exportFile(b, f, chain, map[int][]string{1: {"BURST"}})
		b.Run(string(f), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(file)))
			for b.Loop() {
				rep, err := integrity.VerifyExport(bytes.NewReader(file), integrity.ExportOptions{Head: head, Keys: s.JWKS()})
				if err != nil || !rep.Complete {
					b.Fatalf("%v %+v", err, rep)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(chain)), "ns/row")
		})
	}
}
