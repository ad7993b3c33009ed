package state

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"sync"

	"github.com/freshet/freshet/engine/keygroup"
)

// NativeSnapshotter is implemented by a backend whose own files can serve as
// a checkpoint, so that a checkpoint costs what changed since the previous
// one instead of an iteration over every entry (incremental checkpoints).
//
// NativeSnapshot is the synchronous part of a checkpoint: it runs on the
// task's goroutine, between two records, and must be cheap (RocksDB flushes
// its memtables and hard-links its live files). Copying the files to
// checkpoint storage happens afterwards on another goroutine, which is why
// the snapshot's files must not change once it returns.
//
// Native snapshots are for checkpoints only. Savepoints use the canonical
// entries (Backend.Snapshot), which every backend reads.
type NativeSnapshotter interface {
	Backend
	// NativeFormat names the file format of the backend's native snapshots,
	// version included ("rocksdb/1"). Only a backend of the same format
	// opens a native snapshot natively; any other restores its entries
	// through ReadNative.
	NativeFormat() string
	// NativeSnapshot writes a consistent snapshot of the backend's current
	// state into dir, which must not exist and belongs to the caller (who
	// removes it once the files are copied).
	NativeSnapshot(id int64, dir string) (*NativeSnapshot, error)
	// OpenNative opens a new backend with opts from native snapshots of the
	// same format, each materialized in its Dir (every file under its Name).
	// opts.Dir must be empty or absent. The first snapshot is the base: its
	// files are linked in and its key groups outside opts.KeyGroups
	// dropped; the entries of opts.KeyGroups in the others are copied in
	// (rescaling). The receiver only lends its shared resources: it may be
	// closed already, and it is not changed.
	OpenNative(opts Options, snaps []NativeSnapshot) (Backend, error)
}

// NativeSnapshot is one backend's snapshot in its own file format.
type NativeSnapshot struct {
	// Format is the NativeFormat of the backend that took it.
	Format string
	// Dir holds the files, each under its Name.
	Dir string
	// KeyGroups is the range of the backend that took it.
	KeyGroups keygroup.Range
	Files     []NativeFile
}

// NativeFile is one file of a native snapshot.
type NativeFile struct {
	// Name is the file's name in the snapshot directory (what the backend
	// expects it to be called when it opens the snapshot).
	Name string
	// Shared is set for an immutable file: a name that is unique across
	// every backend instance and snapshot, so the file is stored once and
	// shared by every checkpoint that holds it. Empty for a file private to
	// this snapshot (it may differ between snapshots under the same Name).
	Shared string
	// Size is the file's size in bytes.
	Size int64
}

// Path is the file's path in the snapshot directory.
func (s *NativeSnapshot) Path(f NativeFile) string { return filepath.Join(s.Dir, f.Name) }

// Size is the total size of the snapshot's files.
func (s *NativeSnapshot) Size() int64 {
	var n int64
	for _, f := range s.Files {
		n += f.Size
	}
	return n
}

// NativeReader reads a native snapshot, materialized in snap.Dir, as
// canonical entries: every live entry of the key groups in opts.KeyGroups
// (opts.MaxParallelism must be the snapshot's; opts.Now is the clock for
// expiry). It must not modify the snapshot's files. Entries are valid only
// during the call of fn.
type NativeReader func(snap NativeSnapshot, opts Options, fn func(e *Entry) error) error

// ErrUnknownNativeFormat is returned by ReadNative for a format no linked
// backend registered (import its package, e.g. engine/state/rocksdb).
var ErrUnknownNativeFormat = errors.New("unknown native snapshot format")

var (
	nativeMu      sync.RWMutex
	nativeReaders = map[string]NativeReader{}
)

// RegisterNativeFormat makes ReadNative able to read snapshots of format.
// A backend package with native snapshots registers its reader when it is
// initialized, so a job can restore a checkpoint taken with that backend
// into any other (heap, for example). Registering a format twice replaces
// the reader.
func RegisterNativeFormat(format string, read NativeReader) {
	nativeMu.Lock()
	defer nativeMu.Unlock()
	nativeReaders[format] = read
}

// NativeFormats lists the registered formats, sorted.
func NativeFormats() []string {
	nativeMu.RLock()
	defer nativeMu.RUnlock()
	out := make([]string, 0, len(nativeReaders))
	for f := range nativeReaders {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// ReadNative calls fn for every live entry of opts.KeyGroups in snap, with
// the reader registered for snap.Format.
func ReadNative(snap NativeSnapshot, opts Options, fn func(e *Entry) error) error {
	nativeMu.RLock()
	read, ok := nativeReaders[snap.Format]
	nativeMu.RUnlock()
	if !ok {
		return fmt.Errorf("reading native snapshot in %s: %w %q (known: %q)", snap.Dir, ErrUnknownNativeFormat, snap.Format, NativeFormats())
	}
	return read(snap, opts, fn)
}

// An IdleWorker is a backend with work it can do while its task waits for
// input: the RocksDB backend writes its state cache's dirty entries back,
// so that later checkpoints need not carry them. Once a task has had no
// input for a while (100 ms), it calls IdleWork instead of blocking; each
// call does a little (a millisecond or so) and says whether work is left.
type IdleWorker interface {
	HasIdleWork() bool
	IdleWork() (more bool, err error)
}
