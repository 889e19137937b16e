package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/auditlogd/auditlogd/internal/app"
	"github.com/auditlogd/auditlogd/internal/httpserver"
	"github.com/auditlogd/auditlogd/internal/testenv"
)

// The GraphQL abuse defences of issue 4, item 1: each test fails if its
// defence is removed, and checks that normal use still passes.

// hFullPage selects every field of a connection.
const hFullPage = `edges { cursor node { ` + eventFields + ` } }
    nodes { ` + eventFields + ` }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    totalCount`

// hAbuseFixture is a server with a BUSINESS workspace whose admin can read
// its log.
type hAbuseFixture struct {
	s     *server
	admin user
	ws    string
}

func hNewAbuseFixture(t *testing.T, db testenv.DB, env map[string]string) *hAbuseFixture {
	t.Helper()
	s := newServer(t, db, env)
	admin := s.newUser(t, "admin")
	return &hAbuseFixture{s: s, admin: admin, ws: s.newWorkspace(t, admin, "BUSINESS")}
}

// hNoData checks that a refused operation returned no data at all: it did
// not run.
func hNoData(t testing.TB, r *response) {
	t.Helper()
	if d := strings.TrimSpace(string(r.Data)); d != "" && d != "null" {
		t.Errorf("a refused operation returned data: %.500s", r.Raw)
	}
}

func TestAbuseComplexityLimit(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		f := hNewAbuseFixture(t, db, nil)
		s, tok, ws := f.s, f.admin.token, f.ws

		t.Run("a full page of 100 with every field is normal use", func(t *testing.T) {
			var out struct{ AuditLog connection }
			s.ok(t, tok, `query($w: ID!) { auditLog(workspaceId: $w, first: 100) { `+hFullPage+` } }`, map[string]any{"w": ws}, &out)
			if len(out.AuditLog.Nodes) == 0 || out.AuditLog.TotalCount == 0 {
				t.Errorf("the page is empty: %+v", out.AuditLog)
			}
			// The same through the workspace, and backwards.
			s.ok(t, tok, `query($w: ID!) { workspace(id: $w) { id name auditLog(last: 100) { `+hFullPage+` } } }`, map[string]any{"w": ws})
			// Two half pages cost what one full page does.
			s.ok(t, tok, `query($w: ID!) {
  a: auditLog(workspaceId: $w, first: 50) { `+hFullPage+` }
  b: auditLog(workspaceId: $w, first: 50) { `+hFullPage+` } }`, map[string]any{"w": ws})
		})

		refused := map[string]struct {
			query string
			vars  map[string]any
		}{
			"two aliases of a full page": {`query($w: ID!) {
  a: auditLog(workspaceId: $w, first: 100) { ` + hFullPage + ` }
  b: auditLog(workspaceId: $w, first: 100) { ` + hFullPage + ` } }`, nil},
			"page size from a variable": {`query($w: ID!, $n: Int) {
  a: auditLog(workspaceId: $w, first: $n) { ` + hFullPage + ` }
  b: auditLog(workspaceId: $w, first: $n) { ` + hFullPage + ` } }`, map[string]any{"n": 100}},
			"backward pages": {`query($w: ID!) {
  a: auditLog(workspaceId: $w, last: 100) { ` + hFullPage + ` }
  b: auditLog(workspaceId: $w, last: 100) { ` + hFullPage + ` } }`, nil},
			"nested under workspace": {`query($w: ID!) {
  workspace(id: $w) { auditLog(first: 100) { ` + hFullPage + ` } }
  auditLog(workspaceId: $w, first: 100) { ` + hFullPage + ` } }`, nil},
			"aliases under workspaces": {`query {
  workspaces { a: auditLog(first: 100) { ` + hFullPage + ` } b: auditLog(first: 100) { ` + hFullPage + ` } } }`, nil},
			"many aliases of the default page": {`query($w: ID!) { ` + hAliases(5, `auditLog(workspaceId: $w) { `+hFullPage+` }`) + ` }`, nil},
		}
		for name, c := range refused {
			t.Run(name, func(t *testing.T) {
				vars := map[string]any{"w": ws}
				for k, v := range c.vars {
					vars[k] = v
				}
				r := s.post(t, tok, c.query, vars)
				hAllCoded(t, r)
				if r.code() != "COMPLEXITY_LIMIT_EXCEEDED" {
					t.Errorf("code %q, want COMPLEXITY_LIMIT_EXCEEDED: %s", r.code(), r.Raw)
				}
				hNoData(t, r)
			})
		}
	})
}

// hAliases repeats a field n times under aliases f1…fn.
func hAliases(n int, field string) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "f%d: %s\n", i, field)
	}
	return b.String()
}

// hNest nests a selection: workspaces { members { workspace { members { …
// leaf } } } } with levels fields in all below workspaces.
func hNest(levels int, leaf string) string {
	q := leaf
	for i := levels; i >= 1; i-- {
		if i%2 == 1 {
			q = "members { " + q + " }"
		} else {
			q = "workspace { " + q + " }"
		}
	}
	return "workspaces { " + q + " }"
}

func TestAbuseDepthLimit(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		f := hNewAbuseFixture(t, db, nil)
		s, tok := f.s, f.admin.token

		// Normal use: a workspace, its members and their users; the deepest
		// query the complexity limit lets through (8 levels) is not refused
		// for its depth.
		s.ok(t, tok, `query($w: ID!) { workspace(id: $w) { id members { role user { id email name } workspace { id } } } }`, map[string]any{"w": f.ws})
		deepest := `query($w: ID!) { workspace(id: $w) { members { workspace { auditLog(first: 1) { edges { node { actor { id } } } } } } } }`
		if d := strings.Count(deepest, "{"); d != 8 || d > app.MaxDepth {
			t.Fatalf("test bug: query depth %d", d)
		}
		s.ok(t, tok, deepest, map[string]any{"w": f.ws})

		for name, q := range map[string]string{
			"one level too deep": "{ " + hNest(app.MaxDepth-1, "__typename") + " }",
			"far too deep":       "{ " + hNest(40, "__typename") + " }",
			"deep through fragments": `query { workspaces { ...W } }
fragment W on Workspace { members { ...M } }
fragment M on Membership { workspace { members { workspace { members { workspace { members { workspace { members { user { id } } } } } } } } } }`,
			"deep through inline fragments": `{ workspaces { ... on Workspace { members { ... on Membership { workspace { members { workspace { members { workspace { members { workspace { members { role } } } } } } } } } } } } }`,
		} {
			t.Run(name, func(t *testing.T) {
				r := s.post(t, tok, q, nil)
				hWantError(t, r, http.StatusOK, "GRAPHQL_VALIDATION_FAILED")
				hNoData(t, r)
				if !strings.Contains(r.Raw, "levels deep") {
					t.Errorf("the error does not name the depth limit: %s", r.Raw)
				}
			})
		}
	})
}

func TestAbuseRootFieldLimit(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		f := hNewAbuseFixture(t, db, nil)
		s, tok := f.s, f.admin.token

		s.ok(t, tok, "{ "+hAliases(app.MaxRootFields, "viewer { id }")+" }", nil)
		for name, q := range map[string]string{
			"25 aliases of viewer":  "{ " + hAliases(25, "viewer { id }") + " }",
			"one over the limit":    "{ " + hAliases(app.MaxRootFields+1, "viewer { id }") + " }",
			"aliases in a fragment": "query { ...Q } fragment Q on Query { " + hAliases(app.MaxRootFields+1, "workspaces { id }") + " }",
			"aliases in inline fragments": "{ ... on Query { " + hAliases(app.MaxRootFields/2+1, "viewer { id }") + " } ... on Query { " +
				strings.ReplaceAll(hAliases(app.MaxRootFields/2+1, "workspaces { id }"), "f", "g") + " } }",
		} {
			t.Run(name, func(t *testing.T) {
				r := s.post(t, tok, q, nil)
				hWantError(t, r, http.StatusOK, "GRAPHQL_VALIDATION_FAILED")
				hNoData(t, r)
				if !strings.Contains(r.Raw, "root fields") {
					t.Errorf("the error does not name the root field limit: %s", r.Raw)
				}
			})
		}
		t.Run("mutation aliases are refused before any runs", func(t *testing.T) {
			before := hCount(t, s, "workspaces")
			r := s.post(t, tok, "mutation { "+hAliases(app.MaxRootFields+5, `createWorkspace(input: {name: "Flood"}) { id }`)+" }", nil)
			hWantError(t, r, http.StatusOK, "GRAPHQL_VALIDATION_FAILED")
			if after := hCount(t, s, "workspaces"); after != before {
				t.Errorf("workspaces %d -> %d: a refused operation ran", before, after)
			}
		})
	})
}

func TestAbuseParserTokenLimit(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		f := hNewAbuseFixture(t, db, nil)
		s, tok := f.s, f.admin.token

		// Far below 1 MiB, far over the token limit, and cheap by every other
		// measure (one root field, depth 2) until it is parsed.
		many := "{ viewer { " + strings.Repeat("id ", app.ParserTokenLimit) + "} }"
		if len(many) > httpserver.MaxBodyBytes/10 {
			t.Fatalf("test bug: query of %d bytes", len(many))
		}
		r := s.post(t, tok, many, nil)
		hWantError(t, r, http.StatusOK, "GRAPHQL_PARSE_FAILED")
		hNoData(t, r)
		if !strings.Contains(r.Raw, "token limit") {
			t.Errorf("the error does not say the token limit was exceeded: %s", r.Raw)
		}
		// Over GET too.
		hWantError(t, hGet(t, s, tok, many, nil), http.StatusOK, "GRAPHQL_PARSE_FAILED")
		// A large but reasonable operation parses: a quarter of the token
		// limit, in a filter (a quarter of the limit in fields would be over
		// the limit on fields).
		s.ok(t, tok, `query($w: ID!) { auditLog(workspaceId: $w, filter: {actions: [`+
			strings.Repeat("MEMBER_ADDED ", app.ParserTokenLimit/4)+`]}) { totalCount } }`, map[string]any{"w": f.ws})
	})
}

// hUnknownLength hides the length of a reader, so that the client sends it
// chunked.
type hUnknownLength struct{ r io.Reader }

func (u hUnknownLength) Read(p []byte) (int, error) { return u.r.Read(p) }

func TestAbuseBodyLimit(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		f := hNewAbuseFixture(t, db, nil)
		s, tok := f.s, f.admin.token

		// A valid JSON request, padded with a variable to just over 1 MiB:
		// it would run if it were read.
		body := func(size int) []byte {
			pad := size - len(`{"query":"mutation { createWorkspace(input: {name: \"Big\"}) { id } }","variables":{"pad":""}}`)
			b, _ := json.Marshal(map[string]any{"query": `mutation { createWorkspace(input: {name: "Big"}) { id } }`,
				"variables": map[string]any{"pad": strings.Repeat("x", pad)}})
			if len(b) != size {
				t.Fatalf("test bug: body of %d bytes, want %d", len(b), size)
			}
			return b
		}
		auth := withHeader("Authorization", "Bearer "+tok)
		over := body(httpserver.MaxBodyBytes + 1)
		for name, rd := range map[string]func() io.Reader{
			"content-length": func() io.Reader { return bytes.NewReader(over) },
			"chunked":        func() io.Reader { return hUnknownLength{bytes.NewReader(over)} },
		} {
			t.Run(name, func(t *testing.T) {
				before := hCount(t, s, "workspaces")
				var sentLength int64
				r := hRequest(t, s, http.MethodPost, "/graphql", "application/json", rd(), auth,
					func(req *http.Request) { sentLength = req.ContentLength })
				if name == "chunked" && sentLength > 0 {
					t.Fatalf("test bug: the client sent a Content-Length of %d", sentLength)
				}
				hWantError(t, r, http.StatusRequestEntityTooLarge, "BAD_USER_INPUT")
				if after := hCount(t, s, "workspaces"); after != before {
					t.Errorf("workspaces %d -> %d: an oversized request ran", before, after)
				}
			})
		}
		t.Run("a body of exactly 1 MiB is read", func(t *testing.T) {
			before := hCount(t, s, "workspaces")
			r := hRequest(t, s, http.MethodPost, "/graphql", "application/json",
				hUnknownLength{bytes.NewReader(body(httpserver.MaxBodyBytes))}, auth)
			if r.Status != http.StatusOK || len(r.Errors) > 0 {
				t.Fatalf("status %d: %.300s", r.Status, r.Raw)
			}
			if after := hCount(t, s, "workspaces"); after != before+1 {
				t.Errorf("workspaces %d -> %d, want one more", before, after)
			}
		})
		t.Run("a declared length over the limit is refused before reading", func(t *testing.T) {
			// The header promises 64 MiB; the server must answer without
			// waiting for it.
			pr, pw := io.Pipe()
			defer pw.Close()
			go func() { _, _ = pw.Write([]byte(`{"query":"`)) }()
			r := hRequest(t, s, http.MethodPost, "/graphql", "application/json", pr, auth,
				func(req *http.Request) { req.ContentLength = 64 << 20 })
			hWantError(t, r, http.StatusRequestEntityTooLarge, "BAD_USER_INPUT")
		})
	})
}

func TestAbuseBatchesAreRefused(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		f := hNewAbuseFixture(t, db, nil)
		s, tok := f.s, f.admin.token
		auth := withHeader("Authorization", "Bearer "+tok)
		op := `{"query":"mutation { createWorkspace(input: {name: \"Batch\"}) { id } }"}`
		for name, body := range map[string]string{
			"array":                     "[" + op + "," + op + "]",
			"array after whitespace":    " \r\n\t[" + op + "]",
			"empty array":               "[]",
			"array of one":              "[" + op + "]",
			"object then array":         op + "[" + op + "]",
			"not JSON":                  "query { viewer { id } }",
			"empty body":                "",
			"string":                    `"mutation { createWorkspace(input: {name: \"Batch\"}) { id } }"`,
			"variables not an object":   `{"query":"{ viewer { id } }","variables":[1,2]}`,
			"query not a string":        `{"query":{"a":1}}`,
			"two objects one after one": op + op,
		} {
			t.Run(name, func(t *testing.T) {
				before := hCount(t, s, "workspaces")
				r := hRequest(t, s, http.MethodPost, "/graphql", "application/json", strings.NewReader(body), auth)
				hWantError(t, r, http.StatusBadRequest, "BAD_USER_INPUT")
				if after := hCount(t, s, "workspaces"); after != before {
					t.Errorf("workspaces %d -> %d: a refused request ran", before, after)
				}
				if strings.HasPrefix(name, "array") && (len(r.Errors) == 0 || !strings.Contains(r.Errors[0].Message, "batch")) {
					t.Errorf("the refusal of a batch does not say so: %s", r.Raw)
				}
			})
		}
	})
}

func TestAbuseFormPostsAreRefused(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		f := hNewAbuseFixture(t, db, nil)
		s, tok := f.s, f.admin.token
		mutation := `mutation { createWorkspace(input: {name: "CSRF"}) { id } }`
		jsonBody, _ := json.Marshal(map[string]any{"query": mutation})

		var mp bytes.Buffer
		mw := multipart.NewWriter(&mp)
		_ = mw.WriteField("query", mutation)
		_ = mw.Close()

		cases := map[string]struct {
			contentType string
			body        string
		}{
			"urlencoded":              {"application/x-www-form-urlencoded", url.Values{"query": {mutation}}.Encode()},
			"urlencoded JSON":         {"application/x-www-form-urlencoded", string(jsonBody)},
			"multipart":               {mw.FormDataContentType(), mp.String()},
			"text/plain JSON":         {"text/plain", string(jsonBody)},
			"text/plain with charset": {"text/plain; charset=utf-8", string(jsonBody)},
			"no content type":         {"", string(jsonBody)},
			"application/graphql":     {"application/graphql", mutation},
			"bad media type":          {"application/json;;", string(jsonBody)},
			"json suffix":             {"application/json-patch+json", string(jsonBody)},
		}
		for name, c := range cases {
			t.Run(name, func(t *testing.T) {
				before := hCount(t, s, "workspaces")
				// With the victim's credentials, as a browser would send them.
				r := hRequest(t, s, http.MethodPost, "/graphql", c.contentType, strings.NewReader(c.body),
					withHeader("Authorization", "Bearer "+tok))
				hWantError(t, r, http.StatusUnsupportedMediaType, "BAD_USER_INPUT")
				if after := hCount(t, s, "workspaces"); after != before {
					t.Errorf("workspaces %d -> %d: a form post ran a mutation", before, after)
				}
			})
		}
		t.Run("JSON with a charset is accepted", func(t *testing.T) {
			before := hCount(t, s, "workspaces")
			r := hRequest(t, s, http.MethodPost, "/graphql", "application/json; charset=utf-8", bytes.NewReader(jsonBody),
				withHeader("Authorization", "Bearer "+tok))
			if r.Status != http.StatusOK || len(r.Errors) > 0 {
				t.Fatalf("status %d: %s", r.Status, r.Raw)
			}
			if after := hCount(t, s, "workspaces"); after != before+1 {
				t.Errorf("workspaces %d -> %d, want one more", before, after)
			}
		})
	})
}

func TestAbuseGetIsForQueriesOnly(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		f := hNewAbuseFixture(t, db, nil)
		s, tok := f.s, f.admin.token

		t.Run("a query works", func(t *testing.T) {
			r := hGet(t, s, tok, `query($w: ID!) { viewer { id } workspace(id: $w) { id name } }`, map[string]any{"w": f.ws})
			if r.Status != http.StatusOK || len(r.Errors) > 0 {
				t.Fatalf("status %d: %s", r.Status, r.Raw)
			}
			var data struct {
				Viewer    struct{ ID string }
				Workspace struct{ ID string }
			}
			if err := json.Unmarshal(r.Data, &data); err != nil || data.Viewer.ID != f.admin.id || data.Workspace.ID != f.ws {
				t.Errorf("data %s (%v)", r.Data, err)
			}
		})
		for name, c := range map[string]struct {
			query string
			op    string
		}{
			"mutation":                    {`mutation { createWorkspace(input: {name: "Via GET"}) { id } }`, ""},
			"named mutation":              {`mutation M { createWorkspace(input: {name: "Via GET"}) { id } }`, "M"},
			"mutation chosen by name":     {`query Q { viewer { id } } mutation M { createWorkspace(input: {name: "Via GET"}) { id } }`, "M"},
			"accept invite":               {`mutation { acceptInvite(token: "inv_x") { role } }`, ""},
			"mutation among many aliases": {"mutation { " + hAliases(3, `createWorkspace(input: {name: "Via GET"}) { id }`) + " }", ""},
		} {
			t.Run(name, func(t *testing.T) {
				before := hCount(t, s, "workspaces")
				q := url.Values{"query": {c.query}}
				if c.op != "" {
					q.Set("operationName", c.op)
				}
				r := hRequest(t, s, http.MethodGet, "/graphql?"+q.Encode(), "", nil, withHeader("Authorization", "Bearer "+tok))
				if r.Status < 400 {
					t.Errorf("status %d, want a 4xx: %s", r.Status, r.Raw)
				}
				hAllCoded(t, r)
				if r.code() != "GRAPHQL_VALIDATION_FAILED" {
					t.Errorf("code %q, want GRAPHQL_VALIDATION_FAILED: %s", r.code(), r.Raw)
				}
				hNoData(t, r)
				if after := hCount(t, s, "workspaces"); after != before {
					t.Errorf("workspaces %d -> %d: a GET ran a mutation", before, after)
				}
			})
		}
		t.Run("the query of a document with a mutation may run", func(t *testing.T) {
			q := url.Values{"query": {`query Q { viewer { id } } mutation M { createWorkspace(input: {name: "x"}) { id } }`}, "operationName": {"Q"}}
			r := hRequest(t, s, http.MethodGet, "/graphql?"+q.Encode(), "", nil, withHeader("Authorization", "Bearer "+tok))
			if r.Status != http.StatusOK || len(r.Errors) > 0 {
				t.Errorf("status %d: %s", r.Status, r.Raw)
			}
		})
		for name, raw := range map[string]string{
			"bad escape in the query string": "query=%zz",
			"variables not JSON":             "query=" + url.QueryEscape("query($w: ID!) { workspace(id: $w) { id } }") + "&variables=%7Bnot-json",
			"extensions not JSON":            "query=" + url.QueryEscape("{ viewer { id } }") + "&extensions=nope",
			"no query":                       "",
		} {
			t.Run(name, func(t *testing.T) {
				r := hRequest(t, s, http.MethodGet, "/graphql?"+raw, "", nil, withHeader("Authorization", "Bearer "+tok))
				if r.Status < 400 || r.Status >= 500 {
					t.Errorf("status %d, want a 4xx: %s", r.Status, r.Raw)
				}
				hAllCoded(t, r)
			})
		}
	})
}

// hMisspelled are operations with a misspelled name of each kind that the
// validator could suggest a correction for.
var hMisspelled = map[string]struct {
	query string
	vars  map[string]any
}{
	"field":            {`{ viewr { id } }`, nil},
	"nested field":     {`{ viewer { emial } }`, nil},
	"argument":         {`query($w: ID!) { workspace(idd: $w) { id } }`, map[string]any{"w": "x"}},
	"enum value":       {`mutation { setWorkspacePlan(workspaceId: "x", plan: BUSINES) { id } }`, nil},
	"input field":      {`mutation { createWorkspace(input: {nam: "x"}) { id } }`, nil},
	"type name":        {`query($f: AuditLogFiltr) { viewer { id } }`, map[string]any{"f": nil}},
	"fragment on type": {`query { viewer { ...U } } fragment U on Usr { id }`, nil},
	"leaf selection":   {`{ viewer }`, nil},
}

func TestAbuseIntrospectionOff(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		f := hNewAbuseFixture(t, db, map[string]string{"AUDITLOG_INTROSPECTION": "false"})
		s, tok := f.s, f.admin.token

		for name, q := range map[string]string{
			"__schema":           `{ __schema { queryType { name } types { name fields { name } } } }`,
			"__type":             `{ __type(name: "Workspace") { name fields { name } } }`,
			"__schema in alias":  `{ s: __schema { types { name } } }`,
			"__type in fragment": `query { ...I } fragment I on Query { __type(name: "AuditEvent") { fields { name } } }`,
			"beside a field":     `{ viewer { id } __schema { types { name } } }`,
		} {
			t.Run(name, func(t *testing.T) {
				for _, r := range []*response{s.post(t, tok, q, nil), s.post(t, "", q, nil), hGet(t, s, tok, q, nil)} {
					if r.Status == http.StatusOK && len(r.Errors) == 0 {
						t.Fatalf("introspection answered: %s", r.Raw)
					}
					hAllCoded(t, r)
					if r.code() == "INTERNAL" {
						t.Errorf("a refused introspection query is an INTERNAL error: %s", r.Raw)
					}
					if strings.Contains(r.Raw, `"AuditEvent"`) && strings.Contains(r.Raw, `"fields"`) || strings.Contains(r.Raw, "queryType") {
						t.Errorf("the answer leaks the schema: %s", r.Raw)
					}
				}
			})
		}
		t.Run("__typename still works", func(t *testing.T) {
			s.ok(t, tok, `{ __typename viewer { __typename id } }`, nil)
		})
		for name, c := range hMisspelled {
			t.Run("no suggestion for a misspelled "+name, func(t *testing.T) {
				r := s.post(t, tok, c.query, c.vars)
				hAllCoded(t, r)
				if len(r.Errors) == 0 {
					t.Fatalf("no error: %s", r.Raw)
				}
				hNoSuggestion(t, r)
			})
		}
	})
}

func TestAbuseIntrospectionOnByDefault(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		f := hNewAbuseFixture(t, db, nil)
		s, tok := f.s, f.admin.token

		var out struct {
			Schema struct {
				QueryType struct{ Name string }
				Types     []struct{ Name string }
			} `json:"__schema"`
			Type struct {
				Fields []struct{ Name string }
			} `json:"__type"`
		}
		s.ok(t, tok, `{ __schema { queryType { name } types { name } } __type(name: "AuditEvent") { fields { name } } }`, nil, &out)
		if out.Schema.QueryType.Name != "Query" || len(out.Schema.Types) < 10 || len(out.Type.Fields) < 10 {
			t.Errorf("introspection answered %+v", out)
		}
		// Anonymous clients (the Playground) may introspect too.
		s.ok(t, "", `{ __schema { queryType { name } } }`, nil)
		for name, want := range map[string]string{"field": "viewer", "nested field": "email", "argument": "id", "enum value": "BUSINESS"} {
			t.Run("suggestion for a misspelled "+name, func(t *testing.T) {
				c := hMisspelled[name]
				r := s.post(t, tok, c.query, c.vars)
				hAllCoded(t, r)
				if !strings.Contains(r.Raw, "Did you mean") || !strings.Contains(r.Raw, want) {
					t.Errorf("no suggestion of %q: %s", want, r.Raw)
				}
			})
		}
	})
}

// TestAbuseErrorsAlwaysHaveCodes sends one request of each kind that the
// edge refuses and checks the body of each.
func TestAbuseErrorsAlwaysHaveCodes(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		f := hNewAbuseFixture(t, db, nil)
		s, tok := f.s, f.admin.token
		auth := withHeader("Authorization", "Bearer "+tok)
		post := func(body string) func(t *testing.T) *response {
			return func(t *testing.T) *response {
				return hRequest(t, s, http.MethodPost, "/graphql", "application/json", strings.NewReader(body), auth)
			}
		}
		for name, send := range map[string]func(t *testing.T) *response{
			"parse error":           post(`{"query":"{ viewer { id "}`),
			"validation error":      post(`{"query":"{ nope }"}`),
			"unknown operation":     post(`{"query":"query A { viewer { id } }","operationName":"B"}`),
			"no operation":          post(`{"query":""}`),
			"missing variable":      post(`{"query":"query($w: ID!) { workspace(id: $w) { id } }"}`),
			"variable of bad type":  post(`{"query":"query($n: Int) { auditLog(workspaceId: \"x\", first: $n) { totalCount } }","variables":{"n":"many"}}`),
			"bad enum in variables": post(`{"query":"mutation($p: Plan!) { setWorkspacePlan(workspaceId: \"x\", plan: $p) { id } }","variables":{"p":"GOLD"}}`),
			"anonymous viewer": func(t *testing.T) *response {
				return hRequest(t, s, http.MethodPost, "/graphql", "application/json", strings.NewReader(`{"query":"{ viewer { id } }"}`))
			},
			"PUT": func(t *testing.T) *response {
				return hRequest(t, s, http.MethodPut, "/graphql", "application/json", strings.NewReader(`{"query":"{ viewer { id } }"}`), auth)
			},
			"DELETE": func(t *testing.T) *response {
				return hRequest(t, s, http.MethodDelete, "/graphql", "", nil, auth)
			},
			"websocket upgrade": func(t *testing.T) *response {
				return hRequest(t, s, http.MethodPost, "/graphql", "application/json", strings.NewReader(`{"query":"{ viewer { id } }"}`), auth,
					withHeader("Upgrade", "websocket"), withHeader("Connection", "Upgrade"))
			},
			"GET upgrade": func(t *testing.T) *response {
				return hRequest(t, s, http.MethodGet, "/graphql?query="+url.QueryEscape("{ viewer { id } }"), "", nil, auth,
					withHeader("Upgrade", "websocket"), withHeader("Connection", "Upgrade"))
			},
		} {
			t.Run(name, func(t *testing.T) {
				r := send(t)
				if r.Status == http.StatusOK && len(r.Errors) == 0 {
					t.Fatalf("not refused: %s", r.Raw)
				}
				hAllCoded(t, r)
				if r.code() == "INTERNAL" {
					t.Errorf("a client's mistake is answered INTERNAL: %s", r.Raw)
				}
			})
		}
	})
}

// TestAbuseMembershipCyclesAreBounded: Membership.workspace leads back to
// Workspace.members, so every level of nesting multiplies the answer by the
// number of members — M³ memberships at depth 7, well inside the depth
// limit. The complexity limit must price a member list as a page.
func TestAbuseMembershipCyclesAreBounded(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		f := hNewAbuseFixture(t, db, nil)
		s, tok, ws := f.s, f.admin.token, f.ws
		const members = 12
		for i := 1; i < members; i++ {
			s.addMember(t, f.admin, ws, s.newUser(t, fmt.Sprintf("m%d", i)), "MEMBER")
		}
		vars := map[string]any{"w": ws}

		// Normal use: the members of a workspace, with every field, and of all
		// the viewer's workspaces; one step back to the workspace.
		var out struct {
			Workspace struct {
				Members []struct {
					User struct{ ID string }
				}
			}
		}
		s.ok(t, tok, `query($w: ID!) { workspace(id: $w) { id name plan viewerRole members { role joinedAt user { id email name } workspace { id name } }
  inviteLinks { id kind role createdAt createdBy { id email } acceptedCount } } }`, vars, &out)
		if len(out.Workspace.Members) != members {
			t.Fatalf("%d members, want %d", len(out.Workspace.Members), members)
		}
		// The members of every workspace of the viewer at once cost the
		// longest list of workspaces times a page of members each: refused
		// below; one workspace at a time is the way.

		for name, q := range map[string]string{
			"members of all workspaces":     `{ workspaces { id name members { role joinedAt user { id email name } } } }`,
			"members of members":            `query($w: ID!) { workspace(id: $w) { members { workspace { members { role } } } } }`,
			"members of members of members": `query($w: ID!) { workspace(id: $w) { members { workspace { members { workspace { members { user { id } } } } } } } }`,
			"from workspaces":               `{ workspaces { members { workspace { members { workspace { members { role } } } } } } }`,
			"aliased cheap levels":          `query($w: ID!) { workspace(id: $w) { a: members { workspace { b: members { role } c: members { role } } } } }`,
		} {
			t.Run(name, func(t *testing.T) {
				r := s.post(t, tok, q, vars)
				hAllCoded(t, r)
				if r.code() != "COMPLEXITY_LIMIT_EXCEEDED" {
					t.Errorf("code %q, want COMPLEXITY_LIMIT_EXCEEDED; %d bytes of answer", r.code(), len(r.Raw))
				}
				hNoData(t, r)
			})
		}
	})
}
