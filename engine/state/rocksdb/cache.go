package rocksdb

import (
	"bytes"
	"slices"
	"sync/atomic"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/state"

	"github.com/cespare/xxhash/v2"
	"github.com/linxGnu/grocksdb"
)

// The write-back cache keeps recently used entries of value, reducing and
// aggregating states in Go memory, in front of RocksDB: a read of a cached
// key costs a hash lookup instead of a RocksDB Get (a cgo call, a memtable
// and block lookup), and a write only updates the entry. A key that is
// updated over and over (a hot key, a per-window accumulator) is written to
// RocksDB once per checkpoint instead of once per update.
//
// RocksDB always holds every entry that is not dirty in the cache. A
// checkpoint writes the dirty entries to a file of its own beside RocksDB's
// files (dirty.go) and keeps them dirty; canonical snapshots write them
// back first (writeBack); Close discards them.
// Entries of list and map states are not cached: their scans read RocksDB.
//
// Memory: entries are evicted (CLOCK, second chance) to keep the cache
// within its share of Config.StateCacheSize; dirty entries are written back
// in key order, in one batch, when they are evicted or when they pass
// dirtyLimit, which also bounds what a checkpoint's dirty file holds.
type valueCache struct {
	pages  [][]cacheEntry   // entry i is pages[i/pageSize][i%pageSize]
	n      int32            // entries allocated
	index  map[uint64]int32 // hash of (state, key) → entry
	free   []int32
	last   int32 // the entry lookup found last (may be stale: check it)
	hand   int
	bytes  int64 // accounted size of the live entries
	budget func() int64

	// published is bytes as last added to shared, the sum of all caches'
	// sizes the budget is computed from: updated when it drifts by more
	// than publishStep, so that caches on other goroutines rarely touch it.
	published int64
	shared    *atomic.Int64

	dirty      []int32 // entries that became dirty since the last write-back (may be stale)
	ndirty     int
	dirtyBytes int64
	order      []int32 // victims of makeRoom
	batch      []int32 // entries writeEntries writes
	wb         *grocksdb.WriteBatch

	// Read by Stats from other goroutines.
	hits, misses, writtenBack atomic.Uint64
	filtered                  atomic.Uint64 // misses answered by a keyFilter
	usage                     atomic.Int64
}

type cacheEntry struct {
	st   *rstate // nil: a free slot
	hash uint64
	key  []byte
	val  []byte
	exp  int64

	present bool // the key has a value (false: known absent)
	dirty   bool // differs from RocksDB
	ref     bool // used since the clock hand last passed
	inDirty bool // listed in valueCache.dirty
	victim  bool // chosen by makeRoom
}

const (
	// entryOverhead approximates an entry's memory beyond its key and
	// value: the entry itself, its index slot and slice headers.
	entryOverhead = 128
	// The dirty entries are written back once their keys and values, with
	// dirtyEntryCost per entry, pass a quarter of the cache's budget (at
	// least minDirtyBytes): every checkpoint writes them to its dirty file.
	dirtyEntryCost = 16
	minDirtyBytes  = 64 << 10
)

// dirtyLimit is the bound of the dirty entries' bytes.
func (c *valueCache) dirtyLimit() int64 { return max(minDirtyBytes, c.budget()/4) }

// Entries live in pages of pageSize, allocated as the cache grows and
// never moved: growing one slice of them copied (and the GC rescanned)
// every entry at each doubling, half of Nexmark q5's allocations.
const pageSize = 1024

func (c *valueCache) entry(i int32) *cacheEntry { return &c.pages[i/pageSize][i%pageSize] }

func newValueCache(res *SharedResources) *valueCache {
	c := &valueCache{index: make(map[uint64]int32), last: -1, wb: grocksdb.NewWriteBatch(), shared: &res.cached}
	c.budget = func() int64 { return res.cacheBudget(c) }
	return c
}

const publishStep = 256 << 10

// account publishes the cache's size after it changed.
func (c *valueCache) account() {
	c.usage.Store(c.bytes)
	if d := c.bytes - c.published; d > publishStep || d < -publishStep {
		c.shared.Add(d)
		c.published = c.bytes
	}
}

func (e *cacheEntry) size() int64 { return int64(cap(e.key)+cap(e.val)) + entryOverhead }

func cacheHash(st *rstate, key []byte) uint64 {
	return xxhash.Sum64(key) ^ (uint64(st.id)+1)*0x9e3779b97f4a7c15
}

// cacheable says whether entries of a state of kind k can be cached: one
// entry per key and namespace, never scanned while the job runs.
func cacheable(k api.StateKind) bool {
	return k == api.ValueStateKind || k == api.ReducingStateKind || k == api.AggregatingStateKind
}

// lookup returns the entry of (st, key), or -1. The entry found last is
// checked first: an operator reads a key and then writes it.
func (c *valueCache) lookup(h uint64, st *rstate, key []byte) int32 {
	if i := c.last; i >= 0 && i < c.n {
		if e := c.entry(i); e.hash == h && e.st == st && bytes.Equal(e.key, key) {
			return i
		}
	}
	i, ok := c.index[h]
	if !ok {
		return -1
	}
	e := c.entry(i)
	if e.st != st || !bytes.Equal(e.key, key) {
		return -1
	}
	c.last = i
	return i
}

// cachedGet is get through the cache.
func (b *Backend) cachedGet(st *rstate, key []byte, now *int64) ([]byte, bool, error) {
	c := b.cache
	h := cacheHash(st, key)
	i := c.lookup(h, st, key)
	if i < 0 {
		c.misses.Add(1)
		var v []byte
		var ok bool
		var exp int64
		var err error
		if st.may != nil && !st.may.mayHold(key) {
			c.filtered.Add(1) // never written: absent
		} else if v, ok, exp, err = b.rawGet(st, key); err != nil {
			return nil, false, err
		}
		if i, err = b.cacheInsert(h, st, key); err != nil {
			return nil, false, err
		}
		e := c.entry(i)
		before := e.size()
		e.present, e.exp = ok, exp
		e.val = append(e.val[:0], v...)
		c.bytes += e.size() - before
		c.account()
	} else {
		c.hits.Add(1)
	}
	e := c.entry(i)
	e.ref = true
	if !e.present {
		return nil, false, nil
	}
	if b.expired(e.exp, now) {
		b.cacheSet(i, false, 0, nil)
		return nil, false, nil
	}
	b.val = append(b.val[:0], e.val...)
	if st.refreshOnRead() {
		b.cacheSet(i, true, *now+st.ttl, b.val)
	}
	return b.val, true, nil
}

// cachedPut is put (v != nil or present) and del (!present) through the cache.
func (b *Backend) cachedWrite(st *rstate, key []byte, present bool, exp int64, v []byte) error {
	c := b.cache
	h := cacheHash(st, key)
	i := c.lookup(h, st, key)
	if i < 0 {
		var err error
		if i, err = b.cacheInsert(h, st, key); err != nil {
			return err
		}
	}
	c.entry(i).ref = true
	b.cacheSet(i, present, exp, v)
	if c.dirtyBytes+int64(c.ndirty)*dirtyEntryCost > c.dirtyLimit() {
		return b.writeBack()
	}
	return nil
}

// cacheSet gives entry i a new value and marks it dirty.
func (b *Backend) cacheSet(i int32, present bool, exp int64, v []byte) {
	c := b.cache
	e := c.entry(i)
	before, oldLen := e.size(), len(e.val)
	e.present, e.exp = present, exp
	if present {
		e.val = append(e.val[:0], v...)
	} else {
		e.val = e.val[:0]
	}
	c.bytes += e.size() - before
	c.account()
	if e.dirty {
		// Already counted: by its length then, so adjust to its length now.
		c.dirtyBytes += int64(len(e.val) - oldLen)
	} else {
		e.dirty = true
		c.ndirty++
		c.dirtyBytes += int64(len(e.key) + len(e.val))
		if !e.inDirty {
			e.inDirty = true
			c.dirty = append(c.dirty, i)
		}
	}
}

// cacheInsert makes room and returns a new entry for (st, key), absent and
// clean. An entry under the same hash (a collision) is evicted first.
func (b *Backend) cacheInsert(h uint64, st *rstate, key []byte) (int32, error) {
	c := b.cache
	if old, ok := c.index[h]; ok {
		if err := b.evict([]int32{old}); err != nil {
			return 0, err
		}
	}
	if c.bytes+int64(len(key))+entryOverhead > c.budget() && len(c.index) > 0 {
		if err := b.makeRoom(); err != nil {
			return 0, err
		}
	}
	var i int32
	if n := len(c.free); n > 0 {
		i = c.free[n-1]
		c.free = c.free[:n-1]
	} else {
		if int(c.n) == len(c.pages)*pageSize {
			c.pages = append(c.pages, make([]cacheEntry, pageSize))
		}
		i = c.n
		c.n++
	}
	e := c.entry(i)
	e.st, e.hash, e.present, e.dirty, e.ref, e.exp = st, h, false, false, false, 0
	e.key = append(e.key[:0], key...)
	e.val = e.val[:0]
	c.bytes += e.size()
	c.account()
	c.index[h] = i
	c.last = i
	return i, nil
}

// makeRoom evicts about an eighth of the cache's budget, passing over
// entries used since the clock hand last passed them.
func (b *Backend) makeRoom() error {
	c := b.cache
	target := c.budget() * 7 / 8
	victims := c.order[:0]
	freed := int64(0)
	for steps := 0; c.bytes-freed > target && steps < 2*int(c.n); steps++ {
		if c.hand >= int(c.n) {
			c.hand = 0
		}
		e := c.entry(int32(c.hand))
		switch {
		case e.st == nil || e.victim:
		case e.ref:
			e.ref = false
		default:
			e.victim = true
			victims = append(victims, int32(c.hand))
			freed += e.size()
		}
		c.hand++
	}
	c.order = victims
	return b.evict(victims)
}

// evict writes the dirty ones of victims back and frees them all.
func (b *Backend) evict(victims []int32) error {
	c := b.cache
	if err := b.writeEntries(victims); err != nil {
		for _, i := range victims {
			c.entry(i).victim = false
		}
		return err
	}
	for _, i := range victims {
		c.release(i)
	}
	c.account()
	return nil
}

// release frees entry i, which must not be dirty. Large buffers go with it,
// so that free slots hold little memory the budget does not count.
func (c *valueCache) release(i int32) {
	e := c.entry(i)
	c.bytes -= e.size()
	delete(c.index, e.hash)
	e.st, e.present, e.ref, e.victim = nil, false, false, false
	e.key, e.val = shrink(e.key), shrink(e.val)
	c.free = append(c.free, i)
}

func shrink(b []byte) []byte {
	if cap(b) > 256 {
		return nil
	}
	return b[:0]
}

// writeBack writes every dirty entry to RocksDB; they stay cached, clean.
func (b *Backend) writeBack() error {
	c := b.cache
	if c == nil || c.ndirty == 0 {
		return nil
	}
	return b.writeBackLast(len(c.dirty))
}

// writeBackLast writes back the dirty entries among the last n listed in
// c.dirty and unlists them; when the write fails they stay dirty, and
// listed.
func (b *Backend) writeBackLast(n int) error {
	c := b.cache
	rest := len(c.dirty) - n
	chunk := c.dirty[rest:]
	c.dirty = c.dirty[:rest] // writeEntries does not append to it
	for _, i := range chunk {
		c.entry(i).inDirty = false
	}
	if err := b.writeEntries(chunk); err != nil {
		for _, i := range chunk {
			c.entry(i).inDirty = true
		}
		c.dirty = c.dirty[:rest+n] // the chunk is still there
		return err
	}
	return nil
}

// idleChunk is how many dirty entries IdleWork writes back per call: about
// a millisecond of RocksDB writes here.
const idleChunk = 512

var _ state.IdleWorker = (*Backend)(nil)

// HasIdleWork implements state.IdleWorker: some cached entries are dirty.
func (b *Backend) HasIdleWork() bool {
	return b.cache != nil && !b.closed && b.cache.ndirty > 0 && len(b.cache.dirty) > 0
}

// IdleWork implements state.IdleWorker: it writes up to idleChunk of the
// cache's dirty entries back to RocksDB, so that a job that goes quiet
// stops carrying them in every checkpoint's dirty-entries file.
func (b *Backend) IdleWork() (bool, error) {
	c := b.cache
	if c == nil || b.closed || c.ndirty == 0 || len(c.dirty) == 0 {
		return false, nil
	}
	if err := b.writeBackLast(min(idleChunk, len(c.dirty))); err != nil {
		return false, err
	}
	return c.ndirty > 0, nil
}

// writeEntries writes the dirty entries among idx to RocksDB in one batch,
// in key order (sequential inserts are the memtable's cheapest), and marks
// them clean.
func (b *Backend) writeEntries(among []int32) error {
	c := b.cache
	idx := c.batch[:0]
	for _, i := range among {
		if e := c.entry(i); e.st != nil && e.dirty {
			idx = append(idx, i)
		}
	}
	c.batch = idx
	n := len(idx)
	if n == 0 {
		return nil
	}
	slices.SortFunc(idx, func(x, y int32) int {
		ex, ey := c.entry(x), c.entry(y)
		if ex.st != ey.st {
			return int(ex.st.id) - int(ey.st.id)
		}
		return bytes.Compare(ex.key, ey.key)
	})
	wb := c.wb
	wb.Clear()
	for _, i := range idx {
		e := c.entry(i)
		switch {
		case e.present:
			b.vbuf = appendValue(b.vbuf[:0], e.exp, e.val)
			wb.PutCF(e.st.cf, e.key, b.vbuf)
		case e.st.may == nil || e.st.may.mayHold(e.key):
			wb.DeleteCF(e.st.cf, e.key)
		}
	}
	if wb.Count() > 0 {
		t0 := b.stats.start()
		err := b.db.Write(b.wo, wb)
		b.stats.write.end(t0)
		if err != nil {
			return b.errorf("writing cached state back", err)
		}
	}
	// Only now that RocksDB holds them: a filter that held keys a failed
	// write never stored would only cost reads, but keep it exact.
	for _, i := range idx {
		if e := c.entry(i); e.present {
			b.recordKey(e.st, e.key)
		}
	}
	for _, i := range idx {
		e := c.entry(i)
		e.dirty = false
		c.ndirty--
		c.dirtyBytes -= int64(len(e.key) + len(e.val))
	}
	c.writtenBack.Add(uint64(n))
	b.wroteN(uint64(n))
	return nil
}

// forget drops the entry of (st, key) without writing it back: RocksDB
// holds a newer value (restore writes to RocksDB directly).
func (c *valueCache) forget(st *rstate, key []byte) {
	h := cacheHash(st, key)
	if i := c.lookup(h, st, key); i >= 0 {
		e := c.entry(i)
		if e.dirty {
			e.dirty = false
			c.ndirty--
			c.dirtyBytes -= int64(len(e.key) + len(e.val))
		}
		c.release(i)
		c.account()
	}
}

func (c *valueCache) close() {
	c.shared.Add(-c.published)
	c.published = 0
	c.wb.Destroy()
}
