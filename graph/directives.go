package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"

	"github.com/auditlogd/auditlogd/graph/model"
	"github.com/auditlogd/auditlogd/internal/apperr"
	"github.com/auditlogd/auditlogd/internal/auth"
	"github.com/auditlogd/auditlogd/internal/workspace"
)

// Directives returns the implementations of @admin and @businessPlan. Both
// read the viewer's role and the plan from the database on every request.
func Directives(ws *workspace.Service) DirectiveRoot {
	d := directives{ws: ws}
	return DirectiveRoot{Admin: d.admin, BusinessPlan: d.businessPlan}
}

type directives struct{ ws *workspace.Service }

type accessKey struct{}

// checked is the access @admin looked up, kept for @businessPlan on the same
// field so that one field costs one query.
type checked struct {
	workspaceID string
	access      workspace.Access
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
	fc := graphql.GetFieldContext(ctx)
	if fc != nil {
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

func (d directives) access(ctx context.Context, obj any) (string, workspace.Access, error) {
	id := workspaceOf(ctx, obj)
	if c, ok := ctx.Value(accessKey{}).(checked); ok && c.workspaceID == id {
		return id, c.access, nil
	}
	acc, err := d.ws.Access(ctx, viewer(ctx), id)
	return id, acc, err
}

func notAdmin() error {
	return apperr.New(apperr.Forbidden, "only an admin of this workspace may do this")
}

// enforcedByService reports whether the field is a mutation. Every guarded
// mutation's service makes the same check again inside its transaction,
// after locking the workspace, with the same errors in the same order; that
// is the check that counts (a role may change between here and there), so
// for mutations the directives leave it to the service and save a round
// trip to the database per mutation. A test calls every guarded mutation as
// a non-admin and as an admin of a workspace on another plan.
func enforcedByService(ctx context.Context) bool {
	fc := graphql.GetFieldContext(ctx)
	return fc != nil && fc.Object == "Mutation"
}

func (d directives) admin(ctx context.Context, obj any, next graphql.Resolver) (any, error) {
	if enforcedByService(ctx) {
		return next(ctx)
	}
	id, acc, err := d.access(ctx, obj)
	if err != nil {
		return nil, err
	}
	if !acc.IsAdmin() {
		return nil, notAdmin()
	}
	return next(context.WithValue(ctx, accessKey{}, checked{workspaceID: id, access: acc}))
}

// businessPlan checks the plan. gqlgen runs a field's directives from the
// last to the first, so on a field marked "@admin @businessPlan" this runs
// before @admin: it refuses non-admins itself, so that @admin is in effect
// checked first and a workspace's plan (or existence) is never revealed to
// someone who may not administer it.
func (d directives) businessPlan(ctx context.Context, obj any, next graphql.Resolver) (any, error) {
	if enforcedByService(ctx) {
		return next(ctx)
	}
	id, acc, err := d.access(ctx, obj)
	if err != nil {
		return nil, err
	}
	if guardedByAdmin(ctx) && !acc.IsAdmin() {
		return nil, notAdmin()
	}
	if acc.Plan != workspace.PlanBusiness {
		return nil, apperr.New(apperr.BusinessPlanRequired, "the audit log is available on the Business plan")
	}
	return next(context.WithValue(ctx, accessKey{}, checked{workspaceID: id, access: acc}))
}

// guardedByAdmin reports whether the field being resolved also carries @admin.
func guardedByAdmin(ctx context.Context) bool {
	fc := graphql.GetFieldContext(ctx)
	return fc != nil && fc.Field.Field != nil && fc.Field.Definition != nil && fc.Field.Definition.Directives.ForName("admin") != nil
}
