package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/auditlogd/auditlogd/internal/gqlhttp"
)

// httpTransport serves GraphQL over HTTP, GET and POST alike, as the
// GraphQL-over-HTTP specification has it:
//
//   - The response's media type is negotiated from Accept:
//     application/graphql-response+json when the client prefers it,
//     application/json otherwise (also for */* and no Accept at all).
//   - A request that is not well-formed (a body that is not one JSON object;
//     query, operationName, variables or extensions of the wrong type; no
//     query) is HTTP 400 whatever the media type.
//   - A request error (the document does not parse or validate, the
//     variables do not coerce, the operation is unknown or over a limit) has
//     no data key; it is HTTP 400 with application/graphql-response+json and
//     HTTP 200 with application/json.
//   - A mutation over GET is HTTP 405 with Allow: POST.
//
// gqlgen's own GET and POST transports answer request errors 422 with
// application/json (Apollo Client then drops the GraphQL errors), always write
// a data key, answer malformed requests without an error code and differ from
// each other; hence this one. Everything after the parameters (APQ, parsing,
// validation, limits, execution) is gqlgen's executor and its extensions. It
// writes the data of a result as gqlgen produced it (compact and valid)
// instead of encoding it again, which is a quarter of the CPU of a page.
type httpTransport struct{}

var _ graphql.Transport = httpTransport{}

// Supports takes GETs and POSTs that are not connection upgrades; the
// router refuses other methods and POSTs of anything but application/json
// before they get here.
func (httpTransport) Supports(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodPost) && r.Header.Get("Upgrade") == ""
}

// requestState travels in the context from the transport to the extensions
// and back: the HTTP method (for Limits), whether Limits refused a mutation
// over GET (HTTP 405), and whether the operation passed validation (for the
// metrics).
type requestState struct {
	method           string
	methodNotAllowed bool
	validated        bool
}

type stateKey struct{}

func stateOf(ctx context.Context) *requestState {
	st, _ := ctx.Value(stateKey{}).(*requestState)
	return st
}

// Do runs one operation.
func (httpTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	st := &requestState{method: r.Method}
	ctx := context.WithValue(r.Context(), stateKey{}, st)
	media := gqlhttp.Negotiate(r.Header.Get("Accept"))
	h := w.Header()
	h.Set("Content-Type", media+"; charset=utf-8")
	h.Add("Vary", "Accept")
	h.Set("Cache-Control", "no-store")

	start := graphql.Now()
	params, msg := readParams(r)
	if msg != "" {
		e := gqlerror.Errorf("%s", msg)
		e.Extensions = map[string]any{"code": "BAD_USER_INPUT"}
		w.WriteHeader(http.StatusBadRequest)
		writeResponse(w, exec.DispatchError(ctx, gqlerror.List{e}), false)
		return
	}
	params.Headers = r.Header
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}

	oc, errs := exec.CreateOperationContext(ctx, params)
	if errs != nil {
		switch {
		case st.methodNotAllowed:
			h.Set("Allow", "POST")
			w.WriteHeader(http.StatusMethodNotAllowed)
		case media == gqlhttp.GraphQLResponse:
			w.WriteHeader(http.StatusBadRequest)
		}
		writeResponse(w, exec.DispatchError(graphql.WithOperationContext(ctx, oc), errs), false)
		return
	}
	st.validated = true
	responses, ctx := exec.DispatchOperation(ctx, oc)
	writeResponse(w, responses(ctx), true)
}

// rawParams are the request parameters as sent, checked for their types
// before gqlgen sees them.
type rawParams struct {
	Query         json.RawMessage `json:"query"`
	OperationName json.RawMessage `json:"operationName"`
	Variables     json.RawMessage `json:"variables"`
	Extensions    json.RawMessage `json:"extensions"`
}

// readParams reads the parameters of a GET (query string) or POST (JSON
// body). It returns what is wrong with them, or "".
func readParams(r *http.Request) (*graphql.RawParams, string) {
	p := &graphql.RawParams{}
	if r.Method == http.MethodGet {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return nil, "the query string is malformed: " + err.Error()
		}
		p.Query, p.OperationName = q.Get("query"), q.Get("operationName")
		if v := q.Get("variables"); v != "" {
			if err := decodeObject([]byte(v), &p.Variables); err != nil {
				return nil, "variables must be a JSON object"
			}
		}
		if v := q.Get("extensions"); v != "" {
			if err := decodeObject([]byte(v), &p.Extensions); err != nil {
				return nil, "extensions must be a JSON object"
			}
		}
		if p.Query == "" && !persisted(p) {
			return nil, "the query parameter is missing"
		}
		return p, ""
	}

	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, "the request body could not be read"
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return nil, "send the request as Content-Type: application/json"
	}
	var raw rawParams
	if err := decodeObject(body, &raw); err != nil {
		return nil, "the body must be a JSON object with query, variables and operationName"
	}
	if !isNull(raw.Query) && json.Unmarshal(raw.Query, &p.Query) != nil {
		return nil, "query must be a string"
	}
	if !isNull(raw.OperationName) && json.Unmarshal(raw.OperationName, &p.OperationName) != nil {
		return nil, "operationName must be a string"
	}
	if !isNull(raw.Variables) && decodeObject(raw.Variables, &p.Variables) != nil {
		return nil, "variables must be a JSON object"
	}
	if !isNull(raw.Extensions) && decodeObject(raw.Extensions, &p.Extensions) != nil {
		return nil, "extensions must be a JSON object"
	}
	if p.Query == "" && !persisted(p) {
		return nil, "the query is missing: send {\"query\": \"…\"}"
	}
	return p, ""
}

// persisted reports whether the request names an Apollo persisted query,
// which may come without its text.
func persisted(p *graphql.RawParams) bool { return p.Extensions["persistedQuery"] != nil }

func isNull(b json.RawMessage) bool {
	b = bytes.TrimSpace(b)
	return len(b) == 0 || string(b) == "null"
}

// errNotObject: the JSON is not one object.
var errNotObject = errors.New("not a JSON object")

// decodeObject decodes exactly one JSON object (numbers kept as
// json.Number, as gqlgen expects) and nothing after it.
func decodeObject(b []byte, v any) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return errNotObject
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errNotObject
	}
	return nil
}

// writeResponse writes {"errors":…,"data":…,"extensions":…}, with the data
// copied through unchanged (gqlgen produces it compact and valid). withData
// is false for request errors, whose answers have no data key.
func writeResponse(w io.Writer, resp *graphql.Response, withData bool) {
	var b bytes.Buffer
	if resp == nil {
		resp = &graphql.Response{}
	}
	b.Grow(len(resp.Data) + 64)
	b.WriteByte('{')
	sep := false
	if len(resp.Errors) > 0 {
		errs, err := json.Marshal(resp.Errors)
		if err != nil {
			errs = []byte(`[{"message":"internal error","extensions":{"code":"INTERNAL"}}]`)
		}
		b.WriteString(`"errors":`)
		b.Write(errs)
		sep = true
	}
	if withData {
		if sep {
			b.WriteByte(',')
		}
		b.WriteString(`"data":`)
		if len(resp.Data) == 0 {
			b.WriteString("null")
		} else {
			b.Write(resp.Data)
		}
		sep = true
	}
	if len(resp.Extensions) > 0 {
		if ext, err := json.Marshal(resp.Extensions); err == nil {
			if sep {
				b.WriteByte(',')
			}
			b.WriteString(`"extensions":`)
			b.Write(ext)
		}
	}
	b.WriteByte('}')
	_, _ = w.Write(b.Bytes())
}
