// Package reqinfo carries what the HTTP layer learns about a request — its
// id, the client's address and user agent — through the context, to the
// services that stamp it on the events they write and to the logs.
package reqinfo

import (
	"context"
	"sync/atomic"
)

// Info is the request an event came from.
type Info struct {
	RequestID string
	IPAddress string
	UserAgent string
}

type key struct{}

// With returns a context that carries info.
func With(ctx context.Context, info Info) context.Context {
	return context.WithValue(ctx, key{}, info)
}

// From returns the request info in ctx, or the zero value.
func From(ctx context.Context) Info {
	info, _ := ctx.Value(key{}).(Info)
	return info
}

// Queries counts the database statements one request causes. The HTTP layer
// puts one in the context and logs it with the request; the store adds one
// per statement it runs for the request. It is how a test (or an operator
// reading the log) sees that a request's database work is bounded.
type Queries struct{ n atomic.Int64 }

// Add counts one statement.
func (q *Queries) Add() { q.n.Add(1) }

// Count returns the statements counted so far.
func (q *Queries) Count() int64 { return q.n.Load() }

type queriesKey struct{}

// WithQueries returns a context that counts the statements run with it.
func WithQueries(ctx context.Context) (context.Context, *Queries) {
	q := &Queries{}
	return context.WithValue(ctx, queriesKey{}, q), q
}

// CountQuery counts one statement against ctx's counter, if it has one.
func CountQuery(ctx context.Context) {
	if q, ok := ctx.Value(queriesKey{}).(*Queries); ok {
		q.Add()
	}
}
