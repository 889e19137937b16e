package store

import (
	"context"
	"database/sql"
	"strings"
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

// tallyQuery is one statement that sums a counter table over the whole
// hours and counts the events of the edges, grouped by cols.
func tallyQuery(workspaceID, counters, cols string, edges [][2]int64, first, last int64, whole bool) (string, []any) {
	var parts []string
	var args []any
	for _, e := range edges {
		parts = append(parts, "SELECT "+cols+", COUNT(*) AS n FROM audit_events WHERE workspace_id = ? AND occurred_at >= ? AND occurred_at < ? GROUP BY "+cols)
		args = append(args, workspaceID, e[0], e[1])
	}
	if whole {
		parts = append(parts, "SELECT "+cols+", SUM(n) AS n FROM "+counters+" WHERE workspace_id = ? AND hour_start >= ? AND hour_start < ? GROUP BY "+cols)
		args = append(args, workspaceID, first, last)
	}
	return "SELECT " + cols + ", SUM(n) AS total FROM (" + strings.Join(parts, " UNION ALL ") + ") t GROUP BY " + cols, args
}

// Summarize implements audit.Summarizer: two statements in one read-only
// transaction (a consistent snapshot on MySQL), and one for the top
// actors' emails.
func (s *Events) Summarize(ctx context.Context, workspaceID string, since, until time.Time, top int) (audit.Tally, error) {
	edges, first, last, whole := summarySpans(since, until)
	t := audit.Tally{ByActionFlags: map[audit.ActionFlags]int{}}
	opts := &sql.TxOptions{ReadOnly: true}
	if s.c.db.dialect == MySQL {
		opts.Isolation = sql.LevelRepeatableRead
	}
	ctx, cancel := context.WithTimeout(ctx, s.c.db.opts.QueryTimeout)
	defer cancel()
	err := s.c.reader.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		q, args := tallyQuery(workspaceID, "audit_event_counts", "action, flags", edges, first, last, whole)
		rows, err := tx.Raw(q, args...).Rows()
		if err != nil {
			return err
		}
		for rows.Next() {
			var action string
			var flags insight.Set
			var n int64
			if err := rows.Scan(&action, &flags, &n); err != nil {
				rows.Close()
				return err
			}
			t.ByActionFlags[audit.ActionFlags{Action: audit.Action(action), Flags: flags}] += int(n)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		q, args = tallyQuery(workspaceID, "audit_actor_counts", "actor_type, actor_id", edges, first, last, whole)
		rows, err = tx.Raw(q+" ORDER BY total DESC, actor_type, actor_id LIMIT ?", append(args, top)...).Rows()
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var ac audit.ActorCount
			var typ string
			var n int64
			if err := rows.Scan(&typ, &ac.Actor.ID, &n); err != nil {
				return err
			}
			ac.Actor.Type, ac.Count = audit.ActorType(typ), int(n)
			t.TopActors = append(t.TopActors, ac)
		}
		return rows.Err()
	}, opts)
	if err != nil {
		return t, translate(err)
	}
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
