package workspace

import (
	"context"
	"time"

	"github.com/vikstrous/dataloadgen"
)

// maxBatch caps the workspaces one list query asks about.
const maxBatch = 100

// listLoaders batch the member and invite lists that one request's fields ask
// for: { workspaces { members { … } inviteLinks { … } } } reads all the
// members in one query and all the invites in another, however many
// workspaces (or aliases) the request names.
type listLoaders struct {
	members *dataloadgen.Loader[string, []Membership]
	invites *dataloadgen.Loader[string, []Invite]
}

func (s *Service) newListLoaders() *listLoaders {
	opts := []dataloadgen.Option{dataloadgen.WithWait(time.Millisecond), dataloadgen.WithBatchCapacity(maxBatch)}
	return &listLoaders{
		members: dataloadgen.NewLoader(func(ctx context.Context, wsIDs []string) ([][]Membership, []error) {
			ms, err := s.store.ListMembershipsOf(ctx, wsIDs)
			return grouped(wsIDs, ms, err, func(m Membership) string { return m.WorkspaceID })
		}, opts...),
		invites: dataloadgen.NewLoader(func(ctx context.Context, wsIDs []string) ([][]Invite, []error) {
			invs, err := s.store.ListInvitesOf(ctx, wsIDs)
			return grouped(wsIDs, invs, err, func(i Invite) string { return i.WorkspaceID })
		}, opts...),
	}
}

func (l *listLoaders) forget(workspaceID string) {
	l.members.Clear(workspaceID)
	l.invites.Clear(workspaceID)
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

// members returns the workspace's members through the request's loader, or
// with a query of its own outside a request.
func (s *Service) members(ctx context.Context, workspaceID string) ([]Membership, error) {
	if sc := scopeFrom(ctx); sc != nil {
		return sc.lists.members.Load(ctx, workspaceID)
	}
	return s.store.ListMembershipsOf(ctx, []string{workspaceID})
}

// invites returns the workspace's live invites, like members.
func (s *Service) invites(ctx context.Context, workspaceID string) ([]Invite, error) {
	if sc := scopeFrom(ctx); sc != nil {
		return sc.lists.invites.Load(ctx, workspaceID)
	}
	return s.store.ListInvitesOf(ctx, []string{workspaceID})
}
