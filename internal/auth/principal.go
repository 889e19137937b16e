// Package auth verifies bearer tokens and carries the verified identity
// through a request.
//
// Identity only: what a principal may do in a workspace is decided by the
// domain services from the database, never from token claims (a member
// removed a second ago must be refused now).
package auth

import (
	"context"
	"errors"
	"slices"
	"strings"
)

// ScopeBillingWrite lets a token change a workspace's plan.
const ScopeBillingWrite = "billing:write"

// Principal is the verified identity behind a request: a user or a service
// with a JWT, or a workspace's API key.
type Principal struct {
	// APIKey is set when the request authenticated with an API key (a
	// SERVICE principal of one workspace that may only read its log):
	// Subject is then the key's id and Name its name.
	APIKey *APIKey
	// Subject is the token's sub claim, which is the user's id.
	Subject string
	// Email is the token's email claim; empty for service tokens.
	Email string
	// Name is the optional display name.
	Name string
	// EmailVerified is the email_verified claim, or, for a token without
	// one, AUDITLOG_JWT_EMAIL_VERIFIED_DEFAULT (false unless configured).
	// Only a verified email is ever matched to an invite or by addMember.
	EmailVerified bool
	// Scopes are the space-separated scope claim's entries.
	Scopes []string
}

// ErrInvalidKey refuses an API key that is unknown, revoked or expired (the
// three are not told apart); the request gets 401 like a bad JWT.
var ErrInvalidKey = errors.New("the API key is unknown, revoked or expired")

// APIKey is what an API key principal carries besides its id.
type APIKey struct {
	// WorkspaceID is the one workspace whose log the key may read.
	WorkspaceID string
}

// IsUser reports whether the principal is a user (a token with an email), as
// opposed to a service token or an API key.
func (p Principal) IsUser() bool { return p.APIKey == nil && p.Email != "" }

// HasScope reports whether the token was granted scope.
func (p Principal) HasScope(scope string) bool { return slices.Contains(p.Scopes, scope) }

type principalKey struct{}

// WithPrincipal returns a context carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal of the request, if it had a valid token.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// ParseScopes splits a scope claim, which may be a space-separated string or
// a list of strings.
func ParseScopes(claim any) []string {
	switch v := claim.(type) {
	case string:
		return strings.Fields(v)
	case []any:
		out := make([]string, 0, len(v))
		for _, s := range v {
			if str, ok := s.(string); ok {
				out = append(out, strings.Fields(str)...)
			}
		}
		return out
	case []string:
		return v
	}
	return nil
}
