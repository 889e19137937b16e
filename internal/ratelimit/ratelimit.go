// Package ratelimit keeps token buckets per key (a user, or a client
// address) in memory, forgetting keys that have been idle long enough to be
// full again, so that memory stays bounded by the number of active clients.
package ratelimit

import (
	"net/netip"
	"sync"
	"time"
)

// Limiter is a set of token buckets, one per key, all with the same rate
// and burst. A new key starts with a full bucket.
type Limiter struct {
	perSecond float64
	burst     float64
	now       func() time.Time

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

// bucket holds tokens as of last.
type bucket struct {
	tokens float64
	last   time.Time
}

// New returns a Limiter allowing perSecond events per second per key, in
// bursts of up to burst. now is the clock (time.Now).
func New(perSecond float64, burst int, now func() time.Time) *Limiter {
	return &Limiter{perSecond: max(0, perSecond), burst: float64(max(1, burst)), now: now, buckets: map[string]*bucket{}}
}

// PerMinute returns a Limiter allowing n events per minute per key, in bursts
// of up to n.
func PerMinute(n int, now func() time.Time) *Limiter {
	return New(float64(n)/60, n, now)
}

// tokensAt is what b holds at now: what it held, plus the refill since, up to
// the burst. A clock that went back refills nothing.
func (l *Limiter) tokensAt(b *bucket, now time.Time) float64 {
	t := b.tokens
	if now.After(b.last) {
		t += now.Sub(b.last).Seconds() * l.perSecond
	}
	return min(t, l.burst)
}

// bucket returns key's bucket brought up to now. Callers hold l.mu.
func (l *Limiter) bucket(key string, now time.Time) *bucket {
	if now.Sub(l.lastSweep) > time.Minute {
		l.sweep(now)
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = l.tokensAt(b, now)
	if now.After(b.last) {
		b.last = now
	}
	return b
}

// sweep forgets buckets that are full again: they hold no information.
func (l *Limiter) sweep(now time.Time) {
	l.lastSweep = now
	for k, b := range l.buckets {
		if l.tokensAt(b, now) >= l.burst {
			delete(l.buckets, k)
		}
	}
}

// wait is how long until a bucket holding tokens has one.
func (l *Limiter) wait(tokens float64) time.Duration {
	if l.perSecond <= 0 {
		return time.Minute
	}
	return time.Duration((1 - tokens) / l.perSecond * float64(time.Second))
}

// Allow takes one token from key's bucket. When there is none it returns
// false and how long until there will be.
func (l *Limiter) Allow(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(key, l.now())
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, l.wait(b.tokens)
}

// Refund gives back a token that Allow took, for an event that turned out
// not to count; a bucket never holds more than its burst.
func (l *Limiter) Refund(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(key, l.now())
	b.tokens = min(b.tokens+1, l.burst)
}

// Check reports, without taking a token, whether key has one left, and if
// not, how long until it will.
func (l *Limiter) Check(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(key, l.now())
	if b.tokens >= 1 {
		return true, 0
	}
	return false, l.wait(b.tokens)
}

// Len is the number of keys held, for tests.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// AddressKey is the bucket key of a client address: an IPv6 address by its
// /64, since one host or household usually holds a whole /64 and could
// otherwise take a fresh bucket for every request; an IPv4 address (or an
// IPv4-mapped IPv6 one) by itself. Anything that is not an address is its
// own key.
func AddressKey(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	return netip.PrefixFrom(a.WithZone(""), 64).Masked().String()
}
