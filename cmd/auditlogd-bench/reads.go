package main

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// readResult is one read measured through the API and as plain SQL.
type readResult struct {
	Name    string  `json:"name"`
	Samples int     `json:"samples"`
	Rows    int     `json:"rows"`
	P50     float64 `json:"p50Ms"`
	P95     float64 `json:"p95Ms"`
	P99     float64 `json:"p99Ms"`
	SQLP50  float64 `json:"sqlP50Ms"`
	SQLP95  float64 `json:"sqlP95Ms"`
	SQLP99  float64 `json:"sqlP99Ms"`
	Ratio   float64 `json:"apiOverSqlP50"`
	Note    string  `json:"note,omitempty"`
	SQL     string  `json:"sql"`
	Explain string  `json:"explain"`
}

const pageFields = `edges { cursor node { id action occurredAt actor { id email type } target { type id label }
  previousRole role ipAddress userAgent requestId } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor }`

// eventCols is what the SQL side reads: the same columns the API returns.
const eventCols = `id, workspace_id, occurred_at, action, actor_id, actor_email, actor_type, target_type, target_id,
  target_label, previous_role, role, ip_address, user_agent, request_id`

// readCase is one read: a GraphQL query with its variables, and the SQL a
// hand-written client of the database would run for the same page.
type readCase struct {
	name  string
	query string
	vars  map[string]any
	sql   string
	args  []any
	iters int
	note  string
	// count: the SQL returns one number, which must equal the API's totalCount
	// (or, with summary, the summary's total).
	count   bool
	summary bool
}

type page struct {
	AuditLog struct {
		Edges []struct {
			Cursor string
			Node   struct {
				ID         string
				OccurredAt time.Time
				Actor      struct{ ID string }
				Target     *struct{ ID string }
			}
		}
		PageInfo struct {
			EndCursor   string
			StartCursor string
			HasNextPage bool
		}
		TotalCount int
	}
	AuditLogSummary struct {
		Total  int
		ByFlag []struct {
			Flag  string
			Count int
		}
	}
}

// pageQuery is a page of the log; cursorVar is "after" or "before".
func pageQuery(args, cursorVar string) string {
	return `query($w: ID!, $` + cursorVar + `: String, $filter: AuditLogFilter) { auditLog(workspaceId: $w, ` + args +
		`, filter: $filter) { ` + pageFields + ` } }`
}

// keysetSQL is the SQL of one page: the workspace's window, an optional
// extra condition, an optional keyset bound, newest first.
func keysetSQL(extra string, desc bool) string {
	order, op := "DESC", "<"
	if !desc {
		order, op = "ASC", ">"
	}
	q := `SELECT ` + eventCols + ` FROM audit_events WHERE workspace_id = ? AND occurred_at >= ?` + extra
	return q + ` AND (occurred_at ` + op + ` ? OR (occurred_at = ? AND id ` + op + ` ?)) ORDER BY occurred_at ` + order + `, id ` + order + ` LIMIT 51`
}

// reads runs every read benchmark of the suite.
func (b *bench) reads(ctx context.Context, rep *report) error {
	ws := b.o.Workspace
	since := time.Now().Add(-90 * 24 * time.Hour).UnixMilli()
	far := time.Now().Add(time.Hour)
	farMs, farID := far.UnixMilli(), "ZZZZZZZZZZZZZZZZZZZZZZZZZZ"
	first := pageQuery("first: 50, after: $after", "after")

	// Walk 999 pages by cursor to reach page 1,000, and sample an actor and a
	// target from the way.
	var p page
	var cursor *string
	var deep struct {
		cursor string
		at     time.Time
		id     string
	}
	var actor, target string
	for i := 0; i < 999; i++ {
		if err := b.gql(ctx, b.token, first, map[string]any{"w": ws, "after": cursor}, &p); err != nil {
			return err
		}
		edges := p.AuditLog.Edges
		if len(edges) == 0 {
			return fmt.Errorf("the workspace has fewer than %d events", i*50)
		}
		last := edges[len(edges)-1]
		c := last.Cursor
		cursor = &c
		deep.cursor, deep.at, deep.id = c, last.Node.OccurredAt, last.Node.ID
		if i == 10 {
			actor = edges[0].Node.Actor.ID
			if edges[0].Node.Target != nil {
				target = edges[0].Node.Target.ID
			}
		}
	}
	day := time.Now().Add(-10 * 24 * time.Hour).Truncate(24 * time.Hour)
	now := time.Now().UTC().Truncate(time.Millisecond)
	week := now.Add(-7 * 24 * time.Hour)
	cases := []readCase{
		{name: "first page (50)", query: first, vars: map[string]any{"w": ws},
			sql: keysetSQL("", true), args: []any{ws, since, farMs, farMs, farID}},
		{name: "page 1,000 by cursor", query: first, vars: map[string]any{"w": ws, "after": deep.cursor},
			sql: keysetSQL("", true), args: []any{ws, since, deep.at.UnixMilli(), deep.at.UnixMilli(), deep.id}},
		{name: "filter: common action (MEMBER_ADDED)", query: first, vars: map[string]any{"w": ws, "filter": map[string]any{"actions": []string{"MEMBER_ADDED"}}},
			sql: keysetSQL(" AND action = ?", true), args: []any{ws, since, "MEMBER_ADDED", farMs, farMs, farID}},
		{name: "filter: rare action (AUDIT_LOG_EXPORTED, 0.1%)", query: first, vars: map[string]any{"w": ws, "filter": map[string]any{"actions": []string{"AUDIT_LOG_EXPORTED"}}},
			sql: keysetSQL(" AND action = ?", true), args: []any{ws, since, "AUDIT_LOG_EXPORTED", farMs, farMs, farID}},
		{name: "filter: actor", query: first, vars: map[string]any{"w": ws, "filter": map[string]any{"actorId": actor}},
			sql: keysetSQL(" AND actor_id = ?", true), args: []any{ws, since, actor, farMs, farMs, farID}},
		{name: "filter: target", query: first, vars: map[string]any{"w": ws, "filter": map[string]any{"targetId": target}},
			sql: keysetSQL(" AND target_id = ?", true), args: []any{ws, since, target, farMs, farMs, farID}},
		{name: "filter: one day", query: first, vars: map[string]any{"w": ws, "filter": map[string]any{"since": day.Format(time.RFC3339), "until": day.Add(24 * time.Hour).Format(time.RFC3339)}},
			sql: keysetSQL(" AND occurred_at < ?", true), args: []any{ws, day.UnixMilli(), day.Add(24 * time.Hour).UnixMilli(), farMs, farMs, farID}},
		{name: "backward page (last 50 before page 1,000)", query: pageQuery("last: 50, before: $before", "before"), vars: map[string]any{"w": ws, "before": deep.cursor},
			sql: keysetSQL("", false), args: []any{ws, since, deep.at.UnixMilli(), deep.at.UnixMilli(), deep.id}},
		{name: "totalCount, unfiltered", query: `query($w: ID!) { auditLog(workspaceId: $w, first: 1) { totalCount } }`, vars: map[string]any{"w": ws},
			sql: `SELECT COUNT(*) FROM audit_events WHERE workspace_id = ? AND occurred_at >= ?`, args: []any{ws, since}, iters: 5,
			note: "SQL side: a plain COUNT(*), 5 samples", count: true},
		{name: "totalCount, one action", query: `query($w: ID!) { auditLog(workspaceId: $w, first: 1, filter: {actions: [MEMBER_ADDED]}) { totalCount } }`, vars: map[string]any{"w": ws},
			sql: `SELECT COUNT(*) FROM audit_events WHERE workspace_id = ? AND occurred_at >= ? AND action = 'MEMBER_ADDED'`, args: []any{ws, since}, iters: 5,
			note: "SQL side: a plain COUNT(*), 5 samples", count: true},
		// Insights (docs/API.md §14). The flags filter is a UNION ALL of one
		// ordered scan per flag set that has the flag, on the flags index;
		// the SQL side is what a hand-written client would write with that
		// index, an IN list.
		{name: "filter: one flag (EXTERNAL_DOMAIN)", query: first, vars: map[string]any{"w": ws, "filter": map[string]any{"flags": []string{"EXTERNAL_DOMAIN"}}},
			sql: keysetSQL(" AND flags IN (1,3,5,7,9,11,13,15)", true), args: []any{ws, since, farMs, farMs, farID}},
		{name: "filter: one flag (BURST, rare)", query: first, vars: map[string]any{"w": ws, "filter": map[string]any{"flags": []string{"BURST"}}},
			sql: keysetSQL(" AND flags IN (4,5,6,7,12,13,14,15)", true), args: []any{ws, since, farMs, farMs, farID}},
		{name: "summary (7 days)", query: `query($w: ID!, $since: Time, $until: Time) { auditLogSummary(workspaceId: $w, since: $since, until: $until) {
  since until total byAction { action count } byFlag { flag count } topActors { actor { id email type } count } } }`,
			vars: map[string]any{"w": ws, "since": week.Format(time.RFC3339Nano), "until": now.Format(time.RFC3339Nano)},
			sql:  `SELECT COUNT(*) FROM audit_events WHERE workspace_id = ? AND occurred_at >= ? AND occurred_at < ?`, args: []any{ws, week.UnixMilli(), now.UnixMilli()}, iters: 5,
			note: "SQL side: a plain COUNT(*) of the window, 5 samples", count: true, summary: true},
	}
	for _, c := range cases {
		r, err := b.measureRead(ctx, c)
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		rep.Reads = append(rep.Reads, r)
	}
	return nil
}

// measureRead samples the API and the SQL of one case, interleaved so that
// both see the same machine state.
func (b *bench) measureRead(ctx context.Context, c readCase) (readResult, error) {
	n := b.o.Iterations
	sqlN := n
	if c.iters > 0 {
		sqlN = c.iters
	}
	var api, raw durations
	var p page
	for i := 0; i < 10; i++ { // warm up
		if err := b.gql(ctx, b.token, c.query, c.vars, &p); err != nil {
			return readResult{}, err
		}
	}
	for i := 0; i < n; i++ {
		took, err := b.timedGQL(ctx, b.token, c.query, c.vars, &p)
		if err != nil {
			return readResult{}, err
		}
		api = append(api, took)
		if i < sqlN {
			d, err := b.timeSQL(ctx, c.sql, c.args)
			if err != nil {
				return readResult{}, err
			}
			raw = append(raw, d)
		}
	}
	r := readResult{Name: c.name, Samples: n, Rows: len(p.AuditLog.Edges), P50: api.pct(.5), P95: api.pct(.95), P99: api.pct(.99),
		SQLP50: raw.pct(.5), SQLP95: raw.pct(.95), SQLP99: raw.pct(.99), Note: c.note, SQL: strings.Join(strings.Fields(c.sql), " ")}
	r.Explain, _ = b.explain(ctx, c.sql, c.args)
	if c.count {
		// Exactness: the API's count against a plain COUNT of the same window,
		// taken back to back (nothing writes to this workspace meanwhile).
		var want int
		if err := b.db.QueryRowContext(ctx, c.sql, c.args...).Scan(&want); err != nil {
			return r, err
		}
		if err := b.gql(ctx, b.token, c.query, c.vars, &p); err != nil {
			return r, err
		}
		got, what := p.AuditLog.TotalCount, "totalCount"
		if c.summary {
			got, what = p.AuditLogSummary.Total, "total"
		}
		r.Rows = got
		verdict := "exact"
		if got != want {
			verdict = "NOT EXACT"
		}
		r.Note += fmt.Sprintf("; %s %d, COUNT(*) %d: %s", what, got, want, verdict)
	}
	if r.SQLP50 > 0 {
		r.Ratio = r.P50 / r.SQLP50
	}
	return r, nil
}

// explain returns MySQL's EXPLAIN of a query as a small table.
func (b *bench) explain(ctx context.Context, q string, args []any) (string, error) {
	rows, err := b.db.QueryContext(ctx, "EXPLAIN "+q, args...)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out strings.Builder
	out.WriteString(strings.Join(cols, " | ") + "\n")
	vals := make([]sql.NullString, len(cols))
	dest := make([]any, len(cols))
	for i := range vals {
		dest[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return "", err
		}
		cells := make([]string, len(vals))
		for i, v := range vals {
			cells[i] = v.String
			if !v.Valid {
				cells[i] = "NULL"
			}
		}
		out.WriteString(strings.Join(cells, " | ") + "\n")
	}
	return out.String(), rows.Err()
}

// timeSQL runs a query through database/sql and reads every column of every
// row, as the API has to.
func (b *bench) timeSQL(ctx context.Context, q string, args []any) (time.Duration, error) {
	start := time.Now()
	rows, err := b.db.QueryContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	vals := make([]sql.RawBytes, len(cols))
	dest := make([]any, len(cols))
	for i := range vals {
		dest[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return 0, err
		}
	}
	return time.Since(start), rows.Err()
}
