// Package state defines keyed state backends: where an operator subtask keeps
// the value, list, map, reducing and aggregating state of every key it owns.
//
// A backend holds the key groups of one subtask (keygroup.RangeOf). Every entry
// is addressed by (state name, key group, key, namespace[, user key]); the key
// group is derived from the key, so a range of key groups can be snapshotted,
// moved to another subtask on rescale, or dropped, without touching the rest.
//
// Backends: heap (engine/state/heap, Go maps, default) and RocksDB
// (engine/state/rocksdb). Both write snapshots in one canonical, backend-
// independent entry format (Entry), so a savepoint taken with one restores
// into the other. A backend may also snapshot its own files
// (NativeSnapshotter), which is what makes checkpoints incremental; any
// backend reads such a snapshot back through ReadNative.
package state

import (
	"errors"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/keygroup"
)

// Options configure one backend instance (one operator subtask).
type Options struct {
	// Operator names the operator, for errors and file names.
	Operator string
	// MaxParallelism is the job's number of key groups.
	MaxParallelism int
	// KeyGroups is the range this subtask owns.
	KeyGroups keygroup.Range
	// Dir is a directory the backend may use for local files (RocksDB).
	Dir string
	// Now is the clock for TTL; time.Now when nil.
	Now func() time.Time
}

// Backend is the keyed state of one operator subtask.
type Backend interface {
	api.KeyedState
	// Descriptors lists the states declared so far, in declaration order.
	Descriptors() []api.StateDescriptor
	// Snapshot calls fn for every live entry, in no particular order. The
	// Entry's slices are valid only during the call.
	Snapshot(fn func(e *Entry) error) error
	// Restore adds entries (from a snapshot of any backend). Entries whose
	// key group is outside this backend's range are ignored, which is how a
	// rescaled subtask takes only its share.
	Restore(e *Entry) error
	// Close releases the backend's resources.
	Close() error
}

// Entry is one state entry in the canonical snapshot format.
type Entry struct {
	State     string
	Kind      api.StateKind
	KeyGroup  int
	Key       []byte
	Namespace []byte
	// UserKey is set for map state entries.
	UserKey []byte
	// Value is the value, or for list state one element; list elements are
	// snapshotted as one Entry each, in order.
	Value []byte
	// ExpiresAt is the TTL expiry in ms since the epoch, 0 for none.
	ExpiresAt int64
}

// ErrStateKindMismatch is returned when a state name is declared again with
// another kind (or a restored snapshot holds it with another kind).
var ErrStateKindMismatch = errors.New("state declared with a different kind")

// ErrNoCurrentKey is returned when state is used before SetCurrentKey, i.e.
// outside a keyed stream.
var ErrNoCurrentKey = errors.New("keyed state used without a current key (is the stream keyed?)")

// ErrKeyGroupOutOfRange is returned by state operations after SetCurrentKey
// was given a key whose key group this subtask does not own: the record was
// routed to the wrong subtask, or the backend was built with the wrong range.
var ErrKeyGroupOutOfRange = errors.New("key belongs to a key group outside this subtask's range")

// ErrInvalidDescriptor is returned when a state descriptor cannot be used:
// no name, a negative TTL, a reducing state without Reduce, an aggregating
// state without Aggregate.
var ErrInvalidDescriptor = errors.New("invalid state descriptor")

// ErrInvalidEntry is returned by Restore for an entry that cannot belong to
// this job: an unknown kind, or a key group that does not match the key's
// hash (the snapshot was taken with another max parallelism, or is corrupt).
var ErrInvalidEntry = errors.New("invalid snapshot entry")

// ErrClosed is returned by state operations on a closed backend.
var ErrClosed = errors.New("state backend is closed")

// StateLister is implemented by backends that can name every state they
// hold: the declared ones and those restored from a snapshot that no
// operator declared (yet). The runtime uses it to say when restored state
// is not used (a renamed or removed state descriptor).
type StateLister interface {
	StateNames() []string
}

// StatsReporter is implemented by backends that report statistics: memory
// use, latencies, compaction debt. Names are snake_case with a unit suffix
// (_bytes, _seconds, _total); the runtime sums them over subtasks and
// exports them as metrics and in the job status. It must be safe to call from
// any goroutine.
type StatsReporter interface {
	Statistics() map[string]float64
}
