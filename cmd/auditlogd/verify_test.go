package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The fixtures are the integrity package's worked example: a six-event log
// exported as CSV and JSON, its signed head and the key set.
const vExample = "../../internal/integrity/testdata/example/"

// vRun runs verify-export with args and returns its one output line, parsed,
// and its error.
func vRun(t *testing.T, args ...string) (map[string]any, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), append([]string{"verify-export"}, args...), func(string) string { return "" }, &stdout, &stderr)
	if stdout.Len() == 0 {
		if err == nil {
			t.Fatal("no output and no error")
		}
		return nil, err
	}
	if n := strings.Count(stdout.String(), "\n"); n != 1 {
		t.Fatalf("%d output lines, want 1:\n%s", n, stdout.String())
	}
	var out map[string]any
	if jerr := json.Unmarshal(stdout.Bytes(), &out); jerr != nil {
		t.Fatalf("output is not JSON: %v\n%s", jerr, stdout.String())
	}
	return out, err
}

// vTampered writes the example file name with old replaced by new.
func vTampered(t *testing.T, name, old, new string) string {
	t.Helper()
	b, err := os.ReadFile(vExample + name)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%q is not in %s", old, name)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, bytes.Replace(b, []byte(old), []byte(new), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// vWithFlags writes the example CSV, whose last column is the advisory flags
// column of docs/API.md §14 (empty in the example), with every row flagged
// with flags: the flags are not hashed, so the file verifies whatever they say.
func vWithFlags(t *testing.T, flags string) string {
	t.Helper()
	b, err := os.ReadFile(vExample + "export.csv")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\r\n"), "\r\n")
	if !strings.HasSuffix(lines[0], ",sequence,prev_hash,hash,flags") {
		t.Fatalf("the example's header %q does not end with the chain's columns and flags", lines[0])
	}
	for i := 1; i < len(lines); i++ {
		if !strings.HasSuffix(lines[i], ",") {
			t.Fatalf("row %d of the example has flags already: %q", i, lines[i])
		}
		lines[i] += flags
	}
	path := filepath.Join(t.TempDir(), "export.csv")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\r\n")+"\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func vProblems(out map[string]any) []string {
	var ks []string
	ps, _ := out["problems"].([]any)
	for _, p := range ps {
		m := p.(map[string]any)
		ks = append(ks, fmt.Sprintf("%s@%v", m["kind"], m["sequence"]))
	}
	return ks
}

func TestVerifyExportCommand(t *testing.T) {
	t.Parallel()
	head, keys := vExample+"head.json", vExample+"keys.json"
	keysDoc, err := os.ReadFile(keys)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/.well-known/auditlog-keys.json" {
			_, _ = w.Write(keysDoc)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	otherHead := vTampered(t, "head.json", `"signature": "cNN`, `"signature": "dNN`)

	for _, tc := range []struct {
		name     string
		args     func(t *testing.T) []string
		ok       bool
		complete bool
		problems []string
		inError  string // in the output's "error", for files that cannot be read
	}{
		{"csv-verifies", func(*testing.T) []string {
			return []string{vExample + "export.csv", "--head", head, "--keys", keys}
		}, true, true, nil, ""},
		{"json-verifies-flags-first", func(*testing.T) []string {
			return []string{"--head", head, "--keys", keys, vExample + "export.json"}
		}, true, true, nil, ""},
		{"keys-from-a-url", func(*testing.T) []string {
			return []string{vExample + "export.json", "--head", head, "--keys", srv.URL + "/.well-known/auditlog-keys.json"}
		}, true, true, nil, ""},
		{"edited-role-in-csv", func(t *testing.T) []string {
			return []string{vTampered(t, "export.csv", ",MEMBER,ADMIN,", ",MEMBER,MEMBER,"), "--head", head, "--keys", keys}
		}, false, false, []string{"HASH_MISMATCH@5"}, ""},
		{"edited-guarded-cell-in-csv", func(t *testing.T) []string {
			return []string{vTampered(t, "export.csv", "leak=", "Leak="), "--head", head, "--keys", keys}
		}, false, false, []string{"HASH_MISMATCH@4"}, ""},
		{"flags-column-is-not-hashed", func(t *testing.T) []string {
			return []string{vWithFlags(t, "ADMIN_GRANTED;BURST"), "--head", head, "--keys", keys}
		}, true, true, nil, ""},
		{"deleted-row-in-json", func(t *testing.T) []string {
			b, _ := os.ReadFile(vExample + "export.json")
			lines := strings.Split(string(b), "\n")
			path := filepath.Join(t.TempDir(), "export.json")
			_ = os.WriteFile(path, []byte(strings.Join(append(lines[:3:3], lines[4:]...), "\n")), 0o600)
			return []string{path, "--head", head, "--keys", keys}
		}, false, false, []string{"SEQUENCE_GAP@4"}, ""},
		{"deleted-row-in-a-filtered-export", func(t *testing.T) []string {
			b, _ := os.ReadFile(vExample + "export.json")
			lines := strings.Split(string(b), "\n")
			path := filepath.Join(t.TempDir(), "export.json")
			_ = os.WriteFile(path, []byte(strings.Join(append(lines[:3:3], lines[4:]...), "\n")), 0o600)
			return []string{path, "--head", head, "--keys", keys, "--filtered"}
		}, true, false, nil, ""},
		{"head-signed-by-another-key", func(*testing.T) []string {
			return []string{vExample + "export.csv", "--head", otherHead, "--keys", keys}
		}, false, false, nil, ""},
		{"not-an-export", func(t *testing.T) []string {
			return []string{vTampered(t, "export.csv", "id,occurred_at", "identifier,occurred_at"), "--head", head, "--keys", keys}
		}, false, false, nil, "header"},
		{"keys-url-not-found", func(*testing.T) []string {
			return []string{vExample + "export.csv", "--head", head, "--keys", srv.URL + "/nope"}
		}, false, false, nil, "404"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := vRun(t, tc.args(t)...)
			if (err == nil) != tc.ok {
				t.Errorf("error %v, want ok %v", err, tc.ok)
			}
			if out["ok"] != tc.ok {
				t.Errorf("ok %v, want %v: %v", out["ok"], tc.ok, out)
			}
			if tc.inError != "" {
				if e, _ := out["error"].(string); !strings.Contains(e, tc.inError) {
					t.Errorf("error %q does not say %q", e, tc.inError)
				}
				return
			}
			if out["complete"] != tc.complete {
				t.Errorf("complete %v, want %v", out["complete"], tc.complete)
			}
			if got := vProblems(out); strings.Join(got, ",") != strings.Join(tc.problems, ",") {
				t.Errorf("problems %v, want %v", got, tc.problems)
			}
		})
	}
}

func TestVerifyExportUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{vExample + "export.csv"},
		{vExample + "export.csv", "--head", vExample + "head.json"},
		{"--head", vExample + "head.json", "--keys", vExample + "keys.json"},
		{"a.csv", "b.csv", "--head", vExample + "head.json", "--keys", vExample + "keys.json"},
	} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), append([]string{"verify-export"}, args...), func(string) string { return "" }, &stdout, &stderr)
		if err == nil || stdout.Len() != 0 || !strings.Contains(stderr.String(), "usage: auditlogd verify-export") {
			t.Errorf("%v: error %v, stdout %q, stderr %q", args, err, stdout.String(), stderr.String())
		}
	}
}
