package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"

	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/insight"
)

var _ audit.Summarizer = (*Events)(nil)

// summarySpans splits [since, until) like CountEvents does: the whole hours
// inside it, read from hourly counters, and the partial hours at its edges,
// read from the events. whole is false when there is no whole hour.
func summarySpans(since, until time.Time) (edges [][2]int64, first, last int64, whole bool) {
	hour := int64(time.Hour / time.Millisecond)
	s, u := since.UnixMilli(), until.UnixMilli()
	first = hourStart(s + hour - 1)
	last = hourStart(u)
	if last <= first {
		return [][2]int64{{s, u}}, 0, 0, false
	}
	if s < first {
		edges = append(edges, [2]int64{s, first})
	}
	if last < u {
		edges = append(edges, [2]int64{last, u})
	}
	return edges, first, last, true
}

// tallyQuery is one statement that sums the hourly counters of a kind over
// the whole hours and counts the events of the edges, grouped by cols.
func tallyQuery(workspaceID, kind, cols string, edges [][2]int64, first, last int64, whole bool) (string, []any) {
	var parts []string
	var args []any
	for _, e := range edges {
		parts = append(parts, "SELECT "+cols+", COUNT(*) AS n FROM audit_events WHERE workspace_id = ? AND occurred_at >= ? AND occurred_at < ? GROUP BY "+cols)
		args = append(args, workspaceID, e[0], e[1])
	}
	if whole {
		parts = append(parts, "SELECT "+cols+", SUM(n) AS n FROM audit_event_counts WHERE workspace_id = ? AND kind = ? AND hour_start >= ? AND hour_start < ? GROUP BY "+cols)
		args = append(args, workspaceID, kind, first, last)
	}
	return "SELECT " + cols + ", SUM(n) AS total FROM (" + strings.Join(parts, " UNION ALL ") + ") t GROUP BY " + cols, args
}

// Summarize implements audit.Summarizer, in one read-only transaction (a
// consistent snapshot on MySQL): the counts by action and flags in one
// statement, from the hourly counters and the edges' events; the top actors
// from the hourly actor counters and the edges' events, merged here; then
// the top actors' emails.
//
// Ranking actors means summing every actor's counters over the window's
// whole hours, which at millions of events is tens of thousands of rows. The
// sums of hours that are over (before the hour of the workspace's newest
// event, which no new event can precede) never change, so they are kept per
// process, by workspace and hours, and only the edges are counted again;
// a bulk insert of history or a prune of the workspace forgets them.
func (s *Events) Summarize(ctx context.Context, workspaceID string, since, until time.Time, top int) (audit.Tally, error) {
	edges, first, last, whole := summarySpans(since, until)
	t := audit.Tally{ByActionFlags: map[audit.ActionFlags]int{}}
	opts := &sql.TxOptions{ReadOnly: true}
	if s.c.db.dialect == MySQL {
		opts.Isolation = sql.LevelRepeatableRead
	}
	ctx, cancel := context.WithTimeout(ctx, s.c.db.opts.QueryTimeout)
	defer cancel()
	sums := map[actorKey]int64{}
	err := s.c.reader.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		q, args := tallyQuery(workspaceID, countsByAction, "action, flags", edges, first, last, whole)
		if err := scanRows(tx.Raw(q, args...), func(rows *sql.Rows) error {
			var action string
			var flags insight.Set
			var n int64
			if err := rows.Scan(&action, &flags, &n); err != nil {
				return err
			}
			t.ByActionFlags[audit.ActionFlags{Action: audit.Action(action), Flags: flags}] += int(n)
			return nil
		}); err != nil {
			return err
		}
		if whole {
			closed, err := s.wholeHourActors(tx, workspaceID, first, last)
			if err != nil {
				return err
			}
			maps.Copy(sums, closed)
		}
		if len(edges) == 0 {
			return nil
		}
		q, args = tallyQuery(workspaceID, "", "actor_type, actor_id", edges, 0, 0, false)
		return scanRows(tx.Raw(q, args...), func(rows *sql.Rows) error {
			var k actorKey
			var n int64
			if err := rows.Scan(&k.typ, &k.id, &n); err != nil {
				return err
			}
			sums[k] += n
			return nil
		})
	}, opts)
	if err != nil {
		return t, translate(err)
	}
	t.TopActors = topActors(sums, top)
	var users []string
	for _, a := range t.TopActors {
		if a.Actor.Type == audit.ActorUser {
			users = append(users, a.Actor.ID)
		}
	}
	if len(users) == 0 {
		return t, nil
	}
	var found []struct{ ID, Email string }
	err = s.c.run(ctx, false, func(db *gorm.DB) error {
		return db.Raw("SELECT id, email FROM users WHERE id IN ?", users).Scan(&found).Error
	})
	for _, u := range found {
		for i := range t.TopActors {
			if t.TopActors[i].Actor.Type == audit.ActorUser && t.TopActors[i].Actor.ID == u.ID {
				email := u.Email
				t.TopActors[i].Actor.Email = &email
			}
		}
	}
	return t, err
}

// wholeHourActors sums the actor counters of the hours [first, last), from
// the cache when those hours are closed and were summed before.
func (s *Events) wholeHourActors(tx *gorm.DB, workspaceID string, first, last int64) (map[actorKey]int64, error) {
	key := actorSumKey{workspaceID, first, last}
	if m, ok := s.c.db.actorSums.get(key); ok {
		return m, nil
	}
	var newest int64
	if err := tx.Raw("SELECT chain_at FROM workspaces WHERE id = ?", workspaceID).Row().Scan(&newest); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	gen := s.c.db.actorSums.generation(workspaceID)
	m := map[actorKey]int64{}
	err := scanRows(tx.Raw("SELECT actor_type, actor_id, SUM(n) FROM audit_event_counts WHERE workspace_id = ? AND kind = ? AND hour_start >= ? AND hour_start < ? GROUP BY actor_type, actor_id",
		workspaceID, countsByActor, first, last), func(rows *sql.Rows) error {
		var k actorKey
		var n int64
		if err := rows.Scan(&k.typ, &k.id, &n); err != nil {
			return err
		}
		m[k] = n
		return nil
	})
	if err == nil && last <= hourStart(newest) {
		s.c.db.actorSums.put(key, m, gen)
	}
	return m, err
}

// topActors ranks actors by their sums: most events first, ties by type
// and id.
func topActors(sums map[actorKey]int64, top int) []audit.ActorCount {
	keys := slices.Collect(maps.Keys(sums))
	slices.SortFunc(keys, func(a, b actorKey) int {
		return cmp.Or(cmp.Compare(sums[b], sums[a]), cmp.Compare(a.typ, b.typ), cmp.Compare(a.id, b.id))
	})
	out := make([]audit.ActorCount, 0, min(top, len(keys)))
	for _, k := range keys[:min(top, len(keys))] {
		out = append(out, audit.ActorCount{Actor: audit.Actor{ID: k.id, Type: audit.ActorType(k.typ)}, Count: int(sums[k])})
	}
	return out
}

// scanRows runs q and calls fn for each row.
func scanRows(q *gorm.DB, fn func(*sql.Rows) error) error {
	rows, err := q.Rows()
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// actorKey is one actor.
type actorKey struct{ typ, id string }

// actorSumKey is one workspace's whole hours [first, last).
type actorSumKey struct {
	workspaceID string
	first, last int64
}

// actorSumCache keeps the actor sums of closed hours, a bounded number of
// entries, the oldest put out first. A workspace's generation changes when
// its past can change (a bulk insert of history, a prune), which forgets
// its entries and keeps a sum read before the change from being put after.
type actorSumCache struct {
	mu    sync.Mutex
	m     map[actorSumKey]map[actorKey]int64
	order []actorSumKey
	gens  map[string]uint64
}

// actorSumEntries bounds the cache: a default summary of a workspace needs
// one entry an hour.
const actorSumEntries = 256

func (c *actorSumCache) get(k actorSumKey) (map[actorKey]int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.m[k]
	return m, ok
}

func (c *actorSumCache) generation(workspaceID string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gens[workspaceID]
}

func (c *actorSumCache) put(k actorSumKey, m map[actorKey]int64, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gens[k.workspaceID] != gen {
		return
	}
	if c.m == nil {
		c.m = map[actorSumKey]map[actorKey]int64{}
	}
	if _, ok := c.m[k]; !ok {
		c.order = append(c.order, k)
	}
	c.m[k] = m
	for len(c.order) > actorSumEntries {
		delete(c.m, c.order[0])
		c.order = c.order[1:]
	}
}

// forget drops what the cache holds of workspaceID.
func (c *actorSumCache) forget(workspaceID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gens == nil {
		c.gens = map[string]uint64{}
	}
	c.gens[workspaceID]++
	for k := range c.m {
		if k.workspaceID == workspaceID {
			delete(c.m, k)
		}
	}
	c.order = slices.DeleteFunc(c.order, func(k actorSumKey) bool { return k.workspaceID == workspaceID })
}
