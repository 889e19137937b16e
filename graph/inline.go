package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
)

// marshalInline marshals a list's elements one after the other in the
// calling goroutine, recovering a panic per element as gqlgen does. The
// generated marshalers of audit events and edges call it instead of
// graphql.MarshalSliceConcurrently (see internal/inlinelists).
func marshalInline(ctx context.Context, n int, marshal func(ctx context.Context, i int) graphql.Marshaler) graphql.Array {
	ret := make(graphql.Array, n)
	for i := range n {
		idx := i
		elem := graphql.WithFieldContext(ctx, &graphql.FieldContext{Index: &idx})
		func() {
			defer func() {
				if r := recover(); r != nil {
					graphql.AddError(elem, graphql.Recover(elem, r))
					ret[idx] = graphql.Null
				}
			}()
			ret[idx] = marshal(elem, idx)
		}()
	}
	return ret
}
