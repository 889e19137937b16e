// Package role names a member's role in a workspace. It is a leaf package:
// the workspace domain decides with roles and the audit log records them.
package role

// Role is a member's role in a workspace. The values are the GraphQL enum's
// names.
type Role string

// The roles.
const (
	Member Role = "MEMBER"
	Admin  Role = "ADMIN"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == Member || r == Admin }
