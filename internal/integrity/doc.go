// Package integrity makes a workspace's audit log tamper-evident (docs/API.md
// §9): every event is chained to the one before it by a SHA-256 hash, the
// newest link (the head) is signed with Ed25519, and anyone holding the
// public keys can check a log or an export without trusting the database
// that held it.
//
// What the chain proves. Each event's hash covers its content, its sequence
// number and the hash of the previous event, so an event cannot be edited,
// removed from the middle or re-ordered without the change showing at that
// place: an edit as a hash that no longer recomputes (HASH_MISMATCH), a
// removal as a missing sequence (SEQUENCE_GAP), a re-linked row as a
// prevHash that disagrees with its predecessor (CHAIN_BROKEN). A signed head
// extends that to the end of the log: rows that do not reach the head, or
// reach a different hash, are a HEAD_MISMATCH.
//
// What it cannot prove. Someone who can rewrite the whole database can
// recompute every hash after an edit; only a head signed before the edit and
// kept elsewhere (an export's head, a head fetched by an auditor) exposes
// that. Likewise the newest events can be truncated together with the stored
// head, which only an earlier signed head shows, and deleting the oldest
// events looks like retention. docs/INTEGRITY.md is the full threat model.
//
// The package is pure: it hashes, signs and verifies values handed to it.
// Reading and writing the chain columns under the workspace lock is the
// store's job; this package only fixes what the bytes must be.
package integrity
