package apperr

import (
	"context"
	"sync"
	"time"
)

// Hint carries what an error deep inside a GraphQL operation means for the
// HTTP response: a RATE_LIMITED error must become HTTP 429 with
// Retry-After, although GraphQL answers errors with 200. The HTTP layer puts
// a Hint in the context; the error presenter notes rate-limit errors in it.
type Hint struct {
	mu         sync.Mutex
	retryAfter time.Duration
}

type hintKey struct{}

// WithHint returns a context carrying a fresh Hint.
func WithHint(ctx context.Context) (context.Context, *Hint) {
	h := &Hint{}
	return context.WithValue(ctx, hintKey{}, h), h
}

// NoteRateLimited records, in ctx's Hint if any, that the request was rate
// limited and when to retry.
func NoteRateLimited(ctx context.Context, retryAfter time.Duration) {
	if h, ok := ctx.Value(hintKey{}).(*Hint); ok {
		h.mu.Lock()
		h.retryAfter = max(h.retryAfter, retryAfter, time.Second)
		h.mu.Unlock()
	}
}

// RateLimited reports whether the request was rate limited, and when to retry.
func (h *Hint) RateLimited() (bool, time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.retryAfter > 0, h.retryAfter
}
