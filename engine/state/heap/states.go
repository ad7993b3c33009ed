package heap

import (
	"github.com/freshet/freshet/engine/state/internal/keyed"
)

// access checks that state can be used and, for a state with a TTL, reads
// the clock once and runs a step of incremental cleanup. now is 0 when the
// clock was not read; expired reads it lazily.
func (b *backend) access(st *hstate) (now int64, err error) {
	if err := b.cur.Err(); err != nil {
		return 0, err
	}
	if st.ttl > 0 {
		now = b.nowMs()
		st.cleanup(now)
	}
	return now, nil
}

// expired reports whether exp has passed, reading the clock into *now only
// when an entry has an expiry and the clock was not read yet.
func (b *backend) expired(exp int64, now *int64) bool {
	if exp == 0 {
		return false
	}
	if *now == 0 {
		*now = b.nowMs()
	}
	return exp <= *now
}

// expiry is the expiry of an entry written at now.
func (st *hstate) expiry(now int64) int64 {
	if st.ttl == 0 {
		return 0
	}
	return now + st.ttl
}

// refresh is the expiry of an entry read at now: extended with TTLOnRead.
func (st *hstate) refresh(exp, now int64) int64 {
	if st.ttl > 0 && st.desc.TTLOnRead {
		return now + st.ttl
	}
	return exp
}

// cleanup examines the next few entries of st and removes expired ones.
func (st *hstate) cleanup(now int64) {
	switch {
	case st.lists.tabs != nil:
		cleanupGroups(&st.lists, &st.cleanKG, &st.cleanPos, func(c *listCell) bool {
			c.elems = dropExpired(c.elems, now)
			return len(c.elems) == 0
		})
	case st.maps.tabs != nil:
		cleanupGroups(&st.maps, &st.cleanKG, &st.cleanPos, func(c *mapCell) bool {
			t := c.t
			if t.iterating > 0 {
				return false
			}
			for i := 0; i < len(t.slots); {
				if keyed.Expired(t.slots[i].v.exp, now) {
					t.remove(i)
				} else {
					i++
				}
			}
			return t.live() == 0
		})
	default:
		cleanupGroups(&st.cells, &st.cleanKG, &st.cleanPos, func(c *cell) bool {
			return keyed.Expired(c.exp, now)
		})
	}
}

func cleanupGroups[T any](g *groups[T], kg, pos *int, gone func(*T) bool) {
	for budget := cleanupPerAccess; budget > 0; budget-- {
		if *kg >= len(g.tabs) {
			*kg, *pos = 0, 0
		}
		t := g.tabs[*kg]
		if t == nil || *pos >= len(t.slots) || t.iterating > 0 {
			*kg++
			*pos = 0
			continue
		}
		if s := &t.slots[*pos]; !s.dead && gone(&s.v) {
			t.remove(*pos) // the last slot moved here: examine it next
		} else {
			*pos++
		}
	}
}

// dropExpired removes expired elements in place, keeping order.
func dropExpired(elems []cell, now int64) []cell {
	j := 0
	for _, e := range elems {
		if !keyed.Expired(e.exp, now) {
			elems[j] = e
			j++
		}
	}
	clear(elems[j:])
	return elems[:j]
}

type valueState struct {
	b  *backend
	st *hstate
}

func (s *valueState) Get() ([]byte, bool, error) {
	b, st := s.b, s.st
	now, err := b.access(st)
	if err != nil {
		return nil, false, err
	}
	if c := b.getCell(st, &now); c != nil {
		return c.v, true, nil
	}
	return nil, false, nil
}

func (s *valueState) Put(v []byte) error {
	b, st := s.b, s.st
	now, err := b.access(st)
	if err != nil {
		return err
	}
	c := b.cell(st)
	c.v = assign(c.v, v)
	c.exp = st.expiry(now)
	return nil
}

func (s *valueState) Clear() error { return s.b.clearCell(s.st) }

func (b *backend) clearCell(st *hstate) error {
	if _, err := b.access(st); err != nil {
		return err
	}
	if t, i, ok := b.findCell(st); ok {
		t.remove(i)
	}
	return nil
}

// findCell finds the current address's cell of st.
func (b *backend) findCell(st *hstate) (*table[cell], int, bool) {
	if h := &st.hint; h.epoch == b.epoch && h.t != nil && h.gen == h.t.gen {
		return h.t, h.i, true
	}
	t := st.cells.at(b.kgIndex())
	if t == nil {
		return nil, 0, false
	}
	i, ok := t.find(b.addr())
	if ok {
		st.hint = hint{epoch: b.epoch, t: t, gen: t.gen, i: i}
	}
	return t, i, ok
}

// cell returns the current address's cell of st, inserting an empty one.
func (b *backend) cell(st *hstate) *cell {
	t, i, ok := b.findCell(st)
	if !ok {
		t = st.cells.create(b.kgIndex())
		i = t.insert(b.addr())
		st.hint = hint{epoch: b.epoch, t: t, gen: t.gen, i: i}
	}
	return &t.slots[i].v
}

// liveCell returns the live cell of the current key, creating an empty one
// (v == nil) when it is absent or expired.
func (b *backend) liveCell(st *hstate, now *int64) *cell {
	c := b.cell(st)
	if b.expired(c.exp, now) {
		c.v, c.exp = nil, 0
	}
	return c
}

// getCell returns the live cell of the current key, or nil.
func (b *backend) getCell(st *hstate, now *int64) *cell {
	t, i, ok := b.findCell(st)
	if !ok {
		return nil
	}
	c := &t.slots[i].v
	if b.expired(c.exp, now) {
		t.remove(i)
		return nil
	}
	c.exp = st.refresh(c.exp, *now)
	return c
}

type reducingState struct {
	b  *backend
	st *hstate
}

func (s *reducingState) Add(v []byte) error {
	b, st := s.b, s.st
	now, err := b.access(st)
	if err != nil {
		return err
	}
	c := b.liveCell(st, &now)
	if c.v == nil {
		c.v = clone(v)
	} else {
		out := st.desc.Reduce(c.v, v, b.scratch[:0])
		c.v = assign(c.v, out)
		b.scratch = keyed.Adopt(b.scratch, out, c.v, v)
	}
	c.exp = st.expiry(now)
	return nil
}

func (s *reducingState) Get() ([]byte, bool, error) {
	b, st := s.b, s.st
	now, err := b.access(st)
	if err != nil {
		return nil, false, err
	}
	if c := b.getCell(st, &now); c != nil {
		return c.v, true, nil
	}
	return nil, false, nil
}

func (s *reducingState) Clear() error { return s.b.clearCell(s.st) }

type aggregatingState struct {
	b  *backend
	st *hstate
}

func (s *aggregatingState) Add(in []byte) error {
	b, st := s.b, s.st
	now, err := b.access(st)
	if err != nil {
		return err
	}
	agg := st.desc.Aggregate
	c := b.liveCell(st, &now)
	acc := c.v
	if acc == nil {
		acc = agg.CreateAccumulator(b.scratch2[:0])
		b.scratch2 = keyed.Adopt(b.scratch2, acc, in, nil)
	}
	out := agg.Add(acc, in, b.scratch[:0])
	c.v = assign(c.v, out)
	b.scratch = keyed.Adopt(b.scratch, out, acc, in)
	c.exp = st.expiry(now)
	return nil
}

func (s *aggregatingState) Get() ([]byte, bool, error) {
	b, st := s.b, s.st
	now, err := b.access(st)
	if err != nil {
		return nil, false, err
	}
	c := b.getCell(st, &now)
	if c == nil {
		return nil, false, nil
	}
	res := st.desc.Aggregate.Result(c.v, b.result[:0])
	b.result = keyed.Adopt(b.result, res, c.v, nil)
	return res, true, nil
}

func (s *aggregatingState) Clear() error { return s.b.clearCell(s.st) }

type listState struct {
	b  *backend
	st *hstate
}

func (s *listState) Add(v []byte) error {
	b, st := s.b, s.st
	now, err := b.access(st)
	if err != nil {
		return err
	}
	t := st.lists.create(b.kgIndex())
	c := &t.slots[t.findOrInsert(b.addr())].v
	c.elems = append(c.elems, cell{v: clone(v), exp: st.expiry(now)})
	return nil
}

func (s *listState) Update(vs [][]byte) error {
	if len(vs) == 0 {
		return s.Clear()
	}
	b, st := s.b, s.st
	now, err := b.access(st)
	if err != nil {
		return err
	}
	t := st.lists.create(b.kgIndex())
	c := &t.slots[t.findOrInsert(b.addr())].v
	old := c.elems
	exp := st.expiry(now)
	c.elems = c.elems[:0]
	for i, v := range vs {
		var buf []byte
		if i < len(old) {
			buf = old[i].v
		}
		c.elems = append(c.elems, cell{v: assign(buf, v), exp: exp})
	}
	if len(old) > len(vs) {
		clear(old[len(vs):])
	}
	return nil
}

func (s *listState) Iter(fn func(v []byte) bool) error {
	b, st := s.b, s.st
	now, err := b.access(st)
	if err != nil {
		return err
	}
	t := st.lists.at(b.kgIndex())
	if t == nil {
		return nil
	}
	i, ok := t.find(b.addr())
	if !ok {
		return nil
	}
	c := &t.slots[i].v
	for _, e := range c.elems {
		if e.exp != 0 {
			if now == 0 {
				now = b.nowMs()
			}
			c.elems = dropExpired(c.elems, now)
			break
		}
	}
	if len(c.elems) == 0 {
		t.remove(i)
		return nil
	}
	if st.ttl > 0 && st.desc.TTLOnRead {
		for j := range c.elems {
			c.elems[j].exp = now + st.ttl
		}
	}
	t.beginIter()
	defer t.endIter()
	// Elements added by fn are not visited; a Clear by fn ends the iteration.
	for j, n := 0, len(c.elems); j < n; j++ {
		sl := &t.slots[i]
		if sl.dead || j >= len(sl.v.elems) || !fn(sl.v.elems[j].v) {
			break
		}
	}
	return nil
}

func (s *listState) Clear() error {
	b, st := s.b, s.st
	if _, err := b.access(st); err != nil {
		return err
	}
	if t := st.lists.at(b.kgIndex()); t != nil {
		if i, ok := t.find(b.addr()); ok {
			t.remove(i)
		}
	}
	return nil
}

type mapState struct {
	b  *backend
	st *hstate
}

// entries returns the outer table and position of the current key's map, if any.
func (s *mapState) entries() (*table[mapCell], int, bool) {
	t := s.st.maps.at(s.b.kgIndex())
	if t == nil {
		return nil, 0, false
	}
	i, ok := t.find(s.b.addr())
	return t, i, ok
}

func (s *mapState) Get(uk []byte) ([]byte, bool, error) {
	b, st := s.b, s.st
	now, err := b.access(st)
	if err != nil {
		return nil, false, err
	}
	t, i, ok := s.entries()
	if !ok {
		return nil, false, nil
	}
	inner := t.slots[i].v.t
	j, ok := inner.find(uk)
	if !ok {
		return nil, false, nil
	}
	uc := &inner.slots[j].v
	if b.expired(uc.exp, &now) {
		inner.remove(j)
		if inner.live() == 0 {
			t.remove(i)
		}
		return nil, false, nil
	}
	uc.exp = st.refresh(uc.exp, now)
	return uc.v, true, nil
}

func (s *mapState) Put(uk, v []byte) error {
	b, st := s.b, s.st
	now, err := b.access(st)
	if err != nil {
		return err
	}
	t := st.maps.create(b.kgIndex())
	c := &t.slots[t.findOrInsert(b.addr())].v
	if c.t == nil {
		c.t = newTable[cell]()
	}
	uc := &c.t.slots[c.t.findOrInsert(uk)].v
	uc.v = assign(uc.v, v)
	uc.exp = st.expiry(now)
	return nil
}

func (s *mapState) Delete(uk []byte) error {
	if _, err := s.b.access(s.st); err != nil {
		return err
	}
	t, i, ok := s.entries()
	if !ok {
		return nil
	}
	inner := t.slots[i].v.t
	if j, ok := inner.find(uk); ok {
		inner.remove(j)
		if inner.live() == 0 {
			t.remove(i)
		}
	}
	return nil
}

func (s *mapState) Iter(fn func(uk, v []byte) bool) error {
	b, st := s.b, s.st
	now, err := b.access(st)
	if err != nil {
		return err
	}
	t, i, ok := s.entries()
	if !ok {
		return nil
	}
	inner := t.slots[i].v.t
	t.beginIter()
	inner.beginIter()
	// Entries put by fn are not visited; entries deleted by fn before they
	// are reached are not visited; a Clear by fn ends the iteration.
	for j, n := 0, len(inner.slots); j < n && !t.slots[i].dead; j++ {
		sl := &inner.slots[j]
		if sl.dead {
			continue
		}
		if b.expired(sl.v.exp, &now) {
			inner.remove(j)
			continue
		}
		sl.v.exp = st.refresh(sl.v.exp, now)
		b.ukBuf = append(b.ukBuf[:0], sl.addr...)
		if !fn(b.ukBuf, sl.v.v) {
			break
		}
	}
	inner.endIter()
	if !t.slots[i].dead && inner.live() == 0 {
		t.remove(i)
	}
	t.endIter()
	return nil
}

func (s *mapState) IsEmpty() (bool, error) {
	b, st := s.b, s.st
	now, err := b.access(st)
	if err != nil {
		return false, err
	}
	t, i, ok := s.entries()
	if !ok {
		return true, nil
	}
	inner := t.slots[i].v.t
	for j := 0; j < len(inner.slots); {
		sl := &inner.slots[j]
		switch {
		case sl.dead:
			j++
		case !b.expired(sl.v.exp, &now):
			return false, nil
		default:
			inner.remove(j) // swaps the last slot in, unless iterating
			if inner.iterating > 0 {
				j++
			}
		}
	}
	t.remove(i)
	return true, nil
}

func (s *mapState) Clear() error {
	if _, err := s.b.access(s.st); err != nil {
		return err
	}
	if t, i, ok := s.entries(); ok {
		t.remove(i)
	}
	return nil
}
