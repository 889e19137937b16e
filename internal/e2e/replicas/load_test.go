package replicas

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/auditlogd/auditlogd/internal/integrity"
)

// The mutations of the load and the events each one's success writes
// (docs/API.md §6, §10, §11).
var (
	evMemberAdded   = []string{"MEMBER_ADDED"}
	evMemberRemoved = []string{"MEMBER_REMOVED"}
	evRoleUpdated   = []string{"MEMBER_ROLE_UPDATED"}
	evEmailInvite   = []string{"EMAIL_INVITE_CREATED"}
	evEmailAccepted = []string{"EMAIL_INVITE_ACCEPTED", "MEMBER_ADDED"}
	evPublicInvite  = []string{"PUBLIC_INVITE_LINK_CREATED"}
	evPublicDeleted = []string{"PUBLIC_INVITE_LINK_DELETED"}
	evKeyCreated    = []string{"API_KEY_CREATED"}
	evKeyRevoked    = []string{"API_KEY_REVOKED"}
	evExported      = []string{"AUDIT_LOG_EXPORTED"}
	evStreamCreated = []string{"LOG_STREAM_CREATED"}
)

// space is one workspace of the load: two admins who race to demote or
// remove each other, and what the test believes their roles are.
type space struct {
	id     string
	a, b   *person
	key    string // an API key that reads the log, for exports
	stream struct{ id, secret string }

	mu     sync.Mutex
	member map[string]bool // a's and b's membership, as the test believes
	admin  map[string]bool // and their roles
}

// anyAdmin returns one of the two whom the test believes an admin now.
func (sp *space) anyAdmin() *person {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	both := []*person{sp.a, sp.b}
	first := rand.IntN(2)
	for i := range 2 {
		if p := both[(first+i)%2]; sp.admin[p.id] {
			return p
		}
	}
	return both[first]
}

// stats count what the load did.
type stats struct {
	mu                   sync.Mutex
	adminRaces           int // rounds where both admins acted at once
	adminRacesWon        int // … with exactly one winner and the other refused
	adminRacesDoubt      int // … with an answer in doubt
	inviteRaces          int // email invites accepted through several replicas at once
	inviteRacesWon       int // … with exactly one acceptance and the rest NOT_FOUND
	inviteRacesDoubt     int
	exportsVerified      int
	exportRowsVerified   int
	exportsRequesterGone int // downloads refused 403: the requester lost admin in a race
}

func (s *stats) add(f func(s *stats)) {
	s.mu.Lock()
	f(s)
	s.mu.Unlock()
}

const (
	qDemote     = `mutation($w: ID!, $u: ID!) { updateMemberRole(input: {workspaceId: $w, userId: $u, role: MEMBER}) { role } }`
	qPromote    = `mutation($w: ID!, $u: ID!) { updateMemberRole(input: {workspaceId: $w, userId: $u, role: ADMIN}) { role } }`
	qRemove     = `mutation($w: ID!, $u: ID!) { removeMember(workspaceId: $w, userId: $u) { removedUserId } }`
	qAddAdmin   = `mutation($w: ID!, $e: String!) { addMember(input: {workspaceId: $w, email: $e, role: ADMIN}) { role } }`
	qEmail      = `mutation($w: ID!, $e: String!) { createInviteLink(input: {workspaceId: $w, kind: EMAIL, email: $e}) { token } }`
	qAccept     = `mutation($t: String!) { acceptInvite(token: $t) { role } }`
	qPublic     = `mutation($w: ID!) { createInviteLink(input: {workspaceId: $w, kind: PUBLIC}) { inviteLink { id } } }`
	qDelete     = `mutation($w: ID!, $id: ID!) { deleteInviteLink(workspaceId: $w, id: $id) { deletedInviteLinkId } }`
	qKey        = `mutation($w: ID!, $n: String!) { createApiKey(input: {workspaceId: $w, name: $n}) { apiKey { id } token } }`
	qRevoke     = `mutation($w: ID!, $id: ID!) { revokeApiKey(workspaceId: $w, id: $id) { revokedApiKeyId } }`
	qExport     = `mutation($w: ID!, $f: ExportFormat!) { exportAuditLog(input: {workspaceId: $w, format: $f}) { url head { workspaceId sequence hash signedAt keyId signature } } }`
	qMembers    = `query($w: ID!) { workspace(id: $w) { members { user { id } role } } }`
	forbidden   = "FORBIDDEN"
	notFoundErr = "NOT_FOUND"
)

// raceAdmins: the workspace's two admins demote (even rounds) or remove (odd
// rounds) each other at the same moment, through two different replicas.
// Exactly one may win; the other is refused FORBIDDEN, because by the time
// its transaction decides, it is no longer an admin. Then the winner makes
// the loser an admin again (a role change, or addMember).
func (g *rig) raceAdmins(ctx context.Context, sp *space, st *stats) {
	for round := 0; ctx.Err() == nil; round++ {
		if !g.restoreAdmins(ctx, sp) {
			return
		}
		x := g.bal.pick()
		y := g.bal.pick(x)
		remove := round%2 == 1
		act := func(actor, target *person, r int) *request {
			if remove {
				return g.mutate("removeMember", r, actor.token, sp.id, evMemberRemoved, qRemove, map[string]any{"w": sp.id, "u": target.id}, nil)
			}
			return g.mutate("updateMemberRole", r, actor.token, sp.id, evRoleUpdated, qDemote, map[string]any{"w": sp.id, "u": target.id}, nil)
		}
		var ra, rb *request
		var wg sync.WaitGroup
		start := make(chan struct{})
		wg.Add(2)
		go func() { defer wg.Done(); <-start; ra = act(sp.a, sp.b, x) }()
		go func() { defer wg.Done(); <-start; rb = act(sp.b, sp.a, y) }()
		close(start)
		wg.Wait()
		st.add(func(s *stats) { s.adminRaces++ })
		if ra.outcome == inDoubt || rb.outcome == inDoubt {
			st.add(func(s *stats) { s.adminRacesDoubt++ })
			if ra.outcome == acked && rb.outcome == acked {
				g.t.Errorf("workspace %s: both admins' %s succeeded (%s, %s)", sp.id, ra.kind, ra.id, rb.id)
			}
			g.resync(sp)
			continue
		}
		switch {
		case ra.outcome == acked && rb.outcome == acked:
			g.t.Errorf("workspace %s: both admins' %s succeeded through replicas %d and %d (%s, %s): the workspace has no admin",
				sp.id, ra.kind, x, y, ra.id, rb.id)
			g.resync(sp)
			continue
		case ra.outcome != acked && rb.outcome != acked:
			g.t.Errorf("workspace %s: neither admin's %s succeeded: %s (%s), %s (%s)", sp.id, ra.kind, ra.code, ra.id, rb.code, rb.id)
			g.resync(sp)
			continue
		}
		loser, lost, winnerReq := sp.b, rb, ra // a won
		if rb.outcome == acked {
			loser, lost, winnerReq = sp.a, ra, rb
		}
		if lost.code != forbidden {
			g.t.Errorf("workspace %s: the losing %s (%s) was refused %s, want FORBIDDEN (its actor lost admin to %s)", sp.id, lost.kind, lost.id, lost.code, winnerReq.id)
		}
		st.add(func(s *stats) { s.adminRacesWon++ })
		sp.mu.Lock()
		sp.admin[loser.id] = false
		if remove {
			sp.member[loser.id] = false
		}
		sp.mu.Unlock()
	}
}

// restoreAdmins makes both a and b admins again, through the one that is,
// and returns false when ctx ended first.
func (g *rig) restoreAdmins(ctx context.Context, sp *space) bool {
	for ctx.Err() == nil {
		sp.mu.Lock()
		aAdmin, bAdmin := sp.admin[sp.a.id], sp.admin[sp.b.id]
		sp.mu.Unlock()
		if aAdmin && bAdmin {
			return true
		}
		if !aAdmin && !bAdmin {
			g.t.Errorf("workspace %s: neither admin is an admin", sp.id)
			g.resync(sp)
			return false
		}
		by, who := sp.a, sp.b
		if bAdmin {
			by, who = sp.b, sp.a
		}
		sp.mu.Lock()
		isMember := sp.member[who.id]
		sp.mu.Unlock()
		var rq *request
		if isMember {
			rq = g.mutate("updateMemberRole", g.bal.pick(), by.token, sp.id, evRoleUpdated, qPromote, map[string]any{"w": sp.id, "u": who.id}, nil)
		} else {
			rq = g.mutate("addMember", g.bal.pick(), by.token, sp.id, evMemberAdded, qAddAdmin, map[string]any{"w": sp.id, "e": who.email}, nil)
		}
		if rq.outcome == acked {
			sp.mu.Lock()
			sp.admin[who.id], sp.member[who.id] = true, true
			sp.mu.Unlock()
			continue
		}
		if rq.outcome == refused {
			g.t.Errorf("workspace %s: restoring %s as admin (%s, %s) was refused %s", sp.id, who.id, rq.kind, rq.id, rq.code)
		}
		g.resync(sp)
	}
	return false
}

// resync reads a's and b's memberships through a replica that answers,
// after an answer in doubt left the test unsure of them.
func (g *rig) resync(sp *space) {
	for attempt := 0; attempt < 100; attempt++ {
		for _, p := range []*person{sp.a, sp.b} {
			var out struct {
				Workspace *struct {
					Members []struct {
						User struct{ ID string }
						Role string
					}
				}
			}
			if err := g.read(g.bal.pick(), p.token, qMembers, map[string]any{"w": sp.id}, &out); err != nil || out.Workspace == nil {
				continue
			}
			sp.mu.Lock()
			for _, q := range []*person{sp.a, sp.b} {
				sp.member[q.id], sp.admin[q.id] = false, false
			}
			for _, m := range out.Workspace.Members {
				if m.User.ID == sp.a.id || m.User.ID == sp.b.id {
					sp.member[m.User.ID], sp.admin[m.User.ID] = true, m.Role == "ADMIN"
				}
			}
			sp.mu.Unlock()
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	g.t.Errorf("workspace %s: could not read its members through any replica", sp.id)
}

// raceInvites: an admin sends an email invite to a new person, who accepts
// it through every replica that is up at the same moment. One acceptance
// may succeed; the others find the invite used (NOT_FOUND).
func (g *rig) raceInvites(ctx context.Context, sp *space, st *stats) {
	for ctx.Err() == nil {
		admin := sp.anyAdmin()
		invitee := g.newPerson("invitee")
		var inv struct{ CreateInviteLink struct{ Token string } }
		if rq := g.mutate("createInviteLink", g.bal.pick(), admin.token, sp.id, evEmailInvite, qEmail,
			map[string]any{"w": sp.id, "e": invitee.email}, &inv); rq.outcome != acked {
			continue
		}
		targets := g.bal.upList(3)
		reqs := make([]*request, len(targets))
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, r := range targets {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				reqs[i] = g.mutate("acceptInvite", r, invitee.token, sp.id, evEmailAccepted, qAccept, map[string]any{"t": inv.CreateInviteLink.Token}, nil)
			}()
		}
		close(start)
		wg.Wait()
		acc, doubt := 0, 0
		for _, rq := range reqs {
			switch {
			case rq.outcome == acked:
				acc++
			case rq.outcome == inDoubt:
				doubt++
			case rq.code != notFoundErr:
				g.t.Errorf("workspace %s: an acceptance that lost (%s) was refused %s, want NOT_FOUND", sp.id, rq.id, rq.code)
			}
		}
		if acc > 1 {
			g.t.Errorf("workspace %s: one email invite accepted %d times through replicas %v", sp.id, acc, targets)
		}
		if doubt == 0 && acc != 1 {
			g.t.Errorf("workspace %s: an email invite accepted %d times through replicas %v, want once", sp.id, acc, targets)
		}
		st.add(func(s *stats) {
			s.inviteRaces++
			if doubt > 0 {
				s.inviteRacesDoubt++
			} else if acc == 1 {
				s.inviteRacesWon++
			}
		})
	}
}

// churn: an admin creates and deletes public invite links and creates and
// revokes API keys, through whichever replica the balancer gives.
func (g *rig) churn(ctx context.Context, sp *space) {
	for i := 0; ctx.Err() == nil; i++ {
		admin := sp.anyAdmin()
		var link struct {
			CreateInviteLink struct{ InviteLink struct{ ID string } }
		}
		if g.mutate("createInviteLink", g.bal.pick(), admin.token, sp.id, evPublicInvite, qPublic, map[string]any{"w": sp.id}, &link).outcome == acked {
			g.mutate("deleteInviteLink", g.bal.pick(), admin.token, sp.id, evPublicDeleted, qDelete,
				map[string]any{"w": sp.id, "id": link.CreateInviteLink.InviteLink.ID}, nil)
		}
		var key struct {
			CreateApiKey struct{ ApiKey struct{ ID string } }
		}
		if g.mutate("createApiKey", g.bal.pick(), admin.token, sp.id, evKeyCreated, qKey, map[string]any{"w": sp.id, "n": fmt.Sprintf("churn %d", i)}, &key).outcome == acked {
			g.mutate("revokeApiKey", g.bal.pick(), admin.token, sp.id, evKeyRevoked, qRevoke,
				map[string]any{"w": sp.id, "id": key.CreateApiKey.ApiKey.ID}, nil)
		}
	}
}

// exportLoop requests exports through one replica, alternately as an admin
// and with the workspace's API key, in JSON and CSV, downloads each through
// another replica and checks that it is complete up to its signed head.
func (g *rig) exportLoop(ctx context.Context, spaces []*space, keys integrity.JWKS, st *stats) {
	dl := &http.Client{Timeout: time.Minute}
	for i := 0; ctx.Err() == nil; i++ {
		sp := spaces[i%len(spaces)]
		token := sp.key
		if i%3 == 0 {
			token = sp.anyAdmin().token
		}
		format := []string{"JSON", "CSV"}[(i/len(spaces))%2]
		x := g.bal.pick()
		var out struct {
			ExportAuditLog struct {
				URL  string
				Head json.RawMessage
			}
		}
		if rq := g.mutate("exportAuditLog", x, token, sp.id, evExported, qExport, map[string]any{"w": sp.id, "f": format}, &out); rq.outcome == acked {
			g.download(dl, sp, x, out.ExportAuditLog.URL, out.ExportAuditLog.Head, keys, st)
		}
		select {
		case <-ctx.Done():
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// download fetches an export through replicas other than the one that made
// it and verifies it; a replica that cannot answer is tried again later.
func (g *rig) download(dl *http.Client, sp *space, made int, rawURL string, rawHead json.RawMessage, keys integrity.JWKS, st *stats) {
	u, err := url.Parse(rawURL)
	if err != nil {
		g.t.Errorf("export URL %q: %v", rawURL, err)
		return
	}
	head, err := integrity.ParseSignedHead(rawHead)
	if err != nil {
		g.t.Errorf("export head: %v", err)
		return
	}
	var last string
	for attempt := 0; attempt < 20; attempt++ {
		r := g.bal.pick(made)
		res, err := dl.Get(g.replicas[r].base + u.RequestURI())
		if err != nil {
			last = err.Error()
			time.Sleep(500 * time.Millisecond)
			continue
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		switch {
		case err != nil || res.StatusCode >= 500:
			last = fmt.Sprintf("replica %d: HTTP %d %v", r, res.StatusCode, err)
			time.Sleep(500 * time.Millisecond)
			continue
		case res.StatusCode == http.StatusForbidden && head.WorkspaceID == sp.id:
			// The requester lost admin in a race before the download, which
			// re-checks it (docs/API.md §7).
			st.add(func(s *stats) { s.exportsRequesterGone++ })
			return
		case res.StatusCode != http.StatusOK:
			g.t.Errorf("workspace %s: the export made through replica %d, downloaded through replica %d: HTTP %d %.200s", sp.id, made, r, res.StatusCode, body)
			return
		}
		rep, err := integrity.VerifyExport(bytes.NewReader(body), integrity.ExportOptions{Head: &head, Keys: keys})
		if err != nil || !rep.Complete || rep.LastSequence == nil || *rep.LastSequence != head.Sequence || !rep.SignatureValid {
			g.t.Errorf("workspace %s: the export (head %d) downloaded through replica %d is not complete: %v %+v", sp.id, head.Sequence, r, err, rep)
			return
		}
		st.add(func(s *stats) {
			s.exportsVerified++
			s.exportRowsVerified += int(rep.CheckedEvents)
		})
		return
	}
	g.t.Errorf("workspace %s: no replica served the export: %s", sp.id, last)
}
