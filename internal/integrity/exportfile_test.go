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

// exportFile writes rows (oldest first) as an export file, newest first, the
// way the export will once it carries the chain: the audit package's own
// encoder writes the §7 columns (so quoting, escaping and the formula guard
// are production's), and the §9 columns and flags are appended to each row.
// flags[i], when set, are row i's flags.
func exportFile(t testing.TB, f audit.Format, rows []link, flags map[int][]string) []byte {
	t.Helper()
	newest := slices.Clone(rows)
	slices.Reverse(newest)
	withFlags := flags != nil
	var out bytes.Buffer
	if f == audit.CSV {
		out.WriteString(audit.CSVHeader + "," + integrity.CSVChainColumns)
		if withFlags {
			out.WriteString("," + integrity.CSVFlagsColumn)
		}
		out.WriteString("\r\n")
	} else {
		out.WriteString("[")
	}
	for i, l := range newest {
		enc := encodeOne(t, f, &l.Event)
		if f == audit.CSV {
			out.Write(bytes.TrimSuffix(enc, []byte("\r\n")))
			out.WriteString("," + strconv.FormatInt(l.Sequence, 10) + "," + l.PrevHash.String() + "," + l.Hash.String())
			if withFlags {
				out.WriteString("," + strings.Join(flags[len(rows)-1-i], ";"))
			}
			out.WriteString("\r\n")
			continue
		}
		if i > 0 {
			out.WriteString(",")
		}
		out.WriteString("\n")
		out.Write(bytes.TrimSuffix(enc, []byte("}")))
		out.WriteString(`,"sequence":` + strconv.FormatInt(l.Sequence, 10) + `,"prevHash":"` + l.PrevHash.String() +
			`","hash":"` + l.Hash.String() + `"`)
		if withFlags {
			out.WriteString(`,"flags":[`)
			for j, fl := range flags[len(rows)-1-i] {
				if j > 0 {
					out.WriteString(",")
				}
				out.WriteString(strconv.Quote(fl))
			}
			out.WriteString("]")
		}
		out.WriteString("}")
	}
	if f == audit.JSON {
		if len(rows) > 0 {
			out.WriteString("\n")
		}
		out.WriteString("]\n")
	}
	return out.Bytes()
}

// encodeOne is the audit encoder's bytes for one row: the CSV line with its
// CRLF, or the JSON object (after the leading newline).
func encodeOne(t testing.TB, f audit.Format, e *audit.Event) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	enc := audit.NewEncoder(f, w)
	if err := enc.Begin(); err != nil {
		t.Fatal(err)
	}
	if err := enc.Row(eventRow(e)); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if f == audit.CSV {
		return bytes.TrimPrefix(buf.Bytes(), []byte(audit.CSVHeader+"\r\n"))
	}
	return bytes.TrimPrefix(buf.Bytes(), []byte("[\n"))
}
