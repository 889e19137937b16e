package integrity_test

import (
	"bufio"
	"bytes"
	"slices"
	"testing"

	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/insight"
)

// exportFile writes rows (oldest first) as an export file, newest first, as
// the service does: the audit package's own encoder writes every byte, the
// chain's columns and the advisory flags column of docs/API.md §14 included,
// so quoting, escaping, the formula guard and the framing are production's.
// flags[i], when given, are row i's flags: the verifier must accept them
// and ignore them.
func exportFile(t testing.TB, f audit.Format, rows []link, flags map[int][]string) []byte {
	t.Helper()
	newest := slices.Clone(rows)
	slices.Reverse(newest)
	for i := range newest {
		for _, name := range flags[len(rows)-1-i] {
			fl, err := insight.ParseFlag(name)
			if err != nil {
				t.Fatal(err)
			}
			newest[i].Event.FlagSet = newest[i].Event.FlagSet.With(fl)
		}
	}
	return encodeRows(t, f, newest...)
}

// linkRow is a chained event as the store's streaming reader hands it to
// the export: its columns and its chain columns.
func linkRow(l link) *audit.Row {
	r := eventRow(&l.Event)
	r.Sequence = l.Sequence
	r.PrevHash = slices.Clone(l.PrevHash[:])
	r.Hash = slices.Clone(l.Hash[:])
	r.Flags = l.Event.FlagSet
	return r
}

// encodeRows is the whole file the audit encoder writes for rows, in the
// order given.
func encodeRows(t testing.TB, f audit.Format, rows ...link) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	enc := audit.NewEncoder(f, w)
	if err := enc.Begin(); err != nil {
		t.Fatal(err)
	}
	for _, l := range rows {
		if err := enc.Row(linkRow(l)); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.End(); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
