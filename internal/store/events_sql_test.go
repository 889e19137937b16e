package store

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/oklog/ulid/v2"

	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/email"
	"github.com/auditlogd/auditlogd/internal/insight"
	"github.com/auditlogd/auditlogd/internal/role"
	"github.com/auditlogd/auditlogd/internal/testenv"
	"github.com/auditlogd/auditlogd/internal/workspace"
)

var update = flag.Bool("update", false, "rewrite the golden SQL files in testdata/sql")

// hourH is the hour the test data gathers around: 22:00 UTC, two hours
// before midnight.
var hourH = time.Date(2026, 3, 10, 22, 0, 0, 0, time.UTC)

// fixedID is a ULID with time t whose random part is n: the same id on every
// run, so that golden files and keyset bounds stay put.
func fixedID(t time.Time, n uint64) string {
	var u ulid.ULID
	if err := u.SetTime(ulid.Timestamp(t)); err != nil {
		panic(err)
	}
	binary.BigEndian.PutUint64(u[8:], n)
	return u.String()
}

// dataset is a deterministic log: events of one workspace (ws) under test,
// and of another (other) that no query of ws may return.
type dataset struct {
	ws, other string
	events    []audit.Event
}

// ofWorkspace returns the events of ws in ascending log order.
func (d dataset) ofWorkspace() []audit.Event {
	var out []audit.Event
	for _, e := range d.events {
		if e.WorkspaceID == d.ws {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b audit.Event) int { return comparePos(a.Position(), b.Position()) })
	return out
}

func comparePos(a, b audit.Position) int {
	return cmp.Or(a.OccurredAt.Compare(b.OccurredAt), strings.Compare(a.ID, b.ID))
}

// listData is 160 events of ws and 40 of other, spread over nine hours
// around hourH, a quarter of them sharing their millisecond with another,
// with three actors (one without an email), five kinds of target and five
// actions.
func listData() dataset {
	d := dataset{ws: fixedID(hourH, 0xA), other: fixedID(hourH, 0xB)}
	rng := &splitmix{state: 1}
	str := func(s string) *string { return &s }
	actors := []audit.Actor{
		{ID: "u-ann", Email: str("Ann@Example.com"), Type: audit.ActorUser},
		{ID: "u-bob", Email: str("bob@example.com"), Type: audit.ActorUser},
		{ID: "system", Type: audit.ActorSystem},
	}
	targets := []*audit.Target{
		nil,
		{Type: audit.TargetUser, ID: "u-dee", Label: str("Dee@Example.COM")},
		{Type: audit.TargetUser, ID: "u-eve", Label: str("eve@example.com")},
		{Type: audit.TargetExport, ID: "x-1", Label: str("CSV")},
		{Type: audit.TargetInviteLink, ID: "inv-1"},
	}
	actions := []audit.Action{audit.MemberAdded, audit.MemberRemoved, audit.MemberRoleUpdated, audit.PublicInviteLinkCreated, audit.AuditLogExported}
	var at time.Time
	for i := range 200 {
		if i == 0 || rng.below(4) != 0 {
			at = hourH.Add(time.Duration(int64(rng.below(uint64(9*time.Hour)))) - 3*time.Hour).Truncate(time.Millisecond)
		}
		ws := d.ws
		if i%5 == 4 {
			ws = d.other
		}
		r := role.Member
		d.events = append(d.events, audit.Event{
			ID: fixedID(at, uint64(i+1)), WorkspaceID: ws, OccurredAt: at,
			Action: actions[rng.below(uint64(len(actions)))], Actor: actors[rng.below(uint64(len(actors)))],
			Target: targets[rng.below(uint64(len(targets)))], Role: &r,
			// About a third flagged, a few with two flags.
			FlagSet: []insight.Set{0, 0, 1, 0, 2, 0, 3, 0, 4, 9, 0, 8}[rng.below(12)],
		})
	}
	return d
}

// splitmix is SplitMix64, written out so that the dataset (and with it the
// golden files) never changes with the standard library's generators.
type splitmix struct{ state uint64 }

func (r *splitmix) next() uint64 {
	r.state += 0x9e3779b97f4a7c15
	z := r.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// below returns a number in [0, n) (with a bias far too small to matter).
func (r *splitmix) below(n uint64) uint64 { return r.next() % n }

// listCase is one keyset scan.
type listCase struct {
	name string
	q    audit.Query
}

// listCases are the scans the golden files and the database check share.
// Bounds are positions of events of d, one of them tied with its neighbour
// in the same millisecond.
func listCases(d dataset) []listCase {
	evs := d.ofWorkspace()
	tied := 0
	for i := 40; i < len(evs)-1; i++ {
		if evs[i].OccurredAt.Equal(evs[i+1].OccurredAt) {
			tied = i
			break
		}
	}
	mid := evs[len(evs)/2].Position()
	tie := evs[tied].Position()
	since := hourH.Add(-2 * time.Hour)
	until := hourH.Add(4*time.Hour + 30*time.Minute)
	base := audit.Filter{Since: &since}
	with := func(edit func(*audit.Filter)) audit.Filter {
		f := base
		edit(&f)
		return f
	}
	acts := func(as ...audit.Action) func(*audit.Filter) { return func(f *audit.Filter) { f.Actions = as } }
	flags := func(fs ...insight.Flag) func(*audit.Filter) { return func(f *audit.Filter) { f.Flags = fs } }
	q := func(f audit.Filter, desc bool, limit int, from *audit.Bound) audit.Query {
		return audit.Query{WorkspaceID: d.ws, Filter: f, Descending: desc, Limit: limit, From: from}
	}
	return []listCase{
		{"no-filter-desc", q(base, true, 11, nil)},
		{"no-filter-asc", q(base, false, 11, nil)},
		{"no-since", q(audit.Filter{}, true, 7, nil)},
		{"until", q(with(func(f *audit.Filter) { f.Until = &until }), true, 11, nil)},
		{"one-action", q(with(acts(audit.MemberRemoved)), true, 9, nil)},
		{"several-actions-desc", q(with(acts(audit.MemberAdded, audit.MemberRemoved, audit.AuditLogExported)), true, 13, nil)},
		{"several-actions-asc", q(with(acts(audit.MemberRoleUpdated, audit.PublicInviteLinkCreated)), false, 13, nil)},
		{"actor-id", q(with(func(f *audit.Filter) { f.ActorID = "u-bob" }), true, 8, nil)},
		{"actor-email-any-case", q(with(func(f *audit.Filter) { f.ActorEmail = "ANN@example.COM" }), true, 8, nil)},
		{"target-id", q(with(func(f *audit.Filter) { f.TargetID = "u-dee" }), false, 8, nil)},
		{"target-label-email", q(with(func(f *audit.Filter) { f.TargetLabel = "dee@EXAMPLE.com" }), true, 8, nil)},
		{"target-label-not-an-email", q(with(func(f *audit.Filter) { f.TargetLabel = "csv" }), true, 8, nil)},
		{"keyset-desc", q(base, true, 10, &audit.Bound{Position: mid})},
		{"keyset-asc", q(base, false, 10, &audit.Bound{Position: mid})},
		{"keyset-desc-tie", q(base, true, 3, &audit.Bound{Position: tie})},
		{"keyset-asc-tie", q(base, false, 3, &audit.Bound{Position: tie})},
		{"keyset-desc-inclusive", q(base, true, 3, &audit.Bound{Position: tie, Inclusive: true})},
		{"keyset-asc-inclusive", q(base, false, 3, &audit.Bound{Position: tie, Inclusive: true})},
		{"keyset-several-actions-desc", q(with(acts(audit.MemberAdded, audit.MemberRemoved)), true, 6, &audit.Bound{Position: mid})},
		{"keyset-several-actions-asc-inclusive", q(with(acts(audit.MemberAdded, audit.MemberRemoved)), false, 6, &audit.Bound{Position: tie, Inclusive: true})},
		{"everything", q(with(func(f *audit.Filter) {
			f.Until, f.Actions, f.ActorEmail, f.TargetLabel = &until, []audit.Action{audit.MemberAdded, audit.MemberRoleUpdated}, "ann@example.com", "EVE@example.com"
		}), true, 4, &audit.Bound{Position: evs[len(evs)-5].Position()})},
		{"past-the-end", q(base, false, 5, &audit.Bound{Position: evs[len(evs)-1].Position()})},
		{"one-flag-desc", q(with(flags(insight.ExternalDomain)), true, 9, nil)},
		{"one-flag-asc", q(with(flags(insight.NewLocation)), false, 9, nil)},
		{"two-flags", q(with(flags(insight.AdminGranted, insight.Burst)), true, 12, nil)},
		{"keyset-flag-desc", q(with(flags(insight.ExternalDomain)), true, 5, &audit.Bound{Position: mid})},
		{"keyset-flag-asc-inclusive", q(with(flags(insight.ExternalDomain, insight.NewLocation)), false, 5, &audit.Bound{Position: tie, Inclusive: true})},
		{"flag-and-actions", q(with(func(f *audit.Filter) {
			f.Flags, f.Actions = []insight.Flag{insight.AdminGranted}, []audit.Action{audit.MemberAdded, audit.MemberRemoved}
		}), true, 6, nil)},
		{"flag-and-actor", q(with(func(f *audit.Filter) { f.Flags, f.ActorID = []insight.Flag{insight.ExternalDomain}, "u-ann" }), false, 6, nil)},
	}
}

// countCase is one count.
type countCase struct {
	name string
	f    audit.Filter
}

// countCases cover the exact form (filters other than actions and time, no
// since, short ranges), the open form (no until) and the three-part form.
func countCases() []countCase {
	at := func(d time.Duration) *time.Time { t := hourH.Add(d); return &t }
	both := []audit.Action{audit.MemberAdded, audit.AuditLogExported}
	return []countCase{
		{"exact-no-since", audit.Filter{}},
		{"exact-actor", audit.Filter{Since: at(-3 * time.Hour), ActorID: "u-ann"}},
		{"exact-actor-email", audit.Filter{Since: at(-3 * time.Hour), ActorEmail: "BOB@example.com"}},
		{"exact-target-label-and-actions", audit.Filter{Since: at(-3 * time.Hour), TargetLabel: "Eve@Example.com", Actions: both}},
		{"exact-under-an-hour", audit.Filter{Since: at(10 * time.Minute), Until: at(50 * time.Minute)}},
		{"exact-no-whole-hour", audit.Filter{Since: at(30 * time.Minute), Until: at(90 * time.Minute)}},
		{"open-since-off-the-hour", audit.Filter{Since: at(-150 * time.Minute)}},
		{"open-one-action", audit.Filter{Since: at(-150 * time.Minute), Actions: []audit.Action{audit.MemberRemoved}}},
		{"three-part", audit.Filter{Since: at(-150*time.Minute + 7*time.Millisecond), Until: at(4*time.Hour + 15*time.Minute)}},
		{"three-part-on-the-hours", audit.Filter{Since: at(-2 * time.Hour), Until: at(3 * time.Hour)}},
		{"three-part-several-actions", audit.Filter{Since: at(-150 * time.Minute), Until: at(4*time.Hour + 15*time.Minute), Actions: both}},
		{"exact-one-flag", audit.Filter{Since: at(-150 * time.Minute), Flags: []insight.Flag{insight.ExternalDomain}}},
		{"exact-flags-and-actions", audit.Filter{Since: at(-3 * time.Hour), Until: at(4 * time.Hour), Actions: both, Flags: []insight.Flag{insight.AdminGranted, insight.NewLocation}}},
	}
}

// goldenCase is one query as a golden file holds it.
type goldenCase struct {
	name string
	sql  string
	args []any
}

// text is the case as the golden file holds it. The column list every
// event query selects is written as <eventColumns>, so that the files show
// what differs from one query to the next.
func (g goldenCase) text(t *testing.T) string {
	b, err := json.Marshal(g.args)
	if err != nil {
		t.Fatal(err)
	}
	sql := strings.ReplaceAll(g.sql, eventColumns, "<eventColumns>")
	return "-- " + g.name + "\n" + sql + "\n-- args: " + string(b) + "\n"
}

// TestGoldenSQL compares the SQL text and arguments of listQuery and
// countQuery with testdata/sql/<dialect>.golden (go test -run TestGoldenSQL
// -update rewrites them). TestListQueryOnDatabase and
// TestCountQueryOnDatabase run the very same queries against real data, so
// a golden file cannot hold a wrong query for long.
func TestGoldenSQL(t *testing.T) {
	d := listData()
	for _, dialect := range []Dialect{MySQL, SQLite} {
		t.Run(string(dialect), func(t *testing.T) {
			var cases []goldenCase
			for _, c := range listCases(d) {
				q, args := listQuery(dialect, c.q)
				cases = append(cases, goldenCase{"list/" + c.name, q, args})
			}
			for _, c := range countCases() {
				q, args := countQuery(d.ws, c.f)
				cases = append(cases, goldenCase{"count/" + c.name, q, args})
			}
			var got bytes.Buffer
			for i, c := range cases {
				if i > 0 {
					got.WriteByte('\n')
				}
				got.WriteString(c.text(t))
			}
			path := filepath.Join("testdata", "sql", string(dialect)+".golden")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to write it)", err)
			}
			want := map[string]string{}
			for _, block := range strings.Split(string(b), "\n\n") {
				name, _, _ := strings.Cut(strings.TrimPrefix(block, "-- "), "\n")
				want[name] = strings.TrimSuffix(block, "\n") + "\n"
			}
			for _, c := range cases {
				w, ok := want[c.name]
				if !ok {
					t.Errorf("%s: not in %s (run with -update)", c.name, path)
					continue
				}
				delete(want, c.name)
				if diff := gocmp.Diff(w, c.text(t)); diff != "" {
					t.Errorf("%s (-golden +generated):\n%s", c.name, diff)
				}
			}
			for name := range want {
				t.Errorf("%s: in %s but no longer generated (run with -update)", name, path)
			}
		})
	}
}

// loadData inserts the dataset's workspaces, a user who is ADMIN of ws, and
// its events through the same path as the services (hourly counters
// included).
func loadData(t *testing.T, db *DB, d dataset) {
	t.Helper()
	ctx := context.Background()
	b := db.Bulk()
	now := hourH
	if err := b.InsertUsers(ctx, []workspace.User{{ID: "u-ann", Email: "ann@example.com", CreatedAt: now, UpdatedAt: now}}); err != nil {
		t.Fatal(err)
	}
	if err := b.InsertWorkspaces(ctx, []workspace.Workspace{
		{ID: d.ws, Name: "under test", Plan: workspace.PlanBusiness, CreatedAt: now, UpdatedAt: now},
		{ID: d.other, Name: "other", Plan: workspace.PlanFree, CreatedAt: now, UpdatedAt: now},
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.InsertMemberships(ctx, []workspace.Membership{{WorkspaceID: d.ws, UserID: "u-ann", Role: role.Admin, JoinedAt: now}}); err != nil {
		t.Fatal(err)
	}
	if err := b.InsertEvents(ctx, d.events); err != nil {
		t.Fatal(err)
	}
}

// matches is the filter's meaning, written out plainly.
func matches(e audit.Event, ws string, f audit.Filter) bool {
	key := func(p *string) string {
		if p == nil {
			return "\x00none"
		}
		return email.Key(*p)
	}
	switch {
	case e.WorkspaceID != ws,
		f.Since != nil && e.OccurredAt.Before(*f.Since),
		f.Until != nil && !e.OccurredAt.Before(*f.Until),
		len(f.Actions) > 0 && !slices.Contains(f.Actions, e.Action),
		f.ActorID != "" && e.Actor.ID != f.ActorID,
		f.ActorEmail != "" && key(e.Actor.Email) != email.Key(f.ActorEmail),
		f.TargetID != "" && (e.Target == nil || e.Target.ID != f.TargetID),
		f.TargetLabel != "" && (e.Target == nil || key(e.Target.Label) != email.Key(f.TargetLabel)),
		len(f.Flags) > 0 && e.FlagSet&f.FlagMask() == 0:
		return false
	}
	return true
}

// bruteList is the scan's meaning: every matching event past the bound, in
// scan order, cut to the limit.
func bruteList(d dataset, q audit.Query) []string {
	evs := d.ofWorkspace()
	if q.Descending {
		slices.Reverse(evs)
	}
	out := []string{}
	for _, e := range evs {
		if !matches(e, q.WorkspaceID, q.Filter) {
			continue
		}
		if q.From != nil {
			c := comparePos(e.Position(), q.From.Position)
			if q.Descending {
				c = -c
			}
			if c < 0 || (c == 0 && !q.From.Inclusive) {
				continue
			}
		}
		if len(out) < q.Limit {
			out = append(out, e.ID)
		}
	}
	return out
}

// bruteBehind reports whether a matching event lies at or behind the bound.
func bruteBehind(d dataset, q audit.Query) bool {
	for _, e := range d.ofWorkspace() {
		if !matches(e, q.WorkspaceID, q.Filter) {
			continue
		}
		c := comparePos(e.Position(), q.From.Position)
		if (q.Descending && c >= 0) || (!q.Descending && c <= 0) {
			return true
		}
	}
	return false
}

func bruteCount(d dataset, ws string, f audit.Filter) int {
	n := 0
	for _, e := range d.events {
		if matches(e, ws, f) {
			n++
		}
	}
	return n
}

// runList runs a generated list query as it is and returns the ids it reads.
func runList(t *testing.T, db *DB, query string, args []any) []string {
	t.Helper()
	rows, err := db.read.Raw(query, args...).Rows()
	if err != nil {
		t.Fatalf("%v\n%s", err, query)
	}
	defer rows.Close()
	ids := []string{}
	var sc eventScan
	for rows.Next() {
		if err := rows.Scan(sc.dest()...); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, sc.id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ids
}

// runCount runs a generated count query as it is.
func runCount(t *testing.T, db *DB, query string, args []any) int {
	t.Helper()
	var n int64
	if err := db.read.Raw(query, args...).Row().Scan(&n); err != nil {
		t.Fatalf("%v\n%s", err, query)
	}
	return int(n)
}

// TestListQueryOnDatabase runs every list query of the golden files on a
// database holding the dataset and compares what it returns with the brute
// force reading of the same scan; then runs it through ListEvents with the
// probe behind the bound and the access row in the same statement.
func TestListQueryOnDatabase(t *testing.T) {
	d := listData()
	testenv.ForEachDB(t, func(t *testing.T, tdb testenv.DB) {
		db := open(t, tdb)
		loadData(t, db, d)
		ann := "u-ann"
		for _, c := range listCases(d) {
			t.Run(c.name, func(t *testing.T) {
				want := bruteList(d, c.q)
				if len(want) == 0 && c.name != "past-the-end" {
					t.Fatalf("the case selects nothing from the data; it shows nothing")
				}
				q, args := listQuery(db.dialect, c.q)
				if diff := gocmp.Diff(want, runList(t, db, q, args)); diff != "" {
					t.Errorf("listQuery (-brute force +database):\n%s\n%s", diff, q)
				}

				lq := c.q
				// The services probe behind exclusive bounds only.
				lq.LookBehind = lq.From != nil && !lq.From.Inclusive
				lq.AccessOf = &ann
				res, err := db.Events().ListEvents(context.Background(), lq)
				if err != nil {
					t.Fatal(err)
				}
				got := make([]string, len(res.Events))
				for i, e := range res.Events {
					got[i] = e.ID
				}
				if diff := gocmp.Diff(want, got); diff != "" {
					t.Errorf("ListEvents (-brute force +database):\n%s", diff)
				}
				if lq.LookBehind && res.Behind != bruteBehind(d, lq) {
					t.Errorf("ListEvents: behind %v, want %v", res.Behind, !res.Behind)
				}
				admin := role.Admin
				if diff := gocmp.Diff(&audit.AccessRow{Exists: true, Plan: "BUSINESS", Role: &admin}, res.Access); diff != "" {
					t.Errorf("access row (-want +got):\n%s", diff)
				}
			})
		}
		// The access row of a stranger, and of a workspace that does not
		// exist, ride along the same way.
		for _, tc := range []struct {
			name, ws, user string
			want           audit.AccessRow
		}{
			{"stranger", d.ws, "u-zed", audit.AccessRow{Exists: true, Plan: "BUSINESS"}},
			{"other-workspace-not-a-member", d.other, ann, audit.AccessRow{Exists: true, Plan: "FREE"}},
			{"missing-workspace", fixedID(hourH, 0xC), ann, audit.AccessRow{}},
		} {
			res, err := db.Events().ListEvents(context.Background(), audit.Query{WorkspaceID: tc.ws, Limit: 3, AccessOf: &tc.user})
			if err != nil {
				t.Fatal(err)
			}
			if diff := gocmp.Diff(&tc.want, res.Access); diff != "" {
				t.Errorf("%s: access row (-want +got):\n%s", tc.name, diff)
			}
		}
	})
}

// TestCountQueryOnDatabase runs every count query of the golden files on
// the dataset and compares it with a brute-force count.
func TestCountQueryOnDatabase(t *testing.T) {
	d := listData()
	testenv.ForEachDB(t, func(t *testing.T, tdb testenv.DB) {
		db := open(t, tdb)
		loadData(t, db, d)
		for _, c := range countCases() {
			q, args := countQuery(d.ws, c.f)
			want := bruteCount(d, d.ws, c.f)
			if want == 0 {
				t.Errorf("%s: the case counts nothing in the data; it shows nothing", c.name)
			}
			if got := runCount(t, db, q, args); got != want {
				t.Errorf("%s: countQuery = %d, brute force %d\n%s\n%v", c.name, got, want, q, args)
			}
			if got, err := db.Events().CountEvents(context.Background(), d.ws, c.f); err != nil || got != want {
				t.Errorf("%s: CountEvents = %d, %v; brute force %d", c.name, got, err, want)
			}
		}
	})
}

// countForm names the shape of a count query: "exact" (one COUNT), "open"
// (the partial hour at the start plus the counters of every later hour), or
// "three-part" (partial hour, whole hours, partial hour).
func countForm(q string) string {
	switch parts := strings.Count(q, " + ") + 1; {
	case !strings.Contains(q, "audit_event_counts") && parts == 1:
		return "exact"
	case parts == 2:
		return "open"
	case parts == 3:
		return "three-part"
	}
	return "unknown: " + q
}

// TestHourStart pins the bucket arithmetic the counters use.
func TestHourStart(t *testing.T) {
	h := hourH.UnixMilli()
	hour := time.Hour.Milliseconds()
	for _, tc := range []struct {
		name   string
		ms     int64
		bucket int64
	}{
		{"on-the-hour", h, h},
		{"one-ms-after", h + 1, h},
		{"one-ms-before", h - 1, h - hour},
		{"last-ms-of-the-hour", h + hour - 1, h},
		{"midnight", h + 2*hour, h + 2*hour},
		{"one-ms-before-midnight", h + 2*hour - 1, h + hour},
		{"epoch", 0, 0},
	} {
		if got := hourStart(tc.ms); got != tc.bucket {
			t.Errorf("%s: hourStart(%d) = %d, want %d", tc.name, tc.ms, got, tc.bucket)
		}
	}
}

// TestCountHourEdges puts events exactly on and one millisecond either side
// of every hour from 21:00 to 02:00 (across midnight) and counts ranges whose
// ends fall on those edges, compared with a brute-force count, and checks
// which form of query each range gets.
func TestCountHourEdges(t *testing.T) {
	ws := fixedID(hourH, 0xE)
	var d dataset
	d.ws = ws
	var n uint64
	for h := -1; h <= 4; h++ {
		edge := hourH.Add(time.Duration(h) * time.Hour)
		for _, off := range []time.Duration{-time.Millisecond, 0, time.Millisecond, 10 * time.Minute, 30 * time.Minute} {
			at := edge.Add(off)
			for _, a := range []audit.Action{audit.MemberAdded, audit.MemberRemoved} {
				n++
				d.events = append(d.events, audit.Event{ID: fixedID(at, n), WorkspaceID: ws, OccurredAt: at, Action: a,
					Actor: audit.Actor{ID: "u", Type: audit.ActorUser}})
			}
		}
	}
	// One more on the hour, of one action only, so that the action filter
	// changes the answer.
	n++
	d.events = append(d.events, audit.Event{ID: fixedID(hourH, n), WorkspaceID: ws, OccurredAt: hourH, Action: audit.MemberAdded,
		Actor: audit.Actor{ID: "u", Type: audit.ActorUser}})

	ms := time.Millisecond
	at := func(d time.Duration) *time.Time { t := hourH.Add(d); return &t }
	midnight := 2 * time.Hour
	cases := []struct {
		name         string
		since, until time.Duration
		open         bool
		form         string
	}{
		{"both-on-the-hour", 0, 3 * time.Hour, false, "three-part"},
		{"since-1ms-before-the-hour", -ms, 3 * time.Hour, false, "three-part"},
		{"since-1ms-after-the-hour", ms, 3 * time.Hour, false, "three-part"},
		{"until-1ms-before-the-hour", 0, 3*time.Hour - ms, false, "three-part"},
		{"until-1ms-after-the-hour", 0, 3*time.Hour + ms, false, "three-part"},
		{"both-1ms-inside", ms, 3*time.Hour - ms, false, "three-part"},
		{"both-1ms-outside", -ms, 3*time.Hour + ms, false, "three-part"},
		{"exactly-one-hour-on-edges", time.Hour, 2 * time.Hour, false, "three-part"},
		{"one-hour-off-edges", 30 * time.Minute, 90 * time.Minute, false, "exact"},
		{"under-one-hour-inside-an-hour", 10 * time.Minute, 30 * time.Minute, false, "exact"},
		{"under-one-hour-across-an-hour", 30 * time.Minute, 70 * time.Minute, false, "exact"},
		{"one-ms-across-an-hour", -ms, ms, false, "exact"},
		{"under-two-hours-no-whole-hour", ms, 2*time.Hour - ms, false, "exact"},
		{"under-two-hours-one-whole-hour", time.Hour - ms, 2*time.Hour + ms, false, "three-part"},
		{"across-midnight-short", midnight - 30*time.Minute, midnight + 30*time.Minute, false, "exact"},
		{"across-midnight-2ms", midnight - ms, midnight + ms, false, "exact"},
		{"across-midnight-long", -time.Hour - ms, midnight + 2*time.Hour + ms, false, "three-part"},
		{"midnight-to-midnight-hour", midnight, midnight + time.Hour, false, "three-part"},
		{"unbounded-until-on-the-hour", time.Hour, 0, true, "open"},
		{"unbounded-until-1ms-after", time.Hour + ms, 0, true, "open"},
		{"unbounded-until-1ms-before-midnight", midnight - ms, 0, true, "open"},
		{"unbounded-until-after-the-last-event", 5 * time.Hour, 0, true, "open"},
	}
	testenv.ForEachDB(t, func(t *testing.T, tdb testenv.DB) {
		db := open(t, tdb)
		if err := db.Bulk().InsertEvents(context.Background(), d.events); err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			for _, actions := range [][]audit.Action{nil, {audit.MemberAdded}, {audit.MemberAdded, audit.MemberRemoved}} {
				f := audit.Filter{Since: at(c.since), Actions: actions}
				if !c.open {
					f.Until = at(c.until)
				}
				name := fmt.Sprintf("%s%v", c.name, actions)
				q, args := countQuery(ws, f)
				if got := countForm(q); got != c.form {
					t.Errorf("%s: form %s, want %s", name, got, c.form)
				}
				want := bruteCount(d, ws, f)
				if got := runCount(t, db, q, args); got != want {
					t.Errorf("%s: countQuery = %d, brute force %d\n%s\n%v", name, got, want, q, args)
				}
			}
		}
	})
}
