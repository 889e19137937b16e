package integrity_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/auditlogd/auditlogd/internal/audit"
	"github.com/auditlogd/auditlogd/internal/integrity"
)

var formats = []audit.Format{audit.CSV, audit.JSON}

// signedHeadOf signs the head at the newest of rows.
func signedHeadOf(t testing.TB, s *integrity.Signer, rows []link) *integrity.SignedHead {
	t.Helper()
	h := integrity.Head{WorkspaceID: hWorkspace, SignedAt: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
	if len(rows) > 0 {
		h.Sequence, h.Hash = rows[len(rows)-1].Sequence, rows[len(rows)-1].Hash
	}
	sh, err := s.Sign(h)
	if err != nil {
		t.Fatal(err)
	}
	return &sh
}

func verifyFile(t *testing.T, file []byte, opts integrity.ExportOptions) *integrity.ExportReport {
	t.Helper()
	rep, err := integrity.VerifyExport(bytes.NewReader(file), opts)
	if err != nil {
		t.Fatalf("VerifyExport: %v\nfile:\n%s", err, file)
	}
	return rep
}

func TestUntouchedExportsVerifyComplete(t *testing.T) {
	t.Parallel()
	s := integrity.NewSigner(rfc8037Key(t))
	chain := makeChain(t, 1, integrity.ZeroHash, 12)
	for _, f := range formats {
		for _, flags := range []map[int][]string{nil, {2: {"EXTERNAL_DOMAIN", "BURST"}, 5: {"ADMIN_GRANTED"}}} {
			t.Run(fmt.Sprintf("%s-flags-%v", f, flags != nil), func(t *testing.T) {
				rep := verifyFile(t, exportFile(t, f, chain, flags), integrity.ExportOptions{Head: signedHeadOf(t, s, chain), Keys: s.JWKS()})
				if !rep.OK || !rep.Complete || !rep.SignatureValid || !rep.ReachesHead || rep.CheckedEvents != 12 ||
					*rep.FirstSequence != 1 || *rep.LastSequence != 12 || rep.Format != f || rep.WorkspaceID != hWorkspace {
					t.Errorf("report %+v", rep)
				}
				if flags != nil && !slices.ContainsFunc(rep.Notes, func(n string) bool { return strings.Contains(n, "flags are advisory") }) {
					t.Errorf("notes %q do not say flags are not hashed", rep.Notes)
				}
			})
		}
	}
}

// TestExportRetainedChainVerifies: after retention, an export starts at a
// later sequence and its first row's prevHash anchors the rest.
func TestExportRetainedChainVerifies(t *testing.T) {
	t.Parallel()
	s := integrity.NewSigner(rfc8037Key(t))
	chain := makeChain(t, 1, integrity.ZeroHash, 20)[7:]
	for _, f := range formats {
		rep := verifyFile(t, exportFile(t, f, chain, nil), integrity.ExportOptions{Head: signedHeadOf(t, s, chain), Keys: s.JWKS()})
		if !rep.Complete || *rep.FirstSequence != 8 {
			t.Errorf("%s: report %+v", f, rep)
		}
		// Knowing the oldest sequence that should be there turns a missing
		// start into a gap.
		rep = verifyFile(t, exportFile(t, f, chain[2:], nil), integrity.ExportOptions{Head: signedHeadOf(t, s, chain),
			Keys: s.JWKS(), RetainedFrom: 8})
		if rep.OK || rep.Complete || !cmp.Equal(kinds(rep.Result), []string{"SEQUENCE_GAP@8"}) {
			t.Errorf("%s: rows cut from the start, %v", f, kinds(rep.Result))
		}
	}
}

func TestTamperedExports(t *testing.T) {
	t.Parallel()
	s := integrity.NewSigner(rfc8037Key(t))
	other := integrity.NewSigner(newKey(t))
	chain := makeChain(t, 1, integrity.ZeroHash, 10)
	head := signedHeadOf(t, s, chain)
	for _, tc := range []struct {
		name      string
		rows      func() []link
		opts      func(o *integrity.ExportOptions)
		want      []string
		signature bool
	}{
		{"label-edited", func() []link {
			rows := slices.Clone(chain)
			rows[5].Event.Target = &audit.Target{Type: audit.TargetUser, ID: "u-bob", Label: hp("eve@example.com")}
			return rows
		}, nil, []string{"HASH_MISMATCH@6"}, true},
		{"time-edited", func() []link {
			rows := slices.Clone(chain)
			rows[2].Event.OccurredAt = rows[2].Event.OccurredAt.Add(-time.Hour)
			return rows
		}, nil, []string{"HASH_MISMATCH@3"}, true},
		{"null-made-a-value", func() []link {
			rows := slices.Clone(chain)
			rows[4].Event.IPAddress = hp("203.0.113.9") // the fifth event is sparse: no address
			return rows
		}, nil, []string{"HASH_MISMATCH@5"}, true},
		{"row-deleted", func() []link { return slices.Delete(slices.Clone(chain), 4, 5) }, nil, []string{"SEQUENCE_GAP@5"}, true},
		{"newest-rows-cut", func() []link { return chain[:7] }, nil, []string{"HEAD_MISMATCH@10"}, true},
		{"prev-hash-changed", func() []link {
			rows := slices.Clone(chain)
			rows[6].PrevHash[5] ^= 0x10
			return rows
		}, nil, []string{"CHAIN_BROKEN@7"}, true},
		{"hash-changed", func() []link {
			rows := slices.Clone(chain)
			rows[6].Hash[5] ^= 0x10
			return rows
		}, nil, []string{"HASH_MISMATCH@7"}, true},
		{"rewritten-and-rehashed", func() []link {
			rows := slices.Clone(chain)
			rows[3].Event.Actor.ID = "u-mallory"
			rehashFrom(t, rows, 3)
			return rows
		}, nil, []string{"HEAD_MISMATCH@10"}, true},
		{"head-signed-by-another-key", func() []link { return chain }, func(o *integrity.ExportOptions) {
			h := *signedHeadOf(t, other, chain)
			h.KeyID = head.KeyID
			o.Head = &h
		}, nil, false},
		{"head-of-an-unpublished-key", func() []link { return chain }, func(o *integrity.ExportOptions) {
			o.Head = signedHeadOf(t, other, chain)
		}, nil, false},
		{"head-edited-to-match-a-truncation", func() []link { return chain[:7] }, func(o *integrity.ExportOptions) {
			h := *head
			h.Sequence, h.Hash = chain[6].Sequence, chain[6].Hash
			o.Head = &h
		}, nil, false},
		{"older-head", func() []link { return chain }, func(o *integrity.ExportOptions) {
			o.Head = signedHeadOf(t, s, chain[:8])
		}, []string{"HEAD_MISMATCH@8"}, true},
		{"filtered-export-verifies-incomplete", func() []link {
			return []link{chain[0], chain[3], chain[4], chain[8]}
		}, func(o *integrity.ExportOptions) { o.Filtered = true }, nil, true},
		{"filtered-export-with-an-edited-row", func() []link {
			rows := []link{chain[0], chain[3], chain[4], chain[8]}
			rows[2].Event.Action = audit.MemberRemoved
			return rows
		}, func(o *integrity.ExportOptions) { o.Filtered = true }, []string{"HASH_MISMATCH@5"}, true},
	} {
		for _, f := range formats {
			t.Run(tc.name+"-"+string(f), func(t *testing.T) {
				opts := integrity.ExportOptions{Head: head, Keys: s.JWKS()}
				if tc.opts != nil {
					tc.opts(&opts)
				}
				rep := verifyFile(t, exportFile(t, f, tc.rows(), nil), opts)
				want := tc.want
				if want == nil {
					want = []string{}
				}
				if diff := cmp.Diff(want, kinds(rep.Result)); diff != "" {
					t.Errorf("problems (-want +got):\n%s\n%+v", diff, rep.Problems)
				}
				if rep.SignatureValid != tc.signature || (!tc.signature && rep.SignatureError == "") {
					t.Errorf("signatureValid %v (%q), want %v", rep.SignatureValid, rep.SignatureError, tc.signature)
				}
				wantOK := len(tc.want) == 0 && tc.signature
				if rep.OK != wantOK {
					t.Errorf("ok %v, want %v", rep.OK, wantOK)
				}
				if rep.Complete != (wantOK && !opts.Filtered) {
					t.Errorf("complete %v", rep.Complete)
				}
				if opts.Filtered && !slices.ContainsFunc(rep.Notes, func(n string) bool { return strings.Contains(n, "cannot show") }) {
					t.Errorf("a filtered export's notes %q do not say completeness is not shown", rep.Notes)
				}
			})
		}
	}
}

// TestExportByteEdits edits the downloaded file's bytes, as an auditee
// would, rather than the events it was made from.
func TestExportByteEdits(t *testing.T) {
	t.Parallel()
	s := integrity.NewSigner(rfc8037Key(t))
	chain := makeChain(t, 1, integrity.ZeroHash, 6)
	head := signedHeadOf(t, s, chain)
	for _, tc := range []struct {
		name     string
		f        audit.Format
		old, new string
		want     []string
	}{
		{"csv-role-cell", audit.CSV, ",MEMBER,ADMIN,", ",MEMBER,MEMBER,", []string{"HASH_MISMATCH@6"}},
		{"json-role-value", audit.JSON, `"role":"ADMIN"`, `"role":"MEMBER"`, []string{"HASH_MISMATCH@6"}},
		{"json-same-value-other-escaping", audit.JSON, `"u-alice"`, `"u-\u0061lice"`, []string{}},
		{"json-key-order-changed", audit.JSON, `"action":"MEMBER_ROLE_UPDATED","actor"`, `"actor"`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := string(exportFile(t, tc.f, chain, nil))
			if !strings.Contains(file, tc.old) {
				t.Fatalf("%q is not in the file", tc.old)
			}
			if tc.want == nil { // move "action" to the end of the oldest row
				i := strings.LastIndex(file, tc.old)
				end := strings.LastIndex(file, "}\n]")
				file = file[:i] + tc.new + file[i+len(tc.old):end] + `,"action":"MEMBER_ROLE_UPDATED"` + file[end:]
				tc.want = []string{}
			} else {
				file = strings.Replace(file, tc.old, tc.new, 1)
			}
			rep := verifyFile(t, []byte(file), integrity.ExportOptions{Head: head, Keys: s.JWKS()})
			if diff := cmp.Diff(tc.want, kinds(rep.Result)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCSVFormulaGuardRoundTrips: cells the encoder prefixed with an
// apostrophe verify, in every column and for every guarded first character,
// including values that themselves begin with an apostrophe and a formula
// character (which the CSV writes identically; the hash tells them apart),
// and values with CR, LF, quotes and commas inside quotes.
func TestCSVFormulaGuardRoundTrips(t *testing.T) {
	t.Parallel()
	s := integrity.NewSigner(rfc8037Key(t))
	values := []string{"=1+2", "+1", "-1", "@SUM(A1)", "\tindented", "\rreturn", "'=already", "'+x", "'plain",
		"=HYPERLINK(\"http://evil.example\",\"x\")", "line\r\nbreak", "a,b", `say "hi"`, "'", "=", "'\r"}
	var rows []link
	var h integrity.Hasher
	prev := integrity.ZeroHash
	for i, v := range values {
		e := hEvent()
		e.ID = fmt.Sprintf("01HZY3J4QK2M6N8P0R2S%06d", i)
		switch i % 4 {
		case 0:
			e.Target.Label = hp(v)
		case 1:
			e.UserAgent = hp(v)
		case 2:
			e.Actor.Email, e.RequestID = hp(v), hp(v)
		case 3:
			e.Actor.ID, e.Target.ID, e.IPAddress = v, v, hp(v)
		}
		hash, err := h.Event(&e, int64(i+1), prev)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, link{Event: e, Sequence: int64(i + 1), PrevHash: prev, Hash: hash})
		prev = hash
	}
	file := exportFile(t, audit.CSV, rows, nil)
	for _, guarded := range []string{"'=1+2", "'+1", "'-1", "'@SUM(A1)", "\"'\rreturn\"", "'=already"} {
		if !bytes.Contains(file, []byte(guarded)) {
			t.Errorf("the encoder did not write %q; the test no longer exercises the guard", guarded)
		}
	}
	rep := verifyFile(t, file, integrity.ExportOptions{Head: signedHeadOf(t, s, rows), Keys: s.JWKS()})
	if !rep.Complete {
		t.Errorf("problems %+v", rep.Problems)
	}
	// An edit inside a guarded cell is still caught.
	tampered := bytes.Replace(file, []byte("'=1+2"), []byte("'=1+3"), 1)
	rep = verifyFile(t, tampered, integrity.ExportOptions{Head: signedHeadOf(t, s, rows), Keys: s.JWKS()})
	if !cmp.Equal(kinds(rep.Result), []string{"HASH_MISMATCH@1"}) {
		t.Errorf("edited guarded cell: %v", kinds(rep.Result))
	}
}

func TestEmptyExports(t *testing.T) {
	t.Parallel()
	s := integrity.NewSigner(rfc8037Key(t))
	chain := makeChain(t, 1, integrity.ZeroHash, 3)
	for _, f := range formats {
		rep := verifyFile(t, exportFile(t, f, nil, nil), integrity.ExportOptions{Head: signedHeadOf(t, s, nil), Keys: s.JWKS()})
		if !rep.Complete || rep.CheckedEvents != 0 {
			t.Errorf("%s: empty log, empty export: %+v", f, rep)
		}
		rep = verifyFile(t, exportFile(t, f, nil, nil), integrity.ExportOptions{Head: signedHeadOf(t, s, chain), Keys: s.JWKS()})
		if rep.OK || !cmp.Equal(kinds(rep.Result), []string{"HEAD_MISMATCH@3"}) {
			t.Errorf("%s: no rows but a head at 3: %+v", f, rep)
		}
		rep = verifyFile(t, exportFile(t, f, nil, nil), integrity.ExportOptions{Head: signedHeadOf(t, s, chain), Keys: s.JWKS(), Filtered: true})
		if !rep.OK || rep.Complete {
			t.Errorf("%s: filtered export matching nothing: %+v", f, rep)
		}
	}
}

// TestMalformedExportsAreErrors: a file that is not what the encoder writes
// cannot be verified, and says where.
func TestMalformedExportsAreErrors(t *testing.T) {
	t.Parallel()
	s := integrity.NewSigner(rfc8037Key(t))
	chain := makeChain(t, 1, integrity.ZeroHash, 3)
	csvFile := string(exportFile(t, audit.CSV, chain, nil))
	jsonFile := string(exportFile(t, audit.JSON, chain, nil))
	firstHash := chain[2].Hash.String()
	for _, tc := range []struct{ name, file, want string }{
		{"empty", "", "empty"},
		{"csv-without-chain-columns", audit.CSVHeader + "\r\n", "before the log was chained"},
		{"csv-other-header", "a,b,c\r\n", "header"},
		{"csv-cut-mid-row", csvFile[:len(csvFile)-40], "cut short"},
		{"csv-cut-in-a-quote", csvFile[:strings.Index(csvFile, `"curl`)+4], "cut short"},
		{"csv-missing-cell", strings.Replace(csvFile, ","+firstHash, "", 1), "cells"},
		{"csv-bad-hash", strings.Replace(csvFile, firstHash, strings.ToUpper(firstHash), 1), "row 1: hash"},
		{"csv-bad-sequence", strings.Replace(csvFile, ",3,", ",03,", 1), "sequence"},
		{"csv-bare-quote", strings.Replace(csvFile, "MEMBER_ADDED", `MEMBER"ADDED`, 1), "quote"},
		{"json-not-an-array", `{"a":1}`, "array"},
		{"json-unknown-key", strings.Replace(jsonFile, `"action":`, `"note":"approved","action":`, 1), `unknown key "note"`},
		{"json-key-in-other-case", strings.Replace(jsonFile, `"action":`, `"Action":"X","action":`, 1), `unknown key "Action"`},
		{"json-duplicate-key", strings.Replace(jsonFile, `"action":`, `"role":"ADMIN","action":`, 1), "twice"},
		{"json-missing-key", strings.Replace(jsonFile, `"requestId":null,`, ``, 1), `lacks "requestId"`},
		{"json-sequence-as-string", strings.Replace(jsonFile, `"sequence":3`, `"sequence":"3"`, 1), "not a number"},
		{"json-sequence-fraction", strings.Replace(jsonFile, `"sequence":3`, `"sequence":3.0`, 1), "sequence"},
		{"json-trailing-text", jsonFile + "[]", "after the array"},
		{"json-cut-short", jsonFile[:len(jsonFile)-10], ""},
		{"json-actor-extra-key", strings.Replace(jsonFile, `"actor":{`, `"actor":{"name":"x",`, 1), "actor"},
		{"json-target-not-object", strings.Replace(jsonFile, `"target":null`, `"target":"x"`, 1), "target"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := integrity.VerifyExport(strings.NewReader(tc.file),
				integrity.ExportOptions{Head: signedHeadOf(t, s, chain), Keys: s.JWKS()})
			if err == nil {
				t.Fatalf("accepted: %+v", rep)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			var fe *integrity.FormatError
			if !errors.As(err, &fe) {
				t.Errorf("error %v is not a FormatError", err)
			}
		})
	}
	if _, err := integrity.VerifyExport(strings.NewReader(jsonFile), integrity.ExportOptions{}); err == nil {
		t.Error("verified without a head")
	}
}
