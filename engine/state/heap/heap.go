// Package heap is the default keyed state backend: every entry lives in Go
// memory, in one hash table per (state, key group).
//
// Layout: a state holds one table per key group of the subtask's range. A
// table maps an entry's address (key and namespace, length-prefixed; see
// engine/state/internal/keyed) to a slot; map state nests a second table of
// user keys inside each slot. Because tables never mix key groups, a range of
// key groups can be snapshotted, moved or dropped as whole tables.
//
// Hot path: reading or writing a value for an existing key performs map
// lookups with string(bytes) keys, which the compiler does not allocate for,
// and overwrites the stored value in place when it fits; SetCurrentKey
// hashes the key once. Neither allocates.
//
// TTL: an entry's expiry (ms since the epoch) is stored beside it. Reads treat
// an expired entry as absent and remove it. In addition every access to a
// state with a TTL examines a few entries of that state, walking its tables
// in order, and removes those that expired, so that keys that are never read
// again do not stay in memory forever.
//
// A backend is used by one goroutine (its task).
package heap

import (
	"fmt"
	"slices"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/state"
	"github.com/freshet/freshet/engine/state/internal/keyed"
)

// cleanupPerAccess is how many entries incremental TTL cleanup examines on
// every access to a state with a TTL.
const cleanupPerAccess = 4

// New returns an empty heap backend for the key groups of opts.
func New(opts state.Options) (state.Backend, error) {
	if err := keyed.CheckOptions(opts); err != nil {
		return nil, err
	}
	b := &backend{
		opts:   opts,
		start:  opts.KeyGroups.Start,
		now:    keyed.Clock(opts),
		states: make(map[string]*hstate),
	}
	b.cur.Init(opts)
	return b, nil
}

var _ state.Backend = (*backend)(nil)

type backend struct {
	opts  state.Options
	start int // first key group of the range
	now   func() time.Time
	cur   keyed.Current

	states   map[string]*hstate
	all      []*hstate // creation order (declared or restored)
	declared []*hstate // declaration order

	// Reused buffers: outputs of user functions, results handed out as views.
	// epoch changes with the current key or namespace; see hint.
	epoch uint64

	scratch  []byte
	scratch2 []byte
	result   []byte
	ukBuf    []byte
	addrBuf  []byte
	closed   bool
}

// hstate is one state of the backend; exactly one of cells, lists or maps is used.
type hstate struct {
	name     string
	kind     api.StateKind
	desc     api.StateDescriptor
	declared bool
	ttl      int64 // ms; 0 for none

	cells groups[cell]     // value, reducing, aggregating
	lists groups[listCell] // list
	maps  groups[mapCell]  // map

	// Incremental cleanup cursor: key-group index and slot position.
	cleanKG, cleanPos int

	// hint remembers where the current key's cell is, so that the Put of a
	// read-modify-write does not look it up again.
	hint hint
}

// hint is the position of the current address's cell in t, valid while the
// backend's epoch and the table's gen are unchanged.
type hint struct {
	epoch uint64
	t     *table[cell]
	gen   uint64
	i     int
}

// cell is one value (or accumulator) with its expiry, 0 for none.
type cell struct {
	v   []byte
	exp int64
}

type listCell struct{ elems []cell }

type mapCell struct{ t *table[cell] }

func (b *backend) SetCurrentKey(key []byte) {
	b.cur.SetKey(key)
	b.epoch++
}

func (b *backend) SetCurrentNamespace(ns []byte) {
	b.cur.SetNamespace(ns)
	b.epoch++
}

func (b *backend) CurrentKey() []byte       { return b.cur.Key() }
func (b *backend) CurrentNamespace() []byte { return b.cur.Namespace() }
func (b *backend) nowMs() int64             { return b.now().UnixMilli() }
func (b *backend) kgIndex() int             { return b.cur.KeyGroup() - b.start }
func (b *backend) addr() []byte             { return b.cur.Address()[keyed.KeyGroupLen:] }

// StateNames implements state.StateLister.
func (b *backend) StateNames() []string {
	names := make([]string, 0, len(b.states))
	for name := range b.states {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Descriptors lists the declared states in declaration order.
func (b *backend) Descriptors() []api.StateDescriptor {
	out := make([]api.StateDescriptor, 0, len(b.declared))
	for _, st := range b.declared {
		out = append(out, st.desc)
	}
	return out
}

// stateFor returns the state named name of kind kind, creating it.
func (b *backend) stateFor(name string, kind api.StateKind) (*hstate, error) {
	if st, ok := b.states[name]; ok {
		if st.kind != kind {
			return nil, keyed.KindMismatch(b.opts.Operator, name, st.kind, kind)
		}
		return st, nil
	}
	n := b.opts.KeyGroups.Len()
	st := &hstate{name: name, kind: kind}
	switch kind {
	case api.ListStateKind:
		st.lists = newGroups[listCell](n)
	case api.MapStateKind:
		st.maps = newGroups[mapCell](n)
	default:
		st.cells = newGroups[cell](n)
	}
	b.states[name] = st
	b.all = append(b.all, st)
	return st, nil
}

// declare registers d as a state of kind kind.
func (b *backend) declare(d api.StateDescriptor, kind api.StateKind) (*hstate, error) {
	if b.closed {
		return nil, fmt.Errorf("operator %q: declaring state %q: %w", b.opts.Operator, d.Name, state.ErrClosed)
	}
	d, err := keyed.CheckDescriptor(d, kind)
	if err != nil {
		return nil, fmt.Errorf("operator %q: %w", b.opts.Operator, err)
	}
	st, err := b.stateFor(d.Name, kind)
	if err != nil {
		return nil, err
	}
	if !st.declared {
		st.declared = true
		b.declared = append(b.declared, st)
	}
	st.desc = d
	st.ttl = keyed.TTLMillis(d.TTL)
	return st, nil
}

func (b *backend) Value(d api.StateDescriptor) (api.ValueState, error) {
	st, err := b.declare(d, api.ValueStateKind)
	if err != nil {
		return nil, err
	}
	return &valueState{b: b, st: st}, nil
}

func (b *backend) List(d api.StateDescriptor) (api.ListState, error) {
	st, err := b.declare(d, api.ListStateKind)
	if err != nil {
		return nil, err
	}
	return &listState{b: b, st: st}, nil
}

func (b *backend) Map(d api.StateDescriptor) (api.MapState, error) {
	st, err := b.declare(d, api.MapStateKind)
	if err != nil {
		return nil, err
	}
	return &mapState{b: b, st: st}, nil
}

func (b *backend) Reducing(d api.StateDescriptor) (api.ReducingState, error) {
	st, err := b.declare(d, api.ReducingStateKind)
	if err != nil {
		return nil, err
	}
	return &reducingState{b: b, st: st}, nil
}

func (b *backend) Aggregating(d api.StateDescriptor) (api.AggregatingState, error) {
	st, err := b.declare(d, api.AggregatingStateKind)
	if err != nil {
		return nil, err
	}
	return &aggregatingState{b: b, st: st}, nil
}

// Snapshot emits every live entry, state by state, key group by key group.
func (b *backend) Snapshot(fn func(e *state.Entry) error) error {
	if b.closed {
		return fmt.Errorf("operator %q: snapshot: %w", b.opts.Operator, state.ErrClosed)
	}
	now := b.nowMs()
	var e state.Entry
	var addr, uk []byte
	// setAddress decodes a slot's address (stored without its key group,
	// which the table implies) into e.Key and e.Namespace.
	setAddress := func(a string) error {
		addr = append(append(addr[:0], 0, 0), a...)
		_, key, ns, _, err := keyed.DecodeAddress(addr)
		e.Key, e.Namespace = key, ns
		return err
	}
	emit := func(c *cell) error {
		if keyed.Expired(c.exp, now) {
			return nil
		}
		e.Value, e.ExpiresAt = c.v, c.exp
		return fn(&e)
	}
	for _, st := range b.all {
		e.State, e.Kind, e.UserKey = st.name, st.kind, nil
		for i := 0; i < b.opts.KeyGroups.Len(); i++ {
			e.KeyGroup = b.start + i
			var err error
			switch st.kind {
			case api.ListStateKind:
				err = eachSlot(st.lists.at(i), func(a string, c *listCell) error {
					if err := setAddress(a); err != nil {
						return err
					}
					for j := range c.elems {
						if err := emit(&c.elems[j]); err != nil {
							return err
						}
					}
					return nil
				})
			case api.MapStateKind:
				err = eachSlot(st.maps.at(i), func(a string, c *mapCell) error {
					if err := setAddress(a); err != nil {
						return err
					}
					return eachSlot(c.t, func(u string, uc *cell) error {
						uk = append(uk[:0], u...)
						e.UserKey = uk
						return emit(uc)
					})
				})
			default:
				err = eachSlot(st.cells.at(i), func(a string, c *cell) error {
					if err := setAddress(a); err != nil {
						return err
					}
					return emit(c)
				})
			}
			if err != nil {
				return fmt.Errorf("operator %q: snapshot of state %q, key group %d: %w", b.opts.Operator, st.name, e.KeyGroup, err)
			}
		}
	}
	return nil
}

// eachSlot calls fn with the address and entry of every live slot of t.
func eachSlot[T any](t *table[T], fn func(addr string, v *T) error) error {
	if t == nil {
		return nil
	}
	t.beginIter()
	defer t.endIter()
	for i := 0; i < len(t.slots); i++ {
		if s := &t.slots[i]; !s.dead {
			if err := fn(s.addr, &s.v); err != nil {
				return err
			}
		}
	}
	return nil
}

// Restore adds one snapshot entry; entries of other subtasks' key groups and
// entries that have already expired are skipped.
func (b *backend) Restore(e *state.Entry) error {
	if b.closed {
		return fmt.Errorf("operator %q: restore: %w", b.opts.Operator, state.ErrClosed)
	}
	if !b.opts.KeyGroups.Contains(e.KeyGroup) {
		return nil
	}
	if err := keyed.CheckEntry(e, b.opts.MaxParallelism); err != nil {
		return fmt.Errorf("operator %q: restore: %w", b.opts.Operator, err)
	}
	st, err := b.stateFor(e.State, e.Kind)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if e.ExpiresAt != 0 && keyed.Expired(e.ExpiresAt, b.nowMs()) {
		return nil
	}
	i := e.KeyGroup - b.start
	b.addrBuf = keyed.AppendAddress(b.addrBuf[:0], 0, e.Key, e.Namespace)
	addr := b.addrBuf[keyed.KeyGroupLen:]
	switch st.kind {
	case api.ListStateKind:
		t := st.lists.create(i)
		c := &t.slots[t.findOrInsert(addr)].v
		c.elems = append(c.elems, cell{v: clone(e.Value), exp: e.ExpiresAt})
	case api.MapStateKind:
		t := st.maps.create(i)
		c := &t.slots[t.findOrInsert(addr)].v
		if c.t == nil {
			c.t = newTable[cell]()
		}
		uc := &c.t.slots[c.t.findOrInsert(e.UserKey)].v
		uc.v, uc.exp = clone(e.Value), e.ExpiresAt
	default:
		t := st.cells.create(i)
		c := &t.slots[t.findOrInsert(addr)].v
		c.v, c.exp = clone(e.Value), e.ExpiresAt
	}
	return nil
}

func (b *backend) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	b.cur.Close()
	b.states, b.all, b.declared = nil, nil, nil
	return nil
}

// clone copies v; the copy of an empty value is non-nil, so that an empty
// value stays distinguishable from none where callers care.
func clone(v []byte) []byte {
	return append(make([]byte, 0, len(v)), v...)
}

// assign stores v into dst, reusing dst's memory when it fits and is not
// much larger than needed (so a value that shrank releases its memory).
func assign(dst, v []byte) []byte {
	if cap(dst) >= len(v) && cap(dst) <= 2*len(v)+64 && dst != nil {
		return append(dst[:0], v...)
	}
	return clone(v)
}
