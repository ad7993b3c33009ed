package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/cluster"
	"github.com/freshet/freshet/engine/job"
	"github.com/freshet/freshet/engine/params"
	"github.com/freshet/freshet/engine/stream"
	"github.com/freshet/freshet/host"
	"github.com/freshet/freshet/host/wasmop"
)

// Shape of the swap-pause job: a paced source of swapRate records/s over
// swapKeys keys, checkpoints every swapInterval, swapsPerRun swaps each
// preceded by swapSettle of steady running.
const (
	swapRate     = 20_000
	swapKeys     = 64
	swapInterval = 500 * time.Millisecond
	swapWarmup   = 1500 * time.Millisecond
	swapSettle   = 1200 * time.Millisecond
	swapsPerRun  = 4
	// swapNearby is how many periodic checkpoints around a swap's its
	// duration is compared with.
	swapNearby = 4
	// swapBefore is the window, ending at the swap request, whose latency
	// is the "before" figure.
	swapBefore = time.Second
)

// pacedSource emits swapRate records per second on a fixed schedule. Each
// record's value is its scheduled emit time in nanoseconds since base, so
// that a late source (back pressure, a long checkpoint) shows up as
// latency too (no coordinated omission).
type pacedSource struct {
	base  time.Time
	rate  int64
	start time.Duration // schedule origin, since base
	next  int64         // index of the next record
	keys  [][]byte
	buf   []byte
}

func (s *pacedSource) Open(api.Context) error {
	s.start = time.Since(s.base)
	s.keys = make([][]byte, swapKeys)
	for i := range s.keys {
		s.keys[i] = fmt.Appendf(nil, "k%02d", i)
	}
	return nil
}

func (s *pacedSource) due(i int64) time.Duration {
	return s.start + time.Duration(i*int64(time.Second)/s.rate)
}

func (s *pacedSource) Poll(out api.SourceContext) (api.SourceStatus, error) {
	now := time.Since(s.base)
	if wait := s.due(s.next) - now; wait > 0 {
		// Nothing due: sleep until the next record (≤ 1/rate), rather
		// than NothingAvailable's back-off of up to 50 ms.
		time.Sleep(wait)
		return api.MoreAvailable, nil
	}
	for n := out.Budget(); n > 0 && s.due(s.next) <= now; n-- {
		at := s.due(s.next)
		s.buf = strconv.AppendInt(s.buf[:0], int64(at), 10)
		out.CollectWithTimestamp(s.keys[s.next%swapKeys], s.buf, s.base.Add(at).UnixMilli())
		s.next++
	}
	return api.MoreAvailable, nil
}

func (s *pacedSource) Close() error { return nil }

// sample is one record seen by the sink: when its source scheduled it and
// how long it took to arrive, both in nanoseconds.
type sample struct{ emit, latency int64 }

// latencyRecorder collects the sink's samples into preallocated memory (a
// full recorder drops further samples rather than allocate).
type latencyRecorder struct {
	base     time.Time
	mu       sync.Mutex
	samples  []sample
	versions [3]int64 // records seen per scorer version: other, v1, v2
	bad      error
}

func newLatencyRecorder(base time.Time, capacity int) *latencyRecorder {
	return &latencyRecorder{base: base, samples: make([]sample, 0, capacity)}
}

// latencySink parses the scorer's output `<version>,<key>,<count>,<score>`,
// recovers the emit time from the score (doubled from v2 on) and records
// the record's latency.
type latencySink struct {
	api.BaseOperator
	rec *latencyRecorder
}

func (s *latencySink) ProcessBatch(in *api.Batch, out api.Output) error {
	now := int64(time.Since(s.rec.base))
	r := s.rec
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range in.Records {
		v := in.Records[i].Value
		comma := -1
		for j := len(v) - 1; j >= 0; j-- {
			if v[j] == ',' {
				comma = j
				break
			}
		}
		score, err := strconv.ParseInt(string(v[comma+1:]), 10, 64) // no allocation: the conversion does not escape
		if comma < 2 || err != nil {
			if r.bad == nil {
				r.bad = fmt.Errorf("scorer output %q is not <version>,<key>,<count>,<score>", v)
			}
			continue
		}
		version := 0
		switch string(v[:3]) {
		case "v1,":
			version = 1
		case "v2,":
			version = 2
			score /= 2
		}
		r.versions[version]++
		if score > now {
			// The score did not give back the emit time: the scorer's
			// formula is not what its version says.
			if r.bad == nil {
				r.bad = fmt.Errorf("scorer output %q: score %d is later than now (%d)", v, score, now)
			}
			continue
		}
		if len(r.samples) < cap(r.samples) {
			r.samples = append(r.samples, sample{emit: score, latency: now - score})
		}
	}
	return nil
}

// swapRecord is what one swap measured.
type swapRecord struct {
	requested time.Duration // since base
	cp        cluster.CheckpointStats
}

// swapRun is the outcome of one run of the swap-pause job.
type swapRun struct {
	baseline []cluster.CheckpointStats // periodic checkpoints, no swap
	swaps    []swapRecord
	rec      *latencyRecorder
	base     time.Time
}

// scorerModules returns the paths of the v1 and v2 scorer modules of lang,
// skipping (failing under CI) when they are not built.
func scorerModules(b *testing.B, lang string) (v1, v2 string) {
	dir, err := filepath.Abs(filepath.Join("..", "plugins", "build", lang))
	if err != nil {
		b.Fatal(err)
	}
	v1, v2 = filepath.Join(dir, "scorer-v1.wasm"), filepath.Join(dir, "scorer-v2.wasm")
	for _, m := range []string{v1, v2} {
		if _, err := os.Stat(m); err != nil {
			if os.Getenv("CI") != "" {
				b.Fatalf("%s is not built: make -C plugins versions", m)
			}
			b.Skipf("%s is not built (make -C plugins versions)", m)
		}
	}
	return v1, v2
}

// runSwapJob runs source → key-by → wasm scorer (2 subtasks) → latency sink
// with periodic checkpoints, swaps the scorer swapsPerRun times (v1 → v2 →
// v1 ...) and returns the checkpoint statistics and latency samples.
func runSwapJob(b *testing.B, v1, v2 string) swapRun {
	ctx := context.Background()
	rt, err := host.NewRuntime(ctx, host.Config{CompilationCacheDir: "off"})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = rt.Close(ctx) }()
	reg := job.DefaultRegistry()
	wasmop.Register(reg, wasmop.Loader{Runtime: rt})
	scorer, err := reg.Operator(wasmop.TypeName, params.FromMap("scorer", map[string]any{"module": v1, "kind": "process"}))
	if err != nil {
		b.Fatal(err)
	}

	base := time.Now()
	runFor := swapWarmup + swapsPerRun*(swapSettle+2*time.Second) + swapSettle
	rec := newLatencyRecorder(base, int(swapRate*(runFor+10*time.Second)/time.Second))
	env := stream.NewEnvironment(stream.Config{
		Parallelism:   2,
		Registry:      reg,
		Logger:        quiet,
		BufferTimeout: 2 * time.Millisecond,
		Checkpoint:    &cluster.CheckpointConfig{Interval: swapInterval, Dir: b.TempDir()},
		Restart:       cluster.NoRestart{},
	})
	src := env.FromSource("paced", func() (api.Source, error) {
		return &pacedSource{base: base, rate: swapRate}, nil
	}).SetParallelism(1)
	src.KeyBy(nil).TransformOp("scorer", wasmop.TypeName, scorer).
		AddSink("latency", func() (api.Operator, error) { return &latencySink{rec: rec}, nil }).
		SetParallelism(1)
	jc, err := env.ExecuteAsync(ctx, "swap-pause")
	if err != nil {
		b.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			_ = jc.Cancel(ctx)
			_, _ = jc.Wait(ctx)
		}
	}
	defer stop()

	jm := jc.JobManager()
	time.Sleep(swapWarmup)
	var run swapRun
	run.rec, run.base = rec, base
	for i := range swapsPerRun {
		time.Sleep(swapSettle)
		module := v2
		if i%2 == 1 {
			module = v1
		}
		requested := time.Since(base)
		cp, err := swapOnce(ctx, jm, jc.ID, module)
		if err != nil {
			b.Fatalf("swap %d to %s: %v", i+1, filepath.Base(module), err)
		}
		run.swaps = append(run.swaps, swapRecord{requested: requested, cp: cp})
	}
	time.Sleep(swapSettle)
	cps, err := jc.Checkpoints()
	if err != nil {
		b.Fatal(err)
	}
	stop()

	swapIDs := map[int64]bool{}
	for _, s := range run.swaps {
		swapIDs[s.cp.ID] = true
	}
	for _, cp := range cps {
		// Skip the checkpoints of the warm-up (the first instances' first
		// state writes) and any a swap carried.
		if cp.Status == "COMPLETED" && !cp.Savepoint && !swapIDs[cp.ID] && cp.Trigger.Sub(base) >= swapWarmup {
			run.baseline = append(run.baseline, cp)
		}
	}
	if len(run.baseline) < 3 {
		b.Fatalf("only %d periodic checkpoints completed: %+v", len(run.baseline), cps)
	}
	if rec.bad != nil {
		b.Fatal(rec.bad)
	}
	if rec.versions[0] != 0 || rec.versions[1] == 0 || rec.versions[2] == 0 {
		b.Fatalf("records per scorer version (other, v1, v2): %v; want v1 and v2 only", rec.versions)
	}
	return run
}

// swapOnce swaps the scorer to module, waits for the swap to complete and
// returns the statistics of the checkpoint that carried it.
func swapOnce(ctx context.Context, jm *cluster.JobManager, jobID, module string) (cluster.CheckpointStats, error) {
	deadline := time.Now().Add(60 * time.Second)
	swapped := func() (n int, last int64) {
		for _, ev := range jm.Events(jobID) {
			if ev.Type == cluster.EventModuleSwapped {
				n, last = n+1, ev.Checkpoint
			}
		}
		return n, last
	}
	before, _ := swapped()
	var req string
	for {
		var err error
		req, err = jm.SwapModule(ctx, jobID, "scorer", module)
		if err == nil {
			break
		}
		// The previous swap stays on probation until the next checkpoint.
		if !strings.Contains(err.Error(), "in progress") || time.Now().After(deadline) {
			return cluster.CheckpointStats{}, err
		}
		time.Sleep(5 * time.Millisecond)
	}
	for {
		st, failure, err := jm.SwapStatus(jobID, req)
		if err != nil {
			return cluster.CheckpointStats{}, err
		}
		if st == cluster.SwapFailed {
			return cluster.CheckpointStats{}, fmt.Errorf("swap failed: %s", failure)
		}
		if st == cluster.SwapCompleted {
			break
		}
		if time.Now().After(deadline) {
			return cluster.CheckpointStats{}, errors.New("the swap did not complete within a minute")
		}
		time.Sleep(2 * time.Millisecond)
	}
	// The status turns COMPLETED just before the event is emitted.
	n, id := swapped()
	for ; n == before; n, id = swapped() {
		if time.Now().After(deadline) {
			return cluster.CheckpointStats{}, errors.New("no MODULE_SWAPPED event for a completed swap")
		}
		time.Sleep(time.Millisecond)
	}
	cps, err := jm.Checkpoints(jobID)
	if err != nil {
		return cluster.CheckpointStats{}, err
	}
	for _, cp := range cps {
		if cp.ID == id {
			return cp, nil
		}
	}
	return cluster.CheckpointStats{}, fmt.Errorf("no statistics for checkpoint %d that carried the swap", id)
}

// nearbyBaseline is the median of what (a checkpoint's Duration or
// SyncDuration) over the swapNearby periodic checkpoints triggered closest
// to swap: the machine's load drifts during a run, so a swap's checkpoint
// is compared with its neighbours.
func (r *swapRun) nearbyBaseline(swap cluster.CheckpointStats, what func(cluster.CheckpointStats) time.Duration) time.Duration {
	near := slices.Clone(r.baseline)
	dist := func(cp cluster.CheckpointStats) time.Duration { return cp.Trigger.Sub(swap.Trigger).Abs() }
	slices.SortFunc(near, func(a, b cluster.CheckpointStats) int { return int(dist(a) - dist(b)) })
	ds := make([]time.Duration, 0, swapNearby)
	for _, cp := range near[:min(swapNearby, len(near))] {
		ds = append(ds, what(cp))
	}
	return medianDuration(ds)
}

func cpDuration(cp cluster.CheckpointStats) time.Duration { return cp.Duration }
func cpSync(cp cluster.CheckpointStats) time.Duration     { return cp.SyncDuration }

// medianDuration returns the median of ds.
func medianDuration(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// p99 is the 99th percentile latency of the samples emitted in [from, to),
// and the largest one, and how many samples there were.
func (r *swapRun) p99(from, to time.Duration) (p99, maxLat time.Duration, n int) {
	var lat []time.Duration
	for _, s := range r.rec.samples {
		if e := time.Duration(s.emit); e >= from && e < to {
			lat = append(lat, time.Duration(s.latency))
		}
	}
	if len(lat) == 0 {
		return 0, 0, 0
	}
	slices.Sort(lat)
	return lat[len(lat)*99/100], lat[len(lat)-1], len(lat)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkSwapPause measures what a hot swap of a keyed WebAssembly
// process function costs a running job, for the Rust and the Go scorer
// (plugins/rust/scorer, plugins/go/scorer; make -C plugins versions).
// Checkpoints, all medians:
//
//   - base-cp-ms, swap-cp-ms: duration (trigger to completion) of the
//     periodic checkpoints and of the checkpoints that carried a swap;
//   - extra-ms/swap: how much longer the swap's checkpoint took than the
//     swapNearby periodic checkpoints closest to it (median of those);
//   - extra-sync-ms/swap: the same for the synchronous part, the longest
//     time a task stopped processing for the checkpoint (the switch to the
//     new instance and closing the old one happen there);
//   - prepare-ms: from the swap request to the trigger of its checkpoint:
//     loading the new version and starting an instance of it in every
//     subtask (on the task's thread, between batches).
//
// Output latency (sink time − the time the source scheduled the record),
// medians over swaps:
//
//   - p99-before-ms, max-before-ms: p99 and largest latency of the records
//     emitted in the second before the swap request (periodic checkpoints
//     included);
//   - p99-swap-ms: p99 of the records emitted from the request until the
//     swap's checkpoint completed;
//   - max-prep-ms, max-cp-ms: the largest latency of the records emitted
//     while the new version was prepared, and while the swap's checkpoint
//     ran: the gap in output each phase causes.
//
// Each run swaps swapsPerRun times (v1 → v2, then back and forth). The
// job: a source paced at swapRate records/s → key-by (swapKeys keys) → the
// scorer in 2 subtasks → a sink recording each record's latency;
// checkpoints every swapInterval. Run with -benchtime 1x (one run per
// language takes about 8 s).
func BenchmarkSwapPause(b *testing.B) {
	for _, lang := range []string{"rust", "go"} {
		b.Run(lang, func(b *testing.B) {
			v1, v2 := scorerModules(b, lang)
			var base, swapCP, extra, baseSync, extraSync, prepare, p99Before, maxBefore, p99Swap, maxPrep, maxCP []time.Duration
			for range b.N {
				run := runSwapJob(b, v1, v2)
				for _, cp := range run.baseline {
					base = append(base, cp.Duration)
					baseSync = append(baseSync, cp.SyncDuration)
				}
				for _, s := range run.swaps {
					swapCP = append(swapCP, s.cp.Duration)
					extra = append(extra, s.cp.Duration-run.nearbyBaseline(s.cp, cpDuration))
					extraSync = append(extraSync, s.cp.SyncDuration-run.nearbyBaseline(s.cp, cpSync))
					trigger := s.cp.Trigger.Sub(run.base)
					prepare = append(prepare, trigger-s.requested)
					before, beforeGap, nb := run.p99(s.requested-swapBefore, s.requested)
					during, _, nd := run.p99(s.requested, trigger+s.cp.Duration)
					if nb == 0 || nd == 0 {
						b.Fatalf("no records around swap at %v (before %d, during %d)", s.requested, nb, nd)
					}
					_, prepGap, _ := run.p99(s.requested, trigger)
					_, cpGap, _ := run.p99(trigger, trigger+s.cp.Duration)
					p99Before = append(p99Before, before)
					maxBefore = append(maxBefore, beforeGap)
					p99Swap = append(p99Swap, during)
					maxPrep = append(maxPrep, prepGap)
					maxCP = append(maxCP, cpGap)
				}
			}
			b.ReportMetric(ms(medianDuration(base)), "base-cp-ms")
			b.ReportMetric(ms(medianDuration(swapCP)), "swap-cp-ms")
			b.ReportMetric(ms(medianDuration(extra)), "extra-ms/swap")
			b.ReportMetric(ms(medianDuration(baseSync)), "base-sync-ms")
			b.ReportMetric(ms(medianDuration(extraSync)), "extra-sync-ms/swap")
			b.ReportMetric(ms(medianDuration(prepare)), "prepare-ms")
			b.ReportMetric(ms(medianDuration(p99Before)), "p99-before-ms")
			b.ReportMetric(ms(medianDuration(maxBefore)), "max-before-ms")
			b.ReportMetric(ms(medianDuration(p99Swap)), "p99-swap-ms")
			b.ReportMetric(ms(medianDuration(maxPrep)), "max-prep-ms")
			b.ReportMetric(ms(medianDuration(maxCP)), "max-cp-ms")
			b.ReportMetric(0, "ns/op") // the wall time of a run says nothing
		})
	}
}

// TestLatencySinkAllocatesNothing checks the sink's per-record path, so
// that the benchmark's own bookkeeping does not disturb what it measures.
func TestLatencySinkAllocatesNothing(t *testing.T) {
	base := time.Now().Add(-time.Second)
	rec := newLatencyRecorder(base, 1<<16)
	sink := &latencySink{rec: rec}
	var in api.Batch
	for i := range 64 {
		in.Append([]byte("k01"), fmt.Appendf(nil, "v%d,k01,%d,%d", 1+i%2, i, (1+i%2)*int(500*time.Millisecond)), 0)
	}
	if n := testing.AllocsPerRun(100, func() { _ = sink.ProcessBatch(&in, nil) }); n != 0 {
		t.Fatalf("%v allocations per batch, want 0", n)
	}
	if rec.bad != nil {
		t.Fatal(rec.bad)
	}
	if got := rec.samples[0].emit; got != int64(500*time.Millisecond) {
		t.Fatalf("emit time %d, want %d", got, int64(500*time.Millisecond))
	}
	if rec.versions[1] == 0 || rec.versions[2] == 0 {
		t.Fatalf("versions %v: both v1 and v2 records were sent", rec.versions)
	}
}
