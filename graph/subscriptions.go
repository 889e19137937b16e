package graph

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	coderws "github.com/coder/websocket"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/auditlogd/auditlogd/internal/apperr"
	"github.com/auditlogd/auditlogd/internal/auth"
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

// subscriptionTransport is graphql-transport-ws over a websocket on GET
// /graphql. The client's connection_init carries {"Authorization": "Bearer
// …"} (a JWT or an API key), verified like the HTTP header; a connection
// without a valid token is refused.
func subscriptionTransport(opts Options) *transport.Websocket {
	return &transport.Websocket{
		Implementation: transport.CoderWebsocketImplementation{AcceptOptions: coderws.AcceptOptions{
			// Browsers send Origin: only the server's own pages and the
			// configured origins may subscribe (coder/websocket refuses
			// other origins; clients that send none, like servers, pass).
			OriginPatterns: opts.WebsocketOrigins,
		}},
		KeepAlivePingInterval: 15 * time.Second,
		InitTimeout:           10 * time.Second,
		InitFunc: func(ctx context.Context, init transport.InitPayload) (context.Context, *transport.InitPayload, error) {
			scheme, token, ok := strings.Cut(init.Authorization(), " ")
			if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
				return ctx, nil, errors.New("connection_init must carry {\"Authorization\": \"Bearer <token>\"}")
			}
			p, err := opts.Authenticate(ctx, strings.TrimSpace(token))
			if err != nil {
				if e, ok := apperr.As(err); ok {
					return ctx, nil, errors.New(e.Message)
				}
				return ctx, nil, errors.New("the service cannot check the token now; try again shortly")
			}
			return auth.WithPrincipal(ctx, p), nil, nil
		},
	}
}
