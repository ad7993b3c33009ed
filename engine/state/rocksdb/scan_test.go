package rocksdb_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/linxGnu/grocksdb"

	"github.com/freshet/freshet/engine/api"
)

// Keys whose bytes end in 0xff are the edge of a prefix's successor; a
// callback that scans another state of the same key nests two scans.
func TestScansStayWithinTheirKey(t *testing.T) {
	b := open(t, newResources(t), options(t, all, nil))
	l, err := b.List(api.StateDescriptor{Name: "l"})
	must(t, err)
	m, err := b.Map(api.StateDescriptor{Name: "m"})
	must(t, err)
	keys := []string{"k", "k\xff", "k\xff\xff", "k\x00", "l", "\xff", "\xff\xff"}
	for _, k := range keys {
		b.SetCurrentKey([]byte(k))
		must(t, l.Add([]byte(k+"/1")))
		must(t, l.Add([]byte(k+"/2")))
		must(t, m.Put([]byte("a"), []byte(k)))
		must(t, m.Put([]byte("b\xff"), []byte(k)))
	}
	for _, k := range keys {
		b.SetCurrentKey([]byte(k))
		var got []string
		must(t, l.Iter(func(v []byte) bool {
			n := 0
			must(t, m.Iter(func(uk, v []byte) bool {
				if string(v) != k {
					t.Errorf("key %q: map entry %q holds %q", k, uk, v)
				}
				n++
				return true
			}))
			got = append(got, fmt.Sprintf("%s:%d", v, n))
			return true
		}))
		if want := fmt.Sprintf("[%s/1:2 %s/2:2]", k, k); fmt.Sprint(got) != want {
			t.Errorf("key %q: list %v, want %v", k, got, want)
		}
	}
	// Clearing one key leaves its neighbours whole.
	b.SetCurrentKey([]byte("k\xff"))
	must(t, l.Clear())
	must(t, m.Clear())
	for _, k := range keys {
		b.SetCurrentKey([]byte(k))
		n := 0
		must(t, l.Iter(func([]byte) bool { n++; return true }))
		if want := map[bool]int{true: 0, false: 2}[k == "k\xff"]; n != want {
			t.Errorf("key %q: %d list elements after clearing k\\xff, want %d", k, n, want)
		}
	}
}

// A scan must not walk the tombstones other keys' Clear left behind its
// prefix: with n cleared keys, reading each of them costs O(n) internal
// steps in all, not O(n²) (window joins and list-state windows clear one key
// after another and then read the next).
func TestScansSkipOnlyTheirOwnTombstones(t *testing.T) {
	runtime.LockOSThread() // RocksDB's perf context is per thread
	defer runtime.UnlockOSThread()
	b := open(t, newResources(t), options(t, all, nil))
	l, err := b.List(api.StateDescriptor{Name: "l"})
	must(t, err)
	const n = 2000
	for i := 0; i < n; i++ {
		b.SetCurrentKey([]byte(fmt.Sprint("key", i)))
		must(t, l.Add([]byte("x")))
	}
	for i := 0; i < n; i++ {
		b.SetCurrentKey([]byte(fmt.Sprint("key", i)))
		must(t, l.Clear())
	}
	grocksdb.SetPerfLevel(grocksdb.KEnableCount)
	defer grocksdb.SetPerfLevel(grocksdb.KDisable)
	pc := grocksdb.NewPerfContext()
	defer pc.Destroy()
	pc.Reset()
	for i := 0; i < n; i++ {
		b.SetCurrentKey([]byte(fmt.Sprint("key", i)))
		must(t, l.Iter(func([]byte) bool { t.Fatal("a cleared list has an element"); return false }))
	}
	const internalDeleteSkipped = 11 // rocksdb_internal_delete_skipped_count
	if skipped := pc.Metric(internalDeleteSkipped); skipped > 4*n {
		t.Fatalf("reading %d cleared lists skipped %d tombstones, want at most %d (one per list, plus slack)", n, skipped, 4*n)
	}
}

// Clear right after a complete Iter deletes what the Iter saw; anything in
// between (an Add, a partial Iter, another key) must not fool it.
func TestClearAfterIter(t *testing.T) {
	b := open(t, newResources(t), options(t, all, nil))
	l, err := b.List(api.StateDescriptor{Name: "l"})
	must(t, err)
	v, err := b.Value(api.StateDescriptor{Name: "v"})
	must(t, err)
	count := func(key string) int {
		b.SetCurrentKey([]byte(key))
		n := 0
		must(t, l.Iter(func([]byte) bool { n++; return true }))
		return n
	}
	fillKey := func(key string, n int) {
		b.SetCurrentKey([]byte(key))
		for i := 0; i < n; i++ {
			must(t, l.Add([]byte(fmt.Sprint(i))))
		}
	}
	steps := []struct {
		name    string
		between func()
	}{
		{"nothing", func() {}},
		{"an add", func() { must(t, l.Add([]byte("late"))) }},
		{"a partial iteration", func() { must(t, l.Iter(func([]byte) bool { return false })) }},
		{"another key's iteration", func() { count("b"); b.SetCurrentKey([]byte("a")) }},
		{"a value write", func() { must(t, v.Put([]byte("x"))) }},
	}
	for _, s := range steps {
		fillKey("a", 3)
		fillKey("b", 2)
		if n := count("a"); n != 3 {
			t.Fatalf("%s: %d elements before, want 3", s.name, n)
		}
		s.between()
		must(t, l.Clear())
		if n := count("a"); n != 0 {
			t.Fatalf("Clear after Iter and %s left %d elements", s.name, n)
		}
		if n := count("b"); n != 2 {
			t.Fatalf("Clear of key a after Iter and %s: key b has %d elements, want 2", s.name, n)
		}
		must(t, l.Clear())
	}
}

// An Add from inside the Iter that precedes a Clear is not in the Iter's
// view: the Clear must still remove it.
func TestClearAfterIterThatAdded(t *testing.T) {
	b := open(t, newResources(t), options(t, all, nil))
	l, err := b.List(api.StateDescriptor{Name: "l"})
	must(t, err)
	b.SetCurrentKey([]byte("a"))
	must(t, l.Add([]byte("1")))
	added := false
	must(t, l.Iter(func([]byte) bool {
		if !added {
			added = true
			must(t, l.Add([]byte("2")))
		}
		return true
	}))
	must(t, l.Clear())
	n := 0
	must(t, l.Iter(func([]byte) bool { n++; return true }))
	if n != 0 {
		t.Fatalf("%d elements left after Clear", n)
	}
}
