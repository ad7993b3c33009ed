// Package checkpoint defines what a checkpoint or savepoint is on disk and
// how it is written, found, verified and read back.
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
package checkpoint
