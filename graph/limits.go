package graph

import (
	"context"
	"net/http"
	"strconv"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Limits bound the shape of an operation before it runs, so that abuse is
// refused cheaply, before the complexity of the operation is even computed:
//
//   - nesting depth (MaxDepth), not counting introspection, which has its own
//     bound (IntrospectionMaxDepth) deep enough for the standard introspection
//     query of graphql-js and no deeper, so that a crafted chain of ofType is
//     refused;
//   - the number of root fields (aliases of auditLog × 100 would otherwise
//     multiply the work);
//   - the number of fields in all (MaxFields), fragments expanded: the sum is
//     computed once per fragment, so a document whose fragments spread each
//     other twice over (2ⁿ fields in n fragments) is measured in linear time
//     and refused, never walked;
//   - one __schema per operation (aliases of it would repeat the whole
//     schema);
//   - mutations over GET (GET must stay free of side effects; it is also what
//     a cross-site <img> or link can send), and introspection when it is
//     disabled.
//
// gqlparser's MaxIntrospectionDepth validation rule, which runs before this,
// refuses introspection that nests the list fields of __Type (types { fields
// { type { fields …) past the depth graphql-js allows.
type Limits struct {
	MaxDepth      int
	MaxRootFields int
	// MaxFields bounds the fields of an operation, fragments expanded.
	MaxFields int
	// IntrospectionMaxDepth bounds the nesting under __schema and __type.
	IntrospectionMaxDepth int
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = Limits{}

// ExtensionName names the extension.
func (Limits) ExtensionName() string { return "Limits" }

// Validate accepts any schema.
func (Limits) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext refuses operations over the limits.
func (l Limits) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	op := oc.Doc.Operations.ForName(oc.OperationName)
	if op == nil {
		return nil
	}
	refuse := func(format string, args ...any) *gqlerror.Error {
		e := gqlerror.Errorf(format, args...)
		e.Extensions = map[string]any{"code": "GRAPHQL_VALIDATION_FAILED"}
		return e
	}
	if st := stateOf(ctx); st != nil && st.method == http.MethodGet && op.Operation != ast.Query {
		st.methodNotAllowed = true
		return refuse("GET requests may only run queries; send %ss with POST", op.Operation)
	}
	m := newMeasurer(oc.Doc.Fragments)
	root := m.set(op.SelectionSet)
	if oc.DisableIntrospection && root.introspects {
		return refuse("introspection is disabled on this server")
	}
	if l.MaxRootFields > 0 && root.top > l.MaxRootFields {
		return refuse("the operation selects %s root fields; at most %d are allowed", countText(root.top), l.MaxRootFields)
	}
	if root.schemas > 1 {
		return refuse("the operation asks for __schema %d times; once is enough", root.schemas)
	}
	if l.MaxDepth > 0 && root.depth > l.MaxDepth {
		return refuse("the operation is nested %d levels deep; at most %d are allowed", root.depth, l.MaxDepth)
	}
	if l.IntrospectionMaxDepth > 0 && root.introDepth > l.IntrospectionMaxDepth {
		return refuse("the introspection is nested %d levels deep; at most %d are allowed (the standard introspection query needs %d)",
			root.introDepth, l.IntrospectionMaxDepth, l.IntrospectionMaxDepth)
	}
	if l.MaxFields > 0 && root.fields > l.MaxFields {
		return refuse("the operation selects %s fields, fragments expanded; at most %d are allowed", countText(root.fields), l.MaxFields)
	}
	return nil
}

// countText writes a saturated count as "over N".
func countText(n int) string {
	if n >= saturated {
		return "over " + strconv.Itoa(saturated)
	}
	return strconv.Itoa(n)
}

// saturated is where counts stop growing, so that a document built to
// expand exponentially cannot overflow them.
const saturated = 1 << 40

func satAdd(a, b int) int { return min(a+b, saturated) }

// shape is what Limits measures of a selection set, fragments expanded.
type shape struct {
	top         int  // fields of the set itself (the root fields, for an operation)
	fields      int  // fields in all
	depth       int  // deepest nesting of fields outside introspection
	introDepth  int  // deepest nesting under __schema / __type, those counted
	schemas     int  // __schema fields
	introspects bool // any __schema or __type
}

func (s shape) merge(o shape) shape {
	return shape{
		top:         satAdd(s.top, o.top),
		fields:      satAdd(s.fields, o.fields),
		depth:       max(s.depth, o.depth),
		introDepth:  max(s.introDepth, o.introDepth),
		schemas:     satAdd(s.schemas, o.schemas),
		introspects: s.introspects || o.introspects,
	}
}

// measurer measures selection sets, each fragment once: its shape does not
// depend on where it is spread, so the memo makes the walk linear in the size
// of the document however often fragments spread one another.
type measurer struct {
	frags    ast.FragmentDefinitionList
	memo     map[string]shape
	visiting map[string]bool
}

func newMeasurer(frags ast.FragmentDefinitionList) *measurer {
	return &measurer{frags: frags, memo: map[string]shape{}, visiting: map[string]bool{}}
}

func (m *measurer) set(set ast.SelectionSet) shape {
	var out shape
	for _, s := range set {
		switch s := s.(type) {
		case *ast.Field:
			out = out.merge(m.field(s))
		case *ast.InlineFragment:
			out = out.merge(m.set(s.SelectionSet))
		case *ast.FragmentSpread:
			out = out.merge(m.fragment(s.Name))
		}
	}
	return out
}

func (m *measurer) fragment(name string) shape {
	if sh, ok := m.memo[name]; ok {
		return sh
	}
	f := m.frags.ForName(name)
	if f == nil || m.visiting[name] {
		// Unknown fragments and cycles are refused by validation before
		// this runs; measure them as nothing.
		return shape{}
	}
	m.visiting[name] = true
	sh := m.set(f.SelectionSet)
	delete(m.visiting, name)
	m.memo[name] = sh
	return sh
}

func (m *measurer) field(f *ast.Field) shape {
	child := m.set(f.SelectionSet)
	out := shape{top: 1, fields: satAdd(1, child.fields), schemas: child.schemas, introspects: child.introspects}
	if f.Name == "__schema" || f.Name == "__type" {
		// An introspection subtree: its depth is measured on its own scale.
		out.introspects = true
		out.introDepth = 1 + max(child.depth, child.introDepth)
		if f.Name == "__schema" {
			out.schemas = satAdd(out.schemas, 1)
		}
		return out
	}
	out.depth = 1 + child.depth
	out.introDepth = child.introDepth
	return out
}
