package rocksdb

import "github.com/bits-and-blooms/bloom/v3"

// A keyFilter says which keys a cached state's column family may hold, so
// that a cache miss on a key RocksDB never received (the first access to a
// new key: a new auction, user or window) is answered absent without a
// RocksDB point read, and the write-back of such a key's deletion writes
// nothing. It is a Bloom filter of every key written to the column family:
// a key it does not hold is certainly absent; one it holds may be present
// (1% false positives) and is read from RocksDB.
//
// Only a state this backend created empty has one: keys written by the
// cache's write-back and by Restore go through it. A state opened from a
// RocksDB checkpoint or imported on a rescale has none (rstate.may is nil),
// and every miss reads RocksDB as before. A filter's memory counts in the
// state cache's (recordKey), which evicts entries to make room for it. The
// filter grows in parts, each
// four times the capacity of the one before at 1% false positives (a few
// parts answer a few percent), and is dropped, falling back to reads, once
// its parts would hold more than maxFilterKeys keys: past 5.4 M keys per
// state and subtask, at about 6.5 MiB.
type keyFilter struct {
	parts []*bloom.BloomFilter
	n     uint // keys added to the last part
	room  uint // capacity of the last part
	total uint // capacity of all parts
	limit uint // maxFilterKeys (tests use less)
	bytes int64
}

const (
	firstFilterKeys = 1 << 14
	maxFilterKeys   = 1 << 24
	filterFalsePos  = 0.01
)

func newKeyFilter() *keyFilter { return newKeyFilterOf(firstFilterKeys, maxFilterKeys) }

func newKeyFilterOf(first, limit uint) *keyFilter {
	f := &keyFilter{limit: limit}
	f.grow(first)
	return f
}

func (f *keyFilter) grow(room uint) {
	p := bloom.NewWithEstimates(room, filterFalsePos)
	f.parts = append(f.parts, p)
	f.n, f.room = 0, room
	f.total += room
	f.bytes += int64(p.Cap() / 8)
}

// mayHold says whether key may have been written.
func (f *keyFilter) mayHold(key []byte) bool {
	for i := len(f.parts) - 1; i >= 0; i-- {
		if f.parts[i].Test(key) {
			return true
		}
	}
	return false
}

// add records that key was written. It returns false when the filter has
// outgrown maxFilterKeys: the caller drops it.
func (f *keyFilter) add(key []byte) bool {
	if f.mayHold(key) {
		return true
	}
	if f.n >= f.room {
		if f.total+4*f.room > f.limit {
			return false
		}
		f.grow(f.room * 4)
	}
	f.parts[len(f.parts)-1].Add(key)
	f.n++
	return true
}

// recordKey adds key, just written to st's column family, to st's filter,
// counting the filter's growth in the state cache, and drops the filter
// once it outgrows its bound.
func (b *Backend) recordKey(st *rstate, key []byte) {
	f := st.may
	if f == nil {
		return
	}
	before := f.bytes
	if !f.add(key) {
		b.dropFilter(st)
		return
	}
	if d := f.bytes - before; d != 0 {
		b.cache.bytes += d
		b.cache.account()
	}
}

// dropFilter forgets st's filter (its misses read RocksDB from now on).
func (b *Backend) dropFilter(st *rstate) {
	if st.may == nil {
		return
	}
	b.cache.bytes -= st.may.bytes
	b.cache.account()
	st.may = nil
}
