package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/auditlogd/auditlogd/internal/app"
	"github.com/auditlogd/auditlogd/internal/apperr"
	"github.com/auditlogd/auditlogd/internal/config"
	"github.com/auditlogd/auditlogd/internal/integrity"
)

// chainReport is one line of `auditlogd verify`: a workspace's verified
// chain, shaped like the API's AuditLogVerification.
type chainReport struct {
	WorkspaceID   string               `json:"workspaceId"`
	OK            bool                 `json:"ok"`
	CheckedEvents int64                `json:"checkedEvents"`
	FirstSequence *int64               `json:"firstSequence"`
	LastSequence  *int64               `json:"lastSequence"`
	Head          integrity.SignedHead `json:"head"`
	// Problems are the oldest 100; ProblemCount counts them all.
	Problems     []integrity.Problem `json:"problems"`
	ProblemCount int64               `json:"problemCount"`
}

// verifyCmd is `auditlogd verify [--workspace ID]`: it recomputes the chain
// of every workspace (or of one) from the database, as verifyAuditLog does,
// and prints one JSON line per workspace with the head it was checked
// against, signed. It fails (exit status 1) if any chain has a problem, so
// that it can run from cron or a monitoring check.
func verifyCmd(ctx context.Context, args []string, e env, stdout, stderr io.Writer) error {
	fs := newFlagSet("verify", stderr)
	one := fs.String("workspace", "", "verify only this workspace (default: every workspace)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("verify: unexpected argument %q", fs.Arg(0))
	}
	cfg, err := config.Load(e)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.LogLevel)
	if cfg.SignerGenerated {
		log.Warn("AUDITLOG_SIGNING_KEY is not set: the heads printed are signed with a random key and will not verify later")
	}
	a, err := app.New(ctx, cfg, log, app.Options{})
	if err != nil {
		return err
	}
	defer a.Close()

	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	checked, failed := 0, 0
	verify := func(id string) error {
		v, err := a.Integrity.VerifyWorkspace(ctx, id)
		if errors.Is(err, apperr.ErrNotFound) {
			return fmt.Errorf("verify: workspace %s does not exist", id)
		}
		if err != nil {
			return fmt.Errorf("verify: workspace %s: %w", id, err)
		}
		checked++
		if !v.OK {
			failed++
		}
		return enc.Encode(chainReport{WorkspaceID: id, OK: v.OK, CheckedEvents: v.CheckedEvents, FirstSequence: v.FirstSequence,
			LastSequence: v.LastSequence, Head: v.Head, Problems: v.Problems, ProblemCount: v.ProblemCount})
	}
	if *one != "" {
		if err := verify(*one); err != nil {
			return err
		}
	} else {
		events := a.DB.Events()
		for after := ""; ; {
			ids, err := events.WorkspaceIDs(ctx, after, 500)
			if err != nil {
				return fmt.Errorf("verify: list workspaces: %w", err)
			}
			for _, id := range ids {
				if err := verify(id); err != nil {
					return err
				}
			}
			if len(ids) < 500 {
				break
			}
			after = ids[len(ids)-1]
		}
	}
	if failed > 0 {
		return fmt.Errorf("verify: %d of %d workspaces' chains have problems", failed, checked)
	}
	return nil
}
