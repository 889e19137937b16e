// Package stream holds the parts of log-stream delivery (docs/API.md §11) that
// need no database: checking a receiver's URL, signing a batch, sending it
// over an HTTP client that cannot be turned against our own network, and
// deciding when to retry and what status the admin sees.
//
// A stream URL is chosen by a workspace admin, and auditlogd's servers sit
// inside someone's network, so the client is built against server-side
// request forgery: unless AUDITLOG_STREAM_ALLOW_PRIVATE is set it speaks
// only https, checks every address it connects to (not only the name at
// creation, which DNS can later point elsewhere), follows no redirect,
// bounds the time of each delivery and reads only the start of an answer.
//
// The deliverer that reads events by sequence, holds the lease and stores
// the stream's position and Health lives with the database code; it calls
// Body, Client.Deliver and Health.Record from here.
package stream
