package audit_test

import (
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/auditlogd/auditlogd/internal/audit"
)

var xSignerKey = []byte("signer-test-key-0123456789-abcdefghijklmnop")

const xExportID = "01HZY3J4QK2M6N8P0R2S4T6V8W"

// xURLParts splits a signed URL into what the download handler reads.
func xURLParts(t *testing.T, raw string) (id, expires, signature string) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("parse %q: %v", raw, err)
	}
	id, ok := strings.CutPrefix(u.Path, "/exports/")
	if !ok {
		t.Fatalf("path of %q is not under /exports/", raw)
	}
	return id, u.Query().Get("expires"), u.Query().Get("signature")
}

func TestURLSignerMakesAbsoluteURLs(t *testing.T) {
	t.Parallel()
	exp := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		publicURL string
		wantBase  string
	}{
		{"plain-base", "https://audit.example.com", "https://audit.example.com"},
		{"trailing-slash-is-dropped", "https://audit.example.com/", "https://audit.example.com"},
		{"base-with-a-path", "http://127.0.0.1:8080/auditlog", "http://127.0.0.1:8080/auditlog"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := audit.NewURLSigner(xSignerKey, tc.publicURL).URL(xExportID, exp)
			re := regexp.MustCompile(`^` + regexp.QuoteMeta(tc.wantBase+"/exports/"+xExportID+"?expires="+strconv.FormatInt(exp.Unix(), 10)+"&signature=") + `[0-9a-f]{64}$`)
			if !re.MatchString(got) {
				t.Errorf("URL = %q, want it to match %s", got, re)
			}
		})
	}
}

func TestURLSignerRoundTrip(t *testing.T) {
	t.Parallel()
	s := audit.NewURLSigner(xSignerKey, "https://audit.example.com")
	for _, tc := range []struct {
		name    string
		expires time.Time
		want    time.Time
	}{
		{"whole-second-utc", time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC), time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)},
		{"sub-second-is-cut-to-the-second", time.Date(2031, 5, 6, 7, 8, 9, 999_000_000, time.UTC), time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)},
		{"other-zone-comes-back-in-utc", time.Date(2031, 5, 6, 9, 8, 9, 0, time.FixedZone("CEST", 2*3600)), time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id, expires, sig := xURLParts(t, s.URL(xExportID, tc.expires))
			got, ok := s.Verify(id, expires, sig)
			if !ok {
				t.Fatalf("Verify(%q, %q, %q) refused its own URL", id, expires, sig)
			}
			if !got.Equal(tc.want) || got.Location() != time.UTC {
				t.Errorf("Verify returned %v, want %v in UTC", got, tc.want)
			}
		})
	}
	t.Run("same-key-other-signer-accepts", func(t *testing.T) {
		t.Parallel()
		// Every replica shares AUDITLOG_EXPORT_SECRET: a URL made by one is
		// good at another, whatever its public URL.
		other := audit.NewURLSigner(append([]byte(nil), xSignerKey...), "http://replica-2:8080")
		id, expires, sig := xURLParts(t, s.URL(xExportID, time.Unix(2_000_000_000, 0)))
		if _, ok := other.Verify(id, expires, sig); !ok {
			t.Error("a replica with the same key refused the URL")
		}
	})
}

func TestURLSignerRefusesTampering(t *testing.T) {
	t.Parallel()
	s := audit.NewURLSigner(xSignerKey, "https://audit.example.com")
	const unix = 2_000_000_000
	id, expires, sig := xURLParts(t, s.URL(xExportID, time.Unix(unix, 0)))
	_, _, otherSig := xURLParts(t, s.URL("01HZY3J4QK2M6N8P0R2S4T6V8X", time.Unix(unix, 0)))
	_, _, laterSig := xURLParts(t, s.URL(xExportID, time.Unix(unix+3600, 0)))
	_, _, foreignSig := xURLParts(t, audit.NewURLSigner([]byte("another-key-0123456789-abcdefghijklmnopqr"), "https://audit.example.com").URL(xExportID, time.Unix(unix, 0)))
	_, zeroExp, zeroSig := xURLParts(t, s.URL(xExportID, time.Unix(0, 0)))
	_, negExp, negSig := xURLParts(t, s.URL(xExportID, time.Unix(-60, 0)))
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == '0' {
			b[i] = '1'
		} else {
			b[i] = '0'
		}
		return string(b)
	}
	if _, ok := s.Verify(id, expires, sig); !ok {
		t.Fatal("the untouched URL is refused; every case below would pass for the wrong reason")
	}
	for _, tc := range []struct {
		name                   string
		id, expires, signature string
	}{
		{"id-one-character-changed", flip(id, len(id)-1), expires, sig},
		{"id-with-a-suffix", id + "0", expires, sig},
		{"id-lower-cased", strings.ToLower(id), expires, sig},
		{"id-empty", "", expires, sig},
		{"expires-one-second-later", id, strconv.Itoa(unix + 1), sig},
		{"expires-one-second-earlier", id, strconv.Itoa(unix - 1), sig},
		{"expires-with-a-leading-zero", id, "0" + expires, sig},
		{"expires-with-leading-zeros", id, "000" + expires, sig},
		{"expires-with-a-plus-sign", id, "+" + expires, sig},
		{"expires-with-a-minus-sign", id, "-" + expires, sig},
		{"expires-with-a-space", id, " " + expires, sig},
		{"expires-in-hex", id, "0x" + strconv.FormatInt(unix, 16), sig},
		{"expires-as-a-float", id, expires + ".0", sig},
		{"expires-in-exponent-form", id, "2e9", sig},
		{"expires-missing", id, "", sig},
		{"expires-zero-even-when-signed", id, zeroExp, zeroSig},
		{"expires-negative-even-when-signed", id, negExp, negSig},
		{"signature-one-character-changed", id, expires, flip(sig, 0)},
		{"signature-last-character-changed", id, expires, flip(sig, len(sig)-1)},
		{"signature-truncated", id, expires, sig[:62]},
		{"signature-extended", id, expires, sig + "00"},
		{"signature-half", id, expires, sig[:32]},
		{"signature-missing", id, expires, ""},
		{"signature-not-hex", id, expires, strings.Repeat("zz", 32)},
		{"signature-odd-length", id, expires, sig[:63]},
		{"signature-of-another-export", id, expires, otherSig},
		{"signature-of-another-expiry", id, expires, laterSig},
		{"signature-made-with-another-key", id, expires, foreignSig},
		{"everything-missing", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok := s.Verify(tc.id, tc.expires, tc.signature)
			if ok || !got.IsZero() {
				t.Errorf("Verify(%q, %q, %q) = %v, %v; want refused with a zero time", tc.id, tc.expires, tc.signature, got, ok)
			}
		})
	}
}

func TestURLSignerSignaturesDependOnIDExpiryAndKey(t *testing.T) {
	t.Parallel()
	sig := func(key []byte, id string, unix int64) string {
		_, _, s := xURLParts(t, audit.NewURLSigner(key, "https://a.example").URL(id, time.Unix(unix, 0)))
		return s
	}
	base := sig(xSignerKey, xExportID, 2_000_000_000)
	got := map[string]string{
		"same":        sig(xSignerKey, xExportID, 2_000_000_000),
		"other-id":    sig(xSignerKey, "01HZY3J4QK2M6N8P0R2S4T6V8X", 2_000_000_000),
		"other-time":  sig(xSignerKey, xExportID, 2_000_000_001),
		"other-key":   sig([]byte("x"+string(xSignerKey[1:])), xExportID, 2_000_000_000),
		"id-and-time": sig(xSignerKey, xExportID+"2", 200_000_000), // "…V8W2" + "200000000" vs "…V8W" + "2000000000"
	}
	want := map[string]bool{"same": true, "other-id": false, "other-time": false, "other-key": false, "id-and-time": false}
	gotEqual := map[string]bool{}
	for k, v := range got {
		gotEqual[k] = v == base
	}
	if diff := cmp.Diff(want, gotEqual); diff != "" {
		t.Errorf("signature equal to the base one (-want +got):\n%s", diff)
	}
}
