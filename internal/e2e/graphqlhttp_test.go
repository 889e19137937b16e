package e2e

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/auditlogd/auditlogd/internal/app"
	"github.com/auditlogd/auditlogd/internal/testenv"
)

// GraphQL over HTTP (issue 10): one behaviour for GET and POST, with content
// negotiation; the standard introspection query within the limits; Apollo
// automatic persisted queries; and (issue 14, finding 1) costs that bound
// what a list can do.

const (
	mediaJSON = "application/json"
	mediaGQL  = "application/graphql-response+json"
)

//go:embed testdata/introspection-query.graphql
var standardIntrospectionQuery string

// gqlOp is one GraphQL request, sent by POST or GET with an Accept header.
type gqlOp struct {
	method, accept, token string
	query, opName         string
	vars, extensions      map[string]any
}

func (s *server) do(t testing.TB, op gqlOp) *response {
	t.Helper()
	var opts []reqOpt
	if op.accept != "" {
		opts = append(opts, withHeader("Accept", op.accept))
	}
	if op.token != "" {
		opts = append(opts, withHeader("Authorization", "Bearer "+op.token))
	}
	if op.method == http.MethodGet {
		q := url.Values{}
		if op.query != "" {
			q.Set("query", op.query)
		}
		if op.opName != "" {
			q.Set("operationName", op.opName)
		}
		for k, v := range map[string]map[string]any{"variables": op.vars, "extensions": op.extensions} {
			if v != nil {
				b, _ := json.Marshal(v)
				q.Set(k, string(b))
			}
		}
		return hRequest(t, s, http.MethodGet, "/graphql?"+q.Encode(), "", nil, opts...)
	}
	body := map[string]any{}
	if op.query != "" {
		body["query"] = op.query
	}
	if op.opName != "" {
		body["operationName"] = op.opName
	}
	if op.vars != nil {
		body["variables"] = op.vars
	}
	if op.extensions != nil {
		body["extensions"] = op.extensions
	}
	b, _ := json.Marshal(body)
	return hRequest(t, s, http.MethodPost, "/graphql", "application/json", strings.NewReader(string(b)), opts...)
}

// hasDataKey reports whether the body has a "data" member at all.
func hasDataKey(t testing.TB, r *response) bool {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(r.Raw), &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %.300s", err, r.Raw)
	}
	_, ok := m["data"]
	return ok
}

// wantRequestError checks the answer to a request error under media: HTTP
// 400 with application/graphql-response+json, 200 with application/json, the
// media type echoed, a coded error and no data key.
func wantRequestError(t testing.TB, r *response, media, code string) {
	t.Helper()
	status := http.StatusOK
	if media == mediaGQL {
		status = http.StatusBadRequest
	}
	hWantError(t, r, status, code)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, media) {
		t.Errorf("Content-Type %q, want %s", ct, media)
	}
	if hasDataKey(t, r) {
		t.Errorf("a request error has a data key: %.300s", r.Raw)
	}
}

func TestGraphQLOverHTTPContentNegotiation(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		f := hNewAbuseFixture(t, db, nil)
		s, tok := f.s, f.admin.token

		for _, method := range []string{http.MethodPost, http.MethodGet} {
			for accept, media := range map[string]string{
				"":                                    mediaJSON,
				"*/*":                                 mediaJSON,
				mediaJSON:                             mediaJSON,
				mediaGQL:                              mediaGQL,
				mediaGQL + ", application/json;q=0.9": mediaGQL, // Apollo Client 4
				"application/json, " + mediaGQL + ";q=0.5": mediaJSON,
				"text/html": mediaJSON,
			} {
				t.Run(method+" Accept "+accept, func(t *testing.T) {
					r := s.do(t, gqlOp{method: method, accept: accept, token: tok, query: `{ viewer { id } }`})
					if r.Status != http.StatusOK || len(r.Errors) > 0 || !strings.Contains(string(r.Data), f.admin.id) {
						t.Fatalf("status %d: %.300s", r.Status, r.Raw)
					}
					if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, media) || !strings.Contains(ct, "utf-8") {
						t.Errorf("Content-Type %q, want %s; charset=utf-8", ct, media)
					}
					if !strings.Contains(strings.Join(r.Header.Values("Vary"), ","), "Accept") {
						t.Errorf("Vary %q does not name Accept", r.Header.Values("Vary"))
					}

					for name, c := range map[string]struct {
						query string
						vars  map[string]any
						op    string
						code  string
					}{
						"parse error":          {query: `{ viewer { id `, code: "GRAPHQL_PARSE_FAILED"},
						"validation error":     {query: `{ viewer { nope } }`, code: "GRAPHQL_VALIDATION_FAILED"},
						"variable coercion":    {query: `query($n: Int) { auditLog(workspaceId: "x", first: $n) { totalCount } }`, vars: map[string]any{"n": "many"}, code: "GRAPHQL_VALIDATION_FAILED"},
						"missing variable":     {query: `query($w: ID!) { workspace(id: $w) { id } }`, code: "GRAPHQL_VALIDATION_FAILED"},
						"unknown operation":    {query: `query A { viewer { id } }`, op: "B", code: "GRAPHQL_VALIDATION_FAILED"},
						"depth limit":          {query: "{ " + hNest(app.MaxDepth, "__typename") + " }", code: "GRAPHQL_VALIDATION_FAILED"},
						"complexity limit":     {query: `{ workspaces { ` + hAliases(60, "viewerRole") + ` } }`, code: "COMPLEXITY_LIMIT_EXCEEDED"},
						"over the token limit": {query: "{ viewer { " + strings.Repeat("id ", app.ParserTokenLimit) + "} }", code: "GRAPHQL_PARSE_FAILED"},
					} {
						t.Run(name, func(t *testing.T) {
							wantRequestError(t, s.do(t, gqlOp{method: method, accept: accept, token: tok, query: c.query, vars: c.vars, opName: c.op}), media, c.code)
						})
					}
					t.Run("field errors keep HTTP 200 and data", func(t *testing.T) {
						// BUSINESS_PLAN_REQUIRED is a field error: execution ran.
						free := s.newWorkspace(t, f.admin, "FREE")
						r := s.do(t, gqlOp{method: method, accept: accept, token: tok, query: `query($w: ID!) { viewer { id } auditLog(workspaceId: $w) { totalCount } }`, vars: map[string]any{"w": free}})
						if r.Status != http.StatusOK || r.code() != "BUSINESS_PLAN_REQUIRED" || !hasDataKey(t, r) || !strings.Contains(string(r.Data), f.admin.id) {
							t.Errorf("status %d: %.300s", r.Status, r.Raw)
						}
					})
				})
			}
		}
	})
}

func TestGraphQLOverHTTPMalformedRequestsAre400(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		f := hNewAbuseFixture(t, db, nil)
		s, tok := f.s, f.admin.token
		auth := withHeader("Authorization", "Bearer "+tok)
		for _, accept := range []string{"", mediaJSON, mediaGQL} {
			acc := withHeader("Accept", accept)
			for name, body := range map[string]string{
				"not JSON":                  `{"query": "{ viewer { id } }"`,
				"missing query":             `{"qeury": "{ viewer { id } }"}`,
				"empty object":              `{}`,
				"null query":                `{"query": null}`,
				"query an object":           `{"query": {"obj": "ect"}}`,
				"query a number":            `{"query": 0}`,
				"query false":               `{"query": false}`,
				"query an array":            `{"query": ["array"]}`,
				"operationName an object":   `{"query": "{ viewer { id } }", "operationName": {"a": 1}}`,
				"operationName a number":    `{"query": "{ viewer { id } }", "operationName": 0}`,
				"variables a string":        `{"query": "{ viewer { id } }", "variables": "{}"}`,
				"variables an array":        `{"query": "{ viewer { id } }", "variables": ["array"]}`,
				"extensions a string":       `{"query": "{ viewer { id } }", "extensions": "x"}`,
				"extensions a number":       `{"query": "{ viewer { id } }", "extensions": 0}`,
				"trailing garbage":          `{"query": "{ viewer { id } }"} x`,
				"batch (keeps its refusal)": `[{"query": "{ viewer { id } }"}]`,
			} {
				t.Run(fmt.Sprintf("POST %s, Accept %q", name, accept), func(t *testing.T) {
					r := hRequest(t, s, http.MethodPost, "/graphql", "application/json", strings.NewReader(body), auth, acc)
					hWantError(t, r, http.StatusBadRequest, "BAD_USER_INPUT")
					if hasDataKey(t, r) {
						t.Errorf("data key in %.300s", r.Raw)
					}
				})
			}
			for name, raw := range map[string]string{
				"no query":            "",
				"variables not JSON":  "query=" + url.QueryEscape("{ viewer { id } }") + "&variables=%7Bx",
				"variables an array":  "query=" + url.QueryEscape("{ viewer { id } }") + "&variables=%5B1%5D",
				"extensions a string": "query=" + url.QueryEscape("{ viewer { id } }") + "&extensions=%22x%22",
			} {
				t.Run(fmt.Sprintf("GET %s, Accept %q", name, accept), func(t *testing.T) {
					r := hRequest(t, s, http.MethodGet, "/graphql?"+raw, "", nil, auth, acc)
					hWantError(t, r, http.StatusBadRequest, "BAD_USER_INPUT")
				})
			}
		}
		t.Run("the other refusals keep their statuses", func(t *testing.T) {
			r := hRequest(t, s, http.MethodPost, "/graphql", "application/x-www-form-urlencoded", strings.NewReader("query=%7B+viewer+%7B+id+%7D+%7D"), auth, withHeader("Accept", mediaGQL))
			hWantError(t, r, http.StatusUnsupportedMediaType, "BAD_USER_INPUT")
			r = hRequest(t, s, http.MethodPost, "/graphql", "", strings.NewReader(`{"query":"{ viewer { id } }"}`), auth)
			hWantError(t, r, http.StatusUnsupportedMediaType, "BAD_USER_INPUT")
			big := `{"query":"{ viewer { id } }","variables":{"pad":"` + strings.Repeat("x", 1<<20) + `"}}`
			r = hRequest(t, s, http.MethodPost, "/graphql", "application/json", strings.NewReader(big), auth, withHeader("Accept", mediaGQL))
			hWantError(t, r, http.StatusRequestEntityTooLarge, "BAD_USER_INPUT")
		})
	})
}

func TestGraphQLOverHTTPMutationsOverGETAre405(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		f := hNewAbuseFixture(t, db, nil)
		s, tok := f.s, f.admin.token
		for _, accept := range []string{"", mediaJSON, mediaGQL} {
			t.Run("Accept "+accept, func(t *testing.T) {
				before := hCount(t, s, "workspaces")
				r := s.do(t, gqlOp{method: http.MethodGet, accept: accept, token: tok, query: `mutation { createWorkspace(input: {name: "GET"}) { id } }`})
				hWantError(t, r, http.StatusMethodNotAllowed, "GRAPHQL_VALIDATION_FAILED")
				if allow := r.Header.Get("Allow"); allow != "POST" {
					t.Errorf("Allow %q, want POST", allow)
				}
				if hasDataKey(t, r) {
					t.Errorf("data key in %.300s", r.Raw)
				}
				if after := hCount(t, s, "workspaces"); after != before {
					t.Errorf("workspaces %d -> %d: a GET ran a mutation", before, after)
				}
			})
		}
	})
}

// The standard introspection query is 15 levels deep and some 200 fields
// with its fragments expanded: it must pass every limit while introspection
// is on, and crafted introspection must not.
func TestGraphQLIntrospectionForTools(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		f := hNewAbuseFixture(t, db, nil)
		s := f.s
		for _, method := range []string{http.MethodPost, http.MethodGet} {
			for _, token := range []string{"", f.admin.token} {
				t.Run(fmt.Sprintf("%s, signed in %v", method, token != ""), func(t *testing.T) {
					r := s.do(t, gqlOp{method: method, accept: mediaGQL, token: token, query: standardIntrospectionQuery, opName: "IntrospectionQuery"})
					if r.Status != http.StatusOK || len(r.Errors) > 0 {
						t.Fatalf("the standard introspection query: status %d: %.500s", r.Status, r.Raw)
					}
					var out struct {
						Schema struct {
							QueryType struct{ Name string }
							Types     []struct {
								Name   string
								Fields []struct{ Name string }
							}
						} `json:"__schema"`
					}
					if err := json.Unmarshal(r.Data, &out); err != nil {
						t.Fatal(err)
					}
					found := false
					for _, ty := range out.Schema.Types {
						for _, fl := range ty.Fields {
							found = found || (ty.Name == "Query" && fl.Name == "auditLog")
						}
					}
					if out.Schema.QueryType.Name != "Query" || !found {
						t.Errorf("the schema has no Query.auditLog: %.300s", r.Data)
					}
				})
			}
		}

		typeRef := func(depth int) string {
			q := "kind name"
			for range depth {
				q = "kind name ofType { " + q + " }"
			}
			return q
		}
		for name, c := range map[string]struct{ query, want string }{
			"ofType deeper than graphql-js asks": {`{ __schema { types { fields { type { ` + typeRef(12) + ` } } } } }`, "introspection is nested"},
			"__type with a deep ofType chain":    {`{ __type(name: "Query") { fields { type { ` + typeRef(20) + ` } } } }`, "introspection is nested"},
			"two __schema":                       {`{ a: __schema { types { name } } b: __schema { types { name } } }`, "__schema 2 times"},
			"__schema in fragments":              {`{ ...A ...B } fragment A on Query { a: __schema { types { name } } } fragment B on Query { b: __schema { types { name } } }`, "__schema 2 times"},
			"fields of types of fields":          {`{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }`, "introspection depth"},
			"many __type aliases":                {"{ " + hAliases(app.MaxRootFields+1, `__type(name: "Query") { name }`) + " }", "root fields"},
		} {
			t.Run("refused: "+name, func(t *testing.T) {
				r := s.do(t, gqlOp{method: http.MethodPost, accept: mediaGQL, query: c.query})
				wantRequestError(t, r, mediaGQL, "GRAPHQL_VALIDATION_FAILED")
				if !strings.Contains(strings.ToLower(r.Raw), strings.ToLower(c.want)) {
					t.Errorf("the error does not say %q: %.300s", c.want, r.Raw)
				}
			})
		}
	})
}

// TestGraphQLCostBoundsTheWork: the reproduction of issue 14, finding 1 —
// one request selecting a per-workspace field under 1,600 aliases — and the
// limits that now refuse it and its variations before anything runs.
func TestGraphQLCostBoundsTheWork(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		f := hNewAbuseFixture(t, db, nil)
		s, tok := f.s, f.admin.token
		aliases := func(n int, field string) string {
			var b strings.Builder
			for i := range n {
				fmt.Fprintf(&b, "r%d: %s ", i, field)
			}
			return b.String()
		}
		// Normal use still passes: the page's own query, and a handful of
		// fields per workspace.
		s.ok(t, tok, `query AuditLogViewer { viewer { id email name } workspaces { id name plan viewerRole } }`, nil)
		s.ok(t, tok, `{ workspaces { `+aliases(40, "viewerRole")+` } }`, nil)

		for name, c := range map[string]struct{ query, code, want string }{
			"1,600 aliases of viewerRole (the reproduction)": {`{ workspaces { ` + aliases(1600, "viewerRole") + ` } }`, "GRAPHQL_VALIDATION_FAILED", "fields"},
			"60 aliases: 100 workspaces × 60":                {`{ workspaces { ` + aliases(60, "viewerRole") + ` } }`, "COMPLEXITY_LIMIT_EXCEEDED", "complexity"},
			"invite links of every workspace":                {`{ workspaces { inviteLinks { id } } }`, "COMPLEXITY_LIMIT_EXCEEDED", "complexity"},
			"aliases in a fragment":                          {`{ workspaces { ...W } } fragment W on Workspace { ` + aliases(60, "viewerRole") + ` }`, "COMPLEXITY_LIMIT_EXCEEDED", "complexity"},
			"fields in all over the bound":                   {`query($w: ID!) { workspace(id: $w) { ` + aliases(app.MaxFields, "id") + ` } }`, "GRAPHQL_VALIDATION_FAILED", "fields"},
			"fragments that double at every level": {`query { viewer { ...F0 } }
` + doublingFragments(40), "GRAPHQL_VALIDATION_FAILED", "fields"},
		} {
			t.Run(name, func(t *testing.T) {
				r := s.post(t, tok, c.query, map[string]any{"w": f.ws})
				if len(r.Errors) == 0 || r.code() != c.code {
					t.Fatalf("code %q, want %s: %.300s", r.code(), c.code, r.Raw)
				}
				hNoData(t, r)
				if !strings.Contains(r.Raw, c.want) {
					t.Errorf("the error does not mention %q: %.300s", c.want, r.Raw)
				}
			})
		}
	})
}

// doublingFragments defines F0 … Fn, each of which spreads the next twice
// under two aliases: F0 stands for 2ⁿ fields in a document of n lines.
func doublingFragments(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "fragment F%d on User { a%d: id ...F%d b%d: email ...F%d }\n", i, i, i+1, i, i+1)
	}
	fmt.Fprintf(&b, "fragment F%d on User { id }\n", n)
	return b.String()
}

func apqHash(q string) string {
	h := sha256.Sum256([]byte(q))
	return hex.EncodeToString(h[:])
}

func TestGraphQLPersistedQueries(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db testenv.DB) {
		t.Parallel()
		f := hNewAbuseFixture(t, db, nil)
		s, tok := f.s, f.admin.token
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			for _, media := range []string{mediaJSON, mediaGQL} {
				t.Run(method+" "+media, func(t *testing.T) {
					// A query unique to this subtest, so the cache starts without it.
					q := fmt.Sprintf(`query Persisted%s%d($w: ID!) { workspace(id: $w) { id name } }`, method, len(media))
					ext := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": apqHash(q)}}
					vars := map[string]any{"w": f.ws}

					r := s.do(t, gqlOp{method: method, accept: media, token: tok, extensions: ext, vars: vars})
					wantRequestError(t, r, media, "PERSISTED_QUERY_NOT_FOUND")
					if r.Errors[0].Message != "PersistedQueryNotFound" {
						t.Errorf("message %q, want PersistedQueryNotFound (what Apollo clients look for)", r.Errors[0].Message)
					}
					// The client sends the query with its hash once…
					r = s.do(t, gqlOp{method: http.MethodPost, accept: media, token: tok, query: q, extensions: ext, vars: vars})
					if r.Status != http.StatusOK || len(r.Errors) > 0 || !strings.Contains(string(r.Data), f.ws) {
						t.Fatalf("query with its hash: status %d: %.300s", r.Status, r.Raw)
					}
					// …and the hash alone from then on.
					r = s.do(t, gqlOp{method: method, accept: media, token: tok, extensions: ext, vars: vars})
					if r.Status != http.StatusOK || len(r.Errors) > 0 || !strings.Contains(string(r.Data), f.ws) {
						t.Fatalf("hash alone after: status %d: %.300s", r.Status, r.Raw)
					}
				})
			}
		}
		t.Run("a hash that does not match its query", func(t *testing.T) {
			ext := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": apqHash("{ viewer { email } }")}}
			r := s.do(t, gqlOp{method: http.MethodPost, accept: mediaGQL, token: tok, query: `{ viewer { id } }`, extensions: ext})
			wantRequestError(t, r, mediaGQL, "BAD_USER_INPUT")
		})
		t.Run("a mutation by hash over GET is still refused", func(t *testing.T) {
			q := `mutation { createWorkspace(input: {name: "APQ over GET"}) { id } }`
			ext := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": apqHash(q)}}
			s.do(t, gqlOp{method: http.MethodPost, token: tok, query: q, extensions: ext})
			before := hCount(t, s, "workspaces")
			r := s.do(t, gqlOp{method: http.MethodGet, token: tok, extensions: ext})
			hWantError(t, r, http.StatusMethodNotAllowed, "GRAPHQL_VALIDATION_FAILED")
			if after := hCount(t, s, "workspaces"); after != before {
				t.Errorf("workspaces %d -> %d", before, after)
			}
		})
		t.Run("a query too large to keep still runs", func(t *testing.T) {
			q := `{ viewer { id } } # ` + strings.Repeat("x", 100<<10)
			ext := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": apqHash(q)}}
			r := s.do(t, gqlOp{method: http.MethodPost, token: tok, query: q, extensions: ext})
			if r.Status != http.StatusOK || len(r.Errors) > 0 {
				t.Fatalf("status %d: %.300s", r.Status, r.Raw)
			}
			r = s.do(t, gqlOp{method: http.MethodPost, token: tok, extensions: ext})
			if r.code() != "PERSISTED_QUERY_NOT_FOUND" {
				t.Errorf("a 100 KiB query was kept in the cache: %.300s", r.Raw)
			}
		})
	})
}

// TestGraphQLErrorsBeforeExecutionFollowTheMediaType: a 401 or 429 answered
// before GraphQL runs carries the negotiated media type, so that a client
// that asked for application/graphql-response+json reads it as GraphQL
// errors.
func TestGraphQLErrorsBeforeExecutionFollowTheMediaType(t *testing.T) {
	t.Parallel()
	s := newServer(t, testenv.SQLite(t), nil)
	r := s.do(t, gqlOp{method: http.MethodPost, accept: mediaGQL, token: "not-a-jwt", query: `{ viewer { id } }`})
	hWantError(t, r, http.StatusUnauthorized, "UNAUTHENTICATED")
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, mediaGQL) {
		t.Errorf("Content-Type %q, want %s", ct, mediaGQL)
	}
	r = s.do(t, gqlOp{method: http.MethodPost, token: "not-a-jwt", query: `{ viewer { id } }`})
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, mediaJSON) {
		t.Errorf("Content-Type %q, want %s", ct, mediaJSON)
	}
}
