// Package graph is auditlogd's GraphQL edge: thin resolvers that decode
// arguments, make one service call and map the result; the @admin and
// @businessPlan directives; and the error presenter. The schema is
// schema.graphqls at the repository root; generated.go is gqlgen's.
package graph

//go:generate go tool gqlgen generate
//go:generate go run ./internal/inlinelists generated.go

import (
	"context"

	"github.com/auditlogd/auditlogd/graph/model"
	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/integrity"
	"github.com/auditlogd/auditlogd/internal/live"
	"github.com/auditlogd/auditlogd/internal/workspace"
)

// Resolver holds the services the resolvers call.
type Resolver struct {
	WorkspaceService *workspace.Service
	AuditService     *audit.Service
	Exporter         *audit.Exporter
	IntegrityService *integrity.Service
	Live             *live.Hub
}

// orNil returns v, or nil with err: gqlgen wants a nil pointer with an error.
func orNil[T any](v *T, err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	return v, nil
}

// auditLog serves both Query.auditLog and Workspace.auditLog.
func (r *Resolver) auditLog(ctx context.Context, workspaceID string, pr audit.PageRequest, filter *model.AuditLogFilter, orderBy *model.AuditLogOrder) (*model.AuditEventConnection, error) {
	f := toFilter(filter)
	dir := audit.Desc
	if orderBy != nil {
		dir = orderBy.Direction
	}
	page, err := r.AuditService.List(ctx, viewer(ctx), workspaceID, f, dir, pr)
	if err != nil {
		return nil, err
	}
	return model.NewAuditEventConnection(r.AuditService, viewer(ctx), workspaceID, f, page), nil
}

// toFilter maps the GraphQL filter onto the domain's.
func toFilter(in *model.AuditLogFilter) audit.Filter {
	if in == nil {
		return audit.Filter{}
	}
	deref := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	return audit.Filter{
		Actions: in.Actions, ActorID: deref(in.ActorID), ActorEmail: deref(in.ActorEmail),
		TargetID: deref(in.TargetID), TargetLabel: deref(in.TargetLabel), Since: in.Since, Until: in.Until,
		Flags: in.Flags,
	}
}
