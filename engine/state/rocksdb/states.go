package rocksdb

import (
	"bytes"
	"encoding/binary"

	"github.com/linxGnu/grocksdb"

	"github.com/freshet/freshet/engine/state/internal/keyed"
)

// access checks that state can be used, writes pending restored entries,
// and reads the clock for a state with a TTL (now is 0 otherwise; expired
// reads it lazily).
func (b *Backend) access(st *rstate) (now int64, err error) {
	if err := b.cur.Err(); err != nil {
		return 0, err
	}
	if b.pending != nil {
		if err := b.flushRestore(); err != nil {
			return 0, err
		}
	}
	if st.ttl > 0 {
		now = b.nowMs()
	}
	return now, nil
}

func (b *Backend) expired(exp int64, now *int64) bool {
	if exp == 0 {
		return false
	}
	if *now == 0 {
		*now = b.nowMs()
	}
	return exp <= *now
}

func (st *rstate) expiry(now int64) int64 {
	if st.ttl == 0 {
		return 0
	}
	return now + st.ttl
}

func (st *rstate) refreshOnRead() bool { return st.ttl > 0 && st.desc.TTLOnRead }

// get reads key of st into b.val. Expired entries are deleted and reported
// absent; with TTLOnRead a live entry's expiry is extended.
func (b *Backend) get(st *rstate, key []byte, now *int64) ([]byte, bool, error) {
	if st.cached {
		return b.cachedGet(st, key, now)
	}
	_, ok, exp, err := b.rawGet(st, key)
	if err != nil || !ok {
		return nil, false, err
	}
	if b.expired(exp, now) {
		return nil, false, b.del(st, key)
	}
	if st.refreshOnRead() {
		if err := b.put(st, key, *now+st.ttl, b.val); err != nil {
			return nil, false, err
		}
	}
	return b.val, true, nil
}

// rawGet reads key of st from RocksDB into b.val, expired or not.
func (b *Backend) rawGet(st *rstate, key []byte) (v []byte, ok bool, exp int64, err error) {
	t0 := b.stats.start()
	h, err := b.db.GetPinnedCF(b.ro, st.cf, key)
	b.stats.read.end(t0)
	if err != nil {
		return nil, false, 0, b.stateErr("reading", st, err)
	}
	defer h.Destroy()
	if !h.Exists() {
		return nil, false, 0, nil
	}
	exp, stored, err := splitValue(h.Data())
	if err != nil {
		return nil, false, 0, b.stateErr("reading", st, err)
	}
	b.val = append(b.val[:0], stored...)
	return b.val, true, exp, nil
}

func (b *Backend) put(st *rstate, key []byte, exp int64, v []byte) error {
	if st.cached {
		return b.cachedWrite(st, key, true, exp, v)
	}
	b.vbuf = appendValue(b.vbuf[:0], exp, v)
	t0 := b.stats.start()
	err := b.db.PutCF(b.wo, st.cf, key, b.vbuf)
	b.stats.write.end(t0)
	if err != nil {
		return b.stateErr("writing", st, err)
	}
	b.wrote()
	return nil
}

func (b *Backend) del(st *rstate, key []byte) error {
	if st.cached {
		return b.cachedWrite(st, key, false, 0, nil)
	}
	t0 := b.stats.start()
	err := b.db.DeleteCF(b.wo, st.cf, key)
	b.stats.write.end(t0)
	if err != nil {
		return b.stateErr("deleting from", st, err)
	}
	b.wrote()
	return nil
}

func (b *Backend) write(st *rstate, wb *grocksdb.WriteBatch) error {
	t0 := b.stats.start()
	err := b.db.Write(b.wo, wb)
	b.stats.write.end(t0)
	if err != nil {
		return b.stateErr("writing", st, err)
	}
	b.wrote()
	return nil
}

// wrote counts a write and every memtableCheck writes reports the memtable
// size to the shared write-buffer budget, flushing when asked to.
func (b *Backend) wrote() { b.wroteN(1) }

func (b *Backend) wroteN(n uint64) {
	before := b.writes
	b.writes += n
	if b.writes/memtableCheck != before/memtableCheck {
		b.checkMemtables()
	}
}

func (b *Backend) checkMemtables() {
	total := b.memtableBytes()
	if !b.res.report(b, int64(total)) {
		return
	}
	b.stats.budgetFlushes.Add(1)
	for _, st := range b.all {
		// A failed flush is retried at the next report; writes continue
		// either way, bounded by db_write_buffer_size.
		_ = b.db.FlushCF(st.cf, b.flushOpts)
	}
}

func (b *Backend) memtableBytes() uint64 {
	total, _ := b.db.GetIntPropertyCF("rocksdb.cur-size-all-mem-tables", b.meta)
	for _, st := range b.all {
		n, _ := b.db.GetIntPropertyCF("rocksdb.cur-size-all-mem-tables", st.cf)
		total += n
	}
	return total
}

// scan visits the entries whose keys start with prefix, passing the rest of
// the key and the stored value, until fn returns false. Views are valid
// during the call only.
func (b *Backend) scan(st *rstate, prefix []byte, fn func(suffix, stored []byte) (bool, error)) error {
	t0 := b.stats.start()
	ro := b.pushBound(prefix)
	defer b.popBound()
	it := b.db.NewIteratorCF(ro, st.cf)
	defer it.Close()
	it.Seek(prefix)
	b.stats.read.end(t0)
	for ; it.Valid(); it.Next() {
		k := it.Key().Data()
		if !bytes.HasPrefix(k, prefix) {
			break
		}
		more, err := fn(k[len(prefix):], it.Value().Data())
		if err != nil {
			return err
		}
		if !more {
			return nil
		}
	}
	if err := it.Err(); err != nil {
		return b.stateErr("iterating", st, err)
	}
	return nil
}

// boundedRead is the read options of one prefix scan and the memory of its
// upper bound, which RocksDB reads in place while the iterator lives.
type boundedRead struct {
	ro    *grocksdb.ReadOptions
	upper []byte
}

// pushBound returns read options whose iterate_upper_bound is the first key
// after every key that starts with prefix. Without it, the Next that ends a
// scan walks every tombstone between the prefix and the next live key, so
// clearing N lists or maps one after another would cost O(N²). Scans nest
// (a callback may scan another state), so each level has its own options.
func (b *Backend) pushBound(prefix []byte) *grocksdb.ReadOptions {
	if b.depth == len(b.bounded) {
		b.bounded = append(b.bounded, boundedRead{ro: grocksdb.NewDefaultReadOptions()})
	}
	r := &b.bounded[b.depth]
	b.depth++
	r.upper = prefixSuccessor(append(r.upper[:0], prefix...))
	if r.upper == nil {
		r.ro.SetIterateUpperBound(nil) // prefix is all 0xff: no key follows it
	} else {
		r.ro.SetIterateUpperBound(r.upper)
	}
	return r.ro
}

func (b *Backend) popBound() { b.depth-- }

// prefixSuccessor turns k into the smallest key greater than every key that
// starts with k (in place), or returns nil if there is none.
func prefixSuccessor(k []byte) []byte {
	for i := len(k) - 1; i >= 0; i-- {
		if k[i] != 0xff {
			k[i]++
			return k[:i+1]
		}
	}
	return nil
}

// prefix copies the current address, so that an iteration's prefix survives
// calls made from its callback.
func (b *Backend) prefix() []byte { return bytes.Clone(b.cur.Address()) }

// clearPrefix deletes every entry under the current address (list, map).
func (b *Backend) clearPrefix(st *rstate) error {
	prefix := b.prefix()
	wb := grocksdb.NewWriteBatch()
	defer wb.Destroy()
	k := append([]byte(nil), prefix...)
	err := b.scan(st, prefix, func(suffix, _ []byte) (bool, error) {
		k = append(k[:len(prefix)], suffix...)
		wb.DeleteCF(st.cf, k)
		return true, nil
	})
	if err != nil || wb.Count() == 0 {
		return err
	}
	return b.write(st, wb)
}

type valueState struct {
	b  *Backend
	st *rstate
}

func (s *valueState) Get() ([]byte, bool, error) {
	now, err := s.b.access(s.st)
	if err != nil {
		return nil, false, err
	}
	return s.b.get(s.st, s.b.cur.Address(), &now)
}

func (s *valueState) Put(v []byte) error {
	now, err := s.b.access(s.st)
	if err != nil {
		return err
	}
	return s.b.put(s.st, s.b.cur.Address(), s.st.expiry(now), v)
}

func (s *valueState) Clear() error {
	if _, err := s.b.access(s.st); err != nil {
		return err
	}
	return s.b.del(s.st, s.b.cur.Address())
}

type reducingState struct {
	b  *Backend
	st *rstate
}

func (s *reducingState) Add(v []byte) error {
	b, st := s.b, s.st
	now, err := b.access(st)
	if err != nil {
		return err
	}
	cur, ok, err := b.get(st, b.cur.Address(), &now)
	if err != nil {
		return err
	}
	if ok {
		out := st.desc.Reduce(cur, v, b.scratch[:0])
		b.scratch = keyed.Adopt(b.scratch, out, cur, v)
		v = out
	}
	return b.put(st, b.cur.Address(), st.expiry(now), v)
}

func (s *reducingState) Get() ([]byte, bool, error) {
	now, err := s.b.access(s.st)
	if err != nil {
		return nil, false, err
	}
	return s.b.get(s.st, s.b.cur.Address(), &now)
}

func (s *reducingState) Clear() error {
	if _, err := s.b.access(s.st); err != nil {
		return err
	}
	return s.b.del(s.st, s.b.cur.Address())
}

type aggregatingState struct {
	b  *Backend
	st *rstate
}

func (s *aggregatingState) Add(in []byte) error {
	b, st := s.b, s.st
	now, err := b.access(st)
	if err != nil {
		return err
	}
	agg := st.desc.Aggregate
	acc, ok, err := b.get(st, b.cur.Address(), &now)
	if err != nil {
		return err
	}
	if !ok {
		acc = agg.CreateAccumulator(b.scratch2[:0])
		b.scratch2 = keyed.Adopt(b.scratch2, acc, in, nil)
	}
	out := agg.Add(acc, in, b.scratch[:0])
	b.scratch = keyed.Adopt(b.scratch, out, acc, in)
	return b.put(st, b.cur.Address(), st.expiry(now), out)
}

func (s *aggregatingState) Get() ([]byte, bool, error) {
	b, st := s.b, s.st
	now, err := b.access(st)
	if err != nil {
		return nil, false, err
	}
	acc, ok, err := b.get(st, b.cur.Address(), &now)
	if err != nil || !ok {
		return nil, false, err
	}
	res := st.desc.Aggregate.Result(acc, b.rs[:0])
	b.rs = keyed.Adopt(b.rs, res, acc, nil)
	return res, true, nil
}

func (s *aggregatingState) Clear() error {
	if _, err := s.b.access(s.st); err != nil {
		return err
	}
	return s.b.del(s.st, s.b.cur.Address())
}

// listState stores one RocksDB key per element: address + 8-byte sequence,
// so Add is a blind write and elements keep insertion order.
type listState struct {
	b  *Backend
	st *rstate
}

func (s *listState) Add(v []byte) error {
	b, st := s.b, s.st
	now, err := b.access(st)
	if err != nil {
		return err
	}
	b.kbuf = binary.BigEndian.AppendUint64(append(b.kbuf[:0], b.cur.Address()...), b.nextSeq)
	b.nextSeq++
	return b.put(st, b.kbuf, st.expiry(now), v)
}

func (s *listState) Update(vs [][]byte) error {
	b, st := s.b, s.st
	now, err := b.access(st)
	if err != nil {
		return err
	}
	prefix := b.prefix()
	wb := grocksdb.NewWriteBatch()
	defer wb.Destroy()
	k := append([]byte(nil), prefix...)
	err = b.scan(st, prefix, func(suffix, _ []byte) (bool, error) {
		k = append(k[:len(prefix)], suffix...)
		wb.DeleteCF(st.cf, k)
		return true, nil
	})
	if err != nil {
		return err
	}
	exp := st.expiry(now)
	for _, v := range vs {
		k = binary.BigEndian.AppendUint64(k[:len(prefix)], b.nextSeq)
		b.nextSeq++
		b.vbuf = appendValue(b.vbuf[:0], exp, v)
		wb.PutCF(st.cf, k, b.vbuf)
	}
	if wb.Count() == 0 {
		return nil
	}
	return b.write(st, wb)
}

func (s *listState) Iter(fn func(v []byte) bool) error {
	b, st := s.b, s.st
	now, err := b.access(st)
	if err != nil {
		return err
	}
	prefix := b.prefix()
	var wb *grocksdb.WriteBatch // expired elements to delete, TTLOnRead refreshes
	k := append([]byte(nil), prefix...)
	m := &b.memo
	outer, whole := b.depth == 0, true
	if outer {
		m.valid, m.keys = false, m.keys[:0]
	}
	writes := b.writes // writes the callback makes (an Add to this list) spoil the memo
	err = b.scan(st, prefix, func(suffix, stored []byte) (bool, error) {
		exp, v, err := splitValue(stored)
		if err != nil {
			return false, b.stateErr("reading", st, err)
		}
		k = append(k[:len(prefix)], suffix...)
		if outer {
			m.keys = append(m.keys, suffix...)
		}
		switch {
		case b.expired(exp, &now):
			wb = batch(wb)
			wb.DeleteCF(st.cf, k)
			return true, nil
		case st.refreshOnRead():
			wb = batch(wb)
			b.vbuf = appendValue(b.vbuf[:0], now+st.ttl, v)
			wb.PutCF(st.cf, k, b.vbuf)
		}
		more := fn(v)
		whole = whole && more
		return more, nil
	})
	unchanged := b.writes == writes
	if wb != nil {
		defer wb.Destroy()
		if err == nil {
			err = b.write(st, wb)
		}
	}
	if outer && whole && unchanged && err == nil {
		m.valid, m.st, m.writes = true, st, b.writes
		m.prefix = append(m.prefix[:0], prefix...)
	}
	return err
}

// scanMemo remembers the element keys the last complete list iteration
// saw, so that a Clear of the same list right after it (a window firing
// and purging its contents) deletes them without scanning again. Any write
// to RocksDB in between makes it stale.
type scanMemo struct {
	valid  bool
	st     *rstate
	prefix []byte
	keys   []byte // element key suffixes (8-byte sequences), concatenated
	writes uint64 // Backend.writes when taken
}

// clearFromMemo deletes the current list's elements as the memo lists
// them, if the memo is of this list and still fresh; ok is false otherwise.
func (b *Backend) clearFromMemo(st *rstate) (ok bool, err error) {
	m := &b.memo
	if !m.valid || m.st != st || m.writes != b.writes || !bytes.Equal(m.prefix, b.cur.Address()) {
		return false, nil
	}
	m.valid = false
	if len(m.keys) == 0 {
		return true, nil
	}
	wb := grocksdb.NewWriteBatch()
	defer wb.Destroy()
	k := append(b.kbuf[:0], m.prefix...)
	for rest := m.keys; len(rest) >= listSeqLen; rest = rest[listSeqLen:] {
		k = append(k[:len(m.prefix)], rest[:listSeqLen]...)
		wb.DeleteCF(st.cf, k)
	}
	b.kbuf = k
	return true, b.write(st, wb)
}

// listSeqLen is the length of a list element's key suffix.
const listSeqLen = 8

func batch(wb *grocksdb.WriteBatch) *grocksdb.WriteBatch {
	if wb == nil {
		return grocksdb.NewWriteBatch()
	}
	return wb
}

func (s *listState) Clear() error {
	if _, err := s.b.access(s.st); err != nil {
		return err
	}
	if ok, err := s.b.clearFromMemo(s.st); ok || err != nil {
		return err
	}
	return s.b.clearPrefix(s.st)
}

type mapState struct {
	b  *Backend
	st *rstate
}

// key sets b.kbuf to the current address followed by uk.
func (s *mapState) key(uk []byte) []byte {
	s.b.kbuf = append(append(s.b.kbuf[:0], s.b.cur.Address()...), uk...)
	return s.b.kbuf
}

func (s *mapState) Get(uk []byte) ([]byte, bool, error) {
	now, err := s.b.access(s.st)
	if err != nil {
		return nil, false, err
	}
	return s.b.get(s.st, s.key(uk), &now)
}

func (s *mapState) Put(uk, v []byte) error {
	now, err := s.b.access(s.st)
	if err != nil {
		return err
	}
	return s.b.put(s.st, s.key(uk), s.st.expiry(now), v)
}

func (s *mapState) Delete(uk []byte) error {
	if _, err := s.b.access(s.st); err != nil {
		return err
	}
	return s.b.del(s.st, s.key(uk))
}

func (s *mapState) Iter(fn func(uk, v []byte) bool) error {
	b, st := s.b, s.st
	now, err := b.access(st)
	if err != nil {
		return err
	}
	prefix := b.prefix()
	var wb *grocksdb.WriteBatch
	k := append([]byte(nil), prefix...)
	err = b.scan(st, prefix, func(uk, stored []byte) (bool, error) {
		exp, v, err := splitValue(stored)
		if err != nil {
			return false, b.stateErr("reading", st, err)
		}
		switch {
		case b.expired(exp, &now):
			wb = batch(wb)
			wb.DeleteCF(st.cf, append(k[:len(prefix)], uk...))
			return true, nil
		case st.refreshOnRead():
			wb = batch(wb)
			b.vbuf = appendValue(b.vbuf[:0], now+st.ttl, v)
			wb.PutCF(st.cf, append(k[:len(prefix)], uk...), b.vbuf)
		}
		return fn(uk, v), nil
	})
	if wb != nil {
		defer wb.Destroy()
		if err == nil {
			err = b.write(st, wb)
		}
	}
	return err
}

func (s *mapState) IsEmpty() (bool, error) {
	b, st := s.b, s.st
	now, err := b.access(st)
	if err != nil {
		return false, err
	}
	empty := true
	err = b.scan(st, b.prefix(), func(_, stored []byte) (bool, error) {
		exp, _, err := splitValue(stored)
		if err != nil {
			return false, b.stateErr("reading", st, err)
		}
		if b.expired(exp, &now) {
			return true, nil
		}
		empty = false
		return false, nil
	})
	return empty, err
}

func (s *mapState) Clear() error {
	if _, err := s.b.access(s.st); err != nil {
		return err
	}
	return s.b.clearPrefix(s.st)
}
