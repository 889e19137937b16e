package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Schema stability (issue 10): schema.graphqls must not break clients of
// the released docs/schema.graphqls unless docs/SCHEMA_CHANGELOG.md records
// every breaking and dangerous change, as graphql-js finds them.

func repoFile(t testing.TB, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// schemaCheck runs the check and returns its exit code and output.
func schemaCheck(t testing.TB, dir, released, current, changelog string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "schema-check.mjs", released, current, changelog)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatalf("schema-check.mjs: %v\n%s", err, out)
	}
	return 0, string(out)
}

// TestSchemaCompatibility is the check CI relies on: the schema being built
// against the released one and the changelog.
func TestSchemaCompatibility(t *testing.T) {
	dir := clientsDir(t)
	code, out := schemaCheck(t, dir, repoFile(t, "docs/schema.graphqls"), repoFile(t, "schema.graphqls"), repoFile(t, "docs/SCHEMA_CHANGELOG.md"))
	if code != 0 {
		t.Fatalf("schema.graphqls would break clients of docs/schema.graphqls:\n%s", out)
	}
	t.Log(out)
}

// TestSchemaCheckCatchesChanges runs the check on edited copies of the
// schema: additions pass; breaking and dangerous changes fail until
// recorded; a removal that was not deprecated first fails even recorded.
func TestSchemaCheckCatchesChanges(t *testing.T) {
	dir := clientsDir(t)
	b, err := os.ReadFile(repoFile(t, "docs/schema.graphqls"))
	if err != nil {
		t.Fatal(err)
	}
	base := string(b)
	edit := func(t *testing.T, old, new string) string {
		t.Helper()
		if !strings.Contains(base, old) {
			t.Fatalf("test bug: the schema has no %q", old)
		}
		return strings.Replace(base, old, new, 1)
	}
	write := func(t *testing.T, name, content string) string {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const emptyLog = "# Schema changelog\n\n## Unreleased\n"
	for _, c := range []struct {
		name          string
		released, cur string
		want          string // the change as graphql-js words it; "" for none
		removal       bool   // a removal of something not deprecated
	}{
		{name: "a new field", cur: edit(t, "type User { ", "type User { avatarUrl: String ")},
		{name: "a new type", cur: base + "\ntype Nothing { id: ID! }\n"},
		{name: "a new enum value", cur: edit(t, "  AUDIT_LOG_EXPORTED\n", "  AUDIT_LOG_EXPORTED\n  API_KEY_CREATED\n"),
			want: "Enum value AuditAction.API_KEY_CREATED was added."},
		{name: "a new optional argument", cur: edit(t, "workspace(id: ID!): Workspace", "workspace(id: ID!, asOf: Time): Workspace"),
			want: "An optional argument Query.workspace(asOf:) was added."},
		{name: "a changed argument type", cur: edit(t, "auditLog(workspaceId: ID!, first: Int,", "auditLog(workspaceId: ID!, first: String,"),
			want: "Argument Query.auditLog(first:) has changed type from Int to String."},
		{name: "a new required argument", cur: edit(t, "workspace(id: ID!): Workspace", "workspace(id: ID!, plan: Plan!): Workspace"),
			want: "A required argument Query.workspace(plan:) was added."},
		{name: "a removed field, never deprecated", cur: edit(t, "type User { id: ID! email: String! name: String }", "type User { id: ID! email: String! }"),
			want: "Field User.name was removed.", removal: true},
		{name: "a removed field, deprecated in the release",
			released: edit(t, "type User { id: ID! email: String! name: String }", `type User { id: ID! email: String! name: String @deprecated(reason: "use displayName") }`),
			cur:      edit(t, "type User { id: ID! email: String! name: String }", "type User { id: ID! email: String! }"),
			want:     "Field User.name was removed."},
		{name: "a removed enum value, never deprecated", cur: edit(t, "enum Role { MEMBER ADMIN }", "enum Role { MEMBER }"),
			want: "Enum value Role.ADMIN was removed.", removal: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			released := base
			if c.released != "" {
				released = c.released
			}
			rel, cur := write(t, "released.graphqls", released), write(t, "current.graphqls", c.cur)
			code, out := schemaCheck(t, dir, rel, cur, write(t, "CHANGELOG.md", emptyLog))
			if c.want == "" {
				if code != 0 {
					t.Fatalf("an addition fails the check:\n%s", out)
				}
				return
			}
			if code != 1 || !strings.Contains(out, c.want) {
				t.Fatalf("unrecorded %q: exit %d\n%s", c.want, code, out)
			}
			recorded := write(t, "CHANGELOG.md", emptyLog+"- `"+c.want+"` — why, and what clients do.\n")
			code, out = schemaCheck(t, dir, rel, cur, recorded)
			if c.removal {
				if code != 1 || !strings.Contains(out, "not deprecated first") {
					t.Fatalf("a removal without deprecation passes once recorded: exit %d\n%s", code, out)
				}
				return
			}
			if code != 0 {
				t.Fatalf("recorded %q still fails: exit %d\n%s", c.want, code, out)
			}
		})
	}
}
