package workspace

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/vikstrous/dataloadgen"
)

// maxBatch caps the workspaces one list query asks about.
const maxBatch = MaxWorkspacesPerUser

// listLoaders batch the member and invite lists that one request's fields ask
// for. When the request listed the viewer's workspaces ({ workspaces { … } }),
// the first field that asks for a member (or invite) list of one of them
// reads the lists of all of them, once, and every other field waits for that
// read: however many workspaces and aliases, one query for members and one
// for invites. A workspace reached otherwise (workspace(id: …)) goes through
// a dataloader.
type listLoaders struct {
	members *lists[Membership]
	invites *lists[Invite]
}

func (s *Service) newListLoaders() *listLoaders {
	return &listLoaders{
		members: newLists(func(ctx context.Context, ids []string) ([]Membership, error) {
			return s.store.ListMembershipsOf(ctx, ids)
		}, func(m Membership) string { return m.WorkspaceID }),
		invites: newLists(func(ctx context.Context, ids []string) ([]Invite, error) {
			return s.store.ListInvitesOf(ctx, ids)
		}, func(i Invite) string { return i.WorkspaceID }),
	}
}

// list remembers the workspaces a request listed.
func (l *listLoaders) list(ids []string) {
	l.members.list(ids)
	l.invites.list(ids)
}

func (l *listLoaders) forget(workspaceID string) {
	l.members.forget(workspaceID)
	l.invites.forget(workspaceID)
}

// lists are the per-workspace lists of one kind read by one request.
type lists[T any] struct {
	read   func(ctx context.Context, workspaceIDs []string) ([]T, error)
	key    func(T) string
	loader *dataloadgen.Loader[string, []T]

	mu     sync.Mutex
	listed []string
	all    *allLists[T] // the one read of every listed workspace, once started
	stale  map[string]bool
}

// allLists is the read of the lists of every listed workspace.
type allLists[T any] struct {
	done  chan struct{}
	byWS  map[string][]T
	err   error
	start sync.Once
}

func newLists[T any](read func(context.Context, []string) ([]T, error), key func(T) string) *lists[T] {
	l := &lists[T]{read: read, key: key, stale: map[string]bool{}}
	l.loader = dataloadgen.NewLoader(func(ctx context.Context, ids []string) ([][]T, []error) {
		items, err := read(ctx, ids)
		return grouped(ids, items, err, key)
	}, dataloadgen.WithWait(time.Millisecond), dataloadgen.WithBatchCapacity(maxBatch))
	return l
}

func (l *lists[T]) list(ids []string) {
	l.mu.Lock()
	l.listed = append(l.listed, ids...)
	l.mu.Unlock()
}

// forget makes the next load of the workspace read it again (a mutation
// changed it).
func (l *lists[T]) forget(workspaceID string) {
	l.mu.Lock()
	l.stale[workspaceID] = true
	l.mu.Unlock()
	l.loader.Clear(workspaceID)
}

// load returns one workspace's list.
func (l *lists[T]) load(ctx context.Context, workspaceID string) ([]T, error) {
	l.mu.Lock()
	listed := slices.Contains(l.listed, workspaceID) && !l.stale[workspaceID]
	if listed && l.all == nil {
		l.all = &allLists[T]{done: make(chan struct{})}
	}
	all, ids := l.all, slices.Clone(l.listed)
	l.mu.Unlock()
	if !listed {
		return l.loader.Load(ctx, workspaceID)
	}
	all.start.Do(func() {
		defer close(all.done)
		ids = ids[:min(len(ids), maxBatch)]
		items, err := l.read(ctx, ids)
		if err != nil {
			all.err = err
			return
		}
		lists, _ := grouped(ids, items, nil, l.key)
		all.byWS = make(map[string][]T, len(ids))
		for i, id := range ids {
			all.byWS[id] = lists[i]
		}
	})
	<-all.done
	if all.err != nil {
		return nil, all.err
	}
	if got, ok := all.byWS[workspaceID]; ok {
		return got, nil
	}
	return l.loader.Load(ctx, workspaceID)
}

// grouped splits items by workspace into one list per key, in key order, as
// dataloadgen wants; the items keep their order within a workspace.
func grouped[T any](keys []string, items []T, err error, key func(T) string) ([][]T, []error) {
	out := make([][]T, len(keys))
	errs := make([]error, len(keys))
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
		return out, errs
	}
	at := make(map[string]int, len(keys))
	for i, k := range keys {
		at[k] = i
		out[i] = []T{}
	}
	for _, it := range items {
		if i, ok := at[key(it)]; ok {
			out[i] = append(out[i], it)
		}
	}
	return out, errs
}

// members returns the workspace's members through the request's loaders, or
// with a query of its own outside a request.
func (s *Service) members(ctx context.Context, workspaceID string) ([]Membership, error) {
	if sc := scopeFrom(ctx); sc != nil {
		return sc.lists.members.load(ctx, workspaceID)
	}
	return s.store.ListMembershipsOf(ctx, []string{workspaceID})
}

// invites returns the workspace's live invites, like members.
func (s *Service) invites(ctx context.Context, workspaceID string) ([]Invite, error) {
	if sc := scopeFrom(ctx); sc != nil {
		return sc.lists.invites.load(ctx, workspaceID)
	}
	return s.store.ListInvitesOf(ctx, []string{workspaceID})
}
