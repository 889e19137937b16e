package model

import (
	"context"

	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/auth"
)

// AuditEventConnection is one page of the audit log as a Relay connection.
// totalCount is a method, so gqlgen runs the count only when a client selects
// it.
type AuditEventConnection struct {
	page        *audit.Page
	viewer      *auth.Principal
	workspaceID string
	filter      audit.Filter
	svc         *audit.Service
}

// NewAuditEventConnection wraps a page of workspaceID's log read by viewer
// with filter.
func NewAuditEventConnection(svc *audit.Service, viewer *auth.Principal, workspaceID string, filter audit.Filter, page *audit.Page) *AuditEventConnection {
	return &AuditEventConnection{page: page, viewer: viewer, workspaceID: workspaceID, filter: filter, svc: svc}
}

// AuditEventEdge is an event with its cursor.
type AuditEventEdge struct {
	Cursor string
	Node   audit.Event
}

// PageInfo says whether there is more on either side of the page.
type PageInfo struct {
	HasNextPage     bool
	HasPreviousPage bool
	StartCursor     *string
	EndCursor       *string
}

// Edges returns the events with their cursors.
func (c *AuditEventConnection) Edges() []AuditEventEdge {
	out := make([]AuditEventEdge, len(c.page.Events))
	for i, e := range c.page.Events {
		out[i] = AuditEventEdge{Cursor: c.svc.Cursor(e), Node: e}
	}
	return out
}

// Nodes returns the events.
func (c *AuditEventConnection) Nodes() []audit.Event { return c.page.Events }

// PageInfo returns the page's boundaries.
func (c *AuditEventConnection) PageInfo() PageInfo {
	pi := PageInfo{HasNextPage: c.page.HasNextPage, HasPreviousPage: c.page.HasPreviousPage}
	if n := len(c.page.Events); n > 0 {
		start, end := c.svc.Cursor(c.page.Events[0]), c.svc.Cursor(c.page.Events[n-1])
		pi.StartCursor, pi.EndCursor = &start, &end
	}
	return pi
}

// TotalCount counts every event that matches the filter inside the retention
// window, exactly.
func (c *AuditEventConnection) TotalCount(ctx context.Context) (int, error) {
	return c.svc.Count(ctx, c.viewer, c.workspaceID, c.filter)
}
