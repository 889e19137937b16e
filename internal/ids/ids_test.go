package ids

import (
	"sync"
	"testing"
	"time"
)

// TestIDsKeepTheirOrderWithinAMillisecond interleaves ids for other
// milliseconds between ids for one millisecond, from many goroutines: the ids
// of that millisecond still increase in the order each goroutine made them.
func TestIDsKeepTheirOrderWithinAMillisecond(t *testing.T) {
	base := time.Now().Truncate(time.Millisecond)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			prev := ""
			for i := 0; i < 2000; i++ {
				_ = New(base.Add(time.Duration(1+i%5) * time.Millisecond)) // another millisecond in between
				id := New(base)
				if id <= prev {
					t.Errorf("id %s after %s in the same millisecond", id, prev)
					return
				}
				if !Valid(id) {
					t.Errorf("invalid id %s", id)
					return
				}
				prev = id
			}
		}()
	}
	wg.Wait()
}

// TestIDsSortLikeTheirTime: ids of later milliseconds sort after earlier ones.
func TestIDsSortLikeTheirTime(t *testing.T) {
	a := New(time.UnixMilli(1_700_000_000_001))
	b := New(time.UnixMilli(1_700_000_000_000))
	if !(b < a) {
		t.Errorf("%s (earlier) does not sort before %s", b, a)
	}
	got := NewN(time.UnixMilli(1_700_000_000_000), 3)
	if !(got[0] < got[1] && got[1] < got[2]) {
		t.Errorf("NewN not increasing: %v", got)
	}
}
