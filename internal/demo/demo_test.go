package demo_test

import (
	"context"
	"testing"
	"time"

	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/demo"
	"github.com/auditlogd/auditlogd/internal/insight"
	"github.com/auditlogd/auditlogd/internal/store"
	"github.com/auditlogd/auditlogd/internal/testenv"
)

// TestDemoHistoryShowsEveryFlag seeds the demo on each test database and
// reads its log back: the history holds each flag of docs/API.md §14 on the
// event that earns it, and nothing else is flagged.
func TestDemoHistoryShowsEveryFlag(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		{
			ctx := context.Background()
			st, err := store.Open(ctx, db.URL, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if _, err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			res, err := demo.Seed(ctx, st.Workspaces(), "http://localhost:8080", now)
			if err != nil {
				t.Fatal(err)
			}
			since := now.Add(-60 * 24 * time.Hour)
			page, err := st.Events().ListEvents(ctx, audit.Query{WorkspaceID: res.WorkspaceID, Filter: audit.Filter{Since: &since}, Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			got := map[insight.Flag][]string{}
			for _, e := range page.Events {
				for _, f := range e.Flags() {
					label := ""
					if e.Target != nil && e.Target.Label != nil {
						label = *e.Target.Label
					}
					got[f] = append(got[f], string(e.Action)+" "+label)
				}
			}
			want := map[insight.Flag]int{
				// alice made the workspace's first admin; carol's admin
				// invite, its acceptance and her addition by it; bob made
				// admin twice
				insight.AdminGranted: 6,
				// frank from gmail.com
				insight.ExternalDomain: 1,
				// the tenth of alice's ten invites in five minutes
				insight.Burst: 1,
				// alice from the hotel
				insight.NewLocation: 1,
			}
			for f, n := range want {
				if len(got[f]) != n {
					t.Errorf("%s on %d events %q, want %d", f, len(got[f]), got[f], n)
				}
			}
		}
	})
}
