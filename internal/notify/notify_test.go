package notify

import "testing"

func TestNotifyWakesWaitersOfThatWorkspaceOnly(t *testing.T) {
	h := NewHub()
	a, b := h.Changed("a"), h.Changed("b")
	if a != h.Changed("a") {
		t.Error("two waiters of one workspace got different channels before a commit")
	}
	h.Notify("a")
	select {
	case <-a:
	default:
		t.Fatal("a waiter of a was not woken")
	}
	select {
	case <-b:
		t.Fatal("a waiter of b was woken by a commit in a")
	default:
	}
	if next := h.Changed("a"); next == a {
		t.Error("after a commit, Changed returns the closed channel again")
	}
	h.Notify("nobody-waits")
}
