package graph

import (
	"context"
	"net/http"
	"time"

	"github.com/vikstrous/dataloadgen"

	"github.com/auditlogd/auditlogd/internal/apperr"
	"github.com/auditlogd/auditlogd/internal/workspace"
)

// loaders batch the lookups of users and workspaces that lists of members
// and invites make, one set per request.
type loaders struct {
	users      *dataloadgen.Loader[string, *workspace.User]
	workspaces *dataloadgen.Loader[string, *workspace.Workspace]
}

type loadersKey struct{}

// withLoaders is middleware that gives each request its own dataloaders and
// the workspace service's per-request memory (the access rows and the member
// and invite lists it has read), so that nothing is cached across requests
// (or users). NewHandler installs it.
func withLoaders(ws *workspace.Service) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			l := &loaders{
				users: dataloadgen.NewLoader(func(ctx context.Context, ids []string) ([]*workspace.User, []error) {
					us, err := ws.Users(ctx, ids)
					return inKeyOrder(ids, us, err, func(u workspace.User) string { return u.ID })
				}, dataloadgen.WithWait(time.Millisecond)),
				workspaces: dataloadgen.NewLoader(func(ctx context.Context, ids []string) ([]*workspace.Workspace, []error) {
					wss, err := ws.Workspaces(ctx, ids)
					return inKeyOrder(ids, wss, err, func(w workspace.Workspace) string { return w.ID })
				}, dataloadgen.WithWait(time.Millisecond)),
			}
			ctx := ws.WithRequestScope(context.WithValue(r.Context(), loadersKey{}, l))
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// inKeyOrder returns one result or error per key, in the order of keys, as
// dataloadgen requires.
func inKeyOrder[T any](keys []string, items []T, err error, key func(T) string) ([]*T, []error) {
	out := make([]*T, len(keys))
	errs := make([]error, len(keys))
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
		return out, errs
	}
	byKey := make(map[string]*T, len(items))
	for i := range items {
		byKey[key(items[i])] = &items[i]
	}
	for i, k := range keys {
		if v, ok := byKey[k]; ok {
			out[i] = v
		} else {
			errs[i] = apperr.ErrNotFound
		}
	}
	return out, errs
}

func loadersFrom(ctx context.Context) *loaders {
	l, _ := ctx.Value(loadersKey{}).(*loaders)
	return l
}

func (r *Resolver) loadUser(ctx context.Context, id string) (*workspace.User, error) {
	return loadersFrom(ctx).users.Load(ctx, id)
}

func (r *Resolver) loadWorkspace(ctx context.Context, id string) (*workspace.Workspace, error) {
	return loadersFrom(ctx).workspaces.Load(ctx, id)
}
