// Package memory owns the network buffers of a TaskManager: fixed-size
// segments carved from memory mapped outside the Go heap, handed out by
// bounded pools under one byte budget.
//
// # Why off-heap
//
// A TaskManager keeps tens of megabytes of network buffers alive for as long
// as it runs. On the Go heap they would be rescanned by every GC cycle and
// would count toward GOGC's growth target. Segments live in anonymous private
// mappings (mmap) instead, which the garbage collector never looks at; only the
// small Segment headers are heap objects.
//
// # Model
//
//   - A Manager has a budget (Config.TotalBytes) divided into segments of
//     Config.SegmentSize bytes. It maps memory lazily, Config.ArenaBytes at a
//     time, and never maps more than the budget.
//   - A Pool is a bounded set of segments (an input gate, a result partition).
//     CreatePool reserves the pool's maximum from the budget up front, so a pool
//     can always obtain all of its segments: pools never starve each other, and
//     an over-committed job fails when it is deployed, not when it is running.
//   - Segments are taken from the arenas the first time a pool needs them and
//     are reused afterwards. A segment released to its pool goes to that pool's
//     free list; the segments of a destroyed pool go back to the manager for
//     other pools to reuse. Reused segments are not zeroed.
//
// # Invariants
//
//   - Reserved ≤ Total: the sum of the live pools' maxima (plus the segments
//     still out of destroyed pools) never exceeds the budget.
//   - Mapped ≤ Total, and a pool never holds more than its maximum.
//   - A segment belongs to at most one holder. Releasing it twice is detected
//     (logged and counted in Stats.DoubleReleases, never a panic) as long as the
//     segment has not been handed out again in between; a stale holder that
//     releases a segment after it was reissued cannot be told from its new
//     holder.
//   - The bytes of a segment must not be used after Release, nor after Close.
//     Close refuses to unmap while any segment is still out and reports the
//     pools that hold them.
//
// Request and Release take one mutex per segment, about 32 KiB of records, so
// their cost is negligible per record. Stats reads atomics only.
package memory
