// Package replicas holds the test of docs/API.md §12 end to end: three
// `auditlogd serve` processes, the real binary, each on a different node of a
// three-node MariaDB Galera cluster (internal/testenv/galera), under mixed
// concurrent load, with one node killed and restarted mid-load. It also
// holds, with the same process helpers, the test of §11's log streams across
// SIGKILL (streamkill_test.go, on SQLite and MariaDB). It has no code of its
// own outside tests; docs/SCALING.md reports its figures.
package replicas
