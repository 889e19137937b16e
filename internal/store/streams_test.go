package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/auditlogd/auditlogd/internal/ids"
	"github.com/auditlogd/auditlogd/internal/lease"
	"github.com/auditlogd/auditlogd/internal/stream"
	"github.com/auditlogd/auditlogd/internal/testenv"
	"github.com/auditlogd/auditlogd/internal/workspace"
)

// TestStreamRecordIsFenced: a deliverer records a position only while it
// holds the stream's lease and only from the position it read, on both
// dialects (MySQL records in one statement, SQLite in a transaction): the
// holder's record moves the position and the health, and bumps the lease's
// version (the fence write); a record from another position, by a lease
// that was taken over, or for a deleted stream changes nothing and says
// why.
func TestStreamRecordIsFenced(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, tdb testenv.DB) {
		t.Parallel()
		db := open(t, tdb)
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Millisecond)
		user := workspace.User{ID: "u-streams", Email: "streams@example.com", CreatedAt: now, UpdatedAt: now}
		ws := workspace.Workspace{ID: ids.New(now), Name: "streams", Plan: workspace.PlanBusiness, CreatedAt: now, UpdatedAt: now}
		if err := db.Bulk().InsertUsers(ctx, []workspace.User{user}); err != nil {
			t.Fatal(err)
		}
		if err := db.Bulk().InsertWorkspaces(ctx, []workspace.Workspace{ws}); err != nil {
			t.Fatal(err)
		}
		id := ids.New(now)
		if err := db.Workspaces().CreateLogStream(ctx, workspace.LogStream{ID: id, WorkspaceID: ws.ID, URL: "https://example.com/hook",
			SealedSecret: []byte("sealed"), CreatedBy: user.ID, CreatedAt: now, Status: stream.Active, DeliveredThrough: 7}); err != nil {
			t.Fatal(err)
		}
		st, leases := db.Streams(), db.Leases()
		l, err := leases.Acquire(ctx, stream.LeaseName(id), "owner-a", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		version := func() int64 {
			var v int64
			if err := db.read.Raw("SELECT version FROM leases WHERE name = ?", l.Name).Scan(&v).Error; err != nil {
				t.Fatal(err)
			}
			return v
		}
		v0 := version()

		ok := stream.Health{Status: stream.Active, LastDeliveryAt: now, NextAttemptAt: now}
		if err := st.RecordDelivery(ctx, l, id, 7, 107, ok); err != nil {
			t.Fatalf("the holder's record: %v", err)
		}
		got, err := st.GetStream(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if got.DeliveredThrough != 107 || got.Health.Status != stream.Active || !got.Health.LastDeliveryAt.Equal(now) || got.Health.LastError != "" {
			t.Errorf("after the record: %+v", got)
		}
		if v := version(); v != v0+1 {
			t.Errorf("the lease's version went from %d to %d; the fence writes it once", v0, v)
		}

		if err := st.RecordDelivery(ctx, l, id, 7, 207, ok); !errors.Is(err, ErrStreamMoved) {
			t.Errorf("a record from a stale position: %v, want ErrStreamMoved", err)
		}
		failed := stream.Health{Status: stream.Failing, ConsecutiveFailures: 3, LastError: "HTTP 500", LastDeliveryAt: now, NextAttemptAt: now.Add(4 * time.Second)}
		if err := st.RecordFailure(ctx, l, id, failed); err != nil {
			t.Fatalf("the holder's failure: %v", err)
		}
		got, _ = st.GetStream(ctx, id)
		if got.DeliveredThrough != 107 || got.Health.Status != stream.Failing || got.Health.ConsecutiveFailures != 3 || got.Health.LastError != "HTTP 500" ||
			!got.Health.NextAttemptAt.Equal(now.Add(4*time.Second)) {
			t.Errorf("after the failure: %+v", got)
		}

		// Another owner takes the lease over once it is released: the old
		// holding can record nothing.
		if err := leases.Release(ctx, l); err != nil {
			t.Fatal(err)
		}
		l2 := waitAcquire(t, leases, l.Name, "owner-b", time.Minute)
		if err := st.RecordDelivery(ctx, l, id, 107, 207, ok); !errors.Is(err, lease.ErrLost) {
			t.Errorf("a record by a lost lease: %v, want lease.ErrLost", err)
		}
		if err := st.RecordFailure(ctx, l, id, failed); !errors.Is(err, lease.ErrLost) {
			t.Errorf("a failure by a lost lease: %v, want lease.ErrLost", err)
		}
		if got, _ := st.GetStream(ctx, id); got.DeliveredThrough != 107 {
			t.Errorf("a lost lease moved the position to %d", got.DeliveredThrough)
		}

		if err := db.Workspaces().DeleteLogStream(ctx, id, now); err != nil {
			t.Fatal(err)
		}
		if err := st.RecordDelivery(ctx, l2, id, 107, 207, ok); !errors.Is(err, ErrStreamMoved) {
			t.Errorf("a record for a deleted stream: %v, want ErrStreamMoved", err)
		}
	})
}
