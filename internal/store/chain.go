package store

import (
	"container/heap"
	"context"
	"database/sql"
	"fmt"

	"gorm.io/gorm"

	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/digest"
	"github.com/auditlogd/auditlogd/internal/integrity"
)

// chainHead is the head of a workspace's hash chain as its row keeps it
// (docs/API.md §9): the sequence and hash of its newest event, that event's
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
// them with their flags (decideFlags) and counters, and writes the new heads.
func appendLocked(ctx context.Context, c conn, events []audit.Event) error {
	if err := c.checkLocked(events); err != nil {
		return err
	}
	flags, err := c.decideFlags(ctx, events)
	if err != nil {
		return err
	}
	if err := c.chain(events); err != nil {
		return err
	}
	if err := appendEvents(ctx, c, events); err != nil {
		return err
	}
	if err := c.recordNetworks(ctx, flags); err != nil {
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
// then every retained event (those beyond the head too: a row appended
// behind the head's back must be seen), in sequence order, calling fn for
// each as raw columns (valid during the call only). The snapshot is one
// read-only transaction, so events appended or pruned meanwhile are neither
// seen half nor counted twice.
//
// The rows are read in the clustered primary key's order, (occurred_at, id),
// which is the sequence's order for every event the service wrote (a
// workspace's events are stamped after the newest one): a sequential scan,
// where an index scan by sequence would fetch each row at random. Rows that
// arrive out of sequence order (an edit behind the service's back) wait in a
// bounded window and are handed on in order; the verifier reports what is
// wrong with them. Reading runs in its own goroutine, a batch ahead of the
// verifier.
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
		rctx, cancel := context.WithCancel(ctx)
		defer cancel()
		full := make(chan *chainBatch, 1)
		free := make(chan *chainBatch, 2)
		free <- &chainBatch{}
		free <- &chainBatch{}
		go readChainBatches(rctx, tx, workspaceID, batch, free, full)
		w := reorderWindow{next: h.pruned + 1, fn: func(r *audit.Row) error { return fn(head, r) }}
		for b := range full {
			if b.err != nil {
				return b.err
			}
			for i := range b.rows {
				if err := w.add(&b.rows[i]); err != nil {
					return err
				}
			}
			free <- b
		}
		if err := rctx.Err(); err != nil && ctx.Err() != nil {
			return err
		}
		return w.flush()
	}, opts)
	return head, translate(err)
}

// chainBatch is one batch of rows read in primary-key order: their bytes in
// one buffer the rows point into.
type chainBatch struct {
	buf  []byte
	rows []audit.Row
	err  error
}

// readChainBatches reads a workspace's events in primary-key order, batch by
// batch, into the buffers it takes from free, and hands them to full; it
// closes full when it is done or fails (the error in the last batch).
func readChainBatches(ctx context.Context, tx *gorm.DB, workspaceID string, size int, free <-chan *chainBatch, full chan<- *chainBatch) {
	defer close(full)
	var sc rawEventScan
	dest := sc.dest() // built once: per row it was 13% of verify's CPU
	var lastMs int64 = -1
	lastID := ""
	for {
		var b *chainBatch
		select {
		case b = <-free:
		case <-ctx.Done():
			return
		}
		b.buf, b.rows, b.err = b.buf[:0], b.rows[:0], nil
		rows, err := tx.WithContext(ctx).Raw("SELECT "+rawEventColumns+" FROM audit_events WHERE workspace_id = ? AND (occurred_at > ? OR (occurred_at = ? AND id > ?)) ORDER BY occurred_at, id LIMIT ?",
			workspaceID, lastMs, lastMs, lastID, size).Rows()
		if err == nil {
			type span struct{ start, end int }
			var spans [][15]span
			for rows.Next() {
				if err = rows.Scan(dest...); err != nil {
					break
				}
				var sp [15]span
				add := func(k int, v []byte) {
					sp[k].start = -1
					if v != nil {
						sp[k].start = len(b.buf)
						b.buf = append(b.buf, v...)
						sp[k].end = len(b.buf)
					}
				}
				for k, c := range sc.cols {
					add(k, c)
				}
				add(13, sc.prevHash)
				add(14, sc.hash)
				spans = append(spans, sp)
				b.rows = append(b.rows, audit.Row{OccurredAtMs: sc.ms, Sequence: sc.seq})
			}
			rows.Close()
			if err == nil {
				err = rows.Err()
			}
			// The buffer may have moved while it grew: point the rows in now.
			for i := range b.rows {
				cut := func(k int) []byte {
					if spans[i][k].start < 0 {
						return nil
					}
					return b.buf[spans[i][k].start:spans[i][k].end:spans[i][k].end]
				}
				r := &b.rows[i]
				r.ID, r.Action, r.ActorID, r.ActorEmail, r.ActorType = cut(0), cut(1), cut(2), cut(3), cut(4)
				r.TargetType, r.TargetID, r.TargetLabel, r.PreviousRole, r.Role = cut(5), cut(6), cut(7), cut(8), cut(9)
				r.IPAddress, r.UserAgent, r.RequestID, r.PrevHash, r.Hash = cut(10), cut(11), cut(12), cut(13), cut(14)
			}
		}
		b.err = err
		n := len(b.rows)
		if n > 0 {
			lastMs, lastID = b.rows[n-1].OccurredAtMs, string(b.rows[n-1].ID)
		}
		select {
		case full <- b:
		case <-ctx.Done():
			return
		}
		if err != nil || n < size {
			return
		}
	}
}

// reorderWindow hands rows on in sequence order. Rows that arrive in order
// (all of them, for a chain the service wrote) pass straight through; others
// wait, copied, in a bounded heap. When the heap is full, or at the end, the
// lowest waiting sequence goes on even if some before it never came (a gap,
// which the verifier reports).
type reorderWindow struct {
	next    int64 // the sequence expected next
	waiting rowHeap
	fn      func(*audit.Row) error
}

const reorderLimit = 10_000

func (w *reorderWindow) add(r *audit.Row) error {
	if r.Sequence == w.next && len(w.waiting) == 0 {
		w.next++
		return w.fn(r)
	}
	heap.Push(&w.waiting, copyRow(r))
	for len(w.waiting) > 0 && (w.waiting[0].Sequence <= w.next || len(w.waiting) > reorderLimit) {
		top := heap.Pop(&w.waiting).(*audit.Row)
		if top.Sequence >= w.next {
			w.next = top.Sequence + 1
		}
		if err := w.fn(top); err != nil {
			return err
		}
	}
	return nil
}

func (w *reorderWindow) flush() error {
	for len(w.waiting) > 0 {
		if err := w.fn(heap.Pop(&w.waiting).(*audit.Row)); err != nil {
			return err
		}
	}
	return nil
}

// copyRow copies a row out of its batch's buffer.
func copyRow(r *audit.Row) *audit.Row {
	c := *r
	for _, f := range []*[]byte{&c.ID, &c.Action, &c.ActorID, &c.ActorEmail, &c.ActorType, &c.TargetType, &c.TargetID,
		&c.TargetLabel, &c.PreviousRole, &c.Role, &c.IPAddress, &c.UserAgent, &c.RequestID, &c.PrevHash, &c.Hash} {
		if *f != nil {
			*f = append([]byte{}, *f...)
		}
	}
	return &c
}

// rowHeap orders waiting rows by sequence.
type rowHeap []*audit.Row

func (h rowHeap) Len() int           { return len(h) }
func (h rowHeap) Less(i, j int) bool { return h[i].Sequence < h[j].Sequence }
func (h rowHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *rowHeap) Push(x any)        { *h = append(*h, x.(*audit.Row)) }
func (h *rowHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
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
