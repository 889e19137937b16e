package integrity_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/integrity"
	"github.com/auditlogd/auditlogd/internal/role"
)

// verifyAll runs the verifier over rows (given oldest first in log order)
// four ways — ascending and descending, through Event and through Row — and
// fails unless all four agree. It returns the result.
func verifyAll(t *testing.T, rows []link, opts integrity.Options) integrity.Result {
	t.Helper()
	var results []integrity.Result
	for _, order := range []integrity.Order{integrity.Ascending, integrity.Descending} {
		for _, viaRow := range []bool{false, true} {
			o := opts
			o.Order = order
			v := integrity.NewVerifier(hWorkspace, o)
			in := slices.Clone(rows)
			if order == integrity.Descending {
				slices.Reverse(in)
			}
			for i := range in {
				if viaRow {
					v.Row(eventRow(&in[i].Event), in[i].Sequence, in[i].PrevHash, in[i].Hash)
				} else {
					v.Event(&in[i].Event, in[i].Sequence, in[i].PrevHash, in[i].Hash)
				}
			}
			results = append(results, v.Finish())
		}
	}
	for i := 1; i < len(results); i++ {
		if diff := cmp.Diff(results[0], results[i]); diff != "" {
			t.Fatalf("ascending/descending, Event/Row disagree (run 0 vs %d):\n%s", i, diff)
		}
	}
	for _, p := range results[0].Problems {
		if p.Detail == "" || (p.Kind != integrity.SequenceGap && p.Kind != integrity.HeadMismatch && p.EventID == "") {
			t.Errorf("problem %+v lacks a detail or an event id", p)
		}
	}
	return results[0]
}

// kinds is a result's problems as "KIND@sequence", oldest first.
func kinds(r integrity.Result) []string {
	out := []string{}
	for _, p := range r.Problems {
		out = append(out, fmt.Sprintf("%s@%d", p.Kind, p.Sequence))
	}
	return out
}

func headOf(rows []link) *integrity.Head {
	last := rows[len(rows)-1]
	return &integrity.Head{WorkspaceID: hWorkspace, Sequence: last.Sequence, Hash: last.Hash, SignedAt: time.Now()}
}

// rehashFrom recomputes hashes (and prevHashes) from index i on, as someone
// with write access to the whole table would after an edit.
func rehashFrom(t *testing.T, rows []link, i int) {
	t.Helper()
	var h integrity.Hasher
	for ; i < len(rows); i++ {
		if i > 0 {
			rows[i].PrevHash = rows[i-1].Hash
		}
		var err error
		if rows[i].Hash, err = h.Event(&rows[i].Event, rows[i].Sequence, rows[i].PrevHash); err != nil {
			t.Fatal(err)
		}
	}
}

// TestEditingAnyFieldIsAHashMismatchAtThatSequenceOnly edits each field of
// the sixth of ten events (one with every field set) in turn, behind the
// chain's back.
func TestEditingAnyFieldIsAHashMismatchAtThatSequenceOnly(t *testing.T) {
	t.Parallel()
	chain := makeChain(t, 1, integrity.ZeroHash, 10)
	head := headOf(chain)
	for _, tc := range []struct {
		name string
		edit func(e *audit.Event)
	}{
		{"id", func(e *audit.Event) { e.ID = "01HZY3J4QK2M6N8P0R2S4T6ZZZ" }},
		{"occurred-at-by-a-millisecond", func(e *audit.Event) { e.OccurredAt = e.OccurredAt.Add(time.Millisecond) }},
		{"action", func(e *audit.Event) { e.Action = audit.MemberRemoved }},
		{"actor-id", func(e *audit.Event) { e.Actor.ID = "u-mallory" }},
		{"actor-email", func(e *audit.Event) { e.Actor.Email = hp("mallory@example.com") }},
		{"actor-email-to-null", func(e *audit.Event) { e.Actor.Email = nil }},
		{"actor-type", func(e *audit.Event) { e.Actor.Type = audit.ActorService }},
		{"target-type", func(e *audit.Event) { e.Target.Type = audit.TargetWorkspace }},
		{"target-id", func(e *audit.Event) { e.Target.ID = "u-carol" }},
		{"target-label", func(e *audit.Event) { e.Target.Label = hp("carol@example.com") }},
		{"target-label-to-null", func(e *audit.Event) { e.Target.Label = nil }},
		{"target-removed", func(e *audit.Event) { e.Target = nil }},
		{"previous-role", func(e *audit.Event) { e.PreviousRole = hRole(role.Admin) }},
		{"role", func(e *audit.Event) { e.Role = hRole(role.Member) }},
		{"role-to-null", func(e *audit.Event) { e.Role = nil }},
		{"ip-address", func(e *audit.Event) { e.IPAddress = hp("198.51.100.1") }},
		{"user-agent", func(e *audit.Event) { e.UserAgent = hp("curl/8") }},
		{"request-id", func(e *audit.Event) { e.RequestID = hp("req-forged") }},
		{"request-id-to-empty", func(e *audit.Event) { e.RequestID = hp("") }},
		{"workspace-moved-in-from-another", func(e *audit.Event) { e.WorkspaceID = "other" }}, // hashed as hWorkspace
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows := slices.Clone(chain)
			ev := rows[5].Event
			if ev.Target == nil || ev.Actor.Email == nil || ev.Role == nil || ev.RequestID == nil {
				t.Fatalf("the sixth event does not have every field set: %+v", ev)
			}
			ev.Target = &audit.Target{Type: ev.Target.Type, ID: ev.Target.ID, Label: ev.Target.Label}
			tc.edit(&ev)
			rows[5].Event = ev
			res := verifyAll(t, rows, integrity.Options{Head: head})
			if tc.name == "workspace-moved-in-from-another" {
				// The verifier hashes every row as its workspace's; the
				// field itself is not read.
				if !res.OK {
					t.Fatalf("problems %v", kinds(res))
				}
				return
			}
			if diff := cmp.Diff([]string{"HASH_MISMATCH@6"}, kinds(res)); diff != "" {
				t.Fatalf("problems (-want +got):\n%s", diff)
			}
			if res.Problems[0].EventID != rows[5].Event.ID {
				t.Errorf("event id %q, want %q", res.Problems[0].EventID, rows[5].Event.ID)
			}
			if !res.ReachesHead {
				t.Error("an edit in the middle should not stop the rows reaching the head")
			}
		})
	}
}

func TestChainTampering(t *testing.T) {
	t.Parallel()
	chain := makeChain(t, 1, integrity.ZeroHash, 10)
	head := headOf(chain)
	without := func(rows []link, seqs ...int64) []link {
		return slices.DeleteFunc(slices.Clone(rows), func(l link) bool { return slices.Contains(seqs, l.Sequence) })
	}
	for _, tc := range []struct {
		name    string
		rows    func() []link
		opts    integrity.Options
		want    []string
		reaches bool
		detail  string // in the first problem's detail, when set
	}{
		{"untouched-chain-verifies", func() []link { return chain }, integrity.Options{Head: head}, nil, true, ""},
		{"untouched-without-a-head", func() []link { return chain }, integrity.Options{}, nil, false, ""},
		{"middle-event-deleted-is-a-gap-only", func() []link { return without(chain, 5) },
			integrity.Options{Head: head}, []string{"SEQUENCE_GAP@5"}, true, "sequence 5 is missing"},
		{"three-events-deleted-is-one-gap-at-the-first", func() []link { return without(chain, 4, 5, 6) },
			integrity.Options{Head: head}, []string{"SEQUENCE_GAP@4"}, true, "sequences 4 to 6 are missing (3 events)"},
		{"changed-prev-hash-is-chain-broken-only", func() []link {
			rows := slices.Clone(chain)
			rows[4].PrevHash[0] ^= 0xff
			return rows
		}, integrity.Options{Head: head}, []string{"CHAIN_BROKEN@5"}, true, "prevHash alone was changed"},
		{"changed-stored-hash-is-a-mismatch-there-only", func() []link {
			rows := slices.Clone(chain)
			rows[4].Hash[0] ^= 0xff
			return rows
		}, integrity.Options{Head: head}, []string{"HASH_MISMATCH@5"}, true, ""},
		{"changed-hash-of-the-newest-is-a-mismatch-only", func() []link {
			rows := slices.Clone(chain)
			rows[9].Hash[0] ^= 0xff
			return rows
		}, integrity.Options{Head: head}, []string{"HASH_MISMATCH@10"}, true, ""},
		{"edited-and-rehashed-breaks-the-next-link", func() []link {
			rows := slices.Clone(chain)
			rows[4].Event.Action = audit.MemberRemoved
			rows[4].Hash, _ = integrity.EventHash(&rows[4].Event, 5, rows[4].PrevHash)
			return rows
		}, integrity.Options{Head: head}, []string{"CHAIN_BROKEN@6"}, true, "is not the hash of sequence 5"},
		{"rewritten-to-the-end-passes-its-own-head", func() []link {
			rows := slices.Clone(chain)
			rows[4].Event.Action = audit.MemberRemoved
			rehashFrom(t, rows, 4)
			return rows
		}, integrity.Options{}, nil, false, ""},
		{"rewritten-to-the-end-fails-a-signed-head", func() []link {
			rows := slices.Clone(chain)
			rows[4].Event.Action = audit.MemberRemoved
			rehashFrom(t, rows, 4)
			return rows
		}, integrity.Options{Head: head}, []string{"HEAD_MISMATCH@10"}, false, "the log was rewritten"},
		{"newest-events-deleted-is-a-head-mismatch", func() []link { return without(chain, 9, 10) },
			integrity.Options{Head: head}, []string{"HEAD_MISMATCH@10"}, false, "the newest event is sequence 8"},
		{"edited-and-prev-hash-changed-is-both", func() []link {
			rows := slices.Clone(chain)
			rows[4].Event.Action = audit.MemberRemoved
			rows[4].PrevHash[0] ^= 0xff
			return rows
		}, integrity.Options{Head: head}, []string{"CHAIN_BROKEN@5", "HASH_MISMATCH@5"}, true, ""},
		{"first-event-not-after-zeros", func() []link {
			rows := slices.Clone(chain)
			rows[0].PrevHash = integrity.Hash{1}
			rehashFrom(t, rows[:1], 0)
			rows[1].PrevHash = rows[0].Hash
			rehashFrom(t, rows, 1)
			return rows
		}, integrity.Options{}, []string{"CHAIN_BROKEN@1"}, false, "not 64 zeros"},
		{"retention-deleted-the-oldest", func() []link { return chain[3:] },
			integrity.Options{Head: head}, nil, true, ""},
		{"retention-deleted-the-oldest-as-recorded", func() []link { return chain[3:] },
			integrity.Options{Head: head, RetainedFrom: 4}, nil, true, ""},
		{"retention-lagging-behind-its-record", func() []link { return chain[3:] },
			integrity.Options{Head: head, RetainedFrom: 6}, nil, true, ""},
		{"oldest-deleted-behind-retentions-back", func() []link { return chain[3:] },
			integrity.Options{Head: head, RetainedFrom: 2}, []string{"SEQUENCE_GAP@2"}, true, "sequences 2 to 3"},
		{"anchor-prev-hash-edited-is-a-mismatch", func() []link {
			rows := slices.Clone(chain[3:])
			rows[0].PrevHash[0] ^= 1
			return rows
		}, integrity.Options{Head: head}, []string{"HASH_MISMATCH@4"}, true, ""},
		{"all-pruned-with-the-record", func() []link { return nil },
			integrity.Options{Head: head, RetainedFrom: 11}, nil, true, ""},
		{"all-deleted-without-the-record", func() []link { return nil },
			integrity.Options{Head: head}, []string{"HEAD_MISMATCH@10"}, false, "there are no events"},
		{"all-deleted-but-retention-kept-some", func() []link { return nil },
			integrity.Options{Head: head, RetainedFrom: 8}, []string{"HEAD_MISMATCH@10"}, false, ""},
		{"empty-log-and-empty-head", func() []link { return nil },
			integrity.Options{Head: &integrity.Head{WorkspaceID: hWorkspace}}, nil, true, ""},
		{"events-but-the-head-says-empty", func() []link { return chain },
			integrity.Options{Head: &integrity.Head{WorkspaceID: hWorkspace}}, []string{"HEAD_MISMATCH@0"}, false, ""},
		{"empty-head-with-a-hash", func() []link { return nil },
			integrity.Options{Head: &integrity.Head{WorkspaceID: hWorkspace, Hash: integrity.Hash{1}}}, []string{"HEAD_MISMATCH@0"}, false, ""},
		{"rows-beyond-the-head", func() []link { return chain },
			integrity.Options{Head: headOf(chain[:7])}, []string{"HEAD_MISMATCH@7"}, false, "follow the head"},
		{"kept-head-checkpoint-in-a-grown-log", func() []link { return chain },
			integrity.Options{Head: headOf(chain[:7]), Checkpoint: true}, nil, true, ""},
		{"kept-head-checkpoint-in-a-rewritten-log", func() []link {
			rows := slices.Clone(chain)
			rows[2].Event.Action = audit.MemberRemoved
			rehashFrom(t, rows, 2)
			return rows
		}, integrity.Options{Head: headOf(chain[:7]), Checkpoint: true}, []string{"HEAD_MISMATCH@7"}, false, ""},
		{"kept-head-checkpoint-truncated-log", func() []link { return chain[:5] },
			integrity.Options{Head: headOf(chain[:7]), Checkpoint: true}, []string{"HEAD_MISMATCH@7"}, false, ""},
		{"kept-head-older-than-retention", func() []link { return chain[5:] },
			integrity.Options{Head: headOf(chain[:3]), Checkpoint: true}, nil, false, ""},
		{"filtered-subset-verifies", func() []link {
			return []link{chain[1], chain[4], chain[5], chain[8]}
		}, integrity.Options{Head: head, Filtered: true}, nil, false, ""},
		{"filtered-with-the-newest-reaches-the-head", func() []link {
			return []link{chain[1], chain[9]}
		}, integrity.Options{Head: head, Filtered: true}, nil, true, ""},
		{"filtered-edited-row", func() []link {
			rows := []link{chain[1], chain[4], chain[5], chain[8]}
			rows[1].Event.Actor.ID = "u-mallory"
			return rows
		}, integrity.Options{Head: head, Filtered: true}, []string{"HASH_MISMATCH@5"}, false, ""},
		{"filtered-adjacent-rows-are-linked", func() []link {
			rows := []link{chain[1], chain[4], chain[5], chain[8]}
			rows[2].PrevHash[3] ^= 1
			return rows
		}, integrity.Options{Head: head, Filtered: true}, []string{"CHAIN_BROKEN@6"}, false, ""},
		{"filtered-row-newer-than-the-head", func() []link { return []link{chain[1], chain[8]} },
			integrity.Options{Head: headOf(chain[:5]), Filtered: true}, []string{"HEAD_MISMATCH@5"}, false, ""},
		{"forged-duplicate-of-a-sequence", func() []link {
			forged := chain[4]
			forged.Event.ID = "01HZY3J4QK2M6N8P0R2SFORGED"
			forged.Hash, _ = integrity.EventHash(&forged.Event, 5, forged.PrevHash)
			return slices.Insert(slices.Clone(chain), 5, forged)
		}, integrity.Options{Head: head}, []string{"CHAIN_BROKEN@5", "CHAIN_BROKEN@6"}, true, "out of order or repeated"},
		{"sequence-zero", func() []link {
			rows := slices.Clone(chain)
			rows[0].Sequence = 0
			return rows
		}, integrity.Options{Head: head}, []string{"CHAIN_BROKEN@0"}, true, "not a place in a chain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := verifyAll(t, tc.rows(), tc.opts)
			want := tc.want
			if want == nil {
				want = []string{}
			}
			if diff := cmp.Diff(want, kinds(res)); diff != "" {
				t.Errorf("problems (-want +got):\n%s\n%+v", diff, res.Problems)
			}
			if res.OK != (len(tc.want) == 0) || res.ProblemCount != int64(len(tc.want)) {
				t.Errorf("ok %v, problemCount %d, for problems %v", res.OK, res.ProblemCount, tc.want)
			}
			if res.ReachesHead != tc.reaches {
				t.Errorf("reachesHead %v, want %v", res.ReachesHead, tc.reaches)
			}
			if tc.detail != "" && (len(res.Problems) == 0 || !strings.Contains(res.Problems[0].Detail, tc.detail)) {
				t.Errorf("first problem %+v does not say %q", res.Problems, tc.detail)
			}
		})
	}
}

func TestResultCountsAndRange(t *testing.T) {
	t.Parallel()
	chain := makeChain(t, 41, integrity.Hash{7}, 5) // a retained chain: 41…45
	res := verifyAll(t, chain, integrity.Options{Head: headOf(chain)})
	if !res.OK || res.CheckedEvents != 5 || *res.FirstSequence != 41 || *res.LastSequence != 45 {
		t.Errorf("result %+v", res)
	}
	empty := verifyAll(t, nil, integrity.Options{})
	if !empty.OK || empty.CheckedEvents != 0 || empty.FirstSequence != nil || empty.LastSequence != nil || empty.Problems == nil {
		t.Errorf("empty result %+v", empty)
	}
}

// TestProblemsAreCappedOldestFirst edits every event of a long chain: the
// result lists the oldest MaxProblems and counts all.
func TestProblemsAreCappedOldestFirst(t *testing.T) {
	t.Parallel()
	chain := makeChain(t, 1, integrity.ZeroHash, 350)
	for i := range chain {
		chain[i].Event.Actor.ID = "u-mallory"
	}
	res := verifyAll(t, chain, integrity.Options{Head: headOf(chain)})
	if res.ProblemCount != 350 || len(res.Problems) != integrity.MaxProblems {
		t.Fatalf("problemCount %d, %d listed", res.ProblemCount, len(res.Problems))
	}
	for i, p := range res.Problems {
		if p.Kind != integrity.HashMismatch || p.Sequence != int64(i+1) {
			t.Fatalf("problem %d is %+v, want HASH_MISMATCH at %d", i, p, i+1)
		}
	}
}

// TestVerifierRowPathAllocatesNothing: the database verifier's path stays
// allocation-free per row, which is what keeps a million rows cheap.
func TestVerifierRowPathAllocatesNothing(t *testing.T) {
	chain := makeChain(t, 1, integrity.ZeroHash, 64)
	for i := range chain { // only strings JCS writes as they are
		chain[i].Event.UserAgent = hp("Mozilla/5.0 (X11; Linux x86_64)")
	}
	rehashFrom(t, chain, 0)
	rows := make([]*audit.Row, len(chain))
	for i := range chain {
		rows[i] = eventRow(&chain[i].Event)
	}
	v := integrity.NewVerifier(hWorkspace, integrity.Options{})
	i := 0
	allocs := testing.AllocsPerRun(len(chain)-1, func() {
		v.Row(rows[i], chain[i].Sequence, chain[i].PrevHash, chain[i].Hash)
		i++
	})
	if allocs > 0 {
		t.Errorf("%.1f allocations per row", allocs)
	}
}
