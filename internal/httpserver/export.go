package httpserver

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/auditlogd/auditlogd/internal/apperr"
	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/ratelimit"
	"github.com/auditlogd/auditlogd/internal/reqinfo"
)

// ExportDownloader checks export URLs and writes export files; the audit
// package's Exporter implements it.
type ExportDownloader interface {
	Open(ctx context.Context, id, expires, signature string) (audit.Export, error)
	Write(ctx context.Context, e audit.Export, out audit.Output) (int64, error)
}

// DownloadLimits bound the export downloads that run at once, so that
// clients that open downloads and stop reading cannot hold the server's
// memory: each running download holds up to two batches of rows.
type DownloadLimits struct {
	// PerExport: downloads of one export at once (2 when zero). One person
	// fetching their file needs one; a retry while the first is dying, two.
	PerExport int
	// PerClient: downloads from one client address (an IPv6 /64) at once
	// (4 when zero).
	PerClient int
	// Total: downloads at once in this process (32 when zero).
	Total int
}

// downloadRetryAfter is what a refused download is told to wait.
const downloadRetryAfter = 10 * time.Second

// downloadSlots counts the running downloads by export and by client.
type downloadSlots struct {
	limits DownloadLimits

	mu        sync.Mutex
	total     int
	perExport map[string]int
	perClient map[string]int
}

func newDownloadSlots(l DownloadLimits) *downloadSlots {
	if l.PerExport <= 0 {
		l.PerExport = 2
	}
	if l.PerClient <= 0 {
		l.PerClient = 4
	}
	if l.Total <= 0 {
		l.Total = 32
	}
	return &downloadSlots{limits: l, perExport: map[string]int{}, perClient: map[string]int{}}
}

// take claims a slot for a download of export by client, or says which
// limit is reached. release gives the slot back.
func (d *downloadSlots) take(export, client string) (release func(), refused string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.perExport[export] >= d.limits.PerExport:
		return nil, "this export is already being downloaded " + strconv.Itoa(d.limits.PerExport) + " times at once"
	case d.perClient[client] >= d.limits.PerClient:
		return nil, "you are already running " + strconv.Itoa(d.limits.PerClient) + " export downloads at once"
	case d.total >= d.limits.Total:
		return nil, "the server is running as many export downloads as it may"
	}
	d.total++
	d.perExport[export]++
	d.perClient[client]++
	var once sync.Once
	return func() {
		once.Do(func() {
			d.mu.Lock()
			defer d.mu.Unlock()
			d.total--
			if d.perExport[export]--; d.perExport[export] == 0 {
				delete(d.perExport, export)
			}
			if d.perClient[client]--; d.perClient[client] == 0 {
				delete(d.perClient, client)
			}
		})
	}, ""
}

// isNetError reports whether err came from the connection to the client.
func isNetError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne)
}

// responseOutput is an HTTP response as an export's Output: flushes and
// write deadlines go through http.ResponseController, which finds them
// beneath the middleware's writers (compression, access log).
type responseOutput struct {
	http.ResponseWriter
	rc *http.ResponseController
}

func (o responseOutput) Flush() error                       { return o.rc.Flush() }
func (o responseOutput) SetWriteDeadline(t time.Time) error { return o.rc.SetWriteDeadline(t) }

// download serves GET /exports/{id}?expires=…&signature=…: no Authorization
// header, the signature is the credential. The file is streamed in batches,
// each of which must reach the client within a rolling write deadline;
// downloads at once are bounded per export, per client and in all; the work
// stops when the client goes away (the request context ends), when a batch
// misses its deadline, and at the URL's expiry.
func (s *server) download(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	e, err := s.deps.Exports.Open(r.Context(), chi.URLParam(r, "id"), q.Get("expires"), q.Get("signature"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	release, refused := s.downloads.take(e.ID, ratelimit.AddressKey(reqinfo.From(r.Context()).IPAddress))
	if refused != "" {
		s.metrics.DownloadRefused()
		w.Header().Set("Retry-After", retryAfter(downloadRetryAfter))
		s.fail(w, r, apperr.New(apperr.RateLimited, "%s; try again in %s s", refused, retryAfter(downloadRetryAfter)))
		return
	}
	defer release()
	s.metrics.DownloadStarted()
	defer s.metrics.DownloadFinished()
	h := w.Header()
	h.Set("Content-Type", e.Format.ContentType())
	h.Set("Content-Disposition", `attachment; filename="`+e.FileName()+`"`)
	h.Set("Cache-Control", "no-store")
	start := time.Now()
	n, err := s.deps.Exports.Write(r.Context(), e, responseOutput{ResponseWriter: w, rc: http.NewResponseController(w)})
	s.metrics.AddExportRows(string(e.Format), n)
	if err != nil {
		reqID := reqinfo.From(r.Context()).RequestID
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			s.log.WarnContext(r.Context(), "export: the client did not take the file in time; download cut off",
				"request_id", reqID, "export_id", e.ID, "rows", n, "error", err.Error())
		case errors.Is(err, audit.ErrDownloadExpired):
			s.log.WarnContext(r.Context(), "export: the URL expired while the file was being sent; download cut off",
				"request_id", reqID, "export_id", e.ID, "rows", n)
		case r.Context().Err() != nil || isNetError(err):
			s.log.InfoContext(r.Context(), "export: the client went away", "request_id", reqID, "export_id", e.ID, "rows", n)
		default:
			s.log.ErrorContext(r.Context(), "export: stream failed", "request_id", reqID, "export_id", e.ID, "rows", n, "error", err.Error())
		}
		// Break the connection rather than end a short file cleanly: the
		// client must see that the download failed.
		release()
		panic(http.ErrAbortHandler)
	}
	s.log.InfoContext(r.Context(), "export downloaded", "request_id", reqinfo.From(r.Context()).RequestID,
		"export_id", e.ID, "workspace_id", e.WorkspaceID, "format", string(e.Format), "rows", n,
		"duration_ms", time.Since(start).Milliseconds())
}
