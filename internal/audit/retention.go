package audit

import (
	"context"
	"time"
)

// RetentionStore is the storage the retention job needs.
type RetentionStore interface {
	WorkspaceIDs(ctx context.Context, after string, limit int) ([]string, error)
	PruneEvents(ctx context.Context, workspaceID string, cutoff time.Time, batch int) (int64, error)
	PruneCounters(ctx context.Context, workspaceID string, cutoff time.Time) error
	DeleteExpiredExports(ctx context.Context, cutoff time.Time) (int64, error)
}

// Pruner deletes what retention no longer allows: events older than the
// retention window (which queries and exports stop showing at once anyway),
// their hourly counters, and expired export records. It deletes in bounded
// batches, one workspace at a time, so that writers are never blocked for
// long.
type Pruner struct {
	store     RetentionStore
	retention time.Duration
	batch     int
	now       func() time.Time
}

// NewPruner returns a Pruner deleting in batches of batch rows (10,000 when
// zero).
func NewPruner(store RetentionStore, retention time.Duration, batch int, now func() time.Time) *Pruner {
	if batch <= 0 {
		batch = 10_000
	}
	return &Pruner{store: store, retention: retention, batch: batch, now: now}
}

// PruneResult counts what one run deleted.
type PruneResult struct {
	Events     int64
	Exports    int64
	Workspaces int
	Took       time.Duration
}

// Run applies the retention policy once.
func (p *Pruner) Run(ctx context.Context) (PruneResult, error) {
	start := time.Now()
	var res PruneResult
	cutoff := p.now().Add(-p.retention)
	after := ""
	for {
		ids, err := p.store.WorkspaceIDs(ctx, after, 500)
		if err != nil {
			return res, err
		}
		for _, id := range ids {
			n, err := p.pruneWorkspace(ctx, id, cutoff)
			res.Events += n
			if err != nil {
				return res, err
			}
			res.Workspaces++
		}
		if len(ids) < 500 {
			break
		}
		after = ids[len(ids)-1]
	}
	// An expired export URL is refused anyway; its record can go an hour later.
	n, err := p.store.DeleteExpiredExports(ctx, p.now().Add(-time.Hour))
	res.Exports = n
	res.Took = time.Since(start)
	return res, err
}

func (p *Pruner) pruneWorkspace(ctx context.Context, id string, cutoff time.Time) (int64, error) {
	var total int64
	for {
		n, err := p.store.PruneEvents(ctx, id, cutoff, p.batch)
		total += n
		if err != nil {
			return total, err
		}
		if n < int64(p.batch) {
			break
		}
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
	return total, p.store.PruneCounters(ctx, id, cutoff)
}

// Loop runs the pruner now and then every interval until ctx ends, reporting
// each run to report.
func (p *Pruner) Loop(ctx context.Context, interval time.Duration, report func(PruneResult, error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		res, err := p.Run(ctx)
		if ctx.Err() != nil {
			return
		}
		report(res, err)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
