//go:build !race

package windows_test

const raceEnabled = false
