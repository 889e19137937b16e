package graph

import (
	"context"
	"errors"
	"log/slog"
	"runtime/debug"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/auditlogd/auditlogd/internal/apperr"
	"github.com/auditlogd/auditlogd/internal/reqinfo"
)

// defaultMessages stand in for domain errors raised without a message.
var defaultMessages = map[apperr.Code]string{
	apperr.Unauthenticated:      "sign in with a bearer token",
	apperr.Forbidden:            "you may not do this",
	apperr.BusinessPlanRequired: "this needs the Business plan",
	apperr.NotFound:             "not found",
	apperr.BadUserInput:         "invalid input",
	apperr.Conflict:             "this conflicts with the current state",
	apperr.RateLimited:          "too many requests; try again later",
}

// errPanic stands for a recovered panic; the stack is in the log.
var errPanic = errors.New("panic in resolver")

// presenter is the one place where errors become GraphQL errors. Domain
// errors keep their code and message; gqlgen's own (parse, validation,
// complexity) keep theirs; anything else is logged with the request id and
// answered as INTERNAL with a message that reveals nothing.
func presenter(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		out := graphql.DefaultErrorPresenter(ctx, err)
		if e, ok := apperr.As(err); ok {
			msg := e.Message
			if msg == "" {
				msg = defaultMessages[e.Code]
			}
			pe := &gqlerror.Error{Message: msg, Path: out.Path, Locations: out.Locations,
				Extensions: map[string]any{"code": string(e.Code)}}
			if e.Field != "" {
				pe.Extensions["field"] = e.Field
			}
			if e.Code == apperr.RateLimited {
				apperr.NoteRateLimited(ctx, e.RetryAfter)
			}
			return pe
		}
		if code, ok := out.Extensions["code"].(string); ok && code != "" && !errors.Is(err, errPanic) {
			return out
		}
		reqID := reqinfo.From(ctx).RequestID
		if !errors.Is(err, errPanic) {
			log.ErrorContext(ctx, "internal error", "request_id", reqID, "path", out.Path.String(), "error", err.Error())
		}
		return &gqlerror.Error{
			Message:    "internal error; quote request id " + reqID + " when you report it",
			Path:       out.Path,
			Extensions: map[string]any{"code": string(apperr.Internal)},
		}
	}
}

// recoverer logs a resolver's panic with its stack and turns it into an
// INTERNAL error.
func recoverer(log *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "panic", "request_id", reqinfo.From(ctx).RequestID,
			"panic", p, "stack", string(debug.Stack()))
		return errPanic
	}
}
