// Package ratelimit keeps token buckets per key (a user, or a client
// address) in memory, forgetting keys that have been idle long enough to be
// full again, so that memory stays bounded by the number of active clients.
package ratelimit

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter is a set of token buckets, one per key, all with the same rate
// and burst.
type Limiter struct {
	limit rate.Limit
	burst int
	now   func() time.Time

	mu        sync.Mutex
	buckets   map[string]*rate.Limiter
	lastSweep time.Time
}

// New returns a Limiter allowing perSecond events per second per key, in
// bursts of up to burst. now is the clock (time.Now).
func New(perSecond float64, burst int, now func() time.Time) *Limiter {
	return &Limiter{limit: rate.Limit(perSecond), burst: max(1, burst), now: now, buckets: map[string]*rate.Limiter{}}
}

// PerMinute returns a Limiter allowing n events per minute per key, in bursts
// of up to n.
func PerMinute(n int, now func() time.Time) *Limiter {
	return New(float64(n)/60, n, now)
}

func (l *Limiter) bucket(key string) *rate.Limiter {
	now := l.now()
	if now.Sub(l.lastSweep) > time.Minute {
		l.sweep(now)
	}
	b, ok := l.buckets[key]
	if !ok {
		b = rate.NewLimiter(l.limit, l.burst)
		l.buckets[key] = b
	}
	return b
}

// sweep forgets buckets that are full again: they hold no information.
func (l *Limiter) sweep(now time.Time) {
	l.lastSweep = now
	for k, b := range l.buckets {
		if b.TokensAt(now) >= float64(l.burst) {
			delete(l.buckets, k)
		}
	}
}

// Allow takes one token from key's bucket. When there is none it returns
// false and how long until there will be.
func (l *Limiter) Allow(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	r := l.bucket(key).ReserveN(now, 1)
	if !r.OK() {
		return false, time.Minute
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// Check reports, without taking a token, whether key has one left, and if
// not, how long until it will.
func (l *Limiter) Check(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.bucket(key)
	tokens := b.TokensAt(now)
	if tokens >= 1 {
		return true, 0
	}
	if l.limit <= 0 {
		return false, time.Minute
	}
	return false, time.Duration((1 - tokens) / float64(l.limit) * float64(time.Second))
}

// Len is the number of keys held, for tests.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
