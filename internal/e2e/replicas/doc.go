// Package replicas holds the test of docs/API.md §12 end to end: three
// `auditlogd serve` processes, the real binary, each on a different node of a
// three-node MariaDB Galera cluster (internal/testenv/galera), under mixed
// concurrent load, with one node killed and restarted mid-load. It has no
// code of its own outside tests; docs/SCALING.md reports its figures.
package replicas
