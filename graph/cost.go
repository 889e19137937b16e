package graph

import (
	"context"
	"errors"
	"strings"

	"github.com/99designs/gqlgen/complexity"
	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// costLimit refuses an operation whose cost is over limit, with the code
// COMPLEXITY_LIMIT_EXCEEDED. It is gqlgen's FixedComplexityLimit, computed
// with gqlgen's complexity walker, except that the walker sees the schema
// through pricedSchema, so that list fields without a price of their own
// still cost their length.
type costLimit struct {
	limit int
	es    graphql.ExecutableSchema
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = (*costLimit)(nil)

// ExtensionName names the extension.
func (*costLimit) ExtensionName() string { return "CostLimit" }

// Validate keeps the schema, seen through its prices.
func (c *costLimit) Validate(es graphql.ExecutableSchema) error {
	if c.limit <= 0 {
		return errors.New("the cost limit must be positive")
	}
	c.es = pricedSchema{es}
	return nil
}

// MutateOperationContext computes the operation's cost and refuses it over
// the limit.
func (c *costLimit) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	op := oc.Doc.Operations.ForName(oc.OperationName)
	if op == nil {
		return nil
	}
	if cost := complexity.Calculate(ctx, c.es, op, oc.Variables); cost > c.limit {
		err := gqlerror.Errorf("operation has complexity %d, which exceeds the limit of %d", cost, c.limit)
		errcode.Set(err, "COMPLEXITY_LIMIT_EXCEEDED")
		return err
	}
	return nil
}

// pricedSchema prices the fields the generated code has no price for: a
// list of objects costs UnboundedListLength times its selection, as a page
// does; any other field keeps gqlgen's default (1 plus its selection).
// Introspection is left at the default: gqlparser's MaxIntrospectionDepth
// rule and Limits bound it. It is only ever used to compute costs.
type pricedSchema struct {
	graphql.ExecutableSchema
}

// Complexity returns the generated price of a field if it has one, and the
// price of a list of objects otherwise.
func (p pricedSchema) Complexity(ctx context.Context, typeName, field string, child int, args map[string]any) (int, bool) {
	if c, ok := p.ExecutableSchema.Complexity(ctx, typeName, field, child, args); ok {
		return c, ok
	}
	if strings.HasPrefix(typeName, "__") {
		return 0, false
	}
	schema := p.Schema()
	def := schema.Types[typeName]
	if def == nil {
		return 0, false
	}
	f := def.Fields.ForName(field)
	if f == nil || f.Type == nil || f.Type.Elem == nil {
		return 0, false
	}
	elem := f.Type
	for elem.Elem != nil {
		elem = elem.Elem
	}
	if t := schema.Types[elem.NamedType]; t == nil || t.Kind == ast.Scalar || t.Kind == ast.Enum {
		// A list of values comes with its parent's row; it costs what a
		// field does.
		return 0, false
	}
	return UnboundedListLength * max(child, 1), true
}

// persistedQueries is gqlgen's Apollo automatic persisted queries, with an
// error code on the errors gqlgen leaves without one (a hash that does not
// match the query, a bad extension), so that they are answered as the
// client's mistakes they are rather than as internal errors.
type persistedQueries struct {
	extension.AutomaticPersistedQuery
}

// MutateOperationParameters looks up or records the persisted query.
func (p persistedQueries) MutateOperationParameters(ctx context.Context, raw *graphql.RawParams) *gqlerror.Error {
	err := p.AutomaticPersistedQuery.MutateOperationParameters(ctx, raw)
	if err != nil {
		if c, _ := err.Extensions["code"].(string); c == "" {
			errcode.Set(err, "BAD_USER_INPUT")
		}
	}
	return err
}
