package statetest

import (
	"testing"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/state"
)

const ttl = 10 * time.Second

func (s *suite) testTTL(t *testing.T) {
	t.Run("ValueExpiresAfterWrite", func(t *testing.T) {
		clock := new(Clock)
		b := s.openAll(t, clock)
		v := mustT[api.ValueState](t)(b.Value(api.StateDescriptor{Name: "v", TTL: ttl}))
		b.SetCurrentKey([]byte("k"))
		must(t, v.Put([]byte("a")))
		clock.Advance(ttl - time.Millisecond)
		wantValue(t, v, "a", true) // reading does not extend the TTL...
		clock.Advance(time.Millisecond)
		wantValue(t, v, "", false)

		must(t, v.Put([]byte("b")))
		clock.Advance(ttl / 2)
		must(t, v.Put([]byte("c"))) // ...writing does
		clock.Advance(ttl/2 + time.Second)
		wantValue(t, v, "c", true)
		clock.Advance(ttl)
		wantValue(t, v, "", false)
	})
	t.Run("ValueTTLOnRead", func(t *testing.T) {
		clock := new(Clock)
		b := s.openAll(t, clock)
		v := mustT[api.ValueState](t)(b.Value(api.StateDescriptor{Name: "v", TTL: ttl, TTLOnRead: true}))
		b.SetCurrentKey([]byte("k"))
		must(t, v.Put([]byte("a")))
		for i := 0; i < 5; i++ {
			clock.Advance(ttl - time.Second)
			wantValue(t, v, "a", true)
		}
		clock.Advance(ttl)
		wantValue(t, v, "", false)
	})
	t.Run("ListElementsExpireOneByOne", func(t *testing.T) {
		clock := new(Clock)
		b := s.openAll(t, clock)
		l := mustT[api.ListState](t)(b.List(api.StateDescriptor{Name: "l", TTL: ttl}))
		b.SetCurrentKey([]byte("k"))
		must(t, l.Add([]byte("a")))
		clock.Advance(ttl / 2)
		must(t, l.Add([]byte("b")))
		must(t, l.Add([]byte("c")))
		wantList(t, l, "a", "b", "c")
		clock.Advance(ttl / 2)
		wantList(t, l, "b", "c")
		must(t, l.Add([]byte("d")))
		clock.Advance(ttl / 2)
		wantList(t, l, "d")
		must(t, l.Update([][]byte{[]byte("x"), []byte("y")}))
		clock.Advance(ttl - time.Millisecond)
		wantList(t, l, "x", "y")
		clock.Advance(time.Millisecond)
		wantList(t, l)
	})
	t.Run("MapEntriesExpireOneByOne", func(t *testing.T) {
		clock := new(Clock)
		b := s.openAll(t, clock)
		m := mustT[api.MapState](t)(b.Map(api.StateDescriptor{Name: "m", TTL: ttl}))
		b.SetCurrentKey([]byte("k"))
		must(t, m.Put([]byte("x"), []byte("1")))
		clock.Advance(ttl / 2)
		must(t, m.Put([]byte("y"), []byte("2")))
		clock.Advance(ttl / 2)
		wantMapGet(t, m, "x", "", false)
		wantMapGet(t, m, "y", "2", true)
		wantMap(t, m, map[string]string{"y": "2"})
		clock.Advance(ttl / 2)
		wantMap(t, m, map[string]string{})
	})
	t.Run("MapTTLOnRead", func(t *testing.T) {
		clock := new(Clock)
		b := s.openAll(t, clock)
		m := mustT[api.MapState](t)(b.Map(api.StateDescriptor{Name: "m", TTL: ttl, TTLOnRead: true}))
		b.SetCurrentKey([]byte("k"))
		must(t, m.Put([]byte("x"), []byte("1")))
		must(t, m.Put([]byte("y"), []byte("2")))
		clock.Advance(ttl - time.Second)
		wantMapGet(t, m, "x", "1", true)
		clock.Advance(ttl - time.Second)
		wantMap(t, m, map[string]string{"x": "1"}) // y was not read
	})
	t.Run("ReducingStartsAfreshAfterExpiry", func(t *testing.T) {
		clock := new(Clock)
		b := s.openAll(t, clock)
		r := mustT[api.ReducingState](t)(b.Reducing(api.StateDescriptor{Name: "r", TTL: ttl, Reduce: sumReduce}))
		a := mustT[api.AggregatingState](t)(b.Aggregating(api.StateDescriptor{Name: "a", TTL: ttl, Aggregate: avg{}}))
		b.SetCurrentKey([]byte("k"))
		must(t, r.Add(u64(1)))
		must(t, a.Add(u64(10)))
		clock.Advance(ttl / 2)
		must(t, r.Add(u64(2)))
		must(t, a.Add(u64(20)))
		clock.Advance(ttl / 2)
		wantU64(t, r.Get, 3, true) // the second Add refreshed the TTL
		wantU64(t, a.Get, 15, true)
		clock.Advance(ttl)
		wantU64(t, r.Get, 0, false)
		wantU64(t, a.Get, 0, false)
		must(t, r.Add(u64(7)))
		must(t, a.Add(u64(7)))
		wantU64(t, r.Get, 7, true)
		wantU64(t, a.Get, 7, true)
	})
	t.Run("NoTTLNeverExpires", func(t *testing.T) {
		clock := new(Clock)
		b := s.openAll(t, clock)
		v := mustT[api.ValueState](t)(b.Value(valueDesc("v")))
		b.SetCurrentKey([]byte("k"))
		must(t, v.Put([]byte("a")))
		clock.Advance(100 * 365 * 24 * time.Hour)
		wantValue(t, v, "a", true)
	})
	t.Run("ManyKeysExpire", func(t *testing.T) {
		// Enough entries for backends' incremental cleanup to run; the
		// result must be the same whether cleanup or reads remove them.
		clock := new(Clock)
		b := s.openAll(t, clock)
		v := mustT[api.ValueState](t)(b.Value(api.StateDescriptor{Name: "v", TTL: ttl}))
		keys := keysIn(1000, fullRange(), defaultMaxParallelism)
		for _, k := range keys[:500] {
			b.SetCurrentKey(k)
			must(t, v.Put(k))
		}
		clock.Advance(ttl / 2)
		for _, k := range keys[500:] {
			b.SetCurrentKey(k)
			must(t, v.Put(k))
		}
		clock.Advance(ttl / 2)
		for i, k := range keys {
			b.SetCurrentKey(k)
			if i < 500 {
				wantValue(t, v, "", false)
			} else {
				wantValue(t, v, string(k), true)
			}
		}
		if n := len(Dump(t, b)); n != 500 {
			t.Fatalf("snapshot holds %d entries, want the 500 live ones", n)
		}
	})
	t.Run("Snapshot", func(t *testing.T) {
		clock := new(Clock)
		b := s.openAll(t, clock)
		v := mustT[api.ValueState](t)(b.Value(api.StateDescriptor{Name: "v", TTL: ttl}))
		l := mustT[api.ListState](t)(b.List(api.StateDescriptor{Name: "l", TTL: ttl}))
		b.SetCurrentKey([]byte("old"))
		must(t, v.Put([]byte("1")))
		must(t, l.Add([]byte("old element")))
		clock.Advance(ttl / 2)
		b.SetCurrentKey([]byte("new"))
		must(t, v.Put([]byte("2")))
		b.SetCurrentKey([]byte("old"))
		must(t, l.Add([]byte("new element")))
		clock.Advance(ttl / 2)

		es := Entries(t, b)
		wantExp := Start.Add(ttl / 2).Add(ttl).UnixMilli()
		if len(es) != 2 {
			t.Fatalf("snapshot after expiry has %d entries, want 2: %v", len(es), Dump(t, b))
		}
		for _, e := range es {
			if e.ExpiresAt != wantExp {
				t.Fatalf("entry %s %q expires at %d, want %d", e.State, e.Key, e.ExpiresAt, wantExp)
			}
		}

		// Expiry survives a restore: the restored entries expire on time.
		b2 := s.openAll(t, clock)
		restoreAll(t, b2, es)
		v2 := mustT[api.ValueState](t)(b2.Value(api.StateDescriptor{Name: "v", TTL: ttl}))
		l2 := mustT[api.ListState](t)(b2.List(api.StateDescriptor{Name: "l", TTL: ttl}))
		b2.SetCurrentKey([]byte("new"))
		wantValue(t, v2, "2", true)
		b2.SetCurrentKey([]byte("old"))
		wantList(t, l2, "new element")
		clock.Advance(ttl / 2)
		wantList(t, l2)
		b2.SetCurrentKey([]byte("new"))
		wantValue(t, v2, "", false)

		// Entries that expired before the restore are not restored.
		b3 := s.openAll(t, clock)
		restoreAll(t, b3, es)
		if got := Dump(t, b3); len(got) != 0 {
			t.Fatalf("restored expired entries: %v", got)
		}
	})
	t.Run("RestoredExpiryWithoutTTLDescriptor", func(t *testing.T) {
		// An entry's expiry belongs to the entry: it holds even when the
		// state is declared without a TTL.
		clock := new(Clock)
		b := s.openAll(t, clock)
		e := state.Entry{State: "v", Kind: api.ValueStateKind, Key: []byte("k"), Value: []byte("x"),
			ExpiresAt: clock.Now().Add(time.Second).UnixMilli()}
		e.KeyGroup = keyGroupOf(e.Key)
		must(t, b.Restore(&e))
		v := mustT[api.ValueState](t)(b.Value(valueDesc("v")))
		b.SetCurrentKey([]byte("k"))
		wantValue(t, v, "x", true)
		clock.Advance(time.Second)
		wantValue(t, v, "", false)
	})
}
