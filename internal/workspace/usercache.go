package workspace

import (
	"sync"
	"time"
)

// userCache remembers, for a short while, which token identities are already
// saved as they are, so that EnsureUser does not read the user row on every
// request. Users are only ever created or refreshed by EnsureUser, so an
// entry can only be stale if the row changed through another replica, and it
// then refreshes within the TTL.
type userCache struct {
	mu  sync.Mutex
	m   map[string]cachedUser
	max int
	ttl time.Duration
}

type cachedUser struct {
	fingerprint string
	at          time.Time
}

func newUserCache() *userCache {
	return &userCache{m: map[string]cachedUser{}, max: 10_000, ttl: time.Minute}
}

func (c *userCache) fresh(id, fingerprint string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[id]
	return ok && e.fingerprint == fingerprint && now.Sub(e.at) < c.ttl
}

func (c *userCache) put(id, fingerprint string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		clear(c.m) // crude but bounded: the next requests refill it
	}
	c.m[id] = cachedUser{fingerprint: fingerprint, at: now}
}
