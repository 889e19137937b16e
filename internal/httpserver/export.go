package httpserver

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/reqinfo"
)

// ExportDownloader checks export URLs and writes export files; the audit
// package's Exporter implements it.
type ExportDownloader interface {
	Open(ctx context.Context, id, expires, signature string) (audit.Export, error)
	Write(ctx context.Context, e audit.Export, w io.Writer, flush func()) (int64, error)
}

// download serves GET /exports/{id}?expires=…&signature=…: no Authorization
// header, the signature is the credential. The file is streamed in batches
// and flushed as it goes; this route alone has no write deadline, and the
// work stops when the client goes away (the request context ends).
func (s *server) download(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	e, err := s.deps.Exports.Open(r.Context(), chi.URLParam(r, "id"), q.Get("expires"), q.Get("signature"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", e.Format.ContentType())
	h.Set("Content-Disposition", `attachment; filename="`+e.FileName()+`"`)
	h.Set("Cache-Control", "no-store")
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	start := time.Now()
	n, err := s.deps.Exports.Write(r.Context(), e, w, func() { _ = rc.Flush() })
	s.metrics.AddExportRows(string(e.Format), n)
	if err != nil {
		if r.Context().Err() == nil {
			s.log.ErrorContext(r.Context(), "export: stream failed", "request_id", reqinfo.From(r.Context()).RequestID,
				"export_id", e.ID, "rows", n, "error", err.Error())
		}
		// Break the connection rather than end a short file cleanly: the
		// client must see that the download failed.
		panic(http.ErrAbortHandler)
	}
	s.log.InfoContext(r.Context(), "export downloaded", "request_id", reqinfo.From(r.Context()).RequestID,
		"export_id", e.ID, "workspace_id", e.WorkspaceID, "format", string(e.Format), "rows", n,
		"duration_ms", time.Since(start).Milliseconds())
}
