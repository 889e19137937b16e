package graph

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

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

// Close codes of graphql-transport-ws for a refused connection_init: 4403
// Forbidden (the token) and 4500 Internal Server Error (the service could
// not check it).
const (
	closeForbidden = 4403
	closeInternal  = 4500
)

// maxCloseReason is the most a websocket close frame's reason may hold
// (RFC 6455 §5.5: 125 bytes of payload, 2 of them the code).
const maxCloseReason = 123

// refuseInit refuses a connection_init: the client gets a connection_error
// with the message, then the socket closes with code and "CODE: message" as
// its reason, so a browser (which sees only the close frame) can tell an
// expired token from an outage.
func refuseInit(ctx context.Context, code int, errCode apperr.Code, message string) (context.Context, *transport.InitPayload, error) {
	reason := string(errCode) + ": " + message
	if len(reason) > maxCloseReason {
		reason = reason[:maxCloseReason]
		for !utf8.ValidString(reason) {
			reason = reason[:len(reason)-1]
		}
	}
	ctx = transport.WithWebsocketCloseCode(ctx, code)
	ctx = transport.AppendCloseReason(ctx, reason)
	return ctx, nil, errors.New(message)
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
				return refuseInit(ctx, closeForbidden, apperr.Unauthenticated, `connection_init must carry {"Authorization": "Bearer <token>"}`)
			}
			p, err := opts.Authenticate(ctx, strings.TrimSpace(token))
			if err != nil {
				if e, ok := apperr.As(err); ok {
					return refuseInit(ctx, closeForbidden, e.Code, e.Message)
				}
				return refuseInit(ctx, closeInternal, apperr.Internal, "the service cannot check the token now; try again shortly")
			}
			return auth.WithPrincipal(ctx, p), nil, nil
		},
	}
}
