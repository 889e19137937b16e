// Package timefmt is how auditlogd writes times: in the API, in exports and
// in file names. Always UTC.
package timefmt

import "time"

// Layout is how times are written in the API and in exports: RFC 3339, UTC,
// millisecond precision.
const Layout = "2006-01-02T15:04:05.000Z07:00"

// Format writes t in Layout, in UTC.
func Format(t time.Time) string { return t.UTC().Format(Layout) }

// File writes t for a file name: 20261128T093000Z.
func File(t time.Time) string { return t.UTC().Format("20060102T150405Z") }
