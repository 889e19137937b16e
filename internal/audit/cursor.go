package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/auditlogd/auditlogd/internal/apperr"
)

// Position is a place in the log's total order: occurredAt, then id.
type Position struct {
	OccurredAt time.Time
	ID         string
}

// Before reports whether p sorts before q in ascending order.
func (p Position) Before(q Position) bool {
	if !p.OccurredAt.Equal(q.OccurredAt) {
		return p.OccurredAt.Before(q.OccurredAt)
	}
	return p.ID < q.ID
}

// Cursor layout, before base64url: version, occurredAt in Unix milliseconds,
// the 16 bytes of the event's ULID, and a truncated HMAC over all that and the
// workspace id. The MAC makes cursors unforgeable and binds each one to the
// workspace whose log issued it.
const (
	cursorVersion = 1
	cursorBody    = 1 + 8 + 16
	cursorMACLen  = 12
	cursorLen     = cursorBody + cursorMACLen
)

// CursorCodec issues and checks cursors. The zero value is unusable; make one
// with NewCursorCodec.
type CursorCodec struct {
	key []byte
}

// NewCursorCodec returns a codec keyed with key. Replicas that share key
// accept each other's cursors.
func NewCursorCodec(key []byte) *CursorCodec {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("auditlogd cursor key v1"))
	return &CursorCodec{key: mac.Sum(nil)}
}

func (c *CursorCodec) mac(workspaceID string, body []byte) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(workspaceID))
	m.Write([]byte{0})
	m.Write(body)
	return m.Sum(nil)[:cursorMACLen]
}

// Encode returns the opaque cursor of p in the log of workspaceID.
func (c *CursorCodec) Encode(workspaceID string, p Position) string {
	var buf [cursorLen]byte
	buf[0] = cursorVersion
	binary.BigEndian.PutUint64(buf[1:9], uint64(p.OccurredAt.UnixMilli()))
	id, err := ulid.ParseStrict(p.ID)
	if err != nil {
		// Every stored event id is a ULID; a malformed one is a bug upstream.
		panic("audit: event id is not a ULID: " + p.ID)
	}
	copy(buf[9:25], id[:])
	copy(buf[cursorBody:], c.mac(workspaceID, buf[:cursorBody]))
	return base64.RawURLEncoding.EncodeToString(buf[:])
}

// Decode checks that s is a cursor this server issued for workspaceID and
// returns its position. Anything else is BAD_USER_INPUT naming field.
func (c *CursorCodec) Decode(workspaceID, field, s string) (Position, error) {
	bad := apperr.Invalid(field, "is not a cursor issued by this server for this workspace's log")
	if len(s) != base64.RawURLEncoding.EncodedLen(cursorLen) {
		return Position{}, bad
	}
	buf, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(buf) != cursorLen || buf[0] != cursorVersion {
		return Position{}, bad
	}
	if !hmac.Equal(buf[cursorBody:], c.mac(workspaceID, buf[:cursorBody])) {
		return Position{}, bad
	}
	ms := int64(binary.BigEndian.Uint64(buf[1:9]))
	var id ulid.ULID
	copy(id[:], buf[9:25])
	return Position{OccurredAt: time.UnixMilli(ms).UTC(), ID: id.String()}, nil
}
