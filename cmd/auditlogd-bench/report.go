package main

import (
	"fmt"
	"io"
	"time"
)

// report is everything one run measured.
type report struct {
	Started   time.Time      `json:"started"`
	Machine   string         `json:"machine"`
	Workspace string         `json:"workspace"`
	FloorRows int64          `json:"floorRows,omitempty"`
	Reads     []readResult   `json:"reads,omitempty"`
	Exports   []exportResult `json:"exports,omitempty"`
	Writes    *writeResult   `json:"writes,omitempty"`
	Streams   *streamsResult `json:"streams,omitempty"`
}

// markdown prints the report as markdown tables, ready for BENCHMARKS.md.
func (r *report) markdown(w io.Writer) {
	fmt.Fprintf(w, "Run %s on %s; workspace %s.\n\n", r.Started.Format(time.RFC3339), r.Machine, r.Workspace)
	if len(r.Reads) > 0 {
		fmt.Fprintln(w, "| read | rows | API p50 | API p95 | API p99 | SQL p50 | SQL p95 | SQL p99 | API ÷ SQL (p50) |")
		fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
		for _, x := range r.Reads {
			name := x.Name
			if x.Note != "" {
				name += " (" + x.Note + ")"
			}
			fmt.Fprintf(w, "| %s | %d | %.2f ms | %.2f ms | %.2f ms | %.2f ms | %.2f ms | %.2f ms | %.2f |\n",
				name, x.Rows, x.P50, x.P95, x.P99, x.SQLP50, x.SQLP95, x.SQLP99, x.Ratio)
		}
		fmt.Fprintln(w)
		fmt.Fprintln(w, "EXPLAIN of each read's SQL:")
		fmt.Fprintln(w)
		for _, x := range r.Reads {
			fmt.Fprintf(w, "%s\n\n```sql\n%s\n```\n\n```\n%s```\n\n", x.Name, x.SQL, x.Explain)
		}
	}
	if len(r.Exports) > 0 {
		fmt.Fprintf(w, "Export of %d rows; floor = the same rows read with database/sql into io.Discard, same run.\n\n", r.FloorRows)
		fmt.Fprintln(w, "| format | encoding | rows | MiB | MiB on the wire | seconds | rows/s | floor rows/s | of floor | server idle RSS | peak RSS | peak above idle |")
		fmt.Fprintln(w, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
		for _, x := range r.Exports {
			fmt.Fprintf(w, "| %s | %s | %d | %.1f | %.1f | %.2f | %.0f | %.0f | %.0f%% | %.1f MiB | %.1f MiB | %.1f MiB |\n",
				x.Format, x.Encoding, x.Rows, x.MiB, x.WireMiB, x.Seconds, x.RowsPerSec, x.FloorRowsPerSec, 100*x.OfFloor, x.IdleRSSMiB, x.PeakRSSMiB, x.PeakAboveIdle)
		}
		fmt.Fprintln(w)
	}
	if x := r.Writes; x != nil {
		fmt.Fprintln(w, "| audited mutations | clients | seconds | mutations | per second | p50 | p99 | errors | events expected | events found |")
		fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
		fmt.Fprintf(w, "| invite create/delete, role up/down, remove/add | %d | %.1f | %d | %.0f | %.2f ms | %.2f ms | %d | %d | %d |\n\n",
			x.Clients, x.Seconds, x.Mutations, x.PerSec, x.P50, x.P99, x.Errors, x.EventsExpected, x.EventsFound)
	}
	if r.Streams != nil {
		r.Streams.markdown(w)
	}
}
