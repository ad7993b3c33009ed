package task

import (
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/graph"
	"github.com/freshet/freshet/engine/state/heap"
)

// funcSource is a source whose Poll is a test's function.
type funcSource struct {
	poll func(out api.SourceContext) api.SourceStatus
}

func (s *funcSource) Open(api.Context) error { return nil }
func (s *funcSource) Poll(out api.SourceContext) (api.SourceStatus, error) {
	return s.poll(out), nil
}
func (s *funcSource) Close() error { return nil }

// timerOp is a keyed operator that hands each record (its key made
// current) and each timer to a test's functions, and logs its end.
type timerOp struct {
	api.BaseOperator
	ctx      api.Context
	log      *[]string
	onRecord func(ctx api.Context, r *api.Record) error
	onTimer  func(ctx api.Context, t api.Timer, out api.Output) error
}

func (o *timerOp) Open(ctx api.Context) error { o.ctx = ctx; return nil }

func (o *timerOp) ProcessBatch(in *api.Batch, _ api.Output) error {
	for i := range in.Records {
		r := &in.Records[i]
		o.ctx.KeyedState().SetCurrentKey(r.Key)
		if err := o.onRecord(o.ctx, r); err != nil {
			return err
		}
	}
	return nil
}

func (o *timerOp) OnTimer(t api.Timer, out api.Output) error { return o.onTimer(o.ctx, t, out) }

func (o *timerOp) ProcessWatermark(wm int64, _ api.Output) error {
	if wm == api.MaxWatermark {
		*o.log = append(*o.log, "timers: end of time")
	}
	return nil
}

func (o *timerOp) Finish(api.Output) error {
	*o.log = append(*o.log, "timers: finish")
	return nil
}

// logSink logs the values it receives and its end.
type logSink struct {
	api.BaseOperator
	log *[]string
}

func (s *logSink) ProcessBatch(in *api.Batch, _ api.Output) error {
	for _, r := range in.Records {
		*s.log = append(*s.log, "sink: "+string(r.Value))
	}
	return nil
}

func (s *logSink) ProcessWatermark(wm int64, _ api.Output) error {
	if wm == api.MaxWatermark {
		*s.log = append(*s.log, "sink: end of time")
	}
	return nil
}

func (s *logSink) Finish(api.Output) error {
	*s.log = append(*s.log, "sink: finish")
	return nil
}

// runChain runs source → keyed operator → sink chained in one real task,
// with heap keyed state, until it ends. During runs on another goroutine
// while the task runs (nil: nothing). The log is written by the task
// goroutine only and read once the task is done.
func runChain(t *testing.T, src api.Source, op *timerOp, during func(*Task)) []string {
	t.Helper()
	var log []string
	op.log = &log
	sg := &graph.StreamGraph{JobName: "timers", MaxParallelism: 128}
	sg.AddNode(&graph.Node{Name: "source", Kind: graph.SourceNode, Parallelism: 1,
		NewSource: func() (api.Source, error) { return src, nil }})
	sg.AddNode(&graph.Node{Name: "timers", Kind: graph.OperatorNode, Parallelism: 1, Keyed: true,
		NewOperator: func() (api.Operator, error) { return op, nil }})
	sg.AddNode(&graph.Node{Name: "sink", Kind: graph.SinkNode, Parallelism: 1,
		NewOperator: func() (api.Operator, error) { return &logSink{log: &log}, nil }})
	sg.AddEdge(&graph.Edge{From: 0, To: 1, Partitioning: graph.Forward})
	sg.AddEdge(&graph.Edge{From: 1, To: 2, Partitioning: graph.Forward})
	v := &graph.JobVertex{Name: "chain", Parallelism: 1, Nodes: sg.Nodes, Internal: sg.Edges}
	jg := &graph.JobGraph{JobName: sg.JobName, MaxParallelism: sg.MaxParallelism, Vertices: []*graph.JobVertex{v}, Stream: sg}
	tk := New(Deployment{JobID: "job", Graph: jg, Vertex: v}, Env{
		State:  heap.New,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	go tk.Run()
	if during != nil {
		during(tk)
	}
	select {
	case <-tk.Done():
	case <-time.After(20 * time.Second):
		tk.Cancel()
		<-tk.Done()
		t.Fatalf("the task did not end within 20 s (log so far: %q)", log)
	}
	if err := tk.Err(); err != nil || tk.State() != Finished {
		t.Fatalf("task ended %s: %v", tk.State(), err)
	}
	return log
}

// TestProcessingTimerFiresOnceTheClockHasPassedIt registers, round after
// round, a processing-time timer for the current millisecond. Such a timer
// is due, but it must not fire before that millisecond is over: a window's
// timer sits at its last millisecond, and a record processed during it
// still belongs to the window.
func TestProcessingTimerFiresOnceTheClockHasPassedIt(t *testing.T) {
	const rounds = 20
	sent, fired := 0, 0
	var registered []int64
	var early []string
	src := &funcSource{poll: func(out api.SourceContext) api.SourceStatus {
		switch {
		case fired == rounds:
			return api.EndOfInput
		case sent > fired: // wait for the timer of the last round
			return api.NothingAvailable
		}
		out.Collect([]byte("k"+strconv.Itoa(sent)), nil)
		sent++
		return api.MoreAvailable
	}}
	op := &timerOp{
		onRecord: func(ctx api.Context, r *api.Record) error {
			now := ctx.Timers().CurrentProcessingTime()
			registered = append(registered, now)
			return ctx.Timers().RegisterProcessingTimeTimer(now)
		},
		onTimer: func(ctx api.Context, tm api.Timer, _ api.Output) error {
			wall := time.Now().UnixMilli()
			if seen := ctx.Timers().CurrentProcessingTime(); wall <= tm.Timestamp || seen <= tm.Timestamp {
				early = append(early, fmt.Sprintf("timer %s@%d fired at wall clock %d, processing time %d", tm.Key, tm.Timestamp, wall, seen))
			}
			if tm.Domain != api.ProcessingTime {
				return fmt.Errorf("timer %s@%d in domain %v", tm.Key, tm.Timestamp, tm.Domain)
			}
			fired++
			return nil
		},
	}
	runChain(t, src, op, nil)
	if fired != rounds || len(registered) != rounds {
		t.Fatalf("%d timers registered, %d fired; want %d of each", len(registered), fired, rounds)
	}
	if len(early) > 0 {
		t.Fatalf("%d of %d timers fired before the clock passed their time:\n%s", len(early), rounds, strings.Join(early, "\n"))
	}
}

// TestPendingProcessingTimersFireAtEndOfInput registers processing-time
// timers an hour or more ahead, then ends the input: they fire at the end
// of input (MaxWatermark), in time order, each once, with the processing
// time advanced past each, before the operator finishes and before the
// operators after it see the end. Stop is not an end of input: the timers
// stay pending (for a savepoint to keep).
func TestPendingProcessingTimersFireAtEndOfInput(t *testing.T) {
	type rec struct{ key, cmd string }
	tests := []struct {
		name string
		recs []rec // cmd: "+N" registers base+N s, "-N" deletes it
		// The timers of base+at s register the timers reRegister s after
		// their own when they fire.
		at, reRegister []int
		stop           bool
		want           []string // timers fired, in order, as key@N
	}{
		{name: "in time order", recs: []rec{{"a", "+3"}, {"b", "+1"}, {"c", "+2"}, {"a", "+4"}},
			want: []string{"b@1", "c@2", "a@3", "a@4"}},
		{name: "registered twice fires once", recs: []rec{{"a", "+1"}, {"a", "+1"}},
			want: []string{"a@1"}},
		{name: "deleted does not fire", recs: []rec{{"a", "+1"}, {"a", "+2"}, {"a", "-1"}},
			want: []string{"a@2"}},
		{name: "re-registering itself fires once", recs: []rec{{"a", "+1"}, {"b", "+2"}},
			at: []int{1}, reRegister: []int{0},
			want: []string{"a@1", "b@2"}},
		{name: "registered up to the latest pending fires, later is dropped",
			recs: []rec{{"a", "+10"}, {"b", "+20"}},
			at:   []int{10}, reRegister: []int{-5, 5, 15},
			want: []string{"a@10", "a@5", "a@15", "b@20"}},
		{name: "a chain that re-registers ahead ends at the latest pending",
			recs: []rec{{"a", "+1"}, {"b", "+4"}},
			at:   []int{1, 3, 5}, reRegister: []int{2},
			want: []string{"a@1", "a@3", "b@4"}},
		{name: "stop leaves them pending", recs: []rec{{"a", "+1"}}, stop: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := time.Now().Add(time.Hour).UnixMilli()
			next := 0
			sent := make(chan struct{})
			src := &funcSource{poll: func(out api.SourceContext) api.SourceStatus {
				if next < len(tt.recs) {
					out.Collect([]byte(tt.recs[next].key), []byte(tt.recs[next].cmd))
					if next++; next == len(tt.recs) {
						close(sent)
					}
					return api.MoreAvailable
				}
				if tt.stop {
					return api.NothingAvailable
				}
				return api.EndOfInput
			}}
			var fired []string
			var clockBehind []string
			var op *timerOp
			op = &timerOp{
				onRecord: func(ctx api.Context, r *api.Record) error {
					n, err := strconv.Atoi(string(r.Value[1:]))
					if err != nil {
						return err
					}
					if r.Value[0] == '-' {
						return ctx.Timers().DeleteProcessingTimeTimer(base + int64(n)*1000)
					}
					return ctx.Timers().RegisterProcessingTimeTimer(base + int64(n)*1000)
				},
				onTimer: func(ctx api.Context, tm api.Timer, out api.Output) error {
					n := (tm.Timestamp - base) / 1000
					name := fmt.Sprintf("%s@%d", tm.Key, n)
					fired = append(fired, name)
					*op.log = append(*op.log, "timers: fire "+name)
					if ctx.Timers().CurrentProcessingTime() <= tm.Timestamp || ctx.ProcessingTime().UnixMilli() <= tm.Timestamp {
						clockBehind = append(clockBehind, name)
					}
					out.Emit(&api.Record{Key: tm.Key, Value: []byte(name)})
					if slices.Contains(tt.at, int(n)) {
						for _, d := range tt.reRegister {
							if err := ctx.Timers().RegisterProcessingTimeTimer(tm.Timestamp + int64(d)*1000); err != nil {
								return err
							}
						}
					}
					if len(fired) > 100 {
						return fmt.Errorf("timers keep firing: %q", fired)
					}
					return nil
				},
			}
			var during func(*Task)
			if tt.stop {
				during = func(tk *Task) {
					<-sent
					for !tk.Stop() {
						time.Sleep(time.Millisecond)
					}
				}
			}
			log := runChain(t, src, op, during)
			if !slices.Equal(fired, tt.want) {
				t.Fatalf("fired %q, want %q", fired, tt.want)
			}
			if len(clockBehind) > 0 {
				t.Errorf("processing time did not pass the time of %q when they fired", clockBehind)
			}
			// The timers fire before the operator sees the end, and what
			// they emit reaches the sink before it sees the end.
			var want []string
			if !tt.stop {
				for _, f := range tt.want {
					want = append(want, "timers: fire "+f)
				}
				want = append(want, "timers: end of time")
				for _, f := range tt.want {
					want = append(want, "sink: "+f)
				}
				want = append(want, "sink: end of time")
			}
			want = append(want, "timers: finish", "sink: finish")
			if !slices.Equal(log, want) {
				t.Fatalf("events\n%s\nwant\n%s", strings.Join(log, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// batchSink records the size of every batch it receives.
type batchSink struct {
	api.BaseOperator
	sizes *[]int
}

func (s *batchSink) ProcessBatch(in *api.Batch, _ api.Output) error {
	*s.sizes = append(*s.sizes, in.Len())
	return nil
}

// TestTimerOutputMovesOnInBatches: the end of input fires 100 000 timers,
// each emitting a record; downstream gets them in batches of at most
// deliverEvery, not in one batch that holds them all.
func TestTimerOutputMovesOnInBatches(t *testing.T) {
	const keys = 100_000
	sent := 0
	src := &funcSource{poll: func(out api.SourceContext) api.SourceStatus {
		if sent == keys {
			return api.EndOfInput
		}
		out.Collect([]byte(strconv.Itoa(sent)), nil)
		sent++
		return api.MoreAvailable
	}}
	op := &timerOp{
		log: new([]string),
		onRecord: func(ctx api.Context, r *api.Record) error {
			return ctx.Timers().RegisterEventTimeTimer(1000)
		},
		onTimer: func(ctx api.Context, tm api.Timer, out api.Output) error {
			out.Emit(&api.Record{Key: tm.Key, Value: tm.Key})
			return nil
		},
	}
	var sizes []int
	sg := &graph.StreamGraph{JobName: "timer-batches", MaxParallelism: 128}
	sg.AddNode(&graph.Node{Name: "source", Kind: graph.SourceNode, Parallelism: 1,
		NewSource: func() (api.Source, error) { return src, nil }})
	sg.AddNode(&graph.Node{Name: "timers", Kind: graph.OperatorNode, Parallelism: 1, Keyed: true,
		NewOperator: func() (api.Operator, error) { return op, nil }})
	sg.AddNode(&graph.Node{Name: "sink", Kind: graph.SinkNode, Parallelism: 1,
		NewOperator: func() (api.Operator, error) { return &batchSink{sizes: &sizes}, nil }})
	sg.AddEdge(&graph.Edge{From: 0, To: 1, Partitioning: graph.Forward})
	sg.AddEdge(&graph.Edge{From: 1, To: 2, Partitioning: graph.Forward})
	v := &graph.JobVertex{Name: "chain", Parallelism: 1, Nodes: sg.Nodes, Internal: sg.Edges}
	jg := &graph.JobGraph{JobName: sg.JobName, MaxParallelism: sg.MaxParallelism, Vertices: []*graph.JobVertex{v}, Stream: sg}
	tk := New(Deployment{JobID: "job", Graph: jg, Vertex: v}, Env{State: heap.New, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	go tk.Run()
	select {
	case <-tk.Done():
	case <-time.After(30 * time.Second):
		tk.Cancel()
		<-tk.Done()
		t.Fatal("the task did not end within 30 s")
	}
	if err := tk.Err(); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, n := range sizes {
		total += n
		if n > deliverEvery {
			t.Fatalf("a batch of %d records reached the sink (at most %d expected)", n, deliverEvery)
		}
	}
	if total != keys {
		t.Fatalf("%d records reached the sink, want %d", total, keys)
	}
}
