package rocksdb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/linxGnu/grocksdb"

	"github.com/freshet/freshet/engine/state"
)

// Checkpoint writes a consistent, openable copy of the backend into dir,
// which must not exist, using RocksDB's native checkpoint: memtables are
// flushed and the SST files are hard-linked (copied across file systems);
// the state cache's dirty entries are written to a file beside them
// (dirty.go), not to RocksDB.
// SST files are immutable, so a checkpoint shares every unchanged file with
// the previous one: what an incremental snapshot uploads is the new files.
func (b *Backend) Checkpoint(dir string) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return fmt.Errorf("operator %q: checkpoint: %w", b.opts.Operator, state.ErrClosed)
	}
	if err := b.flushRestore(); err != nil {
		return err
	}
	// The list sequence mark is written only when it moved: an unchanged
	// metadata column family has nothing to flush, which keeps the
	// checkpoint's synchronous part to the states' flushes.
	if b.nextSeq != b.savedSeq {
		if err := b.db.PutCF(b.wo, b.meta, []byte(metaListSeq), binary.BigEndian.AppendUint64(nil, b.nextSeq)); err != nil {
			return b.errorf("checkpoint to "+dir, err)
		}
		b.savedSeq = b.nextSeq
	}
	cp, err := b.db.NewCheckpoint()
	if err != nil {
		return b.errorf("checkpoint to "+dir, err)
	}
	defer cp.Destroy()
	// 0: always flush memtables first; without a WAL they are otherwise lost.
	if err := cp.CreateCheckpoint(dir, 0); err != nil {
		return b.errorf("checkpoint to "+dir, err)
	}
	// The state cache's dirty entries go beside RocksDB's files (dirty.go).
	return b.writeDirty(dir)
}

// OpenCheckpoint opens a backend in opts.Dir from checkpoint directories made
// by Checkpoint, possibly of several subtasks of another parallelism. The
// first directory's files are hard-linked (or copied) into opts.Dir and
// opened; key groups outside opts.KeyGroups are dropped. Entries of
// opts.KeyGroups in the other directories are copied in. The checkpoint
// directories are never modified.
func OpenCheckpoint(opts state.Options, res *SharedResources, dirs ...string) (*Backend, error) {
	if err := checkOptions(opts, res); err != nil {
		return nil, err
	}
	if len(dirs) == 0 {
		return nil, fmt.Errorf("opening RocksDB state of operator %q: no checkpoint directory", opts.Operator)
	}
	wrap := func(err error) error {
		return fmt.Errorf("opening RocksDB state of operator %q from checkpoint %s: %w", opts.Operator, dirs[0], err)
	}
	if entries, err := os.ReadDir(opts.Dir); err == nil && len(entries) > 0 {
		return nil, wrap(fmt.Errorf("%s is not empty", opts.Dir))
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, wrap(err)
	}
	if err := linkOrCopyDir(dirs[0], opts.Dir); err != nil {
		return nil, wrap(err)
	}
	cfOpts := grocksdb.NewDefaultOptions()
	columns, err := grocksdb.ListColumnFamilies(cfOpts, opts.Dir)
	cfOpts.Destroy()
	if err != nil {
		return nil, wrap(err)
	}
	b, err := open(opts, res, columns, true)
	if err != nil {
		return nil, wrap(err)
	}
	if err := b.dropOutside(); err != nil {
		b.Close()
		return nil, wrap(err)
	}
	if err := b.applyDirty(dirs[0]); err != nil {
		b.Close()
		return nil, wrap(err)
	}
	for _, d := range dirs[1:] {
		err := b.importFrom(d)
		if err == nil {
			err = b.applyDirty(d)
		}
		if err != nil {
			b.Close()
			return nil, fmt.Errorf("opening RocksDB state of operator %q: importing checkpoint %s: %w", opts.Operator, d, err)
		}
	}
	return b, nil
}

// dropOutside deletes every key group outside the backend's range.
func (b *Backend) dropOutside() error {
	r, maxPar := b.opts.KeyGroups, b.opts.MaxParallelism
	var ranges [][2][]byte
	if r.Start > 0 {
		ranges = append(ranges, [2][]byte{keyGroupBound(0), keyGroupBound(r.Start)})
	}
	if r.End < maxPar-1 {
		ranges = append(ranges, [2][]byte{keyGroupBound(r.End + 1), keyGroupBound(maxPar)})
	}
	for _, st := range b.all {
		for _, rg := range ranges {
			// Whole SST files first (cheap), then a range tombstone for the rest.
			if err := b.db.DeleteFileInRangeCF(st.cf, grocksdb.Range{Start: rg[0], Limit: rg[1]}); err != nil {
				return b.stateErr("dropping key groups of", st, err)
			}
			if err := b.db.DeleteRangeCF(b.wo, st.cf, rg[0], rg[1]); err != nil {
				return b.stateErr("dropping key groups of", st, err)
			}
		}
	}
	return nil
}

// importFrom copies the entries of the backend's key groups from the
// checkpoint in dir.
func (b *Backend) importFrom(dir string) error {
	opts := grocksdb.NewDefaultOptions()
	defer opts.Destroy()
	columns, err := grocksdb.ListColumnFamilies(opts, dir)
	if err != nil {
		return err
	}
	cfOpts := make([]*grocksdb.Options, len(columns))
	for i := range cfOpts {
		cfOpts[i] = opts
	}
	src, handles, err := grocksdb.OpenDbForReadOnlyColumnFamilies(opts, dir, columns, cfOpts, false)
	if err != nil {
		return err
	}
	byName := map[string]*grocksdb.ColumnFamilyHandle{}
	for i, name := range columns {
		byName[name] = handles[i]
	}
	defer func() {
		for _, h := range handles {
			h.Destroy()
		}
		src.Close()
	}()
	kinds, seq, err := readMeta(src, byName[defaultColumnName], b.ro, b.opts.MaxParallelism)
	if err != nil {
		return err
	}
	b.nextSeq = max(b.nextSeq, seq)
	for name, kind := range kinds {
		cf, ok := byName[cfPrefix+name]
		if !ok {
			return fmt.Errorf("%w: state %q has no column family", ErrCorrupt, name)
		}
		st, err := b.stateFor(name, kind)
		if err != nil {
			return err
		}
		if err := b.copyRange(src, cf, st); err != nil {
			return b.stateErr("importing", st, err)
		}
	}
	return nil
}

// copyRange copies the entries of the backend's key groups from src's cf.
func (b *Backend) copyRange(src *grocksdb.DB, cf *grocksdb.ColumnFamilyHandle, st *rstate) error {
	b.dropFilter(st) // the keys imported are not recorded
	end := keyGroupBound(b.opts.KeyGroups.End + 1)
	it := src.NewIteratorCF(b.scanRO, cf)
	defer it.Close()
	w := b.newImportBatch()
	defer w.wb.Destroy()
	for it.Seek(keyGroupBound(b.opts.KeyGroups.Start)); it.Valid(); it.Next() {
		k, v := it.Key().Data(), it.Value().Data()
		if bytes.Compare(k, end) >= 0 {
			break
		}
		w.wb.PutCF(st.cf, k, v)
		if err := w.added(len(k) + len(v)); err != nil {
			return err
		}
	}
	if err := it.Err(); err != nil {
		return err
	}
	return w.flush()
}

// importBatch writes what an import adds to it in batches of about
// importBatchBytes.
type importBatch struct {
	b    *Backend
	wb   *grocksdb.WriteBatch
	size int
}

func (b *Backend) newImportBatch() *importBatch {
	return &importBatch{b: b, wb: grocksdb.NewWriteBatch()}
}

// added counts an entry of n bytes just put in (or deleted through) wb and
// writes the batch once it is full.
func (w *importBatch) added(n int) error {
	if w.size += n; w.size < importBatchBytes {
		return nil
	}
	return w.flush()
}

// flush writes the batch.
func (w *importBatch) flush() error {
	if err := w.b.db.Write(w.b.wo, w.wb); err != nil {
		return err
	}
	w.wb.Clear()
	w.size = 0
	return nil
}

// linkOrCopyDir fills dst with the files of the checkpoint in src: SST files
// are immutable and hard-linked when possible; the rest (manifest, options,
// CURRENT) is copied, since the opened database rewrites it.
func linkOrCopyDir(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || name == "LOCK" || strings.HasPrefix(name, "LOG") || name == dirtyFile {
			continue // the dirty entries are applied, not kept (dirty.go)
		}
		from, to := filepath.Join(src, name), filepath.Join(dst, name)
		if strings.HasSuffix(name, ".sst") {
			err := os.Link(from, to)
			if err == nil {
				continue
			}
			if !errors.Is(err, syscall.EXDEV) {
				return err
			}
		}
		if err := copyFile(from, to); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(from, to string) (err error) {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}()
	_, err = io.Copy(out, in)
	return err
}
