package graph

import (
	"container/list"
	"context"
	"sync"

	"github.com/99designs/gqlgen/graphql"
)

// boundedCache is a least-recently-used cache bounded by the bytes it holds,
// not by its number of entries: its keys (and, for persisted queries, its
// values) are query strings that clients send, up to 1 MiB each, so a cache
// of "1000 entries" could hold a gigabyte. An entry larger than maxEntry is
// not kept at all.
type boundedCache[T any] struct {
	maxBytes, maxEntry int
	size               func(key string, v T) int

	mu    sync.Mutex
	used  int
	order *list.List // front: most recently used
	items map[string]*list.Element
}

type cacheEntry[T any] struct {
	key   string
	value T
	bytes int
}

var _ graphql.Cache[string] = (*boundedCache[string])(nil)

// newBoundedCache returns a cache of at most maxBytes, as measured by size,
// that keeps no entry larger than maxEntry.
func newBoundedCache[T any](maxBytes, maxEntry int, size func(key string, v T) int) *boundedCache[T] {
	return &boundedCache[T]{maxBytes: maxBytes, maxEntry: maxEntry, size: size, order: list.New(), items: map[string]*list.Element{}}
}

// Get returns the value of key and marks it recently used.
func (c *boundedCache[T]) Get(_ context.Context, key string) (T, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.order.MoveToFront(el)
		return el.Value.(*cacheEntry[T]).value, true
	}
	var zero T
	return zero, false
}

// Add keeps value under key, evicting the least recently used entries until
// it fits.
func (c *boundedCache[T]) Add(_ context.Context, key string, value T) {
	n := c.size(key, value)
	if n > c.maxEntry || n > c.maxBytes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		e := el.Value.(*cacheEntry[T])
		c.used += n - e.bytes
		e.value, e.bytes = value, n
		c.order.MoveToFront(el)
	} else {
		c.items[key] = c.order.PushFront(&cacheEntry[T]{key: key, value: value, bytes: n})
		c.used += n
	}
	for c.used > c.maxBytes {
		last := c.order.Back()
		e := last.Value.(*cacheEntry[T])
		c.order.Remove(last)
		delete(c.items, e.key)
		c.used -= e.bytes
	}
}

// Len is the number of entries, for tests.
func (c *boundedCache[T]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}

// Bytes is the size held, for tests.
func (c *boundedCache[T]) Bytes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}
