package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/ids"
	"github.com/auditlogd/auditlogd/internal/role"
	"github.com/auditlogd/auditlogd/internal/testenv"
)

// This file checks docs/API.md §8, retention: events older than
// AUDITLOG_RETENTION are invisible at once, the prune job deletes them (and
// expired export records) and loses nothing that writers add meanwhile.

// xMetric reads a counter or gauge without labels from /metrics.
func xMetric(t testing.TB, s *server, name string) float64 {
	t.Helper()
	f := xGet(t, s.srv.URL+"/metrics")
	if f.Status != http.StatusOK {
		t.Fatalf("/metrics: status %d", f.Status)
	}
	sc := bufio.NewScanner(strings.NewReader(f.Body))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("/metrics: %s: %v", name, err)
			}
			return n
		}
	}
	t.Fatalf("/metrics has no %s:\n%s", name, f.Body)
	return 0
}

// xTotalCount reads auditLog's totalCount for a filter.
func xTotalCount(t testing.TB, s *server, token, ws string, filter map[string]any) int {
	t.Helper()
	var out struct{ AuditLog struct{ TotalCount int } }
	s.ok(t, token, `query($w: ID!, $f: AuditLogFilter) { auditLog(workspaceId: $w, filter: $f) { totalCount } }`,
		map[string]any{"w": ws, "f": filter}, &out)
	return out.AuditLog.TotalCount
}

func xIDs(events []event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.ID
	}
	return out
}

// TestRetentionHidesOldEventsAtOnceAndPruneDeletesThem runs with an hour of
// retention and moves the clock: events that leave the window vanish from
// auditLog, totalCount and exports before any prune; App.Prune then deletes
// exactly them, counts them in its result and in /metrics, and changes
// nothing that the API shows.
func TestRetentionHidesOldEventsAtOnceAndPruneDeletesThem(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, map[string]string{"AUDITLOG_RETENTION": "1h", "AUDITLOG_EXPORT_TTL": "3h"})
		ctx := context.Background()
		admin, admin2, u1, u2, u3 := xUser(t, s, "admin"), xUser(t, s, "admin2"), xUser(t, s, "u1"), xUser(t, s, "u2"), xUser(t, s, "u3")

		// Old: everything before the first advance, in two workspaces.
		ws := s.newWorkspace(t, admin, "BUSINESS")
		otherWS := s.newWorkspace(t, admin2, "BUSINESS")
		s.addMember(t, admin, ws, u1, "MEMBER")
		s.addMember(t, admin2, otherWS, u1, "MEMBER")
		xInvite(t, s, admin, ws, "", "MEMBER")
		xSetRole(t, s, admin, ws, u1, "ADMIN")
		early := xExportLog(t, s, admin, ws, "CSV", nil)
		old := s.allEvents(t, admin.token, ws, nil)
		oldOther := s.allEvents(t, admin2.token, otherWS, nil)

		s.clock.Advance(40 * time.Minute)
		s.addMember(t, u1, ws, u2, "MEMBER") // 30 minutes old at the check
		xInvite(t, s, admin, ws, u3.email, "ADMIN")
		s.clock.Advance(30 * time.Minute) // the old events are now 70 minutes old
		xSetRole(t, s, admin, ws, u2, "ADMIN")

		all := s.allEvents(t, admin.token, ws, nil)
		if len(all) != 3 {
			t.Fatalf("auditLog shows %d events, want the 3 of the last hour: %v", len(all), xIDs(all))
		}
		for _, e := range all {
			if slices.Contains(xIDs(old), e.ID) {
				t.Errorf("auditLog still shows the old event %s %s", e.Action, e.ID)
			}
		}
		if n := len(s.allEvents(t, admin2.token, otherWS, nil)); n != 0 {
			t.Errorf("the other workspace shows %d events, want none", n)
		}
		longAgo := "2001-01-01T00:00:00.000Z"
		oldAt := old[0].OccurredAt
		for _, tc := range []struct {
			name   string
			filter map[string]any
			want   int
		}{
			{"no-filter", nil, 3},
			{"since-long-ago-is-clamped", map[string]any{"since": longAgo}, 3},
			{"actions-counted-from-hourly-counters", map[string]any{"actions": []string{"MEMBER_ADDED", "MEMBER_ROLE_UPDATED", "AUDIT_LOG_EXPORTED"}, "since": longAgo}, 2},
			{"actor", map[string]any{"actorId": admin.id}, 2},
			{"until-before-the-window", map[string]any{"until": oldAt}, 0},
			{"only-old-actions", map[string]any{"actions": []string{"PUBLIC_INVITE_LINK_CREATED", "AUDIT_LOG_EXPORTED"}}, 0},
		} {
			t.Run("before-prune/"+tc.name, func(t *testing.T) {
				if n := xTotalCount(t, s, admin.token, ws, tc.filter); n != tc.want {
					t.Errorf("totalCount %d, want %d", n, tc.want)
				}
				if n := len(s.allEvents(t, admin.token, ws, tc.filter)); n != tc.want {
					t.Errorf("auditLog shows %d events, want %d", n, tc.want)
				}
			})
		}
		// The export made when the old events were new: they are gone from its
		// file too, which leaves it empty.
		xCheckFile(t, "CSV", xDownload(t, early), nil)
		visible := s.allEvents(t, admin.token, ws, nil)
		for _, format := range []string{"CSV", "JSON"} {
			ex := xExportLog(t, s, admin, ws, format, map[string]any{"since": longAgo})
			xCheckFile(t, format, xDownload(t, ex), visible)
			visible = s.allEvents(t, admin.token, ws, nil)
		}

		// Still in the database until the prune.
		cutoff := s.clock.Now().Add(-time.Hour).UnixMilli()
		stored := xCount(t, s, "SELECT COUNT(*) FROM audit_events WHERE occurred_at < ?", cutoff)
		if stored != len(old)+len(oldOther) {
			t.Fatalf("%d old events in the database before the prune, want %d", stored, len(old)+len(oldOther))
		}
		metricBefore := xMetric(t, s, "auditlogd_events_pruned_total")
		res, err := s.app.Prune(ctx)
		if err != nil {
			t.Fatalf("prune: %v", err)
		}
		type result struct{ Events, Exports int64 }
		if diff := cmp.Diff(result{int64(len(old) + len(oldOther)), 0}, result{res.Events, res.Exports}); diff != "" {
			t.Errorf("prune result (-want +got):\n%s", diff)
		}
		if res.Workspaces != 2 {
			t.Errorf("prune went through %d workspaces, want 2", res.Workspaces)
		}
		if got := xMetric(t, s, "auditlogd_events_pruned_total") - metricBefore; got != float64(res.Events) {
			t.Errorf("auditlogd_events_pruned_total grew by %v, want %d", got, res.Events)
		}
		if n := xCount(t, s, "SELECT COUNT(*) FROM audit_events WHERE occurred_at < ?", cutoff); n != 0 {
			t.Errorf("%d old events are still in the database", n)
		}
		if n := xCount(t, s, "SELECT COUNT(*) FROM audit_events"); n != len(visible) {
			t.Errorf("%d events in the database, want the %d visible ones", n, len(visible))
		}
		if n := xCount(t, s, "SELECT COUNT(*) FROM audit_event_counts WHERE hour_start + 3600000 <= ?", cutoff); n != 0 {
			t.Errorf("%d hourly counters of hours that ended before the window are left", n)
		}
		// The API is as it was.
		if diff := cmp.Diff(visible, s.allEvents(t, admin.token, ws, nil)); diff != "" {
			t.Errorf("the prune changed what auditLog shows (-before +after):\n%s", diff)
		}
		for _, f := range []map[string]any{nil, {"actions": []string{"MEMBER_ADDED", "MEMBER_ROLE_UPDATED", "AUDIT_LOG_EXPORTED"}, "since": longAgo}} {
			if n := xTotalCount(t, s, admin.token, ws, f); n != len(s.allEvents(t, admin.token, ws, f)) {
				t.Errorf("after the prune, totalCount %d for %v disagrees with the events", n, f)
			}
		}
		// Nothing is left to delete.
		again, err := s.app.Prune(ctx)
		if err != nil || again.Events != 0 {
			t.Errorf("second prune deleted %d events (err %v), want 0", again.Events, err)
		}
		if got := xMetric(t, s, "auditlogd_events_pruned_total") - metricBefore; got != float64(res.Events) {
			t.Errorf("after a prune that deleted nothing, auditlogd_events_pruned_total grew by %v, want %d in all", got, res.Events)
		}
	})
}

// TestRetentionOfSecondsInRealTime runs with AUDITLOG_RETENTION=3s and the
// real passage of time: an event is shown, and three seconds later it is not.
func TestRetentionOfSecondsInRealTime(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, map[string]string{"AUDITLOG_RETENTION": "3s"})
		admin, u := xUser(t, s, "admin"), xUser(t, s, "u")
		ws := s.newWorkspace(t, admin, "BUSINESS")
		s.addMember(t, admin, ws, u, "MEMBER")
		first := s.allEvents(t, admin.token, ws, nil)
		if len(first) != 2 {
			t.Fatalf("auditLog shows %d events right after they were made, want 2", len(first))
		}
		at, err := time.Parse(time.RFC3339Nano, first[0].OccurredAt)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Until(at.Add(3*time.Second + 100*time.Millisecond)))
		if got := s.allEvents(t, admin.token, ws, nil); len(got) != 0 {
			t.Errorf("auditLog shows %d events older than 3s", len(got))
		}
		if n := xTotalCount(t, s, admin.token, ws, map[string]any{"actions": []string{"MEMBER_ADDED"}}); n != 0 {
			t.Errorf("totalCount %d of events older than 3s", n)
		}
		ex := xExportLog(t, s, admin, ws, "JSON", nil)
		xCheckFile(t, "JSON", xDownload(t, ex), nil)
		res, err := s.app.Prune(context.Background())
		if err != nil || res.Events != 2 {
			t.Errorf("prune deleted %d events (err %v), want the 2 old ones", res.Events, err)
		}
	})
}

// TestRetentionPruneDeletesExpiredExportRecords checks that the prune deletes
// the records of exports whose URLs have long expired, keeps live ones, and
// that an expired URL still answers 410 once its record is gone.
func TestRetentionPruneDeletesExpiredExportRecords(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, nil) // 15 minute URLs, 90 days of retention
		admin := xUser(t, s, "admin")
		ws := s.newWorkspace(t, admin, "BUSINESS")
		expired := []xExport{xExportLog(t, s, admin, ws, "CSV", nil), xExportLog(t, s, admin, ws, "JSON", nil)}
		s.clock.Advance(3 * time.Hour)
		live := xExportLog(t, s, admin, ws, "CSV", nil)
		if n := xCount(t, s, "SELECT COUNT(*) FROM audit_exports"); n != 3 {
			t.Fatalf("%d export records, want 3", n)
		}
		res, err := s.app.Prune(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if res.Exports != 2 || res.Events != 0 {
			t.Errorf("prune deleted %d exports and %d events, want 2 and 0", res.Exports, res.Events)
		}
		var ids []string
		rows, err := xPool(s).Query("SELECT id FROM audit_exports")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		rows.Close()
		if diff := cmp.Diff([]string{live.ID}, ids); diff != "" {
			t.Errorf("export records left (-want +got):\n%s", diff)
		}
		xDownload(t, live)
		for _, ex := range expired {
			if f := xGet(t, ex.URL); f.Status != http.StatusGone {
				t.Errorf("expired export whose record is gone: status %d, want 410: %s", f.Status, f.Body)
			}
		}
	})
}

// xTryPost sends a GraphQL request and reports failure as an error, for use
// outside the test goroutine.
func xTryPost(s *server, token, query string, vars map[string]any) (json.RawMessage, error) {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, s.srv.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	var out struct {
		Data   json.RawMessage `json:"data"`
		Errors []gqlError      `json:"errors"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("status %d: %w", res.StatusCode, err)
	}
	if res.StatusCode != http.StatusOK || len(out.Errors) > 0 {
		return nil, fmt.Errorf("status %d: %+v", res.StatusCode, out.Errors)
	}
	return out.Data, nil
}

// xOldEvents writes n events of a workspace straight into the database,
// three to a millisecond, spread over the hour that ends at end, as a
// long-running service would have them.
func xOldEvents(t testing.TB, s *server, ws, actor string, end time.Time, n int) {
	t.Helper()
	const batch = 100
	for start := 0; start < n; start += batch {
		var events []audit.Event
		for i := start; i < min(n, start+batch); i++ {
			at := end.Add(-time.Duration(i/3) * time.Hour / time.Duration(n/3+1)).UTC().Truncate(time.Millisecond)
			email := actor + "@example.com"
			role := role.Member
			events = append(events, audit.Event{ID: ids.New(at), WorkspaceID: ws, Action: audit.MemberAdded, OccurredAt: at,
				Actor:  audit.Actor{ID: actor, Email: &email, Type: audit.ActorUser},
				Target: &audit.Target{Type: audit.TargetUser, ID: fmt.Sprintf("old-user-%d", i)}, Role: &role})
		}
		if err := s.app.DB.Bulk().InsertEvents(context.Background(), events); err != nil {
			t.Fatalf("write old events: %v", err)
		}
	}
}

// TestRetentionPruneLosesNothingOfConcurrentWriters prunes, again and again,
// a log holding many old events while several writers add events through
// the API: afterwards every writer's event is there and no old one is.
func TestRetentionPruneLosesNothingOfConcurrentWriters(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		// A generous statement deadline: under the race detector the embedded
		// SQLite writes thousands of rows slowly.
		s := newServer(t, db, map[string]string{"AUDITLOG_RETENTION": "1h", "AUDITLOG_DB_QUERY_TIMEOUT": "2m"})
		ctx := context.Background()
		admins := []user{xUser(t, s, "w1"), xUser(t, s, "w2"), xUser(t, s, "w3"), xUser(t, s, "w4")}
		ws := s.newWorkspace(t, admins[0], "BUSINESS")
		otherWS := s.newWorkspace(t, admins[0], "BUSINESS")
		for _, a := range admins[1:] {
			s.addMember(t, admins[0], ws, a, "ADMIN")
		}
		setup := s.allEvents(t, admins[0].token, ws, nil)
		// More than one prune batch (10,000) in the writers' workspace, and
		// some in another.
		const oldHere, oldThere = 10_321, 600
		oldEnd := s.clock.Now().Add(-2 * time.Hour)
		xOldEvents(t, s, ws, admins[0].id, oldEnd, oldHere)
		xOldEvents(t, s, otherWS, admins[1].id, oldEnd, oldThere)
		if n := xCount(t, s, "SELECT COUNT(*) FROM audit_events WHERE occurred_at < ?", s.clock.Now().Add(-time.Hour).UnixMilli()); n != oldHere+oldThere {
			t.Fatalf("%d old events written, want %d", n, oldHere+oldThere)
		}
		if n := xTotalCount(t, s, admins[0].token, ws, nil); n != len(setup) {
			t.Fatalf("totalCount %d with the old events in, want %d: they must be invisible", n, len(setup))
		}
		oldCounters := "SELECT COUNT(*) FROM audit_event_counts WHERE hour_start + 3600000 <= ?"
		if n := xCount(t, s, oldCounters, s.clock.Now().Add(-time.Hour).UnixMilli()); n == 0 {
			t.Fatalf("the old events have no hourly counters")
		}

		var (
			stop     atomic.Bool
			wg       sync.WaitGroup
			mu       sync.Mutex
			created  = map[string]bool{} // invite ids the writers got back
			failures []string
			made     atomic.Int64
		)
		for i, a := range admins {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !stop.Load() {
					data, err := xTryPost(s, a.token, xInviteQuery, map[string]any{"w": ws, "k": "PUBLIC", "r": "MEMBER"})
					var out struct {
						CreateInviteLink struct{ InviteLink struct{ ID string } }
					}
					if err == nil {
						err = json.Unmarshal(data, &out)
					}
					mu.Lock()
					if err != nil {
						failures = append(failures, fmt.Sprintf("writer %d: %v", i, err))
					} else {
						created[out.CreateInviteLink.InviteLink.ID] = true
					}
					mu.Unlock()
					made.Add(1)
				}
			}()
		}
		waitFor := func(n int64) {
			deadline := time.Now().Add(30 * time.Second)
			for made.Load() < n && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
		}
		waitFor(20)
		var pruned []int64
		for run := range 6 {
			res, err := s.app.Prune(ctx)
			if err != nil {
				t.Errorf("prune run %d: %v", run+1, err)
			}
			pruned = append(pruned, res.Events)
			waitFor(made.Load() + 5)
		}
		stop.Store(true)
		wg.Wait()

		if len(failures) > 0 {
			t.Errorf("%d of %d writes failed while pruning, e.g. %s", len(failures), made.Load(), failures[0])
		}
		// One run applies the policy: it deletes every old event, in as many
		// batches as it takes; the later runs find nothing.
		if diff := cmp.Diff([]int64{oldHere + oldThere, 0, 0, 0, 0, 0}, pruned); diff != "" {
			t.Errorf("events deleted by each prune run (-want +got):\n%s", diff)
		}
		if n := xCount(t, s, "SELECT COUNT(*) FROM audit_events WHERE occurred_at < ?", s.clock.Now().Add(-time.Hour).UnixMilli()); n != 0 {
			t.Errorf("%d old events are left", n)
		}
		if n := xCount(t, s, oldCounters, s.clock.Now().Add(-time.Hour).UnixMilli()); n != 0 {
			t.Errorf("%d hourly counters of hours that ended before the window are left", n)
		}
		if len(created) < 30 {
			t.Errorf("the writers made only %d events; the test shows little", len(created))
		}
		var got []string
		for _, e := range s.allEvents(t, admins[0].token, ws, map[string]any{"actions": []string{"PUBLIC_INVITE_LINK_CREATED"}}) {
			got = append(got, e.Target.ID)
		}
		want := make([]string, 0, len(created))
		for id := range created {
			want = append(want, id)
		}
		slices.Sort(got)
		slices.Sort(want)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("the writers' events in the log (-made +logged):\n%s", diff)
		}
		total := len(setup) + len(created)
		if n := xCount(t, s, "SELECT COUNT(*) FROM audit_events WHERE workspace_id = ?", ws); n != total {
			t.Errorf("%d events of the workspace in the database, want %d (setup and writers)", n, total)
		}
		if n := xTotalCount(t, s, admins[0].token, ws, nil); n != total {
			t.Errorf("totalCount %d, want %d", n, total)
		}
		if n := xTotalCount(t, s, admins[0].token, ws, map[string]any{"actions": []string{"PUBLIC_INVITE_LINK_CREATED", "MEMBER_ADDED"}, "since": "2001-01-01T00:00:00.000Z"}); n != total {
			t.Errorf("totalCount by actions %d, want %d", n, total)
		}
	})
}
