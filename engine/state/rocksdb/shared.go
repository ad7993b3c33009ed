package rocksdb

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/linxGnu/grocksdb"
)

// SharedResources is the RocksDB memory of one TaskManager, created once and
// handed to every backend the TaskManager opens: one LRU block cache (which
// also holds index and filter blocks) and one write-buffer budget.
//
// RocksDB 7.8's C API has no WriteBufferManager, so the write-buffer budget
// is kept here: every backend reports its memtable bytes every few hundred
// writes, and a backend that holds at least its fair share of a budget that
// is exceeded flushes its memtables. A backend's own memtables are also capped
// at the whole budget by RocksDB (db_write_buffer_size).
type SharedResources struct {
	cfg   Config
	cache *grocksdb.Cache

	mu       sync.Mutex
	backends map[*Backend]int64 // last reported memtable bytes
	total    int64
	closed   bool
	open     atomic.Int64 // len(backends), read without mu
	cached   atomic.Int64 // bytes the backends' state caches hold, as they last published
}

// NewSharedResources validates cfg and allocates the shared block cache.
func NewSharedResources(cfg Config) (*SharedResources, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("creating RocksDB shared resources: %w", err)
	}
	return &SharedResources{
		cfg:      cfg,
		cache:    grocksdb.NewLRUCache(uint64(cfg.BlockCacheSize)),
		backends: make(map[*Backend]int64),
	}, nil
}

// Config is the configuration the resources were made with.
func (r *SharedResources) Config() Config { return r.cfg }

// ErrInUse is returned by SharedResources.Close while backends are open.
var ErrInUse = errors.New("RocksDB shared resources are still used by open backends")

// Close releases the block cache. Every backend must be closed first.
func (r *SharedResources) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	if n := len(r.backends); n > 0 {
		return fmt.Errorf("closing RocksDB shared resources: %d backends open: %w", n, ErrInUse)
	}
	r.closed = true
	r.cache.Destroy()
	return nil
}

func (r *SharedResources) register(b *Backend) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return errors.New("RocksDB shared resources are closed")
	}
	r.backends[b] = 0
	r.open.Store(int64(len(r.backends)))
	return nil
}

func (r *SharedResources) unregister(b *Backend) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.total -= r.backends[b]
	delete(r.backends, b)
	r.open.Store(int64(len(r.backends)))
}

// cacheBudget is what state cache c may hold: whatever the other caches
// leave of Config.StateCacheSize, and at least an equal share of it per
// open backend. A busy operator's cache grows into the room idle ones do
// not use; when the total is exceeded, each cache shrinks (evicts its own
// entries) at its next insertion, down to its share.
func (r *SharedResources) cacheBudget(c *valueCache) int64 {
	size := r.cfg.StateCacheSize
	share := size / max(1, r.open.Load())
	return max(share, size-(r.cached.Load()-c.published))
}

// report records b's memtable bytes and says whether b should flush: the
// budget is exceeded and b holds at least an equal share of the total.
func (r *SharedResources) report(b *Backend, bytes int64) (flush bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.total += bytes - r.backends[b]
	r.backends[b] = bytes
	return r.total > r.cfg.WriteBufferSize && bytes*int64(len(r.backends)) >= r.total
}

// usage returns the memtable bytes last reported by all backends and the
// block cache's usage, pinned usage and capacity.
func (r *SharedResources) usage() (memtables int64, cache, pinned, capacity uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return r.total, 0, 0, 0
	}
	return r.total, r.cache.GetUsage(), r.cache.GetPinnedUsage(), r.cache.GetCapacity()
}

// options returns DB (and default column family) options and, separately,
// the options of state column families, which carry the TTL filter.
func (r *SharedResources) options(filter *ttlFilter) (db, states *grocksdb.Options) {
	db = r.baseOptions()
	db.SetCreateIfMissing(true)
	db.SetMaxBackgroundJobs(r.cfg.MaxBackgroundJobs)
	db.SetDbWriteBufferSize(uint64(r.cfg.WriteBufferSize))
	db.SetInfoLogLevel(grocksdb.WarnInfoLogLevel)
	db.SetKeepLogFileNum(2)
	db.SetMaxLogFileSize(4 * mib)

	states = r.baseOptions()
	states.SetCompactionFilter(filter.filter)
	return db, states
}

func (r *SharedResources) baseOptions() *grocksdb.Options {
	bbto := grocksdb.NewDefaultBlockBasedTableOptions()
	bbto.SetBlockCache(r.cache)
	bbto.SetBlockSize(r.cfg.BlockSize)
	// Index and filter blocks live in the block cache, partitioned into
	// small blocks: an unpartitioned filter of a large SST file can be larger
	// than a cache shard, and would then be read and parsed on every lookup.
	bbto.SetCacheIndexAndFilterBlocks(true)
	bbto.SetCacheIndexAndFilterBlocksWithHighPriority(true)
	bbto.SetPinL0FilterAndIndexBlocksInCache(true)
	bbto.SetIndexType(grocksdb.KTwoLevelIndexSearchIndexType)
	bbto.SetPartitionFilters(true)
	bbto.SetMetadataBlockSize(4 * kib)
	bbto.SetPinTopLevelIndexAndFilter(true)
	bbto.SetFormatVersion(5)
	if r.cfg.BloomFilterBitsPerKey > 0 {
		bbto.SetFilterPolicy(grocksdb.NewBloomFilterFull(float64(r.cfg.BloomFilterBitsPerKey)))
	}
	o := grocksdb.NewDefaultOptions()
	o.SetBlockBasedTableFactory(bbto) // copies bbto
	bbto.Destroy()
	compression, _ := r.cfg.Compression.rocksdb()
	o.SetCompression(compression)
	o.SetWriteBufferSize(r.cfg.memtableSize())
	o.SetMaxWriteBufferNumber(2)
	o.SetLevelCompactionDynamicLevelBytes(true)
	// A checkpoint's flush waits while one more L0 file would slow writes
	// down (RocksDB 7.8's C API cannot set allow_write_stall): with the
	// default 20 a checkpoint right after a bulk load paused for up to
	// 0.6 s, at 40 for 17–43 ms (docs/benchmarks.md).
	o.SetLevel0SlowdownWritesTrigger(40)
	o.SetLevel0StopWritesTrigger(64)
	return o
}
