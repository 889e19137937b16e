package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"gorm.io/gorm"

	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/insight"
	"github.com/auditlogd/auditlogd/internal/reqinfo"
	"github.com/auditlogd/auditlogd/internal/role"
)

// seenRefresh is how stale a network's last_seen may get before an event
// from it writes it again. Rewriting it on every event would cost a write
// per event; this way an actor who keeps acting from one network costs one
// write an hour. The network's last use is then within seenRefresh after
// last_seen, so "seen within the retention window" (docs/API.md §14) is
// decided by last_seen alone except when the window starts in that hour;
// then the actor's events of that hour tell (seenInEvents).
const seenRefresh = 3_600_000 // ms

// seenMarker is the network of the row that records that an actor has acted
// in a workspace at all, written with their networks and never pruned: an
// actor back after longer than the retention window, whose networks were
// pruned, is not on their first event ever, so NEW_LOCATION must not depend
// on whether the retention job ran in between.
const seenMarker = ""

// networkKey is one actor's network in one workspace.
type networkKey struct{ workspaceID, actorID, network string }

// flagDecision is what deciding a transaction's flags leaves for after the
// insert: the networks whose last_seen must be written.
type flagDecision struct {
	seen map[networkKey]int64 // network → newest event time (ms)
}

// decideFlags sets the flags of events (docs/API.md §14), which must be in
// the log's order, from what the transaction holds under the lock of their
// workspaces: the trusted domains read with the lock, and, for the events
// that need them, the admins' domains, the actor's recent user-management
// events and the networks the actor was seen in. The transaction's first
// event by the user who took the lock costs no read (the lock read their
// history, actorPrefetch); an invitation or addition while no domains are
// trusted, and any later event, costs one (actorHistory, the admins' domains
// included). Earlier events of the same transaction count as if they were
// written already.
func (c conn) decideFlags(ctx context.Context, events []audit.Event) (flagDecision, error) {
	d := flagDecision{seen: map[networkKey]int64{}}
	window := c.db.opts.Retention.Milliseconds()
	for i := range events {
		e := &events[i]
		st := c.state.locked[e.WorkspaceID]
		ms := e.OccurredAt.UnixMilli()
		ic := e.FlagContext()
		ic.TrustedDomains = st.trusted
		var admins *string // whose admins' domains to read: all but this user
		if ic.PersonEmail != "" && len(st.trusted) == 0 {
			// The person joining is excluded: their own addition must not
			// vouch for their domain.
			person := e.Actor.ID
			if e.Action == audit.MemberAdded && e.Target != nil {
				person = e.Target.ID
			} else if e.Action == audit.EmailInviteCreated {
				person = ""
			}
			admins = &person
		}
		burst := insight.IsUserManagement(ic.Action)
		network, located := insight.ParseNetwork(ic.Address)
		if !burst && !located && admins != nil {
			domains, err := c.adminDomains(ctx, e.WorkspaceID, *admins)
			if err != nil {
				return d, err
			}
			ic.AdminDomains = domains
		}
		if burst || located {
			var prior actorHistory
			if p := st.pre; admins == nil && p.serves(e, network, located) {
				prior = p.history(e)
			} else {
				var err error
				if prior, err = c.actorHistory(ctx, e, burst, network.String(), located, admins); err != nil {
					return d, err
				}
			}
			ic.AdminDomains = prior.adminDomains
			// The transaction's earlier events, not in the table yet.
			for _, p := range events[:i] {
				if p.WorkspaceID != e.WorkspaceID || p.Actor.ID != e.Actor.ID {
					continue
				}
				if burst && insight.IsUserManagement(string(p.Action)) && !p.OccurredAt.Before(insight.BurstWindowStart(e.OccurredAt)) {
					prior.recent++
				}
				if p.IPAddress != nil {
					if n, ok := insight.ParseNetwork(*p.IPAddress); ok {
						prior.anyNetwork = true
						if n == network {
							prior.lastSeen = sql.NullInt64{Int64: p.OccurredAt.UnixMilli(), Valid: true}
						}
					}
				}
			}
			ic.RecentActorEvents = prior.recent
			ic.ActorSeenBefore = prior.anyNetwork
			seen := prior.lastSeen.Valid && prior.lastSeen.Int64 >= ms-window
			if located && !seen && prior.lastSeen.Valid && prior.lastSeen.Int64+seenRefresh >= ms-window {
				var err error
				if seen, err = c.seenInEvents(ctx, e, network, ms-window, prior.lastSeen.Int64+seenRefresh); err != nil {
					return d, err
				}
			}
			if seen {
				ic.SeenNetworks = []netip.Prefix{network}
			}
			if located && (!prior.lastSeen.Valid || prior.lastSeen.Int64 < ms-seenRefresh) {
				k := networkKey{e.WorkspaceID, e.Actor.ID, network.String()}
				d.seen[k] = max(d.seen[k], ms)
				m := networkKey{e.WorkspaceID, e.Actor.ID, seenMarker}
				d.seen[m] = max(d.seen[m], ms)
			}
		}
		e.FlagSet = insight.Decide(ic)
		st.pre = nil // later events see this one, which the prefetch did not
	}
	return d, nil
}

// actorPrefetch is what the statement that locks a workspace also reads of
// the user who locks it, so that the flags of a transaction's first event
// by that user, from the request's address, cost no statement of their own
// (docs/API.md §14; an audited mutation is one event by the user who locked).
// The clock is read after the lock, so BURST's window is not known yet: the
// prefetch reads the time of the user's ninth most recent user-management
// event instead, and "at least nine in the window" is "the ninth most recent
// is in the window" (no event is later than the lock).
type actorPrefetch struct {
	actorID  string
	network  string // "" when the request has no address that parses
	ninth    sql.NullInt64
	anyNet   int
	lastSeen sql.NullInt64
}

// prefetchFor is the prefetch of userID's history for a request from the
// address in ctx; nil without a user.
func prefetchFor(ctx context.Context, userID string) *actorPrefetch {
	if userID == "" {
		return nil
	}
	p := &actorPrefetch{actorID: userID}
	if n, ok := insight.ParseNetwork(reqinfo.From(ctx).IPAddress); ok {
		p.network = n.String()
	}
	return p
}

// columns are the prefetch's columns for the lock's SELECT, and their
// arguments; constants without a user.
func (p *actorPrefetch) columns(workspaceID string) (string, []any) {
	if p == nil {
		return "NULL, 0, NULL", nil
	}
	cols := "(SELECT a.occurred_at FROM audit_events a WHERE a.workspace_id = ? AND a.actor_id = ? AND a.action IN ? ORDER BY a.occurred_at DESC, a.id DESC LIMIT 1 OFFSET ?), " +
		"(SELECT COUNT(*) FROM (SELECT 1 FROM actor_networks WHERE workspace_id = ? AND actor_id = ? LIMIT 1) s), "
	args := []any{workspaceID, p.actorID, insight.UserManagementActions(), insight.BurstThreshold - 2, workspaceID, p.actorID}
	if p.network == "" {
		return cols + "NULL", args
	}
	return cols + "(SELECT last_seen FROM actor_networks WHERE workspace_id = ? AND actor_id = ? AND network = ?)",
		append(args, workspaceID, p.actorID, p.network)
}

func (p *actorPrefetch) dest() []any {
	if p == nil {
		var ninth, last sql.NullInt64
		var n int
		return []any{&ninth, &n, &last}
	}
	return []any{&p.ninth, &p.anyNet, &p.lastSeen}
}

// serves reports whether the prefetch answers for e: the workspace's first
// event of the transaction, by the user who locked, from the request's
// network.
func (p *actorPrefetch) serves(e *audit.Event, network netip.Prefix, located bool) bool {
	if p == nil || e.Actor.ID != p.actorID {
		return false
	}
	if located {
		return p.network == network.String()
	}
	return p.network == ""
}

// history is the prefetch as actorHistory would have read it for e.
func (p *actorPrefetch) history(e *audit.Event) actorHistory {
	h := actorHistory{anyNetwork: p.anyNet > 0, lastSeen: p.lastSeen}
	if p.ninth.Valid && p.ninth.Int64 >= insight.BurstWindowStart(e.OccurredAt).UnixMilli() {
		h.recent = insight.BurstThreshold - 1
	}
	return h
}

// actorHistory is what the table says about an event's actor: how many of
// their user-management events fall in the event's BURST window (counted up
// to the threshold, no further), whether they were seen in any network, and
// when last in the event's.
//
// With admins, the same statement also reads the email domains of the
// workspace's admins other than *admins (what adminDomains reads), as rows
// of their own: one round trip for both.
type actorHistory struct {
	recent       int
	anyNetwork   bool
	lastSeen     sql.NullInt64
	adminDomains []string
}

func (c conn) actorHistory(ctx context.Context, e *audit.Event, burst bool, network string, located bool, admins *string) (actorHistory, error) {
	var cols []string
	var args []any
	if burst {
		cols = append(cols, "(SELECT COUNT(*) FROM (SELECT 1 FROM audit_events WHERE workspace_id = ? AND actor_id = ? AND occurred_at >= ? AND action IN ? LIMIT ?) b)")
		args = append(args, e.WorkspaceID, e.Actor.ID, insight.BurstWindowStart(e.OccurredAt).UnixMilli(), insight.UserManagementActions(), insight.BurstThreshold-1)
	} else {
		cols = append(cols, "0")
	}
	if located {
		cols = append(cols, "(SELECT COUNT(*) FROM (SELECT 1 FROM actor_networks WHERE workspace_id = ? AND actor_id = ? LIMIT 1) s)",
			"(SELECT last_seen FROM actor_networks WHERE workspace_id = ? AND actor_id = ? AND network = ?)")
		args = append(args, e.WorkspaceID, e.Actor.ID, e.WorkspaceID, e.Actor.ID, network)
	} else {
		cols = append(cols, "0", "NULL")
	}
	var h actorHistory
	if admins == nil {
		var seen int
		err := c.run(ctx, true, func(db *gorm.DB) error {
			return db.Raw("SELECT "+strings.Join(cols, ", "), args...).Row().Scan(&h.recent, &seen, &h.lastSeen)
		})
		h.anyNetwork = seen > 0
		return h, err
	}
	// The history as the first row (a marker 0, then its three values as
	// text), each admin's email a row after it (a marker 1).
	q := unionAll(c.db.dialect, []string{
		"SELECT 0 AS k, " + cols[0] + " AS a, " + cols[1] + " AS b, " + cols[2] + " AS c",
		"SELECT 1, u.email, NULL, NULL FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.workspace_id = ? AND m.role = ? AND m.user_id <> ? LIMIT 1000",
	})
	args = append(args, e.WorkspaceID, string(role.Admin), *admins)
	err := c.run(ctx, true, func(db *gorm.DB) error {
		return scanRows(db.Raw(q, args...), func(rows *sql.Rows) error {
			var k int
			var a, b, cc sql.NullString
			if err := rows.Scan(&k, &a, &b, &cc); err != nil {
				return err
			}
			if k == 1 {
				if dom, err := insight.EmailDomain(a.String); err == nil {
					h.adminDomains = append(h.adminDomains, dom)
				}
				return nil
			}
			h.recent, _ = strconv.Atoi(a.String)
			seen, _ := strconv.Atoi(b.String)
			h.anyNetwork = seen > 0
			if cc.Valid {
				ms, err := strconv.ParseInt(cc.String, 10, 64)
				if err != nil {
					return fmt.Errorf("store: last_seen %q: %w", cc.String, err)
				}
				h.lastSeen = sql.NullInt64{Int64: ms, Valid: true}
			}
			return nil
		})
	})
	return h, err
}

// seenInEvents reports whether the event's actor has an event in its
// workspace from network with occurredAt in [from, to]: at most an hour of
// the actor's events, read when a network's last_seen cannot tell.
func (c conn) seenInEvents(ctx context.Context, e *audit.Event, network netip.Prefix, from, to int64) (bool, error) {
	var addrs []string
	err := c.run(ctx, true, func(db *gorm.DB) error {
		return db.Raw("SELECT DISTINCT ip_address FROM audit_events WHERE workspace_id = ? AND actor_id = ? AND occurred_at >= ? AND occurred_at <= ? AND ip_address IS NOT NULL",
			e.WorkspaceID, e.Actor.ID, from, to).Scan(&addrs).Error
	})
	if err != nil {
		return false, err
	}
	for _, a := range addrs {
		if n, ok := insight.ParseNetwork(a); ok && n == network {
			return true, nil
		}
	}
	return false, nil
}

// adminDomains returns the email domains of the workspace's admins other
// than except.
func (c conn) adminDomains(ctx context.Context, workspaceID, except string) ([]string, error) {
	var emails []string
	err := c.run(ctx, true, func(db *gorm.DB) error {
		return db.Raw("SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.workspace_id = ? AND m.role = ? AND m.user_id <> ? LIMIT 1000",
			workspaceID, string(role.Admin), except).Scan(&emails).Error
	})
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(emails))
	for _, em := range emails {
		if dom, err := insight.EmailDomain(em); err == nil {
			out = append(out, dom)
		}
	}
	return out, nil
}

// recordNetworks writes when each actor was last seen in the networks of
// the transaction's events (only those whose record was missing or stale).
func (c conn) recordNetworks(ctx context.Context, d flagDecision) error {
	if len(d.seen) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("INSERT INTO actor_networks (workspace_id, actor_id, network, last_seen) VALUES ")
	keys := slices.SortedFunc(maps.Keys(d.seen), func(a, b networkKey) int {
		return cmp.Or(cmp.Compare(a.workspaceID, b.workspaceID), cmp.Compare(a.actorID, b.actorID), cmp.Compare(a.network, b.network))
	})
	args := make([]any, 0, 4*len(keys))
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?)")
		args = append(args, k.workspaceID, k.actorID, k.network, d.seen[k])
	}
	if c.db.dialect == MySQL {
		b.WriteString(" ON DUPLICATE KEY UPDATE last_seen = GREATEST(last_seen, VALUES(last_seen))")
	} else {
		b.WriteString(" ON CONFLICT (workspace_id, actor_id, network) DO UPDATE SET last_seen = MAX(last_seen, excluded.last_seen)")
	}
	return c.run(ctx, true, func(db *gorm.DB) error { return db.Exec(b.String(), args...).Error })
}
