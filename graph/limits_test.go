package graph

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

func measure(t *testing.T, query string) shape {
	t.Helper()
	doc, err := parser.ParseQuery(&ast.Source{Input: query})
	if err != nil {
		t.Fatal(err)
	}
	return newMeasurer(doc.Fragments).set(doc.Operations[0].SelectionSet)
}

// TestMeasurer checks what Limits measures: fields as written (aliases and
// fragments expanded), depth outside and inside introspection, __schema
// count, root fields.
func TestMeasurer(t *testing.T) {
	for name, c := range map[string]struct {
		query string
		want  shape
	}{
		"flat":         {`{ viewer { id email } }`, shape{top: 1, fields: 3, depth: 2}},
		"aliases":      {`{ a: viewer { id } b: viewer { id } }`, shape{top: 2, fields: 4, depth: 2}},
		"fragment":     {`{ viewer { ...U } } fragment U on User { id email }`, shape{top: 1, fields: 3, depth: 2}},
		"root spread":  {`{ ...Q } fragment Q on Query { viewer { id } workspaces { id } }`, shape{top: 2, fields: 4, depth: 2}},
		"inline":       {`{ ... on Query { viewer { id } } }`, shape{top: 1, fields: 2, depth: 2}},
		"introspected": {`{ __schema { types { name } } viewer { id } }`, shape{top: 2, fields: 5, depth: 2, introDepth: 3, schemas: 1, introspects: true}},
		"__type":       {`{ __type(name: "X") { ofType { ofType { name } } } }`, shape{top: 1, fields: 4, introDepth: 4, introspects: true}},
	} {
		if got := measure(t, c.query); got != c.want {
			t.Errorf("%s: %+v, want %+v", name, got, c.want)
		}
	}
}

// TestMeasurerIsLinearInFragments: n fragments, each spreading the next
// twice, stand for 2ⁿ fields; the count saturates instead of overflowing and
// the walk visits each fragment once.
func TestMeasurerIsLinearInFragments(t *testing.T) {
	var b strings.Builder
	b.WriteString("{ viewer { ...F0 } }\n")
	const n = 200
	for i := range n {
		fmt.Fprintf(&b, "fragment F%d on User { a%d: id ...F%d b%d: email ...F%d }\n", i, i, i+1, i, i+1)
	}
	fmt.Fprintf(&b, "fragment F%d on User { id }\n", n)
	got := measure(t, b.String())
	if got.fields != saturated {
		t.Errorf("%d fields, want the saturated count %d", got.fields, saturated)
	}
}

// TestStandardIntrospectionQueryShape prints and bounds the shape of the
// standard introspection query of graphql-js (the e2e tests send it for
// real): the limits in internal/app are chosen from it.
func TestStandardIntrospectionQueryShape(t *testing.T) {
	b, err := os.ReadFile("../internal/e2e/testdata/introspection-query.graphql")
	if err != nil {
		t.Fatal(err)
	}
	got := measure(t, string(b))
	t.Logf("standard introspection query: %d fields with fragments expanded, %d levels deep, %d __schema", got.fields, got.introDepth, got.schemas)
	if got.introDepth != 15 || got.schemas != 1 || got.depth != 0 || got.fields < 100 || got.fields > 400 {
		t.Errorf("shape %+v: the standard query changed; revisit app.IntrospectionMaxDepth and app.MaxFields", got)
	}
}
