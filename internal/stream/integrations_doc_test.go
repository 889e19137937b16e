package stream

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// docPath is the partner documentation whose worked example these tests
// check, so the page cannot drift from the code.
const docPath = "../../docs/INTEGRATIONS.md"

// workedExample returns the fenced block after "<!-- worked-example: name -->"
// in docs/INTEGRATIONS.md, without its fences.
func workedExample(t *testing.T, name string) string {
	t.Helper()
	doc, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "<!-- worked-example: "+name+" -->\n")
	if !ok {
		t.Fatalf("%s has no worked example %q", docPath, name)
	}
	lines := strings.Split(rest, "\n")
	if !strings.HasPrefix(lines[0], "```") {
		t.Fatalf("worked example %q is not followed by a fenced block", name)
	}
	for i := 1; i < len(lines); i++ {
		if lines[i] == "```" {
			return strings.Join(lines[1:i], "\n")
		}
	}
	t.Fatalf("worked example %q: unterminated block", name)
	return ""
}

// exampleValues are the worked example's secret, header, body and
// timestamp.
func exampleValues(t *testing.T) (secret, header string, body []byte, ts int64) {
	secret = workedExample(t, "secret")
	header = workedExample(t, "header")
	body = []byte(workedExample(t, "body"))
	ts, err := strconv.ParseInt(strings.TrimPrefix(strings.Split(header, ",")[0], "t="), 10, 64)
	if err != nil {
		t.Fatalf("header %q: %v", header, err)
	}
	return secret, header, body, ts
}

func TestIntegrationsDocWorkedExampleVerifiesInGo(t *testing.T) {
	secret, header, body, ts := exampleValues(t)
	if got := Sign(time.Unix(ts, 0), body, secret); got != header {
		t.Errorf("Sign of the documented body = %q, the page says %q", got, header)
	}
	if err := Verify(header, secret, body, 5*time.Minute, time.Unix(ts, 0)); err != nil {
		t.Errorf("Verify = %v", err)
	}
	if err := Verify(header, secret, append(body, ' '), 5*time.Minute, time.Unix(ts, 0)); err != ErrSignatureMismatch {
		t.Errorf("Verify of a changed body = %v", err)
	}
	if err := Verify(header, secret, body, 5*time.Minute, time.Unix(ts+301, 0)); err != ErrSignatureExpired {
		t.Errorf("Verify five minutes later = %v", err)
	}
}

// runExample runs a language's documented verifier with a driver that
// prints five outcomes: the three the page shows (as received, with a
// changed body, 301 s later), then a header signed with two secrets during
// a rotation (the right one second), then a header with no v1.
func runExample(t *testing.T, interpreter, ext, code, driver string) {
	t.Helper()
	path, err := exec.LookPath(interpreter)
	if err != nil {
		t.Skipf("%s not installed; the documented example is not checked in it", interpreter)
	}
	secret, header, body, ts := exampleValues(t)
	dir := t.TempDir()
	bodyFile := filepath.Join(dir, "body.json")
	if err := os.WriteFile(bodyFile, body, 0o600); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "verify"+ext)
	if err := os.WriteFile(script, []byte(code+"\n"+driver), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, script)
	rotated := Sign(time.Unix(ts, 0), body, "whsec_the_old_secret", secret)
	cmd.Env = append(os.Environ(), "SECRET="+secret, "HEADER="+header, "ROTATED="+rotated,
		"BODY_FILE="+bodyFile, "NOW="+fmt.Sprint(ts))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", interpreter, err, out)
	}
	if got := strings.Fields(strings.ToLower(string(out))); strings.Join(got, " ") != "true false false true false" {
		t.Errorf("%s printed %q, want true, false, false, true, false", interpreter, out)
	}
}

func TestIntegrationsDocPythonExample(t *testing.T) {
	runExample(t, "python3", ".py", workedExample(t, "python"), `
import os
body = open(os.environ["BODY_FILE"], "rb").read()
header, secret, now = os.environ["HEADER"], os.environ["SECRET"], int(os.environ["NOW"])
print(verify_auditlog_signature(header, secret, body, now=now))
print(verify_auditlog_signature(header, secret, body + b" ", now=now))
print(verify_auditlog_signature(header, secret, body, now=now + 301))
print(verify_auditlog_signature(os.environ["ROTATED"], secret, body, now=now))
print(verify_auditlog_signature(header.split(",")[0], secret, body, now=now))
`)
}

func TestIntegrationsDocNodeExample(t *testing.T) {
	runExample(t, "node", ".js", workedExample(t, "node"), `
const body = require("node:fs").readFileSync(process.env.BODY_FILE);
const { HEADER: header, SECRET: secret } = process.env;
const now = Number(process.env.NOW);
console.log(verifyAuditlogSignature(header, secret, body, 300, now));
console.log(verifyAuditlogSignature(header, secret, Buffer.concat([body, Buffer.from(" ")]), 300, now));
console.log(verifyAuditlogSignature(header, secret, body, 300, now + 301));
console.log(verifyAuditlogSignature(process.env.ROTATED, secret, body, 300, now));
console.log(verifyAuditlogSignature(header.split(",")[0], secret, body, 300, now));
`)
}
