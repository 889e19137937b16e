package integrity

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/gowebpki/jcs"

	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/digest"
	"github.com/auditlogd/auditlogd/internal/timefmt"
)

// Hash is a SHA-256 digest: an event's hash, its prevHash, a head's hash
// (see package digest for its spellings).
type Hash = digest.SHA256

// ZeroHash is the prevHash of sequence 1 and the hash of an empty log's head:
// 64 zeros in hex.
var ZeroHash Hash

// ParseHash reads a hash as the API writes it: exactly 64 lowercase hex
// digits (digest.Parse).
func ParseHash(s string) (Hash, error) { return digest.Parse(s) }

func parseHash(b []byte) (Hash, error) { return digest.Parse(string(b)) }

// HashFromBytes reads a hash stored as 32 bytes (digest.FromBytes).
func HashFromBytes(b []byte) (Hash, bool) { return digest.FromBytes(b) }

// MaxSequence is the largest sequence a chain may hold: 2^53 − 1, the
// largest integer every JSON implementation reads exactly (RFC 8785 numbers
// are IEEE 754 doubles). At a million events a second it lasts 285 years.
const MaxSequence = 1<<53 - 1

// ErrSequenceRange is returned for a sequence outside 1…MaxSequence.
var ErrSequenceRange = errors.New("a sequence is an integer from 1 to 2^53 − 1")

// The fields of the hashed object other than sequence and prevHash, as
// indexes into record.val.
const (
	fWorkspaceID = iota
	fID
	fAction
	fActorID
	fActorEmail
	fActorType
	fTargetType
	fTargetID
	fTargetLabel
	fPreviousRole
	fRole
	fIPAddress
	fUserAgent
	fRequestID
	nFields
)

// text is what a field's value can be: a string (events, JSON exports) or
// the raw bytes of a column (database rows, CSV cells), so that neither
// source converts on the hot path.
type text interface{ string | []byte }

// record is one event as the hash sees it: the values of its fields, which
// nullable ones are null, whether the target is null, and its place in the
// chain. Non-nullable fields ignore null. occurredAt is bytes whatever T is,
// because the service formats it into a buffer of its own.
type record[T text] struct {
	val        [nFields]T
	null       [nFields]bool
	occurredAt []byte
	noTarget   bool
	sequence   int64
	prevHash   Hash
}

// appendCanonical appends the RFC 8785 (JCS) canonical JSON of the hashed
// object of docs/API.md §9 to dst, and says where the 64 hex digits of prevHash
// start in the result (a verifier swaps them to test "only prevHash was
// changed" without re-reading the row).
//
// JCS sorts members by their names' UTF-16 code units; every name here is
// ASCII, so that is byte order, written out below once and checked against
// the library by the tests and the fuzz target. Values go through
// appendJCSString; the sequence is an integer inside ±2^53, whose JCS form
// (ECMAScript Number::toString) is its plain decimal digits.
func appendCanonical[T text](dst []byte, r *record[T]) ([]byte, int, error) {
	if r.sequence < 1 || r.sequence > MaxSequence {
		return dst, 0, ErrSequenceRange
	}
	w := canonWriter{b: dst}
	w.raw(`{"action":`)
	appendField(&w, r, fAction)
	w.raw(`,"actor":{"email":`)
	appendField(&w, r, fActorEmail)
	w.raw(`,"id":`)
	appendField(&w, r, fActorID)
	w.raw(`,"type":`)
	appendField(&w, r, fActorType)
	w.raw(`},"id":`)
	appendField(&w, r, fID)
	w.raw(`,"ipAddress":`)
	appendField(&w, r, fIPAddress)
	w.raw(`,"occurredAt":`)
	if w.err == nil {
		w.b, w.err = appendJCSString(w.b, r.occurredAt)
	}
	w.raw(`,"prevHash":"`)
	prevAt := len(w.b)
	w.b = r.prevHash.AppendHex(w.b)
	w.raw(`","previousRole":`)
	appendField(&w, r, fPreviousRole)
	w.raw(`,"requestId":`)
	appendField(&w, r, fRequestID)
	w.raw(`,"role":`)
	appendField(&w, r, fRole)
	w.raw(`,"sequence":`)
	w.b = strconv.AppendInt(w.b, r.sequence, 10)
	if r.noTarget {
		w.raw(`,"target":null`)
	} else {
		w.raw(`,"target":{"id":`)
		appendField(&w, r, fTargetID)
		w.raw(`,"label":`)
		appendField(&w, r, fTargetLabel)
		w.raw(`,"type":`)
		appendField(&w, r, fTargetType)
		w.raw(`}`)
	}
	w.raw(`,"userAgent":`)
	appendField(&w, r, fUserAgent)
	w.raw(`,"workspaceId":`)
	appendField(&w, r, fWorkspaceID)
	w.raw(`}`)
	return w.b, prevAt, w.err
}

// canonWriter is an append buffer with a sticky error, so that
// appendCanonical reads as the object it writes.
type canonWriter struct {
	b   []byte
	err error
}

func (w *canonWriter) raw(s string) { w.b = append(w.b, s...) }

// nullable lists the fields whose value may be null in the hashed object.
var nullable = [nFields]bool{fActorEmail: true, fTargetLabel: true, fPreviousRole: true, fRole: true,
	fIPAddress: true, fUserAgent: true, fRequestID: true}

func appendField[T text](w *canonWriter, r *record[T], f int) {
	if nullable[f] && r.null[f] {
		w.raw("null")
		return
	}
	if w.err != nil {
		return
	}
	w.b, w.err = appendJCSString(w.b, r.val[f])
}

// appendJCSString appends s as a JCS string (RFC 8785 §3.2.2.2). Nearly
// every value in the log — ids, enum names, emails, addresses, times, most
// user agents — is valid UTF-8 without a control character, quote or
// backslash, and the JCS form of such a string is the string itself between
// quotes: that is the fast path. Anything else is escaped by the maintained
// JCS implementation, never by this package: the value is written as a JSON
// string literal (encoding/json; invalid UTF-8 becomes U+FFFD byte by byte,
// as the export encoder writes it) and jcs.Transform gives its canonical
// spelling.
func appendJCSString[T text](dst []byte, s T) ([]byte, error) {
	if needsNoEscape(s) {
		dst = append(dst, '"')
		dst = append(dst, s...)
		return append(dst, '"'), nil
	}
	lit, err := json.Marshal(string(s))
	if err != nil {
		return dst, err
	}
	c, err := jcs.Transform(lit)
	if err != nil {
		return dst, fmt.Errorf("canonical JSON of a string: %w", err)
	}
	return append(dst, c...), nil
}

// needsNoEscape reports whether JCS writes s verbatim: valid UTF-8 with no
// byte below 0x20 and no '"' or '\'. It ORs a class per byte rather than
// branching, as most values are short ASCII.
func needsNoEscape[T text](s T) bool {
	var class byte
	for i := 0; i < len(s); i++ {
		class |= byteClass[s[i]]
	}
	if class&mustEscape != 0 {
		return false
	}
	if class&nonASCII == 0 {
		return true
	}
	switch v := any(s).(type) {
	case string:
		return utf8.ValidString(v)
	case []byte:
		return utf8.Valid(v)
	}
	return false
}

const (
	mustEscape = 1 << iota
	nonASCII
)

// byteClass says, per byte, whether JCS escapes it (controls, '"', '\')
// or it starts or continues a multi-byte UTF-8 sequence.
var byteClass = func() (t [256]byte) {
	for c := range t {
		switch {
		case c < 0x20 || c == '"' || c == '\\':
			t[c] = mustEscape
		case c >= utf8.RuneSelf:
			t[c] = nonASCII
		}
	}
	return t
}()

// timeBuf holds an occurredAt in timefmt.Layout (24 bytes for years
// 0000–9999).
type timeBuf [32]byte

// appendTime writes t exactly as timefmt.Format does (RFC 3339, UTC,
// milliseconds, truncated), without allocating. The fixed layout is written
// digit by digit, which is several times faster than time's layout
// interpreter; years outside 0000–9999, which the layout would write with a
// sign or a fifth digit, go through time.AppendFormat itself. The tests and
// the fuzz target compare the two.
func appendTime(buf *timeBuf, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(buf[:0], timefmt.Layout)
	}
	hour, minute, sec := t.Clock()
	ms := t.Nanosecond() / 1_000_000
	b := buf[:24]
	put := func(at, width, v int) {
		for i := at + width - 1; i >= at; i-- {
			b[i] = byte('0' + v%10)
			v /= 10
		}
	}
	put(0, 4, year)
	b[4] = '-'
	put(5, 2, int(month))
	b[7] = '-'
	put(8, 2, day)
	b[10] = 'T'
	put(11, 2, hour)
	b[13] = ':'
	put(14, 2, minute)
	b[16] = ':'
	put(17, 2, sec)
	b[19] = '.'
	put(20, 3, ms)
	b[23] = 'Z'
	return b
}

// eventRecord is e as the hash sees it. Strings are shared, not copied.
func eventRecord(e *audit.Event, at []byte, sequence int64, prev Hash) record[string] {
	r := record[string]{sequence: sequence, prevHash: prev, occurredAt: at}
	r.val[fWorkspaceID] = e.WorkspaceID
	r.val[fID] = e.ID
	r.val[fAction] = string(e.Action)
	r.val[fActorID] = e.Actor.ID
	setOptional(&r, fActorEmail, e.Actor.Email)
	r.val[fActorType] = string(e.Actor.Type)
	if e.Target == nil {
		r.noTarget = true
	} else {
		r.val[fTargetType] = string(e.Target.Type)
		r.val[fTargetID] = e.Target.ID
		setOptional(&r, fTargetLabel, e.Target.Label)
	}
	if e.PreviousRole == nil {
		r.null[fPreviousRole] = true
	} else {
		r.val[fPreviousRole] = string(*e.PreviousRole)
	}
	if e.Role == nil {
		r.null[fRole] = true
	} else {
		r.val[fRole] = string(*e.Role)
	}
	setOptional(&r, fIPAddress, e.IPAddress)
	setOptional(&r, fUserAgent, e.UserAgent)
	setOptional(&r, fRequestID, e.RequestID)
	return r
}

func setOptional(r *record[string], f int, p *string) {
	if p == nil {
		r.null[f] = true
	} else {
		r.val[f] = *p
	}
}

// rowRecord is r as the hash sees it; a nil column is NULL, and a nil
// target type means no target, as the export encoders read a Row.
func rowRecord(workspaceID []byte, r *audit.Row, at []byte, sequence int64, prev Hash) record[[]byte] {
	rec := record[[]byte]{sequence: sequence, prevHash: prev, occurredAt: at}
	rec.val = [nFields][]byte{fWorkspaceID: workspaceID, fID: r.ID, fAction: r.Action,
		fActorID: r.ActorID, fActorEmail: r.ActorEmail, fActorType: r.ActorType, fTargetType: r.TargetType,
		fTargetID: r.TargetID, fTargetLabel: r.TargetLabel, fPreviousRole: r.PreviousRole, fRole: r.Role,
		fIPAddress: r.IPAddress, fUserAgent: r.UserAgent, fRequestID: r.RequestID}
	for f := range rec.val {
		rec.null[f] = rec.val[f] == nil
	}
	rec.noTarget = r.TargetType == nil
	return rec
}

// AppendCanonicalEvent appends the canonical JSON that the hash of e at
// sequence, following prev, is taken over (docs/API.md §9). It is what a
// verifier in another language must reproduce byte for byte; EventHash is
// its SHA-256.
func AppendCanonicalEvent(dst []byte, e *audit.Event, sequence int64, prev Hash) ([]byte, error) {
	var tb timeBuf
	r := eventRecord(e, appendTime(&tb, e.OccurredAt), sequence, prev)
	out, _, err := appendCanonical(dst, &r)
	return out, err
}

// EventHash is the chain hash of e at sequence, following the event whose
// hash is prev (ZeroHash for sequence 1). The write path calls it once per
// appended event; use a Hasher to reuse its buffer.
func EventHash(e *audit.Event, sequence int64, prev Hash) (Hash, error) {
	var h Hasher
	return h.Event(e, sequence, prev)
}

// Hasher computes chain hashes with one reusable buffer, so that hashing an
// event allocates nothing. It is not safe for concurrent use: give each
// goroutine its own.
type Hasher struct {
	buf  []byte
	tb   timeBuf
	ws   []byte // the last workspace id Row was given, as bytes
	wsOf string
}

// Event is EventHash with h's buffer.
func (h *Hasher) Event(e *audit.Event, sequence int64, prev Hash) (Hash, error) {
	r := eventRecord(e, appendTime(&h.tb, e.OccurredAt), sequence, prev)
	return sumRecord(h, &r)
}

// Row is the chain hash of an event read as raw columns (what the store's
// streaming reader hands out), so that verifying a million events need not
// build a million Events. It equals Event for the same event.
func (h *Hasher) Row(workspaceID string, r *audit.Row, sequence int64, prev Hash) (Hash, error) {
	rec := rowRecord(h.workspace(workspaceID), r, appendTime(&h.tb, time.UnixMilli(r.OccurredAtMs)), sequence, prev)
	return sumRecord(h, &rec)
}

func (h *Hasher) workspace(id string) []byte {
	if h.ws == nil || h.wsOf != id {
		h.ws, h.wsOf = []byte(id), id
	}
	return h.ws
}

func sumRecord[T text](h *Hasher, r *record[T]) (Hash, error) {
	b, _, err := appendCanonical(h.buf[:0], r)
	h.buf = b
	if err != nil {
		return Hash{}, err
	}
	return sha256.Sum256(b), nil
}
