package statetest

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/keygroup"
	"github.com/freshet/freshet/engine/state"
)

func (s *suite) testValue(t *testing.T) {
	b := s.openAll(t, nil)
	v := mustT[api.ValueState](t)(b.Value(valueDesc("v")))
	b.SetCurrentKey([]byte("k"))

	wantValue(t, v, "", false)
	must(t, v.Clear()) // clearing an absent value is fine
	must(t, v.Put([]byte("a")))
	wantValue(t, v, "a", true)
	must(t, v.Put([]byte("a longer value that needs more room")))
	wantValue(t, v, "a longer value that needs more room", true)
	must(t, v.Put([]byte("b")))
	wantValue(t, v, "b", true)

	// Put copies its input.
	in := []byte("copied")
	must(t, v.Put(in))
	in[0] = 'X'
	wantValue(t, v, "copied", true)

	// Empty is a value, distinct from absent.
	for _, empty := range [][]byte{{}, nil} {
		must(t, v.Put(empty))
		wantValue(t, v, "", true)
	}
	must(t, v.Clear())
	wantValue(t, v, "", false)
}

func (s *suite) testList(t *testing.T) {
	b := s.openAll(t, nil)
	l := mustT[api.ListState](t)(b.List(api.StateDescriptor{Name: "l"}))
	b.SetCurrentKey([]byte("k"))

	wantList(t, l)
	must(t, l.Clear())
	in := []byte("a")
	must(t, l.Add(in))
	in[0] = 'X' // Add copies
	must(t, l.Add([]byte("b")))
	must(t, l.Add(nil)) // an empty element is an element
	must(t, l.Add([]byte("c")))
	wantList(t, l, "a", "b", "", "c")

	visited := 0
	must(t, l.Iter(func([]byte) bool { visited++; return visited < 2 }))
	if visited != 2 {
		t.Fatalf("Iter continued after fn returned false: %d calls", visited)
	}

	must(t, l.Update([][]byte{[]byte("x"), []byte("y")}))
	wantList(t, l, "x", "y")
	must(t, l.Update([][]byte{[]byte("only")}))
	wantList(t, l, "only")
	must(t, l.Update([][]byte{[]byte("p"), []byte("q"), []byte("r")}))
	wantList(t, l, "p", "q", "r")
	must(t, l.Update(nil))
	wantList(t, l)
	must(t, l.Add([]byte("again")))
	wantList(t, l, "again")
	must(t, l.Clear())
	wantList(t, l)

	// Many elements keep their order.
	var want []string
	for i := 0; i < 500; i++ {
		e := fmt.Sprintf("e%03d", i)
		want = append(want, e)
		must(t, l.Add([]byte(e)))
	}
	wantList(t, l, want...)
}

func (s *suite) testMap(t *testing.T) {
	b := s.openAll(t, nil)
	m := mustT[api.MapState](t)(b.Map(api.StateDescriptor{Name: "m"}))
	b.SetCurrentKey([]byte("k"))

	wantMap(t, m, map[string]string{})
	wantMapGet(t, m, "x", "", false)
	must(t, m.Delete([]byte("x"))) // deleting an absent entry is fine
	must(t, m.Clear())

	uk, val := []byte("k1"), []byte("v1")
	must(t, m.Put(uk, val))
	uk[0], val[0] = 'X', 'X' // Put copies both
	must(t, m.Put([]byte("k"), []byte("prefix of k1")))
	must(t, m.Put([]byte("k10"), []byte("k1 is a prefix")))
	must(t, m.Put([]byte(""), []byte("empty user key")))
	must(t, m.Put([]byte("empty"), nil))
	want := map[string]string{"k1": "v1", "k": "prefix of k1", "k10": "k1 is a prefix", "": "empty user key", "empty": ""}
	wantMap(t, m, want)
	for k, v := range want {
		wantMapGet(t, m, k, v, true)
	}

	must(t, m.Put([]byte("k1"), []byte("v1'")))
	want["k1"] = "v1'"
	must(t, m.Delete([]byte("k")))
	delete(want, "k")
	wantMap(t, m, want)
	wantMapGet(t, m, "k", "", false)

	visited := 0
	must(t, m.Iter(func(_, _ []byte) bool { visited++; return false }))
	if visited != 1 {
		t.Fatalf("Iter continued after fn returned false: %d calls", visited)
	}

	// The entry being visited may be updated or deleted from fn.
	must(t, m.Iter(func(uk, v []byte) bool {
		must(t, m.Put(uk, append([]byte("new "), v...)))
		return true
	}))
	for k, v := range want {
		want[k] = "new " + v
	}
	wantMap(t, m, want)
	seen := map[string]bool{}
	must(t, m.Iter(func(uk, _ []byte) bool {
		seen[string(uk)] = true
		must(t, m.Delete(uk))
		return true
	}))
	if len(seen) != len(want) {
		t.Fatalf("deleting while iterating visited %d of %d entries", len(seen), len(want))
	}
	wantMap(t, m, map[string]string{})

	must(t, m.Put([]byte("a"), []byte("1")))
	must(t, m.Clear())
	wantMap(t, m, map[string]string{})

	// Many entries.
	want = map[string]string{}
	for i := 0; i < 500; i++ {
		k, v := fmt.Sprintf("uk%d", i), fmt.Sprintf("v%d", i)
		want[k] = v
		must(t, m.Put([]byte(k), []byte(v)))
	}
	wantMap(t, m, want)
}

func (s *suite) testReducing(t *testing.T) {
	b := s.openAll(t, nil)
	r := mustT[api.ReducingState](t)(b.Reducing(reducingDesc("sum")))
	b.SetCurrentKey([]byte("k"))

	wantU64(t, r.Get, 0, false)
	must(t, r.Add(u64(1)))
	wantU64(t, r.Get, 1, true)
	in := u64(2)
	must(t, r.Add(in))
	in[7] = 99 // Add copies
	must(t, r.Add(u64(3)))
	wantU64(t, r.Get, 6, true)
	must(t, r.Clear())
	wantU64(t, r.Get, 0, false)
	must(t, r.Add(u64(5)))
	wantU64(t, r.Get, 5, true)

	// Reduce functions that return one of their inputs work too.
	keepMax := func(a, b, _ []byte) []byte {
		if bytes.Compare(a, b) >= 0 {
			return a
		}
		return b
	}
	mx := mustT[api.ReducingState](t)(b.Reducing(api.StateDescriptor{Name: "max", Reduce: keepMax}))
	for _, n := range []uint64{3, 9, 4, 9, 1} {
		must(t, mx.Add(u64(n)))
	}
	wantU64(t, mx.Get, 9, true)
}

func (s *suite) testAggregating(t *testing.T) {
	b := s.openAll(t, nil)
	a := mustT[api.AggregatingState](t)(b.Aggregating(aggDesc("avg")))
	b.SetCurrentKey([]byte("k"))

	wantU64(t, a.Get, 0, false)
	must(t, a.Add(u64(2)))
	wantU64(t, a.Get, 2, true)
	must(t, a.Add(u64(4)))
	must(t, a.Add(u64(9)))
	wantU64(t, a.Get, 5, true)
	must(t, a.Clear())
	wantU64(t, a.Get, 0, false)
	must(t, a.Add(u64(7)))
	wantU64(t, a.Get, 7, true)
}

func (s *suite) testLargeValues(t *testing.T) {
	b := s.openAll(t, nil)
	v := mustT[api.ValueState](t)(b.Value(valueDesc("v")))
	l := mustT[api.ListState](t)(b.List(api.StateDescriptor{Name: "l"}))
	m := mustT[api.MapState](t)(b.Map(api.StateDescriptor{Name: "m"}))
	rng := rand.New(rand.NewPCG(1, 2))
	big := func(n int) []byte {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		return p
	}
	large, medium := big(4<<20), big(300<<10)
	largeKey := big(64 << 10)
	b.SetCurrentKey(largeKey)
	b.SetCurrentNamespace(big(10 << 10))

	must(t, v.Put(large))
	got, ok, err := v.Get()
	must(t, err)
	if !ok || !bytes.Equal(got, large) {
		t.Fatalf("4 MiB value came back as %d bytes, ok=%v", len(got), ok)
	}
	must(t, l.Add(medium))
	must(t, l.Add(large))
	var lens []int
	must(t, l.Iter(func(e []byte) bool { lens = append(lens, len(e)); return true }))
	if fmt.Sprint(lens) != fmt.Sprint([]int{len(medium), len(large)}) {
		t.Fatalf("list element sizes %v", lens)
	}
	bigUK := big(100 << 10)
	must(t, m.Put(bigUK, large))
	got, ok, err = m.Get(bigUK)
	must(t, err)
	if !ok || !bytes.Equal(got, large) {
		t.Fatalf("4 MiB map value came back as %d bytes, ok=%v", len(got), ok)
	}

	// And they survive a snapshot.
	b2 := s.openAll(t, nil)
	restoreAll(t, b2, Entries(t, b))
	sameLines(t, "restored large state", Dump(t, b2), Dump(t, b))
}

func (s *suite) testNamespaces(t *testing.T) {
	b := s.openAll(t, nil)
	v := mustT[api.ValueState](t)(b.Value(valueDesc("v")))
	l := mustT[api.ListState](t)(b.List(api.StateDescriptor{Name: "l"}))
	m := mustT[api.MapState](t)(b.Map(api.StateDescriptor{Name: "m"}))
	b.SetCurrentKey([]byte("k"))
	if len(b.CurrentNamespace()) != 0 {
		t.Fatalf("initial namespace %q, want empty", b.CurrentNamespace())
	}
	namespaces := []string{"", "w", "w1", "w10", "\x00", "\x01w"}
	for _, ns := range namespaces {
		b.SetCurrentNamespace([]byte(ns))
		if string(b.CurrentNamespace()) != ns {
			t.Fatalf("CurrentNamespace = %q, want %q", b.CurrentNamespace(), ns)
		}
		must(t, v.Put([]byte("v@"+ns)))
		must(t, l.Add([]byte("l@"+ns)))
		must(t, m.Put([]byte("uk"), []byte("m@"+ns)))
	}
	for _, ns := range namespaces {
		b.SetCurrentNamespace([]byte(ns))
		wantValue(t, v, "v@"+ns, true)
		wantList(t, l, "l@"+ns)
		wantMap(t, m, map[string]string{"uk": "m@" + ns})
	}
	// nil and empty are the same namespace.
	b.SetCurrentNamespace(nil)
	wantValue(t, v, "v@", true)

	// The namespace stays current across keys.
	b.SetCurrentNamespace([]byte("w"))
	b.SetCurrentKey([]byte("other"))
	if string(b.CurrentNamespace()) != "w" {
		t.Fatalf("SetCurrentKey reset the namespace to %q", b.CurrentNamespace())
	}
	wantValue(t, v, "", false)
	must(t, v.Put([]byte("other@w")))
	b.SetCurrentKey([]byte("k"))
	wantValue(t, v, "v@w", true)

	// Clearing one namespace leaves the others.
	must(t, m.Clear())
	must(t, l.Clear())
	must(t, v.Clear())
	b.SetCurrentNamespace([]byte("w1"))
	wantValue(t, v, "v@w1", true)
	wantList(t, l, "l@w1")
	wantMap(t, m, map[string]string{"uk": "m@w1"})
}

func (s *suite) testKeys(t *testing.T) {
	b := s.openAll(t, nil)
	v := mustT[api.ValueState](t)(b.Value(valueDesc("v")))
	m := mustT[api.MapState](t)(b.Map(api.StateDescriptor{Name: "m"}))

	// Keys, namespaces and user keys that would collide if the address
	// concatenated them without lengths.
	type addr struct{ key, ns, uk string }
	addrs := []addr{
		{"a", "b", ""}, {"ab", "", ""}, {"", "ab", ""}, {"a", "", "b"},
		{"", "", ""}, {"\x01", "", ""}, {"\x01a", "", ""}, {"a\x00", "", ""},
		{"a", "b", "c"}, {"a", "bc", ""}, {"ab", "c", ""},
	}
	for i, a := range addrs {
		b.SetCurrentKey([]byte(a.key))
		b.SetCurrentNamespace([]byte(a.ns))
		must(t, v.Put([]byte(fmt.Sprint(i))))
		must(t, m.Put([]byte(a.uk), []byte(fmt.Sprint(i))))
	}
	for i, a := range addrs {
		b.SetCurrentKey([]byte(a.key))
		b.SetCurrentNamespace([]byte(a.ns))
		if string(b.CurrentKey()) != a.key {
			t.Fatalf("CurrentKey = %q, want %q", b.CurrentKey(), a.key)
		}
		last := i
		for j, x := range addrs {
			if x.key == a.key && x.ns == a.ns {
				last = j // later writes to the same address win
			}
		}
		wantValue(t, v, fmt.Sprint(last), true)
		got := mapOf(t, m)
		for uk := range got {
			found := false
			for _, x := range addrs {
				found = found || (x.key == a.key && x.ns == a.ns && x.uk == uk)
			}
			if !found {
				t.Fatalf("key %q ns %q: map holds user key %q written under another address", a.key, a.ns, uk)
			}
		}
	}

	// SetCurrentKey copies the key.
	k := []byte("mutable")
	b.SetCurrentKey(k)
	b.SetCurrentNamespace(nil)
	must(t, v.Put([]byte("x")))
	k[0] = 'X'
	if string(b.CurrentKey()) != "mutable" {
		t.Fatalf("CurrentKey changed with the caller's slice: %q", b.CurrentKey())
	}
	wantValue(t, v, "x", true)

	// Many keys across all key groups.
	keys := keysIn(2000, keygroup.Range{Start: 0, End: defaultMaxParallelism - 1}, defaultMaxParallelism)
	for i, key := range keys {
		b.SetCurrentKey(key)
		must(t, v.Put([]byte(fmt.Sprint(i))))
	}
	for i, key := range keys {
		b.SetCurrentKey(key)
		wantValue(t, v, fmt.Sprint(i), true)
	}
}

func (s *suite) testStates(t *testing.T) {
	b := s.openAll(t, nil)
	v1 := mustT[api.ValueState](t)(b.Value(valueDesc("one")))
	v2 := mustT[api.ValueState](t)(b.Value(api.StateDescriptor{Name: "two", Kind: api.ValueStateKind}))
	mustT[api.ListState](t)(b.List(api.StateDescriptor{Name: "three"}))
	b.SetCurrentKey([]byte("k"))
	must(t, v1.Put([]byte("1")))
	wantValue(t, v2, "", false)
	must(t, v2.Put([]byte("2")))
	wantValue(t, v1, "1", true)

	// Declaring again with the same kind gives a handle on the same state.
	again := mustT[api.ValueState](t)(b.Value(valueDesc("one")))
	wantValue(t, again, "1", true)

	var names []string
	for _, d := range b.Descriptors() {
		names = append(names, fmt.Sprintf("%s:%s", d.Name, d.Kind))
	}
	if fmt.Sprint(names) != "[one:value two:value three:list]" {
		t.Fatalf("Descriptors = %v, want declaration order with kinds", names)
	}
}

func (s *suite) testKindMismatch(t *testing.T) {
	declare := map[api.StateKind]func(b state.Backend, name string) error{
		api.ValueStateKind: func(b state.Backend, n string) error { _, err := b.Value(valueDesc(n)); return err },
		api.ListStateKind: func(b state.Backend, n string) error {
			_, err := b.List(api.StateDescriptor{Name: n})
			return err
		},
		api.MapStateKind: func(b state.Backend, n string) error {
			_, err := b.Map(api.StateDescriptor{Name: n})
			return err
		},
		api.ReducingStateKind:    func(b state.Backend, n string) error { _, err := b.Reducing(reducingDesc(n)); return err },
		api.AggregatingStateKind: func(b state.Backend, n string) error { _, err := b.Aggregating(aggDesc(n)); return err },
	}
	b := s.openAll(t, nil)
	for first := api.ValueStateKind; first <= api.AggregatingStateKind; first++ {
		name := "state-" + first.String()
		must(t, declare[first](b, name))
		for second := api.ValueStateKind; second <= api.AggregatingStateKind; second++ {
			if second == first {
				continue
			}
			wantErrIs(t, declare[second](b, name), state.ErrStateKindMismatch, fmt.Sprintf("%q", name))
		}
		must(t, declare[first](b, name))
	}

	// A descriptor whose Kind disagrees with the method used.
	_, err := b.Value(api.StateDescriptor{Name: "x", Kind: api.MapStateKind})
	wantErrIs(t, err, state.ErrStateKindMismatch, `"x"`)
}

func (s *suite) testInvalidDescriptor(t *testing.T) {
	b := s.openAll(t, nil)
	cases := []struct {
		name string
		fn   func() error
	}{
		{"no name", func() error { _, err := b.Value(api.StateDescriptor{}); return err }},
		{"negative TTL", func() error { _, err := b.Value(api.StateDescriptor{Name: "n", TTL: -1}); return err }},
		{"reducing without Reduce", func() error { _, err := b.Reducing(api.StateDescriptor{Name: "r"}); return err }},
		{"aggregating without Aggregate", func() error { _, err := b.Aggregating(api.StateDescriptor{Name: "a"}); return err }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { wantErrIs(t, tc.fn(), state.ErrInvalidDescriptor) })
	}
	if len(b.Descriptors()) != 0 {
		t.Fatalf("invalid descriptors were declared: %v", b.Descriptors())
	}
}

// ops returns one operation of every state method, for error checks.
func ops(t *testing.T, b state.Backend) map[string]func() error {
	v := mustT[api.ValueState](t)(b.Value(valueDesc("v")))
	l := mustT[api.ListState](t)(b.List(api.StateDescriptor{Name: "l"}))
	m := mustT[api.MapState](t)(b.Map(api.StateDescriptor{Name: "m"}))
	r := mustT[api.ReducingState](t)(b.Reducing(reducingDesc("r")))
	a := mustT[api.AggregatingState](t)(b.Aggregating(aggDesc("a")))
	return map[string]func() error{
		"value.Get":       func() error { _, _, err := v.Get(); return err },
		"value.Put":       func() error { return v.Put([]byte("x")) },
		"value.Clear":     v.Clear,
		"list.Add":        func() error { return l.Add([]byte("x")) },
		"list.Update":     func() error { return l.Update([][]byte{[]byte("x")}) },
		"list.Iter":       func() error { return l.Iter(func([]byte) bool { return true }) },
		"list.Clear":      l.Clear,
		"map.Get":         func() error { _, _, err := m.Get([]byte("x")); return err },
		"map.Put":         func() error { return m.Put([]byte("x"), []byte("y")) },
		"map.Delete":      func() error { return m.Delete([]byte("x")) },
		"map.Iter":        func() error { return m.Iter(func(_, _ []byte) bool { return true }) },
		"map.IsEmpty":     func() error { _, err := m.IsEmpty(); return err },
		"map.Clear":       m.Clear,
		"reducing.Add":    func() error { return r.Add(u64(1)) },
		"reducing.Get":    func() error { _, _, err := r.Get(); return err },
		"reducing.Clear":  r.Clear,
		"aggregating.Add": func() error { return a.Add(u64(1)) },
		"aggregating.Get": func() error { _, _, err := a.Get(); return err },
		"aggregating.Clr": a.Clear,
	}
}

func (s *suite) testNoCurrentKey(t *testing.T) {
	b := s.openAll(t, nil)
	for name, op := range ops(t, b) {
		t.Run(name, func(t *testing.T) { wantErrIs(t, op(), state.ErrNoCurrentKey) })
	}
}

func (s *suite) testKeyOutOfRange(t *testing.T) {
	r := keygroup.RangeOf(0, 2, defaultMaxParallelism)
	b := s.open(t, defaultMaxParallelism, r, nil)
	inside := keysIn(1, r, defaultMaxParallelism)[0]
	outside := keysIn(1, keygroup.RangeOf(1, 2, defaultMaxParallelism), defaultMaxParallelism)[0]
	all := ops(t, b)

	b.SetCurrentKey(outside)
	kg := keygroup.Of(outside, defaultMaxParallelism)
	for name, op := range all {
		t.Run(name, func(t *testing.T) {
			wantErrIs(t, op(), state.ErrKeyGroupOutOfRange, fmt.Sprintf("key group %d", kg), r.String())
		})
	}
	b.SetCurrentKey(inside)
	for name, op := range all {
		if err := op(); err != nil {
			t.Fatalf("%s after switching to a key inside the range: %v", name, err)
		}
	}
}

func (s *suite) testClose(t *testing.T) {
	b := s.openAll(t, nil)
	all := ops(t, b)
	b.SetCurrentKey([]byte("k"))
	must(t, b.Close())
	must(t, b.Close()) // idempotent
	b.SetCurrentKey([]byte("k"))
	for name, op := range all {
		if err := op(); !errors.Is(err, state.ErrClosed) {
			t.Fatalf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
	wantErrIs(t, b.Snapshot(func(*state.Entry) error { return nil }), state.ErrClosed)
	wantErrIs(t, b.Restore(&state.Entry{State: "v", Kind: api.ValueStateKind}), state.ErrClosed)
	_, err := b.Value(valueDesc("late"))
	wantErrIs(t, err, state.ErrClosed)
}
