package store

import (
	"cmp"
	"context"
	"database/sql"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/digest"
	"github.com/auditlogd/auditlogd/internal/email"
	"github.com/auditlogd/auditlogd/internal/insight"
	"github.com/auditlogd/auditlogd/internal/role"
)

// Events implements audit.Store: the read side of the log.
type Events struct{ c conn }

var _ audit.Store = (*Events)(nil)

// eventColumns is the column list every event query selects, in the order
// scanEvent reads them.
const eventColumns = chainedEventColumns + ", flags"

// qualifiedEventColumns is eventColumns of a table named e.
var qualifiedEventColumns = "e." + strings.ReplaceAll(eventColumns, ", ", ", e.")

// chainedEventColumns are eventColumns as of migration 0004 (the chain), before
// the flags column of 0010: what that migration's data step may read.
const chainedEventColumns = "id, workspace_id, occurred_at, action, actor_id, actor_email, actor_type, " +
	"target_type, target_id, target_label, previous_role, role, ip_address, user_agent, request_id, sequence, prev_hash, hash"

// eventScan holds reusable scan destinations for one event row.
type eventScan struct {
	id, workspaceID, action, actorID, actorType         string
	occurredAt                                          int64
	actorEmail, targetType, targetID, targetLabel       sql.NullString
	previousRole, role, ipAddress, userAgent, requestID sql.NullString
	sequence                                            sql.NullInt64
	prevHash, hash                                      []byte
	flags                                               insight.Set
}

func (s *eventScan) dest() []any {
	return []any{&s.id, &s.workspaceID, &s.occurredAt, &s.action, &s.actorID, &s.actorEmail, &s.actorType,
		&s.targetType, &s.targetID, &s.targetLabel, &s.previousRole, &s.role, &s.ipAddress, &s.userAgent, &s.requestID,
		&s.sequence, &s.prevHash, &s.hash, &s.flags}
}

func (s *eventScan) event() audit.Event {
	e := audit.Event{
		ID:          s.id,
		WorkspaceID: s.workspaceID,
		Action:      audit.Action(s.action),
		OccurredAt:  fromMs(s.occurredAt),
		Actor:       audit.Actor{ID: s.actorID, Email: nullable(s.actorEmail), Type: audit.ActorType(s.actorType)},
		IPAddress:   nullable(s.ipAddress),
		UserAgent:   nullable(s.userAgent),
		RequestID:   nullable(s.requestID),
		Sequence:    s.sequence.Int64,
		FlagSet:     s.flags,
	}
	e.PrevHash, _ = digest.FromBytes(s.prevHash)
	e.Hash, _ = digest.FromBytes(s.hash)
	if s.targetType.Valid {
		e.Target = &audit.Target{Type: audit.TargetType(s.targetType.String), ID: s.targetID.String, Label: nullable(s.targetLabel)}
	}
	if s.previousRole.Valid {
		r := role.Role(s.previousRole.String)
		e.PreviousRole = &r
	}
	if s.role.Valid {
		r := role.Role(s.role.String)
		e.Role = &r
	}
	return e
}

func nullable(ns sql.NullString) *string {
	if !ns.Valid {
		return nil
	}
	return &ns.String
}

func str(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}

// key is the form of an email or label that the email filters compare; see
// email.Key.
func key(p *string) any {
	// A label longer than a filter may be (a long list of trusted domains)
	// has no key: no filter can match it, and MySQL's key column holds what
	// a filter's key can be, not more.
	if p == nil || utf8.RuneCountInString(*p) > maxKeyedLabel {
		return nil
	}
	return email.Key(*p)
}

// maxKeyedLabel is the longest label, in characters, that gets a key: the
// longest actorEmail or targetLabel filter (audit.Filter.Validate).
const maxKeyedLabel = 320

func roleArg(p *role.Role) any {
	if p == nil {
		return nil
	}
	return string(*p)
}

// appendEvents inserts events and bumps their hourly counters (by action and
// flags, and by actor), in the caller's transaction.
func appendEvents(ctx context.Context, c conn, events []audit.Event) error {
	if len(events) == 0 {
		return nil
	}
	return c.run(ctx, true, func(db *gorm.DB) error {
		// MySQL gets its values interpolated into one statement per 1,000
		// rows. SQLite binds at most 32,766 variables a statement, and the
		// pure-Go driver matches each to its argument by a linear search, so
		// its statements are kept to 50 rows.
		perInsert := 1000
		if c.db.dialect == SQLite {
			perInsert = 50
		}
		for rest := events; len(rest) > 0; {
			chunk := rest[:min(len(rest), perInsert)]
			rest = rest[len(chunk):]
			q, args := eventInsert(chunk)
			if err := db.Exec(q, args...).Error; err != nil {
				return err
			}
		}
		q, args := counterUpsert(c.db.dialect, events)
		return db.Exec(q, args...).Error
	})
}

// eventInsert is one multi-row INSERT of events.
func eventInsert(events []audit.Event) (string, []any) {
	var b strings.Builder
	b.WriteString("INSERT INTO audit_events (" + eventColumns + ", actor_email_key, target_label_key) VALUES ")
	args := make([]any, 0, len(events)*21)
	for i, e := range events {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
		var tt, tid, tl, tlKey any
		if e.Target != nil {
			tt, tid, tl, tlKey = string(e.Target.Type), e.Target.ID, str(e.Target.Label), key(e.Target.Label)
		}
		args = append(args, e.ID, e.WorkspaceID, e.OccurredAt.UnixMilli(), string(e.Action), e.Actor.ID,
			str(e.Actor.Email), string(e.Actor.Type), tt, tid, tl, roleArg(e.PreviousRole), roleArg(e.Role),
			str(e.IPAddress), str(e.UserAgent), str(e.RequestID), e.Sequence, e.PrevHash[:], e.Hash[:], int64(e.FlagSet), key(e.Actor.Email), tlKey)
	}
	return b.String(), args
}

// HourStart is the start of the counter bucket that holds t.
func hourStart(ms int64) int64 { return ms - ms%int64(time.Hour/time.Millisecond) }

// bucket is one hourly counter of audit_event_counts: of an action and flag
// set (kind 'e'), or of an actor (kind 'a').
type bucket struct {
	workspaceID string
	kind        string
	hour        int64
	action      string
	flags       insight.Set
	actorType   string
	actorID     string
}

func compareBuckets(a, b bucket) int {
	return cmp.Or(cmp.Compare(a.workspaceID, b.workspaceID), cmp.Compare(a.kind, b.kind), cmp.Compare(a.hour, b.hour),
		cmp.Compare(a.action, b.action), cmp.Compare(a.flags, b.flags), cmp.Compare(a.actorType, b.actorType), cmp.Compare(a.actorID, b.actorID))
}

// The kinds of hourly counters: by action and flag set, and by actor.
const (
	countsByAction = "e"
	countsByActor  = "a"
)

// counterUpsert bumps the hourly counters of events, by action and flag set
// and by actor, in one statement, in a fixed order so that concurrent
// transactions lock them in the same order.
func counterUpsert(d Dialect, events []audit.Event) (string, []any) {
	counts := map[bucket]int64{}
	for _, e := range events {
		h := hourStart(e.OccurredAt.UnixMilli())
		counts[bucket{workspaceID: e.WorkspaceID, kind: countsByAction, hour: h, action: string(e.Action), flags: e.FlagSet}]++
		counts[bucket{workspaceID: e.WorkspaceID, kind: countsByActor, hour: h, actorType: string(e.Actor.Type), actorID: e.Actor.ID}]++
	}
	keys := make([]bucket, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareBuckets)
	var b strings.Builder
	b.WriteString("INSERT INTO audit_event_counts (workspace_id, kind, hour_start, action, flags, actor_type, actor_id, n) VALUES ")
	args := make([]any, 0, 8*len(keys))
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?,?,?,?,?)")
		args = append(args, k.workspaceID, k.kind, k.hour, k.action, int64(k.flags), k.actorType, k.actorID, counts[k])
	}
	if d == MySQL {
		b.WriteString(" ON DUPLICATE KEY UPDATE n = n + VALUES(n)")
	} else {
		b.WriteString(" ON CONFLICT (workspace_id, kind, hour_start, action, flags, actor_type, actor_id) DO UPDATE SET n = n + excluded.n")
	}
	return b.String(), args
}

// where builds the conditions shared by listing and counting: workspace,
// window, and every filter but actions. Column names are constants; values
// are always bound.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

func (w *where) sql() string { return strings.Join(w.conds, " AND ") }

func baseWhere(workspaceID string, f audit.Filter) *where {
	w := &where{}
	w.add("workspace_id = ?", workspaceID)
	if f.Since != nil {
		w.add("occurred_at >= ?", f.Since.UnixMilli())
	}
	if f.Until != nil {
		w.add("occurred_at < ?", f.Until.UnixMilli())
	}
	for _, c := range []struct{ col, v string }{
		{"actor_id", f.ActorID}, {"actor_email_key", emailKey(f.ActorEmail)},
		{"target_id", f.TargetID}, {"target_label_key", emailKey(f.TargetLabel)},
	} {
		if c.v != "" {
			w.add(c.col+" = ?", c.v)
		}
	}
	return w
}

// keyset adds the bound of a scan. It is written as
// occurred_at < ? OR (occurred_at = ? AND id < ?), not as a row constructor,
// because MariaDB uses an index range only for this form.
func keyset(w *where, b *audit.Bound, descending bool) {
	if b == nil {
		return
	}
	op := ">"
	if descending {
		op = "<"
	}
	idOp := op
	if b.Inclusive {
		idOp += "="
	}
	ms := b.OccurredAt.UnixMilli()
	w.add("(occurred_at "+op+" ? OR (occurred_at = ? AND id "+idOp+" ?))", ms, ms, b.ID)
}

// listQuery builds one keyset scan. Several actions become a UNION ALL of
// one ordered, limited scan per action, each served by the action index; the
// union is then merged and cut to the limit.
func listQuery(d Dialect, q audit.Query) (string, []any) {
	order := " ORDER BY occurred_at ASC, id ASC"
	if q.Descending {
		order = " ORDER BY occurred_at DESC, id DESC"
	}
	limit := " LIMIT " + strconv.Itoa(q.Limit)
	if len(q.Filter.Flags) > 0 {
		// One branch per flag set that matches, each an ordered scan of the
		// flags index that reads positions only (the index holds them); the
		// merged positions are cut to the page, and only the page's rows are
		// read (a deferred join): one row lookup per event shown, not one
		// per event each branch considered. Actions, if any, are a
		// condition on the branches' rows.
		sets := insight.Intersecting(q.Filter.FlagMask())
		parts := make([]string, len(sets))
		var args []any
		for i, set := range sets {
			w := baseWhere(q.WorkspaceID, q.Filter)
			w.add("flags = ?", int64(set))
			if len(q.Filter.Actions) > 0 {
				w.add("action IN ?", actionStrings(q.Filter.Actions))
			}
			keyset(w, q.From, q.Descending)
			parts[i] = "SELECT occurred_at, id FROM audit_events WHERE " + w.sql() + order + limit
			args = append(args, w.args...)
		}
		keys := parts[0]
		if len(parts) > 1 {
			keys = unionAll(d, parts) + order + limit
		}
		eOrder := " ORDER BY e.occurred_at ASC, e.id ASC"
		if q.Descending {
			eOrder = " ORDER BY e.occurred_at DESC, e.id DESC"
		}
		return "SELECT " + qualifiedEventColumns + " FROM (" + keys + ") k JOIN audit_events e ON e.workspace_id = ? AND e.occurred_at = k.occurred_at AND e.id = k.id" +
			eOrder, append(args, q.WorkspaceID)
	}
	branch := func(action *audit.Action) (string, []any) {
		w := baseWhere(q.WorkspaceID, q.Filter)
		if action != nil {
			w.add("action = ?", string(*action))
		}
		keyset(w, q.From, q.Descending)
		return "SELECT " + eventColumns + " FROM audit_events WHERE " + w.sql() + order + limit, w.args
	}
	switch len(q.Filter.Actions) {
	case 0:
		return branch(nil)
	case 1:
		return branch(&q.Filter.Actions[0])
	}
	parts := make([]string, len(q.Filter.Actions))
	var args []any
	for i := range q.Filter.Actions {
		sub, subArgs := branch(&q.Filter.Actions[i])
		parts[i] = sub
		args = append(args, subArgs...)
	}
	return unionAll(d, parts) + order + limit, args
}

// unionAll joins ordered, limited SELECTs. MySQL takes them in parentheses,
// which it runs as they are; SQLite only takes them as derived tables (on
// MySQL those would be materialized into temporary tables first).
func unionAll(d Dialect, parts []string) string {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteString(" UNION ALL ")
		}
		if d == MySQL {
			b.WriteString("(" + p + ")")
		} else {
			b.WriteString("SELECT * FROM (" + p + ") u" + strconv.Itoa(i))
		}
	}
	return b.String()
}

// accessQuery reads a user's access row of a workspace shaped like an event
// row, so that it can ride in the same UNION ALL as a page: its id is empty
// and its occurred_at -1 (no event has either), its action column holds the
// plan and its actor_id the role (” for a non-member). A workspace that
// does not exist gives no row.
const accessQuery = "SELECT '' AS id, w.id AS workspace_id, -1 AS occurred_at, w.plan AS action, COALESCE(m.role, '') AS actor_id, " +
	"NULL AS actor_email, '' AS actor_type, NULL AS target_type, NULL AS target_id, NULL AS target_label, NULL AS previous_role, " +
	"NULL AS role, NULL AS ip_address, NULL AS user_agent, NULL AS request_id, NULL AS sequence, NULL AS prev_hash, NULL AS hash, 0 AS flags " +
	"FROM workspaces w LEFT JOIN memberships m ON m.workspace_id = w.id AND m.user_id = ? WHERE w.id = ?"

// ListEvents runs one keyset scan. With LookBehind, a probe of one row at or
// behind q.From (in the other direction), and with AccessOf, the user's
// access row, go to the database with the page as one UNION ALL; the rows are
// told apart by their position and the access row by its marker.
func (s *Events) ListEvents(ctx context.Context, q audit.Query) (audit.ListResult, error) {
	query, args := listQuery(s.c.db.dialect, q)
	parts := []string{query}
	probing := q.LookBehind && q.From != nil
	if probing {
		probe := audit.Query{WorkspaceID: q.WorkspaceID, Filter: q.Filter, Descending: !q.Descending, Limit: 1,
			From: &audit.Bound{Position: q.From.Position, Inclusive: true}}
		pq, pargs := listQuery(s.c.db.dialect, probe)
		parts = append(parts, pq)
		args = append(slices.Clip(args), pargs...)
	}
	res := audit.ListResult{Events: make([]audit.Event, 0, q.Limit+1)}
	if q.AccessOf != nil {
		parts = append(parts, accessQuery)
		args = append(slices.Clip(args), *q.AccessOf, q.WorkspaceID)
		res.Access = &audit.AccessRow{}
	}
	if len(parts) > 1 {
		query = unionAll(s.c.db.dialect, parts)
	}
	err := s.c.run(ctx, false, func(db *gorm.DB) error {
		rows, err := db.Raw(query, args...).Rows()
		if err != nil {
			return err
		}
		defer rows.Close()
		var sc eventScan
		dest := sc.dest()
		for rows.Next() {
			if err := rows.Scan(dest...); err != nil {
				return err
			}
			if sc.id == "" && sc.occurredAt == -1 {
				res.Access.Exists, res.Access.Plan = true, sc.action
				if sc.actorID != "" {
					r := role.Role(sc.actorID)
					res.Access.Role = &r
				}
				continue
			}
			e := sc.event()
			if probing && !ahead(e.Position(), q.From.Position, q.Descending) {
				res.Behind = true
				continue
			}
			res.Events = append(res.Events, e)
		}
		return rows.Err()
	})
	if len(parts) > 1 {
		// A UNION promises no order; put the page back in scan order.
		slices.SortFunc(res.Events, func(a, b audit.Event) int {
			switch {
			case ahead(a.Position(), b.Position(), q.Descending):
				return 1
			case ahead(b.Position(), a.Position(), q.Descending):
				return -1
			}
			return 0
		})
	}
	return res, err
}

// ahead reports whether p comes strictly after from in the scan direction.
func ahead(p, from audit.Position, descending bool) bool {
	if descending {
		return p.Before(from)
	}
	return from.Before(p)
}

// CountEvents counts exactly. A filter on actions and time alone is answered
// from the hourly counters for every whole hour inside the range, plus a count
// of the events in the partial hours at its edges; any other filter is a
// COUNT over its index. Either way it is one statement, so one consistent read.
func (s *Events) CountEvents(ctx context.Context, workspaceID string, f audit.Filter) (int, error) {
	query, args := countQuery(workspaceID, f)
	var n int64
	err := s.c.run(ctx, false, func(db *gorm.DB) error { return db.Raw(query, args...).Row().Scan(&n) })
	return int(n), err
}

func countQuery(workspaceID string, f audit.Filter) (string, []any) {
	exact := func(f audit.Filter) (string, []any) {
		w := baseWhere(workspaceID, f)
		if len(f.Actions) > 0 {
			w.add("action IN ?", actionStrings(f.Actions))
		}
		if len(f.Flags) > 0 {
			w.add("flags IN ?", setInts(insight.Intersecting(f.FlagMask())))
		}
		return "(SELECT COUNT(*) FROM audit_events WHERE " + w.sql() + ")", w.args
	}
	if !f.OnlyActionsAndTime() || f.Since == nil {
		q, a := exact(f)
		return "SELECT " + q, a
	}
	hour := int64(time.Hour / time.Millisecond)
	since := f.Since.UnixMilli()
	first := hourStart(since + hour - 1) // the first whole hour
	var last int64 = -1                  // the end of the last whole hour, if bounded
	if f.Until != nil {
		last = hourStart(f.Until.UnixMilli())
		if last <= first {
			q, a := exact(f) // less than an hour or two: count the events
			return "SELECT " + q, a
		}
	}
	head := f
	firstT := fromMs(first)
	head.Until = &firstT
	hq, ha := exact(head)

	w := &where{}
	w.add("workspace_id = ?", workspaceID)
	w.add("kind = ?", countsByAction)
	w.add("hour_start >= ?", first)
	if last >= 0 {
		w.add("hour_start < ?", last)
	}
	if len(f.Actions) > 0 {
		w.add("action IN ?", actionStrings(f.Actions))
	}
	parts := []string{hq, "(SELECT COALESCE(SUM(n), 0) FROM audit_event_counts WHERE " + w.sql() + ")"}
	args := append(slices.Clip(ha), w.args...)
	if last >= 0 {
		tail := f
		lastT := fromMs(last)
		tail.Since = &lastT
		tq, ta := exact(tail)
		parts = append(parts, tq)
		args = append(args, ta...)
	}
	return "SELECT " + strings.Join(parts, " + "), args
}

// emailKey is email.Key of a filter value, "" for no filter.
func emailKey(s string) string {
	if s == "" {
		return ""
	}
	return email.Key(s)
}

func setInts(sets []insight.Set) []int64 {
	out := make([]int64, len(sets))
	for i, s := range sets {
		out[i] = int64(s)
	}
	return out
}

func actionStrings(as []audit.Action) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = string(a)
	}
	return out
}
