package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/auditlogd/auditlogd/internal/integrity"
)

// verifyExportCmd is `auditlogd verify-export FILE --head HEAD.json --keys
// JWKS`: it checks a downloaded export offline (no database, no
// configuration) and prints one JSON line with the result. It fails (exit
// status 1) on any problem, on a head whose signature does not verify, and on
// a file it cannot read as an export.
func verifyExportCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("verify-export", stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: auditlogd verify-export FILE --head HEAD.json --keys JWKS [--filtered] [--from SEQ]\n\n"+
			"FILE is a CSV or JSON export as downloaded (- for standard input).\n\n")
		fs.PrintDefaults()
	}
	headPath := fs.String("head", "", "the export's signed head: AuditLogExport.head saved as JSON (a whole GraphQL response holding it will do)")
	keysSource := fs.String("keys", "", "the signing keys: a JWKS file, or a URL such as https://HOST/.well-known/auditlog-keys.json")
	filtered := fs.Bool("filtered", false, "the export was made with a filter: check every row, but completeness cannot be shown")
	from := fs.Int64("from", 0, "the oldest sequence the export must hold, if known from an earlier export (rows cut from the start are otherwise indistinguishable from retention)")
	files, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(files) != 1:
		fs.Usage()
		return errors.New("verify-export: give exactly one export FILE")
	case *headPath == "" || *keysSource == "":
		fs.Usage()
		return errors.New("verify-export: --head and --keys are required")
	}
	file := files[0]

	rep, err := verifyExportFile(ctx, file, *headPath, *keysSource, integrity.ExportOptions{Filtered: *filtered, RetainedFrom: *from})
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	if err != nil {
		_ = enc.Encode(struct {
			File  string `json:"file"`
			OK    bool   `json:"ok"`
			Error string `json:"error"`
		}{file, false, err.Error()})
		return fmt.Errorf("verify-export: %w", err)
	}
	if err := enc.Encode(struct {
		File string `json:"file"`
		*integrity.ExportReport
	}{file, rep}); err != nil {
		return err
	}
	if !rep.OK {
		return fmt.Errorf("verify-export: %s does not verify (problems: %d, head signature valid: %v)", file, rep.ProblemCount, rep.SignatureValid)
	}
	return nil
}

// verifyExportFile reads the head, the keys and the file, and verifies.
func verifyExportFile(ctx context.Context, file, headPath, keysSource string, opts integrity.ExportOptions) (*integrity.ExportReport, error) {
	raw, err := os.ReadFile(headPath)
	if err != nil {
		return nil, fmt.Errorf("--head: %w", err)
	}
	head, err := integrity.ParseSignedHead(raw)
	if err != nil {
		return nil, fmt.Errorf("--head %s: %w", headPath, err)
	}
	opts.Head = &head
	if opts.Keys, err = integrity.LoadJWKS(ctx, keysSource, &http.Client{Timeout: 30 * time.Second}); err != nil {
		return nil, fmt.Errorf("--keys %s: %w", keysSource, err)
	}
	in := io.Reader(os.Stdin)
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		in = f
	}
	return integrity.VerifyExport(in, opts)
}

// parseInterspersed parses flags that may come before or after positional
// arguments (`verify-export FILE --head H`), which flag.Parse alone stops at.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		positional, args = append(positional, args[0]), args[1:]
	}
}
