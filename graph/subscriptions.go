package graph

import (
	"context"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/auditlogd/auditlogd/internal/live"
)

// A subscription's resolver returns a channel, and gqlgen ends the
// subscription quietly ("complete") when the channel closes: it has no way
// to say why. auditLogEvents ends with an error when the subscriber may no
// longer read the log, so the resolver notes its live.Subscription in the
// operation's context, and a response middleware answers the end of the
// stream with that error before it completes.

type endKey struct{}

// subscriptionEnd is where an operation's resolver notes its subscription.
type subscriptionEnd struct {
	mu       sync.Mutex
	sub      *live.Subscription
	reported bool
}

// withSubscriptionEnds gives every subscription operation its note.
func withSubscriptionEnds(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	if oc := graphql.GetOperationContext(ctx); oc != nil && oc.Operation != nil && oc.Operation.Operation == ast.Subscription {
		ctx = context.WithValue(ctx, endKey{}, &subscriptionEnd{})
	}
	return next(ctx)
}

// noteSubscription records the operation's subscription.
func noteSubscription(ctx context.Context, sub *live.Subscription) {
	if e, ok := ctx.Value(endKey{}).(*subscriptionEnd); ok {
		e.mu.Lock()
		e.sub = sub
		e.mu.Unlock()
	}
}

// reportSubscriptionEnd turns the end of a subscription that ended with an
// error into one last response carrying it.
func reportSubscriptionEnd(present graphql.ErrorPresenterFunc) graphql.ResponseMiddleware {
	return func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		resp := next(ctx)
		if resp != nil {
			return resp
		}
		e, ok := ctx.Value(endKey{}).(*subscriptionEnd)
		if !ok {
			return nil
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.sub == nil || e.reported {
			return nil
		}
		e.reported = true
		if err := e.sub.Err(); err != nil {
			return &graphql.Response{Errors: gqlerror.List{present(ctx, err)}}
		}
		return nil
	}
}
