package stream

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// MaxBatch is the most events one delivery carries (docs/API.md §11: 1–100).
const MaxBatch = 100

// Body assembles a delivery's body,
// {"workspaceId":…,"streamId":…,"events":[…],"head":{…}}, from events and a
// head that are already encoded: the events as the export's JSON objects
// (with sequence, prevHash, hash and flags), the head as the signed head.
// They are copied byte for byte, never decoded and re-encoded, so a receiver
// hashing an event sees exactly what the export would give it and the batch
// costs one copy.
//
// It refuses an empty or oversized batch and any piece that is not a JSON
// object: a malformed body would be retried forever, so it is better caught
// here, where the mistake is ours.
func Body(workspaceID, streamID string, events []json.RawMessage, head json.RawMessage) ([]byte, error) {
	if len(events) == 0 || len(events) > MaxBatch {
		return nil, fmt.Errorf("stream: a batch holds 1 to %d events, not %d", MaxBatch, len(events))
	}
	if !isObject(head) {
		return nil, errors.New("stream: the head is not a JSON object")
	}
	for i, e := range events {
		if !isObject(e) {
			return nil, fmt.Errorf("stream: event %d of the batch is not a JSON object", i)
		}
	}
	return assemble(workspaceID, streamID, events, head), nil
}

// assemble is Body without its checks, for the deliverer, whose events
// come from audit.AppendJSONObject and whose head from json.Marshal: those
// are JSON objects by construction, and validating 100 of them a batch
// again was a tenth of a catch-up's CPU.
func assemble(workspaceID, streamID string, events []json.RawMessage, head json.RawMessage) []byte {
	size := len(head) + len(workspaceID) + len(streamID) + 64
	for _, e := range events {
		size += len(e) + 1
	}
	ws, _ := json.Marshal(workspaceID) // a string always marshals
	st, _ := json.Marshal(streamID)
	b := bytes.NewBuffer(make([]byte, 0, size))
	b.WriteString(`{"workspaceId":`)
	b.Write(ws)
	b.WriteString(`,"streamId":`)
	b.Write(st)
	b.WriteString(`,"events":[`)
	for i, e := range events {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(bytes.TrimSpace(e))
	}
	b.WriteString(`],"head":`)
	b.Write(bytes.TrimSpace(head))
	b.WriteByte('}')
	return b.Bytes()
}

// isObject reports whether raw is one valid JSON object.
func isObject(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && t[0] == '{' && json.Valid(t)
}
