package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/klauspost/compress/zstd"
)

// exportResult is one export download measured against the SQL floor.
type exportResult struct {
	Format string `json:"format"`
	// Encoding is the Accept-Encoding sent: identity, gzip or zstd.
	Encoding string `json:"encoding"`
	Rows     int64  `json:"rows"`
	// MiB is the file's size; WireMiB what crossed the wire (compressed).
	MiB             float64 `json:"mib"`
	WireMiB         float64 `json:"wireMib"`
	Seconds         float64 `json:"seconds"`
	RowsPerSec      float64 `json:"rowsPerSec"`
	FloorRowsPerSec float64 `json:"floorRowsPerSec"`
	OfFloor         float64 `json:"ofFloor"`
	IdleRSSMiB      float64 `json:"idleRssMiB"`
	PeakRSSMiB      float64 `json:"peakRssMiB"`
	PeakAboveIdle   float64 `json:"peakAboveIdleMiB"`
}

// exports downloads a full CSV and a full JSON export of the workspace and
// compares their rate with the floor: the same rows read with plain
// database/sql into io.Discard, in the same run (before and after, averaged).
func (b *bench) exports(ctx context.Context, rep *report) error {
	floor1, n1, err := b.floor(ctx)
	if err != nil {
		return err
	}
	var results []exportResult
	for _, format := range []string{"CSV", "JSON"} {
		for _, enc := range b.o.ExportEncodings {
			r, err := b.export(ctx, format, enc)
			if err != nil {
				return err
			}
			results = append(results, r)
		}
	}
	floor2, n2, err := b.floor(ctx)
	if err != nil {
		return err
	}
	floor := (floor1 + floor2) / 2
	for i := range results {
		results[i].FloorRowsPerSec = floor
		results[i].OfFloor = results[i].RowsPerSec / floor
	}
	rep.Exports = results
	rep.FloorRows = (n1 + n2) / 2
	return nil
}

// floor reads every event of the workspace inside the retention window, in
// export order, with database/sql: the fastest any export could go.
func (b *bench) floor(ctx context.Context) (float64, int64, error) {
	since := time.Now().Add(-90 * 24 * time.Hour).UnixMilli()
	start := time.Now()
	rows, err := b.db.QueryContext(ctx, `SELECT id, workspace_id, occurred_at, action, actor_id, actor_email, actor_type,
		target_type, target_id, target_label, previous_role, role, ip_address, user_agent, request_id
		FROM audit_events WHERE workspace_id = ? AND occurred_at >= ? ORDER BY occurred_at DESC, id DESC`, b.o.Workspace, since)
	if err != nil {
		return 0, 0, err
	}
	defer rows.Close()
	cols := make([]sql.RawBytes, 15)
	dest := make([]any, 15)
	for i := range cols {
		dest[i] = &cols[i]
	}
	var n int64
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return 0, 0, err
		}
		for _, c := range cols {
			_, _ = io.Discard.Write(c)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return 0, 0, err
	}
	return float64(n) / time.Since(start).Seconds(), n, nil
}

// export requests one export and downloads it with the given
// Accept-Encoding, decompressing as it reads, sampling the server's memory.
func (b *bench) export(ctx context.Context, format, encoding string) (exportResult, error) {
	r := exportResult{Format: format, Encoding: encoding}
	if b.o.ServerPID > 0 {
		_ = resetPeak(b.o.ServerPID)
		r.IdleRSSMiB, _, _ = memory(b.o.ServerPID)
	}
	var out struct {
		ExportAuditLog struct{ URL string }
	}
	start := time.Now()
	if err := b.gql(ctx, b.token, `mutation($w: ID!, $f: ExportFormat!) { exportAuditLog(input: {workspaceId: $w, format: $f}) { url } }`,
		map[string]any{"w": b.o.Workspace, "f": format}, &out); err != nil {
		return r, err
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, out.ExportAuditLog.URL, nil)
	req.Header.Set("Accept-Encoding", encoding)
	res, err := b.http.Do(req)
	if err != nil {
		return r, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return r, fmt.Errorf("export download: status %d", res.StatusCode)
	}
	wire := &countingReader{r: res.Body}
	var body io.Reader = wire
	switch got := res.Header.Get("Content-Encoding"); got {
	case "":
	case "gzip":
		zr, err := gzip.NewReader(wire)
		if err != nil {
			return r, err
		}
		body = zr
	case "zstd":
		zr, err := zstd.NewReader(wire)
		if err != nil {
			return r, err
		}
		defer zr.Close()
		body = zr
	default:
		return r, fmt.Errorf("export download: Content-Encoding %q", got)
	}
	if encoding != "identity" && res.Header.Get("Content-Encoding") != encoding {
		return r, fmt.Errorf("asked for %s, got Content-Encoding %q", encoding, res.Header.Get("Content-Encoding"))
	}
	rows, size, err := countRows(body, format)
	if err != nil {
		return r, err
	}
	secs := time.Since(start).Seconds()
	r.Rows, r.MiB, r.Seconds, r.RowsPerSec = rows, float64(size)/(1<<20), secs, float64(rows)/secs
	r.WireMiB = float64(wire.n) / (1 << 20)
	if b.o.ServerPID > 0 {
		_, r.PeakRSSMiB, _ = memory(b.o.ServerPID)
		r.PeakAboveIdle = r.PeakRSSMiB - r.IdleRSSMiB
	}
	return r, nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// countRows counts the records of an export body as it streams by: lines
// after the header for CSV (seeded data holds no newline inside a field),
// objects for JSON (each starts a line with "{").
func countRows(body io.Reader, format string) (int64, int64, error) {
	buf := make([]byte, 256<<10)
	var rows, size int64
	prevNL := false
	for {
		n, err := body.Read(buf)
		chunk := buf[:n]
		size += int64(n)
		if format == "CSV" {
			rows += int64(bytes.Count(chunk, []byte("\n")))
		} else {
			if prevNL && n > 0 && chunk[0] == '{' {
				rows++
			}
			rows += int64(bytes.Count(chunk, []byte("\n{")))
			prevNL = n > 0 && chunk[n-1] == '\n'
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, 0, err
		}
	}
	if format == "CSV" && rows > 0 {
		rows-- // the header
	}
	return rows, size, nil
}
