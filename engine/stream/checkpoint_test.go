package stream_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/checkpoint"
	"github.com/freshet/freshet/engine/cluster"
	"github.com/freshet/freshet/engine/state"
	"github.com/freshet/freshet/engine/state/heap"
	"github.com/freshet/freshet/engine/state/rocksdb"
	"github.com/freshet/freshet/engine/stream"
)

// cpNumbers emits "0".."n-1" (shared over subtasks by index) with its
// position in checkpoints, so a restored source resumes where it was.
// pace slows it down so checkpoints happen while it runs.
type cpNumbers struct {
	n, next, step int
	pace          time.Duration
	restored      bool
	buf           []byte
}

func (s *cpNumbers) Open(ctx api.Context) error {
	if !s.restored {
		s.next = ctx.Subtask()
	}
	s.step = ctx.Parallelism()
	return nil
}

func (s *cpNumbers) Poll(out api.SourceContext) (api.SourceStatus, error) {
	for i := 0; i < 100; i++ {
		if s.next >= s.n {
			return api.EndOfInput, nil
		}
		s.buf = strconv.AppendInt(s.buf[:0], int64(s.next), 10)
		out.CollectWithTimestamp(nil, s.buf, int64(s.next))
		s.next += s.step
	}
	if s.pace > 0 {
		time.Sleep(s.pace)
	}
	return api.MoreAvailable, nil
}

func (s *cpNumbers) Close() error { return nil }

func (s *cpNumbers) SnapshotState(id int64) ([][]byte, error) {
	return [][]byte{binary.AppendVarint(nil, int64(s.next))}, nil
}

func (s *cpNumbers) RestoreState(entries [][]byte) error {
	if len(entries) != 1 {
		return fmt.Errorf("want 1 position, got %d (this test source cannot rescale)", len(entries))
	}
	v, _ := binary.Varint(entries[0])
	s.next, s.restored = int(v), true
	return nil
}

func (s *cpNumbers) StateDistribution() api.Distribution { return api.SplitDistribution }

var countDesc = api.StateDescriptor{Name: "count", Kind: api.ValueStateKind}

// countPerKey keys numbers by n%keys, counts per key in keyed state, and
// emits "key=count" for every key when its input ends.
func countPerKey(env *stream.Environment, src *stream.DataStream, keys int, c *collector, failAt int) {
	src.Map("maybe-fail", func(r *api.Record) error {
		if failAt >= 0 && string(r.Value) == strconv.Itoa(failAt) {
			return errInjected
		}
		return nil
	}).
		KeyBy(func(r *api.Record, dst []byte) ([]byte, error) {
			n, err := strconv.Atoi(string(r.Value))
			return strconv.AppendInt(dst, int64(n%keys), 10), err
		}).
		Process("count", stream.ProcessFunction{
			Process: func(ctx api.Context, r *api.Record, out api.Output) error {
				st, err := ctx.KeyedState().Value(countDesc)
				if err != nil {
					return err
				}
				v, _, err := st.Get()
				if err != nil {
					return err
				}
				n, _ := strconv.Atoi(string(v))
				if err := st.Put(strconv.AppendInt(nil, int64(n+1), 10)); err != nil {
					return err
				}
				// Register one event-time timer per key at the end of time,
				// to check timers survive restores.
				return ctx.Timers().RegisterEventTimeTimer(1 << 60)
			},
			OnTimer: func(ctx api.Context, tm api.Timer, out api.Output) error {
				st, err := ctx.KeyedState().Value(countDesc)
				if err != nil {
					return err
				}
				v, _, err := st.Get()
				if err != nil {
					return err
				}
				out.Emit(&api.Record{Key: tm.Key, Value: v, Timestamp: tm.Timestamp})
				return nil
			},
		}).
		AddSink("collect", c.sink())
}

var errInjected = errors.New("injected failure")

func wantCounts(n, keys int) []string {
	var out []string
	for k := 0; k < keys; k++ {
		cnt := n / keys
		if k < n%keys {
			cnt++
		}
		out = append(out, fmt.Sprintf("%d=%d", k, cnt))
	}
	sortStrings(out)
	return out
}

func TestFailoverRestoresFromCheckpointExactlyOnce(t *testing.T) {
	const n, keys = 60000, 7
	dir := t.TempDir()
	env := stream.NewEnvironment(stream.Config{
		Parallelism: 2,
		Checkpoint:  &cluster.CheckpointConfig{Interval: 30 * time.Millisecond, Dir: dir},
		Restart:     &cluster.FixedDelay{Attempts: 3, Delay: 10 * time.Millisecond},
	})
	var c collector
	src := env.FromSource("numbers", func() (api.Source, error) { return &cpNumbers{n: n, pace: time.Millisecond}, nil })
	var failed atomic.Bool
	src = src.Map("fail-once", func(r *api.Record) error {
		if string(r.Value) == "40000" && failed.CompareAndSwap(false, true) {
			return errInjected
		}
		return nil
	})
	countPerKey(env, src, keys, &c, -1)
	jc, err := env.ExecuteAsync(context.Background(), "failover")
	if err != nil {
		t.Fatal(err)
	}
	jm := jc.JobManager()
	if _, err := jc.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !failed.Load() {
		t.Fatal("the failure was never injected")
	}
	restored := false
	for _, ev := range jm.Events(jc.ID) {
		if ev.Type == cluster.EventJobStateChanged && strings.Contains(ev.Message, "chk-") {
			restored = true
		}
	}
	if !restored {
		t.Fatalf("the job did not restart from a checkpoint: %+v", jm.Events(jc.ID))
	}
	equal(t, c.sorted(), wantCounts(n, keys))
}

func TestSavepointStopAndRescale(t *testing.T) {
	const n, keys = 40000, 11
	dir := t.TempDir()
	sp := filepath.Join(dir, "savepoint")
	// Run at parallelism 2 until a savepoint with stop.
	env := stream.NewEnvironment(stream.Config{Parallelism: 2})
	var first collector
	src := env.FromSource("numbers", func() (api.Source, error) { return &cpNumbers{n: n, pace: 2 * time.Millisecond}, nil }).SetParallelism(1)
	countPerKey(env, src, keys, &first, -1)
	c, err := env.ExecuteAsync(context.Background(), "first")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	path, err := c.TriggerSavepoint(context.Background(), sp, true)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := c.Wait(context.Background()); err != nil || res.State != cluster.JobFinished {
		t.Fatalf("job after stop-with-savepoint: %v %v", res.State, err)
	}
	if _, err := os.Stat(filepath.Join(path, "_metadata")); err != nil {
		t.Fatal(err)
	}
	// Restore at parallelism 3 and run to the end.
	for _, p := range []int{3, 1} {
		env2 := stream.NewEnvironment(stream.Config{Parallelism: p, RestoreFrom: path})
		var second collector
		src2 := env2.FromSource("numbers", func() (api.Source, error) { return &cpNumbers{n: n}, nil }).SetParallelism(1)
		countPerKey(env2, src2, keys, &second, -1)
		if _, err := env2.Execute(context.Background(), "second"); err != nil {
			t.Fatal(err)
		}
		equal(t, second.sorted(), wantCounts(n, keys))
	}
}

// countingSavepoint runs numbers → count per key (3 keys) for a moment and
// stops it with a savepoint in dir, whose path it returns.
func countingSavepoint(t *testing.T, dir string) string {
	t.Helper()
	sp := filepath.Join(dir, "sp")
	env := stream.NewEnvironment(stream.Config{Parallelism: 1})
	var c collector
	src := env.FromSource("numbers", func() (api.Source, error) { return &cpNumbers{n: 1 << 30, pace: time.Millisecond}, nil })
	countPerKey(env, src, 3, &c, -1)
	jc, err := env.ExecuteAsync(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if _, err := jc.TriggerSavepoint(context.Background(), sp, true); err != nil {
		t.Fatal(err)
	}
	_, _ = jc.Wait(context.Background())
	return sp
}

func TestRestoreRefusesUnknownOperatorState(t *testing.T) {
	dir := t.TempDir()
	sp := countingSavepoint(t, dir)

	env2 := stream.NewEnvironment(stream.Config{Parallelism: 1, RestoreFrom: sp})
	var c2 collector
	env2.FromSource("numbers", func() (api.Source, error) { return &cpNumbers{n: 10}, nil }).
		KeyBy(nil).
		Process("renamed-count", stream.ProcessFunction{Process: func(ctx api.Context, r *api.Record, out api.Output) error { return nil }}).
		AddSink("collect", c2.sink())
	_, err := env2.Execute(context.Background(), "b")
	if err == nil || !strings.Contains(err.Error(), `"count"`) {
		t.Fatalf("want a refusal naming operator \"count\", got %v", err)
	}
}

func TestCorruptCheckpointFallsBackToPrevious(t *testing.T) {
	dir := t.TempDir()
	env := stream.NewEnvironment(stream.Config{
		Parallelism: 1,
		Checkpoint:  &cluster.CheckpointConfig{Interval: 20 * time.Millisecond, Dir: dir, Retain: 5},
	})
	var c collector
	src := env.FromSource("numbers", func() (api.Source, error) { return &cpNumbers{n: 1 << 30, pace: time.Millisecond}, nil })
	countPerKey(env, src, 3, &c, -1)
	jc, err := env.ExecuteAsync(context.Background(), "corrupt")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		cps, _ := jc.Checkpoints()
		done := 0
		for _, cp := range cps {
			if cp.Status == "COMPLETED" {
				done++
			}
		}
		if done >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("fewer than 3 checkpoints completed: %+v", cps)
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = jc.Cancel(context.Background())
	_, _ = jc.Wait(context.Background())
	// Damage the newest complete checkpoint's state file.
	cps, _ := filepath.Glob(filepath.Join(dir, "chk-*", "_metadata"))
	sortStrings(cps)
	newest := cps[len(cps)-1]
	for _, m := range cps {
		if len(m) > len(newest) || len(m) == len(newest) && m > newest {
			newest = m
		}
	}
	files, _ := filepath.Glob(filepath.Join(filepath.Dir(newest), "*.state"))
	if len(files) == 0 {
		t.Fatal("no state files")
	}
	if err := os.WriteFile(files[0], []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	env2 := stream.NewEnvironment(stream.Config{Parallelism: 1, RestoreFrom: dir})
	var c2 collector
	src2 := env2.FromSource("numbers", func() (api.Source, error) { return &cpNumbers{n: 10}, nil })
	countPerKey(env2, src2, 3, &c2, -1)
	jc2, err := env2.ExecuteAsync(context.Background(), "after")
	if err != nil {
		t.Fatalf("restoring with the newest checkpoint damaged: %v", err)
	}
	_ = jc2.Cancel(context.Background())
	_, _ = jc2.Wait(context.Background())
	// The newest is skipped: the previous complete one is used.
	got, err := checkpoint.Find(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Dir == filepath.Dir(newest) {
		t.Fatalf("the damaged checkpoint %s was chosen", got.Dir)
	}
}

func TestSavepointMovesBetweenHeapAndRocksDB(t *testing.T) {
	const n, keys = 20000, 13
	dir := t.TempDir()
	res, err := rocksdb.NewSharedResources(rocksdb.Defaults())
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	backends := map[string]func(state.Options) (state.Backend, error){
		"heap":    heap.New,
		"rocksdb": func(o state.Options) (state.Backend, error) { return rocksdb.New(o, res) },
	}
	// heap → rocksdb → heap, a stop-with-savepoint at each step; the last
	// run goes to the end and must count every record once.
	order := []string{"heap", "rocksdb", "heap"}
	restore := ""
	for i, b := range order {
		env := stream.NewEnvironment(stream.Config{Parallelism: 2, State: backends[b], RestoreFrom: restore})
		var c collector
		pace := 2 * time.Millisecond
		if i == len(order)-1 {
			pace = 0
		}
		src := env.FromSource("numbers", func() (api.Source, error) { return &cpNumbers{n: n, pace: pace}, nil }).SetParallelism(1)
		countPerKey(env, src, keys, &c, -1)
		jc, err := env.ExecuteAsync(context.Background(), "move-"+b)
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if i < len(order)-1 {
			time.Sleep(60 * time.Millisecond)
			restore = filepath.Join(dir, fmt.Sprintf("sp-%d", i))
			if _, err := jc.TriggerSavepoint(context.Background(), restore, true); err != nil {
				t.Fatalf("%s: savepoint: %v", b, err)
			}
		}
		if _, err := jc.Wait(context.Background()); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if i == len(order)-1 {
			equal(t, c.sorted(), wantCounts(n, keys))
		}
	}
}

func TestUnavailableCheckpointStorageFailsCheckpointsNotTheJob(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cps")
	env := stream.NewEnvironment(stream.Config{
		Parallelism: 1,
		Checkpoint:  &cluster.CheckpointConfig{Interval: 20 * time.Millisecond, Dir: dir},
	})
	var c collector
	src := env.FromSource("numbers", func() (api.Source, error) { return &cpNumbers{n: 1 << 30, pace: time.Millisecond}, nil })
	countPerKey(env, src, 3, &c, -1)
	jc, err := env.ExecuteAsync(context.Background(), "storage")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = jc.Cancel(context.Background()); _, _ = jc.Wait(context.Background()) }()
	waitFor := func(what string, ok func([]cluster.CheckpointStats) bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			cps, _ := jc.Checkpoints()
			if ok(cps) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s: %+v", what, cps)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	count := func(cps []cluster.CheckpointStats, status string) int {
		n := 0
		for _, cp := range cps {
			if cp.Status == status {
				n++
			}
		}
		return n
	}
	waitFor("a completed checkpoint", func(cps []cluster.CheckpointStats) bool { return count(cps, "COMPLETED") >= 1 })
	// The storage goes away: a file where the directory was. (Renamed, not
	// removed: checkpoint files may be being written into it right now.)
	if err := os.Rename(dir, dir+".gone"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor("failed checkpoints", func(cps []cluster.CheckpointStats) bool { return count(cps, "FAILED") >= 2 })
	st, _ := jc.Status()
	if st.State != cluster.JobRunning {
		t.Fatalf("job is %s, want RUNNING while checkpoints fail", st.State)
	}
	cps, _ := jc.Checkpoints()
	for _, cp := range cps {
		if cp.Status == "FAILED" && !strings.Contains(cp.Error, dir) {
			t.Errorf("failure does not name the checkpoint path: %q", cp.Error)
		}
	}
	// The storage comes back: checkpoints complete again.
	done := count(cps, "COMPLETED")
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	waitFor("checkpoints after recovery", func(cps []cluster.CheckpointStats) bool { return count(cps, "COMPLETED") > done })
}

func TestRocksDBStatisticsInJobStatus(t *testing.T) {
	res, err := rocksdb.NewSharedResources(rocksdb.Defaults())
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	env := stream.NewEnvironment(stream.Config{Parallelism: 1, State: func(o state.Options) (state.Backend, error) { return rocksdb.New(o, res) }})
	var c collector
	src := env.FromSource("numbers", func() (api.Source, error) { return &cpNumbers{n: 1 << 30, pace: time.Millisecond}, nil })
	countPerKey(env, src, 50, &c, -1)
	jc, err := env.ExecuteAsync(context.Background(), "rocks-stats")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = jc.Cancel(context.Background()); _, _ = jc.Wait(context.Background()) }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		st, _ := jc.Status()
		for _, v := range st.Vertices {
			for _, op := range v.Operators {
				// 50 keys stay in the write-back state cache: its hits
				// show the statistics flowing.
				if op.Name == "count" && op.State["state_cache_hits_total"] > 0 {
					if _, ok := op.State["memtable_bytes"]; !ok {
						t.Fatalf("no memtable size in %v", op.State)
					}
					return
				}
			}
		}
	}
	t.Fatal("no RocksDB statistics in the job status")
}

// TestFinishedSourceIsNotReplayedAfterRestore: a bounded source ends early;
// a later failure restores the job from a checkpoint taken after that. The
// finished source must not read its input again (its records are already in
// the restored state), or counts double.
func TestFinishedSourceIsNotReplayedAfterRestore(t *testing.T) {
	const short, long, keys = 2000, 30000, 7
	env := stream.NewEnvironment(stream.Config{
		Parallelism: 1,
		Checkpoint:  &cluster.CheckpointConfig{Interval: 20 * time.Millisecond, Dir: t.TempDir()},
		Restart:     &cluster.FixedDelay{Attempts: 2, Delay: 10 * time.Millisecond},
	})
	var c collector
	var failed atomic.Bool
	a := env.FromSource("short", func() (api.Source, error) { return &cpNumbers{n: short}, nil })
	b := env.FromSource("long", func() (api.Source, error) { return &cpNumbers{n: long, pace: time.Millisecond}, nil }).
		Map("fail-once", func(r *api.Record) error {
			if string(r.Value) == "20000" && failed.CompareAndSwap(false, true) {
				return errInjected
			}
			return nil
		})
	countPerKey(env, a.Union(b), keys, &c, -1)
	if _, err := env.Execute(context.Background(), "finished-source"); err != nil {
		t.Fatal(err)
	}
	if !failed.Load() {
		t.Fatal("no failure injected")
	}
	counts := make([]int, keys)
	for i := 0; i < short; i++ {
		counts[i%keys]++
	}
	for i := 0; i < long; i++ {
		counts[i%keys]++
	}
	var want []string
	for k, n := range counts {
		want = append(want, fmt.Sprintf("%d=%d", k, n))
	}
	sortStrings(want)
	equal(t, c.sorted(), want)
}

// syncBuffer is an io.Writer safe for the task goroutines' loggers.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A job restored from a savepoint whose operator no longer declares one of
// its states (the descriptor was renamed) says so, naming operator and
// state, at its first checkpoint; the state itself is kept.
func TestRestoreNamesStateTheOperatorNoLongerUses(t *testing.T) {
	dir := t.TempDir()
	sp := countingSavepoint(t, dir)

	var logs syncBuffer
	env2 := stream.NewEnvironment(stream.Config{
		Parallelism: 1,
		RestoreFrom: sp,
		Checkpoint:  &cluster.CheckpointConfig{Interval: 10 * time.Millisecond, Dir: filepath.Join(dir, "cp")},
		Logger:      slog.New(slog.NewTextHandler(&logs, nil)),
	})
	var c2 collector
	renamed := api.StateDescriptor{Name: "total"}
	env2.FromSource("numbers", func() (api.Source, error) { return &cpNumbers{n: 1 << 30, pace: time.Millisecond}, nil }).
		KeyBy(func(r *api.Record, dst []byte) ([]byte, error) { return append(dst, r.Value[len(r.Value)-1]), nil }).
		Process("count", stream.ProcessFunction{Process: func(ctx api.Context, r *api.Record, out api.Output) error {
			st, err := ctx.KeyedState().Value(renamed)
			if err != nil {
				return err
			}
			return st.Put(r.Value)
		}}).
		AddSink("collect", c2.sink())
	jc2, err := env2.ExecuteAsync(context.Background(), "b")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = jc2.Cancel(context.Background()); _, _ = jc2.Wait(context.Background()) }()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cps, _ := jc2.Checkpoints(); len(cps) > 0 && cps[len(cps)-1].Status == "COMPLETED" {
			break
		}
	}
	out := logs.String()
	if !strings.Contains(out, "restored keyed state is not used") || !strings.Contains(out, "operator=count") || !strings.Contains(out, "state="+countDesc.Name) {
		t.Fatalf("no warning naming operator count and state %q in the log:\n%s", countDesc.Name, out)
	}
	if strings.Contains(out, "state=total") {
		t.Fatalf("the declared state is named as unused:\n%s", out)
	}
}

// halfDone is cpNumbers whose subtask 0 has nothing to read.
type halfDone struct {
	cpNumbers
	sub int
}

func (s *halfDone) Open(ctx api.Context) error { s.sub = ctx.Subtask(); return s.cpNumbers.Open(ctx) }
func (s *halfDone) Poll(out api.SourceContext) (api.SourceStatus, error) {
	if s.sub == 0 {
		return api.EndOfInput, nil
	}
	return s.cpNumbers.Poll(out)
}

// A checkpoint taken after one of a source's subtasks finished: restored at
// the same parallelism, the running subtask gets its own position back (not
// the finished one's share: round robin over the split entries lost it) and
// the counts come out exact; at another parallelism the restore is refused,
// naming the source and the parallelism that works (the finished subtask's
// position is not in the checkpoint).
func TestRestoreOfAPartlyFinishedSource(t *testing.T) {
	const n, keys = 200_000, 3
	dir := t.TempDir()
	cps := filepath.Join(dir, "cp")
	newSource := func() (api.Source, error) { return &halfDone{cpNumbers: cpNumbers{n: n, pace: time.Millisecond}}, nil }
	env := stream.NewEnvironment(stream.Config{Parallelism: 2, Checkpoint: &cluster.CheckpointConfig{Interval: 20 * time.Millisecond, Dir: cps}})
	var c collector
	countPerKey(env, env.FromSource("numbers", newSource), keys, &c, -1)
	jc, err := env.ExecuteAsync(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if cps, _ := jc.Checkpoints(); len(cps) >= 3 && cps[len(cps)-1].Status == "COMPLETED" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no checkpoints")
		}
	}
	_ = jc.Cancel(context.Background())
	_, _ = jc.Wait(context.Background())

	restore := func(p int) ([]string, error) {
		env := stream.NewEnvironment(stream.Config{Parallelism: p, RestoreFrom: cps})
		var c collector
		countPerKey(env, env.FromSource("numbers", newSource), keys, &c, -1)
		_, err := env.Execute(context.Background(), "b")
		return c.sorted(), err
	}
	if _, err := restore(3); err == nil || !strings.Contains(err.Error(), `source "numbers" had finished 1 of its 2 subtasks`) || !strings.Contains(err.Error(), "parallelism 2") {
		t.Fatalf("restoring a partly finished source at parallelism 3: %v", err)
	}
	got, err := restore(2)
	if err != nil {
		t.Fatalf("restoring at the same parallelism: %v", err)
	}
	counts := make([]int, keys)
	for i := 1; i < n; i += 2 { // subtask 1's numbers; subtask 0 has none
		counts[i%keys]++
	}
	var want []string
	for k, c := range counts {
		want = append(want, fmt.Sprintf("%d=%d", k, c))
	}
	sortStrings(want)
	equal(t, got, want)
}
