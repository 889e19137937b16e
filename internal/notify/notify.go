// Package notify tells the parts of one process that read the log as it
// grows (stream deliverers, live subscriptions) that a workspace's log has
// new events, the moment the transaction that wrote them commits. It is a
// hint that saves a poll, never the source of truth: readers still read the
// committed events by sequence, and still poll, because other replicas'
// commits are not announced here.
package notify

import "sync"

// Hub hands out, per workspace, a channel that is closed at the next commit.
type Hub struct {
	mu sync.Mutex
	ch map[string]chan struct{}
}

// NewHub returns an empty Hub.
func NewHub() *Hub { return &Hub{ch: map[string]chan struct{}{}} }

// Changed returns a channel that is closed the next time the workspace's log
// gets new events.
func (h *Hub) Changed(workspaceID string) <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, ok := h.ch[workspaceID]
	if !ok {
		c = make(chan struct{})
		h.ch[workspaceID] = c
	}
	return c
}

// Notify wakes everyone waiting on the workspaces.
func (h *Hub) Notify(workspaceIDs ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, id := range workspaceIDs {
		if c, ok := h.ch[id]; ok {
			close(c)
			delete(h.ch, id)
		}
	}
}
