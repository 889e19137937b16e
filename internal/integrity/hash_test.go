package integrity_test

import (
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/integrity"
)

// TestCanonicalEventIsTheContractObject spells out, byte for byte, the
// canonical JSON of two events and the hash of the first. A change to the
// hashed object, its key order, its null handling or its time format fails
// here before it breaks every stored chain.
func TestCanonicalEventIsTheContractObject(t *testing.T) {
	t.Parallel()
	prev, err := integrity.ParseHash("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")
	if err != nil {
		t.Fatal(err)
	}
	full := hEvent()
	sparse := hSparse()
	for _, tc := range []struct {
		name  string
		event *audit.Event
		seq   int64
		prev  integrity.Hash
		want  string
	}{
		{"every-field-set", &full, 42, prev,
			`{"action":"MEMBER_ROLE_UPDATED","actor":{"email":"alice@example.com","id":"u-alice","type":"USER"},` +
				`"id":"01HZY3J4QK2M6N8P0R2S4T6V8W","ipAddress":"192.0.2.7","occurredAt":"2026-11-28T09:30:00.123Z",` +
				`"prevHash":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","previousRole":"MEMBER",` +
				`"requestId":"01HZY3J4QK2M6N8P0R2S4T6V8R","role":"ADMIN","sequence":42,` +
				`"target":{"id":"u-bob","label":"bob@example.com","type":"USER"},` +
				`"userAgent":"Mozilla/5.0 (X11; Linux x86_64)","workspaceId":"01HZY3J4QK2M6N8P0R2S4T6V8A"}`},
		{"nulls-kept-as-null-and-sequence-1-follows-zeros", &sparse, 1, integrity.ZeroHash,
			`{"action":"MEMBER_ADDED","actor":{"email":null,"id":"system","type":"SYSTEM"},` +
				`"id":"01HZY3J4QK2M6N8P0R2S4T6V8X","ipAddress":null,"occurredAt":"2026-01-02T03:04:05.006Z",` +
				`"prevHash":"` + strings.Repeat("0", 64) + `","previousRole":null,"requestId":null,"role":null,` +
				`"sequence":1,"target":null,"userAgent":null,"workspaceId":"01HZY3J4QK2M6N8P0R2S4T6V8A"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := integrity.AppendCanonicalEvent(nil, tc.event, tc.seq, tc.prev)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, string(got)); diff != "" {
				t.Errorf("canonical form (-want +got):\n%s", diff)
			}
			if ref := referenceCanonical(t, tc.event, tc.seq, tc.prev); string(ref) != tc.want {
				t.Errorf("the JCS library makes\n%s\nof the generic object, not the spelled-out form", ref)
			}
			h, err := integrity.EventHash(tc.event, tc.seq, tc.prev)
			if err != nil {
				t.Fatal(err)
			}
			if h != sha256.Sum256([]byte(tc.want)) {
				t.Errorf("EventHash = %s, want the SHA-256 of the canonical form", h)
			}
		})
	}
	// The hash itself, pinned: computed outside Go (Python's hashlib over
	// the first form above).
	h, _ := integrity.EventHash(&full, 42, prev)
	if got, want := h.String(), "599253d3c8218e4c959676713a9df8f4231e21e3a7d727abfff1033d3b1b201a"; got != want {
		t.Errorf("hash of every-field-set = %s, want %s", got, want)
	}
}

// TestCanonicalEventMatchesTheLibrary runs events whose strings take the
// slow path (quotes, controls, invalid UTF-8) and the fast one (non-ASCII,
// DEL, U+2028) through both the package and the reference.
func TestCanonicalEventMatchesTheLibrary(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		edit func(e *audit.Event)
	}{
		{"as-is", func(*audit.Event) {}},
		{"quote-and-backslash-in-user-agent", func(e *audit.Event) { e.UserAgent = hp(`a "b" \c`) }},
		{"control-characters-in-label", func(e *audit.Event) { e.Target.Label = hp("a\x00b\x01c\td\ne\rf\x1f") }},
		{"non-ascii-email", func(e *audit.Event) { e.Actor.Email = hp("zoë@exämple.com") }},
		{"emoji-and-line-separator", func(e *audit.Event) { e.Target.Label = hp("😀\u2028\u2029") }},
		{"del-character", func(e *audit.Event) { e.RequestID = hp("req\x7f") }},
		{"invalid-utf8", func(e *audit.Event) { e.UserAgent = hp("bad\xff\xfe\xc3") }},
		{"formula-like-values", func(e *audit.Event) { e.Target.Label = hp("=HYPERLINK(\"x\")") }},
		{"empty-strings", func(e *audit.Event) { e.Actor.Email, e.IPAddress = hp(""), hp("") }},
		{"no-target", func(e *audit.Event) { e.Target = nil }},
		{"target-without-label", func(e *audit.Event) { e.Target.Label = nil }},
		{"time-with-nanoseconds-truncates-to-ms", func(e *audit.Event) {
			e.OccurredAt = time.Date(2026, 3, 4, 5, 6, 7, 999_999_999, time.UTC)
		}},
		{"time-in-another-zone-is-written-in-utc", func(e *audit.Event) {
			e.OccurredAt = time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("X", 5*3600))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := hEvent()
			tc.edit(&e)
			for _, seq := range []int64{1, 7, integrity.MaxSequence} {
				got, err := integrity.AppendCanonicalEvent(nil, &e, seq, integrity.Hash{1, 2, 3})
				if err != nil {
					t.Fatal(err)
				}
				if want := referenceCanonical(t, &e, seq, integrity.Hash{1, 2, 3}); string(got) != string(want) {
					t.Errorf("sequence %d:\n got %s\nwant %s", seq, got, want)
				}
			}
		})
	}
}

// TestRowHashEqualsEventHash: the store's raw rows and domain events hash
// the same, including NULL columns and a missing target.
func TestRowHashEqualsEventHash(t *testing.T) {
	t.Parallel()
	var h integrity.Hasher
	for _, e := range []audit.Event{hEvent(), hSparse()} {
		want, err := h.Event(&e, 5, integrity.Hash{9})
		if err != nil {
			t.Fatal(err)
		}
		got, err := h.Row(e.WorkspaceID, eventRow(&e), 5, integrity.Hash{9})
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("event %s: Row hash %s, Event hash %s", e.ID, got, want)
		}
	}
	// Another workspace id on the same hasher is not served from its cache.
	e := hEvent()
	a, _ := h.Row("ws-a", eventRow(&e), 5, integrity.Hash{})
	b, _ := h.Row("ws-b", eventRow(&e), 5, integrity.Hash{})
	if a == b {
		t.Error("rows of two workspaces hash the same")
	}
}

func TestSequenceOutsideTheJSONSafeRangeIsRefused(t *testing.T) {
	t.Parallel()
	e := hEvent()
	for _, seq := range []int64{0, -1, integrity.MaxSequence + 1, 1 << 62} {
		if _, err := integrity.EventHash(&e, seq, integrity.ZeroHash); !errors.Is(err, integrity.ErrSequenceRange) {
			t.Errorf("sequence %d: error %v, want ErrSequenceRange", seq, err)
		}
	}
}

func TestParseHash(t *testing.T) {
	t.Parallel()
	good := strings.Repeat("0123456789abcdef", 4)
	h, err := integrity.ParseHash(good)
	if err != nil || h.String() != good {
		t.Fatalf("ParseHash(%q) = %s, %v", good, h, err)
	}
	for _, tc := range []struct{ name, in string }{
		{"upper-case", strings.ToUpper(good)},
		{"short", good[:63]},
		{"long", good + "0"},
		{"not-hex", "g" + good[1:]},
		{"empty", ""},
		{"prefixed", "0x" + good[2:]},
	} {
		if _, err := integrity.ParseHash(tc.in); err == nil {
			t.Errorf("%s: ParseHash(%q) accepted it", tc.name, tc.in)
		}
	}
	text, _ := h.MarshalText()
	var back integrity.Hash
	if err := back.UnmarshalText(text); err != nil || back != h {
		t.Errorf("text round trip: %s, %v", back, err)
	}
}

func TestHashFromBytes(t *testing.T) {
	t.Parallel()
	want := integrity.Hash{1, 2, 3, 31: 9}
	if h, ok := integrity.HashFromBytes(want[:]); !ok || h != want {
		t.Errorf("HashFromBytes(32 bytes) = %s, %v", h, ok)
	}
	for _, b := range [][]byte{nil, {}, want[:31], append(want[:], 0)} {
		if _, ok := integrity.HashFromBytes(b); ok {
			t.Errorf("HashFromBytes(%d bytes) accepted it", len(b))
		}
	}
}
