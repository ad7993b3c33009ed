package rocksdb

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/linxGnu/grocksdb"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/state"
	"github.com/freshet/freshet/engine/state/internal/keyed"
)

// NativeFormat is the format of the backend's native snapshots: a RocksDB
// checkpoint of a database in Freshet's layout (format version 1).
const NativeFormat = "rocksdb/" + formatVersion

var _ state.NativeSnapshotter = (*Backend)(nil)

func init() { state.RegisterNativeFormat(NativeFormat, ReadNative) }

// NativeFormat implements state.NativeSnapshotter.
func (b *Backend) NativeFormat() string { return NativeFormat }

// NativeSnapshot implements state.NativeSnapshotter with Checkpoint: the
// memtables are flushed and the live SST files hard-linked into dir, so
// its cost is the flush, not the size of the state.
//
// SST files are immutable and become shared files named
// "<instance>-<file>.sst", where instance is random per opened backend
// (RocksDB numbers files per database, and a database reopened from a
// checkpoint continues a numbering an earlier attempt may also have
// continued). Files inherited from the snapshot the backend was opened
// from keep their shared names, so a checkpoint after a restore shares
// them with the checkpoint restored from. Everything else (MANIFEST,
// CURRENT, OPTIONS) is private to the snapshot.
func (b *Backend) NativeSnapshot(id int64, dir string) (*state.NativeSnapshot, error) {
	if err := b.Checkpoint(dir); err != nil {
		return nil, fmt.Errorf("native snapshot %d: %w", id, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, b.errorf(fmt.Sprintf("native snapshot %d: listing %s", id, dir), err)
	}
	if b.instance == "" {
		var r [12]byte
		if _, err := rand.Read(r[:]); err != nil {
			return nil, b.errorf("native snapshot: naming the instance", err)
		}
		b.instance = hex.EncodeToString(r[:])
	}
	snap := &state.NativeSnapshot{Format: NativeFormat, Dir: dir, KeyGroups: b.opts.KeyGroups, Files: make([]state.NativeFile, 0, len(entries))}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			return nil, b.errorf(fmt.Sprintf("native snapshot %d", id), fmt.Errorf("%s/%s is not a regular file", dir, e.Name()))
		}
		info, err := e.Info()
		if err != nil {
			return nil, b.errorf(fmt.Sprintf("native snapshot %d", id), err)
		}
		f := state.NativeFile{Name: e.Name(), Size: info.Size()}
		if strings.HasSuffix(f.Name, ".sst") {
			f.Shared = b.sharedNames[f.Name]
			if f.Shared == "" {
				f.Shared = b.instance + "-" + f.Name
			}
		}
		snap.Files = append(snap.Files, f)
	}
	return snap, nil
}

// OpenNative implements state.NativeSnapshotter: OpenNative with b's
// shared resources.
func (b *Backend) OpenNative(opts state.Options, snaps []state.NativeSnapshot) (state.Backend, error) {
	nb, err := OpenNative(opts, b.res, snaps)
	if err != nil {
		return nil, err
	}
	return nb, nil
}

// OpenNative opens a backend in opts.Dir from native snapshots made by
// NativeSnapshot and materialized in their Dirs, like OpenCheckpoint: the
// first is linked in and cut to opts.KeyGroups, the entries of
// opts.KeyGroups in the others are copied in. The files inherited from the
// first keep their shared names in later snapshots.
func OpenNative(opts state.Options, res *SharedResources, snaps []state.NativeSnapshot) (*Backend, error) {
	if len(snaps) == 0 {
		return nil, fmt.Errorf("opening RocksDB state of operator %q: no native snapshot", opts.Operator)
	}
	dirs := make([]string, len(snaps))
	for i, s := range snaps {
		if s.Format != NativeFormat {
			return nil, fmt.Errorf("opening RocksDB state of operator %q from %s: format %q, want %q", opts.Operator, s.Dir, s.Format, NativeFormat)
		}
		dirs[i] = s.Dir
	}
	b, err := OpenCheckpoint(opts, res, dirs...)
	if err != nil {
		return nil, err
	}
	b.sharedNames = make(map[string]string, len(snaps[0].Files))
	for _, f := range snaps[0].Files {
		if f.Shared != "" {
			b.sharedNames[f.Name] = f.Shared
		}
	}
	return b, nil
}

// ReadNative is the state.NativeReader of NativeFormat: it opens the
// snapshot read-only and emits the live entries of opts.KeyGroups, state
// by state (sorted by name) in key order.
func ReadNative(snap state.NativeSnapshot, opts state.Options, fn func(e *state.Entry) error) error {
	wrap := func(err error) error {
		return fmt.Errorf("reading RocksDB native snapshot of operator %q in %s: %w", opts.Operator, snap.Dir, err)
	}
	if err := keyed.CheckOptions(opts); err != nil {
		return wrap(err)
	}
	if snap.Format != NativeFormat {
		return wrap(fmt.Errorf("format %q, want %q", snap.Format, NativeFormat))
	}
	dbOpts := grocksdb.NewDefaultOptions()
	defer dbOpts.Destroy()
	columns, err := grocksdb.ListColumnFamilies(dbOpts, snap.Dir)
	if err != nil {
		return wrap(err)
	}
	cfOpts := make([]*grocksdb.Options, len(columns))
	for i := range cfOpts {
		cfOpts[i] = dbOpts
	}
	db, handles, err := grocksdb.OpenDbForReadOnlyColumnFamilies(dbOpts, snap.Dir, columns, cfOpts, false)
	if err != nil {
		return wrap(err)
	}
	ro := grocksdb.NewDefaultReadOptions()
	ro.SetFillCache(false)
	defer func() {
		ro.Destroy()
		for _, h := range handles {
			h.Destroy()
		}
		db.Close()
	}()
	byName := map[string]*grocksdb.ColumnFamilyHandle{}
	for i, name := range columns {
		byName[name] = handles[i]
	}
	kinds, _, err := readMeta(db, byName[defaultColumnName], ro, opts.MaxParallelism)
	if err != nil {
		return wrap(err)
	}
	names := make([]string, 0, len(kinds))
	for name := range kinds {
		names = append(names, name)
	}
	sort.Strings(names)
	dirty, err := readDirty(snap.Dir)
	if err != nil {
		return wrap(err)
	}
	now := keyed.Clock(opts)().UnixMilli()
	start, end := keyGroupBound(opts.KeyGroups.Start), keyGroupBound(opts.KeyGroups.End+1)
	for _, name := range names {
		cf, ok := byName[cfPrefix+name]
		if !ok {
			return wrap(fmt.Errorf("%w: state %q has no column family", ErrCorrupt, name))
		}
		if err := readRange(db, cf, ro, name, kinds[name], start, end, now, dirtyOf(dirty, name), fn); err != nil {
			return wrap(fmt.Errorf("state %q: %w", name, err))
		}
	}
	return nil
}

// readRange emits the live entries of cf in [start, end), with the dirty
// entries over (sorted by key) taking the place of RocksDB's.
func readRange(db *grocksdb.DB, cf *grocksdb.ColumnFamilyHandle, ro *grocksdb.ReadOptions, name string, kind api.StateKind, start, end []byte, now int64, over []dirtyEntry, fn func(e *state.Entry) error) error {
	it := db.NewIteratorCF(ro, cf)
	defer it.Close()
	e := state.Entry{State: name, Kind: kind}
	emit := func(k, v []byte) error {
		kg, key, ns, uk, err := decodeKey(kind, k)
		if err != nil {
			return err
		}
		exp, val, err := splitValue(v)
		if err != nil {
			return err
		}
		if keyed.Expired(exp, now) {
			return nil
		}
		e.KeyGroup, e.Key, e.Namespace, e.UserKey, e.Value, e.ExpiresAt = kg, key, ns, uk, val, exp
		return fn(&e)
	}
	for len(over) > 0 && bytes.Compare(over[0].key, start) < 0 {
		over = over[1:]
	}
	// emitOver emits the dirty entries before k (all of them for nil).
	emitOver := func(k []byte) error {
		for ; len(over) > 0 && (k == nil || bytes.Compare(over[0].key, k) < 0); over = over[1:] {
			if d := over[0]; d.present && bytes.Compare(d.key, end) < 0 {
				if err := emit(d.key, d.val); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for it.Seek(start); it.Valid(); it.Next() {
		k, v := it.Key().Data(), it.Value().Data()
		if bytes.Compare(k, end) >= 0 {
			break
		}
		if err := emitOver(k); err != nil {
			return err
		}
		if len(over) > 0 && bytes.Equal(over[0].key, k) {
			continue // the dirty entry replaces it: emitted (or deleted) next
		}
		if err := emit(k, v); err != nil {
			return err
		}
	}
	if err := it.Err(); err != nil {
		return err
	}
	return emitOver(nil)
}
