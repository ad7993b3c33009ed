//go:build race

package windows_test

// raceEnabled shortens the property test under the race detector, which
// makes it ten times slower and finds nothing more in single-goroutine code.
const raceEnabled = true
