package api

import "time"

// WatermarkEmitter is implemented by the Context the runtime gives
// operators. An operator that generates watermarks (a timestamp assigner)
// type-asserts its Context to it:
//
//	if we, ok := ctx.(api.WatermarkEmitter); ok { we.EmitWatermark(wm) }
//
// EmitWatermark first delivers the records the operator emitted so far, then
// sends wm to everything downstream, so the watermark follows exactly those
// records. A watermark that does not advance is ignored.
//
// MarkIdle declares the operator's output idle: downstream tasks stop waiting
// for its watermark until it emits a record or a watermark again.
type WatermarkEmitter interface {
	EmitWatermark(wm int64)
	MarkIdle()
}

// Ticker is implemented by operators that need a periodic call on their task
// goroutine, for example to emit watermarks every 200 ms. The runtime calls
// OnTick about every TickInterval, between batches, also while no input
// arrives.
type Ticker interface {
	TickInterval() time.Duration
	OnTick(now time.Time, out Output) error
}

// TwoInputOperator is implemented by operators with two inputs (joins,
// co-process functions). Records of input 0 arrive through ProcessBatch,
// records of input 1 through ProcessBatch2. The operator's watermark is the
// minimum over both inputs.
type TwoInputOperator interface {
	Operator
	ProcessBatch2(in *Batch, out Output) error
}

// IdleMarker is implemented by the SourceContext the runtime gives sources:
// a source with no data for a while marks itself idle so that downstream
// watermarks do not wait for it.
type IdleMarker interface {
	MarkIdle()
}

// WatermarkGenerator is implemented by operators that generate the
// watermarks of the stream after them (timestamp assigners). The runtime
// does not forward upstream watermarks past such an operator, except
// MaxWatermark at the end of input; the operator emits its own through
// WatermarkEmitter.
type WatermarkGenerator interface {
	GeneratesWatermarks() bool
}
