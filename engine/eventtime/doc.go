// Package eventtime owns how a stream gets its event time: timestamp
// assigners (from the record's own timestamp, a header or a JSON field),
// watermark generators (bounded out-of-orderness, monotonous, punctuated or
// any Generator), and the operator that applies a Strategy right after a
// source, as Flink's TimestampsAndWatermarksOperator does.
//
// # The operator
//
// Operator sets each record's timestamp and feeds it to the generator. A
// punctuated generator's watermarks are emitted at once, right after the
// record that produced them; the periodic watermark is asked for every
// Strategy.Interval (default 200 ms) through api.Ticker and emitted when it
// advances. Watermarks arriving from upstream are not forwarded (the
// operator is an api.WatermarkGenerator), except MaxWatermark, which ends
// event time at the end of a bounded input.
//
// A record whose timestamp cannot be read follows the on-error policy: fail
// naming the record, skip and count, or dead-letter. Records are never
// given a made-up timestamp.
//
// Idleness: when no record arrived for Strategy.Idleness, the operator
// marks its output idle (api.WatermarkEmitter.MarkIdle), so that downstream
// watermarks stop waiting for it; the next record makes it active again.
//
// Alignment (FLIP-182): operators of one alignment group report their
// watermark to an AlignmentCoordinator every interval and learn the largest
// watermark they may reach, the group's minimum plus the maximum drift. An
// operator ahead of that reports PauseSource() == true, and the source task
// it is chained to stops polling until it falls back within the drift.
// InProcessCoordinator serves every job of one process.
//
// Invariants: emitted watermarks strictly increase; a watermark is emitted
// after every record whose timestamp it covers was emitted; the per-record
// path allocates nothing.
package eventtime
