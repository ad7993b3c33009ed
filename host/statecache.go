package host

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/host/abi"
)

// maxCachedEntries bounds the write-back cache: after a flush that leaves
// more clean entries than this, the cache is emptied.
const maxCachedEntries = 1 << 16

// errKindMismatch is returned when a state handle is used with an operation
// of another kind.
var errKindMismatch = errors.New("state used with an operation of another kind")

// stateCache is the keyed state the guest sees: a write-back cache over the
// task's api.KeyedState, flushed after each successful batch. With the cache
// disabled, every operation goes straight to the backend.
type stateCache struct {
	ks      api.KeyedState
	enabled bool
	states  []*cstate
	byName  map[string]int

	key, ns []byte // current key and namespace (views)
	synced  bool   // ks's current key and namespace are key and ns
	scratch []byte // cache key under construction
	dirty   []dirtyRef
	entries int
}

type cstate struct {
	desc  api.StateDescriptor
	kind  abi.StateKind
	value api.ValueState
	list  api.ListState
	mp    api.MapState
	vals  map[string]*vEntry
	lists map[string]*lEntry
	maps  map[string]*mEntry
}

type vEntry struct {
	key, ns        []byte
	val            []byte
	present, dirty bool
}

type lEntry struct {
	key, ns []byte
	items   [][]byte
	dirty   bool
}

type mEntry struct {
	key, ns []byte
	vals    map[string]*mVal
	full    bool // vals holds every user key
	cleared bool // the backend entry must be cleared before writing
	dirty   bool
}

type mVal struct {
	val            []byte
	present, dirty bool
}

type dirtyRef struct {
	st *cstate
	v  *vEntry
	l  *lEntry
	m  *mEntry
}

func newStateCache(ks api.KeyedState, enabled bool) *stateCache {
	return &stateCache{ks: ks, enabled: enabled, byName: map[string]int{}}
}

func (c *stateCache) setKey(key, ns []byte) {
	c.key, c.ns = key, ns
	c.synced = false
	if !c.enabled {
		c.sync()
	}
}

// sync makes the backend's current key and namespace the cache's.
func (c *stateCache) sync() {
	if !c.synced {
		c.ks.SetCurrentKey(c.key)
		c.ks.SetCurrentNamespace(c.ns)
		c.synced = true
	}
}

func (c *stateCache) cacheKey() []byte {
	c.scratch = c.scratch[:0]
	if len(c.ns) == 0 {
		c.scratch = append(c.scratch, 0)
	} else {
		c.scratch = append(c.scratch, 1)
		c.scratch = binary.LittleEndian.AppendUint32(c.scratch, uint32(len(c.ns)))
		c.scratch = append(c.scratch, c.ns...)
	}
	c.scratch = append(c.scratch, c.key...)
	return c.scratch
}

func (c *stateCache) declare(kind abi.StateKind, name string, ttl time.Duration) (int, error) {
	if h, ok := c.byName[name]; ok {
		if c.states[h].kind != kind {
			return 0, fmt.Errorf("state %q was declared as %s, now as %s: %w", name, c.states[h].kind, kind, errKindMismatch)
		}
		return h, nil
	}
	st := &cstate{kind: kind, desc: api.StateDescriptor{Name: name, TTL: ttl}}
	var err error
	switch kind {
	case abi.StateValue:
		st.desc.Kind = api.ValueStateKind
		st.value, err = c.ks.Value(st.desc)
		st.vals = map[string]*vEntry{}
	case abi.StateList:
		st.desc.Kind = api.ListStateKind
		st.list, err = c.ks.List(st.desc)
		st.lists = map[string]*lEntry{}
	case abi.StateMap:
		st.desc.Kind = api.MapStateKind
		st.mp, err = c.ks.Map(st.desc)
		st.maps = map[string]*mEntry{}
	default:
		return 0, fmt.Errorf("unknown state kind %d", kind)
	}
	if err != nil {
		return 0, fmt.Errorf("declaring %s state %q: %w", kind, name, err)
	}
	c.states = append(c.states, st)
	c.byName[name] = len(c.states) - 1
	return len(c.states) - 1, nil
}

func (c *stateCache) get(h int32, kind abi.StateKind) (*cstate, error) {
	if h < 0 || int(h) >= len(c.states) {
		return nil, errUnknownHandle
	}
	st := c.states[h]
	if st.kind != kind {
		return nil, errKindMismatch
	}
	return st, nil
}

var errUnknownHandle = errors.New("unknown state handle")

func (c *stateCache) markDirty(r dirtyRef) { c.dirty = append(c.dirty, r) }

// ---- value state ----

func (c *stateCache) valueEntry(st *cstate) (*vEntry, error) {
	if e, ok := st.vals[string(c.cacheKey())]; ok {
		return e, nil
	}
	c.sync()
	v, ok, err := st.value.Get()
	if err != nil {
		return nil, err
	}
	e := &vEntry{key: clone(c.key), ns: clone(c.ns), present: ok}
	if ok {
		e.val = append([]byte(nil), v...)
	}
	st.vals[string(c.cacheKey())] = e
	c.entries++
	return e, nil
}

// valueGet returns the current key's value; the slice is valid until the
// next state operation.
func (c *stateCache) valueGet(h int32) ([]byte, bool, error) {
	st, err := c.get(h, abi.StateValue)
	if err != nil {
		return nil, false, err
	}
	if !c.enabled {
		return st.value.Get()
	}
	e, err := c.valueEntry(st)
	if err != nil {
		return nil, false, err
	}
	return e.val, e.present, nil
}

func (c *stateCache) valuePut(h int32, v []byte) error {
	st, err := c.get(h, abi.StateValue)
	if err != nil {
		return err
	}
	if !c.enabled {
		return st.value.Put(v)
	}
	e, ok := st.vals[string(c.cacheKey())]
	if !ok {
		e = &vEntry{key: clone(c.key), ns: clone(c.ns)}
		st.vals[string(c.cacheKey())] = e
		c.entries++
	}
	e.val = append(e.val[:0], v...)
	e.present = true
	if !e.dirty {
		e.dirty = true
		c.markDirty(dirtyRef{st: st, v: e})
	}
	return nil
}

// clear removes the current key's entry of any kind of state.
func (c *stateCache) clear(h int32) error {
	if h < 0 || int(h) >= len(c.states) {
		return errUnknownHandle
	}
	st := c.states[h]
	if !c.enabled {
		switch st.kind {
		case abi.StateValue:
			return st.value.Clear()
		case abi.StateList:
			return st.list.Clear()
		default:
			return st.mp.Clear()
		}
	}
	ck := string(c.cacheKey())
	switch st.kind {
	case abi.StateValue:
		e, ok := st.vals[ck]
		if !ok {
			e = &vEntry{key: clone(c.key), ns: clone(c.ns)}
			st.vals[ck] = e
			c.entries++
		}
		e.val, e.present = e.val[:0], false
		if !e.dirty {
			e.dirty = true
			c.markDirty(dirtyRef{st: st, v: e})
		}
	case abi.StateList:
		e, ok := st.lists[ck]
		if !ok {
			e = &lEntry{key: clone(c.key), ns: clone(c.ns)}
			st.lists[ck] = e
			c.entries++
		}
		e.items = e.items[:0]
		if !e.dirty {
			e.dirty = true
			c.markDirty(dirtyRef{st: st, l: e})
		}
	default:
		e, ok := st.maps[ck]
		if !ok {
			e = &mEntry{key: clone(c.key), ns: clone(c.ns)}
			st.maps[ck] = e
			c.entries++
		}
		e.vals = map[string]*mVal{}
		e.full, e.cleared = true, true
		if !e.dirty {
			e.dirty = true
			c.markDirty(dirtyRef{st: st, m: e})
		}
	}
	return nil
}

// ---- list state ----

func (c *stateCache) listEntry(st *cstate) (*lEntry, error) {
	if e, ok := st.lists[string(c.cacheKey())]; ok {
		return e, nil
	}
	c.sync()
	e := &lEntry{key: clone(c.key), ns: clone(c.ns)}
	err := st.list.Iter(func(v []byte) bool {
		e.items = append(e.items, append([]byte(nil), v...))
		return true
	})
	if err != nil {
		return nil, err
	}
	st.lists[string(c.cacheKey())] = e
	c.entries++
	return e, nil
}

func (c *stateCache) listAdd(h int32, v []byte) error {
	st, err := c.get(h, abi.StateList)
	if err != nil {
		return err
	}
	if !c.enabled {
		return st.list.Add(v)
	}
	e, err := c.listEntry(st)
	if err != nil {
		return err
	}
	e.items = append(e.items, append([]byte(nil), v...))
	if !e.dirty {
		e.dirty = true
		c.markDirty(dirtyRef{st: st, l: e})
	}
	return nil
}

// listGet appends the current key's list, encoded as (u32 len, bytes)*, to dst.
func (c *stateCache) listGet(h int32, dst []byte) ([]byte, error) {
	st, err := c.get(h, abi.StateList)
	if err != nil {
		return dst, err
	}
	if !c.enabled {
		err := st.list.Iter(func(v []byte) bool {
			dst = binary.LittleEndian.AppendUint32(dst, uint32(len(v)))
			dst = append(dst, v...)
			return true
		})
		return dst, err
	}
	e, err := c.listEntry(st)
	if err != nil {
		return dst, err
	}
	for _, v := range e.items {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(v)))
		dst = append(dst, v...)
	}
	return dst, nil
}

// decodeList splits a (u32 len, bytes)* encoding.
func decodeList(b []byte) ([][]byte, error) {
	var items [][]byte
	r := reader{b: b}
	for len(r.b) > 0 {
		v := r.bytes()
		if r.err != nil {
			return nil, fmt.Errorf("list encoding: %w", r.err)
		}
		items = append(items, v)
	}
	return items, nil
}

func (c *stateCache) listUpdate(h int32, items [][]byte) error {
	st, err := c.get(h, abi.StateList)
	if err != nil {
		return err
	}
	if !c.enabled {
		return st.list.Update(items)
	}
	ck := string(c.cacheKey())
	e, ok := st.lists[ck]
	if !ok {
		e = &lEntry{key: clone(c.key), ns: clone(c.ns)}
		st.lists[ck] = e
		c.entries++
	}
	e.items = e.items[:0]
	for _, v := range items {
		e.items = append(e.items, append([]byte(nil), v...))
	}
	if !e.dirty {
		e.dirty = true
		c.markDirty(dirtyRef{st: st, l: e})
	}
	return nil
}

// ---- map state ----

func (c *stateCache) mapEntry(st *cstate) *mEntry {
	ck := c.cacheKey()
	if e, ok := st.maps[string(ck)]; ok {
		return e
	}
	e := &mEntry{key: clone(c.key), ns: clone(c.ns), vals: map[string]*mVal{}}
	st.maps[string(ck)] = e
	c.entries++
	return e
}

func (c *stateCache) mapGet(h int32, uk []byte) ([]byte, bool, error) {
	st, err := c.get(h, abi.StateMap)
	if err != nil {
		return nil, false, err
	}
	if !c.enabled {
		return st.mp.Get(uk)
	}
	e := c.mapEntry(st)
	if v, ok := e.vals[string(uk)]; ok {
		return v.val, v.present, nil
	}
	if e.full {
		return nil, false, nil
	}
	c.sync()
	v, ok, err := st.mp.Get(uk)
	if err != nil {
		return nil, false, err
	}
	mv := &mVal{present: ok}
	if ok {
		mv.val = append([]byte(nil), v...)
	}
	e.vals[string(uk)] = mv
	return mv.val, ok, nil
}

func (c *stateCache) mapSet(h int32, uk, v []byte, present bool) error {
	st, err := c.get(h, abi.StateMap)
	if err != nil {
		return err
	}
	if !c.enabled {
		if present {
			return st.mp.Put(uk, v)
		}
		return st.mp.Delete(uk)
	}
	e := c.mapEntry(st)
	mv, ok := e.vals[string(uk)]
	if !ok {
		mv = &mVal{}
		e.vals[string(uk)] = mv
	}
	mv.val = append(mv.val[:0], v...)
	mv.present, mv.dirty = present, true
	if !e.dirty {
		e.dirty = true
		c.markDirty(dirtyRef{st: st, m: e})
	}
	return nil
}

// mapScan appends every entry, sorted by user key, as
// (u32 klen, key, u32 vlen, value)* to dst.
func (c *stateCache) mapScan(h int32, dst []byte) ([]byte, error) {
	st, err := c.get(h, abi.StateMap)
	if err != nil {
		return dst, err
	}
	type kv struct{ k, v []byte }
	var all []kv
	if !c.enabled {
		err = st.mp.Iter(func(k, v []byte) bool {
			all = append(all, kv{append([]byte(nil), k...), append([]byte(nil), v...)})
			return true
		})
		if err != nil {
			return dst, err
		}
	} else {
		e := c.mapEntry(st)
		if !e.full {
			c.sync()
			err := st.mp.Iter(func(k, v []byte) bool {
				if _, ok := e.vals[string(k)]; !ok {
					e.vals[string(k)] = &mVal{val: append([]byte(nil), v...), present: true}
				}
				return true
			})
			if err != nil {
				return dst, err
			}
			e.full = true
		}
		for k, v := range e.vals {
			if v.present {
				all = append(all, kv{[]byte(k), v.val})
			}
		}
	}
	slices.SortFunc(all, func(a, b kv) int { return bytes.Compare(a.k, b.k) })
	for _, e := range all {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(e.k)))
		dst = append(dst, e.k...)
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(e.v)))
		dst = append(dst, e.v...)
	}
	return dst, nil
}

// ---- flush ----

// flush writes every dirty entry to the backend. It leaves the backend's
// current key unspecified (the next operation sets it again).
func (c *stateCache) flush() error {
	if !c.enabled {
		return nil
	}
	c.synced = false
	for i, d := range c.dirty {
		var err error
		switch {
		case d.v != nil:
			c.ks.SetCurrentKey(d.v.key)
			c.ks.SetCurrentNamespace(d.v.ns)
			if d.v.present {
				err = d.st.value.Put(d.v.val)
			} else {
				err = d.st.value.Clear()
			}
			d.v.dirty = false
		case d.l != nil:
			c.ks.SetCurrentKey(d.l.key)
			c.ks.SetCurrentNamespace(d.l.ns)
			if len(d.l.items) == 0 {
				err = d.st.list.Clear()
			} else {
				err = d.st.list.Update(d.l.items)
			}
			d.l.dirty = false
		case d.m != nil:
			c.ks.SetCurrentKey(d.m.key)
			c.ks.SetCurrentNamespace(d.m.ns)
			err = c.flushMap(d.st, d.m)
			d.m.dirty = false
		}
		if err != nil {
			c.dirty = c.dirty[:0]
			c.reset()
			return fmt.Errorf("writing back state %q: %w", d.st.desc.Name, err)
		}
		c.dirty[i] = dirtyRef{}
	}
	c.dirty = c.dirty[:0]
	if c.entries > maxCachedEntries {
		c.reset()
	} else {
		for _, st := range c.states {
			if st.desc.TTL > 0 { // expiry is the backend's business: re-read every batch
				c.dropState(st)
			}
		}
	}
	return nil
}

func (c *stateCache) flushMap(st *cstate, e *mEntry) error {
	if e.cleared {
		if err := st.mp.Clear(); err != nil {
			return err
		}
		e.cleared = false
	}
	for k, v := range e.vals {
		if !v.dirty {
			continue
		}
		var err error
		if v.present {
			err = st.mp.Put([]byte(k), v.val)
		} else {
			err = st.mp.Delete([]byte(k))
		}
		if err != nil {
			return err
		}
		v.dirty = false
	}
	return nil
}

// discard forgets every cached entry, dirty ones included: used after a
// failed batch so that none of its writes reach the backend.
func (c *stateCache) discard() {
	c.dirty = c.dirty[:0]
	c.reset()
}

func (c *stateCache) reset() {
	for _, st := range c.states {
		c.dropState(st)
	}
	c.entries = 0
	c.synced = false
}

func (c *stateCache) dropState(st *cstate) {
	switch {
	case st.vals != nil:
		c.entries -= len(st.vals)
		clear(st.vals)
	case st.lists != nil:
		c.entries -= len(st.lists)
		clear(st.lists)
	case st.maps != nil:
		c.entries -= len(st.maps)
		clear(st.maps)
	}
	c.entries = max(c.entries, 0)
}

func clone(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}
