package store

import (
	"context"
	"database/sql"
	"fmt"

	"gorm.io/gorm"

	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/digest"
	"github.com/auditlogd/auditlogd/internal/integrity"
)

// chainHead is the head of a workspace's hash chain as its row keeps it
// (CONTRACT §9): the sequence and hash of its newest event, that event's
// time, and the highest sequence retention has deleted.
type chainHead struct {
	seq    int64
	hash   digest.SHA256
	atMs   int64
	pruned int64
}

// headColumns are the workspace row's chain columns, in the order scanHead
// reads them.
const headColumns = "chain_sequence, chain_hash, chain_at, chain_pruned_through"

// headScan holds the scan destinations of headColumns.
type headScan struct {
	seq, at, pruned int64
	hash            []byte
}

func (h *headScan) dest() []any { return []any{&h.seq, &h.hash, &h.at, &h.pruned} }

func (h *headScan) head() chainHead {
	out := chainHead{seq: h.seq, atMs: h.at, pruned: h.pruned}
	if d, ok := digest.FromBytes(h.hash); ok {
		out.hash = d
	}
	return out
}

// chain assigns the events their sequences and hashes from the heads of the
// workspaces the transaction locked, in the order given (which must be the
// log's order: each event after the previous one and after the head).
func (c conn) chain(events []audit.Event) error {
	var h integrity.Hasher
	for i := range events {
		e := &events[i]
		st := c.state.locked[e.WorkspaceID]
		ms := e.OccurredAt.UnixMilli()
		if ms < st.head.atMs {
			return fmt.Errorf("store: event %s is older than the newest event of its workspace", e.ID)
		}
		hash, err := h.Event(e, st.head.seq+1, st.head.hash)
		if err != nil {
			return fmt.Errorf("store: hash event %s: %w", e.ID, err)
		}
		e.Sequence, e.PrevHash, e.Hash = st.head.seq+1, st.head.hash, hash
		st.head.seq, st.head.hash, st.head.atMs = e.Sequence, hash, ms
		st.appended = true
	}
	return nil
}

// chainAnyOrder chains events like chain, but accepts events older than
// the head: history written straight into the table by tests and tools,
// whose times are theirs to choose.
func (c conn) chainAnyOrder(events []audit.Event) {
	var h integrity.Hasher
	for i := range events {
		e := &events[i]
		st := c.state.locked[e.WorkspaceID]
		hash, _ := h.Event(e, st.head.seq+1, st.head.hash)
		e.Sequence, e.PrevHash, e.Hash = st.head.seq+1, st.head.hash, hash
		st.head.seq, st.head.hash = e.Sequence, hash
		st.head.atMs = max(st.head.atMs, e.OccurredAt.UnixMilli())
		st.appended = true
	}
}

// writeHeads writes the new chain heads of the workspaces the transaction
// appended to. Every event-writing transaction of a workspace writes its row
// here: besides keeping the head, that makes rival transactions conflict on
// a row both write, which is what a multi-primary cluster certifies.
func (c conn) writeHeads(ctx context.Context, db *gorm.DB) error {
	for id, st := range c.state.locked {
		if !st.appended {
			continue
		}
		st.wrote = true
		if st.headless {
			continue
		}
		if err := db.WithContext(ctx).Exec("UPDATE workspaces SET chain_sequence = ?, chain_hash = ?, chain_at = ? WHERE id = ?",
			st.head.seq, st.head.hash[:], st.head.atMs, id).Error; err != nil {
			return err
		}
		st.appended = false
	}
	return nil
}

// appendLocked is AppendEvents of a transaction that locked the events'
// workspaces: it checks the lock and the clock, chains the events, inserts
// them with their counters, and writes the new heads.
func appendLocked(ctx context.Context, c conn, events []audit.Event) error {
	if err := c.checkLocked(events); err != nil {
		return err
	}
	if err := c.chain(events); err != nil {
		return err
	}
	if err := appendEvents(ctx, c, events); err != nil {
		return err
	}
	return c.run(ctx, true, func(db *gorm.DB) error { return c.writeHeads(ctx, db) })
}

// Head returns the chain head of a workspace, read in one statement with the
// highest pruned sequence.
func (s *Events) Head(ctx context.Context, workspaceID string) (audit.ChainHead, error) {
	var hs headScan
	err := s.c.run(ctx, false, func(db *gorm.DB) error {
		return db.Raw("SELECT "+headColumns+" FROM workspaces WHERE id = ?", workspaceID).Row().Scan(hs.dest()...)
	})
	if err != nil {
		return audit.ChainHead{}, err
	}
	h := hs.head()
	return audit.ChainHead{Sequence: h.seq, Hash: h.hash, PrunedThrough: h.pruned}, nil
}

// ScanChain reads a consistent snapshot of the workspace's chain: the head,
// then every retained event, oldest first by sequence, in keyset batches of
// batch rows, calling fn for each as raw columns (valid during the call
// only). The snapshot is one read-only transaction, so events appended or
// pruned meanwhile are neither seen half nor counted twice; and since a
// writer moves the head in the transaction that appends, an event with a
// sequence beyond the head in the snapshot was put there behind the
// service's back. It is handed to fn like the others, for the verifier to
// report, rather than left out: the log shows it.
func (s *Events) ScanChain(ctx context.Context, workspaceID string, batch int, fn func(head audit.ChainHead, r *audit.Row) error) (audit.ChainHead, error) {
	var head audit.ChainHead
	opts := &sql.TxOptions{ReadOnly: true}
	if s.c.db.dialect == MySQL {
		opts.Isolation = sql.LevelRepeatableRead
	}
	err := s.c.reader.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var hs headScan
		if err := tx.Raw("SELECT "+headColumns+" FROM workspaces WHERE id = ?", workspaceID).Row().Scan(hs.dest()...); err != nil {
			return translate(err)
		}
		h := hs.head()
		head = audit.ChainHead{Sequence: h.seq, Hash: h.hash, PrunedThrough: h.pruned}
		var (
			row audit.Row
			sc  rawEventScan
		)
		after := int64(0)
		for {
			rows, err := tx.Raw("SELECT "+rawEventColumns+" FROM audit_events WHERE workspace_id = ? AND sequence > ? ORDER BY sequence LIMIT ?",
				workspaceID, after, batch).Rows()
			if err != nil {
				return err
			}
			n := 0
			for rows.Next() {
				if err := rows.Scan(sc.dest()...); err != nil {
					rows.Close()
					return err
				}
				sc.fill(&row)
				n++
				after = row.Sequence
				if err := fn(head, &row); err != nil {
					rows.Close()
					return err
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			if n < batch {
				return nil
			}
		}
	}, opts)
	return head, translate(err)
}

// rawEventColumns are the columns of an event as raw bytes, in the order
// rawEventScan reads them.
const rawEventColumns = "id, occurred_at, action, actor_id, actor_email, actor_type, target_type, target_id, target_label, " +
	"previous_role, role, ip_address, user_agent, request_id, sequence, prev_hash, hash"

// rawEventScan holds reusable scan destinations for one event as raw bytes.
type rawEventScan struct {
	cols           [13]sql.RawBytes
	ms, seq        int64
	prevHash, hash sql.RawBytes
}

func (s *rawEventScan) dest() []any {
	d := []any{&s.cols[0], &s.ms}
	for i := 1; i < len(s.cols); i++ {
		d = append(d, &s.cols[i])
	}
	return append(d, &s.seq, &s.prevHash, &s.hash)
}

func (s *rawEventScan) fill(r *audit.Row) {
	r.ID, r.OccurredAtMs = s.cols[0], s.ms
	r.Action, r.ActorID, r.ActorEmail, r.ActorType = s.cols[1], s.cols[2], s.cols[3], s.cols[4]
	r.TargetType, r.TargetID, r.TargetLabel, r.PreviousRole, r.Role = s.cols[5], s.cols[6], s.cols[7], s.cols[8], s.cols[9]
	r.IPAddress, r.UserAgent, r.RequestID = s.cols[10], s.cols[11], s.cols[12]
	r.Sequence, r.PrevHash, r.Hash = s.seq, s.prevHash, s.hash
}
