//go:build race

package replicas

// raceEnabled is true under the race detector. The replicas are child
// processes built without it, so it would check only the test's own client;
// the test runs in the plain `go test ./...` step instead of twice.
const raceEnabled = true
