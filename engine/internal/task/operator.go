package task

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/checkpoint"
	"github.com/freshet/freshet/engine/graph"
	"github.com/freshet/freshet/engine/internal/network"
	"github.com/freshet/freshet/engine/state"
)

// opRuntime runs one chained node of a task.
type opRuntime struct {
	task *Task
	node *graph.Node
	op   api.Operator // nil for a source head
	out  *api.Batch

	next    []*opRuntime
	writers []*network.RecordWriter
	side    map[string]*sideOutput

	backend     state.Backend
	checkUnused bool // keyed state was restored: name unused states at the next checkpoint
	timers      *timerService
	opened      bool
	swap        api.Operator        // prepared new version (hot-swap), nil when none
	uploads     checkpoint.Uploader // native snapshot files in storage (native.go)

	ticker    api.Ticker
	nextTick  time.Time
	generator bool  // the operator makes its own watermarks
	emittedWM int64 // last watermark forwarded downstream
	idle      bool  // outputs are marked idle

	watermark  int64
	clockFloor int64 // processing time (ms) never reads earlier than this
	recordsIn  atomic.Int64
	recordsOut atomic.Int64

	stateStats atomic.Pointer[state.StatsReporter] // set once the backend exists
	statsMu    sync.RWMutex                        // Statistics vs closing the backend

	countersMu sync.Mutex
	counters   map[string]*counter
	log        *slog.Logger
}

type sideOutput struct {
	batch   *api.Batch
	writers []*network.RecordWriter
}

func (o *opRuntime) sideWriters(tag string, w *network.RecordWriter) {
	s := o.sideOut(tag)
	s.writers = append(s.writers, w)
}

func (o *opRuntime) sideOut(tag string) *sideOutput {
	if o.side == nil {
		o.side = map[string]*sideOutput{}
	}
	s, ok := o.side[tag]
	if !ok {
		s = &sideOutput{batch: api.NewBatch(64)}
		o.side[tag] = s
	}
	return s
}

func (o *opRuntime) open() error {
	t := o.task
	o.log = t.log.With("operator", o.node.Name)
	if o.node.Keyed {
		if t.env.State == nil {
			return fmt.Errorf("%s: operator %q needs keyed state but the TaskManager has no state backend", t.d.Name(), o.node.Name)
		}
		b, err := t.env.State(t.keyedStateOptions(o.node))
		if err != nil {
			return fmt.Errorf("%s: creating keyed state for %q: %w", t.d.Name(), o.node.Name, err)
		}
		o.backend = b
		o.timers = newTimerService(o)
		if r, ok := b.(state.StatsReporter); ok {
			o.stateStats.Store(&r)
		}
	}
	o.emittedWM = api.MinWatermark
	switch o.node.Kind {
	case graph.SourceNode:
		src, err := o.node.NewSource()
		if err != nil {
			return fmt.Errorf("%s: creating source %q: %w", t.d.Name(), o.node.Name, err)
		}
		// A source subtask that had finished before the checkpoint does not
		// read again: it has no state of its own to restore.
		if !t.d.SourceFinished {
			if err := o.restore(src); err != nil {
				return err
			}
		}
		if err := src.Open(o); err != nil {
			return fmt.Errorf("%s: opening source %q: %w", t.d.Name(), o.node.Name, err)
		}
		t.source = src
		t.srcCtx = &sourceContext{o: o, budget: t.env.SourceBatch}
	default:
		newOp := o.node.NewOperator
		if ov, ok := t.d.Overrides[o.node.ID]; ok {
			newOp = ov
		}
		op, err := newOp()
		if err != nil {
			return fmt.Errorf("%s: creating %s %q: %w", t.d.Name(), o.node.Kind, o.node.Name, err)
		}
		if err := o.restore(op); err != nil {
			return err
		}
		if err := op.Open(o); err != nil {
			return fmt.Errorf("%s: opening %s %q: %w", t.d.Name(), o.node.Kind, o.node.Name, err)
		}
		o.op = op
		if g, ok := op.(api.WatermarkGenerator); ok && g.GeneratesWatermarks() {
			o.generator = true
		}
		if tk, ok := op.(api.Ticker); ok && tk.TickInterval() > 0 {
			o.ticker = tk
			o.nextTick = time.Now().Add(tk.TickInterval())
			t.noteDeadline(o.nextTick)
		}
	}
	o.opened = true
	return nil
}

func (o *opRuntime) close() error {
	if o.swap != nil {
		_ = o.swap.Close()
		o.swap = nil
	}
	var err error
	if o.opened {
		if o.op != nil {
			err = o.op.Close()
		} else if o.task.source != nil {
			err = o.task.source.Close()
		}
		if err != nil {
			err = fmt.Errorf("%s: closing %q: %w", o.task.d.Name(), o.node.Name, err)
		}
	}
	if o.backend != nil {
		o.statsMu.Lock()
		o.stateStats.Store(nil)
		o.statsMu.Unlock()
		if cerr := o.backend.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	return err
}

func (o *opRuntime) fail(what string, err error) error {
	return fmt.Errorf("%s: %s %q %s: %w", o.task.d.Name(), o.node.Kind, o.node.Name, what, err)
}

// stateStatistics reads the backend's statistics, unless it is closing.
func (o *opRuntime) stateStatistics() map[string]float64 {
	o.statsMu.RLock()
	defer o.statsMu.RUnlock()
	if r := o.stateStats.Load(); r != nil {
		return (*r).Statistics()
	}
	return nil
}

// recoverPanic turns a panic in user code into an error naming the operator.
func (o *opRuntime) recoverPanic(what string, err *error) {
	if r := recover(); r != nil {
		o.log.Debug("panic in operator", "panic", r, "stack", string(debug.Stack()))
		*err = o.fail(what, fmt.Errorf("panic: %v", r))
	}
}

// process runs in through the operator and delivers its output.
func (o *opRuntime) process(in *api.Batch) (err error) {
	o.recordsIn.Add(int64(in.Len()))
	if err := o.processBatch(in); err != nil {
		return err
	}
	return o.deliver()
}

func (o *opRuntime) processBatch(in *api.Batch) (err error) {
	defer o.recoverPanic("processing a batch", &err)
	if err := o.op.ProcessBatch(in, o.out); err != nil {
		return o.fail("processing a batch", err)
	}
	return nil
}

// deliver hands the operator's output batches downstream and resets them.
func (o *opRuntime) deliver() error {
	if n := o.out.Len(); n > 0 {
		if o.idle {
			if err := o.setIdle(false); err != nil {
				return err
			}
		}
		o.recordsOut.Add(int64(n))
		for _, nx := range o.next {
			if err := nx.process(o.out); err != nil {
				return err
			}
		}
		for _, w := range o.writers {
			if err := w.EmitBatch(o.task.ctx, o.out); err != nil {
				return o.fail("sending records", err)
			}
		}
		o.out.Reset()
	}
	for _, s := range o.side {
		if s.batch.Len() == 0 {
			continue
		}
		for _, w := range s.writers {
			if err := w.EmitBatch(o.task.ctx, s.batch); err != nil {
				return o.fail("sending side output", err)
			}
		}
		s.batch.Reset()
	}
	return nil
}

// processWatermark handles a watermark from upstream: due event-time
// timers fire, the operator sees the watermark, and it moves on downstream
// (unless the operator generates its own watermarks). MaxWatermark ends the
// input: after the event-time timers, every pending processing-time timer
// fires too (flushProcessing), before the operator, and everything after
// it, sees the end.
func (o *opRuntime) processWatermark(wm int64) error {
	o.watermark = wm
	if o.op != nil {
		if o.timers != nil {
			if err := o.timers.fire(&o.timers.event, wm); err != nil {
				return err
			}
			if wm == api.MaxWatermark {
				if err := o.timers.flushProcessing(); err != nil {
					return err
				}
			}
		}
		if err := o.op.ProcessWatermark(wm, o.out); err != nil {
			return o.fail("processing watermark", err)
		}
		if err := o.deliver(); err != nil {
			return err
		}
	}
	if o.generator && wm != api.MaxWatermark {
		return nil
	}
	return o.forwardWatermark(wm)
}

// forwardWatermark sends wm to every consumer of the operator's outputs.
func (o *opRuntime) forwardWatermark(wm int64) error {
	if wm <= o.emittedWM {
		return nil
	}
	o.emittedWM = wm
	if o.idle {
		if err := o.setIdle(false); err != nil {
			return err
		}
	}
	for _, nx := range o.next {
		if err := nx.processWatermark(wm); err != nil {
			return err
		}
	}
	return o.broadcast(network.Buffer{Kind: network.Watermark, Value: wm}, "sending watermark")
}

func (o *opRuntime) broadcast(b network.Buffer, what string) error {
	for _, w := range o.writers {
		if err := w.BroadcastEvent(o.task.ctx, b); err != nil {
			return o.fail(what, err)
		}
	}
	for _, s := range o.side {
		for _, w := range s.writers {
			if err := w.BroadcastEvent(o.task.ctx, b); err != nil {
				return o.fail(what, err)
			}
		}
	}
	return nil
}

// setIdle marks the operator's outputs idle or active again, downstream too.
func (o *opRuntime) setIdle(idle bool) error {
	if o.idle == idle {
		return nil
	}
	o.idle = idle
	v := int64(0)
	if idle {
		v = 1
	}
	if err := o.broadcast(network.Buffer{Kind: network.Idle, Value: v}, "sending idleness"); err != nil {
		return err
	}
	if idle {
		for _, nx := range o.next {
			if err := nx.setIdle(true); err != nil {
				return err
			}
		}
	}
	return nil
}

// onTime fires due processing-time timers and ticks.
func (o *opRuntime) onTime(now time.Time) error {
	if o.op == nil {
		return nil
	}
	if o.timers != nil {
		if err := o.timers.fireProcessing(now.UnixMilli()); err != nil {
			return err
		}
	}
	if o.ticker != nil && !now.Before(o.nextTick) {
		if err := o.ticker.OnTick(now, o.out); err != nil {
			return o.fail("on a tick", err)
		}
		o.nextTick = now.Add(o.ticker.TickInterval())
	}
	return o.deliver()
}

// nextDeadline is when the operator next needs onTime.
func (o *opRuntime) nextDeadline() (time.Time, bool) {
	var d time.Time
	ok := false
	if o.timers != nil {
		if t, has := o.timers.nextProcessing(); has {
			d, ok = t, true
		}
	}
	if o.ticker != nil && (!ok || o.nextTick.Before(d)) {
		d, ok = o.nextTick, true
	}
	return d, ok
}

// api.WatermarkEmitter

// EmitWatermark delivers what the operator emitted so far, then wm.
func (o *opRuntime) EmitWatermark(wm int64) {
	if o.task.asyncErr != nil {
		return
	}
	if err := o.deliver(); err != nil {
		o.task.asyncErr = err
		return
	}
	if err := o.forwardWatermark(wm); err != nil {
		o.task.asyncErr = err
	}
}

// MarkIdle marks the operator's outputs idle.
func (o *opRuntime) MarkIdle() {
	if o.task.asyncErr != nil {
		return
	}
	if err := o.deliver(); err != nil {
		o.task.asyncErr = err
		return
	}
	if err := o.setIdle(true); err != nil {
		o.task.asyncErr = err
	}
}

// process2 runs in through the second input of a two-input operator.
func (o *opRuntime) process2(in *api.Batch) (err error) {
	o.recordsIn.Add(int64(in.Len()))
	two, ok := o.op.(api.TwoInputOperator)
	if !ok {
		return o.fail("receiving its second input", fmt.Errorf("the operator has one input"))
	}
	if err := func() (err error) {
		defer o.recoverPanic("processing a batch of input 2", &err)
		if err := two.ProcessBatch2(in, o.out); err != nil {
			return o.fail("processing a batch of input 2", err)
		}
		return nil
	}(); err != nil {
		return err
	}
	return o.deliver()
}

func (o *opRuntime) finish() error {
	if o.op != nil {
		if err := o.op.Finish(o.out); err != nil {
			return o.fail("finishing", err)
		}
		if err := o.deliver(); err != nil {
			return err
		}
	}
	for _, nx := range o.next {
		if err := nx.finish(); err != nil {
			return err
		}
	}
	return nil
}

// now is the operator's processing time in ms: the wall clock, or later
// once the end of input has fired processing-time timers ahead of it.
func (o *opRuntime) now() int64 { return max(time.Now().UnixMilli(), o.clockFloor) }

// api.Context implementation.

func (o *opRuntime) Context() context.Context { return o.task.ctx }
func (o *opRuntime) TaskName() string         { return o.task.d.Name() }
func (o *opRuntime) OperatorName() string     { return o.node.Name }
func (o *opRuntime) Subtask() int             { return o.task.d.Subtask }
func (o *opRuntime) Parallelism() int         { return o.node.Parallelism }
func (o *opRuntime) MaxParallelism() int      { return o.task.d.Graph.MaxParallelism }
func (o *opRuntime) Attempt() int             { return o.task.d.Attempt }
func (o *opRuntime) Logger() *slog.Logger     { return o.log }
func (o *opRuntime) ProcessingTime() time.Time {
	now := time.Now()
	if now.UnixMilli() < o.clockFloor {
		return time.UnixMilli(o.clockFloor)
	}
	return now
}
func (o *opRuntime) CurrentWatermark() int64 { return o.watermark }
func (o *opRuntime) KeyedState() api.KeyedState {
	if o.backend == nil {
		return nil
	}
	return o.backend
}
func (o *opRuntime) Timers() api.TimerService {
	if o.timers == nil {
		return nil
	}
	return o.timers
}
func (o *opRuntime) SideOutput(tag string) api.Output {
	return o.sideOut(tag).batch
}

type counter struct{ v atomic.Int64 }

func (c *counter) Add(n int64) { c.v.Add(n) }

func (o *opRuntime) Counter(name string) api.Counter {
	o.countersMu.Lock()
	defer o.countersMu.Unlock()
	if o.counters == nil {
		o.counters = map[string]*counter{}
	}
	c, ok := o.counters[name]
	if !ok {
		c = &counter{}
		o.counters[name] = c
	}
	return c
}

func (o *opRuntime) counterValues() map[string]int64 {
	o.countersMu.Lock()
	defer o.countersMu.Unlock()
	if len(o.counters) == 0 {
		return nil
	}
	out := make(map[string]int64, len(o.counters))
	names := make([]string, 0, len(o.counters))
	for k := range o.counters {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		out[k] = o.counters[k].v.Load()
	}
	return out
}

// sourceContext collects what a source emits in one poll into the head's
// output batch.
type sourceContext struct {
	o      *opRuntime
	budget int
	err    error
}

func (s *sourceContext) Collect(key, value []byte) {
	s.o.out.Append(key, value, api.NoTimestamp)
}

func (s *sourceContext) CollectWithTimestamp(key, value []byte, ts int64) {
	s.o.out.Append(key, value, ts)
}

func (s *sourceContext) CollectRecord(r *api.Record) { s.o.out.Emit(r) }

// EmitWatermark delivers the records collected so far, then the watermark,
// so the watermark follows exactly the records emitted before it.
func (s *sourceContext) EmitWatermark(wm int64) {
	if s.err != nil {
		return
	}
	if err := s.o.deliver(); err != nil {
		s.err = err
		return
	}
	if err := s.o.task.advanceWatermark(wm); err != nil {
		s.err = err
	}
}

// MarkIdle marks the source idle until it emits again.
func (s *sourceContext) MarkIdle() {
	if s.err != nil {
		return
	}
	if err := s.o.deliver(); err != nil {
		s.err = err
		return
	}
	if err := s.o.setIdle(true); err != nil {
		s.err = err
	}
}

func (s *sourceContext) ProcessingTime() time.Time { return time.Now() }
func (s *sourceContext) Budget() int               { return s.budget }

// flush delivers what the last poll collected.
func (s *sourceContext) flush() error {
	if s.err != nil {
		err := s.err
		s.err = nil
		return err
	}
	n := s.o.out.Len()
	if n == 0 {
		return nil
	}
	return s.o.deliver()
}
