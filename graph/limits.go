package graph

import (
	"context"
	"net/http"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Limits bound the shape of an operation before it runs, so that abuse is
// refused cheaply: nesting depth, the number of root fields (aliases of
// auditLog × 100 would otherwise multiply the work), mutations over GET
// (GET must stay free of side effects; it is also what a cross-site <img> or
// link can send), and introspection when it is disabled.
type Limits struct {
	MaxDepth      int
	MaxRootFields int
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = Limits{}

type methodKey struct{}

// withMethod records the HTTP method for the Limits extension.
func withMethod(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), methodKey{}, r.Method)))
	})
}

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
	if m, _ := ctx.Value(methodKey{}).(string); m == http.MethodGet && op.Operation != ast.Query {
		return refuse("GET requests may only run queries; send %ss with POST", op.Operation)
	}
	if oc.DisableIntrospection && introspects(op.SelectionSet, oc.Doc.Fragments, 0) {
		return refuse("introspection is disabled on this server")
	}
	if n := countFields(op.SelectionSet, oc.Doc.Fragments, 0); l.MaxRootFields > 0 && n > l.MaxRootFields {
		return refuse("the operation selects %d root fields; at most %d are allowed", n, l.MaxRootFields)
	}
	if d := depth(op.SelectionSet, oc.Doc.Fragments, 0); l.MaxDepth > 0 && d > l.MaxDepth {
		return refuse("the operation is nested %d levels deep; at most %d are allowed", d, l.MaxDepth)
	}
	return nil
}

// introspects reports whether a root selection set asks for __schema or
// __type, the only introspection fields (they exist on the query root alone).
// Refusing them here answers a client error instead of letting their
// resolvers fail with an internal one.
func introspects(set ast.SelectionSet, frags ast.FragmentDefinitionList, guard int) bool {
	if guard > 50 {
		return false
	}
	for _, s := range set {
		switch s := s.(type) {
		case *ast.Field:
			if s.Name == "__schema" || s.Name == "__type" {
				return true
			}
		case *ast.InlineFragment:
			if introspects(s.SelectionSet, frags, guard+1) {
				return true
			}
		case *ast.FragmentSpread:
			if f := frags.ForName(s.Name); f != nil && introspects(f.SelectionSet, frags, guard+1) {
				return true
			}
		}
	}
	return false
}

// countFields counts the fields of a selection set, fragments expanded
// (fragment cycles are refused by validation before this runs; guard anyway).
func countFields(set ast.SelectionSet, frags ast.FragmentDefinitionList, guard int) int {
	if guard > 50 {
		return 0
	}
	n := 0
	for _, s := range set {
		switch s := s.(type) {
		case *ast.Field:
			n++
		case *ast.InlineFragment:
			n += countFields(s.SelectionSet, frags, guard+1)
		case *ast.FragmentSpread:
			if f := frags.ForName(s.Name); f != nil {
				n += countFields(f.SelectionSet, frags, guard+1)
			}
		}
	}
	return n
}

// depth is the deepest field nesting of a selection set.
func depth(set ast.SelectionSet, frags ast.FragmentDefinitionList, guard int) int {
	if guard > 100 {
		return guard
	}
	d := 0
	for _, s := range set {
		switch s := s.(type) {
		case *ast.Field:
			if len(s.SelectionSet) > 0 {
				d = max(d, 1+depth(s.SelectionSet, frags, guard+1))
			} else {
				d = max(d, 1)
			}
		case *ast.InlineFragment:
			d = max(d, depth(s.SelectionSet, frags, guard+1))
		case *ast.FragmentSpread:
			if f := frags.ForName(s.Name); f != nil {
				d = max(d, depth(f.SelectionSet, frags, guard+1))
			}
		}
	}
	return d
}
