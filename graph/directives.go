package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"

	"github.com/auditlogd/auditlogd/graph/model"
	"github.com/auditlogd/auditlogd/internal/auth"
	"github.com/auditlogd/auditlogd/internal/workspace"
)

// Directives returns the implementations of @admin and @businessPlan. They
// document in the schema who may use a field, and refuse early what the
// service behind the field would refuse anyway (workspace.Service.EarlyRefusal:
// no principal, an id that cannot exist, a workspace the request already
// knows the viewer has no place in). They never allow anything and cost no
// query: every rule is decided by the domain services, whether or not a
// directive ran, so a resolver without its directive leaks nothing.
func Directives(ws *workspace.Service) DirectiveRoot {
	guard := func(ctx context.Context, obj any, next graphql.Resolver) (any, error) {
		if err := ws.EarlyRefusal(ctx, viewer(ctx), workspaceOf(ctx, obj)); err != nil {
			return nil, err
		}
		return next(ctx)
	}
	return DirectiveRoot{Admin: guard, BusinessPlan: guard}
}

// viewer is the request's principal, or nil when it is anonymous.
func viewer(ctx context.Context) *auth.Principal {
	if p, ok := auth.PrincipalFrom(ctx); ok {
		return &p
	}
	return nil
}

// workspaceOf finds the workspace a guarded field concerns: its workspaceId
// argument, input.workspaceId, or the parent Workspace.
func workspaceOf(ctx context.Context, obj any) string {
	if fc := graphql.GetFieldContext(ctx); fc != nil {
		if id, ok := fc.Args["workspaceId"].(string); ok {
			return id
		}
		if in, ok := fc.Args["input"].(model.WorkspaceScoped); ok {
			return in.ScopeWorkspaceID()
		}
	}
	if w, ok := obj.(*workspace.Workspace); ok {
		return w.ID
	}
	return ""
}
