package model

// WorkspaceScoped is an input that names the workspace it concerns; the
// @admin and @businessPlan directives read it from input.workspaceId.
type WorkspaceScoped interface {
	ScopeWorkspaceID() string
}

// ScopeWorkspaceID names the workspace of the invite.
func (i CreateInviteLinkInput) ScopeWorkspaceID() string { return i.WorkspaceID }

// ScopeWorkspaceID names the workspace to add to.
func (i AddMemberInput) ScopeWorkspaceID() string { return i.WorkspaceID }

// ScopeWorkspaceID names the workspace of the membership.
func (i UpdateMemberRoleInput) ScopeWorkspaceID() string { return i.WorkspaceID }

// ScopeWorkspaceID names the workspace whose log is exported.
func (i ExportAuditLogInput) ScopeWorkspaceID() string { return i.WorkspaceID }

// ScopeWorkspaceID names the workspace of the key.
func (i CreateAPIKeyInput) ScopeWorkspaceID() string { return i.WorkspaceID }

// ScopeWorkspaceID names the workspace of the stream.
func (i CreateLogStreamInput) ScopeWorkspaceID() string { return i.WorkspaceID }
