// Package model holds the GraphQL edge's own types: the Time scalar, the
// audit log connection, and the input and payload types gqlgen generates.
// Domain types (workspace.Workspace, audit.Event, …) are bound directly.
package model

import (
	"io"
	"strconv"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/auditlogd/auditlogd/internal/apperr"
	"github.com/auditlogd/auditlogd/internal/timefmt"
)

// MarshalTime writes a Time: RFC 3339, UTC, millisecond precision.
func MarshalTime(t time.Time) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		_, _ = io.WriteString(w, strconv.Quote(timefmt.Format(t)))
	})
}

// UnmarshalTime reads a Time: RFC 3339 with any offset, converted to UTC.
// A bad value is the client's mistake, so its error is BAD_USER_INPUT (gqlgen
// adds the path of the argument).
func UnmarshalTime(v any) (time.Time, error) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, apperr.New(apperr.BadUserInput, "Time must be an RFC 3339 string such as 2026-11-28T09:30:00Z")
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, apperr.New(apperr.BadUserInput, "Time must be an RFC 3339 string such as 2026-11-28T09:30:00Z")
	}
	if t.Year() < 1970 || t.Year() > 9999 {
		return time.Time{}, apperr.New(apperr.BadUserInput, "Time must be between 1970 and 9999")
	}
	return t.UTC(), nil
}
