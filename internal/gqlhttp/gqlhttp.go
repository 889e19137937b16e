// Package gqlhttp holds what the GraphQL transport and the HTTP middleware
// in front of it must agree on: which of the two GraphQL-over-HTTP media
// types a request's Accept header asks for. It is a leaf package so that both
// sides can use it without importing each other.
package gqlhttp

import (
	"mime"
	"strconv"
	"strings"
)

// The two media types of a GraphQL response.
const (
	// JSON is the legacy media type: request errors are HTTP 200.
	JSON = "application/json"
	// GraphQLResponse is the GraphQL-over-HTTP media type: request errors
	// are HTTP 4xx and have no data key.
	GraphQLResponse = "application/graphql-response+json"
)

// Negotiate picks the response media type for an Accept header, by quality
// (q) as RFC 9110 has it: application/graphql-response+json when the client
// rates it at least as high as application/json, application/json
// otherwise. An absent header, */* and application/* mean application/json,
// as the specification recommends while clients move over; so does a header
// that names neither (the specification lets a server disregard it rather
// than answer 406).
func Negotiate(accept string) string {
	if strings.TrimSpace(accept) == "" {
		return JSON
	}
	qGQL, qJSON, qWild := -1.0, -1.0, -1.0
	for part := range strings.SplitSeq(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 || f > 1 {
				continue
			}
			q = f
		}
		switch mt {
		case GraphQLResponse:
			qGQL = max(qGQL, q)
		case JSON:
			qJSON = max(qJSON, q)
		case "*/*", "application/*":
			qWild = max(qWild, q)
		}
	}
	if qJSON < 0 {
		qJSON = qWild
	}
	if qGQL > 0 && qGQL >= qJSON {
		return GraphQLResponse
	}
	return JSON
}
