package rocksdb

import "github.com/linxGnu/grocksdb"

// CompactAll flushes and compacts every state of b, running the TTL filter.
func CompactAll(b *Backend) {
	fo := grocksdb.NewDefaultFlushOptions()
	defer fo.Destroy()
	fo.SetWait(true)
	if err := b.writeBack(); err != nil {
		panic(err)
	}
	for _, st := range b.all {
		_ = b.db.FlushCF(st.cf, fo)
		b.db.CompactRangeCF(st.cf, grocksdb.Range{})
	}
}

// RawKeys counts the keys RocksDB holds for state name, expired or not.
func RawKeys(b *Backend, name string) int {
	st := b.states[name]
	it := b.db.NewIteratorCF(b.scanRO, st.cf)
	defer it.Close()
	n := 0
	for it.SeekToFirst(); it.Valid(); it.Next() {
		n++
	}
	return n
}

// RawGetPut runs the grocksdb calls a value read-modify-write makes, without
// the backend, for allocation comparisons.
func RawGetPut(b *Backend, name string, key, value []byte) {
	st := b.states[name]
	h, _ := b.db.GetPinnedCF(b.ro, st.cf, key)
	if h.Exists() {
		copy(value, h.Data())
		h.Destroy()
	}
	_ = b.db.PutCF(b.wo, st.cf, key, value)
}

var ParseStalls = parseStalls
var ParseCumulativeStall = parseCumulativeStall

// StallLinesPresent reports whether the properties Stats parses still have
// the lines it looks for.
func StallLinesPresent(b *Backend) bool {
	_, _, ok1 := parseStalls(b.db.GetPropertyCF("rocksdb.cfstats", b.all[0].cf))
	_, ok2 := parseCumulativeStall(b.db.GetProperty("rocksdb.dbstats"))
	return ok1 && ok2
}

// CacheDirty returns the state cache's dirty-byte counter and the sum it
// should equal: key and value lengths of the dirty entries.
func CacheDirty(b *Backend) (counted, actual int64) {
	c := b.cache
	for i := range c.n {
		if e := c.entry(i); e.st != nil && e.dirty {
			actual += int64(len(e.key) + len(e.val))
		}
	}
	return c.dirtyBytes, actual
}
