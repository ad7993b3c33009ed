package heap

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/keygroup"
	"github.com/freshet/freshet/engine/state"
	"github.com/freshet/freshet/engine/state/statetest"
)

func open(t testing.TB, clock *statetest.Clock) *backend {
	t.Helper()
	b, err := New(state.Options{
		Operator:       "test",
		MaxParallelism: 128,
		KeyGroups:      keygroup.Range{Start: 0, End: 127},
		Now:            clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.(*backend)
}

func live[T any](g groups[T]) int {
	n := 0
	for _, t := range g.tabs {
		if t != nil {
			n += t.live()
		}
	}
	return n
}

func TestIncrementalCleanupRemovesUnreadEntries(t *testing.T) {
	clock := new(statetest.Clock)
	b := open(t, clock)
	v, err := b.Value(api.StateDescriptor{Name: "v", TTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	m, err := b.Map(api.StateDescriptor{Name: "m", TTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	l, err := b.List(api.StateDescriptor{Name: "l", TTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	for i := 0; i < n; i++ {
		b.SetCurrentKey([]byte(fmt.Sprint(i)))
		must(t, v.Put([]byte("x")))
		must(t, m.Put([]byte("a"), []byte("x")))
		must(t, m.Put([]byte("b"), []byte("x")))
		must(t, l.Add([]byte("x")))
	}
	vs, ms, ls := b.states["v"], b.states["m"], b.states["l"]
	if live(vs.cells) != n || live(ms.maps) != n || live(ls.lists) != n {
		t.Fatalf("live entries before expiry: %d %d %d", live(vs.cells), live(ms.maps), live(ls.lists))
	}
	clock.Advance(time.Second)
	// Touch one other key only: cleanup, not reads, must remove the rest.
	b.SetCurrentKey([]byte("elsewhere"))
	for i := 0; i < (n+128)/cleanupPerAccess+1; i++ {
		must(t, v.Put([]byte("y")))
		if _, err := m.IsEmpty(); err != nil {
			t.Fatal(err)
		}
		must(t, l.Iter(func([]byte) bool { return true }))
	}
	if got := live(vs.cells); got != 1 {
		t.Fatalf("value state keeps %d entries after a full cleanup pass, want 1", got)
	}
	if got := live(ms.maps); got != 0 {
		t.Fatalf("map state keeps %d entries after a full cleanup pass, want 0", got)
	}
	if got := live(ls.lists); got != 0 {
		t.Fatalf("list state keeps %d entries after a full cleanup pass, want 0", got)
	}
}

func TestTableRemoveWhileIterating(t *testing.T) {
	tb := newTable[int]()
	for i := 0; i < 10; i++ {
		tb.slots[tb.insert([]byte{byte(i)})].v = i
	}
	tb.beginIter()
	seen := 0
	for i := 0; i < len(tb.slots); i++ {
		if tb.slots[i].dead {
			continue
		}
		seen++
		tb.remove(i)                                  // the current one
		if j, ok := tb.find([]byte{9}); ok && i < 5 { // and one not reached yet
			tb.remove(j)
		}
	}
	tb.endIter()
	if seen != 9 || tb.live() != 0 || len(tb.slots) != 0 {
		t.Fatalf("seen %d, live %d, slots %d", seen, tb.live(), len(tb.slots))
	}
	// Positions are consistent again after compaction.
	for i := 0; i < 100; i++ {
		tb.slots[tb.insert([]byte{byte(i)})].v = i
	}
	for i := 0; i < 100; i += 3 {
		j, _ := tb.find([]byte{byte(i)})
		tb.remove(j)
	}
	for i := 0; i < 100; i++ {
		j, ok := tb.find([]byte{byte(i)})
		if ok != (i%3 != 0) || (ok && tb.slots[j].v != i) {
			t.Fatalf("entry %d: found=%v at %d", i, ok, j)
		}
	}
}

func TestHotPathDoesNotAllocate(t *testing.T) {
	clock := new(statetest.Clock)
	b := open(t, clock)
	sum := func(a, c, dst []byte) []byte {
		return binary.BigEndian.AppendUint64(dst, binary.BigEndian.Uint64(a)+binary.BigEndian.Uint64(c))
	}
	v, _ := b.Value(api.StateDescriptor{Name: "v"})
	vt, _ := b.Value(api.StateDescriptor{Name: "vt", TTL: time.Hour, TTLOnRead: true})
	m, _ := b.Map(api.StateDescriptor{Name: "m"})
	r, _ := b.Reducing(api.StateDescriptor{Name: "r", Reduce: sum})
	l, _ := b.List(api.StateDescriptor{Name: "l"})
	keys := [][]byte{[]byte("k1"), []byte("k2"), []byte("k3")}
	uk := []byte("uk")
	one := make([]byte, 8)
	binary.BigEndian.PutUint64(one, 1)
	for _, k := range keys {
		b.SetCurrentKey(k)
		must(t, v.Put(one))
		must(t, vt.Put(one))
		must(t, m.Put([]byte("uk"), one))
		must(t, r.Add(one))
		must(t, l.Add(one))
	}
	cases := []struct {
		name string
		op   func() error
	}{
		{"value get+put", func() error {
			got, _, err := v.Get()
			if err != nil {
				return err
			}
			return v.Put(got)
		}},
		{"value with TTL get+put", func() error {
			got, _, err := vt.Get()
			if err != nil {
				return err
			}
			return vt.Put(got)
		}},
		{"map get+put", func() error {
			got, _, err := m.Get(uk)
			if err != nil {
				return err
			}
			return m.Put(uk, got)
		}},
		{"reducing add+get", func() error {
			if err := r.Add(one); err != nil {
				return err
			}
			_, _, err := r.Get()
			return err
		}},
		{"list iter", func() error { return l.Iter(func([]byte) bool { return true }) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			i := 0
			allocs := testing.AllocsPerRun(1000, func() {
				b.SetCurrentKey(keys[i%len(keys)])
				i++
				if err := tc.op(); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Fatalf("%v allocations per operation, want 0", allocs)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
