package audit

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
				_ = NewID(base.Add(time.Duration(1+i%5) * time.Millisecond)) // another millisecond in between
				id := NewID(base)
				if id <= prev {
					t.Errorf("id %s after %s in the same millisecond", id, prev)
					return
				}
				if !ValidID(id) {
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
	a := NewID(time.UnixMilli(1_700_000_000_001))
	b := NewID(time.UnixMilli(1_700_000_000_000))
	if !(b < a) {
		t.Errorf("%s (earlier) does not sort before %s", b, a)
	}
	ids := NewIDs(time.UnixMilli(1_700_000_000_000), 3)
	if !(ids[0] < ids[1] && ids[1] < ids[2]) {
		t.Errorf("NewIDs not increasing: %v", ids)
	}
}
