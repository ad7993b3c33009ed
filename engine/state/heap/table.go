package heap

// table is a hash table of entries addressed by bytes: a Go map from address
// to position plus a dense slice of slots. The map gives allocation-free
// lookups with string(bytes) keys; the slice gives a stable, resumable order
// for incremental TTL cleanup and snapshots, which a Go map's range cannot.
//
// Removal swaps the last slot into the hole. While a caller iterates the
// table (iterating > 0), removal only marks the slot dead, so that the
// iteration neither skips nor repeats entries; dead slots are compacted when
// the last iteration ends.
type table[T any] struct {
	index     map[string]int32
	slots     []slot[T]
	iterating int
	dead      int
	// gen changes whenever positions may have changed (a removal), so a
	// remembered position is valid while gen is unchanged.
	gen uint64
}

type slot[T any] struct {
	addr string
	dead bool
	v    T
}

func newTable[T any]() *table[T] {
	return &table[T]{index: make(map[string]int32)}
}

// live is the number of entries (dead slots excluded).
func (t *table[T]) live() int { return len(t.index) }

// find returns the position of addr. The string conversion in the map index
// does not allocate.
func (t *table[T]) find(addr []byte) (int, bool) {
	i, ok := t.index[string(addr)]
	return int(i), ok
}

// insert adds a zero entry for addr, which must be absent, and returns its position.
func (t *table[T]) insert(addr []byte) int {
	s := string(addr)
	t.slots = append(t.slots, slot[T]{addr: s})
	i := len(t.slots) - 1
	t.index[s] = int32(i)
	return i
}

// findOrInsert returns the position of addr, inserting a zero entry if absent.
func (t *table[T]) findOrInsert(addr []byte) int {
	if i, ok := t.index[string(addr)]; ok {
		return int(i)
	}
	return t.insert(addr)
}

// remove deletes the entry at position i.
func (t *table[T]) remove(i int) {
	t.gen++
	delete(t.index, t.slots[i].addr)
	if t.iterating > 0 {
		var zero T
		t.slots[i].v = zero
		t.slots[i].dead = true
		t.dead++
		return
	}
	last := len(t.slots) - 1
	if i != last {
		t.slots[i] = t.slots[last]
		t.index[t.slots[i].addr] = int32(i)
	}
	t.slots[last] = slot[T]{}
	t.slots = t.slots[:last]
	t.shrink()
}

// shrink gives memory back after many removals.
func (t *table[T]) shrink() {
	if c := cap(t.slots); c >= 64 && len(t.slots) < c/4 {
		t.slots = append(make([]slot[T], 0, 2*len(t.slots)), t.slots...)
	}
}

// beginIter and endIter bracket a caller's iteration over slots.
func (t *table[T]) beginIter() { t.iterating++ }

func (t *table[T]) endIter() {
	t.iterating--
	if t.iterating > 0 || t.dead == 0 {
		return
	}
	t.gen++ // slots move
	j := 0
	for i := range t.slots {
		if t.slots[i].dead {
			continue
		}
		if i != j {
			t.slots[j] = t.slots[i]
			t.index[t.slots[j].addr] = int32(j)
		}
		j++
	}
	clear(t.slots[j:])
	t.slots = t.slots[:j]
	t.dead = 0
	t.shrink()
}

// groups holds one table per key group of the backend's range, created on
// first write.
type groups[T any] struct {
	tabs []*table[T]
}

func newGroups[T any](n int) groups[T] { return groups[T]{tabs: make([]*table[T], n)} }

// at returns the table of key-group index i, or nil.
func (g *groups[T]) at(i int) *table[T] { return g.tabs[i] }

// create returns the table of key-group index i, creating it.
func (g *groups[T]) create(i int) *table[T] {
	t := g.tabs[i]
	if t == nil {
		t = newTable[T]()
		g.tabs[i] = t
	}
	return t
}
