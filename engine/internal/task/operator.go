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

	backend state.Backend
	opened  bool

	watermark  int64
	recordsIn  atomic.Int64
	recordsOut atomic.Int64

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
	}
	switch o.node.Kind {
	case graph.SourceNode:
		src, err := o.node.NewSource()
		if err != nil {
			return fmt.Errorf("%s: creating source %q: %w", t.d.Name(), o.node.Name, err)
		}
		if err := src.Open(o); err != nil {
			return fmt.Errorf("%s: opening source %q: %w", t.d.Name(), o.node.Name, err)
		}
		t.source = src
		t.srcCtx = &sourceContext{o: o, budget: t.env.SourceBatch}
	default:
		op, err := o.node.NewOperator()
		if err != nil {
			return fmt.Errorf("%s: creating %s %q: %w", t.d.Name(), o.node.Kind, o.node.Name, err)
		}
		if err := op.Open(o); err != nil {
			return fmt.Errorf("%s: opening %s %q: %w", t.d.Name(), o.node.Kind, o.node.Name, err)
		}
		o.op = op
	}
	o.opened = true
	return nil
}

func (o *opRuntime) close() error {
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
		if cerr := o.backend.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	return err
}

func (o *opRuntime) fail(what string, err error) error {
	return fmt.Errorf("%s: %s %q %s: %w", o.task.d.Name(), o.node.Kind, o.node.Name, what, err)
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

func (o *opRuntime) processWatermark(wm int64) error {
	o.watermark = wm
	if o.op != nil {
		if err := o.op.ProcessWatermark(wm, o.out); err != nil {
			return o.fail("processing watermark", err)
		}
		if err := o.deliver(); err != nil {
			return err
		}
	}
	for _, nx := range o.next {
		if err := nx.processWatermark(wm); err != nil {
			return err
		}
	}
	for _, w := range o.writers {
		if err := w.BroadcastEvent(o.task.ctx, network.Buffer{Kind: network.Watermark, Value: wm}); err != nil {
			return o.fail("sending watermark", err)
		}
	}
	for _, s := range o.side {
		for _, w := range s.writers {
			if err := w.BroadcastEvent(o.task.ctx, network.Buffer{Kind: network.Watermark, Value: wm}); err != nil {
				return o.fail("sending watermark", err)
			}
		}
	}
	return nil
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
	return time.Now()
}
func (o *opRuntime) CurrentWatermark() int64 { return o.watermark }
func (o *opRuntime) KeyedState() api.KeyedState {
	if o.backend == nil {
		return nil
	}
	return o.backend
}
func (o *opRuntime) Timers() api.TimerService { return nil }
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
