// Package seed fills a database with a realistic audit log for benchmarks
// and demos at scale: BUSINESS workspaces whose sizes are skewed like real
// life (the first holds half of all events), members and invites that the
// events refer to, and events spread over the retention window with a
// realistic mix of actions, actors and targets.
package seed

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/digest"
	"github.com/auditlogd/auditlogd/internal/ids"
	"github.com/auditlogd/auditlogd/internal/integrity"
	"github.com/auditlogd/auditlogd/internal/role"
	"github.com/auditlogd/auditlogd/internal/workspace"
)

// Store is what the seeder writes through; store.Bulk implements it.
type Store interface {
	InsertUsers(ctx context.Context, users []workspace.User) error
	InsertWorkspaces(ctx context.Context, ws []workspace.Workspace) error
	InsertMemberships(ctx context.Context, ms []workspace.Membership) error
	InsertInvites(ctx context.Context, invs []workspace.Invite) error
	// InsertEvents inserts events that carry their sequences and hashes as
	// they are, in one transaction per call.
	InsertEvents(ctx context.Context, events []audit.Event) error
	// SetChainHead records a workspace's chain head once its events are in.
	SetChainHead(ctx context.Context, workspaceID string, seq int64, hash digest.SHA256, at time.Time) error
	// WithoutEventIndexes runs fn while the event table's secondary indexes
	// are dropped (when that is safe), and rebuilds them after.
	WithoutEventIndexes(ctx context.Context, fn func() error) error
}

// Options describe what to seed.
type Options struct {
	Workspaces int
	Events     int
	AdminSub   string
	AdminEmail string
	// Window is how far back events go (the retention window).
	Window time.Duration
	Now    time.Time
	// Workers insert in parallel (default 4); Batch is events per insert
	// (default 1000).
	Workers int
	Batch   int
	// Seed makes runs reproducible.
	Seed uint64
}

// Result is what Run made; it is printed as one JSON line.
type Result struct {
	Workspaces []string `json:"workspaces"`
	Largest    string   `json:"largest"`
	Events     int      `json:"events"`
}

// ActionMix is the share of each action among seeded events. AUDIT_LOG_EXPORTED
// is the rare one (0.1%), for benchmarks of a selective filter.
var ActionMix = []struct {
	Action audit.Action
	Share  float64
}{
	{audit.MemberAdded, 0.24},
	{audit.EmailInviteCreated, 0.20},
	{audit.EmailInviteAccepted, 0.12},
	{audit.PublicInviteLinkAccepted, 0.10},
	{audit.MemberRoleUpdated, 0.10},
	{audit.MemberRemoved, 0.08},
	{audit.PublicInviteLinkCreated, 0.06},
	{audit.EmailInviteDeleted, 0.059},
	{audit.PublicInviteLinkDeleted, 0.04},
	{audit.AuditLogExported, 0.001},
}

// plan is one workspace's share of the seed.
type plan struct {
	ws      workspace.Workspace
	events  int
	members []workspace.User
	admins  []workspace.User
	invites map[workspace.InviteKind][]workspace.Invite
}

// Run seeds the store and reports what it made.
func Run(ctx context.Context, st Store, o Options) (Result, error) {
	if o.Workspaces < 1 || o.Events < 0 || o.AdminSub == "" || o.AdminEmail == "" {
		return Result{}, fmt.Errorf("seed needs --workspaces ≥ 1, --events ≥ 0, --admin-sub and --admin-email")
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Batch <= 0 {
		o.Batch = 1000
	}
	if o.Window <= 0 {
		o.Window = 90 * 24 * time.Hour
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x5eed))
	plans, admin := makePlans(o, rng)
	if err := writeEntities(ctx, st, plans, admin); err != nil {
		return Result{}, err
	}
	if err := st.WithoutEventIndexes(ctx, func() error { return writeEvents(ctx, st, plans, o) }); err != nil {
		return Result{}, err
	}
	res := Result{Events: o.Events, Largest: plans[0].ws.ID}
	for _, p := range plans {
		res.Workspaces = append(res.Workspaces, p.ws.ID)
	}
	return res, nil
}

// shares splits total over n workspaces: the first gets half, the others a
// Zipf-like decreasing share of the rest (a few big customers, a long tail).
func shares(total, n int) []int {
	out := make([]int, n)
	if n == 1 {
		out[0] = total
		return out
	}
	out[0] = total / 2
	rest := total - out[0]
	weights := make([]float64, n-1)
	var sum float64
	for i := range weights {
		weights[i] = 1 / math.Pow(float64(i+1), 0.9)
		sum += weights[i]
	}
	given := 0
	for i := range weights {
		out[i+1] = int(float64(rest) * weights[i] / sum)
		given += out[i+1]
	}
	out[1] += rest - given
	return out
}

func makePlans(o Options, rng *rand.Rand) ([]*plan, workspace.User) {
	start := o.Now.Add(-o.Window)
	admin := workspace.User{ID: o.AdminSub, Email: o.AdminEmail, CreatedAt: start, UpdatedAt: start}
	counts := shares(o.Events, o.Workspaces)
	plans := make([]*plan, o.Workspaces)
	for i := range plans {
		created := start.Add(-time.Duration(rng.IntN(365*24)) * time.Hour)
		ws := workspace.Workspace{ID: ids.New(created), Name: fmt.Sprintf("Seeded workspace %d", i+1),
			Plan: workspace.PlanBusiness, CreatedAt: created, UpdatedAt: created}
		// Bigger logs come from bigger teams.
		size := min(5000, max(8, int(math.Sqrt(float64(counts[i]))*2)))
		p := &plan{ws: ws, events: counts[i], invites: map[workspace.InviteKind][]workspace.Invite{}}
		for j := 0; j < size; j++ {
			domain := "seed.example.com"
			if j >= max(2, size/50) && j%25 == 7 {
				// One member in 25 has an address from outside the
				// workspace's (admins') domain: EXTERNAL_DOMAIN material.
				domain = externalDomains[j%len(externalDomains)]
			}
			u := workspace.User{ID: fmt.Sprintf("seed-%d-%d", i+1, j+1), Email: fmt.Sprintf("user%d.w%d@%s", j+1, i+1, domain), CreatedAt: created, UpdatedAt: created}
			p.members = append(p.members, u)
			if j < max(2, size/50) {
				p.admins = append(p.admins, u)
			}
		}
		for j := 0; j < max(4, size/4); j++ {
			kind, email := workspace.InvitePublic, (*string)(nil)
			if j%3 != 0 {
				domain := "seed.example.com"
				if j%20 == 1 {
					domain = externalDomains[j%len(externalDomains)]
				}
				e := fmt.Sprintf("invitee%d.w%d@%s", j+1, i+1, domain)
				kind, email = workspace.InviteEmail, &e
			}
			_, hash := workspace.NewInviteToken()
			at := start.Add(time.Duration(rng.Int64N(int64(o.Window))))
			p.invites[kind] = append(p.invites[kind], workspace.Invite{ID: ids.New(at), WorkspaceID: ws.ID, Kind: kind, Email: email,
				Role: role.Member, TokenHash: hash, CreatedBy: p.admins[0].ID, CreatedAt: at})
		}
		plans[i] = p
	}
	return plans, admin
}

func writeEntities(ctx context.Context, st Store, plans []*plan, admin workspace.User) error {
	users := []workspace.User{admin}
	var wss []workspace.Workspace
	var ms []workspace.Membership
	var invs []workspace.Invite
	for _, p := range plans {
		wss = append(wss, p.ws)
		users = append(users, p.members...)
		ms = append(ms, workspace.Membership{WorkspaceID: p.ws.ID, UserID: admin.ID, Role: role.Admin, JoinedAt: p.ws.CreatedAt})
		for k, u := range p.members {
			r := role.Member
			if k < len(p.admins) {
				r = role.Admin
			}
			ms = append(ms, workspace.Membership{WorkspaceID: p.ws.ID, UserID: u.ID, Role: r, JoinedAt: p.ws.CreatedAt})
		}
		invs = append(invs, p.invites[workspace.InvitePublic]...)
		invs = append(invs, p.invites[workspace.InviteEmail]...)
	}
	for _, step := range []func() error{
		func() error { return st.InsertUsers(ctx, users) },
		func() error { return st.InsertWorkspaces(ctx, wss) },
		func() error { return st.InsertMemberships(ctx, ms) },
		func() error { return st.InsertInvites(ctx, invs) },
	} {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// chunk is a slice of one workspace's events over a time range, generated
// from a random source of its own (so a chunk is the same whoever makes it).
type chunk struct {
	plan     *plan
	from, to time.Time
	n        int
	seed     uint64
}

// chunks splits a workspace's events into chunks over consecutive time
// ranges whose bounds are whole milliseconds, so that every event of a chunk
// is stored before every event of the next.
func chunks(p *plan, i int, o Options, start, end time.Time) []chunk {
	k := max(1, p.events/(o.Batch*10))
	span := (end.Sub(start) / time.Duration(k)).Truncate(time.Millisecond)
	out := make([]chunk, k)
	for j := range out {
		n := p.events / k
		if j == k-1 {
			n = p.events - n*(k-1)
		}
		out[j] = chunk{plan: p, from: start.Add(span * time.Duration(j)), to: start.Add(span * time.Duration(j+1)), n: n,
			seed: o.Seed ^ uint64(i)<<32 ^ uint64(j)}
	}
	return out
}

// chainHead is where a workspace's chain has got to.
type chainHead struct {
	seq  int64
	hash digest.SHA256
	at   time.Time
}

// writeEvents generates every workspace's events and inserts them with
// their place in the workspace's hash chain (docs/API.md §9). The chain must
// follow the log's order, (occurredAt, id), which parallel inserts cannot
// give if the store chains each batch in commit order; so the seeder chains
// itself: per workspace, one producer generates the chunks in time order and
// hashes each event after the one before, and the batches it cuts go to
// parallel insert workers, whose commit order no longer matters. Once every
// batch is in, each workspace's head is recorded.
func writeEvents(ctx context.Context, st Store, plans []*plan, o Options) error {
	start := o.Now.Add(-o.Window).Add(time.Hour).Truncate(time.Millisecond)
	end := o.Now.Add(-time.Minute)
	heads := make([]chainHead, len(plans))
	batches := make(chan []audit.Event, o.Workers)
	// Batches are recycled: at most a few per worker and producer exist.
	free := make(chan []audit.Event, 3*o.Workers)
	get := func() []audit.Event {
		select {
		case b := <-free:
			return b[:0]
		default:
			return make([]audit.Event, 0, o.Batch)
		}
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(batches)
		producers, pctx := errgroup.WithContext(gctx)
		producers.SetLimit(min(len(plans), o.Workers))
		for i, p := range plans {
			producers.Go(func() error {
				h, err := chainWorkspace(pctx, chunks(p, i, o, start, end), o.Batch, get, batches)
				heads[i] = h
				return err
			})
		}
		return producers.Wait()
	})
	for range o.Workers {
		g.Go(func() error {
			for b := range batches {
				if err := st.InsertEvents(gctx, b); err != nil {
					return err
				}
				select {
				case free <- b:
				default:
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for i, p := range plans {
		if h := heads[i]; h.seq > 0 {
			if err := st.SetChainHead(ctx, p.ws.ID, h.seq, h.hash, h.at); err != nil {
				return err
			}
		}
	}
	return nil
}

// chainWorkspace generates one workspace's chunks in order, chains their
// events from sequence 1, and sends them out in batches of batch events. It
// returns the head it reached.
func chainWorkspace(ctx context.Context, cs []chunk, batch int, get func() []audit.Event, out chan<- []audit.Event) (chainHead, error) {
	var (
		h      integrity.Hasher
		head   chainHead
		events []audit.Event
		fl     = newFlagger(cs)
	)
	send := func(b []audit.Event) error {
		select {
		case out <- b:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	buf := get()
	for _, c := range cs {
		events = c.generate(events[:0])
		for i := range events {
			e := &events[i]
			e.FlagSet = fl.decide(e)
			hash, err := h.Event(e, head.seq+1, head.hash)
			if err != nil {
				return head, err
			}
			e.Sequence, e.PrevHash, e.Hash = head.seq+1, head.hash, hash
			head = chainHead{seq: e.Sequence, hash: hash, at: e.OccurredAt}
			buf = append(buf, *e)
			if len(buf) == batch {
				if err := send(buf); err != nil {
					return head, err
				}
				buf = get()
			}
		}
	}
	if len(buf) > 0 {
		return head, send(buf)
	}
	return head, nil
}

// externalDomains are the outside domains some seeded people have.
var externalDomains = []string{"gmail.com", "outlook.com", "contractor.example.net", "yahoo.com"}

var (
	userAgents = []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
		"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
		"acme-sync/2.3 (+https://partner.example.com)",
	}
	cumulative = func() []float64 {
		out := make([]float64, len(ActionMix))
		var sum float64
		for i, a := range ActionMix {
			sum += a.Share
			out[i] = sum
		}
		return out
	}()
)

func pickAction(rng *rand.Rand) audit.Action {
	x := rng.Float64() * cumulative[len(cumulative)-1]
	i, _ := slices.BinarySearch(cumulative, x)
	return ActionMix[min(i, len(ActionMix)-1)].Action
}

// generate appends the chunk's events to dst in the log's order: by time,
// then by id (ids made in the same millisecond by other producers may come
// between, so their order is not left to the id generator).
func (c chunk) generate(dst []audit.Event) []audit.Event {
	rng := rand.New(rand.NewPCG(c.seed, 0xe7e7))
	span := c.to.Sub(c.from)
	times := make([]int64, c.n)
	for i := range times {
		times[i] = c.from.Add(time.Duration(rng.Int64N(int64(span)))).UnixMilli()
	}
	slices.Sort(times)
	for i := 0; i < len(times); i++ {
		if rng.IntN(4000) == 0 && len(times)-i >= 12 && times[i]+12*30_000 < c.to.UnixMilli() {
			// Now and then an admin onboards a dozen people in a few
			// minutes: BURST material.
			admin := c.plan.admins[rng.IntN(len(c.plan.admins))]
			for j := range 12 {
				e := makeEvent(rng, c.plan, time.UnixMilli(times[i]+int64(j)*20_000).UTC())
				onboard(&e, c.plan, admin, rng)
				dst = append(dst, e)
			}
			i += 11
			continue
		}
		dst = append(dst, makeEvent(rng, c.plan, time.UnixMilli(times[i]).UTC()))
	}
	slices.SortStableFunc(dst, func(a, b audit.Event) int {
		return cmp.Or(a.OccurredAt.Compare(b.OccurredAt), cmp.Compare(a.ID, b.ID))
	})
	return dst
}

// onboard makes e admin's addition of a member, as in a burst of additions.
func onboard(e *audit.Event, p *plan, admin workspace.User, rng *rand.Rand) {
	member := p.members[rng.IntN(len(p.members))]
	r := role.Member
	e.Action, e.PreviousRole, e.Role = audit.MemberAdded, nil, &r
	e.Actor = audit.Actor{ID: admin.ID, Email: &admin.Email, Type: audit.ActorUser}
	e.Target = &audit.Target{Type: audit.TargetUser, ID: member.ID, Label: &member.Email}
	ip := homeAddress(admin.ID, rng)
	e.IPAddress = &ip
}

func makeEvent(rng *rand.Rand, p *plan, at time.Time) (e audit.Event) {
	action := pickAction(rng)
	actor := p.admins[rng.IntN(len(p.admins))]
	member := p.members[rng.IntN(len(p.members))]
	kind := workspace.InviteEmail
	switch action {
	case audit.PublicInviteLinkCreated, audit.PublicInviteLinkDeleted, audit.PublicInviteLinkAccepted:
		kind = workspace.InvitePublic
	}
	inv := p.invites[kind][rng.IntN(len(p.invites[kind]))]
	ua := userAgents[rng.IntN(len(userAgents))]
	e = audit.Event{ID: ids.New(at), WorkspaceID: p.ws.ID, Action: action, OccurredAt: at,
		Actor: audit.Actor{ID: actor.ID, Email: &actor.Email, Type: audit.ActorUser}, UserAgent: &ua}
	rid := ids.New(at)
	e.RequestID = &rid
	defer func() {
		// Each actor acts from their own network; one event in 200 comes
		// from somewhere else (NEW_LOCATION material).
		ip := homeAddress(e.Actor.ID, rng)
		if rng.IntN(200) == 0 {
			ip = "203.0." + strconv.Itoa(rng.IntN(256)) + "." + strconv.Itoa(1+rng.IntN(254))
		}
		e.IPAddress = &ip
	}()
	member2 := member
	r, prev := role.Member, role.Admin
	if rng.IntN(20) == 0 {
		r, prev = role.Admin, role.Member
	}
	switch action {
	case audit.MemberAdded:
		e.Target, e.Role = &audit.Target{Type: audit.TargetUser, ID: member2.ID, Label: &member2.Email}, &r
	case audit.MemberRemoved:
		e.Target, e.PreviousRole = &audit.Target{Type: audit.TargetUser, ID: member2.ID, Label: &member2.Email}, &r
	case audit.MemberRoleUpdated:
		e.Target, e.PreviousRole, e.Role = &audit.Target{Type: audit.TargetUser, ID: member2.ID, Label: &member2.Email}, &prev, &r
	case audit.PublicInviteLinkAccepted, audit.EmailInviteAccepted:
		e.Actor = audit.Actor{ID: member2.ID, Email: &member2.Email, Type: audit.ActorUser}
		e.Target, e.Role = &audit.Target{Type: audit.TargetInviteLink, ID: inv.ID, Label: inv.Email}, &r
	case audit.PublicInviteLinkCreated, audit.EmailInviteCreated:
		e.Target, e.Role = &audit.Target{Type: audit.TargetInviteLink, ID: inv.ID, Label: inv.Email}, &r
	case audit.AuditLogExported:
		csv := "CSV"
		e.Target = &audit.Target{Type: audit.TargetExport, ID: ids.New(at), Label: &csv}
	default:
		e.Target = &audit.Target{Type: audit.TargetInviteLink, ID: inv.ID, Label: inv.Email}
	}
	return e
}
