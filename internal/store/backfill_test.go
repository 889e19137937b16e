package store

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"gorm.io/gorm"

	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/digest"
	"github.com/auditlogd/auditlogd/internal/email"
	"github.com/auditlogd/auditlogd/internal/ids"
	"github.com/auditlogd/auditlogd/internal/integrity"
	"github.com/auditlogd/auditlogd/internal/role"
	"github.com/auditlogd/auditlogd/internal/testenv"
)

// bfLink is one event's place in a chain, as the database holds it.
type bfLink struct {
	ID       string
	Sequence int64
	PrevHash string
	Hash     string
}

// bfWorkspace is a workspace of the history written before migration 0004.
type bfWorkspace struct {
	id     string
	events []audit.Event
}

// bfHistory makes the workspaces an older version left behind: a big one
// (more than two backfill batches), a small one and one without events.
// Their ids sort in that order, which is the order the backfill takes them
// in. Events repeat milliseconds (the id breaks the tie) and mix every
// nullable field.
func bfHistory(start time.Time, big int) []bfWorkspace {
	rng := rand.New(rand.NewPCG(4, 4))
	mk := func(ws string, n int) []audit.Event {
		out := make([]audit.Event, n)
		for i := range out {
			at := start.Add(time.Duration(rng.IntN(n/3+1)) * time.Second).Add(time.Duration(rng.IntN(3)) * time.Millisecond)
			e := audit.Event{ID: ids.New(at), WorkspaceID: ws, OccurredAt: at.UTC(), Action: audit.MemberRoleUpdated,
				Actor:        audit.Actor{ID: fmt.Sprintf("u-%d", rng.IntN(9)), Email: bfp(fmt.Sprintf("Admin%d@Example.com", i%5)), Type: audit.ActorUser},
				Target:       &audit.Target{Type: audit.TargetUser, ID: "u-bob", Label: bfp("bob@example.com")},
				PreviousRole: bfRole(role.Member), Role: bfRole(role.Admin),
				IPAddress: bfp("192.0.2.7"), UserAgent: bfp(`Mozilla/5.0 "quoted" \ Zoë`), RequestID: bfp(ids.New(at))}
			switch i % 4 {
			case 1:
				e.Action, e.Actor, e.Target = audit.MemberAdded, audit.Actor{ID: "system", Type: audit.ActorSystem}, nil
				e.PreviousRole, e.IPAddress, e.UserAgent, e.RequestID = nil, nil, nil, nil
			case 2:
				e.Action, e.Target.Label, e.Role = audit.MemberRemoved, nil, nil
			}
			out[i] = e
		}
		return out
	}
	var out []bfWorkspace
	for i, n := range []int{big, 7, 0} {
		id := ids.New(start.Add(time.Duration(i) * time.Hour))
		out = append(out, bfWorkspace{id: id, events: mk(id, n)})
	}
	return out
}

func bfp(s string) *string { return &s }

func bfRole(r role.Role) *role.Role { return &r }

// bfInsertOld writes the history as the previous version did: workspaces
// without a chain head, events without chain columns, in an order that is
// not the log's.
func bfInsertOld(t *testing.T, db *DB, wss []bfWorkspace, workspaces bool) {
	t.Helper()
	g := db.write
	var all []audit.Event
	for _, w := range wss {
		if workspaces {
			if err := g.Exec("INSERT INTO workspaces (id, name, plan, created_at, updated_at) VALUES (?, ?, 'BUSINESS', 0, 0)",
				w.id, "Old "+w.id).Error; err != nil {
				t.Fatal(err)
			}
		}
		all = append(all, w.events...)
	}
	rand.New(rand.NewPCG(5, 5)).Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	for start := 0; start < len(all); start += 200 {
		var b strings.Builder
		var args []any
		b.WriteString("INSERT INTO audit_events (workspace_id, occurred_at, id, action, actor_id, actor_email, actor_type, " +
			"target_type, target_id, target_label, previous_role, role, ip_address, user_agent, request_id, actor_email_key, target_label_key) VALUES ")
		for i, e := range all[start:min(len(all), start+200)] {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString("(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
			var tt, tid, tl any
			if e.Target != nil {
				tt, tid, tl = string(e.Target.Type), e.Target.ID, str(e.Target.Label)
			}
			var ek, lk any
			if e.Actor.Email != nil {
				ek = email.Key(*e.Actor.Email)
			}
			if e.Target != nil && e.Target.Label != nil {
				lk = email.Key(*e.Target.Label)
			}
			args = append(args, e.WorkspaceID, e.OccurredAt.UnixMilli(), e.ID, string(e.Action), e.Actor.ID, str(e.Actor.Email),
				string(e.Actor.Type), tt, tid, tl, roleArg(e.PreviousRole), roleArg(e.Role), str(e.IPAddress), str(e.UserAgent),
				str(e.RequestID), ek, lk)
		}
		if err := g.Exec(b.String(), args...).Error; err != nil {
			t.Fatal(err)
		}
	}
}

// bfWant is the chain the backfill must give a workspace's events: oldest
// first by (occurred_at, id), hashed from 64 zeros.
func bfWant(t *testing.T, events []audit.Event) []bfLink {
	t.Helper()
	sorted := slices.Clone(events)
	slices.SortFunc(sorted, func(a, b audit.Event) int {
		return cmp.Or(a.OccurredAt.Compare(b.OccurredAt), cmp.Compare(a.ID, b.ID))
	})
	var h integrity.Hasher
	prev := integrity.ZeroHash
	out := make([]bfLink, len(sorted))
	for i := range sorted {
		hash, err := h.Event(&sorted[i], int64(i+1), prev)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = bfLink{ID: sorted[i].ID, Sequence: int64(i + 1), PrevHash: prev.String(), Hash: hash.String()}
		prev = hash
	}
	return out
}

// bfChained reads the chained events of a workspace, by sequence.
func bfChained(t *testing.T, db *DB, ws string) []bfLink {
	t.Helper()
	rows, err := db.write.Raw("SELECT id, sequence, prev_hash, hash FROM audit_events WHERE workspace_id = ? AND sequence IS NOT NULL ORDER BY sequence", ws).Rows()
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := []bfLink{}
	for rows.Next() {
		var l bfLink
		var prev, hash []byte
		if err := rows.Scan(&l.ID, &l.Sequence, &prev, &hash); err != nil {
			t.Fatal(err)
		}
		p, _ := digest.FromBytes(prev)
		h, _ := digest.FromBytes(hash)
		l.PrevHash, l.Hash = p.String(), h.String()
		out = append(out, l)
	}
	return out
}

// bfHead reads the chain head a workspace row keeps.
func bfHead(t *testing.T, db *DB, ws string) (seq int64, hash string, atMs int64) {
	t.Helper()
	var hs headScan
	if err := db.write.Raw("SELECT "+headColumns+" FROM workspaces WHERE id = ?", ws).Row().Scan(hs.dest()...); err != nil {
		t.Fatal(err)
	}
	h := hs.head()
	return h.seq, h.hash.String(), h.atMs
}

func bfMaxMs(events []audit.Event) int64 {
	var m int64
	for _, e := range events {
		m = max(m, e.OccurredAt.UnixMilli())
	}
	return m
}

var errInterrupted = errors.New("the backfill was interrupted")

// TestBackfillChainsOldEventsInTimeOrder applies migrations 0001–0003,
// writes events the way the previous version did (no chain columns, out of
// order, ties within a millisecond), then applies the rest, whose data step
// is interrupted in its second batch. On MySQL the first batch stays
// committed and consistent (events and head together); on SQLite the
// migration rolls back whole. A writer of the previous version adds an
// event meanwhile. The rerun then gives every workspace the chain an
// uninterrupted run gives: sequences 1..N in (occurred_at, id) order, each
// hash over the event and the one before, the head on the workspace row;
// every chain verifies, writers continue it, and an event without its chain
// columns can no longer be written.
func TestBackfillChainsOldEventsInTimeOrder(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, tdb testenv.DB) {
		ctx := context.Background()
		db, err := Open(ctx, tdb.URL, Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		all, err := loadMigrations(db.dialect)
		if err != nil {
			t.Fatal(err)
		}
		var before []migration
		for _, m := range all {
			if m.version <= 3 {
				before = append(before, m)
			}
		}
		if _, err := db.migrate(ctx, before); err != nil {
			t.Fatal(err)
		}
		start := time.Date(2026, 9, 1, 8, 0, 0, 0, time.UTC)
		wss := bfHistory(start, 2*backfillBatch+600)
		bfInsertOld(t, db, wss, true)
		big := wss[0]

		// Fail the second batch: just before it would move the big
		// workspace's head past the first batch.
		var interrupt atomic.Bool
		interrupt.Store(true)
		var heads atomic.Int32
		if err := db.write.Callback().Raw().Before("gorm:raw").Register("test:interrupt_backfill", func(tx *gorm.DB) {
			if interrupt.Load() && strings.HasPrefix(tx.Statement.SQL.String(), "UPDATE workspaces SET chain_sequence") && heads.Add(1) == 2 {
				_ = tx.AddError(errInterrupted)
			}
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.migrate(ctx, all); err == nil || !strings.Contains(err.Error(), errInterrupted.Error()) ||
			!strings.Contains(err.Error(), "0004") {
			t.Fatalf("the interrupted migration: %v; want migration 0004's data step to fail", err)
		}
		want := bfWant(t, big.events)
		if db.dialect == MySQL {
			// The first batch committed, with the head that ends it.
			if diff := gocmp.Diff(want[:backfillBatch], bfChained(t, db, big.id)); diff != "" {
				t.Errorf("after the interruption, the chained events (-want +got):\n%s", diff)
			}
			seq, hash, _ := bfHead(t, db, big.id)
			if seq != backfillBatch || hash != want[backfillBatch-1].Hash {
				t.Errorf("after the interruption, the head is %d %s, want the first batch's end %d %s", seq, hash, backfillBatch, want[backfillBatch-1].Hash)
			}
		} else {
			var versions []int
			if err := db.write.Raw("SELECT version FROM schema_migrations ORDER BY version").Scan(&versions).Error; err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(versions, []int{1, 2, 3}) {
				t.Errorf("after the interruption, migrations %v are recorded, want 1 to 3 (0004 rolled back whole)", versions)
			}
		}

		// The previous version, still running, writes an event meanwhile.
		late := bfHistory(start.Add(48*time.Hour), 1)[0].events[0]
		late.WorkspaceID = wss[1].id
		wss[1].events = append(wss[1].events, late)
		bfInsertOld(t, db, []bfWorkspace{{id: wss[1].id, events: []audit.Event{late}}}, false)

		interrupt.Store(false)
		applied, err := db.migrate(ctx, all)
		if err != nil {
			t.Fatalf("the rerun: %v", err)
		}
		if len(applied) == 0 || applied[0] != "0004_chain.sql" {
			t.Errorf("the rerun applied %v, want 0004_chain.sql first", applied)
		}

		key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
		svc := integrity.NewService(db.Events(), nil, integrity.NewSigner(key), nil)
		for _, w := range wss {
			want := bfWant(t, w.events)
			if diff := gocmp.Diff(want, bfChained(t, db, w.id)); diff != "" {
				t.Errorf("workspace %s: the chain (-want +got):\n%s", w.id, diff)
			}
			seq, hash, atMs := bfHead(t, db, w.id)
			wantHash := integrity.ZeroHash.String()
			if len(want) > 0 {
				wantHash = want[len(want)-1].Hash
			}
			if seq != int64(len(want)) || hash != wantHash || atMs != bfMaxMs(w.events) {
				t.Errorf("workspace %s: head %d %s at %d, want %d %s at %d", w.id, seq, hash, atMs, len(want), wantHash, bfMaxMs(w.events))
			}
			v, err := svc.VerifyWorkspace(ctx, w.id)
			if err != nil {
				t.Fatal(err)
			}
			if !v.OK || v.CheckedEvents != int64(len(want)) || v.Head.Sequence != int64(len(want)) {
				t.Errorf("workspace %s: verification %+v", w.id, v.Result)
			}
		}

		// Writers continue the backfilled chain.
		next := bfHistory(start.Add(72*time.Hour), 1)[0].events[0]
		next.WorkspaceID = big.id
		if err := db.Bulk().InsertEvents(ctx, []audit.Event{next}); err != nil {
			t.Fatal(err)
		}
		got := bfChained(t, db, big.id)
		if n := len(got); n != len(big.events)+1 || got[n-1].ID != next.ID || got[n-1].PrevHash != got[n-2].Hash {
			t.Errorf("the next event is %+v after %+v, want it chained after the backfilled head", got[n-1], got[n-2])
		}
		if v, err := svc.VerifyWorkspace(ctx, big.id); err != nil || !v.OK {
			t.Errorf("after a new event: %v %+v", err, v.Result)
		}

		// The previous version can no longer write an event outside the chain.
		stray := bfHistory(start.Add(96*time.Hour), 1)[0]
		stray.events[0].WorkspaceID = big.id
		err = db.write.Exec("INSERT INTO audit_events (workspace_id, occurred_at, id, action, actor_id, actor_type) VALUES (?, ?, ?, 'MEMBER_ADDED', 'system', 'SYSTEM')",
			big.id, stray.events[0].OccurredAt.UnixMilli(), stray.events[0].ID).Error
		if err == nil {
			t.Error("an event without sequence, prev_hash and hash was inserted after the migration")
		}
	})
}
