// Package windowstest is a test harness for event-time operators: it runs
// one operator subtask in the calling goroutine with real keyed state (the
// heap backend unless another is given), a deterministic timer service,
// side outputs, counters, a processing-time clock the test sets, and a
// WatermarkEmitter that records what the operator emits.
//
// The harness follows the runtime's contract (api.TimerService; the rules
// live in engine/timerqueue, shared with host/harness): event-time timers
// fire, in time order, when a watermark advances and before the operator's
// ProcessWatermark; a processing-time timer for t fires once the test moves
// the clock past t (to t+1 or later), which also calls api.Ticker.OnTick.
// At the end of input (Finish, or Watermark(api.MaxWatermark)) every
// pending processing-time timer fires after the event-time ones, in time
// order, with the clock advanced past each; Stop, like a stop with
// savepoint, fires none. Timers with equal times fire in order of key and
// namespace, so runs are reproducible.
package windowstest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/keygroup"
	"github.com/freshet/freshet/engine/state"
	stateheap "github.com/freshet/freshet/engine/state/heap"
	"github.com/freshet/freshet/engine/timerqueue"
)

// Options configure a Harness.
type Options struct {
	// Name is the operator's name (default "op").
	Name string
	// Keyed gives the operator keyed state and timers.
	Keyed bool
	// Subtask and Parallelism place the operator (default 0 of 1);
	// MaxParallelism is the number of key groups (default 128).
	Subtask, Parallelism, MaxParallelism int
	// State makes the keyed state backend (default: heap).
	State func(state.Options) (state.Backend, error)
	// ProcessingTime is the initial wall clock in ms (default 1).
	ProcessingTime int64
	// Restore, when set, restores keyed state, timers and watermark.
	Restore *Snapshot
	// DiscardOutput counts emitted records instead of keeping them (benchmarks).
	DiscardOutput bool
}

// Event is one element of the operator's output stream: a record, a
// watermark or an idle marker.
type Event struct {
	Record    *api.Record // nil for a watermark or idle marker
	Watermark int64
	Idle      bool
}

func (e Event) String() string {
	switch {
	case e.Record != nil:
		return fmt.Sprintf("record %q=%q@%d", e.Record.Key, e.Record.Value, e.Record.Timestamp)
	case e.Idle:
		return "idle"
	}
	return fmt.Sprintf("watermark %d", e.Watermark)
}

// Harness runs one operator subtask.
type Harness struct {
	op       api.Operator
	opts     Options
	ks       state.Backend
	timers   *timerService
	out      *api.Batch
	side     map[string]*api.Batch
	sideLog  map[string][]api.Record
	log      []Event
	counters map[string]*counter
	wm       int64
	emitted  int64 // last emitted watermark
	now      int64
	nOut     int64
	logger   *slog.Logger
}

// New opens op in a new harness.
func New(op api.Operator, opts Options) (*Harness, error) {
	if opts.Name == "" {
		opts.Name = "op"
	}
	if opts.Parallelism == 0 {
		opts.Parallelism = 1
	}
	if opts.MaxParallelism == 0 {
		opts.MaxParallelism = keygroup.DefaultMaxParallelism
	}
	if opts.ProcessingTime == 0 {
		opts.ProcessingTime = 1
	}
	h := &Harness{
		op: op, opts: opts, out: api.NewBatch(256), side: map[string]*api.Batch{}, sideLog: map[string][]api.Record{},
		counters: map[string]*counter{}, wm: api.MinWatermark, emitted: api.MinWatermark, now: opts.ProcessingTime,
		logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if opts.Keyed {
		newState := opts.State
		if newState == nil {
			newState = stateheap.New
		}
		b, err := newState(state.Options{Operator: opts.Name, MaxParallelism: opts.MaxParallelism,
			KeyGroups: keygroup.RangeOf(opts.Subtask, opts.Parallelism, opts.MaxParallelism)})
		if err != nil {
			return nil, err
		}
		h.ks = b
		h.timers = newTimerService(h)
	}
	if s := opts.Restore; s != nil {
		if err := h.restore(s); err != nil {
			return nil, err
		}
	}
	if err := op.Open(h); err != nil {
		if h.ks != nil {
			h.ks.Close()
		}
		return nil, err
	}
	return h, nil
}

// Operator is the operator under test.
func (h *Harness) Operator() api.Operator { return h.op }

// Backend is the keyed state backend (nil unless Keyed).
func (h *Harness) Backend() state.Backend { return h.ks }

// Process feeds records to input 0 as one batch.
func (h *Harness) Process(recs ...api.Record) error {
	return h.ProcessBatch(batchOf(recs))
}

// Process2 feeds records to input 1 of a two-input operator as one batch.
func (h *Harness) Process2(recs ...api.Record) error {
	op, ok := h.op.(api.TwoInputOperator)
	if !ok {
		return fmt.Errorf("%T is not a two-input operator", h.op)
	}
	err := op.ProcessBatch2(batchOf(recs), h.out)
	h.collect()
	return err
}

func batchOf(recs []api.Record) *api.Batch {
	b := api.NewBatch(len(recs))
	for i := range recs {
		b.Emit(&recs[i])
	}
	return b
}

// ProcessBatch feeds a batch to input 0.
func (h *Harness) ProcessBatch(b *api.Batch) error {
	err := h.op.ProcessBatch(b, h.out)
	h.collect()
	return err
}

// Watermark advances event time to wm: due event-time timers fire, then the
// operator's ProcessWatermark runs. A watermark that does not advance is
// ignored. api.MaxWatermark ends the input: after the event-time timers,
// every pending processing-time timer fires, in time order, with the clock
// advanced just past each (and left there); one registered meanwhile fires
// too if it is due by then and has not fired yet, a later one is dropped.
func (h *Harness) Watermark(wm int64) error {
	if wm <= h.wm {
		return nil
	}
	h.wm = wm
	if h.timers != nil {
		err := h.timers.q.FireEventTime(wm, h.timers.onTimer)
		if err == nil && wm == api.MaxWatermark {
			err = h.timers.q.FlushProcessingTime(&h.now, h.timers.onTimer)
		}
		if err != nil {
			h.collect()
			return err
		}
	}
	err := h.op.ProcessWatermark(wm, h.out)
	h.collect()
	return err
}

// SetProcessingTime moves the wall clock to t (ms): the processing-time
// timers it has passed (those for times before t) fire, and a Ticker
// operator gets OnTick. A timer for t itself waits for the clock to move on.
func (h *Harness) SetProcessingTime(t int64) error {
	if t < h.now {
		return fmt.Errorf("processing time cannot go back from %d to %d", h.now, t)
	}
	h.now = t
	if h.timers != nil {
		if err := h.timers.q.FireProcessingTime(&h.now, h.timers.onTimer); err != nil {
			h.collect()
			return err
		}
	}
	if tk, ok := h.op.(api.Ticker); ok {
		if err := tk.OnTick(time.UnixMilli(t), h.out); err != nil {
			h.collect()
			return err
		}
	}
	h.collect()
	return nil
}

// ProcessingTimeNow is the harness clock.
func (h *Harness) ProcessingTimeNow() int64 { return h.now }

// Finish ends the input as the runtime does: MaxWatermark (which fires the
// pending event-time, then processing-time timers), then Finish.
func (h *Harness) Finish() error {
	if err := h.Watermark(api.MaxWatermark); err != nil {
		return err
	}
	return h.Stop()
}

// Stop finishes the operator as a stop with savepoint does: without the
// end-of-input watermark, so pending timers stay pending (Snapshot keeps them).
func (h *Harness) Stop() error {
	err := h.op.Finish(h.out)
	h.collect()
	return err
}

// Close closes the operator and the state backend.
func (h *Harness) Close() error {
	err := h.op.Close()
	if h.ks != nil {
		if cerr := h.ks.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// collect moves what the operator emitted into the log.
func (h *Harness) collect() {
	if n := h.out.Len(); n > 0 {
		h.nOut += int64(n)
		if !h.opts.DiscardOutput {
			for i := range h.out.Records {
				h.log = append(h.log, Event{Record: cloneRecord(&h.out.Records[i])})
			}
		}
		h.out.Reset()
	}
	for tag, b := range h.side {
		for i := range b.Records {
			h.sideLog[tag] = append(h.sideLog[tag], *cloneRecord(&b.Records[i]))
		}
		b.Reset()
	}
}

func cloneRecord(r *api.Record) *api.Record {
	c := &api.Record{Key: bytes.Clone(r.Key), Value: bytes.Clone(r.Value), Timestamp: r.Timestamp}
	for _, hd := range r.Headers {
		c.Headers = append(c.Headers, api.Header{Key: bytes.Clone(hd.Key), Value: bytes.Clone(hd.Value)})
	}
	return c
}

// Events returns the output stream so far.
func (h *Harness) Events() []Event { return h.log }

// Records returns the records emitted so far (watermarks left out).
func (h *Harness) Records() []api.Record {
	var out []api.Record
	for _, e := range h.log {
		if e.Record != nil {
			out = append(out, *e.Record)
		}
	}
	return out
}

// Reset forgets the output so far.
func (h *Harness) Reset() { h.log = h.log[:0]; clear(h.sideLog) }

// Emitted is the number of records emitted so far (also with DiscardOutput).
func (h *Harness) Emitted() int64 { return h.nOut }

// SideRecords returns what the operator emitted to the side output tag.
func (h *Harness) SideRecords(tag string) []api.Record { return h.sideLog[tag] }

// CounterValue returns the value of the operator's counter name.
func (h *Harness) CounterValue(name string) int64 {
	if c := h.counters[name]; c != nil {
		return c.n
	}
	return 0
}

// PendingTimers is the number of registered timers.
func (h *Harness) PendingTimers() int {
	if h.timers == nil {
		return 0
	}
	return h.timers.q.Len()
}

// api.Context

func (h *Harness) Context() context.Context { return context.Background() }
func (h *Harness) TaskName() string {
	return fmt.Sprintf("%s (%d/%d)", h.opts.Name, h.opts.Subtask+1, h.opts.Parallelism)
}
func (h *Harness) OperatorName() string      { return h.opts.Name }
func (h *Harness) Subtask() int              { return h.opts.Subtask }
func (h *Harness) Parallelism() int          { return h.opts.Parallelism }
func (h *Harness) MaxParallelism() int       { return h.opts.MaxParallelism }
func (h *Harness) Attempt() int              { return 0 }
func (h *Harness) Logger() *slog.Logger      { return h.logger }
func (h *Harness) ProcessingTime() time.Time { return time.UnixMilli(h.now) }
func (h *Harness) CurrentWatermark() int64   { return h.wm }
func (h *Harness) KeyedState() api.KeyedState {
	if h.ks == nil {
		return nil
	}
	return h.ks
}
func (h *Harness) Timers() api.TimerService {
	if h.timers == nil {
		return nil
	}
	return h.timers
}
func (h *Harness) SideOutput(tag string) api.Output {
	b, ok := h.side[tag]
	if !ok {
		b = api.NewBatch(16)
		h.side[tag] = b
	}
	return b
}
func (h *Harness) Counter(name string) api.Counter {
	c, ok := h.counters[name]
	if !ok {
		c = &counter{}
		h.counters[name] = c
	}
	return c
}

type counter struct{ n int64 }

func (c *counter) Add(n int64) { c.n += n }

// api.WatermarkEmitter

// EmitWatermark records wm after the records emitted so far.
func (h *Harness) EmitWatermark(wm int64) {
	h.collect()
	if wm <= h.emitted {
		return
	}
	h.emitted = wm
	h.log = append(h.log, Event{Watermark: wm})
}

// MarkIdle records an idle marker.
func (h *Harness) MarkIdle() {
	h.collect()
	h.log = append(h.log, Event{Idle: true})
}

// Snapshot is a checkpoint of the harness: keyed state, timers, watermark.
type Snapshot struct {
	Entries   []state.Entry
	Timers    []api.Timer
	Watermark int64
}

// Snapshot copies the keyed state and the timers.
func (h *Harness) Snapshot() (*Snapshot, error) {
	s := &Snapshot{Watermark: h.wm}
	if h.ks == nil {
		return s, nil
	}
	err := h.ks.Snapshot(func(e *state.Entry) error {
		c := *e
		c.Key, c.Namespace, c.UserKey, c.Value = bytes.Clone(e.Key), bytes.Clone(e.Namespace), bytes.Clone(e.UserKey), bytes.Clone(e.Value)
		s.Entries = append(s.Entries, c)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, t := range h.timers.q.Pending() {
		s.Timers = append(s.Timers, api.Timer{Key: bytes.Clone(t.Key), Namespace: bytes.Clone(t.Namespace), Timestamp: t.Timestamp, Domain: t.Domain})
	}
	return s, nil
}

func (h *Harness) restore(s *Snapshot) error {
	h.wm = s.Watermark
	if h.ks == nil {
		return nil
	}
	for i := range s.Entries {
		if err := h.ks.Restore(&s.Entries[i]); err != nil {
			return err
		}
	}
	for _, t := range s.Timers {
		if keygroup.SubtaskOf(t.Key, h.opts.Parallelism, h.opts.MaxParallelism) != h.opts.Subtask {
			continue
		}
		h.timers.q.Register(t.Domain, t.Timestamp, t.Key, t.Namespace)
	}
	return nil
}

// timerService is the harness's api.TimerService over a timerqueue.Queue,
// which fires timers by the runtime's rules.
type timerService struct {
	h *Harness
	q *timerqueue.Queue
}

func newTimerService(h *Harness) *timerService {
	return &timerService{h: h, q: timerqueue.New()}
}

func (s *timerService) register(domain api.TimeDomain, ts int64) error {
	key := s.h.ks.CurrentKey()
	if key == nil {
		return fmt.Errorf("timer registered without a current key")
	}
	s.q.Register(domain, ts, key, s.h.ks.CurrentNamespace())
	return nil
}

func (s *timerService) remove(domain api.TimeDomain, ts int64) error {
	s.q.Delete(domain, ts, s.h.ks.CurrentKey(), s.h.ks.CurrentNamespace())
	return nil
}

func (s *timerService) CurrentProcessingTime() int64 { return s.h.now }
func (s *timerService) CurrentWatermark() int64      { return s.h.wm }
func (s *timerService) RegisterEventTimeTimer(ts int64) error {
	return s.register(api.EventTime, ts)
}
func (s *timerService) RegisterProcessingTimeTimer(ts int64) error {
	return s.register(api.ProcessingTime, ts)
}
func (s *timerService) DeleteEventTimeTimer(ts int64) error { return s.remove(api.EventTime, ts) }
func (s *timerService) DeleteProcessingTimeTimer(ts int64) error {
	return s.remove(api.ProcessingTime, ts)
}

// onTimer calls the operator's OnTimer for a timer that fires.
func (s *timerService) onTimer(t api.Timer) error {
	handler, ok := s.h.op.(api.TimerHandler)
	if !ok {
		return nil
	}
	s.h.ks.SetCurrentKey(t.Key)
	s.h.ks.SetCurrentNamespace(t.Namespace)
	err := handler.OnTimer(t, s.h.out)
	s.h.ks.SetCurrentNamespace(nil)
	if err != nil {
		return fmt.Errorf("firing timer at %d: %w", t.Timestamp, err)
	}
	return nil
}
