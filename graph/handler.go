package graph

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/validator/core"
	"github.com/vektah/gqlparser/v2/validator/rules"

	"github.com/auditlogd/auditlogd/graph/model"
	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/auth"
	"github.com/auditlogd/auditlogd/internal/workspace"
)

// MaxWorkspacesPerUser is the most workspaces a user can belong to, which is
// the longest Query.workspaces can be; the cost model prices that list by it.
// The domain enforces the cap.
const MaxWorkspacesPerUser = workspace.MaxWorkspacesPerUser

// UnboundedListLength is what a list field without a known maximum length
// costs per element of its selection: the size of a full page. A list field
// that the schema gains later is priced so by default (see pricedSchema).
const UnboundedListLength = audit.MaxPageSize

// Sizes of the caches that clients fill: parsed documents (keyed by their
// query text) and Apollo persisted queries (hash → query text). Both are
// bounded by bytes, so that large queries cannot grow them past these.
const (
	documentCacheBytes  = 32 << 20
	documentCacheEntry  = 64 << 10
	persistedCacheBytes = 16 << 20
	persistedCacheEntry = 64 << 10
)

// Observer receives one call per GraphQL response: the operation's label
// (see operationLabel), how long it took and the codes of its errors. The
// metrics package implements it.
type Observer interface {
	ObserveOperation(name string, took time.Duration, errorCodes []string)
}

// Options configure the GraphQL handler.
type Options struct {
	Logger *slog.Logger
	// Introspection enables __schema and __type queries (and the
	// Playground's schema docs).
	Introspection bool
	// ComplexityLimit bounds an operation's cost: every field costs 1, and
	// a list costs its maximum length times its selection (a connection, its
	// page size; workspaces, MaxWorkspacesPerUser; any other list of
	// objects, UnboundedListLength).
	ComplexityLimit int
	// Limits bound depth, root fields and fields in all; ParserTokenLimit
	// bounds the tokens the parser reads.
	Limits           Limits
	ParserTokenLimit int
	Observer         Observer
	// Authenticate turns the bearer token of a websocket's connection_init
	// into its principal (subscriptions cannot send an Authorization
	// header); without it subscriptions are refused.
	Authenticate func(ctx context.Context, token string) (auth.Principal, error)
	// WebsocketOrigins are the host patterns of the browser origins, other
	// than the server's own, allowed to open a subscription (the hosts of
	// AUDITLOG_CORS_ORIGINS).
	WebsocketOrigins []string
}

// NewHandler returns the /graphql handler: one transport for POST and GET
// (GraphQL over HTTP), Apollo automatic persisted queries, a parsed-query
// cache, the limits and the cost limit, the error presenter, panic recovery
// and per-request dataloaders.
func NewHandler(res *Resolver, opts Options) http.Handler {
	cfg := Config{Resolvers: res, Directives: Directives(res.WorkspaceService)}
	cfg.Complexity.Query.AuditLog = func(child int, _ string, first *int, _ *string, last *int, _ *string, _ *model.AuditLogFilter, _ *model.AuditLogOrder) int {
		return connectionCost(first, last, child)
	}
	cfg.Complexity.Workspace.AuditLog = func(child int, first *int, _ *string, last *int, _ *string, _ *model.AuditLogFilter, _ *model.AuditLogOrder) int {
		return connectionCost(first, last, child)
	}
	// The page's edges and nodes are priced by the connection, which
	// multiplies by the page size.
	cfg.Complexity.AuditEventConnection.Edges = func(child int) int { return max(child, 1) }
	cfg.Complexity.AuditEventConnection.Nodes = func(child int) int { return max(child, 1) }
	// Every workspace of the viewer runs each field selected under it, so
	// the list costs its longest length times its selection: aliases of a
	// per-workspace field cost what they can cost.
	cfg.Complexity.Query.Workspaces = func(child int) int {
		return MaxWorkspacesPerUser * max(child, 1)
	}
	// A member list is priced like a full page. Membership.workspace leads
	// back to Workspace.members, so without a price every level of that cycle
	// would multiply the answer by the number of members (M³ memberships
	// within the depth limit) while costing next to nothing.
	cfg.Complexity.Workspace.Members = func(child int) int {
		return UnboundedListLength * max(child, 1)
	}
	srv := handler.New(NewExecutableSchema(cfg))
	srv.AddTransport(httpTransport{})
	if opts.Authenticate != nil {
		srv.AddTransport(subscriptionTransport(opts))
	}
	srv.SetQueryCache(newBoundedCache(documentCacheBytes, documentCacheEntry, func(q string, _ *ast.QueryDocument) int {
		return 4 * len(q) // the text and, roughly, its syntax tree
	}))
	srv.Use(persistedQueries{extension.AutomaticPersistedQuery{
		Cache: newBoundedCache(persistedCacheBytes, persistedCacheEntry, func(h, q string) int { return len(h) + len(q) }),
	}})
	if opts.ParserTokenLimit > 0 {
		srv.SetParserTokenLimit(opts.ParserTokenLimit)
	}
	if opts.Introspection {
		srv.Use(extension.Introspection{})
	} else {
		// Without introspection, "did you mean" hints would leak the schema.
		srv.SetDisableSuggestion(true)
		srv.SetValidationRulesFn(rulesWithoutSuggestions)
	}
	// Limits first: they measure fragments once each, so a document built to
	// expand exponentially is refused before the cost walk expands it.
	srv.Use(opts.Limits)
	if opts.ComplexityLimit > 0 {
		srv.Use(&costLimit{limit: opts.ComplexityLimit})
	}
	if opts.Observer != nil {
		srv.AroundResponses(observe(opts.Observer))
	}
	srv.AroundOperations(withSubscriptionEnds)
	srv.AroundResponses(reportSubscriptionEnd(presenter(opts.Logger)))
	srv.SetErrorPresenter(presenter(opts.Logger))
	srv.SetRecoverFunc(recoverer(opts.Logger))
	return withLoaders(res.WorkspaceService)(srv)
}

// rulesWithoutSuggestions is the default validation rule set with every rule
// that can suggest a name ("Did you mean …?") swapped for its silent twin:
// SetDisableSuggestion alone swaps only the field and leaf rules, and left
// arguments, enum values, input fields and type names to be guessed.
func rulesWithoutSuggestions() *rules.Rules {
	r := rules.NewDefaultRules()
	for _, swap := range [][2]core.Rule{
		{rules.FieldsOnCorrectTypeRule, rules.FieldsOnCorrectTypeRuleWithoutSuggestions},
		{rules.ScalarLeafsRule, rules.ScalarLeafsRuleWithoutSuggestions},
		{rules.KnownArgumentNamesRule, rules.KnownArgumentNamesRuleWithoutSuggestions},
		{rules.KnownTypeNamesRule, rules.KnownTypeNamesRuleWithoutSuggestions},
		{rules.ValuesOfCorrectTypeRule, rules.ValuesOfCorrectTypeRuleWithoutSuggestions},
	} {
		r.RemoveRule(swap[0].Name)
		r.AddRule(swap[1].Name, swap[1].RuleFunc)
	}
	return r
}

// connectionCost is the cost of a page: its size times the cost of one node.
func connectionCost(first, last *int, child int) int {
	n := audit.DefaultPageSize
	if first != nil {
		n = *first
	} else if last != nil {
		n = *last
	}
	n = max(1, min(n, audit.MaxPageSize))
	return n * max(child, 1)
}

// observe reports every response to o under operationLabel.
func observe(o Observer) graphql.ResponseMiddleware {
	return func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		resp := next(ctx)
		var start time.Time
		if graphql.HasOperationContext(ctx) {
			start = graphql.GetOperationContext(ctx).Stats.OperationStart
		}
		var codes []string
		if resp != nil {
			for _, e := range resp.Errors {
				if c, ok := e.Extensions["code"].(string); ok {
					codes = append(codes, c)
				}
			}
		}
		took := time.Duration(0)
		if !start.IsZero() {
			took = time.Since(start)
		}
		o.ObserveOperation(operationLabel(ctx), took, codes)
		return resp
	}
}

// Labels of operations whose names are not recorded.
const (
	// LabelRejected: the request was not well-formed, or the operation did
	// not parse, validate or pass the limits.
	LabelRejected = "rejected"
	// LabelUnauthenticated: a valid operation of a request without a
	// verified token.
	LabelUnauthenticated = "unauthenticated"
	// LabelUnnamed: a valid, authenticated operation without a name.
	LabelUnnamed = "anonymous"
)

// operationLabel is the label an operation is counted under in the
// metrics. Operation names are chosen by clients, so they become labels only
// for requests that authenticated and whose operation validated; anything
// else is counted under a fixed label. (The metrics package also caps the
// number of distinct names.)
func operationLabel(ctx context.Context) string {
	st := stateOf(ctx)
	if st == nil || !st.validated || !graphql.HasOperationContext(ctx) {
		return LabelRejected
	}
	oc := graphql.GetOperationContext(ctx)
	if oc.Operation == nil {
		return LabelRejected
	}
	if _, ok := auth.PrincipalFrom(ctx); !ok {
		return LabelUnauthenticated
	}
	if oc.Operation.Name != "" {
		return oc.Operation.Name
	}
	return LabelUnnamed
}
