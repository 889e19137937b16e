package audit

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/auditlogd/auditlogd/internal/apperr"
	"github.com/auditlogd/auditlogd/internal/ids"
)

const (
	testWorkspace  = "01JB0000000000000000000000"
	otherWorkspace = "01JB0000000000000000000001"
)

var testKey = []byte("cursor-test-key-0123456789-abcdefghijklmnopqrstuvwxyz")

func testPosition(t *testing.T) Position {
	t.Helper()
	at := time.Date(2026, 11, 28, 9, 30, 15, 123_000_000, time.UTC)
	return Position{OccurredAt: at, ID: ids.New(at)}
}

// wantBadCursor checks that err is BAD_USER_INPUT naming field.
func wantBadCursor(t *testing.T, err error, field string) {
	t.Helper()
	e, ok := apperr.As(err)
	if !ok {
		t.Fatalf("error %v is not an apperr.Error", err)
	}
	if e.Code != apperr.BadUserInput || e.Field != field {
		t.Fatalf("error %v: code %s field %q, want BAD_USER_INPUT field %q", err, e.Code, e.Field, field)
	}
}

func TestCursorRoundTrip(t *testing.T) {
	t.Parallel()
	c := NewCursorCodec(testKey)
	for _, tc := range []struct {
		name string
		at   time.Time
	}{
		{"now-ish", time.Date(2026, 11, 28, 9, 30, 15, 123_000_000, time.UTC)},
		{"whole-second", time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"unix-epoch", time.UnixMilli(0).UTC()},
		{"far-future", time.Date(9999, 12, 31, 23, 59, 59, 999_000_000, time.UTC)},
		{"other-zone-comes-back-utc", time.Date(2026, 6, 1, 12, 0, 0, 1_000_000, time.FixedZone("CEST", 2*3600))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := Position{OccurredAt: tc.at, ID: ids.New(tc.at)}
			s := c.Encode(testWorkspace, p)
			if strings.ContainsAny(s, "+/=") {
				t.Errorf("cursor %q is not unpadded base64url", s)
			}
			got, err := c.Decode(testWorkspace, "after", s)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if diff := cmp.Diff(p, got); diff != "" {
				t.Errorf("position (-want +got):\n%s", diff)
			}
			if got.OccurredAt.Location() != time.UTC {
				t.Errorf("decoded time is in %s, want UTC", got.OccurredAt.Location())
			}
			// Another codec with the same key (another replica) accepts it.
			if _, err := NewCursorCodec(testKey).Decode(testWorkspace, "after", s); err != nil {
				t.Errorf("a codec with the same key refuses the cursor: %v", err)
			}
		})
	}
}

func TestCursorEncodingIsDeterministicAndDistinct(t *testing.T) {
	t.Parallel()
	c := NewCursorCodec(testKey)
	p := testPosition(t)
	if a, b := c.Encode(testWorkspace, p), c.Encode(testWorkspace, p); a != b {
		t.Errorf("same position, two cursors: %s %s", a, b)
	}
	q := p
	q.OccurredAt = q.OccurredAt.Add(time.Millisecond)
	if c.Encode(testWorkspace, p) == c.Encode(testWorkspace, q) {
		t.Error("positions a millisecond apart have the same cursor")
	}
	if c.Encode(testWorkspace, p) == c.Encode(otherWorkspace, p) {
		t.Error("one position has the same cursor in two workspaces")
	}
}

// TestCursorRefusesAnythingElse checks that only a cursor this codec issued
// for this workspace decodes; everything else is BAD_USER_INPUT.
func TestCursorRefusesAnythingElse(t *testing.T) {
	t.Parallel()
	c := NewCursorCodec(testKey)
	good := c.Encode(testWorkspace, testPosition(t))
	raw, err := base64.RawURLEncoding.DecodeString(good)
	if err != nil {
		t.Fatal(err)
	}
	// A cursor of a future version, correctly signed, is still refused.
	v2 := append([]byte(nil), raw...)
	v2[0] = 2
	copy(v2[cursorBody:], c.mac(testWorkspace, v2[:cursorBody]))

	cases := []struct{ name, cursor string }{
		{"empty-string", ""},
		{"made-up", "not-a-cursor"},
		{"wrong-workspace", c.Encode(otherWorkspace, testPosition(t))},
		{"wrong-key", NewCursorCodec([]byte("another-key-0123456789-abcdefghijklmnopqrstuvwxyz")).Encode(testWorkspace, testPosition(t))},
		{"padded-base64", good + "=="},
		{"standard-base64-alphabet", stdAlphabetCursor(t, c)},
		{"bad-base64-right-length", strings.Repeat("!", len(good))},
		{"one-character-too-many", good + "A"},
		{"body-without-mac", base64.RawURLEncoding.EncodeToString(raw[:cursorBody])},
		{"future-version", base64.RawURLEncoding.EncodeToString(v2)},
		{"surrounding-space", " " + good[1:]},
	}
	for n := 0; n < len(good); n++ {
		cases = append(cases, struct{ name, cursor string }{"truncated-to-" + strconv.Itoa(n), good[:n]})
	}
	for i := range raw {
		for _, bit := range []byte{0x01, 0x80} {
			b := append([]byte(nil), raw...)
			b[i] ^= bit
			cases = append(cases, struct{ name, cursor string }{"byte-" + strconv.Itoa(i) + "-bit-" + strconv.Itoa(int(bit)) + "-flipped", base64.RawURLEncoding.EncodeToString(b)})
		}
	}
	// Changing any one character, even one whose bits are only padding, is
	// refused: decoding is strict.
	for i := range good {
		for _, ch := range []byte{'A', 'B', 'Q', '_'} {
			if good[i] == ch {
				continue
			}
			s := good[:i] + string(ch) + good[i+1:]
			cases = append(cases, struct{ name, cursor string }{"char-" + strconv.Itoa(i) + "-is-" + string(ch), s})
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, field := range []string{"after", "before"} {
				p, err := c.Decode(testWorkspace, field, tc.cursor)
				if err == nil {
					t.Fatalf("cursor %q decoded to %v, want an error", tc.cursor, p)
				}
				wantBadCursor(t, err, field)
				if !errors.Is(err, apperr.ErrBadUserInput) {
					t.Errorf("errors.Is(err, apperr.ErrBadUserInput) is false for %v", err)
				}
				if diff := cmp.Diff(Position{}, p); diff != "" {
					t.Errorf("a refused cursor returned a position: %s", diff)
				}
			}
		})
	}
}

// stdAlphabetCursor returns a cursor that c issued, written in the standard
// base64 alphabet instead of the URL-safe one: the same bytes, a different
// text.
func stdAlphabetCursor(t *testing.T, c *CursorCodec) string {
	t.Helper()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 1000 {
		s := c.Encode(testWorkspace, Position{OccurredAt: at.Add(time.Duration(i) * time.Millisecond), ID: ids.New(at)})
		if strings.ContainsAny(s, "-_") {
			return strings.NewReplacer("-", "+", "_", "/").Replace(s)
		}
	}
	t.Fatal("no cursor uses - or _")
	return ""
}
