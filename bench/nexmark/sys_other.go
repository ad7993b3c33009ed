//go:build !linux

package nexmark

import "time"

// cpuTime, peakRSS and resetPeakRSS are measured on Linux only; elsewhere
// the per-core figures and the peak RSS are reported as unknown.
func cpuTime() time.Duration { return 0 }
func peakRSS() int64         { return -1 }
func resetPeakRSS() bool     { return false }
