package rocksdb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/cespare/xxhash/v2"

	"github.com/freshet/freshet/engine/api"
)

// A checkpoint does not write the state cache's dirty entries back to
// RocksDB: that costs a RocksDB write per entry (about a microsecond each
// with Debian's library, plus the memtable flushes and compactions they
// cause) while the barrier waits, and again at every checkpoint for a key
// that stays dirty. Instead the checkpoint directory gets a file of its
// own, dirtyFile, beside RocksDB's files: the entries that differ from what
// RocksDB holds, as the cache has them (a value, or a deletion), copied
// out of the cache (tens of nanoseconds each). They stay dirty and reach
// RocksDB when they are evicted or when they pass their bound
// (dirtyLimit), which also bounds the file: every checkpoint carries the
// entries dirty at its barrier, at most a quarter of the cache.
//
// Whoever reads a checkpoint applies the file over the RocksDB files:
// OpenCheckpoint writes the entries of its key groups into the opened
// database (of the first directory and of every imported one), and
// ReadNative merges them into the entries it emits.
//
// Layout: "FRDY" and a version byte; the states (uvarint count, then each
// name as uvarint length + bytes and its kind as a byte); the entries, in
// no order (a uvarint state index + 1, the key as uvarint length +
// bytes, a byte 1 for a value or 0 for a deletion and, for a value, the
// stored value — expiry and payload — as uvarint length + bytes); a 0 index
// ends them; then the xxhash64 of everything before, big-endian.
const (
	dirtyFile    = "FRESHET-DIRTY"
	dirtyMagic   = "FRDY"
	dirtyVersion = 1
)

// dirtyEntry is one entry of a dirty file.
type dirtyEntry struct {
	key, val []byte // val: the stored value (expiry prefix); nil for a deletion
	present  bool
}

// dirtyState is a state's entries in a dirty file.
type dirtyState struct {
	name    string
	kind    api.StateKind
	entries []dirtyEntry
}

// writeDirty writes the cache's dirty entries to dir/dirtyFile; they stay
// dirty. It writes nothing when there are none.
func (b *Backend) writeDirty(dir string) (err error) {
	c := b.cache
	if c == nil || c.ndirty == 0 {
		return nil
	}
	idx := make([]int32, 0, c.ndirty)
	for _, i := range c.dirty {
		if e := c.entry(i); e.st != nil && e.dirty {
			idx = append(idx, i)
		}
	}
	// Not sorted: sorting 200 K entries cost a fifth of a checkpoint's
	// synchronous part; readDirty sorts what it reads (restores are rare).
	index := map[*rstate]uint64{}
	var states []*rstate
	for _, i := range idx {
		if st := c.entry(i).st; index[st] == 0 {
			states = append(states, st)
			index[st] = uint64(len(states))
		}
	}
	buf := make([]byte, 0, c.dirtyBytes+int64(len(idx))*(2*binary.MaxVarintLen32+expiryLen+2)+256)
	buf = append(buf, dirtyMagic...)
	buf = append(buf, dirtyVersion)
	buf = binary.AppendUvarint(buf, uint64(len(states)))
	for _, st := range states {
		buf = binary.AppendUvarint(buf, uint64(len(st.name)))
		buf = append(buf, st.name...)
		buf = append(buf, byte(st.kind))
	}
	for _, i := range idx {
		e := c.entry(i)
		buf = binary.AppendUvarint(buf, index[e.st])
		buf = binary.AppendUvarint(buf, uint64(len(e.key)))
		buf = append(buf, e.key...)
		if e.present {
			buf = append(buf, 1)
			buf = binary.AppendUvarint(buf, uint64(expiryLen+len(e.val)))
			buf = appendValue(buf, e.exp, e.val)
		} else {
			buf = append(buf, 0)
		}
	}
	buf = append(buf, 0)
	buf = binary.BigEndian.AppendUint64(buf, xxhash.Sum64(buf))
	if err := os.WriteFile(filepath.Join(dir, dirtyFile), buf, 0o644); err != nil {
		return b.errorf("checkpoint to "+dir, err)
	}
	return nil
}

// readDirty reads dir/dirtyFile; a checkpoint without one has no dirty
// entries (nil, nil).
func readDirty(dir string) ([]dirtyState, error) {
	path := filepath.Join(dir, dirtyFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	corrupt := func(what string) error {
		return fmt.Errorf("%w: %s: %s", ErrCorrupt, path, what)
	}
	if len(data) < len(dirtyMagic)+1+8 || string(data[:len(dirtyMagic)]) != dirtyMagic {
		return nil, corrupt("not a dirty-entries file")
	}
	body := data[:len(data)-8]
	if xxhash.Sum64(body) != binary.BigEndian.Uint64(data[len(data)-8:]) {
		return nil, corrupt("checksum mismatch")
	}
	if v := body[len(dirtyMagic)]; v != dirtyVersion {
		return nil, corrupt(fmt.Sprintf("version %d, want %d", v, dirtyVersion))
	}
	r := body[len(dirtyMagic)+1:]
	uvarint := func() (uint64, bool) {
		n, w := binary.Uvarint(r)
		if w <= 0 {
			return 0, false
		}
		r = r[w:]
		return n, true
	}
	bytesOf := func() ([]byte, bool) {
		n, ok := uvarint()
		if !ok || n > uint64(len(r)) {
			return nil, false
		}
		v := r[:n]
		r = r[n:]
		return v, true
	}
	n, ok := uvarint()
	if !ok || n > uint64(len(r)) {
		return nil, corrupt("bad state count")
	}
	states := make([]dirtyState, n)
	for i := range states {
		name, ok := bytesOf()
		if !ok || len(r) == 0 {
			return nil, corrupt("bad state name")
		}
		states[i] = dirtyState{name: string(name), kind: api.StateKind(r[0])}
		if !cacheable(states[i].kind) {
			return nil, corrupt(fmt.Sprintf("state %q of kind %d, which the state cache does not hold", name, r[0]))
		}
		r = r[1:]
	}
	for {
		si, ok := uvarint()
		switch {
		case !ok || si > uint64(len(states)):
			return nil, corrupt("bad state index")
		case si == 0:
			if len(r) != 0 {
				return nil, corrupt("bytes after the last entry")
			}
			for _, st := range states {
				slices.SortFunc(st.entries, func(a, b dirtyEntry) int { return bytes.Compare(a.key, b.key) })
			}
			return states, nil
		}
		key, ok := bytesOf()
		if !ok || len(r) == 0 {
			return nil, corrupt("bad key")
		}
		if r[0] > 1 {
			return nil, corrupt("bad entry tag")
		}
		e := dirtyEntry{key: key, present: r[0] == 1}
		r = r[1:]
		if e.present {
			if e.val, ok = bytesOf(); !ok || len(e.val) < expiryLen {
				return nil, corrupt("bad value")
			}
		}
		st := &states[si-1]
		st.entries = append(st.entries, e)
	}
}

// applyDirty writes the dirty entries of dir's checkpoint that fall in the
// backend's key groups into the database.
func (b *Backend) applyDirty(dir string) error {
	states, err := readDirty(dir)
	if err != nil || len(states) == 0 {
		return err
	}
	start, end := keyGroupBound(b.opts.KeyGroups.Start), keyGroupBound(b.opts.KeyGroups.End+1)
	w := b.newImportBatch()
	defer w.wb.Destroy()
	for _, ds := range states {
		st, err := b.stateFor(ds.name, ds.kind)
		if err != nil {
			return err
		}
		for _, e := range ds.entries {
			if bytes.Compare(e.key, start) < 0 || bytes.Compare(e.key, end) >= 0 {
				continue
			}
			if e.present {
				w.wb.PutCF(st.cf, e.key, e.val)
				b.recordKey(st, e.key)
			} else {
				w.wb.DeleteCF(st.cf, e.key)
			}
			if err := w.added(len(e.key) + len(e.val)); err != nil {
				return err
			}
		}
	}
	return w.flush()
}

// dirtyOf returns the entries of state name in states, sorted by key
// (readDirty sorts them).
func dirtyOf(states []dirtyState, name string) []dirtyEntry {
	for _, s := range states {
		if s.name == name {
			return s.entries
		}
	}
	return nil
}
