// Package harness tests operators the way they run in a task, without a
// cluster: it gives an api.Operator a real api.Context (keyed state in the
// heap backend, a timer service, side outputs, counters, a controllable
// processing-time clock), feeds it records, watermarks and processing time,
// and records everything it emits.
//
// It is meant for authors of WebAssembly operators (NewWasm loads a module in
// the real host) as much as for native Go operators:
//
//	h, err := harness.NewWasm(ctx, rt, "fraud.wasm", host.Options{Kind: abi.KindProcess}, harness.Options{Keyed: true})
//	h.ProcessElement([]byte("acct-1"), []byte("50"), 1000)
//	h.ProcessWatermark(61_000) // fires event-time timers up to 61 s
//	out := h.TakeOutput()
//
// Timers follow the runtime's rules (api.TimerService; they live in
// engine/timerqueue, shared with engine/windows/windowstest): an
// event-time timer for t fires once the watermark reaches t; a
// processing-time timer for t once the clock has passed t (SetProcessingTime
// of t+1 or later); at the end of input (ProcessWatermark(api.MaxWatermark),
// or Finish) every pending processing-time timer fires after the
// event-time ones, with the clock advanced past each. Stop, like a stop
// with savepoint, fires none.
//
// Like Flink's operator test harnesses, a Harness is single-threaded: call it
// from one goroutine.
package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/keygroup"
	"github.com/freshet/freshet/engine/state"
	"github.com/freshet/freshet/engine/state/heap"
	"github.com/freshet/freshet/engine/timerqueue"
	"github.com/freshet/freshet/host"
	"github.com/freshet/freshet/host/abi"
)

// Options configure a Harness.
type Options struct {
	// Keyed gives the operator keyed state and timers.
	Keyed bool
	// Name is the operator's name (default "operator").
	Name string
	// MaxParallelism is the number of key groups (default 128).
	MaxParallelism int
	// Logger receives the operator's logs (default: discarded).
	Logger *slog.Logger
	// StartProcessingTime is the initial processing time in ms (default 0).
	StartProcessingTime int64
	// NewState makes the keyed state backend (default: the heap backend).
	NewState func(state.Options) (state.Backend, error)
	// StateDir is the backend's directory (state.Options.Dir).
	StateDir string
}

// Harness drives one operator subtask.
type Harness struct {
	op      api.Operator
	ctx     *taskContext
	backend state.Backend
	timers  *timerService
	out     collector
	opened  bool
	batch   *api.Batch
}

// New wraps op. Call Open before feeding it.
func New(op api.Operator, opts Options) (*Harness, error) {
	if opts.Name == "" {
		opts.Name = "operator"
	}
	if opts.MaxParallelism == 0 {
		opts.MaxParallelism = keygroup.DefaultMaxParallelism
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Harness{op: op, batch: api.NewBatch(16)}
	tc := &taskContext{ctx: context.Background(), name: opts.Name, maxP: opts.MaxParallelism,
		logger: opts.Logger, procTime: opts.StartProcessingTime, watermark: api.MinWatermark,
		sides: map[string]*collector{}, counters: map[string]*counter{}}
	h.ctx = tc
	if opts.Keyed {
		newState := opts.NewState
		if newState == nil {
			newState = heap.New
		}
		b, err := newState(state.Options{Operator: opts.Name, MaxParallelism: opts.MaxParallelism, Dir: opts.StateDir,
			KeyGroups: keygroup.Range{Start: 0, End: opts.MaxParallelism - 1},
			Now:       func() time.Time { return time.UnixMilli(tc.procTime) }})
		if err != nil {
			return nil, fmt.Errorf("harness: making keyed state: %w", err)
		}
		h.backend = b
		h.timers = &timerService{ks: b, tc: tc, q: timerqueue.New()}
		tc.ks, tc.timers = b, h.timers
	}
	return h, nil
}

// NewWasm loads the module at path in rt and wraps an operator running its
// function (opts.Kind: map, filter, flat-map, process or deserializer). Set
// hopts.Keyed for process functions. The harness's clock is the guest's.
func NewWasm(ctx context.Context, rt *host.Runtime, path string, opts host.Options, hopts Options) (*Harness, error) {
	m, err := rt.LoadFile(ctx, path)
	if err != nil {
		return nil, err
	}
	if opts.Kind == abi.KindProcess {
		hopts.Keyed = true
	}
	var h *Harness
	opts.Clock = func() int64 { return h.ctx.procTime }
	op, err := host.NewOperator(m, opts)
	if err != nil {
		return nil, err
	}
	h, err = New(op, hopts)
	if err != nil {
		return nil, err
	}
	return h, nil
}

// Operator returns the operator under test.
func (h *Harness) Operator() api.Operator { return h.op }

// Context returns the api.Context given to the operator.
func (h *Harness) Context() api.Context { return h.ctx }

// Open opens the operator.
func (h *Harness) Open() error {
	if err := h.op.Open(h.ctx); err != nil {
		return err
	}
	h.opened = true
	return nil
}

// ProcessElement feeds one record in a batch of its own.
func (h *Harness) ProcessElement(key, value []byte, ts int64) error {
	h.batch.Reset()
	h.batch.Append(key, value, ts)
	return h.ProcessBatch(h.batch)
}

// ProcessRecords feeds records as one batch.
func (h *Harness) ProcessRecords(recs ...api.Record) error {
	b := api.NewBatch(len(recs))
	for i := range recs {
		b.Emit(&recs[i])
	}
	return h.ProcessBatch(b)
}

// ProcessBatch feeds a batch.
func (h *Harness) ProcessBatch(b *api.Batch) error {
	if !h.opened {
		return errors.New("harness: Open the operator first")
	}
	return h.op.ProcessBatch(b, &h.out)
}

// ProcessWatermark advances event time to wm: it fires every event-time
// timer at or before wm (in time order), then passes the watermark on.
// The first api.MaxWatermark ends the input: after the event-time timers,
// every pending processing-time timer fires, in time order, with the clock
// advanced just past each (and left there); one registered meanwhile fires
// too if it is due by then and has not fired yet, a later one is dropped.
func (h *Harness) ProcessWatermark(wm int64) error {
	if !h.opened {
		return errors.New("harness: Open the operator first")
	}
	ended := h.ctx.watermark == api.MaxWatermark
	if h.timers != nil {
		if err := h.timers.q.FireEventTime(wm, h.onTimer); err != nil {
			return err
		}
		if wm == api.MaxWatermark && !ended {
			if err := h.timers.q.FlushProcessingTime(&h.ctx.procTime, h.onTimer); err != nil {
				return err
			}
		}
	}
	h.ctx.watermark = wm
	return h.op.ProcessWatermark(wm, &h.out)
}

// SetProcessingTime moves the processing-time clock to ms and fires every
// processing-time timer it has passed: those for times before ms. A timer
// for ms itself waits for the clock to move on.
func (h *Harness) SetProcessingTime(ms int64) error {
	h.ctx.procTime = ms
	if h.timers == nil || !h.opened {
		return nil
	}
	return h.timers.q.FireProcessingTime(&h.ctx.procTime, h.onTimer)
}

// onTimer calls the operator's OnTimer for a timer that fires.
func (h *Harness) onTimer(t api.Timer) error {
	th, ok := h.op.(api.TimerHandler)
	if !ok {
		return fmt.Errorf("harness: a timer fired but the operator is not an api.TimerHandler")
	}
	if t.Domain == api.EventTime {
		h.ctx.watermark = t.Timestamp
	}
	h.backend.SetCurrentKey(t.Key)
	h.backend.SetCurrentNamespace(t.Namespace)
	return th.OnTimer(t, &h.out)
}

// Finish ends the input as the runtime does: api.MaxWatermark, unless the
// harness has processed it already (which fires the pending event-time,
// then processing-time timers), then the operator's Finish.
func (h *Harness) Finish() error {
	if h.ctx.watermark != api.MaxWatermark {
		if err := h.ProcessWatermark(api.MaxWatermark); err != nil {
			return err
		}
	}
	return h.Stop()
}

// Stop finishes the operator as a stop with savepoint does: without the
// end-of-input watermark, so pending timers stay pending.
func (h *Harness) Stop() error { return h.op.Finish(&h.out) }

// Close closes the operator and the state backend.
func (h *Harness) Close() error {
	var errs []error
	if h.opened {
		errs = append(errs, h.op.Close())
		h.opened = false
	}
	if h.backend != nil {
		errs = append(errs, h.backend.Close())
		h.backend = nil
	}
	return errors.Join(errs...)
}

// Output returns the records emitted to the main output so far.
func (h *Harness) Output() []api.Record { return h.out.recs }

// TakeOutput returns the main output and forgets it.
func (h *Harness) TakeOutput() []api.Record {
	r := h.out.recs
	h.out.recs = nil
	return r
}

// SideOutput returns what was emitted to side output tag.
func (h *Harness) SideOutput(tag string) []api.Record {
	if c, ok := h.ctx.sides[tag]; ok {
		return c.recs
	}
	return nil
}

// Counter returns the value of the operator's counter name.
func (h *Harness) Counter(name string) int64 {
	if c, ok := h.ctx.counters[name]; ok {
		return c.n
	}
	return 0
}

// State is the keyed state backend (nil unless Keyed).
func (h *Harness) State() state.Backend { return h.backend }

// ValueState reads value state name of key, for assertions.
func (h *Harness) ValueState(name string, key []byte) ([]byte, bool, error) {
	if h.backend == nil {
		return nil, false, errors.New("harness: not keyed")
	}
	vs, err := h.backend.Value(api.StateDescriptor{Name: name, Kind: api.ValueStateKind})
	if err != nil {
		return nil, false, err
	}
	h.backend.SetCurrentKey(key)
	h.backend.SetCurrentNamespace(nil)
	v, ok, err := vs.Get()
	return bytes.Clone(v), ok, err
}

// Timers lists the pending timers in firing order.
func (h *Harness) Timers() []api.Timer {
	if h.timers == nil {
		return nil
	}
	return h.timers.q.Pending()
}

// Watermark is the last watermark processed.
func (h *Harness) Watermark() int64 { return h.ctx.watermark }

// collector is an api.Output that keeps deep copies.
type collector struct{ recs []api.Record }

func (c *collector) Emit(r *api.Record) {
	cp := api.Record{Key: bytes.Clone(r.Key), Value: bytes.Clone(r.Value), Timestamp: r.Timestamp}
	for _, h := range r.Headers {
		cp.Headers = append(cp.Headers, api.Header{Key: bytes.Clone(h.Key), Value: bytes.Clone(h.Value)})
	}
	c.recs = append(c.recs, cp)
}

type counter struct{ n int64 }

func (c *counter) Add(n int64) { c.n += n }

// taskContext is the api.Context of the harnessed subtask.
type taskContext struct {
	ctx       context.Context
	name      string
	maxP      int
	logger    *slog.Logger
	procTime  int64
	watermark int64
	ks        api.KeyedState
	timers    api.TimerService
	sides     map[string]*collector
	counters  map[string]*counter
}

func (c *taskContext) Context() context.Context   { return c.ctx }
func (c *taskContext) TaskName() string           { return c.name + " (1/1)" }
func (c *taskContext) OperatorName() string       { return c.name }
func (c *taskContext) Subtask() int               { return 0 }
func (c *taskContext) Parallelism() int           { return 1 }
func (c *taskContext) MaxParallelism() int        { return c.maxP }
func (c *taskContext) Attempt() int               { return 0 }
func (c *taskContext) Logger() *slog.Logger       { return c.logger }
func (c *taskContext) ProcessingTime() time.Time  { return time.UnixMilli(c.procTime) }
func (c *taskContext) CurrentWatermark() int64    { return c.watermark }
func (c *taskContext) KeyedState() api.KeyedState { return c.ks }
func (c *taskContext) Timers() api.TimerService   { return c.timers }
func (c *taskContext) SideOutput(tag string) api.Output {
	s, ok := c.sides[tag]
	if !ok {
		s = &collector{}
		c.sides[tag] = s
	}
	return s
}
func (c *taskContext) Counter(name string) api.Counter {
	ct, ok := c.counters[name]
	if !ok {
		ct = &counter{}
		c.counters[name] = ct
	}
	return ct
}

// timerService is the api.TimerService of the harnessed subtask, over a
// timerqueue.Queue.
type timerService struct {
	ks api.KeyedState
	tc *taskContext
	q  *timerqueue.Queue
}

func (s *timerService) CurrentProcessingTime() int64 { return s.tc.procTime }
func (s *timerService) CurrentWatermark() int64      { return s.tc.watermark }

func (s *timerService) add(d api.TimeDomain, ts int64) error {
	s.q.Register(d, ts, s.ks.CurrentKey(), s.ks.CurrentNamespace())
	return nil
}

func (s *timerService) del(d api.TimeDomain, ts int64) error {
	s.q.Delete(d, ts, s.ks.CurrentKey(), s.ks.CurrentNamespace())
	return nil
}

func (s *timerService) RegisterEventTimeTimer(ts int64) error { return s.add(api.EventTime, ts) }
func (s *timerService) RegisterProcessingTimeTimer(ts int64) error {
	return s.add(api.ProcessingTime, ts)
}
func (s *timerService) DeleteEventTimeTimer(ts int64) error { return s.del(api.EventTime, ts) }
func (s *timerService) DeleteProcessingTimeTimer(ts int64) error {
	return s.del(api.ProcessingTime, ts)
}
