package insight

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestFlagBitsAreFixedForever pins the storage layout: changing it would
// silently re-label every flagged event already stored.
func TestFlagBitsAreFixedForever(t *testing.T) {
	for _, tc := range []struct {
		flag Flag
		bits int64
	}{
		{ExternalDomain, 1},
		{AdminGranted, 2},
		{Burst, 4},
		{NewLocation, 8},
	} {
		v, _ := SetOf(tc.flag).Value()
		if v != tc.bits {
			t.Errorf("%s is stored as %v, want %d", tc.flag, v, tc.bits)
		}
	}
}

func TestFlagsAreInTheEnumsOrder(t *testing.T) {
	want := []Flag{"EXTERNAL_DOMAIN", "ADMIN_GRANTED", "BURST", "NEW_LOCATION"}
	if diff := cmp.Diff(want, Flags()); diff != "" {
		t.Errorf("Flags() (-want +got):\n%s", diff)
	}
}

func TestSetForms(t *testing.T) {
	for _, tc := range []struct {
		name  string
		set   Set
		flags []Flag
		csv   string
		json  string
	}{
		{"none", 0, []Flag{}, "", "[]"},
		{"one", SetOf(Burst), []Flag{Burst}, "BURST", `["BURST"]`},
		{"order-is-the-enums-not-the-callers", SetOf(NewLocation, ExternalDomain), []Flag{ExternalDomain, NewLocation}, "EXTERNAL_DOMAIN;NEW_LOCATION", `["EXTERNAL_DOMAIN","NEW_LOCATION"]`},
		{"all", SetOf(Flags()...), Flags(), "EXTERNAL_DOMAIN;ADMIN_GRANTED;BURST;NEW_LOCATION", `["EXTERNAL_DOMAIN","ADMIN_GRANTED","BURST","NEW_LOCATION"]`},
		{"unknown-bits-from-a-newer-version-skipped", Set(1<<7 | 2), []Flag{AdminGranted}, "ADMIN_GRANTED", `["ADMIN_GRANTED"]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.flags, tc.set.Flags()); diff != "" {
				t.Errorf("Flags() (-want +got):\n%s", diff)
			}
			if got := tc.set.String(); got != tc.csv {
				t.Errorf("String() = %q, want %q", got, tc.csv)
			}
			b, err := json.Marshal(tc.set)
			if err != nil || string(b) != tc.json {
				t.Errorf("json = %s, %v; want %s", b, err, tc.json)
			}
			back, err := ParseSet(tc.csv)
			if err != nil || back != tc.set&known {
				t.Errorf("ParseSet(%q) = %v, %v; want %v", tc.csv, back, err, tc.set&known)
			}
			var fromJSON Set
			if err := json.Unmarshal(b, &fromJSON); err != nil || fromJSON != tc.set&known {
				t.Errorf("json round trip = %v, %v", fromJSON, err)
			}
		})
	}
}

func TestSetMembership(t *testing.T) {
	s := SetOf(ExternalDomain).With(Burst)
	for _, f := range Flags() {
		want := f == ExternalDomain || f == Burst
		if s.Has(f) != want {
			t.Errorf("Has(%s) = %v, want %v", f, s.Has(f), want)
		}
	}
	if s.Has("NOT_A_FLAG") || SetOf("NOT_A_FLAG") != 0 {
		t.Error("an unknown flag is in a set")
	}
	if !Set(0).Empty() || !Set(1<<9).Empty() || s.Empty() {
		t.Error("Empty is wrong")
	}
}

func TestParseRefusesUnknownNames(t *testing.T) {
	for _, s := range []string{"burst", "BURST;", "BURST;NOPE", " BURST"} {
		if _, err := ParseSet(s); err == nil {
			t.Errorf("ParseSet(%q) succeeded", s)
		}
	}
	var set Set
	if err := json.Unmarshal([]byte(`["NOPE"]`), &set); err == nil {
		t.Error(`json ["NOPE"] was accepted`)
	}
}

func TestScan(t *testing.T) {
	for _, tc := range []struct {
		name    string
		src     any
		want    Set
		wantErr bool
	}{
		{"int64", int64(5), SetOf(ExternalDomain, Burst), false},
		{"mysql-text-protocol-bytes", []byte("10"), SetOf(AdminGranted, NewLocation), false},
		{"string", "8", SetOf(NewLocation), false},
		{"mysql-unsigned-uint64", uint64(3), SetOf(ExternalDomain, AdminGranted), false},
		{"uint64-too-big", uint64(1 << 63), 0, true},
		{"null-is-none", nil, 0, false},
		{"negative", int64(-1), 0, true},
		{"too-big", int64(1 << 16), 0, true},
		{"not-a-number", []byte("x"), 0, true},
		{"float", 1.5, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s Set
			err := s.Scan(tc.src)
			if (err != nil) != tc.wantErr || s != tc.want {
				t.Errorf("Scan(%v) = %v, %v; want %v (error: %v)", tc.src, s, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestIntersecting(t *testing.T) {
	if diff := cmp.Diff([]Set{4, 5, 6, 7, 12, 13, 14, 15}, Intersecting(SetOf(Burst))); diff != "" {
		t.Errorf("Intersecting(BURST) (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Set{1, 3, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15}, Intersecting(SetOf(ExternalDomain, NewLocation))); diff != "" {
		t.Errorf("Intersecting(EXTERNAL_DOMAIN, NEW_LOCATION) (-want +got):\n%s", diff)
	}
	if got := Intersecting(SetOf(Flags()...)); len(got) != 15 {
		t.Errorf("Intersecting(all) has %d values, want 15", len(got))
	}
	if got := Intersecting(0); len(got) != 0 {
		t.Errorf("Intersecting(none) = %v, want nothing", got)
	}
	// Every value listed really intersects, and every value that
	// intersects is listed.
	for mask := Set(0); mask <= known; mask++ {
		in := map[Set]bool{}
		for _, v := range Intersecting(mask) {
			in[v] = true
		}
		for v := Set(0); v <= known; v++ {
			if in[v] != (v&mask != 0) {
				t.Fatalf("mask %04b: value %04b listed=%v", mask, v, in[v])
			}
		}
	}
}
