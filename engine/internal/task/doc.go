// Package task runs one subtask of a job vertex: a goroutine whose mailbox
// loop interleaves records, watermarks, checkpoint barriers, timers and control
// messages.
//
// A task's head is either a source, which the loop polls for a batch at a
// time, or an input gate, whose buffers it deserializes into batches. Each
// batch flows through the chained operators by plain function calls; the
// outputs of the chain go to network RecordWriters (or nowhere, for a sink).
// Everything on the per-record path runs on the task goroutine without locks;
// the only synchronisation is per buffer (gate, channel, pool) and per batch
// (atomic statistics).
//
// Time accounting follows Flink: a task is idle while it waits for input,
// back-pressured while it waits for an output buffer or credit, and busy
// otherwise.
package task
