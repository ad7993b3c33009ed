package api

// Checkpointing hooks. Keyed state (KeyedState) and timers are snapshotted by
// the runtime; the interfaces below are for what only the operator or source
// knows: source positions (Kafka offsets, file positions), pending sink
// transactions, and other non-keyed operator state.
//
// Order of calls for a subtask restored from a checkpoint:
//
//	RestoreState (if the checkpoint holds state for the operator)
//	Open
//	... ProcessBatch / Poll ...
//	SnapshotState(n)            when checkpoint n's barrier reaches the operator,
//	                            after every record before the barrier
//	... records after the barrier ...
//	NotifyCheckpointComplete(n) once checkpoint n is complete everywhere
//
// All calls happen on the task goroutine.

// Distribution says how a snapshotted operator state is spread when a job is
// restored with another parallelism.
type Distribution uint8

const (
	// SplitDistribution spreads the entries of all subtasks round robin over
	// the new subtasks.
	SplitDistribution Distribution = iota
	// UnionDistribution gives every new subtask every entry of every old
	// subtask (each picks what it owns, e.g. the Kafka partitions assigned to it).
	UnionDistribution
)

// CheckpointedFunction is implemented by sources and operators with
// non-keyed state.
type CheckpointedFunction interface {
	// SnapshotState returns the state as of checkpoint id: a list of
	// entries, each a small self-contained byte string. It must be quick; it
	// runs while the task holds its barrier.
	SnapshotState(id int64) ([][]byte, error)
	// RestoreState gives back, before Open, the entries of the checkpoint
	// the subtask is restored from, redistributed per StateDistribution.
	RestoreState(entries [][]byte) error
	// StateDistribution says how entries are spread on rescale.
	StateDistribution() Distribution
}

// CheckpointListener is implemented by operators (typically sinks doing a
// two-phase commit) that act when a checkpoint completes or is abandoned.
type CheckpointListener interface {
	// NotifyCheckpointComplete tells that checkpoint id, and so everything
	// the operator snapshotted for it, is durable. A sink commits the
	// transaction it prepared in SnapshotState(id). It may be called for a
	// later id without the earlier ones: commit everything up to id.
	NotifyCheckpointComplete(id int64) error
	// NotifyCheckpointAborted tells that checkpoint id will never complete.
	NotifyCheckpointAborted(id int64) error
}

// CheckpointInfo is implemented by the Context the runtime gives operators:
// a sink doing a two-phase commit asks whether the job takes periodic
// checkpoints (commit per checkpoint) or not (commit as it goes).
type CheckpointInfo interface {
	CheckpointingEnabled() bool
}
