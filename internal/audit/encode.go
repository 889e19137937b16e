package audit

import (
	"bufio"
	"encoding/hex"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/auditlogd/auditlogd/internal/insight"
	"github.com/auditlogd/auditlogd/internal/timefmt"
)

// Row is an event as the raw bytes of its columns, as exports read it: the
// slices are only valid during the callback that receives the row, which is
// what lets an export stream millions of rows without allocating per row. A
// nil slice is NULL.
type Row struct {
	OccurredAtMs                                          int64
	ID, Action, ActorID, ActorEmail, ActorType            []byte
	TargetType, TargetID, TargetLabel, PreviousRole, Role []byte
	IPAddress, UserAgent, RequestID                       []byte
	// Sequence, PrevHash and Hash are the event's place in its workspace's
	// hash chain; the hashes are 32 raw bytes.
	Sequence       int64
	PrevHash, Hash []byte
	// Flags are the event's advisory flags (docs/API.md §14), not hashed.
	Flags insight.Set
}

// Format is an export's file format.
type Format string

// The export formats.
const (
	CSV  Format = "CSV"
	JSON Format = "JSON"
)

// Valid reports whether f is a known format.
func (f Format) Valid() bool { return f == CSV || f == JSON }

// Extension is the file name extension of f.
func (f Format) Extension() string {
	if f == JSON {
		return "json"
	}
	return "csv"
}

// ContentType is the MIME type of f.
func (f Format) ContentType() string {
	if f == JSON {
		return "application/json"
	}
	return "text/csv; charset=utf-8"
}

// Encoder writes rows in one format. Begin, then Row for each row, then End.
type Encoder interface {
	Begin() error
	Row(r *Row) error
	End() error
}

// NewEncoder returns the encoder of f writing to w.
func NewEncoder(f Format, w *bufio.Writer) Encoder {
	if f == JSON {
		return &jsonEncoder{w: w}
	}
	return &csvEncoder{w: w}
}

// CSVHeader is the header row of CSV exports before the hash chain's
// columns (docs/API.md §7).
const CSVHeader = "id,occurred_at,action,actor_id,actor_email,actor_type,target_type,target_id,target_label,previous_role,role,ip_address,user_agent,request_id"

// CSVChainHeader is CSVHeader with the hash chain's columns (docs/API.md §9),
// the header row exports write.
const CSVChainHeader = CSVHeader + ",sequence,prev_hash,hash"

// CSVExportHeader is the header row exports write: CSVChainHeader and the
// advisory flags column of docs/API.md §14 (names joined by ";").
const CSVExportHeader = CSVChainHeader + ",flags"

// csvEncoder writes RFC 4180 CSV: CRLF line ends, fields quoted when they
// hold a comma, quote, CR or LF, quotes doubled. A cell that a spreadsheet
// would run as a formula (starting with = + - @, tab or CR) gets a leading
// apostrophe.
type csvEncoder struct {
	w   *bufio.Writer
	buf []byte
}

func (e *csvEncoder) Begin() error {
	_, err := e.w.WriteString(CSVExportHeader + "\r\n")
	return err
}

func (e *csvEncoder) Row(r *Row) error {
	b := e.buf[:0]
	b = appendCSVCell(b, r.ID)
	b = append(b, ',')
	b = appendTime(b, r.OccurredAtMs)
	for _, f := range [...][]byte{r.Action, r.ActorID, r.ActorEmail, r.ActorType, r.TargetType, r.TargetID,
		r.TargetLabel, r.PreviousRole, r.Role, r.IPAddress, r.UserAgent, r.RequestID} {
		b = append(b, ',')
		b = appendCSVCell(b, f)
	}
	b = append(b, ',')
	b = strconv.AppendInt(b, r.Sequence, 10)
	b = append(b, ',')
	b = hex.AppendEncode(b, r.PrevHash)
	b = append(b, ',')
	b = hex.AppendEncode(b, r.Hash)
	b = append(b, ',')
	b = appendFlagNames(b, r.Flags, ';', false)
	b = append(b, '\r', '\n')
	e.buf = b
	_, err := e.w.Write(b)
	return err
}

func (e *csvEncoder) End() error { return nil }

// appendCSVCell appends one CSV cell: neutralized against formula injection,
// then quoted if RFC 4180 requires it.
func appendCSVCell(dst, cell []byte) []byte {
	formula := len(cell) > 0 && (cell[0] == '=' || cell[0] == '+' || cell[0] == '-' || cell[0] == '@' || cell[0] == '\t' || cell[0] == '\r')
	quote := false
	for _, c := range cell {
		if c == ',' || c == '"' || c == '\r' || c == '\n' {
			quote = true
			break
		}
	}
	if !quote {
		if formula {
			dst = append(dst, '\'')
		}
		return append(dst, cell...)
	}
	dst = append(dst, '"')
	if formula {
		dst = append(dst, '\'')
	}
	for _, c := range cell {
		if c == '"' {
			dst = append(dst, '"', '"')
		} else {
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

func appendTime(dst []byte, ms int64) []byte {
	return time.UnixMilli(ms).UTC().AppendFormat(dst, timefmt.Layout)
}

// jsonEncoder writes one JSON array of objects that mirror AuditEvent.
type jsonEncoder struct {
	w     *bufio.Writer
	buf   []byte
	count int
}

func (e *jsonEncoder) Begin() error {
	_, err := e.w.WriteString("[")
	return err
}

func (e *jsonEncoder) Row(r *Row) error {
	b := e.buf[:0]
	if e.count > 0 {
		b = append(b, ',')
	}
	e.count++
	b = append(b, '\n')
	b = AppendJSONObject(b, r)
	e.buf = b
	_, err := e.w.Write(b)
	return err
}

// AppendJSONObject appends the JSON object of one event as exports write it
// (docs/API.md §7 and §9): stream deliveries and live subscriptions carry the
// same objects.
func AppendJSONObject(b []byte, r *Row) []byte {
	b = append(b, "{\"id\":"...)
	b = appendJSONString(b, r.ID)
	b = append(b, ",\"occurredAt\":\""...)
	b = appendTime(b, r.OccurredAtMs)
	b = append(b, "\",\"action\":"...)
	b = appendJSONString(b, r.Action)
	b = append(b, ",\"actor\":{\"id\":"...)
	b = appendJSONString(b, r.ActorID)
	b = append(b, ",\"email\":"...)
	b = appendJSONString(b, r.ActorEmail)
	b = append(b, ",\"type\":"...)
	b = appendJSONString(b, r.ActorType)
	b = append(b, "},\"target\":"...)
	if r.TargetType == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, "{\"type\":"...)
		b = appendJSONString(b, r.TargetType)
		b = append(b, ",\"id\":"...)
		b = appendJSONString(b, r.TargetID)
		b = append(b, ",\"label\":"...)
		b = appendJSONString(b, r.TargetLabel)
		b = append(b, '}')
	}
	for _, kv := range [...]struct {
		key string
		v   []byte
	}{{",\"previousRole\":", r.PreviousRole}, {",\"role\":", r.Role}, {",\"ipAddress\":", r.IPAddress},
		{",\"userAgent\":", r.UserAgent}, {",\"requestId\":", r.RequestID}} {
		b = append(b, kv.key...)
		b = appendJSONString(b, kv.v)
	}
	b = append(b, ",\"sequence\":"...)
	b = strconv.AppendInt(b, r.Sequence, 10)
	b = append(b, ",\"prevHash\":\""...)
	b = hex.AppendEncode(b, r.PrevHash)
	b = append(b, "\",\"hash\":\""...)
	b = hex.AppendEncode(b, r.Hash)
	b = append(b, "\",\"flags\":["...)
	b = appendFlagNames(b, r.Flags, ',', true)
	return append(b, "]}"...)
}

// appendFlagNames appends the names of the flags in s, in the schema's
// order, separated by sep, each in double quotes when quoted.
func appendFlagNames(b []byte, s insight.Set, sep byte, quoted bool) []byte {
	for i, f := range s.Flags() {
		if i > 0 {
			b = append(b, sep)
		}
		if quoted {
			b = append(b, '"')
		}
		b = append(b, f...)
		if quoted {
			b = append(b, '"')
		}
	}
	return b
}

// RowOf returns e as the raw columns exports encode; the row shares e's
// strings' bytes and is valid while e is.
func RowOf(e *Event) Row {
	b := func(s string) []byte { return []byte(s) }
	opt := func(p *string) []byte {
		if p == nil {
			return nil
		}
		return []byte(*p)
	}
	r := Row{OccurredAtMs: e.OccurredAt.UnixMilli(), ID: b(e.ID), Action: b(string(e.Action)), ActorID: b(e.Actor.ID),
		ActorEmail: opt(e.Actor.Email), ActorType: b(string(e.Actor.Type)), IPAddress: opt(e.IPAddress),
		UserAgent: opt(e.UserAgent), RequestID: opt(e.RequestID), Sequence: e.Sequence, PrevHash: e.PrevHash[:], Hash: e.Hash[:],
		Flags: e.FlagSet}
	if e.Target != nil {
		r.TargetType, r.TargetID, r.TargetLabel = b(string(e.Target.Type)), b(e.Target.ID), opt(e.Target.Label)
	}
	if e.PreviousRole != nil {
		r.PreviousRole = b(string(*e.PreviousRole))
	}
	if e.Role != nil {
		r.Role = b(string(*e.Role))
	}
	return r
}

func (e *jsonEncoder) End() error {
	if e.count > 0 {
		_, err := e.w.WriteString("\n]\n")
		return err
	}
	_, err := e.w.WriteString("]\n")
	return err
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string, or null for a nil slice.
// Invalid UTF-8 becomes U+FFFD; control characters and U+2028/U+2029 are
// escaped.
func appendJSONString(dst, s []byte) []byte {
	if s == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\\ufffd"...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\\u202"...)
			dst = append(dst, hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
