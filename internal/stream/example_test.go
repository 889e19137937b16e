package stream_test

import (
	"fmt"
	"time"

	"github.com/auditlogd/auditlogd/internal/stream"
)

// A receiver checks the header against the raw body and the secret the
// admin gave it; the values are docs/INTEGRATIONS.md's worked example.
func ExampleVerify() {
	secret := "whsec_KPZonmVVqMljplubbfal9fIxDBrpmYxT2pU4a-8DJzo"
	header := "t=1772442847,v1=bc033a145be3e9a7934f41d33646af30660b5daf57470710f915795aee6c1058"
	body := []byte(`{"workspaceId":"01JNB6Q4W2X8E5R7T9Y3V1K0MP","streamId":"01JNB5S8T2R4E6W8Q0Z1X3C5V7","events":[{"id":"01JNB7ZQ3M4K8V2C6X1D9F5G7H","occurredAt":"2026-03-02T09:14:05.123Z","action":"MEMBER_ADDED","actor":{"id":"u-alice","email":"alice@example.com","type":"USER"},"target":{"type":"USER","id":"u-eve","label":"eve@gmail.com"},"previousRole":null,"role":"MEMBER","ipAddress":"203.0.113.7","userAgent":"Mozilla/5.0","requestId":"01JNB7ZQ3KREQ0000000000000","sequence":42,"prevHash":"5f1c0e8b3a9d2f47c6e1b08a7d4f93e2c5b6a7d8e9f0a1b2c3d4e5f6a7b8c9d0","hash":"8c818034a1d9efcb897e20c5e899dd2860b40055d28ff8598f0f3f75085edf30","flags":["EXTERNAL_DOMAIN"]}],"head":{"workspaceId":"01JNB6Q4W2X8E5R7T9Y3V1K0MP","sequence":42,"hash":"8c818034a1d9efcb897e20c5e899dd2860b40055d28ff8598f0f3f75085edf30","signedAt":"2026-03-02T09:14:06.000Z","keyId":"k-2026-01","signature":"illustrative-the-head-signature-is-Ed25519-over-its-JCS-see-section-9"}}`)
	sent := time.Unix(1772442847, 0)

	fmt.Println(stream.Verify(header, secret, body, 5*time.Minute, sent))
	fmt.Println(stream.Verify(header, secret, append(body, ' '), 5*time.Minute, sent))
	fmt.Println(stream.Verify(header, secret, body, 5*time.Minute, sent.Add(10*time.Minute)))
	// Output:
	// <nil>
	// no signature in the header matches the body and secret
	// signature timestamp is outside the tolerance window
}
