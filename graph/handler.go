package graph

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/validator/core"
	"github.com/vektah/gqlparser/v2/validator/rules"

	"github.com/auditlogd/auditlogd/graph/model"
	"github.com/auditlogd/auditlogd/internal/audit"
)

// Observer receives one call per GraphQL response: the operation's name (or
// "anonymous"), how long it took and the codes of its errors. The metrics
// package implements it.
type Observer interface {
	ObserveOperation(name string, took time.Duration, errorCodes []string)
}

// Options configure the GraphQL handler.
type Options struct {
	Logger *slog.Logger
	// Introspection enables __schema and __type queries (and the
	// Playground's schema docs).
	Introspection bool
	// ComplexityLimit bounds an operation's cost; a connection costs
	// (page size × its selection).
	ComplexityLimit int
	// Limits bound depth and root fields; ParserTokenLimit bounds the
	// tokens the parser reads.
	Limits           Limits
	ParserTokenLimit int
	Observer         Observer
}

// NewHandler returns the /graphql handler: POST and GET (queries only)
// transports, a parsed-query cache, the complexity limit, the error
// presenter, panic recovery and per-request dataloaders.
func NewHandler(res *Resolver, opts Options) http.Handler {
	cfg := Config{Resolvers: res, Directives: Directives(res.WorkspaceService)}
	cfg.Complexity.Query.AuditLog = func(child int, _ string, first *int, _ *string, last *int, _ *string, _ *model.AuditLogFilter, _ *model.AuditLogOrder) int {
		return connectionCost(first, last, child)
	}
	cfg.Complexity.Workspace.AuditLog = func(child int, first *int, _ *string, last *int, _ *string, _ *model.AuditLogFilter, _ *model.AuditLogOrder) int {
		return connectionCost(first, last, child)
	}
	// A member list is priced like a full page. Membership.workspace leads
	// back to Workspace.members, so without a price every level of that cycle
	// would multiply the answer by the number of members (M³ memberships
	// within the depth limit) while costing next to nothing.
	cfg.Complexity.Workspace.Members = func(child int) int {
		return audit.MaxPageSize * max(child, 1)
	}
	srv := handler.New(NewExecutableSchema(cfg))
	srv.AddTransport(transport.GET{})
	srv.AddTransport(jsonPOST{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
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
	srv.Use(opts.Limits)
	if opts.ComplexityLimit > 0 {
		srv.Use(extension.FixedComplexityLimit(opts.ComplexityLimit))
	}
	if opts.Observer != nil {
		srv.AroundResponses(observe(opts.Observer))
	}
	srv.SetErrorPresenter(presenter(opts.Logger))
	srv.SetRecoverFunc(recoverer(opts.Logger))
	return withMethod(withLoaders(res.WorkspaceService)(srv))
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

func observe(o Observer) graphql.ResponseMiddleware {
	return func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		resp := next(ctx)
		name := "anonymous"
		var start time.Time
		if oc := graphql.GetOperationContext(ctx); oc != nil {
			if oc.OperationName != "" {
				name = oc.OperationName
			} else if op := oc.Operation; op != nil && op.Name != "" {
				name = op.Name
			}
			start = oc.Stats.OperationStart
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
		o.ObserveOperation(name, took, codes)
		return resp
	}
}
