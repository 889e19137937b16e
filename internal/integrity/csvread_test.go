package integrity

import (
	"bufio"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestCSVReaderIsByteExact: the reader returns cells exactly as the encoder
// meant them (CRLF inside quotes stays CRLF, unlike encoding/csv), and
// refuses what the encoder never writes.
func TestCSVReaderIsByteExact(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in string
		want     [][]string
		err      string
	}{
		{"crlf-records", "a,b\r\nc,d\r\n", [][]string{{"a", "b"}, {"c", "d"}}, ""},
		{"lf-records", "a,b\nc,d\n", [][]string{{"a", "b"}, {"c", "d"}}, ""},
		{"empty-cells", ",,\r\n", [][]string{{"", "", ""}}, ""},
		{"quoted-crlf-kept", "\"x\r\ny\",z\r\n", [][]string{{"x\r\ny", "z"}}, ""},
		{"quoted-lone-cr-kept", "\"\rx\",\"y\r\"\r\n", [][]string{{"\rx", "y\r"}}, ""},
		{"doubled-quotes", "\"say \"\"hi\"\"\",\"\"\r\n", [][]string{{`say "hi"`, ""}}, ""},
		{"quoted-comma", "\"a,b\",c\r\n", [][]string{{"a,b", "c"}}, ""},
		{"invalid-utf8-kept", "\xff\xfe,x\r\n", [][]string{{"\xff\xfe", "x"}}, ""},
		{"no-final-line-break", "a,b\r\nc,d", nil, "cut short"},
		{"unterminated-quote", "\"abc\r\n", nil, "cut short"},
		{"quote-in-unquoted-cell", "a\"b,c\r\n", nil, "quote inside"},
		{"text-after-closing-quote", "\"a\"b,c\r\n", nil, "after the closing quote"},
		{"bare-cr", "a\rb,c\r\n", nil, "carriage return"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newCSVReader(bufio.NewReader(strings.NewReader(tc.in)))
			var got [][]string
			var err error
			for {
				var cells [][]byte
				cells, err = r.read()
				if err != nil {
					break
				}
				var rec []string
				for _, c := range cells {
					rec = append(rec, string(c))
				}
				got = append(got, rec)
			}
			if tc.err == "" {
				if !errors.Is(err, errCSVEnd) {
					t.Fatalf("error %v", err)
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("records (-want +got):\n%s", diff)
				}
			} else if err == nil || errors.Is(err, errCSVEnd) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("error %v, want one saying %q", err, tc.err)
			}
		})
	}
}
