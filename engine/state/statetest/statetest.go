// Package statetest is the conformance suite every keyed state backend runs:
// the semantics of each state kind, key and namespace isolation, TTL under a
// fake clock, snapshot and restore (also across rescaling), and the errors
// users see for mistakes. A backend's own test calls Run with a constructor;
// the suite owns and closes every backend it makes.
package statetest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/keygroup"
	"github.com/freshet/freshet/engine/state"
)

// NewBackend makes a backend for opts. The suite fills every field of opts
// (Dir is a fresh temporary directory) and closes the backend itself.
type NewBackend func(t *testing.T, opts state.Options) state.Backend

// Clock is a fake clock for Options.Now. Its zero value reads Start.
type Clock struct{ offset atomic.Int64 }

// Start is the time a fresh Clock reads.
var Start = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Now returns the clock's time.
func (c *Clock) Now() time.Time { return Start.Add(time.Duration(c.offset.Load())) }

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// Run runs the conformance suite against the backends newBackend makes.
func Run(t *testing.T, newBackend NewBackend) {
	s := &suite{newBackend: newBackend}
	tests := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"Value", s.testValue},
		{"List", s.testList},
		{"Map", s.testMap},
		{"Reducing", s.testReducing},
		{"Aggregating", s.testAggregating},
		{"LargeValues", s.testLargeValues},
		{"Namespaces", s.testNamespaces},
		{"Keys", s.testKeys},
		{"States", s.testStates},
		{"KindMismatch", s.testKindMismatch},
		{"InvalidDescriptor", s.testInvalidDescriptor},
		{"NoCurrentKey", s.testNoCurrentKey},
		{"KeyOutOfRange", s.testKeyOutOfRange},
		{"TTL", s.testTTL},
		{"SnapshotRestore", s.testSnapshotRestore},
		{"RestoreErrors", s.testRestoreErrors},
		{"Rescale", s.testRescale},
		{"Close", s.testClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.fn)
	}
}

type suite struct{ newBackend NewBackend }

const defaultMaxParallelism = 128

// open makes a backend for key groups r of maxParallelism, reading clock.
func (s *suite) open(t *testing.T, maxParallelism int, r keygroup.Range, clock *Clock) state.Backend {
	t.Helper()
	if clock == nil {
		clock = new(Clock)
	}
	b := s.newBackend(t, state.Options{
		Operator:       "statetest",
		MaxParallelism: maxParallelism,
		KeyGroups:      r,
		Dir:            t.TempDir(),
		Now:            clock.Now,
	})
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("closing backend: %v", err)
		}
	})
	return b
}

// openAll makes a backend owning every key group.
func (s *suite) openAll(t *testing.T, clock *Clock) state.Backend {
	t.Helper()
	return s.open(t, defaultMaxParallelism, keygroup.Range{Start: 0, End: defaultMaxParallelism - 1}, clock)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustT[T any](t *testing.T) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// --- Descriptors and helpers used by many tests ---

func u64(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func sumReduce(a, b, dst []byte) []byte {
	return binary.BigEndian.AppendUint64(dst, binary.BigEndian.Uint64(a)+binary.BigEndian.Uint64(b))
}

// avg is an aggregate function: the accumulator is count and sum, the
// result the integer mean.
type avg struct{}

func (avg) CreateAccumulator(dst []byte) []byte { return append(dst, make([]byte, 16)...) }

func (avg) Add(acc, in, dst []byte) []byte {
	dst = binary.BigEndian.AppendUint64(dst, binary.BigEndian.Uint64(acc)+1)
	return binary.BigEndian.AppendUint64(dst, binary.BigEndian.Uint64(acc[8:])+binary.BigEndian.Uint64(in))
}

func (avg) Merge(a, b, dst []byte) []byte {
	dst = binary.BigEndian.AppendUint64(dst, binary.BigEndian.Uint64(a)+binary.BigEndian.Uint64(b))
	return binary.BigEndian.AppendUint64(dst, binary.BigEndian.Uint64(a[8:])+binary.BigEndian.Uint64(b[8:]))
}

func (avg) Result(acc, dst []byte) []byte {
	n := binary.BigEndian.Uint64(acc)
	if n == 0 {
		return binary.BigEndian.AppendUint64(dst, 0)
	}
	return binary.BigEndian.AppendUint64(dst, binary.BigEndian.Uint64(acc[8:])/n)
}

func valueDesc(name string) api.StateDescriptor { return api.StateDescriptor{Name: name} }

func reducingDesc(name string) api.StateDescriptor {
	return api.StateDescriptor{Name: name, Reduce: sumReduce}
}

func aggDesc(name string) api.StateDescriptor {
	return api.StateDescriptor{Name: name, Aggregate: avg{}}
}

func getValue(t *testing.T, v api.ValueState) (string, bool) {
	t.Helper()
	b, ok, err := v.Get()
	must(t, err)
	if !ok && len(b) != 0 {
		t.Fatalf("Get returned %q with ok=false", b)
	}
	return string(b), ok
}

func wantValue(t *testing.T, v api.ValueState, want string, wantOK bool) {
	t.Helper()
	got, ok := getValue(t, v)
	if ok != wantOK || got != want {
		t.Fatalf("Get = %q, %v; want %q, %v", got, ok, want, wantOK)
	}
}

func listOf(t *testing.T, l api.ListState) []string {
	t.Helper()
	out := []string{}
	must(t, l.Iter(func(v []byte) bool { out = append(out, string(v)); return true }))
	return out
}

func wantList(t *testing.T, l api.ListState, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if got := listOf(t, l); strings.Join(got, "|") != strings.Join(want, "|") || len(got) != len(want) {
		t.Fatalf("list = %q, want %q", got, want)
	}
}

func mapOf(t *testing.T, m api.MapState) map[string]string {
	t.Helper()
	out := map[string]string{}
	must(t, m.Iter(func(uk, v []byte) bool {
		if _, dup := out[string(uk)]; dup {
			t.Errorf("Iter visited user key %q twice", uk)
		}
		out[string(uk)] = string(v)
		return true
	}))
	return out
}

func wantMap(t *testing.T, m api.MapState, want map[string]string) {
	t.Helper()
	got := mapOf(t, m)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("map = %q, want %q", got, want)
	}
	empty, err := m.IsEmpty()
	must(t, err)
	if empty != (len(want) == 0) {
		t.Fatalf("IsEmpty = %v for map %q", empty, want)
	}
}

func wantMapGet(t *testing.T, m api.MapState, uk, want string, wantOK bool) {
	t.Helper()
	v, ok, err := m.Get([]byte(uk))
	must(t, err)
	if ok != wantOK || string(v) != want {
		t.Fatalf("Get(%q) = %q, %v; want %q, %v", uk, v, ok, want, wantOK)
	}
}

func wantU64(t *testing.T, get func() ([]byte, bool, error), want uint64, wantOK bool) {
	t.Helper()
	v, ok, err := get()
	must(t, err)
	if ok != wantOK {
		t.Fatalf("Get ok = %v, want %v", ok, wantOK)
	}
	if ok && (len(v) != 8 || binary.BigEndian.Uint64(v) != want) {
		t.Fatalf("Get = %x, want %d", v, want)
	}
}

// keysIn returns n distinct keys whose key groups lie in r.
func keysIn(n int, r keygroup.Range, maxParallelism int) [][]byte {
	var out [][]byte
	for i := 0; len(out) < n; i++ {
		k := []byte(fmt.Sprintf("key-%d", i))
		if r.Contains(keygroup.Of(k, maxParallelism)) {
			out = append(out, k)
		}
	}
	return out
}

// Dump renders every entry of b's snapshot as sorted lines, one per entry
// address; the elements of one list keep their order within its line. Two
// backends hold the same state exactly when their dumps are equal.
func Dump(t testing.TB, b state.Backend) []string {
	t.Helper()
	lines := map[string][]string{}
	var order []string
	err := b.Snapshot(func(e *state.Entry) error {
		addr := fmt.Sprintf("%s/%s/kg=%d/key=%q/ns=%q", e.State, e.Kind, e.KeyGroup, e.Key, e.Namespace)
		if e.Kind == api.MapStateKind {
			addr += fmt.Sprintf("/uk=%q", e.UserKey)
		}
		if _, ok := lines[addr]; !ok {
			order = append(order, addr)
		} else if e.Kind != api.ListStateKind {
			t.Errorf("snapshot emitted %s twice", addr)
		}
		lines[addr] = append(lines[addr], fmt.Sprintf("%q@%d", e.Value, e.ExpiresAt))
		return nil
	})
	must(t, err)
	out := make([]string, 0, len(order))
	for _, a := range order {
		out = append(out, a+" = "+strings.Join(lines[a], ","))
	}
	sort.Strings(out)
	return out
}

// Entries collects b's snapshot as owned copies.
func Entries(t testing.TB, b state.Backend) []state.Entry {
	t.Helper()
	var out []state.Entry
	must(t, b.Snapshot(func(e *state.Entry) error {
		c := *e
		c.Key = bytes.Clone(e.Key)
		c.Namespace = bytes.Clone(e.Namespace)
		c.UserKey = bytes.Clone(e.UserKey)
		c.Value = bytes.Clone(e.Value)
		out = append(out, c)
		return nil
	}))
	return out
}

func restoreAll(t *testing.T, b state.Backend, es []state.Entry) {
	t.Helper()
	for i := range es {
		must(t, b.Restore(&es[i]))
	}
}

func sameLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("%s differs.\ngot (%d):\n%s\nwant (%d):\n%s", what, len(got), strings.Join(got, "\n"), len(want), strings.Join(want, "\n"))
	}
}

func wantErrIs(t *testing.T, err, target error, mentions ...string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want one wrapping %q", err, target)
	}
	for _, m := range mentions {
		if !strings.Contains(err.Error(), m) {
			t.Fatalf("error %q does not mention %q", err, m)
		}
	}
}
