package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// URLSigner signs export download URLs: HMAC-SHA256 over the export id and
// the expiry, so that neither can be changed without the key.
type URLSigner struct {
	key       []byte
	publicURL string
}

// NewURLSigner returns a signer with key (AUDITLOG_EXPORT_SECRET) that makes
// absolute URLs under publicURL.
func NewURLSigner(key []byte, publicURL string) *URLSigner {
	return &URLSigner{key: key, publicURL: strings.TrimRight(publicURL, "/")}
}

func (s *URLSigner) mac(id string, expires int64) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("auditlogd export v1\n"))
	m.Write([]byte(id))
	m.Write([]byte{'\n'})
	m.Write([]byte(strconv.FormatInt(expires, 10)))
	return m.Sum(nil)
}

// URL returns the signed download URL of export id, valid until expires.
func (s *URLSigner) URL(id string, expires time.Time) string {
	exp := expires.Unix()
	q := url.Values{}
	q.Set("expires", strconv.FormatInt(exp, 10))
	q.Set("signature", hex.EncodeToString(s.mac(id, exp)))
	return s.publicURL + "/exports/" + url.PathEscape(id) + "?" + q.Encode()
}

// Verify checks a download URL's id, expires and signature parameters, in
// constant time. It returns the expiry they were signed with.
func (s *URLSigner) Verify(id, expires, signature string) (time.Time, bool) {
	exp, err := strconv.ParseInt(expires, 10, 64)
	if err != nil || exp <= 0 || strconv.FormatInt(exp, 10) != expires {
		return time.Time{}, false
	}
	sig, err := hex.DecodeString(signature)
	if err != nil || len(sig) != sha256.Size || hex.EncodeToString(sig) != signature {
		// Only the lower-case hex that URL writes: one signed URL, one spelling.
		return time.Time{}, false
	}
	if !hmac.Equal(sig, s.mac(id, exp)) {
		return time.Time{}, false
	}
	return time.Unix(exp, 0).UTC(), true
}
