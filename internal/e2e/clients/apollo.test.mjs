// Apollo Client (the current major) against a running auditlogd, as a
// frontend would use it. Run by internal/e2e/clients_test.go with
// `node --test`; it needs AUDITLOG_GRAPHQL_URL, AUDITLOG_TOKEN (an admin of
// AUDITLOG_WORKSPACE, a BUSINESS workspace with at least 30 events).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';

import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { CombinedGraphQLErrors, ServerError } from '@apollo/client/errors';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';

const url = process.env.AUDITLOG_GRAPHQL_URL;
const token = process.env.AUDITLOG_TOKEN;
const workspaceId = process.env.AUDITLOG_WORKSPACE;
assert.ok(url && token && workspaceId, 'AUDITLOG_GRAPHQL_URL, AUDITLOG_TOKEN and AUDITLOG_WORKSPACE must be set');

// A fetch that remembers what the client sent.
function recordingFetch() {
  const sent = [];
  const f = async (input, init = {}) => {
    const u = new URL(typeof input === 'string' ? input : input.url);
    sent.push({ method: init.method ?? 'GET', url: u, body: init.body ? JSON.parse(init.body) : null, headers: init.headers });
    return fetch(input, init);
  };
  return { fetch: f, sent };
}

function client({ links = [], fetch: f = fetch } = {}) {
  const http = new HttpLink({ uri: url, headers: { authorization: `Bearer ${token}` }, fetch: f });
  return new ApolloClient({ link: ApolloLink.from([...links, http]), cache: new InMemoryCache() });
}

test('a query', async () => {
  const c = client();
  const { data, error } = await c.query({ query: gql`query Me { viewer { id email } workspaces { id plan viewerRole } }` });
  assert.equal(error, undefined);
  assert.ok(data.viewer.id);
  assert.ok(data.workspaces.some((w) => w.id === workspaceId && w.plan === 'BUSINESS' && w.viewerRole === 'ADMIN'));
});

test('a paged auditLog', async () => {
  const c = client();
  const Page = gql`
    query Page($w: ID!, $after: String) {
      auditLog(workspaceId: $w, first: 10, after: $after) {
        totalCount
        edges { cursor node { id occurredAt action actor { email } } }
        pageInfo { hasNextPage endCursor }
      }
    }`;
  const first = await c.query({ query: Page, variables: { w: workspaceId } });
  assert.equal(first.error, undefined);
  const p1 = first.data.auditLog;
  assert.equal(p1.edges.length, 10);
  assert.ok(p1.totalCount >= 30, `totalCount ${p1.totalCount}`);
  assert.equal(p1.pageInfo.hasNextPage, true);
  const second = await c.query({ query: Page, variables: { w: workspaceId, after: p1.pageInfo.endCursor } });
  const p2 = second.data.auditLog;
  assert.equal(p2.edges.length, 10);
  const ids1 = new Set(p1.edges.map((e) => e.node.id));
  assert.ok(p2.edges.every((e) => !ids1.has(e.node.id)), 'the second page repeats events of the first');
  // Newest first, across the page boundary.
  assert.ok(p1.edges.at(-1).node.occurredAt >= p2.edges[0].node.occurredAt);
});

test('a mutation with variables', async () => {
  const c = client();
  const { data, error } = await c.mutate({
    mutation: gql`mutation Invite($input: CreateInviteLinkInput!) {
      createInviteLink(input: $input) { token url inviteLink { id kind email role } }
    }`,
    variables: { input: { workspaceId, kind: 'EMAIL', email: 'apollo.invitee@example.com', role: 'MEMBER' } },
  });
  assert.equal(error, undefined);
  assert.equal(data.createInviteLink.inviteLink.kind, 'EMAIL');
  assert.equal(data.createInviteLink.inviteLink.email, 'apollo.invitee@example.com');
  assert.ok(data.createInviteLink.url.includes('/invite/'));
});

test('a validation error reaches the client as a GraphQL error', async () => {
  const c = client();
  const { error } = await c.query({ query: gql`query Bad { viewer { nope } }`, errorPolicy: 'all' });
  assert.ok(error, 'no error');
  assert.ok(CombinedGraphQLErrors.is(error), `a ${error.name} rather than GraphQL errors: ${error.message}`);
  assert.ok(!ServerError.is(error));
  assert.equal(error.errors[0].extensions.code, 'GRAPHQL_VALIDATION_FAILED');
  assert.match(error.errors[0].message, /nope/);
});

test('a field error keeps the data of the other fields', async () => {
  const c = client();
  const { data, error } = await c.query({
    query: gql`query Mixed($w: ID!) { viewer { id } auditLog(workspaceId: $w) { totalCount } }`,
    variables: { w: 'no-such-workspace' },
    errorPolicy: 'all',
  });
  assert.ok(CombinedGraphQLErrors.is(error));
  assert.equal(error.errors[0].extensions.code, 'FORBIDDEN');
  assert.ok(data.viewer.id);
});

const sha256 = (s) => createHash('sha256').update(s).digest('hex');

for (const useGETForHashedQueries of [false, true]) {
  test(`a persisted query (hashes over ${useGETForHashedQueries ? 'GET' : 'POST'})`, async () => {
    const rec = recordingFetch();
    const link = new PersistedQueryLink({ sha256, useGETForHashedQueries });
    const c = client({ links: [link], fetch: rec.fetch });
    // A query text unique to this run, so that the server has not seen it.
    const name = `Persisted${useGETForHashedQueries ? 'Get' : 'Post'}${Date.now()}`;
    const q = gql(`query ${name}($w: ID!) { workspace(id: $w) { id name plan } }`);

    const first = await c.query({ query: q, variables: { w: workspaceId }, fetchPolicy: 'network-only' });
    assert.equal(first.error, undefined);
    assert.equal(first.data.workspace.id, workspaceId);
    // The hash alone, refused as unknown, then the query with its hash.
    assert.equal(rec.sent.length, 2, `requests: ${JSON.stringify(rec.sent.map((s) => s.method))}`);
    const hashOnly = rec.sent[0];
    assert.equal(hashOnly.method, useGETForHashedQueries ? 'GET' : 'POST');
    const sentQuery = hashOnly.body ? hashOnly.body.query : hashOnly.url.searchParams.get('query');
    assert.ok(!sentQuery, 'the first request sent the query text');

    rec.sent.length = 0;
    const again = await c.query({ query: q, variables: { w: workspaceId }, fetchPolicy: 'network-only' });
    assert.equal(again.error, undefined);
    assert.equal(again.data.workspace.id, workspaceId);
    // Now the hash alone is enough.
    assert.equal(rec.sent.length, 1);
    const body = rec.sent[0].body;
    assert.ok(!(body ? body.query : rec.sent[0].url.searchParams.get('query')), 'the query text was sent again');
  });
}
