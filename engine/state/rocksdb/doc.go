// Package rocksdb is the keyed state backend for state larger than memory:
// one RocksDB instance per operator subtask, in the subtask's local directory.
// It is the only package of Freshet that imports grocksdb.
//
// Layout (docs/state.md has the full picture):
//
//   - One column family per declared state, named "s:" + state name. The
//     default column family holds metadata: format version, max parallelism,
//     the kind of every state, the list sequence high-water mark.
//   - A key is the entry's address, key group (2 bytes, big-endian) then
//     length-prefixed key and namespace (engine/state/internal/keyed),
//     followed by the user key for map state and by an 8-byte element
//     sequence for list state (one RocksDB key per list element, so Add is a
//     blind write). Keys sort by key group, so a range of key groups is one
//     contiguous key range: it can be iterated, copied and dropped.
//   - A value is an 8-byte big-endian expiry (ms since the epoch, 0 for none)
//     followed by the payload. Reads drop expired values; a compaction filter
//     written in C (no Go callbacks on RocksDB threads) removes them for good.
//
// Durability comes from checkpoints, not from RocksDB's write-ahead log, which
// is off: Checkpoint flushes memtables and hard-links a consistent set of
// files into a directory, and OpenCheckpoint opens a backend from one or more
// such directories, keeping only the key groups it owns.
//
// Memory is bounded per TaskManager by SharedResources: one block cache
// (data, index and filter blocks) and one write-buffer budget for all backends.
//
// A Backend is used by one goroutine (its task); Stats may be called from any
// goroutine.
package rocksdb
