package stream

import (
	"testing"
	"time"
)

// lowest and highest are randN functions that pick the ends of the range.
func lowest(int64) int64    { return 0 }
func highest(n int64) int64 { return n - 1 }

func TestBackoffBounds(t *testing.T) {
	for _, tc := range []struct {
		name     string
		failures int
		min, max time.Duration
	}{
		{"first-failure-waits-exactly-1s", 1, time.Second, time.Second},
		{"second-up-to-2s", 2, time.Second, 2 * time.Second},
		{"third-up-to-4s", 3, time.Second, 4 * time.Second},
		{"ninth-up-to-256s", 9, time.Second, 256 * time.Second},
		{"tenth-capped-at-5min", 10, time.Second, 5 * time.Minute},
		{"hundredth-capped-without-overflow", 100, time.Second, 5 * time.Minute},
		{"huge-count-capped-without-overflow", 1 << 40, time.Second, 5 * time.Minute},
		{"zero-treated-as-first", 0, time.Second, time.Second},
		{"negative-treated-as-first", -3, time.Second, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Backoff(tc.failures, lowest); got != tc.min {
				t.Errorf("lowest draw = %v, want %v", got, tc.min)
			}
			if got := Backoff(tc.failures, highest); got != tc.max {
				t.Errorf("highest draw = %v, want %v", got, tc.max)
			}
		})
	}
}

func TestBackoffWithTheDefaultSourceStaysInItsWindow(t *testing.T) {
	seen := map[time.Duration]bool{}
	for range 200 {
		d := Backoff(6, nil)
		if d < time.Second || d > 32*time.Second {
			t.Fatalf("Backoff(6) = %v, outside [1s, 32s]", d)
		}
		seen[d] = true
	}
	if len(seen) < 100 {
		t.Errorf("200 draws gave only %d distinct delays: no jitter?", len(seen))
	}
}

func TestHealthTransitions(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	fail := func(h Health, msg string) Health { return h.Failed(t0, msg, lowest) }
	failN := func(h Health, n int) Health {
		for range n {
			h = fail(h, "HTTP 500")
		}
		return h
	}
	for _, tc := range []struct {
		name string
		h    Health
		want Health
	}{
		{"new-stream-is-active", NewHealth(), Health{Status: Active}},
		{"one-failure-still-active", fail(NewHealth(), "HTTP 500"),
			Health{Status: Active, ConsecutiveFailures: 1, LastError: "HTTP 500", NextAttemptAt: t0.Add(time.Second)}},
		{"two-failures-still-active", failN(NewHealth(), 2),
			Health{Status: Active, ConsecutiveFailures: 2, LastError: "HTTP 500", NextAttemptAt: t0.Add(time.Second)}},
		{"third-failure-in-a-row-is-failing", failN(NewHealth(), 3),
			Health{Status: Failing, ConsecutiveFailures: 3, LastError: "HTTP 500", NextAttemptAt: t0.Add(time.Second)}},
		{"more-failures-stay-failing-with-the-latest-error", fail(failN(NewHealth(), 5), "timeout after 10s"),
			Health{Status: Failing, ConsecutiveFailures: 6, LastError: "timeout after 10s", NextAttemptAt: t0.Add(time.Second)}},
		{"success-after-failing-is-active-and-forgets", failN(NewHealth(), 4).Succeeded(t0),
			Health{Status: Active, LastDeliveryAt: t0, NextAttemptAt: t0}},
		{"success-resets-the-count-two-more-failures-still-active", failN(failN(NewHealth(), 2).Succeeded(t0), 2),
			Health{Status: Active, ConsecutiveFailures: 2, LastError: "HTTP 500", LastDeliveryAt: t0, NextAttemptAt: t0.Add(time.Second)}},
		{"a-failure-keeps-the-last-delivery-time", fail(NewHealth().Succeeded(t0.Add(-time.Hour)), "connection refused"),
			Health{Status: Active, ConsecutiveFailures: 1, LastError: "connection refused", LastDeliveryAt: t0.Add(-time.Hour), NextAttemptAt: t0.Add(time.Second)}},
		{"zero-health-fails-into-active", fail(Health{}, "HTTP 500"),
			Health{Status: Active, ConsecutiveFailures: 1, LastError: "HTTP 500", NextAttemptAt: t0.Add(time.Second)}},
		{"record-acknowledged-is-success", failN(NewHealth(), 3).Record(Result{Acknowledged: true, StatusCode: 200}, t0, lowest),
			Health{Status: Active, LastDeliveryAt: t0, NextAttemptAt: t0}},
		{"record-failure-keeps-its-message", NewHealth().Record(Result{StatusCode: 503, Error: "HTTP 503"}, t0, lowest),
			Health{Status: Active, ConsecutiveFailures: 1, LastError: "HTTP 503", NextAttemptAt: t0.Add(time.Second)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.h != tc.want {
				t.Errorf("got  %+v\nwant %+v", tc.h, tc.want)
			}
		})
	}
}

func TestHealthFailedWaitsLongerAfterEachFailure(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h := NewHealth()
	for i, want := range []time.Duration{1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300} {
		h = h.Failed(t0, "HTTP 500", highest)
		if got := h.NextAttemptAt.Sub(t0); got != want*time.Second {
			t.Errorf("after failure %d: next attempt in %v, want %v", i+1, got, want*time.Second)
		}
	}
}
