package statetest

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/keygroup"
	"github.com/freshet/freshet/engine/state"
)

func fullRange() keygroup.Range { return keygroup.Range{Start: 0, End: defaultMaxParallelism - 1} }

func keyGroupOf(key []byte) int { return keygroup.Of(key, defaultMaxParallelism) }

// handles declares the states populate writes.
type handles struct {
	v, empty, withTTL api.ValueState
	l                 api.ListState
	m                 api.MapState
	r                 api.ReducingState
	a                 api.AggregatingState
}

func declareAll(t *testing.T, b state.Backend) handles {
	t.Helper()
	return handles{
		v:       mustT[api.ValueState](t)(b.Value(valueDesc("v"))),
		empty:   mustT[api.ValueState](t)(b.Value(valueDesc("empty"))),
		withTTL: mustT[api.ValueState](t)(b.Value(api.StateDescriptor{Name: "ttl", TTL: ttl})),
		l:       mustT[api.ListState](t)(b.List(api.StateDescriptor{Name: "l"})),
		m:       mustT[api.MapState](t)(b.Map(api.StateDescriptor{Name: "m"})),
		r:       mustT[api.ReducingState](t)(b.Reducing(reducingDesc("r"))),
		a:       mustT[api.AggregatingState](t)(b.Aggregating(aggDesc("a"))),
	}
}

// populate writes every kind of state for keys, in two namespaces.
func populate(t *testing.T, b state.Backend, keys [][]byte) {
	t.Helper()
	h := declareAll(t, b)
	for i, k := range keys {
		b.SetCurrentKey(k)
		for _, ns := range []string{"", "window-1"} {
			b.SetCurrentNamespace([]byte(ns))
			tag := fmt.Sprintf("%d%s", i, ns)
			must(t, h.v.Put([]byte("v"+tag)))
			must(t, h.empty.Put(nil))
			must(t, h.withTTL.Put([]byte("t"+tag)))
			for j := 0; j < 3; j++ {
				must(t, h.l.Add([]byte(fmt.Sprintf("l%s-%d", tag, j))))
			}
			must(t, h.m.Put([]byte("a"), []byte("ma"+tag)))
			must(t, h.m.Put(nil, []byte("empty user key")))
			must(t, h.m.Put([]byte("b"), nil))
			must(t, h.r.Add(u64(uint64(i))))
			must(t, h.r.Add(u64(1)))
			must(t, h.a.Add(u64(uint64(2*i))))
			must(t, h.a.Add(u64(0)))
		}
	}
	b.SetCurrentNamespace(nil)
}

// check reads back what populate wrote for keys.
func check(t *testing.T, b state.Backend, keys [][]byte) {
	t.Helper()
	h := declareAll(t, b)
	for i, k := range keys {
		b.SetCurrentKey(k)
		for _, ns := range []string{"", "window-1"} {
			b.SetCurrentNamespace([]byte(ns))
			tag := fmt.Sprintf("%d%s", i, ns)
			wantValue(t, h.v, "v"+tag, true)
			wantValue(t, h.empty, "", true)
			wantValue(t, h.withTTL, "t"+tag, true)
			wantList(t, h.l, "l"+tag+"-0", "l"+tag+"-1", "l"+tag+"-2")
			wantMap(t, h.m, map[string]string{"a": "ma" + tag, "": "empty user key", "b": ""})
			wantU64(t, h.r.Get, uint64(i)+1, true)
			wantU64(t, h.a.Get, uint64(i), true)
		}
	}
	b.SetCurrentNamespace(nil)
}

func (s *suite) testSnapshotRestore(t *testing.T) {
	clock := new(Clock)
	src := s.openAll(t, clock)
	keys := keysIn(200, fullRange(), defaultMaxParallelism)
	populate(t, src, keys)
	want := Dump(t, src)
	es := Entries(t, src)

	for _, e := range es {
		if e.KeyGroup != keyGroupOf(e.Key) {
			t.Fatalf("entry of key %q has key group %d, want %d", e.Key, e.KeyGroup, keyGroupOf(e.Key))
		}
		if e.Kind != api.MapStateKind && e.UserKey != nil {
			t.Fatalf("%s entry has a user key %q", e.Kind, e.UserKey)
		}
		if (e.State == "ttl") != (e.ExpiresAt != 0) {
			t.Fatalf("entry of state %q expires at %d", e.State, e.ExpiresAt)
		}
	}

	t.Run("RestoreThenDeclare", func(t *testing.T) {
		dst := s.openAll(t, clock)
		restoreAll(t, dst, es)
		if len(dst.Descriptors()) != 0 {
			t.Fatalf("restore declared states: %v", dst.Descriptors())
		}
		sameLines(t, "snapshot of the restored backend", Dump(t, dst), want)
		check(t, dst, keys)
	})
	t.Run("DeclareThenRestore", func(t *testing.T) {
		dst := s.openAll(t, clock)
		declareAll(t, dst)
		restoreAll(t, dst, es)
		sameLines(t, "snapshot of the restored backend", Dump(t, dst), want)
		check(t, dst, keys)
	})
	t.Run("SnapshotErrorStops", func(t *testing.T) {
		stop := errors.New("stop here")
		n := 0
		err := src.Snapshot(func(*state.Entry) error { n++; return stop })
		if !errors.Is(err, stop) || n != 1 {
			t.Fatalf("Snapshot returned %v after %d calls, want the callback's error after 1", err, n)
		}
	})
	t.Run("OutOfRangeEntriesAreIgnored", func(t *testing.T) {
		r := keygroup.Range{Start: 0, End: 9}
		dst := s.open(t, defaultMaxParallelism, r, clock)
		restoreAll(t, dst, es)
		for _, line := range Dump(t, dst) {
			var kg int
			if _, err := fmt.Sscanf(line[strings.Index(line, "kg="):], "kg=%d", &kg); err != nil || !r.Contains(kg) {
				t.Fatalf("backend for %s restored %s", r, line)
			}
		}
	})
}

func (s *suite) testRestoreErrors(t *testing.T) {
	key := []byte("k")
	good := func() state.Entry {
		return state.Entry{State: "s", Kind: api.ValueStateKind, KeyGroup: keyGroupOf(key), Key: key, Value: []byte("x")}
	}
	t.Run("KindMismatchWithDeclared", func(t *testing.T) {
		b := s.openAll(t, nil)
		mustT[api.ListState](t)(b.List(api.StateDescriptor{Name: "s"}))
		e := good()
		wantErrIs(t, b.Restore(&e), state.ErrStateKindMismatch, `"s"`)
	})
	t.Run("KindMismatchWithRestored", func(t *testing.T) {
		b := s.openAll(t, nil)
		e := good()
		must(t, b.Restore(&e))
		e.Kind = api.MapStateKind
		wantErrIs(t, b.Restore(&e), state.ErrStateKindMismatch, `"s"`)
		_, err := b.Map(api.StateDescriptor{Name: "s"})
		wantErrIs(t, err, state.ErrStateKindMismatch, `"s"`)
	})
	t.Run("WrongKeyGroup", func(t *testing.T) {
		b := s.openAll(t, nil)
		e := good()
		e.KeyGroup = (e.KeyGroup + 1) % defaultMaxParallelism
		wantErrIs(t, b.Restore(&e), state.ErrInvalidEntry, "max parallelism")
	})
	t.Run("UnknownKind", func(t *testing.T) {
		b := s.openAll(t, nil)
		e := good()
		e.Kind = 42
		wantErrIs(t, b.Restore(&e), state.ErrInvalidEntry)
	})
	t.Run("NoStateName", func(t *testing.T) {
		b := s.openAll(t, nil)
		e := good()
		e.State = ""
		wantErrIs(t, b.Restore(&e), state.ErrInvalidEntry)
	})
}

func (s *suite) testRescale(t *testing.T) {
	const maxPar = 16
	clock := new(Clock)
	all := keygroup.Range{Start: 0, End: maxPar - 1}
	src := s.open(t, maxPar, all, clock)
	keys := keysIn(150, all, maxPar)
	populate(t, src, keys)
	want := Dump(t, src)
	es := Entries(t, src)

	// 1 -> 2: each subtask restores the whole snapshot and keeps its share.
	var halves []state.Backend
	var union []string
	for i := 0; i < 2; i++ {
		r := keygroup.RangeOf(i, 2, maxPar)
		b := s.open(t, maxPar, r, clock)
		restoreAll(t, b, es)
		var mine, theirs [][]byte
		for _, k := range keys {
			if r.Contains(keygroup.Of(k, maxPar)) {
				mine = append(mine, k)
			} else {
				theirs = append(theirs, k)
			}
		}
		if len(mine) == 0 || len(theirs) == 0 {
			t.Fatalf("subtask %d owns %d of %d keys; the test needs keys on both sides", i, len(mine), len(keys))
		}
		// Reads of owned keys see the data; other keys are refused.
		h := declareAll(t, b)
		for j, k := range keys {
			b.SetCurrentKey(k)
			got, ok, err := h.v.Get()
			if r.Contains(keygroup.Of(k, maxPar)) {
				if err != nil || !ok || string(got) != fmt.Sprintf("v%d", j) {
					t.Fatalf("subtask %d, owned key %q: %q %v %v", i, k, got, ok, err)
				}
			} else {
				wantErrIs(t, err, state.ErrKeyGroupOutOfRange)
			}
		}
		for _, line := range Dump(t, b) {
			var kg int
			if _, err := fmt.Sscanf(line[strings.Index(line, "kg="):], "kg=%d", &kg); err != nil || !r.Contains(kg) {
				t.Fatalf("subtask %d with key groups %s holds %s", i, r, line)
			}
			union = append(union, line)
		}
		halves = append(halves, b)
	}
	sort.Strings(union)
	sameLines(t, "union of the two subtasks' snapshots", union, want)

	// 2 -> 1: one subtask restores both snapshots.
	merged := s.open(t, maxPar, all, clock)
	for _, b := range halves {
		restoreAll(t, merged, Entries(t, b))
	}
	sameLines(t, "snapshot after scaling back to one subtask", Dump(t, merged), want)
	check(t, merged, keys)
}
