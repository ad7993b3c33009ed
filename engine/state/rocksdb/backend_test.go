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
	"github.com/freshet/freshet/engine/state/rocksdb"
	"github.com/freshet/freshet/engine/state/statetest"
)

const maxPar = 32

func options(t testing.TB, r keygroup.Range, clock *statetest.Clock) state.Options {
	if clock == nil {
		clock = new(statetest.Clock)
	}
	return state.Options{Operator: "op", MaxParallelism: maxPar, KeyGroups: r, Dir: filepath.Join(t.TempDir(), "db"), Now: clock.Now}
}

var all = keygroup.Range{Start: 0, End: maxPar - 1}

func open(t testing.TB, res *rocksdb.SharedResources, opts state.Options) *rocksdb.Backend {
	t.Helper()
	b, err := rocksdb.New(opts, res)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func openCheckpoint(t testing.TB, res *rocksdb.SharedResources, opts state.Options, dirs ...string) *rocksdb.Backend {
	t.Helper()
	b, err := rocksdb.OpenCheckpoint(opts, res, dirs...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// fill writes value, list and map state for n keys, tagged with tag.
func fill(t testing.TB, b state.Backend, n int, tag string) {
	t.Helper()
	v, err := b.Value(api.StateDescriptor{Name: "v"})
	must(t, err)
	l, err := b.List(api.StateDescriptor{Name: "l"})
	must(t, err)
	m, err := b.Map(api.StateDescriptor{Name: "m", TTL: time.Hour})
	must(t, err)
	for i := 0; i < n; i++ {
		b.SetCurrentKey([]byte(fmt.Sprint("key", i)))
		must(t, v.Put([]byte(tag)))
		must(t, l.Add([]byte(tag)))
		must(t, m.Put([]byte(tag), []byte(fmt.Sprint(i))))
	}
}

func sameDump(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("%s: %d lines differ from the expected %d\nfirst got:  %q\nfirst want: %q", what, len(got), len(want), first(got), first(want))
	}
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func TestCheckpointIsAConsistentCopy(t *testing.T) {
	res := newResources(t)
	clock := new(statetest.Clock)
	src := open(t, res, options(t, all, clock))
	fill(t, src, 300, "before")
	want := statetest.Dump(t, src)
	cp := filepath.Join(t.TempDir(), "cp-1")
	must(t, src.Checkpoint(cp))
	fill(t, src, 300, "after") // not in the checkpoint

	restored := openCheckpoint(t, res, options(t, all, clock), cp)
	sameDump(t, "backend opened from the checkpoint", statetest.Dump(t, restored), want)

	// Writing to the opened backend leaves the checkpoint untouched.
	fill(t, restored, 300, "later")
	again := openCheckpoint(t, res, options(t, all, clock), cp)
	sameDump(t, "checkpoint opened a second time", statetest.Dump(t, again), want)

	// List elements added after a restore come after the restored ones.
	l, err := again.List(api.StateDescriptor{Name: "l"})
	must(t, err)
	again.SetCurrentKey([]byte("key0"))
	must(t, l.Add([]byte("new")))
	var got []string
	must(t, l.Iter(func(v []byte) bool { got = append(got, string(v)); return true }))
	if fmt.Sprint(got) != "[before new]" {
		t.Fatalf("list after restore and Add = %q", got)
	}

	if err := src.Checkpoint(cp); err == nil {
		t.Fatal("Checkpoint into an existing directory succeeded")
	}
}

func TestOpenCheckpointRescales(t *testing.T) {
	res := newResources(t)
	clock := new(statetest.Clock)
	src := open(t, res, options(t, all, clock))
	fill(t, src, 400, "x")
	want := statetest.Dump(t, src)
	cp := filepath.Join(t.TempDir(), "cp")
	must(t, src.Checkpoint(cp))

	// 1 -> 2: each subtask opens the one checkpoint and keeps its key groups.
	var halves []string
	var union []string
	for i := 0; i < 2; i++ {
		r := keygroup.RangeOf(i, 2, maxPar)
		b := openCheckpoint(t, res, options(t, r, clock), cp)
		lines := statetest.Dump(t, b)
		if len(lines) == 0 || len(lines) == len(want) {
			t.Fatalf("subtask %d holds %d of %d entries", i, len(lines), len(want))
		}
		for _, line := range lines {
			var kg int
			fmt.Sscanf(line[strings.Index(line, "kg="):], "kg=%d", &kg)
			if !r.Contains(kg) {
				t.Fatalf("subtask %d (%s) holds %s", i, r, line)
			}
		}
		union = append(union, lines...)
		dir := filepath.Join(t.TempDir(), fmt.Sprint("half-", i))
		must(t, b.Checkpoint(dir))
		halves = append(halves, dir)
	}
	if len(union) != len(want) {
		t.Fatalf("the two subtasks hold %d entries, the source %d", len(union), len(want))
	}

	// 2 -> 1: one subtask opens both checkpoints.
	merged := openCheckpoint(t, res, options(t, all, clock), halves...)
	sameDump(t, "merged backend", statetest.Dump(t, merged), want)
}

func TestOpenCheckpointErrors(t *testing.T) {
	res := newResources(t)
	src := open(t, res, options(t, all, nil))
	fill(t, src, 10, "x")
	cp := filepath.Join(t.TempDir(), "cp")
	must(t, src.Checkpoint(cp))

	other := options(t, all, nil)
	other.MaxParallelism, other.KeyGroups = 64, keygroup.Range{Start: 0, End: 63}
	if _, err := rocksdb.OpenCheckpoint(other, res, cp); err == nil || !strings.Contains(err.Error(), "max parallelism 32") {
		t.Fatalf("opening with another max parallelism: %v", err)
	}
	if _, err := rocksdb.OpenCheckpoint(options(t, all, nil), res, filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("opening a missing checkpoint succeeded")
	}
	notEmpty := options(t, all, nil)
	must(t, os.MkdirAll(notEmpty.Dir, 0o755))
	must(t, os.WriteFile(filepath.Join(notEmpty.Dir, "x"), nil, 0o644))
	if _, err := rocksdb.OpenCheckpoint(notEmpty, res, cp); err == nil {
		t.Fatal("opening into a non-empty directory succeeded")
	}
	// New refuses a directory that holds a database.
	dup := options(t, all, nil)
	b := open(t, res, dup)
	b.Close()
	if _, err := rocksdb.New(dup, res); err == nil || !strings.Contains(err.Error(), "already holds a database") {
		t.Fatalf("New over an existing database: %v", err)
	}
	if _, err := rocksdb.New(state.Options{Operator: "op", MaxParallelism: 4, KeyGroups: keygroup.Range{Start: 0, End: 3}}, res); err == nil {
		t.Fatal("New without a directory succeeded")
	}
}

func TestCompactionDropsExpiredEntries(t *testing.T) {
	res := newResources(t)
	clock := new(statetest.Clock)
	b := open(t, res, options(t, all, clock))
	v, err := b.Value(api.StateDescriptor{Name: "v", TTL: time.Minute})
	must(t, err)
	l, err := b.List(api.StateDescriptor{Name: "l", TTL: time.Minute})
	must(t, err)
	keep, err := b.Value(api.StateDescriptor{Name: "keep"})
	must(t, err)
	for i := 0; i < 1000; i++ {
		b.SetCurrentKey([]byte(fmt.Sprint(i)))
		must(t, v.Put([]byte("x")))
		must(t, l.Add([]byte("x")))
		must(t, keep.Put([]byte("x")))
	}
	clock.Advance(30 * time.Second)
	b.SetCurrentKey([]byte("late"))
	must(t, v.Put([]byte("x"))) // expires 30s after the others; also advances the filter's clock
	rocksdb.CompactAll(b)
	if n := rocksdb.RawKeys(b, "v"); n != 1001 {
		t.Fatalf("compaction before expiry left %d keys, want 1001", n)
	}
	clock.Advance(30 * time.Second)
	b.SetCurrentKey([]byte("late"))
	if _, ok, err := v.Get(); err != nil || !ok {
		t.Fatalf("late key: %v %v", ok, err)
	}
	rocksdb.CompactAll(b)
	if n := rocksdb.RawKeys(b, "v"); n != 1 {
		t.Fatalf("compaction after expiry left %d keys of the value state, want 1", n)
	}
	if n := rocksdb.RawKeys(b, "l"); n != 0 {
		t.Fatalf("compaction after expiry left %d list elements, want 0", n)
	}
	if n := rocksdb.RawKeys(b, "keep"); n != 1000 {
		t.Fatalf("compaction dropped entries without TTL: %d left", n)
	}
}

func TestStats(t *testing.T) {
	cfg := testConfig()
	cfg.StateCacheSize = 0 // every read and write reaches RocksDB
	res, err := rocksdb.NewSharedResources(cfg)
	must(t, err)
	defer res.Close()
	b := open(t, res, options(t, all, nil))
	fill(t, b, 2000, "some value")
	v, err := b.Value(api.StateDescriptor{Name: "v"})
	must(t, err)
	for i := 0; i < 2000; i++ {
		b.SetCurrentKey([]byte(fmt.Sprint("key", i)))
		if _, _, err := v.Get(); err != nil {
			t.Fatal(err)
		}
	}
	s := b.Stats()
	if s.MemtableBytes == 0 || s.Writes < 6000 || s.Reads < 2000 {
		t.Fatalf("after writes and reads: %+v", s)
	}
	if s.ReadLatency.Count == 0 || s.WriteLatency.Count == 0 || s.ReadLatency.Quantile(0.5) <= 0 || s.WriteLatency.Mean() <= 0 {
		t.Fatalf("latency histograms are empty: %+v %+v", s.ReadLatency, s.WriteLatency)
	}
	if s.BlockCacheCapacity != uint64(cfg.BlockCacheSize) || s.WriteBufferBudget != cfg.WriteBufferSize {
		t.Fatalf("shared resources: cache capacity %d, budget %d", s.BlockCacheCapacity, s.WriteBufferBudget)
	}
	must(t, b.Checkpoint(filepath.Join(t.TempDir(), "cp"))) // flushes
	s = b.Stats()
	if s.LiveSSTBytes == 0 || s.EstimatedKeys == 0 {
		t.Fatalf("after a flush: %+v", s)
	}
	b.Close()
	if s := b.Stats(); s != (rocksdb.Stats{}) {
		t.Fatalf("Stats after Close: %+v", s)
	}
}

func TestParseStalls(t *testing.T) {
	const cfstats = "Cumulative compaction: 0.00 GB write\n" +
		"Stalls(count): 1 level0_slowdown, 1 level0_slowdown_with_compaction, 2 level0_numfiles, 2 level0_numfiles_with_compaction, 3 stop for pending_compaction_bytes, 4 slowdown for pending_compaction_bytes, 5 memtable_compaction, 6 memtable_slowdown, interval 7 total count\n" +
		"Block cache LRUCache\n"
	slow, stop, ok := rocksdb.ParseStalls(cfstats)
	if !ok || slow != 1+4+6 || stop != 2+3+5 {
		t.Fatalf("ParseStalls = %d, %d, %v", slow, stop, ok)
	}
	if _, _, ok := rocksdb.ParseStalls("no such line"); ok {
		t.Fatal("ParseStalls found a line that is not there")
	}
	d, ok := rocksdb.ParseCumulativeStall("Cumulative WAL: 0 writes\nCumulative stall: 01:02:3.500 H:M:S, 0.0 percent\n")
	if !ok || d != time.Hour+2*time.Minute+3500*time.Millisecond {
		t.Fatalf("ParseCumulativeStall = %v, %v", d, ok)
	}
}

// The properties Stats parses must exist in the linked RocksDB.
func TestStallPropertiesAreParsable(t *testing.T) {
	res := newResources(t)
	b := open(t, res, options(t, all, nil))
	fill(t, b, 10, "x")
	if !rocksdb.StallLinesPresent(b) {
		t.Fatal("rocksdb.cfstats or rocksdb.dbstats no longer has the stall lines Stats parses")
	}
}

func TestSharedWriteBufferBudget(t *testing.T) {
	cfg := testConfig()
	cfg.WriteBufferSize = 4 << 20 // each column family's memtable: 1 MiB
	cfg.StateCacheSize = 0        // every write reaches the memtables
	res, err := rocksdb.NewSharedResources(cfg)
	must(t, err)
	var backends []*rocksdb.Backend
	for i := 0; i < 3; i++ {
		b, err := rocksdb.New(options(t, all, nil), res)
		must(t, err)
		backends = append(backends, b)
	}
	if err := res.Close(); !errors.Is(err, rocksdb.ErrInUse) {
		t.Fatalf("closing resources in use: %v", err)
	}
	// Four states of 600 KB each per backend: no memtable fills (1 MiB),
	// so only the shared budget (4 MiB < 3 x 2.4 MB) can make them flush.
	big := make([]byte, 1000)
	for _, b := range backends {
		for st := 0; st < 4; st++ {
			v, err := b.Value(api.StateDescriptor{Name: fmt.Sprint("v", st)})
			must(t, err)
			for i := 0; i < 600; i++ {
				b.SetCurrentKey([]byte(fmt.Sprint(i)))
				must(t, v.Put(big))
			}
		}
	}
	var flushes uint64
	for _, b := range backends {
		s := b.Stats()
		flushes += s.BudgetFlushes
		// The budget is soft: reports lag writes and flushes run in the
		// background, so each backend may overshoot by about a memtable.
		if slack := int64(len(backends)) * (2 << 20); s.SharedMemtableBytes > cfg.WriteBufferSize+slack {
			t.Fatalf("shared memtables %d bytes for a budget of %d", s.SharedMemtableBytes, cfg.WriteBufferSize)
		}
	}
	if flushes == 0 {
		t.Fatal("7 MB of memtables against a 4 MiB budget without a budget flush")
	}
	for _, b := range backends {
		must(t, b.Close())
	}
	must(t, res.Close())
}

func TestConfigValidate(t *testing.T) {
	if err := rocksdb.Defaults().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	cases := []struct {
		field string
		edit  func(*rocksdb.Config)
	}{
		{"WriteBufferSize", func(c *rocksdb.Config) { c.WriteBufferSize = 1000 }},
		{"MaxBackgroundJobs", func(c *rocksdb.Config) { c.MaxBackgroundJobs = 0 }},
		{"BlockSize", func(c *rocksdb.Config) { c.BlockSize = 1 << 30 }},
		{"BlockCacheSize", func(c *rocksdb.Config) { c.BlockCacheSize = -1 }},
		{"BloomFilterBitsPerKey", func(c *rocksdb.Config) { c.BloomFilterBitsPerKey = -3 }},
		{"Compression", func(c *rocksdb.Config) { c.Compression = "gzip" }},
	}
	for _, tc := range cases {
		t.Run(tc.field, func(t *testing.T) {
			c := rocksdb.Defaults()
			tc.edit(&c)
			err := c.Validate()
			if !errors.Is(err, rocksdb.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("Validate = %v, want an error naming %s", err, tc.field)
			}
			if _, err := rocksdb.NewSharedResources(c); err == nil {
				t.Fatal("NewSharedResources accepted an invalid config")
			}
		})
	}
	// Several mistakes are reported together.
	c := rocksdb.Config{}
	if err := c.Validate(); err == nil || strings.Count(err.Error(), "\n") != 4 {
		t.Fatalf("zero config: %v", err)
	}
}

func TestEveryCompressionOpens(t *testing.T) {
	for _, comp := range []rocksdb.Compression{rocksdb.CompressionNone, rocksdb.CompressionSnappy, rocksdb.CompressionLZ4, rocksdb.CompressionZSTD} {
		t.Run(string(comp), func(t *testing.T) {
			cfg := testConfig()
			cfg.Compression = comp
			res, err := rocksdb.NewSharedResources(cfg)
			must(t, err)
			defer res.Close()
			b, err := rocksdb.New(options(t, all, nil), res)
			must(t, err)
			defer b.Close()
			fill(t, b, 100, "compress me compress me compress me")
			must(t, b.Checkpoint(filepath.Join(t.TempDir(), "cp")))
		})
	}
}

func TestHotPathAllocatesNoMoreThanGrocksdb(t *testing.T) {
	res := newResources(t)
	b := open(t, res, options(t, all, nil))
	v, err := b.Value(api.StateDescriptor{Name: "v"})
	must(t, err)
	key := []byte("hot")
	val := make([]byte, 8)
	b.SetCurrentKey(key)
	must(t, v.Put(val))
	ours := testing.AllocsPerRun(1000, func() {
		b.SetCurrentKey(key)
		got, _, err := v.Get()
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Put(got); err != nil {
			t.Fatal(err)
		}
	})
	rawKey := []byte("raw-key")
	raw := testing.AllocsPerRun(1000, func() { rocksdb.RawGetPut(b, "v", rawKey, val) })
	t.Logf("allocations per read-modify-write: backend %v, raw grocksdb GetPinnedCF+PutCF %v", ours, raw)
	if ours > raw {
		t.Fatalf("backend allocates %v per read-modify-write, grocksdb itself %v", ours, raw)
	}
}
