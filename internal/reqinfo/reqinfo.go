// Package reqinfo carries what the HTTP layer learns about a request — its
// id, the client's address and user agent — through the context, to the
// services that stamp it on the events they write and to the logs.
package reqinfo

import "context"

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
