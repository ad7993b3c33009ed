package rocksdb_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/keygroup"
	"github.com/freshet/freshet/engine/state"
	"github.com/freshet/freshet/engine/state/heap"
	"github.com/freshet/freshet/engine/state/rocksdb"
	"github.com/freshet/freshet/engine/state/statetest"
)

func nativeSnapshot(t *testing.T, b *rocksdb.Backend, id int64) *state.NativeSnapshot {
	t.Helper()
	s, err := b.NativeSnapshot(id, filepath.Join(t.TempDir(), fmt.Sprint("native-", id)))
	must(t, err)
	return s
}

func sharedPrefix(name string) string { p, _, _ := strings.Cut(name, "-"); return p }

func TestNativeSnapshotNamesImmutableFilesUniquely(t *testing.T) {
	res := newResources(t)
	a := open(t, res, options(t, all, nil))
	fill(t, a, 200, "one")
	s1 := nativeSnapshot(t, a, 1)

	if s1.Format != rocksdb.NativeFormat || s1.KeyGroups != all {
		t.Fatalf("snapshot format %q, key groups %s", s1.Format, s1.KeyGroups)
	}
	private := map[string]bool{}
	var ssts []state.NativeFile
	for _, f := range s1.Files {
		st, err := os.Stat(s1.Path(f))
		must(t, err)
		if st.Size() != f.Size {
			t.Errorf("%s: listed with %d bytes, has %d", f.Name, f.Size, st.Size())
		}
		if strings.HasSuffix(f.Name, ".sst") {
			if f.Shared != sharedPrefix(f.Shared)+"-"+f.Name {
				t.Errorf("SST %s has shared name %q, want <instance>-%s", f.Name, f.Shared, f.Name)
			}
			ssts = append(ssts, f)
		} else {
			if f.Shared != "" {
				t.Errorf("%s is mutable but shared as %q", f.Name, f.Shared)
			}
			private[strings.SplitN(f.Name, "-", 2)[0]] = true
		}
	}
	if len(ssts) == 0 || !private["CURRENT"] || !private["MANIFEST"] {
		t.Fatalf("snapshot files %+v: want SSTs, CURRENT and a MANIFEST", s1.Files)
	}

	// A later snapshot shares the unchanged SSTs under the same names.
	fill(t, a, 10, "two")
	s2 := nativeSnapshot(t, a, 2)
	names := map[string]string{}
	for _, f := range s2.Files {
		names[f.Name] = f.Shared
	}
	for _, f := range ssts {
		if names[f.Name] != f.Shared {
			t.Errorf("SST %s is %q in the second snapshot, %q in the first", f.Name, names[f.Name], f.Shared)
		}
	}

	// Another instance numbers its files alike, but names them apart.
	b := open(t, res, options(t, all, nil))
	fill(t, b, 200, "one")
	for _, f := range nativeSnapshot(t, b, 1).Files {
		if f.Shared != "" && sharedPrefix(f.Shared) == sharedPrefix(ssts[0].Shared) {
			t.Fatalf("two backends both name a file %q", f.Shared)
		}
	}
}

func TestOpenNativeRestoresAndKeepsSharedNames(t *testing.T) {
	res := newResources(t)
	clock := new(statetest.Clock)
	src := open(t, res, options(t, all, clock))
	fill(t, src, 300, "before")
	want := statetest.Dump(t, src)
	s1 := nativeSnapshot(t, src, 1)
	fill(t, src, 300, "after") // not in the snapshot

	restored, err := src.OpenNative(options(t, all, clock), []state.NativeSnapshot{*s1})
	must(t, err)
	t.Cleanup(func() { restored.Close() })
	sameDump(t, "backend opened from the native snapshot", statetest.Dump(t, restored), want)

	// The restored instance's next snapshot shares the inherited SSTs under
	// their first names and names its own files with a new instance.
	fill(t, restored, 5, "later")
	s2 := nativeSnapshot(t, restored.(*rocksdb.Backend), 2)
	first := map[string]string{}
	for _, f := range s1.Files {
		first[f.Name] = f.Shared
	}
	inherited, fresh := 0, 0
	for _, f := range s2.Files {
		if f.Shared == "" {
			continue
		}
		if name, ok := first[f.Name]; ok {
			inherited++
			if f.Shared != name {
				t.Errorf("inherited %s renamed %q → %q", f.Name, name, f.Shared)
			}
		} else {
			fresh++
			for _, old := range first {
				if old != "" && sharedPrefix(old) == sharedPrefix(f.Shared) {
					t.Errorf("new file %q reuses the first instance's name", f.Shared)
				}
			}
		}
	}
	if inherited == 0 || fresh == 0 {
		t.Fatalf("second snapshot: %d inherited and %d new SSTs, want both", inherited, fresh)
	}

	// Wrong format.
	bad := *s1
	bad.Format = "other/1"
	if _, err := src.OpenNative(options(t, all, clock), []state.NativeSnapshot{bad}); err == nil {
		t.Fatal("opening a snapshot of another format succeeded")
	}
}

func TestOpenNativeRescales(t *testing.T) {
	res := newResources(t)
	clock := new(statetest.Clock)
	whole := open(t, res, options(t, all, clock))
	fill(t, whole, 400, "x")
	want := statetest.Dump(t, whole)

	// Two subtasks of parallelism 2, then one of parallelism 3 whose range
	// straddles both.
	var snaps []state.NativeSnapshot
	for i := 0; i < 2; i++ {
		r := keygroup.RangeOf(i, 2, maxPar)
		b := open(t, res, options(t, r, clock))
		must(t, whole.Snapshot(func(e *state.Entry) error { return b.Restore(e) }))
		snaps = append(snaps, *nativeSnapshot(t, b, 1))
	}
	mid := keygroup.RangeOf(1, 3, maxPar)
	b, err := rocksdb.OpenNative(options(t, mid, clock), res, snaps)
	must(t, err)
	t.Cleanup(func() { b.Close() })
	sameDump(t, "middle third", statetest.Dump(t, b), inRange(want, mid))
}

// inRange keeps the Dump lines of key groups in r.
func inRange(lines []string, r keygroup.Range) []string {
	var out []string
	for _, line := range lines {
		var kg int
		fmt.Sscanf(line[strings.Index(line, "kg="):], "kg=%d", &kg)
		if r.Contains(kg) {
			out = append(out, line)
		}
	}
	return out
}

func TestReadNativeIntoAnotherBackend(t *testing.T) {
	res := newResources(t)
	clock := new(statetest.Clock)
	src := open(t, res, options(t, all, clock))
	fill(t, src, 300, "x")
	short, err := src.Value(api.StateDescriptor{Name: "short", TTL: time.Second})
	must(t, err)
	src.SetCurrentKey([]byte("soon-gone"))
	must(t, short.Put([]byte("v")))
	snap := nativeSnapshot(t, src, 1)
	want := statetest.Dump(t, src)
	clock.Advance(2 * time.Second) // "short" expires

	for _, r := range []keygroup.Range{all, keygroup.RangeOf(0, 3, maxPar), keygroup.RangeOf(2, 3, maxPar)} {
		opts := options(t, r, clock)
		h, err := heap.New(opts)
		must(t, err)
		must(t, state.ReadNative(*snap, opts, h.Restore))
		sameDump(t, fmt.Sprintf("heap backend of %s read from the native snapshot", r), statetest.Dump(t, h), inRange(dropState(want, "short"), r))
		h.Close()
	}
	// The snapshot can still be opened: reading changed nothing.
	b, err := rocksdb.OpenNative(options(t, all, clock), res, []state.NativeSnapshot{*snap})
	must(t, err)
	b.Close()

	unknown := *snap
	unknown.Format = "nope/1"
	if err := state.ReadNative(unknown, options(t, all, clock), func(*state.Entry) error { return nil }); !errors.Is(err, state.ErrUnknownNativeFormat) {
		t.Fatalf("reading an unknown format: %v", err)
	}
	other := options(t, keygroup.Range{Start: 0, End: 63}, clock)
	other.MaxParallelism = 64
	if err := state.ReadNative(*snap, other, func(*state.Entry) error { return nil }); err == nil || !strings.Contains(err.Error(), "max parallelism") {
		t.Fatalf("reading with another max parallelism: %v", err)
	}
}

func dropState(lines []string, name string) []string {
	var out []string
	for _, l := range lines {
		if !strings.HasPrefix(l, name+"/") {
			out = append(out, l)
		}
	}
	return out
}
