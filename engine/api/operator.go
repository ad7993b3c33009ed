package api

import (
	"context"
	"log/slog"
	"time"
)

// Output receives the records an operator produces. Emit copies what it needs
// before returning, so the caller may reuse r and its bytes.
type Output interface {
	Emit(r *Record)
}

// ViewEmitter is implemented by the Outputs the runtime gives operators. An
// operator that forwards records of its input batch unchanged (a filter) or
// with bytes that point into that batch may emit them with EmitView, which
// skips the copy: the runtime guarantees the input batch outlives the output
// batch's delivery downstream. Bytes the operator owns and reuses must go
// through Emit.
type ViewEmitter interface {
	EmitView(r *Record)
}

// Operator is the one interface every stream transformation implements:
// native Go functions, WebAssembly modules and sinks alike.
//
// The runtime calls an operator from one goroutine only (its task), in this
// order: Open, then any interleaving of ProcessBatch and ProcessWatermark,
// then Finish when every input has ended (bounded jobs), then Close. Close is
// also called, without Finish, when the task fails or is cancelled.
type Operator interface {
	// Open prepares the operator to run as one subtask.
	Open(ctx Context) error
	// ProcessBatch processes every record of in, emitting results to out.
	ProcessBatch(in *Batch, out Output) error
	// ProcessWatermark tells the operator that event time has advanced to wm.
	// The runtime forwards the watermark downstream after this returns.
	ProcessWatermark(wm int64, out Output) error
	// Finish is called once when all input has ended; the operator emits what
	// it still holds (for example a sink flushes its last part file).
	Finish(out Output) error
	// Close releases resources. It is called exactly once after a successful Open.
	Close() error
}

// Context is what the runtime offers an operator subtask.
type Context interface {
	// Context is cancelled when the task stops.
	Context() context.Context
	// TaskName names the subtask in logs and errors, e.g. "map (2/4)".
	TaskName() string
	// OperatorName is the name the job gave the operator.
	OperatorName() string
	// Subtask is this subtask's index, in [0, Parallelism).
	Subtask() int
	Parallelism() int
	// MaxParallelism is the number of key groups of the job.
	MaxParallelism() int
	// Attempt counts restarts of this subtask, from 0.
	Attempt() int
	// Logger is a structured logger that names the job and subtask.
	Logger() *slog.Logger
	// ProcessingTime is the current wall-clock time as the runtime sees it.
	ProcessingTime() time.Time
	// CurrentWatermark is the last watermark this subtask processed.
	CurrentWatermark() int64
	// KeyedState is the keyed state of this subtask. It is nil for operators
	// that do not run on a keyed stream.
	KeyedState() KeyedState
	// Timers is the timer service of a keyed operator, nil otherwise.
	Timers() TimerService
	// SideOutput returns the output for records tagged tag.
	SideOutput(tag string) Output
	// Counter returns a named metric counter of this operator subtask.
	Counter(name string) Counter
}

// Counter is a monotonically increasing metric.
type Counter interface {
	Add(n int64)
}

// BaseOperator gives an operator no-op lifecycle methods to embed.
type BaseOperator struct{}

func (BaseOperator) Open(Context) error                   { return nil }
func (BaseOperator) ProcessWatermark(int64, Output) error { return nil }
func (BaseOperator) Finish(Output) error                  { return nil }
func (BaseOperator) Close() error                         { return nil }
