package rocksdb_test

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/freshet/freshet/engine/api"
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

// Hot keys are read and written in the cache; RocksDB sees them at the
// checkpoint, which holds the latest values.
func TestStateCacheWritesHotKeysBackAtCheckpoints(t *testing.T) {
	res := cacheResources(t, 8<<20)
	b := open(t, res, options(t, all, nil))
	v, err := b.Value(api.StateDescriptor{Name: "count"})
	must(t, err)
	const keys, rounds = 100, 500
	for r := 0; r < rounds; r++ {
		for k := 0; k < keys; k++ {
			increment(t, b, v, []byte(fmt.Sprint("key", k)))
		}
	}
	s := b.Stats()
	if s.Writes != 0 || s.CacheMisses != keys || s.CacheHits != keys*rounds-keys {
		t.Fatalf("%d updates of %d keys: %d RocksDB writes, %d cache hits, %d misses; want 0, %d, %d",
			keys*rounds, keys, s.Writes, s.CacheHits, s.CacheMisses, keys*rounds-keys, keys)
	}
	cp := filepath.Join(t.TempDir(), "cp")
	must(t, b.Checkpoint(cp))
	if s := b.Stats(); s.CacheWrittenBack != keys {
		t.Fatalf("checkpoint wrote %d cached entries back, want %d", s.CacheWrittenBack, keys)
	}
	// More updates after the checkpoint must not leak into it.
	increment(t, b, v, []byte("key0"))
	r := openCheckpoint(t, res, options(t, all, nil), cp)
	rv, err := r.Value(api.StateDescriptor{Name: "count"})
	must(t, err)
	for k := 0; k < keys; k++ {
		if got := counter(t, r, rv, []byte(fmt.Sprint("key", k))); got != rounds {
			t.Fatalf("restored key%d = %d, want %d", k, got, rounds)
		}
	}
	if got := counter(t, b, v, []byte("key0")); got != rounds+1 {
		t.Fatalf("key0 = %d after the checkpoint, want %d", got, rounds+1)
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

// Dirty entries are written back once there are more than 8192,
// which bounds what a checkpoint's synchronous part writes.
func TestStateCacheBoundsDirtyEntries(t *testing.T) {
	res := cacheResources(t, 64<<20)
	b := open(t, res, options(t, all, nil))
	v, err := b.Value(api.StateDescriptor{Name: "count"})
	must(t, err)
	for k := 0; k < 40000; k++ {
		increment(t, b, v, []byte(fmt.Sprint("key", k)))
	}
	s := b.Stats()
	if s.CacheWrittenBack < 32768 || s.CacheWrittenBack > 40000 {
		t.Fatalf("40000 new keys in a large cache: %d written back, want between 32768 and 40000 (written back every 8192)", s.CacheWrittenBack)
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
