package graph

import (
	"context"
	"strings"
	"testing"
)

// TestBoundedCacheHoldsItsBytes: the cache evicts the least recently used
// entries to stay within its bytes, and keeps no entry over its entry bound.
func TestBoundedCacheHoldsItsBytes(t *testing.T) {
	ctx := context.Background()
	c := newBoundedCache(100, 40, func(k, v string) int { return len(k) + len(v) })
	c.Add(ctx, "a", strings.Repeat("x", 29)) // 30 bytes
	c.Add(ctx, "b", strings.Repeat("x", 29))
	c.Add(ctx, "c", strings.Repeat("x", 29))
	if _, ok := c.Get(ctx, "a"); !ok { // a is now the most recently used
		t.Fatal("a was evicted early")
	}
	c.Add(ctx, "d", strings.Repeat("x", 29)) // 120 bytes: b goes
	if _, ok := c.Get(ctx, "b"); ok {
		t.Error("b, the least recently used, is still there")
	}
	for _, k := range []string{"a", "c", "d"} {
		if _, ok := c.Get(ctx, k); !ok {
			t.Errorf("%s was evicted", k)
		}
	}
	if c.Bytes() > 100 || c.Len() != 3 {
		t.Errorf("%d entries, %d bytes", c.Len(), c.Bytes())
	}
	c.Add(ctx, "big", strings.Repeat("x", 50))
	if _, ok := c.Get(ctx, "big"); ok {
		t.Error("an entry over the entry bound was kept")
	}
	c.Add(ctx, "a", "y") // replacing shrinks the total
	if v, _ := c.Get(ctx, "a"); v != "y" || c.Bytes() != 2+60 {
		t.Errorf("after replacing a: %q, %d bytes", v, c.Bytes())
	}
}
