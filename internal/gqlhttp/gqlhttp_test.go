package gqlhttp

import "testing"

func TestNegotiate(t *testing.T) {
	for accept, want := range map[string]string{
		"":                                  JSON,
		"*/*":                               JSON,
		"application/*":                     JSON,
		"application/json":                  JSON,
		"application/graphql-response+json": GraphQLResponse,
		"application/graphql-response+json; charset=utf-8":                GraphQLResponse,
		"application/graphql-response+json, application/json;q=0.9":       GraphQLResponse, // Apollo Client 4
		"application/json, application/graphql-response+json;q=0.9":       JSON,
		"application/json;q=0.5, application/graphql-response+json;q=0.8": GraphQLResponse,
		"application/graphql-response+json;q=0, application/json":         JSON,
		"application/graphql-response+json, multipart/mixed":              GraphQLResponse,
		"text/html":            JSON,
		"text/html, */*;q=0.8": JSON,
		"application/graphql-response+json;q=0.2, */*;q=0.5": JSON,
		"garbage;;, application/graphql-response+json":       GraphQLResponse,
		"application/graphql-response+json;q=abc":            JSON,
	} {
		if got := Negotiate(accept); got != want {
			t.Errorf("Negotiate(%q) = %s, want %s", accept, got, want)
		}
	}
}
