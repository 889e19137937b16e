package integrity

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/auditlogd/auditlogd/internal/audit"
)

// The chain's columns in export files (docs/API.md §9, §14): CSV gains
// CSVChainColumns after request_id, then optionally CSVFlagsColumn; JSON
// objects gain the keys "sequence", "prevHash", "hash" and "flags".
const (
	CSVChainColumns = "sequence,prev_hash,hash"
	CSVFlagsColumn  = "flags"
)

// ExportOptions say what an export is checked against.
type ExportOptions struct {
	// Head is the export's signed head (AuditLogExport.head). It names the
	// workspace the rows are hashed as, and is where an unfiltered export's
	// newest row must end. Required.
	Head *SignedHead
	// Keys are the published keys (GET /.well-known/auditlog-keys.json) the
	// head's signature is checked with.
	Keys JWKS
	// Filtered says the export was made with a filter. Its rows cannot show
	// that none is missing; each row's hash, the links between rows adjacent
	// in sequence, and that no row is newer than the head are still checked.
	Filtered bool
	// RetainedFrom, when not 0, is the oldest sequence the export must hold
	// (known from an earlier export or verification): the chain cannot tell
	// rows cut from the start of a file from events retention deleted.
	RetainedFrom int64
}

// ExportReport is the outcome of verifying an export file: the chain's
// Result, how the head's signature stands, and whether the file is proven
// complete.
type ExportReport struct {
	Result
	Format      audit.Format `json:"format"`
	WorkspaceID string       `json:"workspaceId"`
	Head        *SignedHead  `json:"head"`
	// SignatureValid: the head's signature verifies with a key of the JWKS.
	SignatureValid bool   `json:"signatureValid"`
	SignatureError string `json:"signatureError,omitempty"`
	Filtered       bool   `json:"filtered"`
	// Complete: an unfiltered export without problems, with a valid head
	// signature, whose rows run without a gap up to the signed head — every
	// event of the log from the file's oldest row to the head, none altered.
	// Whether events before the oldest row were cut from the file or deleted
	// by retention, the chain cannot tell (see ExportOptions.RetainedFrom).
	Complete bool     `json:"complete"`
	Notes    []string `json:"notes"`
}

// VerifyExport checks an export file (JSON if it starts with [ or {, else
// CSV) as it was downloaded, newest row first: every row's hash, the chain
// between rows, the head's signature and, unless opts.Filtered, that the rows
// are complete up to the head. It streams: memory does not grow with the
// file. Problems in the rows are in the report; an error means the file
// could not be read as an export at all (a *FormatError when its contents
// are at fault).
func VerifyExport(r io.Reader, opts ExportOptions) (*ExportReport, error) {
	if opts.Head == nil {
		return nil, errors.New("verifying an export needs its signed head")
	}
	br := bufio.NewReaderSize(r, 64<<10)
	first, err := firstByte(br)
	if err != nil {
		return nil, err
	}
	rep := &ExportReport{WorkspaceID: opts.Head.WorkspaceID, Head: opts.Head, Filtered: opts.Filtered, Notes: []string{}}
	v := NewVerifier(opts.Head.WorkspaceID, Options{Order: Descending, Head: &opts.Head.Head, Filtered: opts.Filtered,
		RetainedFrom: opts.RetainedFrom})
	var flags bool
	if first == '[' || first == '{' {
		rep.Format = audit.JSON
		flags, err = verifyJSONRows(br, v)
	} else {
		rep.Format = audit.CSV
		flags, err = verifyCSVRows(br, v)
	}
	if err != nil {
		return nil, err
	}
	rep.Result = v.Finish()

	if err := VerifyHead(*opts.Head, opts.Keys); err != nil {
		rep.SignatureError = err.Error()
	} else {
		rep.SignatureValid = true
	}
	rep.OK = rep.Result.OK && rep.SignatureValid
	rep.Complete = rep.OK && !opts.Filtered && rep.ReachesHead
	switch {
	case opts.Filtered:
		rep.Notes = append(rep.Notes, "filtered export: it cannot show that no event is missing; every row's hash, "+
			"the links between rows adjacent in sequence and that no row is newer than the head were checked")
	case rep.Complete && rep.FirstSequence != nil && *rep.FirstSequence == 1:
		rep.Notes = append(rep.Notes, fmt.Sprintf("complete: sequences 1 to %d, every event of the log up to the "+
			"signed head, none altered", *rep.LastSequence))
	case rep.Complete && rep.FirstSequence != nil:
		rep.Notes = append(rep.Notes, fmt.Sprintf("complete: sequences %d to %d, every event from the oldest row up to "+
			"the signed head, none altered; events before sequence %d are not in the file (retention deletes the oldest, "+
			"and the chain cannot tell that from rows cut from the start: compare with an earlier export)",
			*rep.FirstSequence, *rep.LastSequence, *rep.FirstSequence))
	case rep.Complete:
		rep.Notes = append(rep.Notes, "complete: the log was empty at the signed head")
	}
	if !rep.SignatureValid {
		rep.Notes = append(rep.Notes, "the head's signature does not verify, so the head proves nothing about the rows")
	}
	if flags {
		rep.Notes = append(rep.Notes, "flags are advisory annotations and are not covered by the hashes")
	}
	return rep, nil
}

func firstByte(br *bufio.Reader) (byte, error) {
	for {
		b, err := br.Peek(1)
		if err == io.EOF {
			return 0, &FormatError{Msg: "the file is empty"}
		}
		if err != nil {
			return 0, err
		}
		if b[0] != ' ' && b[0] != '\t' && b[0] != '\r' && b[0] != '\n' {
			return b[0], nil
		}
		_, _ = br.ReadByte()
	}
}

// CSV columns, in the export's order.
const (
	cID = iota
	cOccurredAt
	cAction
	cActorID
	cActorEmail
	cActorType
	cTargetType
	cTargetID
	cTargetLabel
	cPreviousRole
	cRole
	cIPAddress
	cUserAgent
	cRequestID
	cSequence
	cPrevHash
	cHash
	cFlags
)

// csvField maps the string columns to the hashed fields.
var csvField = [...]struct{ col, field int }{
	{cID, fID}, {cAction, fAction}, {cActorID, fActorID}, {cActorEmail, fActorEmail}, {cActorType, fActorType},
	{cTargetType, fTargetType}, {cTargetID, fTargetID}, {cTargetLabel, fTargetLabel},
	{cPreviousRole, fPreviousRole}, {cRole, fRole}, {cIPAddress, fIPAddress}, {cUserAgent, fUserAgent},
	{cRequestID, fRequestID},
}

// maxAmbiguous bounds the readings of one CSV row tried (2^maxAmbiguous).
const maxAmbiguous = 6

func verifyCSVRows(br *bufio.Reader, v *Verifier) (flags bool, err error) {
	c := newCSVReader(br)
	header, err := c.read()
	if err != nil {
		return false, &FormatError{Msg: "no header row"}
	}
	chained := audit.CSVHeader + "," + CSVChainColumns
	switch h := string(bytes.Join(header, []byte(","))); h {
	case chained:
	case chained + "," + CSVFlagsColumn:
		flags = true
	case audit.CSVHeader, audit.CSVHeader + "," + CSVFlagsColumn:
		return false, &FormatError{Msg: "the CSV has no sequence, prev_hash and hash columns: it was exported before the log was chained"}
	default:
		return false, &FormatError{Msg: fmt.Sprintf("the CSV header is not an audit log export's (%q)", truncate(h, 300))}
	}
	var h Hasher
	var rec record[[]byte]
	for row := 1; ; row++ {
		cells, err := c.read()
		if err == errCSVEnd {
			return flags, nil
		}
		if err != nil {
			return flags, err
		}
		if len(cells) != len(header) {
			return flags, &FormatError{Row: row, Msg: fmt.Sprintf("%d cells, the header has %d", len(cells), len(header))}
		}
		stored, ambiguous, err := csvRecord(&rec, cells, v.workspace)
		if err != nil {
			return flags, &FormatError{Row: row, Msg: err.Error()}
		}
		if len(ambiguous) > 0 {
			chooseReading(&h, &rec, ambiguous, stored)
		}
		addRecord(v, &rec, rec.val[fID], stored)
	}
}

// csvRecord fills rec from one CSV row, undoing what the encoder did: an
// empty cell of a nullable field is null, a row with no target type, id or
// label has no target, and a leading apostrophe before = + - @ tab or CR is
// the encoder's guard against spreadsheet formulas and is dropped. It
// returns the row's stored hash and the cells that could also be read with
// the apostrophe kept (see chooseReading).
func csvRecord(rec *record[[]byte], cells [][]byte, workspace []byte) (Hash, []ambiguity, error) {
	*rec = record[[]byte]{}
	rec.val[fWorkspaceID] = workspace
	var ambiguous []ambiguity
	for _, m := range csvField {
		cell := cells[m.col]
		if nullable[m.field] && len(cell) == 0 {
			rec.null[m.field] = true
			continue
		}
		if len(cell) >= 2 && cell[0] == '\'' && formulaStart(cell[1]) {
			ambiguous = append(ambiguous, ambiguity{m.field, cell})
			cell = cell[1:]
		}
		rec.val[m.field] = cell
	}
	rec.occurredAt = cells[cOccurredAt]
	rec.noTarget = len(cells[cTargetType]) == 0 && len(cells[cTargetID]) == 0 && len(cells[cTargetLabel]) == 0
	seq, err := parseSequence(cells[cSequence])
	if err != nil {
		return Hash{}, nil, err
	}
	rec.sequence = seq
	if rec.prevHash, err = parseHash(cells[cPrevHash]); err != nil {
		return Hash{}, nil, fmt.Errorf("prev_hash: %w", err)
	}
	stored, err := parseHash(cells[cHash])
	if err != nil {
		return Hash{}, nil, fmt.Errorf("hash: %w", err)
	}
	return stored, ambiguous, nil
}

// formulaStart is the encoder's test for a cell a spreadsheet would run.
func formulaStart(c byte) bool {
	return c == '=' || c == '+' || c == '-' || c == '@' || c == '\t' || c == '\r'
}

// ambiguity is a cell the encoder's formula guard made ambiguous: it writes
// a value starting with = as '=…, and a value that itself starts with '= the
// same way, so the CSV alone cannot tell which was meant.
type ambiguity struct {
	field int
	kept  []byte // the cell with its apostrophe
}

// chooseReading settles ambiguous cells. Every reading is an exact encoding
// of some value; if one of them hashes to the stored hash, that is the event
// that was exported, and rec is left holding it. Otherwise rec keeps the
// common reading (apostrophes dropped) and the row fails its hash, as it
// should.
func chooseReading(h *Hasher, rec *record[[]byte], amb []ambiguity, stored Hash) {
	if len(amb) > maxAmbiguous {
		amb = amb[:maxAmbiguous]
	}
	if sum, err := sumRecord(h, rec); err != nil || sum == stored {
		return
	}
	for mask := 1; mask < 1<<len(amb); mask++ {
		try := *rec
		for i, a := range amb {
			if mask&(1<<i) != 0 {
				try.val[a.field] = a.kept
			}
		}
		if sum, err := sumRecord(h, &try); err == nil && sum == stored {
			*rec = try
			return
		}
	}
}

func parseSequence(b []byte) (int64, error) {
	if len(b) == 0 || (b[0] == '0' && len(b) > 1) {
		return 0, fmt.Errorf("sequence %q is not a number as the export writes it", truncate(string(b), 30))
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("sequence %q is not a number as the export writes it", truncate(string(b), 30))
		}
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("sequence %q is out of range", truncate(string(b), 30))
	}
	return n, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
