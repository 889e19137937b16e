// Package insight decides which events deserve an admin's look (docs/API.md
// §14) — someone from outside the company's domains joining, an ADMIN role
// given, a burst of changes, an actor on a new network — and says why in
// plain words.
//
// Flags are decided once, in the event's own transaction, and never change;
// so the decision is a pure function (Decide) of a Context the write path
// fills from what it holds under the workspace lock. Nothing here touches
// the database, which keeps the rules testable to their boundaries and the
// same on SQLite and MySQL.
//
// The package also owns the trusted-domains setting's validation
// (NormalizeTrustedDomains) and the one canonical form domains are compared
// in: the IDNA A-label, lower-cased (see EmailDomain and Trusted).
package insight
