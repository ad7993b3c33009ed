// Package benchcmp measures a state backend against a baseline (a plain Go
// map, a raw RocksDB loop) in the same benchmark run, so that the reported
// ratio holds even on a machine shared with other work.
//
// Both loops run b.N operations, interleaved in chunks so that load from
// elsewhere falls on both alike. Besides wall time, each side's CPU time on
// the benchmark's own OS thread is measured: it excludes time the thread was
// descheduled and work done on other threads (garbage collection workers,
// RocksDB flushes and compactions).
package benchcmp

import (
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Loop runs operations [from, to).
type Loop func(from, to int)

const chunk = 2048

// Compare runs ours and baseline for b.N operations each. ns/op and
// allocs/op are ours; it adds cpu-ns/op, baseline-ns/op,
// baseline-cpu-ns/op, baseline-allocs/op, x-baseline (wall-time ratio) and
// x-baseline-cpu (CPU-time ratio).
func Compare(b *testing.B, ours, baseline Loop) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	var oursCPU, baseCPU, baseWall time.Duration
	var baseMallocs uint64
	var ms runtime.MemStats
	b.ResetTimer()
	b.StopTimer()
	for from := 0; from < b.N; from += chunk {
		to := min(from+chunk, b.N)

		b.StartTimer()
		c0 := threadCPU()
		ours(from, to)
		oursCPU += threadCPU() - c0
		b.StopTimer()

		runtime.ReadMemStats(&ms)
		m0 := ms.Mallocs
		c0, w0 := threadCPU(), time.Now()
		baseline(from, to)
		baseWall += time.Since(w0)
		baseCPU += threadCPU() - c0
		runtime.ReadMemStats(&ms)
		baseMallocs += ms.Mallocs - m0
	}
	n := float64(b.N)
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / n }
	b.ReportMetric(per(oursCPU), "cpu-ns/op")
	b.ReportMetric(per(baseWall), "baseline-ns/op")
	b.ReportMetric(per(baseCPU), "baseline-cpu-ns/op")
	b.ReportMetric(float64(baseMallocs)/n, "baseline-allocs/op")
	if baseWall > 0 {
		b.ReportMetric(float64(b.Elapsed())/float64(baseWall), "x-baseline")
	}
	if baseCPU > 0 {
		b.ReportMetric(float64(oursCPU)/float64(baseCPU), "x-baseline-cpu")
	}
}

func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// Keys is the number of distinct keys a benchmark uses: FRESHET_BENCH_KEYS
// when set, otherwise def.
func Keys(b *testing.B, def int) int {
	s := os.Getenv("FRESHET_BENCH_KEYS")
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		b.Fatalf("FRESHET_BENCH_KEYS=%q is not a positive integer", s)
	}
	return n
}
