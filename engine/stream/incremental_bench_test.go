package stream_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/cluster"
	"github.com/freshet/freshet/engine/state"
	"github.com/freshet/freshet/engine/state/rocksdb"
	"github.com/freshet/freshet/engine/stream"
)

// BenchmarkRocksDBCheckpoint runs a job that writes FRESHET_BENCH_BYTES of
// RocksDB keyed state (default 16 MiB; 1 KB values, one subtask), with a
// checkpoint every FRESHET_BENCH_INTERVAL (default 2s), then rewrites 1% of
// the keys twice: at once, and again once compactions have settled (a
// checkpoint wrote almost nothing). It reports, in the same run:
//
//   - sync-ms: the synchronous pause of the first checkpoint after all keys
//     were written (measured in the task: snapshot start to barrier sent),
//     sync-max-ms the longest of every native checkpoint of the run, and
//     canonical-sync-ms the pause of a savepoint of the same state (the
//     canonical full snapshot every checkpoint was before);
//   - incr-%: bytes the checkpoint after the settled 1% change wrote, as a
//     share of the state's size (state-MiB), and incr-after-load-% the same
//     for the change right after the load, while compactions still run;
//   - recovery-s: submit to the keyed operator opened, restoring from the
//     last checkpoint (verification included), and canonical-recovery-s
//     the same from the savepoint;
//   - rss-MiB: peak resident memory while the job ran, non-go-MiB the part
//     outside the Go runtime (RocksDB), budget-MiB the configured block
//     cache plus write buffers.
//
// FRESHET_BENCH_WRITE_BUFFER sets rocksdb.Config.WriteBufferSize (default
// 64 MiB), which bounds what the synchronous part flushes.
//
//	FRESHET_BENCH_BYTES=1073741824 go test -run '^$' -bench RocksDBCheckpoint -benchtime 1x -timeout 30m ./engine/stream/
func BenchmarkRocksDBCheckpoint(b *testing.B) {
	size := envInt(b, "FRESHET_BENCH_BYTES", 16<<20)
	interval := 2 * time.Second
	if v := os.Getenv("FRESHET_BENCH_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("FRESHET_BENCH_INTERVAL: %v", err)
		}
		interval = d
	}
	const valueBytes = 1000
	keys := int(size / (valueBytes + 24)) // value, expiry, key and address
	for i := 0; i < b.N; i++ {
		runCheckpointBench(b, keys, valueBytes, interval, envInt(b, "FRESHET_BENCH_WRITE_BUFFER", rocksdb.Defaults().WriteBufferSize))
	}
}

func envInt(b *testing.B, name string, def int64) int64 {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	return n
}

func runCheckpointBench(b *testing.B, keys, valueBytes int, interval time.Duration, writeBuffer int64) {
	ctx := context.Background()
	cfg := rocksdb.Defaults()
	cfg.WriteBufferSize = writeBuffer
	res, err := rocksdb.NewSharedResources(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer res.Close()
	rocks := func(o state.Options) (state.Backend, error) { return rocksdb.New(o, res) }
	dir := b.TempDir()
	cps := filepath.Join(dir, "checkpoints")

	// Write everything, then 1% of the keys; hold until the savepoint.
	w := newWorkload(keys, valueBytes, 0.01, 0.01)
	w.hold = true
	w.gate = make([]chan struct{}, len(w.phases))
	w.gate[2] = make(chan struct{})
	env := stream.NewEnvironment(stream.Config{
		Parallelism: 1,
		State:       rocks,
		Dir:         filepath.Join(dir, "work"),
		Checkpoint:  &cluster.CheckpointConfig{Interval: interval, Dir: cps, Timeout: 30 * time.Minute},
	})
	var sink collector
	w.build(env, &sink)
	mem := startMemSampler()
	start := time.Now()
	jc, err := env.ExecuteAsync(ctx, "checkpoint-bench")
	if err != nil {
		b.Fatal(err)
	}
	// waitFor polls the checkpoint statistics until done says so.
	waitFor := func(what string, done func([]cluster.CheckpointStats) bool) {
		for deadline := time.Now().Add(time.Hour); ; {
			cps, _ := jc.Checkpoints()
			if done(cps) {
				return
			}
			if st, _ := jc.Status(); st.State != cluster.JobRunning || time.Now().After(deadline) {
				b.Fatalf("job %s while waiting for %s", st.State, what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	completed := func(phase int) func([]cluster.CheckpointStats) bool {
		return func(cps []cluster.CheckpointStats) bool {
			id := w.after[phase].Load()
			return id != 0 && slices.ContainsFunc(cps, func(c cluster.CheckpointStats) bool { return c.ID == id && c.Status != "IN_PROGRESS" })
		}
	}
	waitFor("the change after the load", completed(1))
	// Settled: a checkpoint wrote almost nothing after the change, and
	// RocksDB has no compaction pending (a compaction still to run would
	// rewrite files the next checkpoint then uploads).
	waitFor("compactions to settle", func(cps []cluster.CheckpointStats) bool {
		quiet := slices.ContainsFunc(cps, func(c cluster.CheckpointStats) bool {
			return c.ID > w.after[1].Load() && c.Status == "COMPLETED" && c.CheckpointedSize*1000 < c.Size*3
		})
		return quiet && pendingCompaction(jc) == 0
	})
	close(w.gate[2])
	last := len(w.phases) - 1
	waitFor("the settled change", completed(last))
	filled := time.Since(start)
	rss, nonGo := mem.stop()
	stats, _ := jc.Checkpoints()
	full, loadInc, inc := statsOf(b, stats, w.after[0].Load()), statsOf(b, stats, w.after[1].Load()), statsOf(b, stats, w.after[last].Load())
	var syncs []time.Duration
	for _, c := range stats {
		if c.Status == "COMPLETED" && !c.Savepoint {
			syncs = append(syncs, c.SyncDuration)
		}
	}
	slices.Sort(syncs)

	// Baseline: the canonical full snapshot of the same state.
	sp := filepath.Join(dir, "savepoint")
	spStart := time.Now()
	if _, err := jc.TriggerSavepoint(ctx, sp, true); err != nil {
		b.Fatal(err)
	}
	spTook := time.Since(spStart)
	stats, _ = jc.Checkpoints()
	canonical := stats[slices.IndexFunc(stats, func(c cluster.CheckpointStats) bool { return c.Savepoint && c.Path == sp })]
	if _, err := jc.Wait(ctx); err != nil {
		b.Fatal(err)
	}

	recover := func(from string) time.Duration {
		p := newWorkload(keys, valueBytes)
		p.probe, p.probeStride = true, max(1, keys/2000)
		env := stream.NewEnvironment(stream.Config{Parallelism: 1, State: rocks, Dir: filepath.Join(dir, "work"), RestoreFrom: from})
		var c collector
		p.build(env, &c)
		start := time.Now()
		if _, err := env.Execute(ctx, "recover"); err != nil {
			b.Fatal(err)
		}
		took := time.Unix(0, p.restored.Load()).Sub(start)
		want := map[string]bool{}
		for _, v := range w.versions() {
			want[v] = true
		}
		got := c.sorted()
		for _, v := range got {
			if !want[v] {
				b.Fatalf("restored from %s, a probe returned %q", from, v)
			}
		}
		if len(got) != (keys+p.probeStride-1)/p.probeStride {
			b.Fatalf("restored from %s: %d probes answered", from, len(got))
		}
		return took
	}
	recNative := recover(cps)
	recCanonical := recover(sp)

	mib := func(n int64) float64 { return float64(n) / (1 << 20) }
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	b.ReportMetric(mib(full.Size), "state-MiB")
	b.ReportMetric(ms(full.SyncDuration), "sync-ms")
	b.ReportMetric(ms(syncs[len(syncs)-1]), "sync-max-ms")
	b.ReportMetric(ms(canonical.SyncDuration), "canonical-sync-ms")
	b.ReportMetric(100*float64(inc.CheckpointedSize)/float64(inc.Size), "incr-%")
	b.ReportMetric(100*float64(loadInc.CheckpointedSize)/float64(loadInc.Size), "incr-after-load-%")
	b.ReportMetric(recNative.Seconds(), "recovery-s")
	b.ReportMetric(recCanonical.Seconds(), "canonical-recovery-s")
	b.ReportMetric(mib(rss), "rss-MiB")
	b.ReportMetric(mib(nonGo), "non-go-MiB")
	b.ReportMetric(mib(cfg.BlockCacheSize+cfg.WriteBufferSize), "budget-MiB")
	b.Logf("%d keys written in %s; %d native checkpoints, sync median %s max %s; checkpoint %d after the fill: %.1f MiB state, wrote %.1f MiB, sync %s, took %s; "+
		"1%% right after: wrote %.2f MiB of %.1f MiB; 1%% settled: wrote %.2f MiB of %.1f MiB, sync %s; savepoint (canonical): %.1f MiB, sync %s, took %s; recovery %s (canonical %s)",
		keys, filled.Round(time.Millisecond), len(syncs), syncs[len(syncs)/2], syncs[len(syncs)-1],
		full.ID, mib(full.Size), mib(full.CheckpointedSize), full.SyncDuration, full.Duration,
		mib(loadInc.CheckpointedSize), mib(loadInc.Size), mib(inc.CheckpointedSize), mib(inc.Size), inc.SyncDuration,
		mib(canonical.Size), canonical.SyncDuration, spTook.Round(time.Millisecond), recNative.Round(time.Millisecond), recCanonical.Round(time.Millisecond))
}

// memSampler records the peak resident set of the process, and the peak of
// the part the Go runtime does not account for (RocksDB's C++ heap).
type memSampler struct {
	done       chan struct{}
	wg         sync.WaitGroup
	rss, nonGo int64
}

func startMemSampler() *memSampler {
	m := &memSampler{done: make(chan struct{})}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		samples := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			rss := residentBytes()
			metrics.Read(samples)
			goRes := int64(samples[0].Value.Uint64() - samples[1].Value.Uint64())
			m.rss, m.nonGo = max(m.rss, rss), max(m.nonGo, rss-goRes)
			select {
			case <-m.done:
				return
			case <-t.C:
			}
		}
	}()
	return m
}

func (m *memSampler) stop() (rss, nonGo int64) {
	close(m.done)
	m.wg.Wait()
	return m.rss, m.nonGo
}

// residentBytes is VmRSS from /proc/self/status (0 where there is none).
func residentBytes() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), &kb)
			return kb << 10
		}
	}
	return 0
}

// pendingCompaction is the RocksDB backends' estimate of the bytes
// compaction has yet to rewrite, from the job status (-1 when unknown).
func pendingCompaction(jc *stream.JobClient) float64 {
	st, err := jc.Status()
	if err != nil {
		return -1
	}
	total, seen := 0.0, false
	for _, v := range st.Vertices {
		for _, op := range v.Operators {
			if n, ok := op.State["pending_compaction_bytes"]; ok {
				total, seen = total+n, true
			}
		}
	}
	if !seen {
		return -1
	}
	return total
}
