package stream

import (
	"math/rand/v2"
	"time"
)

// Status is a stream's delivery status. The values are the GraphQL enum
// LogStreamStatus's names.
type Status string

// The statuses (docs/API.md §11).
const (
	Active  Status = "ACTIVE"
	Failing Status = "FAILING"
)

// The retry schedule (docs/API.md §11): exponential backoff with jitter from
// 1 s up to 5 min, and FAILING after 3 failures in a row.
const (
	MinBackoff   = time.Second
	MaxBackoff   = 5 * time.Minute
	FailingAfter = 3
)

// Backoff is how long to wait after the n-th failure in a row (n >= 1)
// before retrying: "full jitter", a uniform draw between MinBackoff and a
// ceiling that doubles with each failure (1 s, 2 s, 4 s, …) up to
// MaxBackoff. The jitter spreads the retries of many streams that failed
// together (one receiver down, one replica restarted) instead of sending
// them all back at the same instant; the 1 s floor means a receiver is never
// retried faster than once a second.
//
// randN(n) must return a uniform integer in [0, n); nil means
// math/rand/v2's Int64N. Tests pass a fixed one to see the bounds.
func Backoff(n int, randN func(n int64) int64) time.Duration {
	if randN == nil {
		randN = rand.Int64N
	}
	ceiling := MaxBackoff
	if n < 1 {
		n = 1
	}
	// 2^9 s > 5 min already, so shifting further could only overflow.
	if n <= 9 {
		ceiling = min(MinBackoff<<(n-1), MaxBackoff)
	}
	return MinBackoff + time.Duration(randN(int64(ceiling-MinBackoff)+1))
}

// Health is what a stream remembers of its recent deliveries: the status
// and lastError the admin sees, and when to try next. The deliverer stores
// it with the stream after each attempt; Succeeded and Failed are its only
// transitions.
type Health struct {
	Status Status
	// ConsecutiveFailures counts failures since the last success.
	ConsecutiveFailures int
	// LastError is the last failure's Result.Error; "" after a success, so
	// that an ACTIVE stream does not show yesterday's problem as current.
	LastError string
	// LastDeliveryAt is when a batch was last acknowledged; zero if never.
	LastDeliveryAt time.Time
	// NextAttemptAt is when the deliverer may try again: now after a
	// success (more events may be waiting), now + Backoff after a failure.
	NextAttemptAt time.Time
}

// NewHealth is a new stream's health: ACTIVE, nothing delivered yet.
func NewHealth() Health { return Health{Status: Active} }

// Succeeded is h after a batch was acknowledged at now: ACTIVE again,
// failures forgotten.
func (h Health) Succeeded(now time.Time) Health {
	return Health{Status: Active, LastDeliveryAt: now, NextAttemptAt: now}
}

// Failed is h after an attempt that failed at now with the message errMsg
// (Result.Error): one more failure in a row, FAILING from the third, and the
// next attempt after Backoff.
func (h Health) Failed(now time.Time, errMsg string, randN func(n int64) int64) Health {
	h.ConsecutiveFailures++
	h.LastError = errMsg
	if h.ConsecutiveFailures >= FailingAfter {
		h.Status = Failing
	} else if h.Status == "" {
		h.Status = Active
	}
	h.NextAttemptAt = now.Add(Backoff(h.ConsecutiveFailures, randN))
	return h
}

// Record is Succeeded or Failed according to r, the outcome of Deliver.
// A cancelled delivery is not the receiver's failure; the deliverer should
// not record it at all (see Client.Deliver).
func (h Health) Record(r Result, now time.Time, randN func(n int64) int64) Health {
	if r.Acknowledged {
		return h.Succeeded(now)
	}
	return h.Failed(now, r.Error, randN)
}
