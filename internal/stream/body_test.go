package stream

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestBodyCopiesEncodedEventsByteForByte(t *testing.T) {
	// Key order, escapes and number spelling that a decode and re-encode
	// would change: a receiver hashing these must see them as they are.
	e1 := json.RawMessage(`{"sequence":1,"id":"01A","label":"a\u003cb","n":1.0e2}`)
	e2 := json.RawMessage(" {\"sequence\":2,\"id\":\"01B\"}\n")
	head := json.RawMessage(`{"workspaceId":"w","sequence":2,"hash":"ab"}`)
	got, err := Body("w\"1", "s1", []json.RawMessage{e1, e2}, head)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"workspaceId":"w\"1","streamId":"s1","events":[` +
		`{"sequence":1,"id":"01A","label":"a\u003cb","n":1.0e2},{"sequence":2,"id":"01B"}],` +
		`"head":{"workspaceId":"w","sequence":2,"hash":"ab"}}`
	if string(got) != want {
		t.Errorf("Body =\n%s\nwant\n%s", got, want)
	}
	if !json.Valid(got) {
		t.Error("the body is not valid JSON")
	}
}

func TestBodyRefusesWhatWouldBeRetriedForever(t *testing.T) {
	ev := json.RawMessage(`{"id":"1"}`)
	head := json.RawMessage(`{"sequence":1}`)
	many := make([]json.RawMessage, MaxBatch+1)
	for i := range many {
		many[i] = ev
	}
	for _, tc := range []struct {
		name   string
		events []json.RawMessage
		head   json.RawMessage
		want   string
	}{
		{"no-events", nil, head, "1 to 100 events, not 0"},
		{"101-events", many, head, "1 to 100 events, not 101"},
		{"event-not-json", []json.RawMessage{ev, json.RawMessage(`{"id":`)}, head, "event 1 of the batch is not a JSON object"},
		{"event-an-array", []json.RawMessage{json.RawMessage(`[1]`)}, head, "event 0 of the batch is not a JSON object"},
		{"event-empty", []json.RawMessage{nil}, head, "event 0 of the batch is not a JSON object"},
		{"head-missing", []json.RawMessage{ev}, nil, "the head is not a JSON object"},
		{"head-null", []json.RawMessage{ev}, json.RawMessage(`null`), "the head is not a JSON object"},
		{"two-objects-in-one-event", []json.RawMessage{json.RawMessage(`{}{}`)}, head, "event 0 of the batch is not a JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Body("w", "s", tc.events, tc.head)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Body error = %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := Body("w", "s", many[:MaxBatch], head); err != nil {
		t.Errorf("a full batch of %d: %v", MaxBatch, err)
	}
}
