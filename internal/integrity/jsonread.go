package integrity

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// verifyJSONRows reads a JSON export: one array of row objects, newest
// first. encoding/json validates each element as it streams past
// (Decoder.Decode into a RawMessage, so memory holds one row); the row's
// members are then read from those validated bytes by rowScanner, which is
// an order of magnitude faster than Decoder.Token and allocates nothing for
// strings without escapes.
//
// Reading is strict, because a member the hash does not cover could show a
// reader something the chain does not vouch for: an unknown key, a key twice,
// a key differing only in case (which encoding/json would quietly accept
// into a struct field), a missing key or a value of the wrong type make the
// file unreadable as an export. Only "flags", which is advisory and not
// hashed, may be absent.
func verifyJSONRows(br *bufio.Reader, v *Verifier) (flags bool, err error) {
	dec := json.NewDecoder(br)
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return false, &FormatError{Msg: "a JSON export is one array of objects"}
	}
	var raw json.RawMessage
	var rec record[[]byte]
	var s rowScanner
	row := 0
	for dec.More() {
		row++
		if err := dec.Decode(&raw); err != nil {
			return flags, &FormatError{Row: row, Msg: "not JSON: " + err.Error()}
		}
		s.reset(raw)
		stored, err := s.row(&rec, v.workspace)
		if err != nil {
			return flags, &FormatError{Row: row, Msg: err.Error()}
		}
		flags = flags || s.flags
		addRecord(v, &rec, rec.val[fID], stored)
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim(']') {
		return flags, &FormatError{Row: row, Msg: "the array does not end"}
	}
	if _, err := dec.Token(); err != io.EOF {
		return flags, &FormatError{Msg: "text after the array"}
	}
	return flags, nil
}

// JSON keys of a row, as bits.
const (
	kID = 1 << iota
	kOccurredAt
	kAction
	kActor
	kTarget
	kPreviousRole
	kRole
	kIPAddress
	kUserAgent
	kRequestID
	kSequence
	kPrevHash
	kHash
	kFlags
	kRequired = kFlags - 1 // every key but flags
)

var (
	rowKeys = map[string]int{"id": kID, "occurredAt": kOccurredAt, "action": kAction, "actor": kActor,
		"target": kTarget, "previousRole": kPreviousRole, "role": kRole, "ipAddress": kIPAddress,
		"userAgent": kUserAgent, "requestId": kRequestID, "sequence": kSequence, "prevHash": kPrevHash,
		"hash": kHash, "flags": kFlags}
	actorKeys  = map[string]int{"id": 1, "email": 2, "type": 4}
	targetKeys = map[string]int{"type": 1, "id": 2, "label": 4}
	// stringKeys are the row's string members and their hashed fields;
	// nullable ones (see nullable) may be null.
	stringKeys  = map[int]int{kID: fID, kAction: fAction, kPreviousRole: fPreviousRole, kRole: fRole, kIPAddress: fIPAddress, kUserAgent: fUserAgent, kRequestID: fRequestID}
	actorFields = map[int]int{1: fActorID, 2: fActorEmail, 4: fActorType}
	targetField = map[int]int{1: fTargetType, 2: fTargetID, 4: fTargetLabel}
)

// rowScanner reads one row object from bytes encoding/json has already
// validated, so it only has to follow the structure, not police the syntax.
type rowScanner struct {
	b     []byte
	i     int
	flags bool
}

func (s *rowScanner) reset(b []byte) { s.b, s.i, s.flags = b, 0, false }

// next is the next byte that is not white space, 0 at the end.
func (s *rowScanner) next() byte {
	for s.i < len(s.b) {
		switch c := s.b[s.i]; c {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return c
		}
	}
	return 0
}

func (s *rowScanner) consume(c byte) bool {
	if s.next() == c {
		s.i++
		return true
	}
	return false
}

// str reads a string's value: the bytes between the quotes when it has no
// escape, else what encoding/json decodes it to.
func (s *rowScanner) str() ([]byte, bool) {
	if s.next() != '"' {
		return nil, false
	}
	start, escaped := s.i, false
	j := start + 1
	for ; j < len(s.b) && s.b[j] != '"'; j++ {
		if s.b[j] == '\\' {
			escaped = true
			j++
		}
	}
	if j >= len(s.b) {
		return nil, false
	}
	s.i = j + 1
	if !escaped {
		return s.b[start+1 : j : j], true
	}
	var out string
	if json.Unmarshal(s.b[start:j+1], &out) != nil {
		return nil, false
	}
	return []byte(out), true
}

// null reads a null if one is next.
func (s *rowScanner) null() bool {
	if s.next() == 'n' && bytes.HasPrefix(s.b[s.i:], []byte("null")) {
		s.i += 4
		return true
	}
	return false
}

// nullableStr reads a string or null.
func (s *rowScanner) nullableStr() (v []byte, null, ok bool) {
	if s.null() {
		return nil, true, true
	}
	v, ok = s.str()
	return v, false, ok
}

// number reads the text of a number.
func (s *rowScanner) number() []byte {
	s.next()
	start := s.i
	for s.i < len(s.b) && (s.b[s.i] >= '0' && s.b[s.i] <= '9' || bytes.IndexByte([]byte("+-.eE"), s.b[s.i]) >= 0) {
		s.i++
	}
	return s.b[start:s.i]
}

// object reads the members of an object whose keys are among keys, each at
// most once, calling member to read each value. It returns the keys seen.
func (s *rowScanner) object(what string, keys map[string]int, member func(bit int) error) (int, error) {
	if !s.consume('{') {
		return 0, fmt.Errorf("%s is not an object", what)
	}
	seen := 0
	if s.consume('}') {
		return 0, nil
	}
	for {
		k, ok := s.str()
		if !ok {
			return seen, fmt.Errorf("%s: a key is not a string", what)
		}
		bit, known := keys[string(k)]
		if !known {
			return seen, fmt.Errorf("%s: unknown key %q: it is not covered by the hash", what, truncate(string(k), 60))
		}
		if seen&bit != 0 {
			return seen, fmt.Errorf("%s: the key %q is there twice", what, k)
		}
		seen |= bit
		if !s.consume(':') {
			return seen, fmt.Errorf("%s: no value for %q", what, k)
		}
		if err := member(bit); err != nil {
			return seen, err
		}
		if s.consume(',') {
			continue
		}
		if s.consume('}') {
			return seen, nil
		}
		return seen, fmt.Errorf("%s: the value of %q is not what an export holds there", what, k)
	}
}

// row reads one row into rec and returns its stored hash.
func (s *rowScanner) row(rec *record[[]byte], workspace []byte) (Hash, error) {
	*rec = record[[]byte]{}
	rec.val[fWorkspaceID] = workspace
	var stored Hash
	seen, err := s.object("the row", rowKeys, func(bit int) error {
		switch bit {
		case kOccurredAt:
			v, ok := s.str()
			if !ok {
				return errors.New(`"occurredAt" is not a string`)
			}
			rec.occurredAt = v
		case kActor:
			seen, err := s.object(`"actor"`, actorKeys, func(bit int) error {
				return s.field(rec, actorFields[bit], "actor")
			})
			if err == nil && seen != 7 {
				err = fmt.Errorf(`"actor" lacks %q`, keyOf(actorKeys, 7&^seen))
			}
			return err
		case kTarget:
			if s.null() {
				rec.noTarget = true
				return nil
			}
			if s.next() != '{' {
				return errors.New(`"target" is neither an object nor null`)
			}
			seen, err := s.object(`"target"`, targetKeys, func(bit int) error {
				return s.field(rec, targetField[bit], "target")
			})
			if err == nil && seen != 7 {
				err = fmt.Errorf(`"target" lacks %q`, keyOf(targetKeys, 7&^seen))
			}
			return err
		case kSequence:
			text := s.number()
			if len(text) == 0 {
				return errors.New(`"sequence" is not a number`)
			}
			n, err := parseSequence(text)
			rec.sequence = n
			return err
		case kPrevHash, kHash:
			v, ok := s.str()
			if !ok {
				return fmt.Errorf("%q is not a string", keyOf(rowKeys, bit))
			}
			h, err := parseHash(v)
			if err != nil {
				return fmt.Errorf("%s: %w", keyOf(rowKeys, bit), err)
			}
			if bit == kHash {
				stored = h
			} else {
				rec.prevHash = h
			}
		case kFlags:
			s.flags = true
			if !s.consume('[') {
				return errors.New(`"flags" is not an array`)
			}
			if s.consume(']') {
				return nil
			}
			for {
				if _, ok := s.str(); !ok {
					return errors.New(`"flags" holds something other than names`)
				}
				if s.consume(']') {
					return nil
				}
				if !s.consume(',') {
					return errors.New(`"flags" is not an array of names`)
				}
			}
		default:
			return s.field(rec, stringKeys[bit], "the row")
		}
		return nil
	})
	if err != nil {
		return stored, err
	}
	if s.next() != 0 {
		return stored, errors.New("text after the row")
	}
	if missing := kRequired &^ seen; missing != 0 {
		return stored, fmt.Errorf("the row lacks %q", keyOf(rowKeys, missing))
	}
	return stored, nil
}

// field reads a string member into field f: null is allowed where the hashed
// object allows it.
func (s *rowScanner) field(rec *record[[]byte], f int, what string) error {
	if nullable[f] {
		v, null, ok := s.nullableStr()
		if !ok {
			return fmt.Errorf("%s: a value is neither a string nor null", what)
		}
		rec.val[f], rec.null[f] = v, null
		return nil
	}
	v, ok := s.str()
	if !ok {
		return fmt.Errorf("%s: a value is not a string", what)
	}
	rec.val[f] = v
	return nil
}

// keyOf names the lowest key among bits.
func keyOf(keys map[string]int, bits int) string {
	low := bits & -bits
	for k, b := range keys {
		if b == low {
			return k
		}
	}
	return "?"
}
