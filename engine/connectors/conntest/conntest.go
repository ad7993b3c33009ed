// Package conntest is a small harness for testing sources and sinks without
// the runtime: a Context for one subtask, a SourceContext that collects into
// an api.Batch, and helpers that run a Source to its end or feed a sink.
//
// It is a real package (not a _test file) so every connector, and the
// connectors of other packages (Kafka), test against the same harness.
package conntest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/freshet/freshet/engine/api"
)

// Context is an api.Context for one subtask. Its zero value is not usable;
// call NewContext.
type Context struct {
	Ctx       context.Context
	Name      string
	Index     int
	Par       int
	AttemptNo int
	Log       *slog.Logger

	mu       sync.Mutex
	counters map[string]*Counter
}

// NewContext returns the context of subtask index of parallelism, for an
// operator named name, with a discarding logger and a background context.
func NewContext(name string, index, parallelism int) *Context {
	return &Context{
		Ctx:  context.Background(),
		Name: name, Index: index, Par: parallelism,
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		counters: map[string]*Counter{},
	}
}

func (c *Context) Context() context.Context { return c.Ctx }
func (c *Context) TaskName() string {
	return fmt.Sprintf("%s (%d/%d)", c.Name, c.Index+1, c.Par)
}
func (c *Context) OperatorName() string         { return c.Name }
func (c *Context) Subtask() int                 { return c.Index }
func (c *Context) Parallelism() int             { return c.Par }
func (c *Context) MaxParallelism() int          { return 128 }
func (c *Context) Attempt() int                 { return c.AttemptNo }
func (c *Context) Logger() *slog.Logger         { return c.Log }
func (c *Context) ProcessingTime() time.Time    { return time.Now() }
func (c *Context) CurrentWatermark() int64      { return api.MinWatermark }
func (c *Context) KeyedState() api.KeyedState   { return nil }
func (c *Context) Timers() api.TimerService     { return nil }
func (c *Context) SideOutput(string) api.Output { return discardOutput{} }

// Counter returns the named counter, creating it.
func (c *Context) Counter(name string) api.Counter {
	c.mu.Lock()
	defer c.mu.Unlock()
	k, ok := c.counters[name]
	if !ok {
		k = &Counter{}
		c.counters[name] = k
	}
	return k
}

// CounterValue is the value of the named counter (0 when never created).
func (c *Context) CounterValue(name string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if k, ok := c.counters[name]; ok {
		return k.Load()
	}
	return 0
}

// Counter is a concurrency-safe api.Counter.
type Counter struct{ atomic.Int64 }

func (k *Counter) Add(n int64) { k.Int64.Add(n) }

type discardOutput struct{}

func (discardOutput) Emit(*api.Record) {}

// SourceContext collects what a source emits into Batch.
type SourceContext struct {
	Batch      *api.Batch
	Watermarks []int64
	// Limit is what Budget returns.
	Limit int
}

// NewSourceContext returns a collector whose Budget is budget.
func NewSourceContext(budget int) *SourceContext {
	return &SourceContext{Batch: api.NewBatch(budget), Limit: budget}
}

func (s *SourceContext) Collect(key, value []byte) { s.Batch.Append(key, value, api.NoTimestamp) }
func (s *SourceContext) CollectWithTimestamp(key, value []byte, ts int64) {
	s.Batch.Append(key, value, ts)
}
func (s *SourceContext) CollectRecord(r *api.Record) { s.Batch.Emit(r) }
func (s *SourceContext) EmitWatermark(wm int64)      { s.Watermarks = append(s.Watermarks, wm) }
func (s *SourceContext) ProcessingTime() time.Time   { return time.Now() }
func (s *SourceContext) Budget() int                 { return s.Limit }

// Stats describes one RunSource.
type Stats struct {
	Polls      int // calls of Poll
	Idle       int // polls that returned NothingAvailable
	MaxPerPoll int // most records emitted by one Poll
}

// ErrTimeout is returned by RunSource when the source did not end in time.
var ErrTimeout = errors.New("conntest: source did not reach end of input in time")

// RunSource opens src as the subtask ctx describes, polls it with the given
// budget until EndOfInput, closes it, and returns every record it emitted.
// After NothingAvailable it waits for the source's Wake channel (api.Waker)
// or 1ms. It gives up with ErrTimeout after timeout.
func RunSource(ctx *Context, src api.Source, budget int, timeout time.Duration) (*SourceContext, Stats, error) {
	var st Stats
	out := NewSourceContext(budget)
	if err := src.Open(ctx); err != nil {
		return out, st, err
	}
	err := poll(src, out, &st, timeout)
	if cerr := src.Close(); err == nil {
		err = cerr
	}
	return out, st, err
}

func poll(src api.Source, out *SourceContext, st *Stats, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	var wake <-chan struct{}
	if w, ok := src.(api.Waker); ok {
		wake = w.Wake()
	}
	for {
		before := out.Batch.Len()
		status, err := src.Poll(out)
		st.Polls++
		st.MaxPerPoll = max(st.MaxPerPoll, out.Batch.Len()-before)
		if err != nil {
			return err
		}
		switch status {
		case api.EndOfInput:
			return nil
		case api.NothingAvailable:
			st.Idle++
			if wake != nil {
				select {
				case <-wake:
				case <-deadline.C:
					return ErrTimeout
				}
				continue
			}
			select {
			case <-time.After(time.Millisecond):
			case <-deadline.C:
				return ErrTimeout
			}
		default:
			select {
			case <-deadline.C:
				return ErrTimeout
			default:
			}
		}
	}
}

// RunSink drives op as one subtask: Open, one ProcessBatch per batch, Finish
// (when finish is true) and Close. Whatever op emits is dropped.
func RunSink(ctx *Context, op api.Operator, finish bool, batches ...*api.Batch) error {
	if err := op.Open(ctx); err != nil {
		return err
	}
	err := func() error {
		for _, b := range batches {
			if err := op.ProcessBatch(b, discardOutput{}); err != nil {
				return err
			}
		}
		if finish {
			return op.Finish(discardOutput{})
		}
		return nil
	}()
	if cerr := op.Close(); err == nil {
		err = cerr
	}
	return err
}

// Values returns the values of b's records as strings, for comparisons.
func Values(b *api.Batch) []string {
	out := make([]string, len(b.Records))
	for i := range b.Records {
		out[i] = string(b.Records[i].Value)
	}
	return out
}
