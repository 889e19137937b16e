package integrity

import (
	"encoding/binary"
	"encoding/hex"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/gowebpki/jcs"

	"github.com/auditlogd/auditlogd/internal/timefmt"
)

// The test data in this file is typed in from the text of RFC 8785, "JSON
// Canonicalization Scheme (JCS)", June 2020. It pins the JCS library we hash
// with (github.com/gowebpki/jcs) to the RFC, and the package's own fast path
// for strings to the same rules.

// TestRFC8785SampleObject is the example of §3.2.2 ("Serialization of
// Primitive Data Types") with its canonical output, and the UTF-8 bytes of
// that output as §3.2.4 ("UTF-8 Generation") lists them in hex.
func TestRFC8785SampleObject(t *testing.T) {
	t.Parallel()
	input := `{
  "numbers": [333333333.33333329, 1E30, 4.50,
              2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}`
	want := `{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],` +
		`"string":"€$\u000f\nA'B\"\\\\\"/"}`
	wantHex := `7b 22 6c 69 74 65 72 61 6c 73 22 3a 5b 6e 75 6c 6c 2c 74 72
	75 65 2c 66 61 6c 73 65 5d 2c 22 6e 75 6d 62 65 72 73 22 3a
	5b 33 33 33 33 33 33 33 33 33 2e 33 33 33 33 33 33 33 2c 31
	65 2b 33 30 2c 34 2e 35 2c 30 2e 30 30 32 2c 31 65 2d 32 37
	5d 2c 22 73 74 72 69 6e 67 22 3a 22 e2 82 ac 24 5c 75 30 30
	30 66 5c 6e 41 27 42 5c 22 5c 5c 5c 5c 5c 22 2f 22 7d`
	got, err := jcs.Transform([]byte(input))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("canonical form\n got %s\nwant %s", got, want)
	}
	wantBytes, err := hex.DecodeString(strings.Join(strings.Fields(wantHex), ""))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(wantBytes) {
		t.Errorf("UTF-8 bytes\n got % x\nwant % x", got, wantBytes)
	}
}

// TestRFC8785PropertySorting is the example of §3.2.3 ("Sorting of Object
// Properties"): names are sorted by their UTF-16 code units, which puts the
// emoji (a surrogate pair, D83D DE00) before U+FB33 although its code point
// is larger.
func TestRFC8785PropertySorting(t *testing.T) {
	t.Parallel()
	input := `{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
}`
	want := "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u0080\":\"Control\"," +
		"\"\u00f6\":\"Latin Small Letter O With Diaeresis\",\"\u20ac\":\"Euro Sign\"," +
		"\"\U0001F600\":\"Emoji: Grinning Face\",\"\ufb33\":\"Hebrew Letter Dalet With Dagesh\"}"
	got, err := jcs.Transform([]byte(input))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("canonical form\n got %s\nwant %s", got, want)
	}
}

// TestRFC8785NumberSamples is Appendix B ("Number Serialization Samples"):
// IEEE 754 bit patterns and their JCS spelling. NaN and Infinity have none.
// The chain hashes one number, the sequence, as plain decimal digits; the
// integer rows here and TestSequenceDigitsAreJCSNumbers pin that choice.
func TestRFC8785NumberSamples(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ bits, want string }{
		{"0000000000000000", "0"},
		{"8000000000000000", "0"}, // minus zero
		{"0000000000000001", "5e-324"},
		{"8000000000000001", "-5e-324"},
		{"7fefffffffffffff", "1.7976931348623157e+308"},
		{"ffefffffffffffff", "-1.7976931348623157e+308"},
		{"4340000000000000", "9007199254740992"},
		{"c340000000000000", "-9007199254740992"},
		{"4430000000000000", "295147905179352830000"},
		{"44b52d02c7e14af5", "9.999999999999997e+22"},
		{"44b52d02c7e14af6", "1e+23"},
		{"44b52d02c7e14af7", "1.0000000000000001e+23"},
		{"444b1ae4d6e2ef4e", "999999999999999700000"},
		{"444b1ae4d6e2ef4f", "999999999999999900000"},
		{"444b1ae4d6e2ef50", "1e+21"},
		{"3eb0c6f7a0b5ed8c", "9.999999999999997e-7"},
		{"3eb0c6f7a0b5ed8d", "0.000001"},
		{"41b3de4355555553", "333333333.3333332"},
		{"41b3de4355555554", "333333333.33333325"},
		{"41b3de4355555555", "333333333.3333333"},
		{"41b3de4355555556", "333333333.3333334"},
		{"41b3de4355555557", "333333333.33333343"},
		{"becbf647612f3696", "-0.0000033333333333333333"},
		{"43143ff3c1cb0959", "1424953923781206.2"}, // round to even
		{"7fffffffffffffff", ""},                   // NaN
		{"7ff0000000000000", ""},                   // Infinity
	} {
		t.Run(tc.bits, func(t *testing.T) {
			raw, err := hex.DecodeString(tc.bits)
			if err != nil {
				t.Fatal(err)
			}
			f := math.Float64frombits(binary.BigEndian.Uint64(raw))
			got, err := jcs.NumberToJSON(f)
			if tc.want == "" {
				if err == nil {
					t.Errorf("NumberToJSON(%v) = %q, want an error", f, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("NumberToJSON(%v) = %q, %v; want %q", f, got, err, tc.want)
			}
		})
	}
}

// TestSequenceDigitsAreJCSNumbers: the canonical form writes a sequence with
// strconv.AppendInt. For every integer up to 2^53 that is what JCS writes.
func TestSequenceDigitsAreJCSNumbers(t *testing.T) {
	t.Parallel()
	for _, n := range []int64{1, 9, 10, 99, 100, 12345, 999_999, 1_000_000, 1e15, 1e15 + 1,
		1<<31 - 1, 1 << 31, 1<<32 + 7, 123_456_789_012_345, MaxSequence - 1, MaxSequence} {
		want, err := jcs.NumberToJSON(float64(n))
		if err != nil {
			t.Fatal(err)
		}
		r := record[string]{sequence: n}
		r.noTarget = true
		b, _, err := appendCanonical(nil, &r)
		if err != nil {
			t.Fatalf("sequence %d: %v", n, err)
		}
		if !strings.Contains(string(b), `"sequence":`+want+`,`) {
			t.Errorf("sequence %d: canonical form %s does not hold %q", n, b, want)
		}
	}
}

// TestRFC8785StringEscapes is §3.2.2.2 ("Serialization of Strings"): the
// seven two-character escapes, \u00XX in lower-case hex for the other
// control characters, and everything else (DEL, U+2028, non-ASCII) as is.
// Each case goes through the package's string writer, fast path or not, and
// through the library on its own.
func TestRFC8785StringEscapes(t *testing.T) {
	t.Parallel()
	var controls, controlsWant strings.Builder
	short := map[byte]string{'\b': `\b`, '\t': `\t`, '\n': `\n`, '\f': `\f`, '\r': `\r`}
	for c := byte(0); c < 0x20; c++ {
		controls.WriteByte(c)
		if s, ok := short[c]; ok {
			controlsWant.WriteString(s)
		} else {
			controlsWant.WriteString(`\u00`)
			controlsWant.WriteString(hex.EncodeToString([]byte{c}))
		}
	}
	for _, tc := range []struct{ name, in, want string }{
		{"plain-ascii-as-is", "ada@example.com", `"ada@example.com"`},
		{"empty", "", `""`},
		{"quote-and-backslash", `say "hi" \o/`, `"say \"hi\" \\o/"`},
		{"solidus-not-escaped", "a/b", `"a/b"`},
		{"all-control-characters", controls.String(), `"` + controlsWant.String() + `"`},
		{"del-as-is", "a\x7fb", "\"a\x7fb\""},
		{"line-separators-as-is", "a\u2028b\u2029c", "\"a\u2028b\u2029c\""},
		{"non-ascii-as-is", "\u20ac$ \u00f6 \ufb33 \U0001F600", "\"\u20ac$ \u00f6 \ufb33 \U0001F600\""},
		{"html-characters-as-is", "<a href='x'>&amp;</a>", `"<a href='x'>&amp;</a>"`},
		{"invalid-utf8-is-replacement-character-per-byte", "a\xff\xfeb\xe2\x82", "\"a\ufffd\ufffdb\ufffd\ufffd\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := appendJCSString(nil, tc.in)
			if err != nil || string(got) != tc.want {
				t.Errorf("string %q: got %s, %v; want %s", tc.in, got, err, tc.want)
			}
			gotBytes, err := appendJCSString(nil, []byte(tc.in))
			if err != nil || string(gotBytes) != tc.want {
				t.Errorf("bytes %q: got %s, %v; want %s", tc.in, gotBytes, err, tc.want)
			}
		})
	}
}

// TestAppendTimeIsTimefmtFormat: the hand-written layout equals the API's
// time format, including the fallback years and sub-millisecond truncation.
func TestAppendTimeIsTimefmtFormat(t *testing.T) {
	t.Parallel()
	for _, tm := range []time.Time{
		time.Date(2026, 11, 28, 9, 30, 0, 123_456_789, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 999_999_999, time.FixedZone("ahead", 13*3600)),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999_000_000, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 6, 1, 0, 0, 0, 0, time.UTC),
		time.Unix(0, 0),
		time.UnixMilli(-1),
	} {
		var buf timeBuf
		if got, want := string(appendTime(&buf, tm)), timefmt.Format(tm); got != want {
			t.Errorf("appendTime(%v) = %q, timefmt.Format = %q", tm, got, want)
		}
	}
}
