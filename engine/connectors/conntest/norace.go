//go:build !race

package conntest

// RaceEnabled reports whether the race detector is on. Allocation tests skip
// under it: it makes sync.Pool drop items, so pooled buffers allocate.
const RaceEnabled = false
