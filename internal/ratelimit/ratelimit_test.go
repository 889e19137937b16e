package ratelimit

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a clock that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// drain takes tokens until refused and returns how many it got and the
// wait of the refusal.
func drain(t *testing.T, l *Limiter, key string) (int, time.Duration) {
	t.Helper()
	for n := 0; n < 10_000; n++ {
		if ok, wait := l.Allow(key); !ok {
			return n, wait
		} else if wait != 0 {
			t.Fatalf("allowed with a wait of %s", wait)
		}
	}
	t.Fatal("never refused")
	return 0, 0
}

func TestBurstThenRefused(t *testing.T) {
	c := newFakeClock()
	l := New(2, 10, c.now)
	n, wait := drain(t, l, "user:a")
	if n != 10 {
		t.Errorf("a new key got %d tokens, want the burst of 10", n)
	}
	if wait != 500*time.Millisecond {
		t.Errorf("wait %s, want 500ms at 2/s", wait)
	}
	// Refusals take nothing: the wait does not grow.
	for i := 0; i < 5; i++ {
		if ok, w := l.Allow("user:a"); ok || w != wait {
			t.Fatalf("refusal %d: ok=%v wait=%s", i, ok, w)
		}
	}
}

func TestRefillOverTime(t *testing.T) {
	c := newFakeClock()
	l := New(2, 10, c.now)
	drain(t, l, "k")
	c.advance(250 * time.Millisecond)
	if ok, wait := l.Allow("k"); ok || wait != 250*time.Millisecond {
		t.Errorf("half a token: ok=%v wait=%s, want refused for 250ms", ok, wait)
	}
	c.advance(250 * time.Millisecond)
	if n, _ := drain(t, l, "k"); n != 1 {
		t.Errorf("after 500ms: %d tokens, want 1", n)
	}
	c.advance(3 * time.Second)
	if n, _ := drain(t, l, "k"); n != 6 {
		t.Errorf("after 3s: %d tokens, want 6", n)
	}
	c.advance(time.Hour)
	if n, _ := drain(t, l, "k"); n != 10 {
		t.Errorf("after an hour: %d tokens, want the burst of 10 (no more)", n)
	}
}

func TestPerMinute(t *testing.T) {
	c := newFakeClock()
	l := PerMinute(3, c.now)
	n, wait := drain(t, l, "ip:192.0.2.1")
	if n != 3 || wait != 20*time.Second {
		t.Errorf("got %d then a wait of %s, want 3 then 20s", n, wait)
	}
	c.advance(20 * time.Second)
	if n, _ := drain(t, l, "ip:192.0.2.1"); n != 1 {
		t.Errorf("after 20s: %d, want 1", n)
	}
	c.advance(time.Minute)
	if n, _ := drain(t, l, "ip:192.0.2.1"); n != 3 {
		t.Errorf("after a minute: %d, want 3", n)
	}
}

func TestKeysAreIndependent(t *testing.T) {
	c := newFakeClock()
	l := New(1, 3, c.now)
	drain(t, l, "user:a")
	if n, _ := drain(t, l, "user:b"); n != 3 {
		t.Errorf("user:b got %d, want its own burst of 3", n)
	}
	if n, _ := drain(t, l, "ip:user:a"); n != 3 {
		t.Errorf("a key that merely contains another got %d, want 3", n)
	}
}

func TestCheckDoesNotConsume(t *testing.T) {
	c := newFakeClock()
	l := New(1, 3, c.now)
	for i := 0; i < 100; i++ {
		if ok, wait := l.Check("k"); !ok || wait != 0 {
			t.Fatalf("check %d: ok=%v wait=%s", i, ok, wait)
		}
	}
	if n, _ := drain(t, l, "k"); n != 3 {
		t.Errorf("after 100 checks, %d tokens, want all 3", n)
	}
	ok, wait := l.Check("k")
	if ok || wait != time.Second {
		t.Errorf("empty: check ok=%v wait=%s, want refused for 1s", ok, wait)
	}
	c.advance(time.Second)
	if ok, _ := l.Check("k"); !ok {
		t.Error("check refused after the refill")
	}
	if ok, _ := l.Check("k"); !ok {
		t.Error("a second check refused: the first one consumed")
	}
}

func TestRefund(t *testing.T) {
	c := newFakeClock()
	l := New(1, 3, c.now)
	drain(t, l, "k")
	l.Refund("k")
	if n, _ := drain(t, l, "k"); n != 1 {
		t.Errorf("after a refund, %d tokens, want 1", n)
	}
	// A refund never fills a bucket past its burst.
	c.advance(time.Hour)
	l.Refund("k")
	l.Refund("k")
	if n, _ := drain(t, l, "k"); n != 3 {
		t.Errorf("refunds into a full bucket: %d tokens, want the burst of 3", n)
	}
}

func TestIdleKeysAreSwept(t *testing.T) {
	c := newFakeClock()
	l := New(1, 5, c.now) // a bucket is full again 5 s after its last event
	for i := 0; i < 1000; i++ {
		l.Allow(fmt.Sprintf("ip:10.0.%d.%d", i/256, i%256))
	}
	if l.Len() != 1000 {
		t.Fatalf("Len %d, want 1000", l.Len())
	}
	// Sweeps happen at most once a minute.
	c.advance(30 * time.Second)
	l.Allow("other")
	if l.Len() != 1001 {
		t.Errorf("swept before a minute had passed: Len %d", l.Len())
	}
	c.advance(31 * time.Second)
	l.Allow("another")
	if got := l.Len(); got != 1 {
		t.Errorf("after the sweep Len %d, want 1 (only the key just used)", got)
	}
	// A key forgotten while full comes back full: forgetting lost nothing.
	if n, _ := drain(t, l, "ip:10.0.0.1"); n != 5 {
		t.Errorf("a swept key came back with %d tokens, want 5", n)
	}

	// A bucket that is not full again keeps its state through a sweep.
	slow := New(0.01, 5, c.now) // 100 s per token
	drain(t, slow, "k")
	c.advance(61 * time.Second)
	slow.Allow("x")
	if slow.Len() != 2 {
		t.Errorf("a bucket that is not full again was swept: Len %d", slow.Len())
	}
	if ok, _ := slow.Allow("k"); ok {
		t.Error("a bucket that is not full again was reset to full")
	}
}

func TestClockGoingBackAddsNothing(t *testing.T) {
	c := newFakeClock()
	l := New(1, 2, c.now)
	drain(t, l, "k")
	c.advance(-time.Hour)
	if ok, _ := l.Allow("k"); ok {
		t.Error("a clock that went back refilled the bucket")
	}
	c.advance(time.Hour + time.Second)
	if n, _ := drain(t, l, "k"); n != 1 {
		t.Errorf("%d tokens a second after the last event, want 1", n)
	}
}

func TestZeroRateNeverRefills(t *testing.T) {
	c := newFakeClock()
	l := New(0, 2, c.now)
	drain(t, l, "k")
	c.advance(24 * time.Hour)
	ok, wait := l.Allow("k")
	if ok || wait <= 0 {
		t.Errorf("ok=%v wait=%s, want refused with a positive wait", ok, wait)
	}
}

func TestConcurrentAllowTakesExactlyTheBurst(t *testing.T) {
	c := newFakeClock()
	l := New(1, 25, c.now)
	var granted atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ok, _ := l.Allow("k"); ok {
				granted.Add(1)
			}
			l.Check("k")
		}()
	}
	wg.Wait()
	if granted.Load() != 25 {
		t.Errorf("%d granted, want exactly the burst of 25", granted.Load())
	}
}

func TestAddressKey(t *testing.T) {
	for addr, want := range map[string]string{
		"203.0.113.7":            "203.0.113.7",
		"::ffff:203.0.113.7":     "203.0.113.7",
		"2001:db8:aa:bb:1:2:3:4": "2001:db8:aa:bb::/64",
		"2001:db8:aa:bb::99":     "2001:db8:aa:bb::/64",
		"2001:db8:aa:bc::1":      "2001:db8:aa:bc::/64",
		"fe80::1%eth0":           "fe80::/64",
		"":                       "",
		"not-an-address":         "not-an-address",
	} {
		if got := AddressKey(addr); got != want {
			t.Errorf("AddressKey(%q) = %q, want %q", addr, got, want)
		}
	}
}
