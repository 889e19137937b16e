//go:build race

package main

// raceEnabled is true under the race detector, which makes the tests of this
// package several times slower; they scale their data down.
const raceEnabled = true
