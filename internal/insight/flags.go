package insight

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Flag is one reason an event deserves an admin's look. The values are the
// GraphQL enum AuditFlag's names (docs/API.md §14).
type Flag string

// The flags, in the enum's order.
const (
	ExternalDomain Flag = "EXTERNAL_DOMAIN"
	AdminGranted   Flag = "ADMIN_GRANTED"
	Burst          Flag = "BURST"
	NewLocation    Flag = "NEW_LOCATION"
)

// flagBits is the storage layout of a Set, fixed forever: the bit of a flag
// is written into every event row and every index on it. A new flag takes
// the next free bit; a bit is never reused.
//
//	bit 0 (1)  EXTERNAL_DOMAIN
//	bit 1 (2)  ADMIN_GRANTED
//	bit 2 (4)  BURST
//	bit 3 (8)  NEW_LOCATION
var flagBits = [...]struct {
	flag Flag
	bit  Set
}{
	{ExternalDomain, 1 << 0},
	{AdminGranted, 1 << 1},
	{Burst, 1 << 2},
	{NewLocation, 1 << 3},
}

// known is every bit that names a flag.
const known Set = 1<<len(flagBits) - 1

// Flags lists every flag in the enum's order.
func Flags() []Flag {
	out := make([]Flag, len(flagBits))
	for i, fb := range flagBits {
		out[i] = fb.flag
	}
	return out
}

// Valid reports whether f is a known flag.
func (f Flag) Valid() bool { return f.bit() != 0 }

func (f Flag) bit() Set {
	for _, fb := range flagBits {
		if fb.flag == f {
			return fb.bit
		}
	}
	return 0
}

// ParseFlag is the flag named name (exactly, as in the enum).
func ParseFlag(name string) (Flag, error) {
	if f := Flag(name); f.Valid() {
		return f, nil
	}
	return "", fmt.Errorf("insight: unknown flag %q", name)
}

// Set is a set of flags, stored as the integer bitmask itself (see
// flagBits): one small integer column that fits any index, and that a
// filter can match with an IN list (Intersecting). The zero Set is no flags.
type Set uint16

// SetOf is the set of the given flags; unknown flags are ignored.
func SetOf(flags ...Flag) Set {
	var s Set
	for _, f := range flags {
		s |= f.bit()
	}
	return s
}

// Has reports whether f is in s.
func (s Set) Has(f Flag) bool { return f.bit() != 0 && s&f.bit() != 0 }

// With is s with f added.
func (s Set) With(f Flag) Set { return s | f.bit() }

// Empty reports whether s holds no known flag.
func (s Set) Empty() bool { return s&known == 0 }

// Flags lists the flags in s in the enum's order; never nil, so that
// AuditEvent.flags ([AuditFlag!]!) is [] rather than null. Bits that name
// no flag — written by a newer version during a rolling upgrade — are
// skipped, not an error.
func (s Set) Flags() []Flag {
	out := []Flag{}
	for _, fb := range flagBits {
		if s&fb.bit != 0 {
			out = append(out, fb.flag)
		}
	}
	return out
}

// String is the flags' names joined by ";" in the enum's order: the CSV
// export's flags cell (docs/API.md §14), "" for no flags.
func (s Set) String() string {
	var b strings.Builder
	for _, f := range s.Flags() {
		if b.Len() > 0 {
			b.WriteByte(';')
		}
		b.WriteString(string(f))
	}
	return b.String()
}

// ParseSet reads String's form back ("" is the empty set), for tools that
// read a CSV export.
func ParseSet(s string) (Set, error) {
	var out Set
	if s == "" {
		return out, nil
	}
	for _, name := range strings.Split(s, ";") {
		f, err := ParseFlag(name)
		if err != nil {
			return 0, err
		}
		out = out.With(f)
	}
	return out, nil
}

// MarshalJSON writes the flags as an array of names, the JSON export's
// "flags" (docs/API.md §14): ["EXTERNAL_DOMAIN","BURST"], [] for none.
func (s Set) MarshalJSON() ([]byte, error) { return json.Marshal(s.Flags()) }

// UnmarshalJSON reads MarshalJSON's array back.
func (s *Set) UnmarshalJSON(b []byte) error {
	var names []string
	if err := json.Unmarshal(b, &names); err != nil {
		return err
	}
	var out Set
	for _, n := range names {
		f, err := ParseFlag(n)
		if err != nil {
			return err
		}
		out = out.With(f)
	}
	*s = out
	return nil
}

// Value stores s as its bitmask (database/sql), so a row struct can hold a
// Set directly.
func (s Set) Value() (driver.Value, error) { return int64(s), nil }

// Scan reads a bitmask column (database/sql). Drivers hand integers over as
// int64 (uint64 for MySQL's unsigned columns) or, in MySQL's text protocol,
// as decimal bytes; NULL is no flags.
func (s *Set) Scan(src any) error {
	var n int64
	switch v := src.(type) {
	case nil:
	case int64:
		n = v
	case uint64: // MySQL's binary protocol, for an unsigned column
		if v > 1<<15-1 {
			return fmt.Errorf("insight: flags column holds %d, outside a bitmask's range", v)
		}
		n = int64(v)
	case []byte:
		var err error
		if n, err = strconv.ParseInt(string(v), 10, 64); err != nil {
			return fmt.Errorf("insight: flags column holds %q, not an integer", v)
		}
	case string:
		var err error
		if n, err = strconv.ParseInt(v, 10, 64); err != nil {
			return fmt.Errorf("insight: flags column holds %q, not an integer", v)
		}
	default:
		return fmt.Errorf("insight: cannot read flags from %T", src)
	}
	if n < 0 || n > 1<<15-1 {
		return fmt.Errorf("insight: flags column holds %d, outside a bitmask's range", n)
	}
	*s = Set(n)
	return nil
}

// Intersecting lists every stored value that has at least one flag of mask,
// in ascending order: the IN list of a filter "events with any of these
// flags" (docs/API.md §14), which an index on the flags column can answer
// with point lookups where "flags & mask <> 0" would scan. With four flags
// the list has at most 15 values.
func Intersecting(mask Set) []Set {
	mask &= known
	var out []Set
	for v := Set(1); v <= known; v++ {
		if v&mask != 0 {
			out = append(out, v)
		}
	}
	return out
}
