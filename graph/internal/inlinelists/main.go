// Command inlinelists edits gqlgen's generated code after every `go generate`:
// the lists of audit events and their edges are marshalled in the calling
// goroutine instead of one goroutine per element.
//
// gqlgen marshals every list of objects concurrently, which pays off when the
// elements have resolvers that wait on I/O (members → user goes through a
// dataloader and needs it). Audit events and edges are plain structs: a page
// of 50 then costs 100 goroutines and their stack growth for no gain, about a
// tenth of the CPU of a page. Only the functions named below are changed; the
// tool fails if gqlgen's output no longer looks as expected.
//
// Usage (from graph/resolver.go): go run ./internal/inlinelists generated.go
package main

import (
	"fmt"
	"os"
	"strings"
)

// targets are the generated marshalers whose elements have no resolvers.
var targets = []string{
	"func (ec *executionContext) marshalNAuditEvent2ᚕ",
	"func (ec *executionContext) marshalNAuditEventEdge2ᚕ",
}

const (
	concurrent = "graphql.MarshalSliceConcurrently(ctx, len(v), 0, false, func("
	inline     = "marshalInline(ctx, len(v), func("
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: inlinelists FILE")
		os.Exit(2)
	}
	if err := rewrite(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "inlinelists:", err)
		os.Exit(1)
	}
}

func rewrite(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	src := string(b)
	for _, t := range targets {
		start := strings.Index(src, t)
		if start < 0 {
			return fmt.Errorf("%s… not found in %s", t, path)
		}
		end := start + strings.Index(src[start:], "\n}\n")
		body := src[start:end]
		if !strings.Contains(body, concurrent) {
			if strings.Contains(body, inline) {
				continue // already rewritten
			}
			return fmt.Errorf("%s… does not call MarshalSliceConcurrently as expected", t)
		}
		src = src[:start] + strings.Replace(body, concurrent, inline, 1) + src[end:]
	}
	return os.WriteFile(path, []byte(src), 0o644)
}
