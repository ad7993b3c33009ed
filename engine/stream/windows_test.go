package stream_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/cluster"
	"github.com/freshet/freshet/engine/eventtime"
	"github.com/freshet/freshet/engine/operators/jsonpath"
	"github.com/freshet/freshet/engine/stream"
	"github.com/freshet/freshet/engine/windows"
)

// byMod keys the numbers source's records by value mod m.
func byMod(m int) func(r *api.Record, dst []byte) ([]byte, error) {
	return func(r *api.Record, dst []byte) ([]byte, error) {
		n, _ := strconv.Atoi(string(r.Value))
		return strconv.AppendInt(dst, int64(n%m), 10), nil
	}
}

func windowValue(key []byte, w windows.Window, elems iter.Seq[[]byte], out api.Output) error {
	for e := range elems {
		out.Emit(&api.Record{Key: key, Value: fmt.Appendf(nil, "[%d,%d) %s", w.Start, w.End, e), Timestamp: w.MaxTimestamp()})
	}
	return nil
}

// TestWindowsEndToEnd runs event-time windows through the runtime: the
// numbers source gives record i timestamp i; watermarks come from a bounded
// out-of-orderness strategy; the end of input fires the last windows.
func TestWindowsEndToEnd(t *testing.T) {
	const n = 3000
	tests := []struct {
		name     string
		assigner windows.Assigner
		want     func() []string
	}{
		{"tumbling", windows.Tumbling(100 * time.Millisecond), func() []string {
			return countWindows(n, 3, func(ts int64) []windows.Window { return windows.Tumbling(100*time.Millisecond).Assign(ts, nil) })
		}},
		{"sliding", windows.Sliding(100*time.Millisecond, 40*time.Millisecond), func() []string {
			return countWindows(n, 3, func(ts int64) []windows.Window {
				return windows.Sliding(100*time.Millisecond, 40*time.Millisecond).Assign(ts, nil)
			})
		}},
		// Keys see every third number: gaps of 3 ms, so one session per key.
		{"session", windows.Session(5 * time.Millisecond), func() []string {
			var out []string
			for k := range 3 {
				last := int64(n - 3 + k)
				if last >= n {
					last -= 3
				}
				out = append(out, fmt.Sprintf("%d=[%d,%d) %d", k, k, last+5, (n-k+2)/3))
			}
			return out
		}},
	}
	for _, tt := range tests {
		for _, p := range []int{1, 3} {
			t.Run(fmt.Sprintf("%s/p=%d", tt.name, p), func(t *testing.T) {
				env := stream.NewEnvironment(stream.Config{Parallelism: p})
				var c collector
				env.FromSource("numbers", newNumbers(n)).
					AssignTimestampsAndWatermarks("timestamps", eventtime.Strategy{
						Watermarks: eventtime.BoundedOutOfOrderness(10 * time.Millisecond),
						Interval:   time.Millisecond}).
					KeyBy(byMod(3)).
					Window(tt.assigner).
					AggregateProcess("count", windows.Numeric(windows.CountAgg), windows.NoInput, windowValue).
					AddSink("collect", c.sink())
				res, err := env.Execute(context.Background(), "windows")
				if err != nil {
					t.Fatal(err)
				}
				equal(t, c.sorted(), sortedCopy(tt.want()))
				for _, v := range res.Status.Vertices {
					for _, o := range v.Operators {
						if d := o.Counters[windows.LateDroppedCounter]; d != 0 {
							t.Errorf("%s dropped %d late records", v.Name, d)
						}
					}
				}
			})
		}
	}
}

func countWindows(n, keys int, assign func(int64) []windows.Window) []string {
	counts := map[string]int{}
	for i := range n {
		for _, w := range assign(int64(i)) {
			counts[fmt.Sprintf("%d=[%d,%d)", i%keys, w.Start, w.End)]++
		}
	}
	var out []string
	for k, c := range counts {
		out = append(out, fmt.Sprintf("%s %d", k, c))
	}
	return out
}

func sortedCopy(s []string) []string {
	var c collector
	c.vals = s
	return c.sorted()
}

// TestLateDataSideOutput sends records behind the watermark to a side output.
func TestLateDataSideOutput(t *testing.T) {
	env := stream.NewEnvironment(stream.Config{Parallelism: 1})
	var main, late collector
	// Timestamps: 0..999, then 5 again (late: the watermark passed 100).
	src := func() (api.Source, error) { return &listSource{ts: append(seq(1000), 5, 7)}, nil }
	w := env.FromSource("events", src).
		AssignTimestampsAndWatermarks("timestamps", eventtime.Strategy{Watermarks: eventtime.Monotonous()}).
		KeyBy(func(r *api.Record, dst []byte) ([]byte, error) { return append(dst, 'k'), nil }).
		Window(windows.Tumbling(100*time.Millisecond)).
		SideOutputLateData("late").
		AggregateProcess("count", windows.Numeric(windows.CountAgg), windows.NoInput, windowValue)
	w.AddSink("main", main.sink())
	w.SideOutput("late").AddSink("late", late.sink())
	if _, err := env.Execute(context.Background(), "late"); err != nil {
		t.Fatal(err)
	}
	if got := len(main.sorted()); got != 10 {
		t.Errorf("%d windows, want 10", got)
	}
	equal(t, late.sorted(), []string{"k=5", "k=7"})
}

// listSource emits one record per timestamp, value = timestamp, and emits a
// watermark (monotonous) only through the downstream strategy. It forces a
// watermark before the tail by pausing once so the periodic emitter runs.
type listSource struct {
	ts   []int64
	next int
	wait bool
}

func seq(n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = int64(i)
	}
	return out
}

func (s *listSource) Open(api.Context) error { return nil }
func (s *listSource) Poll(out api.SourceContext) (api.SourceStatus, error) {
	for i := 0; i < out.Budget(); i++ {
		if s.next >= len(s.ts) {
			return api.EndOfInput, nil
		}
		if s.next == 1000 && !s.wait {
			s.wait = true
			time.Sleep(300 * time.Millisecond) // let the periodic watermark pass 999
			return api.NothingAvailable, nil
		}
		ts := s.ts[s.next]
		out.CollectWithTimestamp(nil, strconv.AppendInt(nil, ts, 10), ts)
		s.next++
	}
	return api.MoreAvailable, nil
}
func (s *listSource) Close() error { return nil }

// TestJoinsEndToEnd runs a window join and an interval join of two sources
// through the runtime.
func TestJoinsEndToEnd(t *testing.T) {
	for _, p := range []int{1, 2} {
		t.Run(fmt.Sprintf("p=%d", p), func(t *testing.T) {
			env := stream.NewEnvironment(stream.Config{Parallelism: p})
			strategy := eventtime.Strategy{Watermarks: eventtime.BoundedOutOfOrderness(5 * time.Millisecond), Interval: time.Millisecond}
			left := env.FromSource("left", newNumbers(300)).AssignTimestampsAndWatermarks("ts-left", strategy).KeyBy(byMod(2))
			right := env.FromSource("right", newNumbers(300)).AssignTimestampsAndWatermarks("ts-right", strategy).KeyBy(byMod(2))
			var wj, ij collector
			left.Join(right).Window(windows.Tumbling(10*time.Millisecond)).
				Apply("window-join", func(key []byte, w windows.Window, l, r []byte, out api.Output) error {
					out.Emit(&api.Record{Key: key, Value: fmt.Appendf(nil, "%s+%s", l, r), Timestamp: w.MaxTimestamp()})
					return nil
				}).AddSink("wj", wj.sink())
			left.IntervalJoin(right).Between(-2*time.Millisecond, 2*time.Millisecond).
				Process("interval-join", func(key, l, r []byte, lt, rt int64, out api.Output) error {
					out.Emit(&api.Record{Key: key, Value: fmt.Appendf(nil, "%s+%s", l, r), Timestamp: max(lt, rt)})
					return nil
				}).AddSink("ij", ij.sink())
			if _, err := env.Execute(context.Background(), "joins"); err != nil {
				t.Fatal(err)
			}
			var wantW, wantI []string
			for a := range 300 {
				for b := range 300 {
					if a%2 != b%2 {
						continue
					}
					if a/10 == b/10 {
						wantW = append(wantW, fmt.Sprintf("%d=%d+%d", a%2, a, b))
					}
					if b >= a-2 && b <= a+2 {
						wantI = append(wantI, fmt.Sprintf("%d=%d+%d", a%2, a, b))
					}
				}
			}
			equal(t, wj.sorted(), sortedCopy(wantW))
			equal(t, ij.sorted(), sortedCopy(wantI))
		})
	}
}

// TestDistinctWindowJoinEndToEnd co-groups two sources whose values repeat
// within a window (n mod 4 and n mod 6, keyed by n mod 2): each side holds
// every distinct value once per key and window, in arrival order.
func TestDistinctWindowJoinEndToEnd(t *testing.T) {
	for _, p := range []int{1, 2} {
		t.Run(fmt.Sprintf("p=%d", p), func(t *testing.T) {
			env := stream.NewEnvironment(stream.Config{Parallelism: p})
			strategy := eventtime.Strategy{Watermarks: eventtime.BoundedOutOfOrderness(5 * time.Millisecond), Interval: time.Millisecond}
			side := func(name string, mod int) *stream.KeyedStream {
				return env.FromSource(name, newNumbers(300)).AssignTimestampsAndWatermarks("ts-"+name, strategy).
					Map("mod-"+name, func(r *api.Record) error {
						n, _ := strconv.Atoi(string(r.Value))
						r.Key = strconv.AppendInt(nil, int64(n%2), 10)
						r.Value = strconv.AppendInt(nil, int64(n%mod), 10)
						return nil
					}).
					KeyBy(func(r *api.Record, dst []byte) ([]byte, error) { return append(dst, r.Key...), nil })
			}
			var c collector
			side("left", 4).Join(side("right", 6)).Window(windows.Tumbling(10*time.Millisecond)).Distinct().
				CoGroup("distinct-join", func(key []byte, w windows.Window, l, r [][]byte, out api.Output) error {
					sl, sr := make([]string, len(l)), make([]string, len(r))
					for i := range l {
						sl[i] = string(l[i])
					}
					for i := range r {
						sr[i] = string(r[i])
					}
					slices.Sort(sl)
					slices.Sort(sr)
					out.Emit(&api.Record{Key: key, Value: fmt.Appendf(nil, "%d %v %v", w.Start, sl, sr), Timestamp: w.MaxTimestamp()})
					return nil
				}).AddSink("out", c.sink())
			if _, err := env.Execute(context.Background(), "distinct-join"); err != nil {
				t.Fatal(err)
			}
			var want []string
			for start := 0; start < 300; start += 10 {
				for k := range 2 {
					l, r := map[string]bool{}, map[string]bool{}
					for n := start + k; n < start+10; n += 2 {
						l[strconv.Itoa(n%4)], r[strconv.Itoa(n%6)] = true, true
					}
					sl, sr := slices.Sorted(maps.Keys(l)), slices.Sorted(maps.Keys(r))
					want = append(want, fmt.Sprintf("%d=%d %v %v", k, start, sl, sr))
				}
			}
			equal(t, c.sorted(), sortedCopy(want))
		})
	}
}

// TestIdleSourceDoesNotHoldWindowsBack unions a source that keeps emitting
// with one that stays open without data. With idleness on the quiet
// source's strategy the window fires while both sources still run; the
// job is then cancelled.
func TestIdleSourceDoesNotHoldWindowsBack(t *testing.T) {
	env := stream.NewEnvironment(stream.Config{Parallelism: 1, BufferTimeout: 5 * time.Millisecond})
	var c collector
	busy := env.FromSource("busy", func() (api.Source, error) { return &tickingSource{}, nil }).
		AssignTimestampsAndWatermarks("ts-busy", eventtime.Strategy{Watermarks: eventtime.Monotonous(), Interval: 10 * time.Millisecond})
	quiet := env.FromSource("quiet", func() (api.Source, error) { return &quietSource{}, nil }).
		AssignTimestampsAndWatermarks("ts-quiet", eventtime.Strategy{Watermarks: eventtime.Monotonous(),
			Interval: 10 * time.Millisecond, Idleness: 50 * time.Millisecond})
	busy.Union(quiet).
		KeyBy(func(r *api.Record, dst []byte) ([]byte, error) { return append(dst, 'k'), nil }).
		Window(windows.Tumbling(100*time.Millisecond)).
		AggregateProcess("count", windows.Numeric(windows.CountAgg), windows.NoInput, windowValue).
		AddSink("collect", c.sink())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client, err := env.ExecuteAsync(ctx, "idle")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for len(c.sorted()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	_ = client.Cancel(context.Background())
	_, _ = client.Wait(context.Background())
	got := c.sorted()
	if len(got) == 0 {
		t.Fatal("no window fired while the quiet source was idle")
	}
	if got[0] != "k=[0,100) 100" {
		t.Errorf("first window %q, want k=[0,100) 100", got[0])
	}
}

// tickingSource emits timestamps 0, 1, 2, ... one per ms of wall time, for ever.
type tickingSource struct {
	next  int64
	start time.Time
}

func (s *tickingSource) Open(api.Context) error { s.start = time.Now(); return nil }
func (s *tickingSource) Poll(out api.SourceContext) (api.SourceStatus, error) {
	due := time.Since(s.start).Milliseconds()
	if s.next > due {
		return api.NothingAvailable, nil
	}
	for ; s.next <= due; s.next++ {
		out.CollectWithTimestamp(nil, []byte("x"), s.next)
	}
	return api.MoreAvailable, nil
}
func (s *tickingSource) Close() error { return nil }

// quietSource never emits and never ends.
type quietSource struct{}

func (quietSource) Open(api.Context) error { return nil }
func (quietSource) Poll(api.SourceContext) (api.SourceStatus, error) {
	return api.NothingAvailable, nil
}
func (quietSource) Close() error { return nil }

// TestWindowsSurviveFailover fails the job once mid-stream: the window
// operator's contents and timers come back from the last checkpoint, the
// source replays from its checkpointed position, and every window's result
// is still exact (windows that fired between the checkpoint and the
// failure fire again with the same result).
func TestWindowsSurviveFailover(t *testing.T) {
	const n, keys = 30000, 5
	env := stream.NewEnvironment(stream.Config{
		Parallelism: 2,
		Checkpoint:  &cluster.CheckpointConfig{Interval: 30 * time.Millisecond, Dir: t.TempDir()},
		Restart:     &cluster.FixedDelay{Attempts: 3, Delay: 10 * time.Millisecond},
	})
	var c collector
	var failed atomic.Bool
	var client atomic.Pointer[stream.JobClient]
	// Fail once, past record 15000 and after a checkpoint completed.
	checkpointed := func() bool {
		jc := client.Load()
		if jc == nil {
			return false
		}
		cps, _ := jc.Checkpoints()
		for _, cp := range cps {
			if cp.Status == "COMPLETED" {
				return true
			}
		}
		return false
	}
	env.FromSource("numbers", func() (api.Source, error) { return &cpNumbers{n: n, pace: time.Millisecond}, nil }).
		AssignTimestampsAndWatermarks("timestamps", eventtime.Strategy{
			Watermarks: eventtime.BoundedOutOfOrderness(20 * time.Millisecond), Interval: 5 * time.Millisecond}).
		Map("fail-once", func(r *api.Record) error {
			if failed.Load() {
				return nil
			}
			if v, _ := strconv.Atoi(string(r.Value)); v >= 15000 && checkpointed() && failed.CompareAndSwap(false, true) {
				return errInjected
			}
			return nil
		}).
		KeyBy(byMod(keys)).
		Window(windows.Sliding(1000*time.Millisecond, 500*time.Millisecond)).
		AggregateProcess("sum", windows.Numeric(windows.SumAgg), windows.NumberField(jsonpath.Path{}), windowValue).
		AddSink("collect", c.sink())
	jc, err := env.ExecuteAsync(context.Background(), "failover-windows")
	if err != nil {
		t.Fatal(err)
	}
	client.Store(jc)
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
		t.Fatal("the job did not restart from a checkpoint")
	}
	sums := map[string]int64{}
	a := windows.Sliding(1000*time.Millisecond, 500*time.Millisecond)
	for i := range n {
		for _, w := range a.Assign(int64(i), nil) {
			sums[fmt.Sprintf("%d=[%d,%d)", i%keys, w.Start, w.End)] += int64(i)
		}
	}
	var want []string
	for k, s := range sums {
		want = append(want, fmt.Sprintf("%s %d", k, s))
	}
	got := dedupe(c.sorted())
	equal(t, got, sortedCopy(want))
}

func dedupe(sorted []string) []string {
	var out []string
	for i, s := range sorted {
		if i == 0 || s != sorted[i-1] {
			out = append(out, s)
		}
	}
	return out
}

// ownAggregate counts with an accumulator it also remembers, so that two
// subtasks sharing one would be seen (and fail the race detector); it
// reports a failure through Err once it has seen failAt records.
type ownAggregate struct {
	seen, failAt int
	closed       *atomic.Int32
}

func (a *ownAggregate) CreateAccumulator(dst []byte) []byte { return append(dst, '0') }
func (a *ownAggregate) Add(acc, _, dst []byte) []byte {
	a.seen++
	n, _ := strconv.Atoi(string(acc))
	return strconv.AppendInt(dst, int64(n+1), 10)
}
func (a *ownAggregate) Merge(x, y, dst []byte) []byte {
	n, _ := strconv.Atoi(string(x))
	m, _ := strconv.Atoi(string(y))
	return strconv.AppendInt(dst, int64(n+m), 10)
}
func (a *ownAggregate) Result(acc, dst []byte) []byte { return append(dst, acc...) }
func (a *ownAggregate) Err() error {
	if a.failAt > 0 && a.seen >= a.failAt {
		return errors.New("aggregate gave up")
	}
	return nil
}
func (a *ownAggregate) Close() error { a.closed.Add(1); return nil }

// AggregateEach gives every subtask an aggregate of its own, closes them,
// and fails the job with the error an aggregate reports.
func TestAggregateEachHasOneAggregatePerSubtask(t *testing.T) {
	for _, failAt := range []int{0, 50} {
		env := stream.NewEnvironment(stream.Config{Parallelism: 2})
		var made, closed atomic.Int32
		var c collector
		env.FromSource("events", func() (api.Source, error) { return &listSource{ts: seq(1000)}, nil }).SetParallelism(1).
			AssignTimestampsAndWatermarks("timestamps", eventtime.Strategy{Watermarks: eventtime.Monotonous()}).
			KeyBy(byMod(4)).
			Window(windows.Tumbling(100*time.Millisecond)).
			AggregateEach("count", func() (api.AggregateFunction, error) {
				made.Add(1)
				return &ownAggregate{failAt: failAt, closed: &closed}, nil
			}, nil).
			AddSink("out", c.sink())
		_, err := env.Execute(context.Background(), "each")
		if failAt > 0 {
			if err == nil || !strings.Contains(err.Error(), "aggregate gave up") {
				t.Fatalf("an aggregate that reports a failure: job error %v", err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if made.Load() != 2 || closed.Load() != 2 {
			t.Fatalf("%d aggregates made and %d closed for 2 subtasks", made.Load(), closed.Load())
		}
		total := 0
		for _, v := range c.sorted() {
			_, n, _ := strings.Cut(v, "=")
			k, _ := strconv.Atoi(n)
			total += k
		}
		if total != 1000 {
			t.Fatalf("windows counted %d records, want 1000", total)
		}
	}
}
