package integrity_test

import (
	"bufio"
	"bytes"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/integrity"
)

// exportFile writes rows (oldest first) as an export file, newest first, as
// the service does: the audit package's own encoder writes every byte, the
// chain's columns included (audit.Row's Sequence, PrevHash and Hash), so
// quoting, escaping, the formula guard and the framing are production's.
//
// flags, when not nil, adds the advisory flags column of docs/API.md §14
// (flags[i] are row i's flags): the verifier must accept it and ignore it.
// The encoder does not write flags yet, so for those files each row is the
// encoder's and the column is appended to it.
func exportFile(t testing.TB, f audit.Format, rows []link, flags map[int][]string) []byte {
	t.Helper()
	newest := slices.Clone(rows)
	slices.Reverse(newest)
	if flags == nil {
		return encodeRows(t, f, newest...)
	}
	var out bytes.Buffer
	if f == audit.CSV {
		out.WriteString(audit.CSVChainHeader + "," + integrity.CSVFlagsColumn + "\r\n")
	} else {
		out.WriteString("[")
	}
	for i, l := range newest {
		enc := encodeOne(t, f, l)
		names := flags[len(rows)-1-i]
		if f == audit.CSV {
			out.Write(bytes.TrimSuffix(enc, []byte("\r\n")))
			out.WriteString("," + strings.Join(names, ";") + "\r\n")
			continue
		}
		if i > 0 {
			out.WriteString(",")
		}
		out.WriteString("\n")
		out.Write(bytes.TrimSuffix(enc, []byte("}")))
		out.WriteString(`,"flags":[`)
		for j, fl := range names {
			if j > 0 {
				out.WriteString(",")
			}
			out.WriteString(strconv.Quote(fl))
		}
		out.WriteString("]}")
	}
	if f == audit.JSON {
		if len(rows) > 0 {
			out.WriteString("\n")
		}
		out.WriteString("]\n")
	}
	return out.Bytes()
}

// linkRow is a chained event as the store's streaming reader hands it to
// the export: its columns and its chain columns.
func linkRow(l link) *audit.Row {
	r := eventRow(&l.Event)
	r.Sequence = l.Sequence
	r.PrevHash = slices.Clone(l.PrevHash[:])
	r.Hash = slices.Clone(l.Hash[:])
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

// encodeOne is the audit encoder's bytes for one row: the CSV line with its
// CRLF, or the JSON object.
func encodeOne(t testing.TB, f audit.Format, l link) []byte {
	t.Helper()
	b := encodeRows(t, f, l)
	if f == audit.CSV {
		return bytes.TrimPrefix(b, []byte(audit.CSVChainHeader+"\r\n"))
	}
	return bytes.TrimSuffix(bytes.TrimPrefix(b, []byte("[\n")), []byte("\n]\n"))
}
