package rocksdb

import (
	"math/bits"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Stats describes one backend's RocksDB instance and the shared resources.
type Stats struct {
	// MemtableBytes is the size of this backend's memtables (active and
	// immutable, all column families).
	MemtableBytes uint64
	// SharedMemtableBytes is the memtable size last reported by all
	// backends of the SharedResources, and WriteBufferBudget its limit.
	SharedMemtableBytes int64
	WriteBufferBudget   int64
	// BudgetFlushes counts flushes this backend made to keep the shared
	// write-buffer budget.
	BudgetFlushes uint64

	// Block cache (shared by the TaskManager's backends).
	BlockCacheUsage       uint64
	BlockCachePinnedUsage uint64
	BlockCacheCapacity    uint64

	// TableReaderMemory is the memory of SST readers outside the block
	// cache (rocksdb.estimate-table-readers-mem).
	TableReaderMemory uint64
	// PendingCompactionBytes estimates the bytes compaction must rewrite
	// to bring every level back under its target size.
	PendingCompactionBytes uint64
	LiveSSTBytes           uint64
	EstimatedKeys          uint64

	// Write stalls since the backend opened: slowdowns (writes delayed) and
	// stops (writes blocked), over all causes, and the total stall time.
	WriteSlowdowns uint64
	WriteStops     uint64
	StallTime      time.Duration

	// Reads (gets, iterator seeks) and writes (puts, deletes, batches), and
	// their latency, measured around RocksDB calls on one in 16 operations.
	Reads, Writes uint64
	ReadLatency   Histogram
	WriteLatency  Histogram

	// The write-back state cache (Config.StateCacheSize): lookups answered
	// from it and from RocksDB, entries written back to RocksDB, and its
	// accounted memory; CacheFiltered counts the misses answered absent by
	// the filter of the keys RocksDB was given, without a read.
	CacheHits, CacheMisses, CacheWrittenBack, CacheFiltered uint64
	CacheBytes                                              int64
}

// HistogramBuckets is the number of buckets of a Histogram.
const HistogramBuckets = 40

// Histogram is a latency distribution in power-of-two buckets: Buckets[i]
// counts operations that took [2^i, 2^(i+1)) ns (Buckets[0] also counts 0).
type Histogram struct {
	Buckets [HistogramBuckets]uint64
	Count   uint64
	Sum     time.Duration
}

// Mean is the mean latency, 0 without samples.
func (h Histogram) Mean() time.Duration {
	if h.Count == 0 {
		return 0
	}
	return h.Sum / time.Duration(h.Count)
}

// Quantile returns the upper bound of the bucket that holds the q-quantile
// (0 < q <= 1), 0 without samples.
func (h Histogram) Quantile(q float64) time.Duration {
	if h.Count == 0 {
		return 0
	}
	rank := uint64(q * float64(h.Count))
	var seen uint64
	for i, n := range h.Buckets {
		seen += n
		if seen > rank || seen == h.Count {
			return time.Duration(1) << (i + 1)
		}
	}
	return time.Duration(1) << HistogramBuckets
}

// sampleMask selects the operations whose latency is measured: one in 16.
const sampleMask = 15

// opStats is updated by the task goroutine and read by Stats.
type opStats struct {
	n             uint64 // operations, for sampling; task goroutine only
	read, write   histogram
	budgetFlushes atomic.Uint64
}

var clockBase = time.Now()

// start counts an operation and returns a start time when it is sampled, or 0.
func (s *opStats) start() int64 {
	s.n++
	if s.n&sampleMask != 0 {
		return 0
	}
	return int64(time.Since(clockBase)) + 1
}

type histogram struct {
	ops     atomic.Uint64
	count   atomic.Uint64
	sum     atomic.Int64
	buckets [HistogramBuckets]atomic.Uint64
}

// end counts one operation and, when t0 is a sampled start, its latency.
func (h *histogram) end(t0 int64) {
	h.ops.Add(1)
	if t0 == 0 {
		return
	}
	d := int64(time.Since(clockBase)) + 1 - t0
	i := 0
	if d > 0 {
		i = min(bits.Len64(uint64(d))-1, HistogramBuckets-1)
	}
	h.buckets[i].Add(1)
	h.count.Add(1)
	h.sum.Add(d)
}

func (h *histogram) snapshot() (ops uint64, out Histogram) {
	for i := range h.buckets {
		out.Buckets[i] = h.buckets[i].Load()
	}
	out.Count = h.count.Load()
	out.Sum = time.Duration(h.sum.Load())
	return h.ops.Load(), out
}

// Stats reads the backend's RocksDB properties and operation counters. It
// may be called from any goroutine; it returns zero Stats once closed.
func (b *Backend) Stats() Stats {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return Stats{}
	}
	var s Stats
	sum := func(prop string) uint64 {
		var total uint64
		for _, st := range b.all {
			n, _ := b.db.GetIntPropertyCF(prop, st.cf)
			total += n
		}
		n, _ := b.db.GetIntPropertyCF(prop, b.meta)
		return total + n
	}
	s.MemtableBytes = sum("rocksdb.cur-size-all-mem-tables")
	s.TableReaderMemory = sum("rocksdb.estimate-table-readers-mem")
	s.PendingCompactionBytes = sum("rocksdb.estimate-pending-compaction-bytes")
	s.LiveSSTBytes = sum("rocksdb.live-sst-files-size")
	s.EstimatedKeys = sum("rocksdb.estimate-num-keys")
	for _, st := range b.all {
		slow, stop, _ := parseStalls(b.db.GetPropertyCF("rocksdb.cfstats", st.cf))
		s.WriteSlowdowns += slow
		s.WriteStops += stop
	}
	s.StallTime, _ = parseCumulativeStall(b.db.GetProperty("rocksdb.dbstats"))
	s.SharedMemtableBytes, s.BlockCacheUsage, s.BlockCachePinnedUsage, s.BlockCacheCapacity = b.res.usage()
	s.WriteBufferBudget = b.res.cfg.WriteBufferSize
	s.BudgetFlushes = b.stats.budgetFlushes.Load()
	s.Reads, s.ReadLatency = b.stats.read.snapshot()
	s.Writes, s.WriteLatency = b.stats.write.snapshot()
	if c := b.cache; c != nil {
		s.CacheHits, s.CacheMisses, s.CacheWrittenBack = c.hits.Load(), c.misses.Load(), c.writtenBack.Load()
		s.CacheBytes = c.usage.Load()
		s.CacheFiltered = c.filtered.Load()
	}
	return s
}

// parseStalls sums the cumulative stall counts of the "Stalls(count):" line
// of a rocksdb.cfstats text (RocksDB 7.x): causes that delay writes are
// slowdowns, causes that block them are stops. ok is false without the line.
func parseStalls(cfstats string) (slowdowns, stops uint64, ok bool) {
	_, line, found := strings.Cut(cfstats, "Stalls(count):")
	if !found {
		return 0, 0, false
	}
	line, _, _ = strings.Cut(line, "\n")
	for _, item := range strings.Split(line, ",") {
		num, cause, _ := strings.Cut(strings.TrimSpace(item), " ")
		n, err := strconv.ParseUint(num, 10, 64)
		if err != nil {
			continue // "interval N total count"
		}
		switch cause {
		case "level0_slowdown", "slowdown for pending_compaction_bytes", "memtable_slowdown":
			slowdowns += n
		case "level0_numfiles", "stop for pending_compaction_bytes", "memtable_compaction":
			stops += n
		}
	}
	return slowdowns, stops, true
}

// parseCumulativeStall reads "Cumulative stall: HH:MM:SS.mmm H:M:S" from a
// rocksdb.dbstats text.
func parseCumulativeStall(dbstats string) (time.Duration, bool) {
	_, rest, found := strings.Cut(dbstats, "Cumulative stall: ")
	if !found {
		return 0, false
	}
	hms, _, _ := strings.Cut(rest, " ")
	parts := strings.Split(hms, ":")
	if len(parts) != 3 {
		return 0, false
	}
	h, err1 := strconv.ParseUint(parts[0], 10, 64)
	m, err2 := strconv.ParseUint(parts[1], 10, 64)
	sec, err3 := strconv.ParseFloat(parts[2], 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, false
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(sec*float64(time.Second)), true
}

// Statistics implements state.StatsReporter.
func (b *Backend) Statistics() map[string]float64 {
	s := b.Stats()
	return map[string]float64{
		"memtable_bytes":             float64(s.MemtableBytes),
		"block_cache_usage_bytes":    float64(s.BlockCacheUsage),
		"block_cache_pinned_bytes":   float64(s.BlockCachePinnedUsage),
		"table_reader_memory_bytes":  float64(s.TableReaderMemory),
		"pending_compaction_bytes":   float64(s.PendingCompactionBytes),
		"live_sst_bytes":             float64(s.LiveSSTBytes),
		"estimated_keys":             float64(s.EstimatedKeys),
		"write_slowdowns_total":      float64(s.WriteSlowdowns),
		"write_stops_total":          float64(s.WriteStops),
		"write_stall_seconds_total":  s.StallTime.Seconds(),
		"reads_total":                float64(s.Reads),
		"writes_total":               float64(s.Writes),
		"read_latency_p99_seconds":   s.ReadLatency.Quantile(0.99).Seconds(),
		"write_latency_p99_seconds":  s.WriteLatency.Quantile(0.99).Seconds(),
		"read_latency_mean_seconds":  s.ReadLatency.Mean().Seconds(),
		"write_latency_mean_seconds": s.WriteLatency.Mean().Seconds(),
		"state_cache_hits_total":     float64(s.CacheHits),
		"state_cache_misses_total":   float64(s.CacheMisses),
		"state_cache_written_total":  float64(s.CacheWrittenBack),
		"state_cache_filtered_total": float64(s.CacheFiltered),
		"state_cache_bytes":          float64(s.CacheBytes),
	}
}
