package api

import "time"

// SourceStatus is what a Source says after one Poll.
type SourceStatus uint8

const (
	// MoreAvailable: call Poll again soon.
	MoreAvailable SourceStatus = iota
	// NothingAvailable: nothing to read now; the runtime waits before polling
	// again (or until the source's Wake channel fires).
	NothingAvailable
	// EndOfInput: the source is exhausted; Poll is not called again.
	EndOfInput
)

// SourceContext receives what a source reads.
type SourceContext interface {
	// Collect emits a record without event time (or with the record's own,
	// when a timestamp assigner is configured downstream).
	Collect(key, value []byte)
	// CollectWithTimestamp emits a record with event time ts (ms).
	CollectWithTimestamp(key, value []byte, ts int64)
	// CollectRecord emits a copy of r, headers included.
	CollectRecord(r *Record)
	// EmitWatermark declares that no record with a timestamp <= wm follows.
	EmitWatermark(wm int64)
	// ProcessingTime is the current wall-clock time.
	ProcessingTime() time.Time
	// Budget is how many records the runtime would like this Poll to emit at
	// most, so the task can interleave control messages.
	Budget() int
}

// Source reads a stream from outside the engine. The runtime pulls: it calls
// Poll from the task goroutine, and between polls handles checkpoints, timers
// and cancellation. A Poll emits at most about Budget records and must not
// block for long; a source waiting for input returns NothingAvailable.
type Source interface {
	// Open prepares subtask ctx.Subtask() of ctx.Parallelism(); a source reads
	// its share of the input (files, partitions) by that index.
	Open(ctx Context) error
	Poll(out SourceContext) (SourceStatus, error)
	Close() error
}

// Waker is implemented by sources that can say when data is available again
// after NothingAvailable, so the runtime need not poll on a timer.
type Waker interface {
	Wake() <-chan struct{}
}
