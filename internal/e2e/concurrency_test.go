package e2e

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/auditlogd/auditlogd/internal/testenv"
)

// This file checks the invariants that must hold when requests race: a
// workspace keeps an admin, an email invite admits one person, a public link
// admits everyone once, and only the changes that happened are in the log.

// aCall is one request of a race.
type aCall struct {
	token string
	query string
	vars  map[string]any
}

// aRace sends the calls at the same moment, from one goroutine each, and
// returns their responses in order. Transport failures fail the test.
func aRace(t *testing.T, s *server, calls ...aCall) []*response {
	t.Helper()
	out := make([]*response, len(calls))
	errs := make([]error, len(calls))
	start := make(chan struct{})
	var ready, done sync.WaitGroup
	for i, c := range calls {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			out[i], errs[i] = aPost(s, c.token, c.query, c.vars)
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	return out
}

// aRaceEnv keeps failed invite acceptances, which these races produce on
// purpose, from being rate limited.
var aRaceEnv = map[string]string{"AUDITLOG_INVITE_ATTEMPTS_PER_MINUTE": "1000000"}

func TestConcurrencyLastAdminRace(t *testing.T) {
	t.Parallel()
	const rounds = 30
	demote := func(ws string, target user) (string, map[string]any) {
		return aRoleQuery, map[string]any{"w": ws, "u": target.id, "r": "MEMBER"}
	}
	remove := func(ws string, target user) (string, map[string]any) {
		return aRemoveQuery, map[string]any{"w": ws, "u": target.id}
	}
	cases := []struct {
		name   string
		admins int // admin i acts on admin i+1, the last on the first
		action string
		op     func(ws string, target user) (string, map[string]any)
	}{
		{name: "two-admins-demote-each-other", admins: 2, action: "MEMBER_ROLE_UPDATED", op: demote},
		{name: "two-admins-remove-each-other", admins: 2, action: "MEMBER_REMOVED", op: remove},
		{name: "three-admins-demote-in-a-cycle", admins: 3, action: "MEMBER_ROLE_UPDATED", op: demote},
		{name: "three-admins-remove-in-a-cycle", admins: 3, action: "MEMBER_REMOVED", op: remove},
	}
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, aRaceEnv)
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				admins := make([]user, tc.admins)
				for i := range admins {
					admins[i] = s.newUser(t, fmt.Sprintf("admin%d", i))
				}
				for round := range rounds {
					ws := s.newWorkspace(t, admins[0], "BUSINESS")
					for _, a := range admins[1:] {
						s.addMember(t, admins[0], ws, a, "ADMIN")
					}
					calls := make([]aCall, len(admins))
					for i, a := range admins {
						q, v := tc.op(ws, admins[(i+1)%len(admins)])
						calls[i] = aCall{token: a.token, query: q, vars: v}
					}
					successes := 0
					for i, r := range aRace(t, s, calls...) {
						switch c := r.code(); {
						case r.Status == 200 && len(r.Errors) == 0:
							successes++
						case c == "CONFLICT" || c == "FORBIDDEN":
						default:
							t.Errorf("round %d: admin %d got status %d: %s", round, i, r.Status, r.Raw)
						}
					}
					survivor, members := aSurvivor(t, s, ws, admins)
					nAdmins := 0
					for _, role := range members {
						if role == "ADMIN" {
							nAdmins++
						}
					}
					if nAdmins < 1 {
						t.Fatalf("round %d: no admin left: %v", round, members)
					}
					if successes < 1 || nAdmins != tc.admins-successes {
						t.Errorf("round %d: %d mutations succeeded but %d of %d admins remain", round, successes, nAdmins, tc.admins)
					}
					events := s.allEvents(t, survivor.token, ws, map[string]any{"actions": []string{tc.action}})
					if len(events) != successes {
						t.Errorf("round %d: %d %s events for %d successful mutations", round, len(events), tc.action, successes)
					}
				}
			})
		}
	})
}

// aSurvivor returns an admin among candidates who still sees the workspace,
// and the members they see.
func aSurvivor(t *testing.T, s *server, ws string, candidates []user) (user, map[string]string) {
	t.Helper()
	for _, c := range candidates {
		var out struct {
			Workspace *struct {
				ViewerRole string
				Members    []struct {
					User struct{ ID string }
					Role string
				}
			}
		}
		s.ok(t, c.token, `query($w: ID!) { workspace(id: $w) { viewerRole members { user { id } role } } }`, map[string]any{"w": ws}, &out)
		if out.Workspace == nil || out.Workspace.ViewerRole != "ADMIN" {
			continue
		}
		m := map[string]string{}
		for _, x := range out.Workspace.Members {
			m[x.User.ID] = x.Role
		}
		return c, m
	}
	t.Fatalf("none of the admins is an admin of %s any more", ws)
	return user{}, nil
}

func TestConcurrencyEmailInviteAcceptedOnce(t *testing.T) {
	t.Parallel()
	const rounds = 30
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, aRaceEnv)
		admin := s.newUser(t, "admin")
		ws := s.newWorkspace(t, admin, "BUSINESS")
		for round := range rounds {
			// Two accounts (two subs) of one address: say a work login and an
			// old one at the same identity provider.
			email := fmt.Sprintf("shared.%d@example.com", userSeq.Add(1))
			twins := []user{aUserWithEmail(t, s, "twinA", email), aUserWithEmail(t, s, "twinB", email)}
			inv, _ := aCreateInvite(t, s, admin.token, ws, "EMAIL", email, "")
			before := s.allEvents(t, admin.token, ws, nil)

			res := aRace(t, s, aCall{twins[0].token, aAcceptQuery, map[string]any{"t": inv.Token}},
				aCall{twins[1].token, aAcceptQuery, map[string]any{"t": inv.Token}})
			var winners []user
			for i, r := range res {
				switch {
				case r.Status == 200 && len(r.Errors) == 0:
					winners = append(winners, twins[i])
				case r.code() != "NOT_FOUND":
					t.Errorf("round %d: the loser got %s, want NOT_FOUND: %s", round, r.code(), r.Raw)
				}
			}
			if len(winners) != 1 {
				t.Fatalf("round %d: %d accounts accepted one email invite", round, len(winners))
			}
			w := winners[0]
			members := aMembers(t, s, admin.token, ws)
			for _, u := range twins {
				if _, in := members[u.id]; in != (u.id == w.id) {
					t.Errorf("round %d: %s member=%v, winner is %s", round, u.id, in, w.id)
				}
			}
			got := aFlatAll(aSince(before, s.allEvents(t, admin.token, ws, nil)))
			type short struct{ Action, Actor, Target string }
			var gotShort []short
			for _, e := range got {
				gotShort = append(gotShort, short{e.Action, e.ActorID, e.TargetID})
			}
			want := []short{{"MEMBER_ADDED", w.id, w.id}, {"EMAIL_INVITE_ACCEPTED", w.id, inv.ID}}
			slices.SortFunc(gotShort, func(a, b short) int { return strings.Compare(b.Action, a.Action) })
			if diff := cmp.Diff(want, gotShort); diff != "" {
				t.Errorf("round %d: events (-want +got):\n%s", round, diff)
			}
		}
	})
}

func TestConcurrencyPublicInviteManyUsers(t *testing.T) {
	t.Parallel()
	const rounds, users = 3, 25
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, aRaceEnv)
		admin := s.newUser(t, "admin")
		for round := range rounds {
			ws := s.newWorkspace(t, admin, "BUSINESS")
			inv, _ := aCreateInvite(t, s, admin.token, ws, "PUBLIC", "", "")
			before := s.allEvents(t, admin.token, ws, nil)
			joiners := make([]user, users)
			calls := make([]aCall, users)
			for i := range joiners {
				joiners[i] = s.newUser(t, "joiner")
				calls[i] = aCall{joiners[i].token, aAcceptQuery, map[string]any{"t": inv.Token}}
			}
			for i, r := range aRace(t, s, calls...) {
				if r.Status != 200 || len(r.Errors) > 0 {
					t.Errorf("round %d: joiner %d: status %d: %s", round, i, r.Status, r.Raw)
				}
			}
			members := aMembers(t, s, admin.token, ws)
			if len(members) != users+1 {
				t.Errorf("round %d: %d members, want %d", round, len(members), users+1)
			}
			for _, j := range joiners {
				if members[j.id] != "MEMBER" {
					t.Errorf("round %d: joiner %s has role %q", round, j.id, members[j.id])
				}
			}
			if got := aInviteLinks(t, s, admin.token, ws)[inv.ID]; got != users {
				t.Errorf("round %d: acceptedCount = %d, want %d", round, got, users)
			}
			// One pair of events per joiner, and nothing else.
			pairs := map[string][]string{}
			newEvents := aSince(before, s.allEvents(t, admin.token, ws, nil))
			for _, e := range aFlatAll(newEvents) {
				pairs[e.ActorID] = append(pairs[e.ActorID], e.Action+"→"+e.TargetID)
			}
			want := map[string][]string{}
			for _, j := range joiners {
				want[j.id] = []string{"MEMBER_ADDED→" + j.id, "PUBLIC_INVITE_LINK_ACCEPTED→" + inv.ID}
			}
			for _, p := range pairs {
				slices.Sort(p)
			}
			if diff := cmp.Diff(want, pairs); diff != "" {
				t.Errorf("round %d: events by actor (-want +got):\n%s", round, diff)
			}
		}
	})
}

func TestConcurrencyPublicInviteSameUserTwice(t *testing.T) {
	t.Parallel()
	const rounds = 30
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		s := newServer(t, db, aRaceEnv)
		admin := s.newUser(t, "admin")
		ws := s.newWorkspace(t, admin, "BUSINESS")
		inv, _ := aCreateInvite(t, s, admin.token, ws, "PUBLIC", "", "")
		for round := range rounds {
			u := s.newUser(t, "eager")
			before := s.allEvents(t, admin.token, ws, nil)
			call := aCall{u.token, aAcceptQuery, map[string]any{"t": inv.Token}}
			for i, r := range aRace(t, s, call, call) {
				if r.Status != 200 || len(r.Errors) > 0 {
					t.Errorf("round %d: acceptance %d: status %d: %s", round, i, r.Status, r.Raw)
				}
			}
			if role := aMembers(t, s, admin.token, ws)[u.id]; role != "MEMBER" {
				t.Errorf("round %d: role %q, want MEMBER", round, role)
			}
			if got := aInviteLinks(t, s, admin.token, ws)[inv.ID]; got != round+1 {
				t.Errorf("round %d: acceptedCount = %d, want %d", round, got, round+1)
			}
			var got []string
			for _, e := range aFlatAll(aSince(before, s.allEvents(t, admin.token, ws, nil))) {
				got = append(got, e.Action+" by "+e.ActorID+" on "+e.TargetID)
			}
			slices.Sort(got)
			want := []string{"MEMBER_ADDED by " + u.id + " on " + u.id, "PUBLIC_INVITE_LINK_ACCEPTED by " + u.id + " on " + inv.ID}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("round %d: events (-want +got):\n%s", round, diff)
			}
		}
	})
}
