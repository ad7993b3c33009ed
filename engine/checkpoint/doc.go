// Package checkpoint defines what a checkpoint or savepoint is on disk and
// how it is written, found, verified, read back and retained.
//
// A checkpoint is a directory chk-<id> under the job's checkpoint directory
// (a savepoint: any directory) holding one state file per operator subtask
// and a metadata file, _metadata, written last. A checkpoint counts only
// once _metadata exists: a crash at any earlier moment leaves a directory
// that readers ignore and the next writer cleans up.
//
// Every state file ends with an xxhash64 of its content, and _metadata
// records each file's size and hash, so a truncated or corrupted file is
// detected before any of it is used (errors wrap ErrCorrupt). Recovery then
// falls back to the previous complete checkpoint.
//
// State files use one canonical, backend-independent encoding (keyed state
// entries as state.Entry, timers, and the operator's own entries), so a
// snapshot taken with one state backend restores into another, and a job can
// be restored at another parallelism: keyed state is filtered by key group,
// operator state split or unioned (api.Distribution).
//
// # Incremental checkpoints
//
// A checkpoint (never a savepoint) may hold a subtask's keyed state as a
// native snapshot of its backend (state.NativeSnapshotter; RocksDB's live
// files) instead of canonical entries; its state file then holds only timers
// and operator state, and SubtaskMeta.Native lists the snapshot's files:
//
//	<root>/shared/<name>            immutable files, stored once by a name
//	                                unique across backends and snapshots
//	<root>/chk-<id>/<op>-<s>-<a>.<file>  the snapshot's private files
//	                                (MANIFEST, CURRENT, OPTIONS)
//
// An Uploader copies a snapshot's files: a shared file only when shared/
// lacks it (a file it copied before, or that the checkpoint it was restored
// from listed, with the same size is reused without reading it), so a
// checkpoint writes what changed since the previous one. Every file is
// written under a temporary name or inside the unfinished chk-<id>, synced,
// and recorded with its size and xxhash64; Verify reads and checks them all.
//
// Metadata with native snapshots has format version 2, so a Freshet that
// reads only version 1 refuses it instead of restoring without keyed state;
// metadata without them stays at version 1.
//
// Retention: when a checkpoint completes, complete checkpoints beyond the
// newest Retain are deleted, then every file of shared/ that no remaining
// complete checkpoint references, unless it was written or reused after the
// completing checkpoint began. The coordinator runs one checkpoint at a
// time, and the only checkpoint that may still be writing then (one
// triggered after an abort) began later, so its files are never deleted.
// If a remaining checkpoint's metadata cannot be read, nothing is deleted.
//
// Restoring natively (MaterializeNative hard-links the shared files and
// copies the private ones into a local directory) and rescaling are the
// task's side: see engine/internal/task and docs/state.md.
//
// A shared file is trusted by name and size once written: if it is damaged
// in storage afterwards, every checkpoint that references it fails Verify.
package checkpoint
