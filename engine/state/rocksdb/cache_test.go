package rocksdb_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/keygroup"
	"github.com/freshet/freshet/engine/state"
	"github.com/freshet/freshet/engine/state/rocksdb"
)

func cacheResources(t *testing.T, size int64) *rocksdb.SharedResources {
	t.Helper()
	cfg := testConfig()
	cfg.StateCacheSize = size
	res, err := rocksdb.NewSharedResources(cfg)
	must(t, err)
	t.Cleanup(func() { res.Close() })
	return res
}

func increment(t testing.TB, b *rocksdb.Backend, v api.ValueState, key []byte) {
	b.SetCurrentKey(key)
	cur, ok, err := v.Get()
	must(t, err)
	var n uint64
	if ok {
		n = binary.BigEndian.Uint64(cur)
	}
	must(t, v.Put(binary.BigEndian.AppendUint64(nil, n+1)))
}

func counter(t testing.TB, b *rocksdb.Backend, v api.ValueState, key []byte) uint64 {
	b.SetCurrentKey(key)
	cur, ok, err := v.Get()
	must(t, err)
	if !ok {
		return 0
	}
	return binary.BigEndian.Uint64(cur)
}

// Hot keys are read and written in the cache. A checkpoint writes the
// dirty entries to a file beside RocksDB's instead of writing them to
// RocksDB; opening the checkpoint (whole or a part of its key groups) and
// reading it as a native snapshot see the latest values, deletions
// included, and nothing written after it.
func TestStateCacheCheckpointsDirtyEntriesBesideRocksDB(t *testing.T) {
	res := cacheResources(t, 8<<20)
	b := open(t, res, options(t, all, nil))
	v, err := b.Value(api.StateDescriptor{Name: "count"})
	must(t, err)
	// "gone" reaches RocksDB (a snapshot writes the cache back), then is
	// cleared: only the dirty file knows it is deleted.
	b.SetCurrentKey([]byte("gone"))
	must(t, v.Put([]byte("12345678")))
	must(t, b.Snapshot(func(*state.Entry) error { return nil }))
	b.SetCurrentKey([]byte("gone"))
	must(t, v.Clear())
	const keys, rounds = 100, 500
	for r := 0; r < rounds; r++ {
		for k := 0; k < keys; k++ {
			increment(t, b, v, []byte(fmt.Sprint("key", k)))
		}
	}
	before := b.Stats()
	if before.CacheMisses != keys || before.CacheHits != keys*rounds-keys {
		t.Fatalf("%d updates of %d keys: %d cache hits, %d misses; want %d, %d",
			keys*rounds, keys, before.CacheHits, before.CacheMisses, keys*rounds-keys, keys)
	}
	snap, err := b.NativeSnapshot(1, filepath.Join(t.TempDir(), "cp"))
	must(t, err)
	if s := b.Stats(); s.CacheWrittenBack != before.CacheWrittenBack || s.Writes != before.Writes {
		t.Fatalf("checkpoint wrote %d cached entries back in %d writes, want none",
			s.CacheWrittenBack-before.CacheWrittenBack, s.Writes-before.Writes)
	}
	if _, err := os.Stat(filepath.Join(snap.Dir, "FRESHET-DIRTY")); err != nil {
		t.Fatalf("no dirty-entries file in the checkpoint: %v", err)
	}
	// More updates after the checkpoint must not leak into it.
	increment(t, b, v, []byte("key0"))
	r := openCheckpoint(t, res, options(t, all, nil), snap.Dir)
	rv, err := r.Value(api.StateDescriptor{Name: "count"})
	must(t, err)
	for k := 0; k < keys; k++ {
		if got := counter(t, r, rv, []byte(fmt.Sprint("key", k))); got != rounds {
			t.Fatalf("restored key%d = %d, want %d", k, got, rounds)
		}
	}
	r.SetCurrentKey([]byte("gone"))
	if _, ok, err := rv.Get(); err != nil || ok {
		t.Fatalf("restored the deleted key: ok=%v err=%v", ok, err)
	}
	if got := counter(t, b, v, []byte("key0")); got != rounds+1 {
		t.Fatalf("key0 = %d after the checkpoint, want %d", got, rounds+1)
	}
	// Read as a native snapshot, in two halves of the key groups.
	halves := []keygroup.Range{{Start: 0, End: maxPar/2 - 1}, {Start: maxPar / 2, End: maxPar - 1}}
	got := map[string]uint64{}
	for _, h := range halves {
		n := 0
		must(t, state.ReadNative(*snap, options(t, h, nil), func(e *state.Entry) error {
			if !h.Contains(e.KeyGroup) {
				t.Fatalf("entry of key group %d read for key groups %v", e.KeyGroup, h)
			}
			got[string(e.Key)] = binary.BigEndian.Uint64(e.Value)
			n++
			return nil
		}))
		if n == 0 {
			t.Fatalf("no entries in key groups %v", h)
		}
		// Opened for a part of the key groups (a rescale), the part's
		// dirty entries are applied.
		part := openCheckpoint(t, res, options(t, h, nil), snap.Dir)
		pv, err := part.Value(api.StateDescriptor{Name: "count"})
		must(t, err)
		for k := 0; k < keys; k++ {
			key := fmt.Sprint("key", k)
			if !h.Contains(keyGroupOf(key)) {
				continue
			}
			if got := counter(t, part, pv, []byte(key)); got != rounds {
				t.Fatalf("key groups %v: restored %s = %d, want %d", h, key, got, rounds)
			}
		}
	}
	if len(got) != keys {
		t.Fatalf("native snapshot read %d entries, want %d (without the deleted one)", len(got), keys)
	}
	for k, n := range got {
		if n != rounds {
			t.Fatalf("native snapshot: %s = %d, want %d", k, n, rounds)
		}
	}
}

// Many more keys than the cache holds: it stays within its budget, evicts
// and writes back, and every value survives.
func TestStateCacheEvictsWithinItsBudget(t *testing.T) {
	const budget = 256 << 10
	res := cacheResources(t, budget)
	b := open(t, res, options(t, all, nil))
	v, err := b.Value(api.StateDescriptor{Name: "count"})
	must(t, err)
	const keys = 20000
	peak := int64(0)
	for r := 0; r < 3; r++ {
		for k := 0; k < keys; k++ {
			increment(t, b, v, []byte(fmt.Sprint("key", k)))
			if k%500 == 0 {
				peak = max(peak, b.Stats().CacheBytes)
			}
		}
	}
	s := b.Stats()
	if peak > budget || peak < budget/2 {
		t.Fatalf("cache peaked at %d bytes for a budget of %d", peak, budget)
	}
	if s.CacheWrittenBack < keys || s.Writes == 0 {
		t.Fatalf("%d keys through a small cache: %d entries written back in %d writes", keys, s.CacheWrittenBack, s.Writes)
	}
	for k := 0; k < keys; k++ {
		if got := counter(t, b, v, []byte(fmt.Sprint("key", k))); got != 3 {
			t.Fatalf("key%d = %d, want 3", k, got)
		}
	}
}

// Dirty entries are written back once they pass a quarter of the cache's
// budget (at least 2 MiB), which bounds what a checkpoint's dirty file
// holds.
func TestStateCacheBoundsDirtyEntries(t *testing.T) {
	res := cacheResources(t, 8<<20)
	b := open(t, res, options(t, all, nil))
	v, err := b.Value(api.StateDescriptor{Name: "count"})
	must(t, err)
	const keys = 60000
	for k := 0; k < keys; k++ {
		increment(t, b, v, []byte(fmt.Sprint("key", k)))
	}
	if s := b.Stats(); s.CacheWrittenBack == 0 {
		t.Fatalf("%d new keys: nothing written back", keys)
	}
	dir := filepath.Join(t.TempDir(), "cp")
	must(t, b.Checkpoint(dir))
	info, err := os.Stat(filepath.Join(dir, "FRESHET-DIRTY"))
	must(t, err)
	if info.Size() > 2<<20 { // a quarter of 8 MiB
		t.Fatalf("dirty-entries file of %d bytes, want at most 2 MiB", info.Size())
	}
}

func TestStateCacheHitsAllocateNothing(t *testing.T) {
	res := cacheResources(t, 8<<20)
	b := open(t, res, options(t, all, nil))
	v, err := b.Value(api.StateDescriptor{Name: "count"})
	must(t, err)
	agg, err := b.Reducing(api.StateDescriptor{Name: "sum", Reduce: func(a, c, dst []byte) []byte {
		return binary.BigEndian.AppendUint64(dst, binary.BigEndian.Uint64(a)+binary.BigEndian.Uint64(c))
	}})
	must(t, err)
	keys := make([][]byte, 64)
	for i := range keys {
		keys[i] = []byte(fmt.Sprint("key", i))
	}
	one := binary.BigEndian.AppendUint64(nil, 1)
	var buf [8]byte
	i := 0
	allocs := testing.AllocsPerRun(10000, func() {
		b.SetCurrentKey(keys[i%len(keys)])
		i++
		cur, ok, err := v.Get()
		if err != nil {
			t.Fatal(err)
		}
		n := uint64(0)
		if ok {
			n = binary.BigEndian.Uint64(cur)
		}
		binary.BigEndian.PutUint64(buf[:], n+1)
		if err := v.Put(buf[:]); err != nil {
			t.Fatal(err)
		}
		if err := agg.Add(one); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("a cached read-modify-write and reduce allocate %.2f times", allocs)
	}
}

// Values that grow, shrink and are cleared while dirty keep the dirty-byte
// count exact (it bounds what a checkpoint writes back).
func TestStateCacheCountsDirtyBytes(t *testing.T) {
	res := cacheResources(t, 8<<20)
	b := open(t, res, options(t, all, nil))
	v, err := b.Value(api.StateDescriptor{Name: "v"})
	must(t, err)
	check := func(when string) {
		t.Helper()
		if counted, actual := rocksdb.CacheDirty(b); counted != actual {
			t.Fatalf("%s: %d dirty bytes counted, %d dirty", when, counted, actual)
		}
	}
	for round := 0; round < 3; round++ {
		for k := 0; k < 50; k++ {
			b.SetCurrentKey([]byte(fmt.Sprint("key", k)))
			must(t, v.Put(make([]byte, 10)))
			must(t, v.Put(make([]byte, 2000))) // grows while dirty
			if k%3 == 0 {
				must(t, v.Clear()) // shrinks to nothing while dirty
			}
		}
		check(fmt.Sprint("round ", round))
		must(t, b.Checkpoint(filepath.Join(t.TempDir(), "cp")))
		check(fmt.Sprint("after checkpoint ", round))
	}
}

// A state this backend created knows which keys RocksDB was given: a miss
// on a key never written is answered absent without a RocksDB read, one on
// a key written back (or restored) still reads RocksDB, and deleting a key
// RocksDB never held writes nothing.
func TestStateCacheFilterAnswersKeysNeverWritten(t *testing.T) {
	res := cacheResources(t, 256<<10) // evicts: later rounds read RocksDB
	b := open(t, res, options(t, all, nil))
	v, err := b.Value(api.StateDescriptor{Name: "count"})
	must(t, err)
	const keys = 20000
	for k := 0; k < keys; k++ {
		increment(t, b, v, []byte(fmt.Sprint("key", k)))
	}
	// Keys written back meanwhile fill the filter: a few of the later new
	// keys are false positives, read from RocksDB.
	first := b.Stats()
	if s := first; s.CacheMisses != keys || s.Reads+s.CacheFiltered != keys || s.Reads > keys/50 {
		t.Fatalf("%d new keys: %d misses, %d RocksDB reads and %d misses filtered; want %d misses, at most %d reads, the rest filtered", keys, s.CacheMisses, s.Reads, s.CacheFiltered, keys, keys/50)
	}
	for k := 0; k < keys; k++ {
		increment(t, b, v, []byte(fmt.Sprint("key", k)))
	}
	for k := 0; k < keys; k++ {
		if got := counter(t, b, v, []byte(fmt.Sprint("key", k))); got != 2 {
			t.Fatalf("key%d = %d after two increments through a small cache", k, got)
		}
	}
	if s := b.Stats(); s.CacheFiltered != first.CacheFiltered || s.Reads < keys {
		t.Fatalf("keys written back: %d reads, %d filtered misses (want reads, and no more filtered than the first %d)", s.Reads, s.CacheFiltered, first.CacheFiltered)
	}

	// A key put and cleared between write-backs never reaches RocksDB.
	big := open(t, cacheResources(t, 8<<20), options(t, all, nil))
	bv, err := big.Value(api.StateDescriptor{Name: "count"})
	must(t, err)
	for k := 0; k < 100; k++ {
		big.SetCurrentKey([]byte(fmt.Sprint("tmp", k)))
		must(t, bv.Put([]byte("x")))
		must(t, bv.Clear())
	}
	must(t, big.Checkpoint(filepath.Join(t.TempDir(), "cp")))
	if s := big.Stats(); s.Writes != 0 {
		t.Fatalf("100 keys put and cleared before the checkpoint: %d RocksDB writes, want 0", s.Writes)
	}

	// Restored keys are known to RocksDB: a read after Restore finds them.
	snap := map[string]uint64{}
	must(t, b.Snapshot(func(e *state.Entry) error {
		snap[string(e.Key)] = binary.BigEndian.Uint64(e.Value)
		return nil
	}))
	if len(snap) != keys {
		t.Fatalf("snapshot has %d keys, want %d", len(snap), keys)
	}
	r := open(t, res, options(t, all, nil))
	must(t, b.Snapshot(r.Restore))
	rv, err := r.Value(api.StateDescriptor{Name: "count"})
	must(t, err)
	for k := 0; k < keys; k += 7 {
		if got := counter(t, r, rv, []byte(fmt.Sprint("key", k))); got != 2 {
			t.Fatalf("restored key%d = %d, want 2", k, got)
		}
	}
}

func keyGroupOf(key string) int { return keygroup.Of([]byte(key), maxPar) }

// Checkpoints of two subtasks opened as one (a rescale to parallelism 1)
// apply both dirty-entries files.
func TestStateCacheDirtyEntriesOfMergedCheckpoints(t *testing.T) {
	res := cacheResources(t, 8<<20)
	halves := []keygroup.Range{{Start: 0, End: maxPar/2 - 1}, {Start: maxPar / 2, End: maxPar - 1}}
	var dirs []string
	want := map[string]uint64{}
	for _, h := range halves {
		b := open(t, res, options(t, h, nil))
		v, err := b.Value(api.StateDescriptor{Name: "count"})
		must(t, err)
		for k := 0; k < 200; k++ {
			key := fmt.Sprint("key", k)
			if !h.Contains(keyGroupOf(key)) {
				continue
			}
			for range k%3 + 1 {
				increment(t, b, v, []byte(key))
			}
			want[key] = uint64(k%3 + 1)
		}
		dir := filepath.Join(t.TempDir(), "cp")
		must(t, b.Checkpoint(dir))
		if _, err := os.Stat(filepath.Join(dir, "FRESHET-DIRTY")); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, dir)
	}
	r := openCheckpoint(t, res, options(t, all, nil), dirs...)
	v, err := r.Value(api.StateDescriptor{Name: "count"})
	must(t, err)
	for key, n := range want {
		if got := counter(t, r, v, []byte(key)); got != n {
			t.Fatalf("merged %s = %d, want %d", key, got, n)
		}
	}
}

// A damaged dirty-entries file fails the restore, naming the file.
func TestStateCacheDamagedDirtyEntries(t *testing.T) {
	res := cacheResources(t, 8<<20)
	b := open(t, res, options(t, all, nil))
	v, err := b.Value(api.StateDescriptor{Name: "count"})
	must(t, err)
	increment(t, b, v, []byte("a"))
	dir := filepath.Join(t.TempDir(), "cp")
	must(t, b.Checkpoint(dir))
	path := filepath.Join(dir, "FRESHET-DIRTY")
	data, err := os.ReadFile(path)
	must(t, err)
	data[len(data)/2] ^= 0xff
	must(t, os.WriteFile(path, data, 0o644))
	_, err = rocksdb.OpenCheckpoint(options(t, all, nil), res, dir)
	if !errors.Is(err, rocksdb.ErrCorrupt) || !strings.Contains(err.Error(), path) {
		t.Fatalf("open with a damaged dirty-entries file: %v, want ErrCorrupt naming %s", err, path)
	}
}

// Backends share the state cache's budget: a busy one grows into the room
// an idle one leaves, and gives it back (down to its equal share) once the
// other needs it.
func TestStateCacheBudgetIsShared(t *testing.T) {
	const budget = 4 << 20
	res := cacheResources(t, budget)
	busy := open(t, res, options(t, all, nil))
	idle := open(t, res, options(t, all, nil))
	bv, err := busy.Value(api.StateDescriptor{Name: "count"})
	must(t, err)
	iv, err := idle.Value(api.StateDescriptor{Name: "count"})
	must(t, err)
	increment(t, idle, iv, []byte("only"))
	fill := func(b *rocksdb.Backend, v api.ValueState, prefix string) {
		for k := 0; k < 60000; k++ {
			increment(t, b, v, []byte(fmt.Sprint(prefix, k)))
		}
	}
	fill(busy, bv, "a")
	if got := busy.Stats().CacheBytes; got < budget*3/4 || got > budget {
		t.Fatalf("busy cache beside an idle one holds %d bytes, want most of the %d shared", got, budget)
	}
	fill(idle, iv, "b")
	increment(t, busy, bv, []byte("one more")) // the busy one shrinks at its next insertion
	b, i := busy.Stats().CacheBytes, idle.Stats().CacheBytes
	if b+i > budget+budget/8 || i < budget/2*3/4 || b < budget/2*3/4 {
		t.Fatalf("two busy caches hold %d and %d bytes, want about half each of %d", b, i, budget)
	}
}

// IdleWork writes the dirty entries back a slice at a time until none is
// left; the next checkpoint then carries no dirty-entries file.
func TestStateCacheIdleWorkWritesDirtyEntriesBack(t *testing.T) {
	res := cacheResources(t, 8<<20)
	b := open(t, res, options(t, all, nil))
	v, err := b.Value(api.StateDescriptor{Name: "count"})
	must(t, err)
	const keys = 2000
	for k := 0; k < keys; k++ {
		increment(t, b, v, []byte(fmt.Sprint("key", k)))
	}
	calls := 0
	for more := true; more; calls++ {
		if more, err = b.IdleWork(); err != nil {
			t.Fatal(err)
		}
	}
	if calls != keys/512+1 || b.Stats().CacheWrittenBack != keys {
		t.Fatalf("%d dirty entries: %d calls, %d written back; want %d calls writing every entry", keys, calls, b.Stats().CacheWrittenBack, keys/512+1)
	}
	if more, err := b.IdleWork(); more || err != nil {
		t.Fatalf("IdleWork with nothing dirty: %v %v", more, err)
	}
	dir := filepath.Join(t.TempDir(), "cp")
	must(t, b.Checkpoint(dir))
	if _, err := os.Stat(filepath.Join(dir, "FRESHET-DIRTY")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a checkpoint after the idle write-back has a dirty-entries file: %v", err)
	}
	r := openCheckpoint(t, res, options(t, all, nil), dir)
	rv, err := r.Value(api.StateDescriptor{Name: "count"})
	must(t, err)
	for k := 0; k < keys; k += 13 {
		if got := counter(t, r, rv, []byte(fmt.Sprint("key", k))); got != 1 {
			t.Fatalf("restored key%d = %d, want 1", k, got)
		}
	}
}

// A state's key filter counts in the state cache's memory: it is there
// before any entry, grows with the keys written back, and leaves with the
// filter.
func TestStateCacheCountsItsKeyFilters(t *testing.T) {
	res := cacheResources(t, 8<<20)
	b := open(t, res, options(t, all, nil))
	v, err := b.Value(api.StateDescriptor{Name: "count"})
	must(t, err)
	empty := b.Stats().CacheBytes
	if empty < 16<<10 {
		t.Fatalf("a new state's cache accounts %d bytes, want its key filter's (~19 KiB)", empty)
	}
	for k := 0; k < 40000; k++ { // past the filter's first part of 16 Ki keys
		increment(t, b, v, []byte(fmt.Sprint("key", k)))
	}
	before := b.Stats().CacheBytes
	// Writing every key back changes no entry's size; the filter, given
	// 40000 keys, adds a part for 64 Ki keys (~77 KiB).
	must(t, b.Snapshot(func(*state.Entry) error { return nil }))
	if grew := b.Stats().CacheBytes - before; grew < 64<<10 || grew > 128<<10 {
		t.Fatalf("writing 40000 keys back grew the cache's accounted memory by %d bytes, want the filter's new part (~77 KiB)", grew)
	}
}
