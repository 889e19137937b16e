package audit

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"sync/atomic"
	"time"

	"github.com/auditlogd/auditlogd/internal/apperr"
	"github.com/auditlogd/auditlogd/internal/auth"
	"github.com/auditlogd/auditlogd/internal/ids"
	"github.com/auditlogd/auditlogd/internal/timefmt"
)

// Export is a recorded export request. Its file holds the events that match
// Filter inside the retention window and come before Snapshot, the position
// of the export's own AUDIT_LOG_EXPORTED event.
type Export struct {
	ID          string
	WorkspaceID string
	// RequestedBy is the user, or with RequestedByKey the API key, that
	// requested the export; the download checks it may still read the log.
	RequestedBy    string
	RequestedByKey bool
	Format         Format
	Filter         Filter
	Snapshot       Position
	// Head is the workspace's chain head at the snapshot: the newest event
	// before the export's own (an unfiltered file ends with it).
	Head      ChainHead
	CreatedAt time.Time
	ExpiresAt time.Time
}

// FileName is the download's file name.
func (e Export) FileName() string {
	return "audit-log-" + e.WorkspaceID + "-" + timefmt.File(e.Snapshot.OccurredAt) + "." + e.Format.Extension()
}

// ExportStore is the storage exports need.
type ExportStore interface {
	// InTx runs fn in one transaction (see workspace.Store.InTx).
	InTx(ctx context.Context, fn func(tx ExportStore) error) error
	// LockWorkspace takes the workspace row's write lock until the
	// transaction ends, reads userID's access row with it, and then reads
	// the clock. Every transaction that writes events of a workspace does
	// the same (the store enforces it), so an export that holds the lock
	// sees every event stamped before its snapshot, and none stamped after.
	LockWorkspace(ctx context.Context, workspaceID, userID string) (Lock, error)
	CreateExport(ctx context.Context, e Export) error
	GetExport(ctx context.Context, id string) (Export, error)
	AppendEvents(ctx context.Context, events ...Event) error
	// StreamEvents runs q in keyset batches of q.Limit rows and calls fn for
	// every row; the row is only valid during the call. It stops at fn's
	// first error.
	StreamEvents(ctx context.Context, q Query, fn func(*Row) error) error
}

// Exporter records exports and streams their files.
type Exporter struct {
	store     ExportStore
	gate      Gate
	signer    *URLSigner
	ttl       time.Duration
	retention time.Duration
	batch     int
	minBatch  int
	// batchDeadline bounds the time one batch may take to reach the client;
	// slowBatch is the time past which the client counts as slow.
	batchDeadline time.Duration
	slowBatch     time.Duration
	now           func() time.Time
}

// ExporterConfig configures an Exporter.
type ExporterConfig struct {
	TTL       time.Duration // lifetime of a URL (AUDITLOG_EXPORT_TTL)
	Retention time.Duration // AUDITLOG_RETENTION
	BatchSize int           // most rows per keyset batch; 5000 when zero
	// MinBatchSize is the fewest rows per batch, for the slowest clients;
	// 100 when zero (or BatchSize, if that is smaller).
	MinBatchSize int
	// BatchDeadline is how long one batch may take to reach the client
	// before the download is cut off; 60 s when zero.
	BatchDeadline time.Duration
	// SlowBatch is how long a batch may take before the next ones are made
	// smaller; 1 s when zero.
	SlowBatch time.Duration
	Now       func() time.Time
}

// NewExporter returns an Exporter.
func NewExporter(store ExportStore, gate Gate, signer *URLSigner, cfg ExporterConfig) *Exporter {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 5000
	}
	if cfg.MinBatchSize <= 0 {
		cfg.MinBatchSize = 100
	}
	if cfg.BatchDeadline <= 0 {
		cfg.BatchDeadline = time.Minute
	}
	if cfg.SlowBatch <= 0 {
		cfg.SlowBatch = time.Second
	}
	return &Exporter{store: store, gate: gate, signer: signer, ttl: cfg.TTL, retention: cfg.Retention,
		batch: cfg.BatchSize, minBatch: min(cfg.MinBatchSize, cfg.BatchSize), batchDeadline: cfg.BatchDeadline,
		slowBatch: cfg.SlowBatch, now: cfg.Now}
}

// Created is a new export and its signed URL.
type Created struct {
	Export Export
	URL    string
}

// Create records an export of workspaceID's log and writes its
// AUDIT_LOG_EXPORTED event in the same transaction. It returns at once; the
// file is produced when the URL is fetched.
func (x *Exporter) Create(ctx context.Context, p *auth.Principal, workspaceID string, format Format, f Filter) (Created, error) {
	// Who may comes before what is asked (from the request's memory when it
	// has one; the rule is checked again under the lock).
	if err := x.gate.AuthorizeLogRead(ctx, p, workspaceID, nil); err != nil {
		return Created{}, err
	}
	if !format.Valid() {
		return Created{}, apperr.Invalid("input.format", "must be CSV or JSON")
	}
	if err := f.Validate(); err != nil {
		return Created{}, err
	}
	var out Created
	err := x.store.InTx(ctx, func(tx ExportStore) error {
		lk, err := tx.LockWorkspace(ctx, workspaceID, p.Subject)
		if err != nil {
			return err
		}
		if err := x.gate.AuthorizeLogRead(ctx, p, workspaceID, &lk.Access); err != nil {
			return err
		}
		now := lk.Now
		id := ids.New(now)
		ev := Event{
			ID: ids.New(now), WorkspaceID: workspaceID, Action: AuditLogExported, OccurredAt: now,
			Actor:  actorOf(p),
			Target: &Target{Type: TargetExport, ID: id, Label: optional(string(format))},
		}
		Stamp(ctx, &ev)
		e := Export{ID: id, WorkspaceID: workspaceID, RequestedBy: p.Subject, RequestedByKey: p.APIKey != nil, Format: format, Filter: f,
			Snapshot: ev.Position(), Head: lk.Head, CreatedAt: now, ExpiresAt: now.Add(x.ttl).Truncate(time.Second)}
		if err := tx.CreateExport(ctx, e); err != nil {
			return err
		}
		out = Created{Export: e, URL: x.signer.URL(e.ID, e.ExpiresAt)}
		return tx.AppendEvents(ctx, ev)
	})
	return out, err
}

// actorOf is who an event of p's says acted: a user, or an API key as a
// SERVICE actor without an email.
func actorOf(p *auth.Principal) Actor {
	if p.APIKey != nil {
		return Actor{ID: p.Subject, Type: ActorService}
	}
	return Actor{ID: p.Subject, Email: optional(p.Email), Type: ActorUser}
}

// Download errors. Their codes give the HTTP status: 403, 410, 404, 403.
var (
	ErrBadSignature = apperr.New(apperr.Forbidden, "the export URL was changed or is not signed by this service")
	ErrExpired      = apperr.New(apperr.Gone, "the export URL has expired; request a new export")
	ErrNoExport     = apperr.New(apperr.NotFound, "no such export")
	ErrNoAccess     = apperr.New(apperr.Forbidden, "the requester may no longer read this audit log")
)

// Open checks a download request: the signature over id and expiry (403 if
// anything was changed), the expiry (410), that the export exists (404), and,
// again now, that its requester is still an admin of a BUSINESS workspace (403).
func (x *Exporter) Open(ctx context.Context, id, expires, signature string) (Export, error) {
	exp, ok := x.signer.Verify(id, expires, signature)
	if !ok {
		return Export{}, ErrBadSignature
	}
	if !x.now().Before(exp) {
		return Export{}, ErrExpired
	}
	e, err := x.store.GetExport(ctx, id)
	if errors.Is(err, apperr.ErrNotFound) {
		return Export{}, ErrNoExport
	}
	if err != nil {
		return Export{}, err
	}
	if !e.ExpiresAt.Equal(exp) {
		return Export{}, ErrBadSignature
	}
	if err := x.gate.AuthorizeDownload(ctx, e.RequestedBy, e.RequestedByKey, e.WorkspaceID); err != nil {
		if _, ok := apperr.As(err); ok {
			return Export{}, ErrNoAccess
		}
		return Export{}, err
	}
	return e, nil
}

// Output is where Write sends an export's file: the HTTP response, in the
// server.
type Output interface {
	io.Writer
	// Flush sends what was written so far on to the client.
	Flush() error
	// SetWriteDeadline bounds the time the writes until the next call may
	// take; past it they fail.
	SetWriteDeadline(t time.Time) error
}

// AdaptiveStreamer is implemented by a store whose StreamEvents can change
// its batch size while it streams: size is asked before each batch is read.
// Write uses it, when the store has it, to read smaller batches for a client
// that reads slowly.
type AdaptiveStreamer interface {
	StreamEventsAdaptive(ctx context.Context, q Query, size func() int, fn func(*Row) error) error
}

// ErrDownloadExpired ends a download that was still streaming when its URL
// expired.
var ErrDownloadExpired = errors.New("the export URL expired while the file was being sent")

// Write streams the export's file to out, newest event first, in batches,
// flushing after every batch. Memory stays flat whatever the number of rows,
// and a client that stops reading cannot hold it for long:
//
//   - each batch must reach the client within the batch deadline (a rolling
//     write deadline, set again after every batch), or the writes fail and
//     the download ends;
//   - batches start small, grow while the client keeps up and shrink (down
//     to MinBatchSize rows) when one took longer than SlowBatch to deliver,
//     so a slow reader holds little in memory;
//   - nothing is sent past the URL's expiry: the deadline never reaches
//     beyond it, and the stream stops with ErrDownloadExpired once it has
//     passed.
//
// It returns the number of rows written.
func (x *Exporter) Write(ctx context.Context, e Export, out Output) (int64, error) {
	sizer := newBatchSizer(x.minBatch, x.batch)
	deadline := func() error {
		left := e.ExpiresAt.Sub(x.now())
		if left <= 0 {
			return ErrDownloadExpired
		}
		return out.SetWriteDeadline(time.Now().Add(min(x.batchDeadline, left)))
	}
	if err := deadline(); err != nil {
		return 0, err
	}
	bw := bufio.NewWriterSize(out, 64<<10)
	enc := NewEncoder(e.Format, bw)
	if err := enc.Begin(); err != nil {
		return 0, err
	}
	q := Query{
		WorkspaceID: e.WorkspaceID,
		Filter:      e.Filter.Window(x.now().Add(-x.retention)),
		From:        &Bound{Position: e.Snapshot},
		Descending:  true,
		Limit:       sizer.size(),
	}
	// deliver sends the batch on and times it; the next batch's deadline
	// starts after it.
	batchStart := time.Now()
	deliver := func() error {
		if err := bw.Flush(); err != nil {
			return err
		}
		if err := out.Flush(); err != nil {
			return err
		}
		now := time.Now()
		sizer.delivered(now.Sub(batchStart), x.slowBatch)
		batchStart = now
		return deadline()
	}
	var n int64
	inBatch := 0
	row := func(r *Row) error {
		if inBatch >= sizer.size() {
			if err := deliver(); err != nil {
				return err
			}
			inBatch = 0
		}
		n++
		inBatch++
		return enc.Row(r)
	}
	var err error
	if as, ok := x.store.(AdaptiveStreamer); ok {
		err = as.StreamEventsAdaptive(ctx, q, sizer.size, row)
	} else {
		err = x.store.StreamEvents(ctx, q, row)
	}
	if err != nil {
		return n, err
	}
	if err := enc.End(); err != nil {
		return n, err
	}
	return n, deliver()
}

// batchSizer picks the size of the next batch of a download: it starts at
// a tenth of the largest, doubles after a batch that reached the client
// quickly, and quarters after a slow one, between lo and hi rows.
type batchSizer struct {
	lo, hi int
	cur    atomic.Int64
}

func newBatchSizer(lo, hi int) *batchSizer {
	lo = max(1, min(lo, hi))
	b := &batchSizer{lo: lo, hi: hi}
	b.cur.Store(int64(max(lo, hi/10)))
	return b
}

// size is the size of the next batch (asked by the store's reader, which
// runs beside the writer).
func (b *batchSizer) size() int { return int(b.cur.Load()) }

// delivered adapts the size to how long the last batch took to reach the
// client.
func (b *batchSizer) delivered(took, slow time.Duration) {
	cur := b.size()
	switch {
	case took > slow:
		cur = max(b.lo, cur/4)
	case took < slow/10:
		cur = min(b.hi, cur*2)
	}
	b.cur.Store(int64(cur))
}

// MarshalFilter and UnmarshalFilter store a filter with its export.
func MarshalFilter(f Filter) (string, error) {
	b, err := json.Marshal(f)
	return string(b), err
}

// UnmarshalFilter reads a filter stored by MarshalFilter.
func UnmarshalFilter(s string) (Filter, error) {
	var f Filter
	err := json.Unmarshal([]byte(s), &f)
	return f, err
}
