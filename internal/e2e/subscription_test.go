package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/auditlogd/auditlogd/internal/testenv"
)

// This file checks docs/API.md §11's live events: the auditLogEvents
// subscription over graphql-transport-ws, spoken by a websocket client.

// wsClient is one graphql-transport-ws connection.
type wsClient struct {
	t    *testing.T
	conn *websocket.Conn
	ctx  context.Context
}

type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// wsDial opens a connection and sends connection_init with token.
func wsDial(t *testing.T, s *server, token string) (*wsClient, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	url := "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/graphql"
	conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { conn.Close(websocket.StatusNormalClosure, "") })
	c := &wsClient{t: t, conn: conn, ctx: ctx}
	init, _ := json.Marshal(map[string]string{"Authorization": "Bearer " + token})
	c.send(wsMessage{Type: "connection_init", Payload: init})
	m, err := c.read()
	if err != nil {
		return nil, err
	}
	if m.Type != "connection_ack" {
		return nil, fmt.Errorf("got %s %s, want connection_ack", m.Type, m.Payload)
	}
	return c, nil
}

// wsRefusal sends connection_init with token and returns the error the
// connection ends with, reading past whatever messages come first.
func wsRefusal(t *testing.T, s *server, token string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/graphql"
	conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		return err
	}
	defer conn.CloseNow()
	init, _ := json.Marshal(map[string]string{"Authorization": "Bearer " + token})
	b, _ := json.Marshal(wsMessage{Type: "connection_init", Payload: init})
	if err := conn.Write(ctx, websocket.MessageText, b); err != nil {
		return err
	}
	for {
		_, m, err := conn.Read(ctx)
		if err != nil {
			return err
		}
		if strings.Contains(string(m), "connection_ack") {
			return nil
		}
	}
}

func (c *wsClient) send(m wsMessage) {
	b, _ := json.Marshal(m)
	if err := c.conn.Write(c.ctx, websocket.MessageText, b); err != nil {
		c.t.Fatalf("websocket write: %v", err)
	}
}

// read returns the next message that is not a ping or pong.
func (c *wsClient) read() (wsMessage, error) {
	for {
		_, b, err := c.conn.Read(c.ctx)
		if err != nil {
			return wsMessage{}, err
		}
		var m wsMessage
		if err := json.Unmarshal(b, &m); err != nil {
			return wsMessage{}, err
		}
		if m.Type == "ping" {
			c.send(wsMessage{Type: "pong"})
			continue
		}
		if m.Type != "pong" {
			return m, nil
		}
	}
}

func (c *wsClient) subscribe(id, ws string, after *int) {
	vars := map[string]any{"w": ws}
	if after != nil {
		vars["a"] = *after
	}
	p, _ := json.Marshal(map[string]any{"query": `subscription($w: ID!, $a: Int) { auditLogEvents(workspaceId: $w, afterSequence: $a) { id action sequence hash actor { id } } }`, "variables": vars})
	c.send(wsMessage{ID: id, Type: "subscribe", Payload: p})
}

type wsEvent struct {
	ID, Action, Hash string
	Sequence         int
}

// next reads the next event of subscription id, or its error or end.
func (c *wsClient) next(id string) (wsEvent, string, []gqlError) {
	c.t.Helper()
	m, err := c.read()
	if err != nil {
		c.t.Fatalf("websocket read: %v", err)
	}
	if m.ID != id {
		c.t.Fatalf("message for %q, want %q: %+v", m.ID, id, m)
	}
	switch m.Type {
	case "next":
		var p struct {
			Data *struct {
				AuditLogEvents wsEvent
			}
			Errors []gqlError
		}
		_ = json.Unmarshal(m.Payload, &p)
		if p.Data == nil {
			return wsEvent{}, "next", p.Errors
		}
		return p.Data.AuditLogEvents, "next", p.Errors
	case "error":
		var errs []gqlError
		_ = json.Unmarshal(m.Payload, &errs)
		return wsEvent{}, "error", errs
	}
	return wsEvent{}, m.Type, nil
}

// wsHead is the sequence of the workspace's newest event: subscribing after
// it, rather than "from now", leaves no race between the subscription being
// registered and the next change.
func wsHead(t *testing.T, s *server, admin user, ws string) int {
	t.Helper()
	var out struct{ AuditLogHead struct{ Sequence int } }
	s.ok(t, admin.token, `query($w: ID!) { auditLogHead(workspaceId: $w) { sequence } }`, map[string]any{"w": ws}, &out)
	return out.AuditLogHead.Sequence
}

// wantRefused reads a subscription's refusal: an error with the code (as an
// error message, or a result with errors followed by complete).
func (c *wsClient) wantRefused(id, code string) {
	c.t.Helper()
	_, typ, errs := c.next(id)
	if len(errs) == 0 || errs[0].Extensions["code"] != code {
		c.t.Errorf("subscription %s: %s %v, want an error %s", id, typ, errs, code)
		return
	}
	if typ == "next" {
		if _, typ, _ := c.next(id); typ != "complete" {
			c.t.Errorf("subscription %s: %s after its error, want complete", id, typ)
		}
	}
}

// TestSubscriptionDeliversNewEventsInOrder: a subscriber gets every new
// event of the workspace in sequence order; with afterSequence, the events
// after it first.
func TestSubscriptionDeliversNewEventsInOrder(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, nil)
		admin := s.newUser(t, "admin")
		ws := s.newWorkspace(t, admin, "BUSINESS")
		sChurn(t, s, admin, ws, 3) // sequences 2..4 (1 is the workspace's creation)
		c, err := wsDial(t, s, admin.token)
		if err != nil {
			t.Fatal(err)
		}
		after := 2
		c.subscribe("1", ws, &after)
		for want := 3; want <= 4; want++ {
			e, typ, errs := c.next("1")
			if typ != "next" || len(errs) > 0 || e.Sequence != want {
				t.Fatalf("event %d: %s %+v %v", want, typ, e, errs)
			}
		}
		sChurn(t, s, admin, ws, 5)
		for want := 5; want <= 9; want++ {
			e, typ, errs := c.next("1")
			if typ != "next" || len(errs) > 0 || e.Sequence != want || e.Action != "EMAIL_INVITE_CREATED" || len(e.Hash) != 64 {
				t.Fatalf("live event %d: %s %+v %v", want, typ, e, errs)
			}
		}
	})
}

// TestSubscriptionAccess: without a token, or with a bad one, the
// connection is refused; a member who is not an admin, a workspace not on
// BUSINESS, another workspace: the subscription answers the code auditLog
// would; an admin who is demoted while subscribed is cut off with an error.
// An API key of the workspace may subscribe.
func TestSubscriptionAccess(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, nil)
		admin := s.newUser(t, "admin")
		other := s.newUser(t, "other")
		ws := s.newWorkspace(t, admin, "BUSINESS")
		teams := s.newWorkspace(t, admin, "TEAMS")
		s.addMember(t, admin, ws, other, "ADMIN")
		if _, err := wsDial(t, s, "not-a-token"); err == nil {
			t.Error("a connection with a bad token was acknowledged")
		}
		// The refusal closes the socket with graphql-transport-ws's 4403
		// and the code in the reason: a browser sees only the close frame.
		for _, token := range []string{"not-a-token", ""} {
			err := wsRefusal(t, s, token)
			var ce websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != 4403 || !strings.HasPrefix(ce.Reason, "UNAUTHENTICATED: ") {
				t.Errorf("token %q: the socket ended with %v, want close 4403 \"UNAUTHENTICATED: …\"", token, err)
			}
		}
		c, err := wsDial(t, s, other.token)
		if err != nil {
			t.Fatal(err)
		}
		c.subscribe("teams", teams, nil)
		c.wantRefused("teams", "FORBIDDEN")
		ac, err := wsDial(t, s, admin.token)
		if err != nil {
			t.Fatal(err)
		}
		ac.subscribe("t", teams, nil)
		ac.wantRefused("t", "BUSINESS_PLAN_REQUIRED")

		now := wsHead(t, s, admin, ws)
		c.subscribe("live", ws, &now)
		sChurn(t, s, admin, ws, 1)
		if e, typ, _ := c.next("live"); typ != "next" || e.Action != "EMAIL_INVITE_CREATED" {
			t.Fatalf("before the demotion: %s %+v", typ, e)
		}
		s.ok(t, admin.token, aRoleQuery, map[string]any{"w": ws, "u": other.id, "r": "MEMBER"})
		// The demotion itself is an event the subscriber may still get; then
		// the subscription ends with FORBIDDEN.
		for range 3 {
			e, typ, errs := c.next("live")
			if typ == "next" && len(errs) == 0 && e.Action == "MEMBER_ROLE_UPDATED" {
				continue
			}
			if typ != "next" || len(errs) == 0 || errs[0].Extensions["code"] != "FORBIDDEN" {
				t.Fatalf("after the demotion: %s %+v %v, want an error FORBIDDEN", typ, e, errs)
			}
			if _, typ, _ := c.next("live"); typ != "complete" {
				t.Errorf("after the error: %s, want complete", typ)
			}
			break
		}

		key := kCreate(t, s, admin, ws, "live")
		kc, err := wsDial(t, s, key.Token)
		if err != nil {
			t.Fatal(err)
		}
		now = wsHead(t, s, admin, ws)
		kc.subscribe("k", ws, &now)
		sChurn(t, s, admin, ws, 1)
		if e, typ, errs := kc.next("k"); typ != "next" || len(errs) > 0 || e.Action != "EMAIL_INVITE_CREATED" {
			t.Errorf("an API key's subscription: %s %+v %v", typ, e, errs)
		}
	})
}

// TestSubscriptionsShareOneFeed: many subscribers of one workspace are fed
// by one poller, and all get every event.
func TestSubscriptionsShareOneFeed(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, nil)
		admin := s.newUser(t, "admin")
		ws := s.newWorkspace(t, admin, "BUSINESS")
		var clients []*wsClient
		now := wsHead(t, s, admin, ws)
		for range 20 {
			c, err := wsDial(t, s, admin.token)
			if err != nil {
				t.Fatal(err)
			}
			c.subscribe("s", ws, &now)
			clients = append(clients, c)
		}
		sWaitFor(t, "the subscriptions are registered", func() bool { return s.app.Live.Feeds() == 1 })
		sChurn(t, s, admin, ws, 3)
		for i, c := range clients {
			for want := 2; want <= 4; want++ {
				if e, typ, errs := c.next("s"); typ != "next" || len(errs) > 0 || e.Sequence != want {
					t.Fatalf("subscriber %d, event %d: %s %+v %v", i, want, typ, e, errs)
				}
			}
		}
		if n := s.app.Live.Feeds(); n != 1 {
			t.Errorf("%d feeds for one workspace, want 1", n)
		}
	})
}
