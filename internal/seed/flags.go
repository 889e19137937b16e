package seed

import (
	"hash/fnv"
	"math/rand/v2"
	"net/netip"
	"strconv"

	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/insight"
)

// homeAddress is the address an actor usually acts from: one of a few
// addresses of a network of their own, derived from their id.
func homeAddress(actorID string, rng *rand.Rand) string {
	h := fnv.New32a()
	h.Write([]byte(actorID))
	n := h.Sum32()
	return "10." + strconv.Itoa(int(n>>16&0xff)) + "." + strconv.Itoa(int(n>>8&0xff)) + "." + strconv.Itoa(1+rng.IntN(4))
}

// flagger decides the flags of one workspace's generated events with the
// rules the service applies when it writes events (docs/API.md §14), from
// what it has seen of the workspace so far: its events come to it in the
// log's order. The workspace has no trusted domains, so its admins' domain
// (seed.example.com) is the trusted one.
type flagger struct {
	admins []string
	// recent are each actor's user-management event times (ms) of the last
	// ten minutes; seen the networks each actor acted from, and when last.
	recent map[string][]int64
	seen   map[string]map[netip.Prefix]int64
	window int64
}

func newFlagger(cs []chunk) *flagger {
	f := &flagger{recent: map[string][]int64{}, seen: map[string]map[netip.Prefix]int64{},
		window: (90 * 24 * 3600 * 1000)}
	if len(cs) > 0 {
		for _, a := range cs[0].plan.admins {
			if d, err := insight.EmailDomain(a.Email); err == nil {
				f.admins = append(f.admins, d)
			}
		}
	}
	return f
}

func (f *flagger) decide(e *audit.Event) insight.Set {
	ms := e.OccurredAt.UnixMilli()
	c := e.FlagContext()
	c.AdminDomains = f.admins
	if insight.IsUserManagement(c.Action) {
		from := insight.BurstWindowStart(e.OccurredAt).UnixMilli()
		kept := f.recent[e.Actor.ID][:0]
		for _, t := range f.recent[e.Actor.ID] {
			if t >= from {
				kept = append(kept, t)
			}
		}
		c.RecentActorEvents = len(kept)
		if len(kept) >= insight.BurstThreshold {
			kept = kept[1:]
		}
		f.recent[e.Actor.ID] = append(kept, ms)
	}
	if c.Address != "" {
		if n, ok := insight.ParseNetwork(c.Address); ok {
			nets := f.seen[e.Actor.ID]
			c.ActorSeenBefore = len(nets) > 0
			if last, ok := nets[n]; ok && last >= ms-f.window {
				c.SeenNetworks = []netip.Prefix{n}
			}
			if nets == nil {
				nets = map[netip.Prefix]int64{}
				f.seen[e.Actor.ID] = nets
			}
			nets[n] = ms
		}
	}
	return insight.Decide(c)
}
