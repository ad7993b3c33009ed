// Package api is Freshet's shared vocabulary: records, batches, timestamps,
// watermarks and the operator, source and sink interfaces.
//
// The engine runtime, the WebAssembly host (host/) and every connector import
// this package; this package imports none of them. Keeping the vocabulary in one
// leaf package is what lets the host implement engine operators without either
// side importing the other.
//
// Invariants:
//   - A Record's byte slices are views. They stay valid only until the batch
//     that holds them is reset or the call that received them returns. An
//     operator that keeps bytes beyond that copies them.
//   - Records move in batches. Operators see one ProcessBatch call per batch,
//     never one call per record, so per-call overhead (interface dispatch, a
//     WebAssembly boundary crossing) is amortised.
//   - Timestamps are milliseconds since the Unix epoch; NoTimestamp marks a
//     record without event time.
package api
