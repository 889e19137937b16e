package store

import (
	"context"
	"strings"

	"gorm.io/gorm"

	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/integrity"
)

// backfillBatch is how many events one backfill transaction chains.
const backfillBatch = 1000

// backfillChains is the data step of migration 0004: it chains the events a
// database already holds, per workspace, oldest first (the log's order), in
// transactions of backfillBatch events that each hold the workspace's lock
// while they extend its head. A rerun after an interruption resumes from
// the head it reached. Then it makes the chain columns required, so that no
// event can be written outside the chain again; if a writer of the previous
// version added unchained events meanwhile, that step fails and a rerun
// chains them first.
func backfillChains(ctx context.Context, db *gorm.DB, d Dialect) error {
	after := ""
	for {
		var ids []string
		if err := db.WithContext(ctx).Raw("SELECT id FROM workspaces WHERE id > ? ORDER BY id LIMIT 500", after).Scan(&ids).Error; err != nil {
			return err
		}
		for _, id := range ids {
			if err := backfillWorkspace(ctx, db, d, id); err != nil {
				return err
			}
		}
		if len(ids) < 500 {
			break
		}
		after = ids[len(ids)-1]
	}
	return requireChains(ctx, db, d)
}

// backfillWorkspace chains one workspace's unchained events.
func backfillWorkspace(ctx context.Context, db *gorm.DB, d Dialect, workspaceID string) error {
	pos := audit.Position{} // the last event chained by this run
	for {
		n := 0
		err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			lock := ""
			if d == MySQL {
				lock = " FOR UPDATE"
			}
			var hs headScan
			if err := tx.Raw("SELECT "+headColumns+" FROM workspaces WHERE id = ?"+lock, workspaceID).Row().Scan(hs.dest()...); err != nil {
				return err
			}
			head := hs.head()
			rows, err := tx.Raw("SELECT "+chainedEventColumns+", 0 FROM audit_events WHERE workspace_id = ? AND sequence IS NULL"+
				" AND (occurred_at > ? OR (occurred_at = ? AND id > ?)) ORDER BY occurred_at, id LIMIT ?",
				workspaceID, pos.OccurredAt.UnixMilli(), pos.OccurredAt.UnixMilli(), pos.ID, backfillBatch).Rows()
			if err != nil {
				return err
			}
			var events []audit.Event
			var sc eventScan
			for rows.Next() {
				if err := rows.Scan(sc.dest()...); err != nil {
					rows.Close()
					return err
				}
				events = append(events, sc.event())
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			n = len(events)
			if n == 0 {
				return nil
			}
			var h integrity.Hasher
			for i := range events {
				e := &events[i]
				hash, err := h.Event(e, head.seq+1, head.hash)
				if err != nil {
					return err
				}
				e.Sequence, e.PrevHash, e.Hash = head.seq+1, head.hash, hash
				head.seq, head.hash, head.atMs = e.Sequence, hash, max(head.atMs, e.OccurredAt.UnixMilli())
			}
			for start := 0; start < n; start += 200 {
				q, args := chainUpsert(d, events[start:min(n, start+200)])
				if err := tx.Exec(q, args...).Error; err != nil {
					return err
				}
			}
			pos = events[n-1].Position()
			return tx.Exec("UPDATE workspaces SET chain_sequence = ?, chain_hash = ?, chain_at = ? WHERE id = ?",
				head.seq, head.hash[:], head.atMs, workspaceID).Error
		})
		if err != nil || n < backfillBatch {
			return err
		}
	}
}

// chainUpsert writes the chain columns of existing events in one statement.
func chainUpsert(d Dialect, events []audit.Event) (string, []any) {
	var b strings.Builder
	b.WriteString("INSERT INTO audit_events (workspace_id, occurred_at, id, action, actor_id, actor_type, sequence, prev_hash, hash) VALUES ")
	args := make([]any, 0, len(events)*9)
	for i, e := range events {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?,?,?,?,?,?)")
		args = append(args, e.WorkspaceID, e.OccurredAt.UnixMilli(), e.ID, string(e.Action), e.Actor.ID, string(e.Actor.Type),
			e.Sequence, e.PrevHash[:], e.Hash[:])
	}
	if d == MySQL {
		b.WriteString(" ON DUPLICATE KEY UPDATE sequence = VALUES(sequence), prev_hash = VALUES(prev_hash), hash = VALUES(hash)")
	} else {
		b.WriteString(" ON CONFLICT (workspace_id, occurred_at, id) DO UPDATE SET sequence = excluded.sequence, prev_hash = excluded.prev_hash, hash = excluded.hash")
	}
	return b.String(), args
}

// requireChains makes every event carry its chain columns from now on.
func requireChains(ctx context.Context, db *gorm.DB, d Dialect) error {
	stmts := []string{
		"ALTER TABLE audit_events MODIFY sequence BIGINT NOT NULL, MODIFY prev_hash BINARY(32) NOT NULL, MODIFY hash BINARY(32) NOT NULL",
	}
	if d == SQLite {
		stmts = []string{
			`CREATE TRIGGER IF NOT EXISTS audit_events_chained BEFORE INSERT ON audit_events
			WHEN NEW.sequence IS NULL OR NEW.prev_hash IS NULL OR NEW.hash IS NULL
			BEGIN SELECT RAISE(ABORT, 'an audit event must carry its sequence, prev_hash and hash'); END`,
			`CREATE TRIGGER IF NOT EXISTS audit_events_stay_chained BEFORE UPDATE OF sequence, prev_hash, hash ON audit_events
			WHEN NEW.sequence IS NULL OR NEW.prev_hash IS NULL OR NEW.hash IS NULL
			BEGIN SELECT RAISE(ABORT, 'an audit event must carry its sequence, prev_hash and hash'); END`,
		}
	}
	for _, s := range stmts {
		if err := db.WithContext(ctx).Exec(s).Error; err != nil {
			return err
		}
	}
	return nil
}
