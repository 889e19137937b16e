package replicas

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/auditlogd/auditlogd/internal/auth"
	"github.com/auditlogd/auditlogd/internal/integrity"
	"github.com/auditlogd/auditlogd/internal/testenv/galera"
)

const (
	jwtSecret    = "replicas-test-jwt-secret-0123456789-abcdefghijklmnop"
	exportSecret = "replicas-test-export-secret-0123456789-abcdefghijkl"
	// leaseTTL is short so that the leases of the replica whose node dies
	// move to another within the outage.
	leaseTTL   = 4 * time.Second
	workspaces = 4
)

// Pacing of the load's phases. They are not asserted on: they give each
// phase time to do something on a loaded machine.
const (
	warmup   = 12 * time.Second // all nodes up
	outage   = 15 * time.Second // node 3 down
	recovery = 10 * time.Second // node 3 back
)

// TestReplicasOnGalera is docs/API.md §12 end to end. Three `auditlogd serve`
// processes, the real binary, each on its own node of a three-node MariaDB
// Galera cluster, share the secrets and signing key, and take mixed
// concurrent load through a balancer that follows /readyz: two admins of
// each workspace demoting or removing each other through different replicas
// at once, an email invite accepted through every replica at once, public
// invite links and API keys created and deleted, exports made through one
// replica and downloaded through another, and a log stream per workspace
// delivered to a receiver the test runs. Node 3 is killed mid-load and
// restarted; it must rejoin by IST.
//
// Afterwards: every workspace has an admin, at every point of its log;
// events equal the mutations the clients were told succeeded (each event
// records its request's X-Request-Id, which the test sets, so each mutation
// is matched with its events: an acknowledged one has exactly its events, a
// refused one none, one whose answer was lost — the node died under it — all
// or none, and no event belongs to no request); every chain verifies
// (`auditlogd verify` against two nodes); the nodes agree; each stream
// delivered every event, in order, without a gap; node 3's replica answered
// 503 on /readyz while its node was down and 200 after; every lease
// acquisition has its own token, and the leases node 3's replica held moved.
// Last, two nodes are killed: node 3, left without quorum, still answers a
// ping, and its replica's /readyz says 503.
func TestReplicasOnGalera(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node Galera cluster and three auditlogd processes")
	}
	if raceEnabled {
		t.Skip("the replicas are child processes built without the race detector; this test runs in the plain go test step")
	}
	began := time.Now()
	c := galera.Start(t, 3)
	c.CreateDatabase(t, "auditlog")
	bin := buildBinary(t)
	keyFile := writeSigningKey(t)
	rcv := newReceiver(t)
	urlOf := func(n int) string { return fmt.Sprintf("mysql://root@tcp(127.0.0.1:%d)/auditlog", c.Node(n).Port) }
	env := func(n int) map[string]string {
		return map[string]string{
			// No wsrep_sync_wait in the URL: the service sets it on Galera.
			"AUDITLOG_DATABASE_URL":                urlOf(n),
			"AUDITLOG_JWT_SECRET":                  jwtSecret,
			"AUDITLOG_EXPORT_SECRET":               exportSecret,
			"AUDITLOG_SIGNING_KEY":                 keyFile,
			"AUDITLOG_PUBLIC_URL":                  "http://auditlog.test",
			"AUDITLOG_LEASE_TTL":                   leaseTTL.String(),
			"AUDITLOG_PRUNE_INTERVAL":              "1s",
			"AUDITLOG_RATE_LIMIT_RPS":              "0",
			"AUDITLOG_INVITE_ATTEMPTS_PER_MINUTE":  "0",
			"AUDITLOG_WORKSPACES_PER_USER_PER_DAY": "1000000",
			"AUDITLOG_JWT_EMAIL_VERIFIED_DEFAULT":  "true",
			"AUDITLOG_STREAM_ALLOW_PRIVATE":        "true",
			// The test is the load balancer: it names each request with
			// X-Request-Id, which is believed from a trusted proxy only.
			"AUDITLOG_TRUSTED_PROXIES":  "127.0.0.1/32",
			"AUDITLOG_SHUTDOWN_TIMEOUT": "5s",
		}
	}
	// Migrations run once, as their own step, before the replicas start
	// (docs/SCALING.md §1).
	runCommand(t, bin, env(1), false, "migrate")
	verifier, err := auth.NewVerifier(auth.Settings{Algorithm: "HS256", Secret: []byte(jwtSecret)})
	if err != nil {
		t.Fatal(err)
	}
	g := &rig{t: t, replicas: map[int]*replica{}, verifier: verifier, http: &http.Client{Timeout: 45 * time.Second}, bal: newBalancer(3)}
	// Replica 3 starts first and makes the workspaces and their streams
	// alone, so that it holds the retention lease and every stream's lease
	// when its node dies: they all must move.
	g.bal.set(1, false)
	g.bal.set(2, false)
	g.replicas[3] = startReplica(t, bin, 3, env(3))
	setupAt := time.Now()
	spaces := setup(t, g, rcv)
	waitFor(t, "replica 3 to hold the retention lease and every stream's", 2*time.Minute, func() bool {
		held := map[string]bool{}
		for _, l := range g.replicas[3].log() {
			if l.Msg == "lease: acquired" {
				held[l.Lease] = true
			}
		}
		for _, sp := range spaces {
			if !held["stream:"+sp.stream.id] {
				return false
			}
		}
		return held["retention"]
	})
	for n := 1; n <= 2; n++ {
		g.replicas[n] = startReplica(t, bin, n, env(n))
		g.bal.set(n, true)
	}
	for n, r := range g.replicas {
		if !strings.Contains(strings.Join(logMessages(r), "\n"), "a Galera cluster node; reads wait") {
			t.Errorf("replica %d did not log that its reads wait for causality on Galera", n)
		}
	}
	keys := publishedKeys(t, g)

	// The load.
	var samples []sample
	var samplesMu sync.Mutex
	pollCtx, stopPolling := context.WithCancel(context.Background())
	pollers := g.pollReady(pollCtx, &samples, &samplesMu)
	defer func() { stopPolling(); pollers.Wait() }()
	st := &stats{}
	loadCtx, stopLoad := context.WithCancel(context.Background())
	var load sync.WaitGroup
	for _, sp := range spaces {
		for _, f := range []func(){
			func() { g.raceAdmins(loadCtx, sp, st) },
			func() { g.raceInvites(loadCtx, sp, st) },
			func() { g.churn(loadCtx, sp) },
		} {
			load.Add(1)
			go func() { defer load.Done(); f() }()
		}
	}
	load.Add(1)
	go func() { defer load.Done(); g.exportLoop(loadCtx, spaces, keys, st) }()
	loadBegan := time.Now()

	time.Sleep(warmup)
	before := galeraConflicts(t, c)
	node3 := c.Node(3)
	node3.Kill()
	killed := time.Now()
	t.Logf("node 3 killed %s into the load (%d mutations sent)", killed.Sub(loadBegan).Round(100*time.Millisecond), len(g.requests()))
	time.Sleep(outage)
	restarting := time.Now()
	probeCtx, stopProbe := context.WithCancel(context.Background())
	probed := make(chan rejoinProbe, 1)
	go func() { probed <- probeRejoin(probeCtx, node3.Port) }()
	how := node3.Restart(t)
	synced := time.Now()
	stopProbe()
	rejoin := <-probed
	if how != galera.IST {
		t.Errorf("node 3 rejoined by %s, want IST (its data directory was intact and the others' write-set caches hold the outage)", how)
	}
	waitFor(t, "replica 3's /readyz to answer 200 again", 2*time.Minute, func() bool {
		samplesMu.Lock()
		defer samplesMu.Unlock()
		for i := len(samples) - 1; i >= 0; i-- {
			if s := samples[i]; s.replica == 3 && s.start.After(synced) {
				return s.status == http.StatusOK
			}
		}
		return false
	})
	time.Sleep(recovery)
	stopLoad()
	load.Wait()
	loadEnded := time.Now()
	stopPolling()
	pollers.Wait()
	after := galeraConflicts(t, c)

	// Every stream delivers through its workspace's head.
	db1 := c.Node(1).Open(t, "auditlog")
	heads := func() map[string]int64 {
		out := map[string]int64{}
		rows := queryRows(t, db1, "SELECT id, chain_sequence FROM workspaces")
		defer rows.Close()
		for rows.Next() {
			var id string
			var seq int64
			if err := rows.Scan(&id, &seq); err != nil {
				t.Fatal(err)
			}
			out[id] = seq
		}
		return out
	}
	waitFor(t, "every stream to deliver through its workspace's head", 3*time.Minute, func() bool {
		h := heads()
		for _, sp := range spaces {
			var through int64
			if err := db1.QueryRow("SELECT delivered_through FROM log_streams WHERE id = ?", sp.stream.id).Scan(&through); err != nil || through != h[sp.id] {
				return false
			}
		}
		return true
	})
	drained := time.Now()

	// The checks.
	ids := make([]string, len(spaces))
	for i, sp := range spaces {
		ids[i] = sp.id
	}
	fingerprints := map[int]string{}
	for n := 1; n <= 3; n++ {
		fingerprints[n] = nodeFingerprint(t, c.Node(n).Open(t, "auditlog"))
	}
	if fingerprints[1] != fingerprints[2] || fingerprints[1] != fingerprints[3] {
		t.Errorf("the nodes disagree:\nnode 1:\n%snode 2:\n%snode 3:\n%s", fingerprints[1], fingerprints[2], fingerprints[3])
	}
	replayed := checkAdminsAndReplay(t, db1, ids)
	emailInvites := checkEmailInvitesSingleUse(t, db1)
	reqs := g.requests()
	kinds, actions, events := reconcile(t, db1, reqs)
	checked1 := verifyChains(t, bin, env(1), ids)
	checked3 := verifyChains(t, bin, env(3), ids) // the node that rejoined by IST
	h := heads()
	streamed := 0
	redelivered := 0
	for _, sp := range spaces {
		hashes := map[int64][2]string{}
		rows := queryRows(t, db1, "SELECT sequence, id, LOWER(HEX(hash)) FROM audit_events WHERE workspace_id = ?", sp.id)
		for rows.Next() {
			var seq int64
			var id, hash string
			if err := rows.Scan(&seq, &id, &hash); err != nil {
				t.Fatal(err)
			}
			hashes[seq] = [2]string{id, hash}
		}
		rows.Close()
		rep := rcv.check(t, sp.stream.id, sp.id, sp.stream.secret, keys, h[sp.id], hashes)
		streamed += rep.events
		redelivered += rep.redelivered
	}
	rcv.mu.Lock()
	for _, e := range rcv.errs {
		t.Error(e)
	}
	for _, o := range rcv.overlaps {
		t.Errorf("two deliverers of one stream at once: %s", o)
	}
	rcv.mu.Unlock()

	down := checkReadiness(t, samples, killed, restarting, synced)
	moved := checkLeases(t, g, db1, killed)
	conflicts := map[string]int{}
	for _, r := range g.replicas {
		for k, v := range scrapeConflicts(t, r.base) {
			conflicts[k] += v
		}
	}
	prunes := 0
	for _, r := range g.replicas {
		for _, l := range r.log() {
			if l.Msg == "retention: pruned" {
				prunes++
			}
		}
	}
	if prunes == 0 {
		t.Error("the retention job never ran")
	}

	// The figures.
	var b strings.Builder
	doubts := map[string]int{}
	for _, rq := range reqs {
		if rq.outcome == inDoubt {
			code := rq.code
			if strings.HasPrefix(code, "transport: ") {
				code = "no answer"
			}
			doubts[fmt.Sprintf("%s through replica %d", code, rq.replica)]++
		}
	}
	total := kindCount{}
	names := make([]string, 0, len(kinds))
	for k := range kinds {
		names = append(names, k)
	}
	sort.Strings(names)
	fmt.Fprintf(&b, "%-18s %7s %7s %16s %18s\n", "mutation", "acked", "refused", "doubt→committed", "doubt→rolled back")
	for _, k := range names {
		c := kinds[k]
		fmt.Fprintf(&b, "%-18s %7d %7d %16d %18d\n", k, c.acked, c.refused, c.doubtCommitted, c.doubtRolledBack)
		total.acked += c.acked
		total.refused += c.refused
		total.doubtCommitted += c.doubtCommitted
		total.doubtRolledBack += c.doubtRolledBack
	}
	fmt.Fprintf(&b, "%-18s %7d %7d %16d %18d\n", "all", total.acked, total.refused, total.doubtCommitted, total.doubtRolledBack)
	anames := make([]string, 0, len(actions))
	for a := range actions {
		anames = append(anames, a)
	}
	sort.Strings(anames)
	fmt.Fprintf(&b, "%-28s %9s %9s\n", "event", "implied", "in the db")
	for _, a := range anames {
		fmt.Fprintf(&b, "%-28s %9d %9d\n", a, actions[a][0], actions[a][1])
	}
	certs, bfs := 0, 0
	for n, v := range after {
		base := before[n]
		if n == 3 { // restarted: its counters began again
			base = [2]int{}
			certs += before[3][0]
			bfs += before[3][1]
		}
		certs += v[0] - base[0]
		bfs += v[1] - base[1]
	}
	fmt.Fprintf(&b, "answers in doubt: %v\n", doubts)
	t.Logf("figures of this run:\n%s"+
		"admin races %d (one winner, the other FORBIDDEN: %d; an answer in doubt: %d); email invites accepted through every replica at once %d (accepted once, the rest NOT_FOUND: %d; in doubt: %d); %d email invites, none used twice\n"+
		"exports downloaded through another replica and verified complete: %d (%d rows); downloads refused because the requester had lost admin: %d\n"+
		"transactions retried after losing a conflict (1213: certification failures and brute-force aborts): %d; given up after the last attempt: %d; Galera counted %d certification failures and %d brute-force aborts\n"+
		"node 3: killed, down for %s (kill to Synced), rejoined by %s; its replica's /readyz answered 503 for %s; while rejoining, node 3 answered a ping but refused tables (1047) in %d probes over %s\n"+
		"events: %d in the database, each matched to its request; %d membership events replayed; chains verified through node 1 (%d events) and node 3 (%d); streams delivered %d events (%d again, at least once)\n"+
		"leases moved off node 3's replica: %v; retention runs: %d\n"+
		"run time: %s in all (cluster and build %s, setup %s, load %s, streams drained %s, checks %s)",
		b.String(),
		st.adminRaces, st.adminRacesWon, st.adminRacesDoubt, st.inviteRaces, st.inviteRacesWon, st.inviteRacesDoubt, emailInvites,
		st.exportsVerified, st.exportRowsVerified, st.exportsRequesterGone,
		conflicts["retried"], conflicts["gave_up"], certs, bfs,
		synced.Sub(killed).Round(100*time.Millisecond), how, down.Round(100*time.Millisecond), rejoin.pingOnly, rejoin.span().Round(100*time.Millisecond),
		events, replayed, checked1, checked3, streamed, redelivered,
		moved, prunes,
		time.Since(began).Round(time.Second), setupAt.Sub(began).Round(time.Second), loadBegan.Sub(setupAt).Round(time.Second),
		loadEnded.Sub(loadBegan).Round(time.Second), drained.Sub(loadEnded).Round(time.Second), time.Since(drained).Round(time.Second))
	if st.adminRacesWon == 0 || st.inviteRacesWon == 0 || st.exportsVerified == 0 {
		t.Errorf("the load did too little to show anything: %d admin races won, %d invite races, %d exports verified",
			st.adminRacesWon, st.inviteRacesWon, st.exportsVerified)
	}

	// Last: quorum lost. With nodes 1 and 2 gone, node 3 is alone, not a
	// primary component: it answers a ping and SELECT 1 but refuses tables,
	// and its replica must not say it is ready.
	c.Node(1).Kill()
	c.Node(2).Kill()
	raw, err := sql.Open("mysql", fmt.Sprintf("root@tcp(127.0.0.1:%d)/auditlog?timeout=3s", node3.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	waitFor(t, "node 3 to leave the primary component", time.Minute, func() bool {
		var name, status string
		return raw.QueryRow("SHOW GLOBAL STATUS LIKE 'wsrep_cluster_status'").Scan(&name, &status) == nil && status != "Primary"
	})
	if err := raw.Ping(); err != nil {
		t.Errorf("node 3 without quorum does not answer a ping: %v", err)
	}
	var one int
	if err := raw.QueryRow("SELECT 1").Scan(&one); err != nil {
		t.Errorf("node 3 without quorum does not answer SELECT 1: %v", err)
	}
	var me *mysql.MySQLError
	if _, err := raw.Exec("SELECT COUNT(*) FROM workspaces"); !errors.As(err, &me) || me.Number != 1047 {
		t.Errorf("node 3 without quorum, a table read: %v, want error 1047", err)
	}
	waitFor(t, "replica 3's /readyz to answer 503 without quorum", time.Minute, func() bool {
		res, err := http.Get(g.replicas[3].base + "/readyz")
		if err != nil {
			return false
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode == http.StatusServiceUnavailable
	})
	// AUDITLOG_REPLICAS_TEST_KEEP_LOGS names a directory to keep the
	// replicas' logs in, for reading after a run.
	if dir := os.Getenv("AUDITLOG_REPLICAS_TEST_KEEP_LOGS"); dir != "" {
		for n, r := range g.replicas {
			_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("replica%d.log", n)), []byte(r.logTail(1<<30)), 0o644)
		}
	}
}

// rejoinProbe is what probeRejoin saw of a restarting node.
type rejoinProbe struct {
	pingOnly    int // probes answered by a ping while a table read failed with 1047
	first, last time.Time
}

func (p rejoinProbe) span() time.Duration {
	if p.pingOnly == 0 {
		return 0
	}
	return p.last.Sub(p.first)
}

// probeRejoin asks a restarting node every 100 ms, until ctx ends, for a
// ping and a table read, and counts the times it answered the ping while
// refusing the table: what a ping-based readiness check would have called
// ready.
func probeRejoin(ctx context.Context, port int) rejoinProbe {
	var p rejoinProbe
	db, err := sql.Open("mysql", fmt.Sprintf("root@tcp(127.0.0.1:%d)/auditlog?timeout=1s", port))
	if err != nil {
		return p
	}
	defer db.Close()
	for ctx.Err() == nil {
		qctx, cancel := context.WithTimeout(ctx, time.Second)
		if db.PingContext(qctx) == nil {
			var one int
			var me *mysql.MySQLError
			if err := db.QueryRowContext(qctx, "SELECT 1 FROM schema_migrations LIMIT 1").Scan(&one); errors.As(err, &me) && me.Number == 1047 {
				now := time.Now()
				if p.pingOnly == 0 {
					p.first = now
				}
				p.pingOnly++
				p.last = now
			}
		}
		cancel()
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	return p
}

// waitFor polls cond until it holds; within only bounds a hang.
func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %s waiting for %s", within, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func logMessages(r *replica) []string {
	var out []string
	for _, l := range r.log() {
		out = append(out, l.Msg)
	}
	return out
}

// publishedKeys reads the signing keys every replica publishes: the same.
func publishedKeys(t *testing.T, g *rig) integrity.JWKS {
	t.Helper()
	var first string
	var keys integrity.JWKS
	for n := 1; n <= 3; n++ {
		res, err := http.Get(g.replicas[n].base + "/.well-known/auditlog-keys.json")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if n == 1 {
			first = string(b)
			if keys, err = integrity.ParseJWKS(b); err != nil {
				t.Fatalf("replica 1's keys: %v: %s", err, b)
			}
		} else if string(b) != first {
			t.Errorf("replica %d publishes other keys than replica 1:\n%s\n%s", n, b, first)
		}
	}
	return keys
}

// setup makes the workspaces, each with two admins, the BUSINESS plan, an API
// key for exports and a log stream to the receiver from its first event.
func setup(t *testing.T, g *rig, rcv *receiver) []*space {
	t.Helper()
	billing, err := g.verifier.Sign(auth.Claims{Subject: "billing-service", Scope: "billing:write"})
	if err != nil {
		t.Fatal(err)
	}
	var spaces []*space
	for i := 0; i < workspaces; i++ {
		sp := &space{a: g.newPerson("admin-a"), b: g.newPerson("admin-b"), member: map[string]bool{}, admin: map[string]bool{}}
		var ws struct{ CreateWorkspace struct{ ID string } }
		g.mustMutate("createWorkspace", sp.a.token, "", evMemberAdded, `mutation($n: String!) { createWorkspace(input: {name: $n}) { id } }`,
			map[string]any{"n": fmt.Sprintf("replicas %d", i)}, &ws)
		sp.id = ws.CreateWorkspace.ID
		// The workspace was unknown when the request was recorded.
		g.mu.Lock()
		g.reqs[len(g.reqs)-1].ws = sp.id
		g.mu.Unlock()
		g.mustMutate("setWorkspacePlan", billing, sp.id, nil, `mutation($w: ID!) { setWorkspacePlan(workspaceId: $w, plan: BUSINESS) { plan } }`,
			map[string]any{"w": sp.id}, nil)
		var viewer struct{ Viewer struct{ ID string } }
		if err := g.read(g.bal.pick(), sp.b.token, `{ viewer { id } }`, nil, &viewer); err != nil {
			t.Fatalf("b signs in: %v", err)
		}
		g.mustMutate("addMember", sp.a.token, sp.id, evMemberAdded, qAddAdmin, map[string]any{"w": sp.id, "e": sp.b.email}, nil)
		sp.member[sp.a.id], sp.member[sp.b.id], sp.admin[sp.a.id], sp.admin[sp.b.id] = true, true, true, true
		var key struct{ CreateApiKey struct{ Token string } }
		g.mustMutate("createApiKey", sp.a.token, sp.id, evKeyCreated, qKey, map[string]any{"w": sp.id, "n": "exports"}, &key)
		sp.key = key.CreateApiKey.Token
		var ls struct {
			CreateLogStream struct {
				SigningSecret string
				Stream        struct{ ID string }
			}
		}
		g.mustMutate("createLogStream", sp.a.token, sp.id, evStreamCreated,
			`mutation($w: ID!, $u: String!) { createLogStream(input: {workspaceId: $w, url: $u, startAt: EARLIEST}) { signingSecret stream { id } } }`,
			map[string]any{"w": sp.id, "u": rcv.srv.URL + "/hook"}, &ls)
		sp.stream.id, sp.stream.secret = ls.CreateLogStream.Stream.ID, ls.CreateLogStream.SigningSecret
		spaces = append(spaces, sp)
	}
	return spaces
}

// checkReadiness checks replica 3's /readyz: 200 before the kill; 503 for
// every answer to a request sent after its node was gone and answered before
// the node restarted (at least one); 200 again after the node rejoined. It
// returns how long it answered other than 200 around the outage.
func checkReadiness(t *testing.T, samples []sample, killed, restarting, synced time.Time) time.Duration {
	t.Helper()
	var r3 []sample
	for _, s := range samples {
		if s.replica == 3 {
			r3 = append(r3, s)
		}
	}
	var lastBefore, firstBad, firstGoodAfter *sample
	during := 0
	for i := range r3 {
		s := &r3[i]
		switch {
		case s.end.Before(killed):
			lastBefore = s
		case s.start.After(killed) && s.end.Before(restarting):
			during++
			if s.status != http.StatusServiceUnavailable {
				t.Errorf("replica 3's /readyz answered %d while its node was down (asked %s after the kill)", s.status, s.start.Sub(killed).Round(time.Millisecond))
			}
		}
		if s.start.After(killed) && s.status != http.StatusOK && firstBad == nil {
			firstBad = s
		}
		if s.start.After(synced) && s.status == http.StatusOK && firstGoodAfter == nil {
			firstGoodAfter = s
		}
	}
	if lastBefore == nil || lastBefore.status != http.StatusOK {
		t.Errorf("replica 3's /readyz before the kill: %+v, want 200", lastBefore)
	}
	if during == 0 {
		t.Error("replica 3's /readyz was never asked while its node was down")
	}
	if firstGoodAfter == nil {
		t.Error("replica 3's /readyz never answered 200 after its node rejoined")
		return 0
	}
	if firstBad == nil {
		return 0
	}
	return firstGoodAfter.end.Sub(firstBad.start)
}

// checkLeases checks the leases from the replicas' logs and the table: every
// acquisition of a lease has a token of its own (the database gave it to one
// replica only), the leases are held by the replicas, and every lease that
// node 3's replica held when its node died was taken by another replica
// afterwards. It returns the leases that moved.
func checkLeases(t *testing.T, g *rig, db *sql.DB, killed time.Time) []string {
	t.Helper()
	hist := leaseHistory(g.replicas)
	seen := map[string]int{}
	holder := map[string]acquisition{} // the last acquisition before the kill
	for _, a := range hist {
		k := fmt.Sprintf("%s#%d", a.lease, a.token)
		if r, ok := seen[k]; ok {
			t.Errorf("lease %s token %d was acquired by replica %d and by replica %d", a.lease, a.token, r, a.replica)
		}
		seen[k] = a.replica
		if a.at.Before(killed) {
			holder[a.lease] = a
		}
	}
	if _, ok := holder["retention"]; !ok {
		t.Error("nobody acquired the retention lease before the kill")
	}
	var moved []string
	for lease, a := range holder {
		if a.replica != 3 {
			continue
		}
		taken := false
		for _, b := range hist {
			if b.lease == lease && b.at.After(killed) && b.replica != 3 && b.token > a.token {
				taken = true
				break
			}
		}
		if !taken {
			t.Errorf("lease %s, held by replica 3 (token %d) when its node died, was never taken by another replica", lease, a.token)
		} else {
			moved = append(moved, lease)
		}
	}
	rows := queryRows(t, db, "SELECT name, owner, token FROM leases")
	defer rows.Close()
	for rows.Next() {
		var name, owner string
		var token int64
		if err := rows.Scan(&name, &owner, &token); err != nil {
			t.Fatal(err)
		}
		ours := false
		for _, r := range g.replicas {
			ours = ours || r.ownsLease(owner)
		}
		if !ours {
			t.Errorf("lease %s is held by %s, none of the replicas", name, owner)
		}
	}
	sort.Strings(moved)
	return moved
}
