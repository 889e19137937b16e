package integrity

import (
	"cmp"
	"crypto/sha256"
	"fmt"
	"slices"
	"time"

	"github.com/auditlogd/auditlogd/internal/audit"
)

// ProblemKind is what is wrong at a place in a chain. The values are the
// GraphQL enum IntegrityProblemKind's names.
type ProblemKind string

// The problems a verification reports (docs/API.md §9).
const (
	// HashMismatch: an event's stored hash is not the hash of its content,
	// sequence and prevHash — the event was edited.
	HashMismatch ProblemKind = "HASH_MISMATCH"
	// ChainBroken: an event's prevHash is not the hash of the event before it
	// (or not zeros for sequence 1), or it is out of order — rows were
	// re-linked, re-hashed or inserted.
	ChainBroken ProblemKind = "CHAIN_BROKEN"
	// SequenceGap: sequences are missing between two events — events were
	// deleted from the middle.
	SequenceGap ProblemKind = "SEQUENCE_GAP"
	// HeadMismatch: the events do not reach the head they should (the newest
	// were removed) or reach another hash (the log was rewritten).
	HeadMismatch ProblemKind = "HEAD_MISMATCH"
)

// rank orders problems at the same sequence the same way whichever
// direction the rows were read in.
func (k ProblemKind) rank() int {
	switch k {
	case SequenceGap:
		return 0
	case ChainBroken:
		return 1
	case HashMismatch:
		return 2
	}
	return 3
}

// Problem is one finding, at the sequence where the chain goes wrong.
type Problem struct {
	Kind     ProblemKind `json:"kind"`
	Sequence int64       `json:"sequence"`
	// EventID is the event at Sequence, when there is one (a gap has none).
	EventID string `json:"eventId,omitempty"`
	Detail  string `json:"detail"`
}

// MaxProblems is how many problems a Result lists; it counts them all.
const MaxProblems = 100

// Result is the outcome of verifying a chain, shaped like the API's
// AuditLogVerification (without the head, which the caller signs).
type Result struct {
	OK            bool   `json:"ok"`
	CheckedEvents int64  `json:"checkedEvents"`
	FirstSequence *int64 `json:"firstSequence"` // the oldest sequence checked; nil for none
	LastSequence  *int64 `json:"lastSequence"`  // the newest sequence checked; nil for none
	// ReachesHead is true when a head was given and the rows reach it: the
	// event at its sequence has its hash (and, unless Options.Checkpoint, is
	// the newest), or the log is empty and so is the head.
	ReachesHead bool `json:"reachesHead"`
	// Problems are the oldest MaxProblems problems, by sequence.
	Problems     []Problem `json:"problems"`
	ProblemCount int64     `json:"problemCount"`
}

// Order is the order rows are handed to a Verifier in.
type Order int

// The orders: the database reads ascending; exports are newest first.
const (
	Ascending Order = iota
	Descending
)

// Options say what a Verifier may assume about the rows it is given.
type Options struct {
	// Order of the rows by sequence.
	Order Order
	// Head, when set, is the head the rows must reach: the stored head, or
	// the signed head of an export.
	Head *Head
	// Checkpoint makes Head a point the chain must pass through rather than
	// its end: rows newer than Head are fine (a head kept earlier, checked
	// against a log that has grown since).
	Checkpoint bool
	// Filtered says the rows are a subset (a filtered export): missing
	// sequences are expected, so there is no SEQUENCE_GAP and no claim of
	// completeness; every row's hash, links between rows that happen to be
	// adjacent, and rows newer than Head are still checked.
	Filtered bool
	// RetainedFrom, when not 0, is the oldest sequence retention kept: it
	// deleted every event before it and none after. The oldest row must then
	// be at or before it (a later one is a SEQUENCE_GAP: events deleted
	// behind retention's back), and an empty log is complete when the head
	// is older than it. When 0, the oldest row anchors whatever is left.
	RetainedFrom int64
}

// Verifier checks one workspace's chain from its rows, streamed one at a
// time in Options.Order, in constant memory. Hand it every row with Event or
// Row, then call Finish. It is not safe for concurrent use.
//
// How one tampering shows, so that each yields the kind the contract names:
//
//   - An edited event (any column but the chain's own): its hash no longer
//     recomputes — HASH_MISMATCH at its sequence, nothing else. Links are
//     checked against the stored hash of the previous row (or its recomputed
//     hash, if only that hash was edited), so the next row stays linked.
//   - A deleted middle event: SEQUENCE_GAP at the first missing sequence. The
//     next row's prevHash names the deleted event, which cannot be checked,
//     so it is not also a CHAIN_BROKEN.
//   - A changed prevHash: the row's hash would recompute if prevHash were the
//     previous row's hash, so it is CHAIN_BROKEN alone, not a HASH_MISMATCH.
//   - An edited event re-hashed to hide it: CHAIN_BROKEN at the next
//     sequence, whose prevHash still names the old hash — or, if every later
//     hash was recomputed as well, HEAD_MISMATCH against a signed head.
//   - Deleted newest events: HEAD_MISMATCH (there is no later row to show a
//     gap).
type Verifier struct {
	workspace   []byte
	workspaceID string
	opts        Options
	tb          timeBuf

	// Ascending: last is the previous row. Descending: last is the pending
	// newer row, judged when the row before it arrives. spare is reused.
	last, spare *rowState

	checked       int64
	first, newest int64 // smallest and largest valid sequence seen
	headSeen      bool
	headMatched   bool
	headID        []byte
	problems      []Problem
	problemCount  int64
}

// rowState is one row between being read and being judged: its place in the
// chain, its hashes, and its canonical bytes (to re-hash with another
// prevHash).
type rowState struct {
	seq      int64
	id       []byte
	prev     Hash
	stored   Hash
	computed Hash
	canon    []byte
	prevAt   int
}

// NewVerifier returns a Verifier of workspaceID's chain. Every row is hashed
// as an event of workspaceID, whatever workspace it claims: a row moved in
// from another workspace does not verify.
func NewVerifier(workspaceID string, opts Options) *Verifier {
	return &Verifier{workspace: []byte(workspaceID), workspaceID: workspaceID, opts: opts, spare: &rowState{}}
}

// Event adds an event with its chain columns: its sequence, the prevHash
// and hash stored with it.
func (v *Verifier) Event(e *audit.Event, sequence int64, prevHash, hash Hash) {
	r := eventRecord(e, appendTime(&v.tb, e.OccurredAt), sequence, prevHash)
	r.val[fWorkspaceID] = v.workspaceID
	addRecord(v, &r, e.ID, hash)
}

// Row adds an event read as raw columns (the store's streaming reader), with
// its chain columns. It allocates nothing.
func (v *Verifier) Row(r *audit.Row, sequence int64, prevHash, hash Hash) {
	rec := rowRecord(v.workspace, r, appendTime(&v.tb, time.UnixMilli(r.OccurredAtMs)), sequence, prevHash)
	addRecord(v, &rec, r.ID, hash)
}

func addRecord[T text](v *Verifier, rec *record[T], id T, stored Hash) {
	v.checked++
	seq := rec.sequence
	if seq < 1 || seq > MaxSequence {
		v.report(ChainBroken, seq, string(id), fmt.Sprintf("sequence %d is not a place in a chain (1 to 2^53 − 1)", seq))
		return
	}
	cur := v.spare
	canon, prevAt, err := appendCanonical(cur.canon[:0], rec)
	if err != nil { // cannot happen: the sequence is in range
		v.report(HashMismatch, seq, string(id), "cannot build the canonical form: "+err.Error())
		return
	}
	cur.seq, cur.prev, cur.stored = seq, rec.prevHash, stored
	cur.id = append(cur.id[:0], id...)
	cur.canon, cur.prevAt = canon, prevAt
	cur.computed = sha256.Sum256(canon)
	v.track(cur)

	if v.opts.Order == Descending {
		// In log order cur comes before the pending row, which it may now
		// judge.
		if p := v.last; p != nil {
			if p.seq <= cur.seq {
				v.outOfOrder(p, cur.seq)
				v.judge(p, nil)
			} else {
				v.judge(p, cur)
			}
		}
	} else {
		switch p := v.last; {
		case p == nil:
			v.judge(cur, nil)
		case cur.seq <= p.seq:
			v.outOfOrder(cur, p.seq)
			v.judge(cur, nil)
		default:
			v.judge(cur, p)
		}
	}
	if v.last == nil {
		v.last, v.spare = cur, &rowState{}
	} else {
		v.last, v.spare = cur, v.last
	}
}

// track remembers what Finish needs: the range of sequences, the newest row
// and the row at the head's sequence.
func (v *Verifier) track(r *rowState) {
	if v.first == 0 || r.seq < v.first {
		v.first = r.seq
	}
	v.newest = max(v.newest, r.seq)
	if h := v.opts.Head; h != nil && r.seq == h.Sequence && !v.headSeen {
		v.headSeen = true
		v.headMatched = r.stored == h.Hash || r.computed == h.Hash
		v.headID = append(v.headID[:0], r.id...)
	}
}

func (v *Verifier) outOfOrder(r *rowState, after int64) {
	v.report(ChainBroken, r.seq, string(r.id),
		fmt.Sprintf("sequence %d follows sequence %d: rows are out of order or repeated", r.seq, after))
}

// judge decides the problems of row n given the row before it in the log, o
// (nil when there is none to compare: the oldest row, or after a row out of
// order).
func (v *Verifier) judge(n, o *rowState) {
	// want is what n's prevHash must be when it can be known: zeros for
	// sequence 1, else the previous row's stored hash — or its recomputed
	// hash (alt), which n also commits to if only that row's stored hash
	// was edited.
	var want, alt Hash
	linkKnown := false
	switch {
	case n.seq == 1:
		linkKnown = true
	case o != nil && n.seq == o.seq+1:
		linkKnown, want, alt = true, o.stored, o.computed
	case o != nil && !v.opts.Filtered:
		v.gap(o.seq+1, n.seq-1)
	}
	hashOK := n.computed == n.stored
	linkOK := !linkKnown || n.prev == want || n.prev == alt
	switch {
	case hashOK && linkOK:
	case linkOK:
		v.report(HashMismatch, n.seq, string(n.id), fmt.Sprintf(
			"the event does not hash to its stored hash %s (its content hashes to %s): it was edited", n.stored, n.computed))
	case hashOK:
		v.report(ChainBroken, n.seq, string(n.id), v.linkDetail(n, want))
	case v.rehash(n, want) == n.stored || (alt != want && v.rehash(n, alt) == n.stored):
		v.report(ChainBroken, n.seq, string(n.id), v.linkDetail(n, want)+"; with that prevHash the event's hash recomputes, so prevHash alone was changed")
	default:
		v.report(HashMismatch, n.seq, string(n.id), fmt.Sprintf(
			"the event does not hash to its stored hash %s (its content hashes to %s): it was edited", n.stored, n.computed))
		v.report(ChainBroken, n.seq, string(n.id), v.linkDetail(n, want))
	}
}

func (v *Verifier) linkDetail(n *rowState, want Hash) string {
	if n.seq == 1 {
		return fmt.Sprintf("sequence 1 has prevHash %s, not 64 zeros", n.prev)
	}
	return fmt.Sprintf("prevHash %s is not the hash of sequence %d (%s)", n.prev, n.seq-1, want)
}

// rehash is n's hash had its prevHash been prev.
func (v *Verifier) rehash(n *rowState, prev Hash) Hash {
	hexAt := n.canon[n.prevAt : n.prevAt+2*len(prev)]
	var saved [64]byte
	copy(saved[:], hexAt)
	prev.AppendHex(hexAt[:0])
	sum := sha256.Sum256(n.canon)
	copy(hexAt, saved[:])
	return sum
}

func (v *Verifier) gap(from, to int64) {
	detail := fmt.Sprintf("sequence %d is missing", from)
	if to > from {
		detail = fmt.Sprintf("sequences %d to %d are missing (%d events)", from, to, to-from+1)
	}
	v.report(SequenceGap, from, "", detail+": events were deleted")
}

func (v *Verifier) report(kind ProblemKind, seq int64, eventID, detail string) {
	v.problemCount++
	v.problems = append(v.problems, Problem{Kind: kind, Sequence: seq, EventID: eventID, Detail: detail})
	if len(v.problems) >= 2*MaxProblems {
		v.keepOldest()
	}
}

// keepOldest sorts the problems oldest first and keeps MaxProblems, so that
// memory stays bounded however many there are.
func (v *Verifier) keepOldest() {
	slices.SortStableFunc(v.problems, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.Sequence, b.Sequence), cmp.Compare(a.Kind.rank(), b.Kind.rank()))
	})
	if len(v.problems) > MaxProblems {
		v.problems = v.problems[:MaxProblems]
	}
}

// Finish judges the last pending row, checks the head, and returns the
// result. The Verifier is spent afterwards.
func (v *Verifier) Finish() Result {
	if v.opts.Order == Descending && v.last != nil {
		v.judge(v.last, nil)
	}
	if v.last != nil && v.opts.RetainedFrom > 0 && !v.opts.Filtered && v.first > v.opts.RetainedFrom {
		v.gap(v.opts.RetainedFrom, v.first-1)
	}
	reaches := v.checkHead()
	v.keepOldest()
	res := Result{OK: v.problemCount == 0, CheckedEvents: v.checked, ReachesHead: reaches,
		Problems: v.problems, ProblemCount: v.problemCount}
	if res.Problems == nil {
		res.Problems = []Problem{}
	}
	if v.newest > 0 {
		first, last := v.first, v.newest
		res.FirstSequence, res.LastSequence = &first, &last
	}
	return res
}

// checkHead reports how the rows stand against Options.Head and says whether
// they reach it.
func (v *Verifier) checkHead() bool {
	h := v.opts.Head
	if h == nil {
		return false
	}
	if h.Sequence == 0 {
		if h.Hash != ZeroHash {
			v.report(HeadMismatch, 0, "", fmt.Sprintf("the head of an empty log has hash %s, not 64 zeros", h.Hash))
			return false
		}
		if v.newest > 0 && !v.opts.Checkpoint {
			v.report(HeadMismatch, 0, "", fmt.Sprintf("the head says the log is empty, but it holds events up to sequence %d", v.newest))
			return false
		}
		return true
	}
	if v.newest == 0 { // no rows
		switch {
		case v.opts.Filtered:
			return false
		case v.opts.RetainedFrom > h.Sequence:
			return true // retention deleted every event up to the head
		}
		v.report(HeadMismatch, h.Sequence, "", fmt.Sprintf(
			"there are no events, but the head is at sequence %d: they were deleted (or all are older than the retention window)", h.Sequence))
		return false
	}
	reaches := true
	if v.headSeen && !v.headMatched {
		v.report(HeadMismatch, h.Sequence, string(v.headID), fmt.Sprintf(
			"the event at the head's sequence %d does not have the head's hash %s: the log was rewritten", h.Sequence, h.Hash))
		reaches = false
	}
	switch {
	case v.newest < h.Sequence:
		if !v.opts.Filtered {
			v.report(HeadMismatch, h.Sequence, "", fmt.Sprintf(
				"the newest event is sequence %d but the head is at sequence %d: the newest events were deleted", v.newest, h.Sequence))
		}
		return false
	case v.newest > h.Sequence && !v.opts.Checkpoint:
		v.report(HeadMismatch, h.Sequence, string(v.headID), fmt.Sprintf(
			"events up to sequence %d follow the head at sequence %d: they are not covered by it", v.newest, h.Sequence))
		return false
	}
	return reaches && v.headSeen
}
