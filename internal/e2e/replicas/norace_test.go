//go:build !race

package replicas

// raceEnabled is true under the race detector; see race_test.go.
const raceEnabled = false
