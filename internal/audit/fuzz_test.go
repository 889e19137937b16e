package audit_test

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/auditlogd/auditlogd/internal/apperr"
	"github.com/auditlogd/auditlogd/internal/audit"
)

// Fuzz targets of issue 4, item 6. Each runs its seeds (f.Add and
// testdata/fuzz/<name>) as a normal test; `go test -fuzz '^FuzzX$'` explores
// from there.

// fzKey keys the cursor codec and the URL signer of the targets; the
// committed corpora hold cursors and signatures made with it.
var fzKey = []byte("fuzz-key-0123456789-abcdefghijklmnopqrstuvwxyz")

const (
	fzWorkspace = "01HZY3J4QK2M6N8P0R2S4T6V8A"
	fzPublicURL = "https://audit.example.com"
)

// fzWantBadInput checks that err is BAD_USER_INPUT naming a field that
// starts with prefix.
func fzWantBadInput(t *testing.T, err error, prefix string) {
	t.Helper()
	e, ok := apperr.As(err)
	if !ok || e.Code != apperr.BadUserInput || !strings.HasPrefix(e.Field, prefix) || e.Message == "" {
		t.Fatalf("error %v (%#v), want BAD_USER_INPUT on %s…", err, e, prefix)
	}
}

func FuzzCursorDecode(f *testing.F) {
	c := audit.NewCursorCodec(fzKey)
	id := ulid.MustParse("01HZY3J4QK2M6N8P0R2S4T6V8W")
	valid := c.Encode(fzWorkspace, audit.Position{OccurredAt: time.UnixMilli(1_767_225_600_123).UTC(), ID: id.String()})
	f.Add(fzWorkspace, valid, int64(0), id[:])
	f.Add(fzWorkspace, valid+"A", int64(-1), []byte{})
	f.Add("", "", int64(1<<62), bytes.Repeat([]byte{0xff}, 16))
	f.Add("other-workspace", valid, int64(-1<<63), bytes.Repeat([]byte{0}, 16))
	f.Add(fzWorkspace, strings.ToUpper(valid), int64(1<<63-1), []byte("0123456789abcdef"))
	f.Add(fzWorkspace, strings.NewReplacer("-", "+", "_", "/").Replace(valid)+"=", int64(1), []byte{1})
	f.Fuzz(func(t *testing.T, ws, cursor string, ms int64, idBytes []byte) {
		// Decoding anything never panics; what it accepts is exactly a cursor
		// it issues for this workspace, and no other workspace's.
		pos, err := c.Decode(ws, "after", cursor)
		if err != nil {
			fzWantBadInput(t, err, "after")
		} else {
			if again := c.Encode(ws, pos); again != cursor {
				t.Fatalf("Decode(%q) accepted %q, which encodes as %q", ws, cursor, again)
			}
			if _, err := c.Decode(ws+"\x00", "before", cursor); err == nil {
				t.Fatalf("a cursor of workspace %q is accepted for another workspace", ws)
			}
		}
		// Any position round-trips.
		if len(idBytes) < 16 {
			return
		}
		var u ulid.ULID
		copy(u[:], idBytes)
		p := audit.Position{OccurredAt: time.UnixMilli(ms).UTC(), ID: u.String()}
		enc := c.Encode(ws, p)
		got, err := c.Decode(ws, "before", enc)
		if err != nil {
			t.Fatalf("a cursor this codec issued is refused: %v", err)
		}
		if !got.OccurredAt.Equal(p.OccurredAt) || got.ID != p.ID {
			t.Fatalf("round trip: %+v became %+v", p, got)
		}
	})
}

// fzTime makes a time from fuzzed seconds, nanoseconds and zone offset.
func fzTime(sec int64, nsec int64, zone int32) time.Time {
	return time.Unix(sec, nsec%1e9).In(time.FixedZone("fz", int(zone%(18*3600))))
}

func FuzzFilterValidate(f *testing.F) {
	f.Add("MEMBER_ADDED,MEMBER_ADDED,AUDIT_LOG_EXPORTED", "user-1", "Ada@Example.com", "", "", int64(1_767_225_600), int64(1_767_312_000), int64(500_000), int32(0), uint8(3), int64(1_760_000_000))
	f.Add("", "", "", "", "", int64(0), int64(0), int64(0), int32(0), uint8(0), int64(0))
	f.Add("member_added", strings.Repeat("a", 192), "", "", "", int64(0), int64(0), int64(0), int32(0), uint8(0), int64(0))
	f.Add("", "", strings.Repeat("e", 321), strings.Repeat("t", 191), strings.Repeat("l", 320), int64(10), int64(10), int64(999_999), int32(3600), uint8(3), int64(20))
	f.Add(",", "", "", "", "", int64(100), int64(99), int64(0), int32(-7200), uint8(3), int64(-62_135_596_800))
	f.Add("EMAIL_INVITE_ACCEPTED", "", "", "", "", int64(253_402_300_799), int64(1<<62), int64(-1), int32(50_400), uint8(1), int64(1<<40))
	f.Fuzz(func(t *testing.T, actions, actorID, actorEmail, targetID, targetLabel string, since, until, nsec int64, zone int32, has uint8, start int64) {
		var fl audit.Filter
		if actions != "" {
			for _, a := range strings.Split(actions, ",") {
				fl.Actions = append(fl.Actions, audit.Action(a))
			}
		}
		fl.ActorID, fl.ActorEmail, fl.TargetID, fl.TargetLabel = actorID, actorEmail, targetID, targetLabel
		if has&1 != 0 {
			fl.Since = new(fzTime(since, nsec, zone))
		}
		if has&2 != 0 {
			fl.Until = new(fzTime(until, -nsec, -zone))
		}
		windowStart := fzTime(start, nsec/7, zone/3)
		before := fzCopyFilter(fl)

		err := fl.Validate()
		if err != nil {
			fzWantBadInput(t, err, "filter.")
		}
		w := fl.Window(windowStart)
		if !fzSameFilter(before, fl) {
			t.Fatalf("Window changed its input: %+v became %+v", before, fl)
		}
		if err != nil {
			return
		}
		// A valid filter stays valid in the window, or is one that can match
		// nothing.
		if werr := w.Validate(); werr != nil && !w.Empty() {
			t.Fatalf("Window(%v) of a valid filter %+v is invalid (%v) and not Empty: %+v", windowStart, fl, werr, w)
		}
		// Stored times are whole milliseconds, so the windowed bounds are the
		// first whole millisecond at or after each bound: [since, until) and
		// [w.Since, w.Until) hold the same stored instants.
		lower := windowStart
		if fl.Since != nil && fl.Since.After(lower) {
			lower = *fl.Since
		}
		fzWantCeil(t, "Since", w.Since, lower)
		if fl.Until != nil {
			fzWantCeil(t, "Until", w.Until, *fl.Until)
		} else if w.Until != nil {
			t.Fatalf("Until %v appeared", w.Until)
		}
		seen := map[audit.Action]bool{}
		for _, a := range w.Actions {
			if seen[a] || !slices.Contains(fl.Actions, a) {
				t.Fatalf("windowed actions %v of %v", w.Actions, fl.Actions)
			}
			seen[a] = true
		}
		if len(seen) != len(fzSet(fl.Actions)) {
			t.Fatalf("windowed actions %v lost some of %v", w.Actions, fl.Actions)
		}
	})
}

// fzWantCeil checks that got is the first whole millisecond, in UTC, at or
// after bound.
func fzWantCeil(t *testing.T, name string, got *time.Time, bound time.Time) {
	t.Helper()
	if got == nil || got.Location() != time.UTC || !got.Equal(got.Truncate(time.Millisecond)) ||
		got.Before(bound) || !got.Add(-time.Millisecond).Before(bound) {
		t.Fatalf("windowed %s %v, want the first whole millisecond in UTC at or after %v", name, got, bound)
	}
}

func fzSet(as []audit.Action) map[audit.Action]bool {
	m := map[audit.Action]bool{}
	for _, a := range as {
		m[a] = true
	}
	return m
}

// fzCopyFilter copies f deeply, to check that Window leaves its input alone.
func fzCopyFilter(f audit.Filter) audit.Filter {
	c := f
	c.Actions = slices.Clone(f.Actions)
	if f.Since != nil {
		c.Since = new(*f.Since)
	}
	if f.Until != nil {
		c.Until = new(*f.Until)
	}
	return c
}

func fzSameFilter(a, b audit.Filter) bool {
	sameTime := func(x, y *time.Time) bool {
		return (x == nil) == (y == nil) && (x == nil || (x.Equal(*y) && x.Location() == y.Location()))
	}
	return slices.Equal(a.Actions, b.Actions) && a.ActorID == b.ActorID && a.ActorEmail == b.ActorEmail &&
		a.TargetID == b.TargetID && a.TargetLabel == b.TargetLabel && sameTime(a.Since, b.Since) && sameTime(a.Until, b.Until)
}

func FuzzCSVCell(f *testing.F) {
	for _, s := range []string{"", "plain", "a,b", `say "hi"`, "line\nbreak", "cr\rlf\r\n", "=1+2", "+1", "-1", "@SUM(A1)",
		"\tindented", "\rreturn", "'quoted", " spaced ", "=HYPERLINK(\"http://x\",\"y\")", "ünïcødé", "\xff\xfe", "\"", ",", "\n", "\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, value []byte) {
		v := slices.Clip(value)
		row := &audit.Row{OccurredAtMs: 1_767_225_600_123, ID: v, Action: v, ActorID: v, ActorEmail: v, ActorType: v,
			TargetType: v, TargetID: v, TargetLabel: v, PreviousRole: v, Role: v, IPAddress: v, UserAgent: v, RequestID: v,
			Sequence: 42, PrevHash: bytes.Repeat([]byte{0x0f}, 32), Hash: bytes.Repeat([]byte{0xf0}, 32)}
		var buf bytes.Buffer
		w := bufio.NewWriter(&buf)
		enc := audit.NewEncoder(audit.CSV, w)
		if err := enc.Begin(); err != nil {
			t.Fatal(err)
		}
		if err := enc.Row(row); err != nil {
			t.Fatal(err)
		}
		if err := enc.End(); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		// The chain's cells, then the flags cell, empty for no flags.
		chain := ",42," + strings.Repeat("0f", 32) + "," + strings.Repeat("f0", 32) + ",\r\n"
		if !strings.HasPrefix(out, xCSVHeader+"\r\n") || !strings.HasSuffix(out, chain) {
			t.Fatalf("output %q does not start with the header or end with the chain's cells, an empty flags cell and CRLF", out)
		}
		// RFC 4180: outside quotes, the row holds no CR or LF but its final
		// CRLF (encoding/csv is lenient about bare CRs; spreadsheets are not).
		data := strings.TrimSuffix(strings.TrimPrefix(out, xCSVHeader+"\r\n"), "\r\n")
		quoted := false
		for i := 0; i < len(data); i++ {
			switch c := data[i]; {
			case c == '"':
				quoted = !quoted
			case (c == '\r' || c == '\n') && !quoted:
				t.Fatalf("unquoted line break at byte %d of the row %q", i, data)
			}
		}
		rd := csv.NewReader(strings.NewReader(out))
		rd.FieldsPerRecord = xCSVColumns
		records, err := rd.ReadAll()
		if err != nil {
			t.Fatalf("encoding/csv cannot read %q: %v", out, err)
		}
		if len(records) != 2 {
			t.Fatalf("%d records, want the header and one row: %q", len(records), out)
		}
		want := string(v)
		if len(v) > 0 && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
			want = "'" + want
		}
		// encoding/csv reads a quoted CRLF as LF; that is the reader's
		// normalization, not the writer's doing.
		want = strings.ReplaceAll(want, "\r\n", "\n")
		if got := strings.Join(records[0], ","); got != xCSVHeader {
			t.Fatalf("header %q", got)
		}
		for i, cell := range records[1] {
			switch i {
			case 1:
				if cell != "2026-01-01T00:00:00.123Z" {
					t.Fatalf("occurred_at %q", cell)
				}
				continue
			case 14, 15, 16, 17: // sequence, prev_hash, hash, flags: checked above
				continue
			}
			if cell != want {
				t.Fatalf("column %d (%s) reads back as %q, want %q; output %q", i, records[0][i], cell, want, out)
			}
		}
	})
}

// fzURLParts splits a signed URL into its id (path-unescaped), expires and
// signature.
func fzURLParts(t testing.TB, raw string) (id, expires, signature string) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("signed URL %q: %v", raw, err)
	}
	p, ok := strings.CutPrefix(u.Path, "/exports/")
	if !ok || u.Scheme+"://"+u.Host != fzPublicURL {
		t.Fatalf("signed URL %q is not under %s/exports/", raw, fzPublicURL)
	}
	q := u.Query()
	if len(q) != 2 || len(q["expires"]) != 1 || len(q["signature"]) != 1 {
		t.Fatalf("signed URL %q: query %v", raw, q)
	}
	return p, q.Get("expires"), q.Get("signature")
}

func FuzzExportURLVerify(f *testing.F) {
	s := audit.NewURLSigner(fzKey, fzPublicURL)
	const exp = 1_767_225_600
	_, e, sig := fzURLParts(f, s.URL(fzWorkspace, time.Unix(exp, 0)))
	f.Add(fzWorkspace, e, sig, fzWorkspace, int64(exp))
	f.Add(fzWorkspace, e, strings.ToUpper(sig), fzWorkspace, int64(exp))
	f.Add(fzWorkspace, "0"+e, sig, "", int64(1))
	f.Add(fzWorkspace+"\n", e, sig, "a/b?c", int64(-5))
	f.Add("", "", "", "", int64(0))
	f.Add("x", "9223372036854775807", strings.Repeat("0", 64), "x", int64(1<<63-1))
	f.Fuzz(func(t *testing.T, id, expires, signature, signID string, signExp int64) {
		// Whatever it is given, Verify accepts only what the signer makes.
		if got, ok := s.Verify(id, expires, signature); ok {
			if got.Unix() <= 0 {
				t.Fatalf("accepted an expiry of %v", got)
			}
			i, e, sg := fzURLParts(t, s.URL(id, got))
			if i != id || e != expires || sg != signature {
				t.Fatalf("Verify(%q, %q, %q) accepted what the signer writes as (%q, %q, %q)", id, expires, signature, i, e, sg)
			}
		} else if !got.IsZero() {
			t.Fatalf("a refusal returned the time %v", got)
		}
		if signExp <= 0 {
			return
		}
		// A triple the signer made is accepted, and changing any part of it
		// is refused.
		i, e, sg := fzURLParts(t, s.URL(signID, time.Unix(signExp, 0)))
		if i != signID {
			t.Fatalf("the URL of export %q names %q", signID, i)
		}
		if got, ok := s.Verify(signID, e, sg); !ok || got.Unix() != signExp {
			t.Fatalf("the signer's own URL for (%q, %d) is refused", signID, signExp)
		}
		for _, c := range [][3]string{{id, e, sg}, {signID, expires, sg}, {signID, e, signature}} {
			if c != [3]string{signID, e, sg} {
				if _, ok := s.Verify(c[0], c[1], c[2]); ok {
					t.Fatalf("Verify accepts %q for the signed (%q, %q, %q)", c, signID, e, sg)
				}
			}
		}
	})
}
