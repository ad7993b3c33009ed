package rocksdb

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/linxGnu/grocksdb"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/keygroup"
	"github.com/freshet/freshet/engine/state"
	"github.com/freshet/freshet/engine/state/internal/benchcmp"
)

// benchFixture is a backend and a raw RocksDB with the same options, both
// loaded with the same keys, kept across the benchmark's runs.
type benchFixture struct {
	keys    [][]byte
	be      *Backend
	v       api.ValueState
	res     *SharedResources
	raw     *grocksdb.DB
	rawCF   *grocksdb.ColumnFamilyHandle
	rawOpts [2]*grocksdb.Options
	rawRes  *SharedResources
	ro      *grocksdb.ReadOptions
	wo      *grocksdb.WriteOptions
}

var (
	fixtures   = map[int]*benchFixture{}
	fixtureDir string
)

func TestMain(m *testing.M) {
	code := m.Run()
	for _, f := range fixtures {
		f.close()
	}
	if fixtureDir != "" {
		os.RemoveAll(fixtureDir)
	}
	os.Exit(code)
}

func fixture(b *testing.B, n int) *benchFixture {
	if f := fixtures[n]; f != nil {
		return f
	}
	if fixtureDir == "" {
		dir, err := os.MkdirTemp("", "freshet-rocksdb-bench-")
		if err != nil {
			b.Fatal(err)
		}
		fixtureDir = dir
	}
	f := &benchFixture{keys: make([][]byte, n)}
	for i := range f.keys {
		f.keys[i] = []byte(fmt.Sprintf("user-%09d", i))
	}
	var err error
	if f.res, err = NewSharedResources(Defaults()); err != nil {
		b.Fatal(err)
	}
	if f.rawRes, err = NewSharedResources(Defaults()); err != nil {
		b.Fatal(err)
	}
	opts := state.Options{Operator: "bench", MaxParallelism: 128, KeyGroups: keygroup.Range{Start: 0, End: 127},
		Dir: filepath.Join(fixtureDir, fmt.Sprint("backend-", n))}
	if f.be, err = New(opts, f.res); err != nil {
		b.Fatal(err)
	}
	if f.v, err = f.be.Value(api.StateDescriptor{Name: "count"}); err != nil {
		b.Fatal(err)
	}
	// Load through Restore (batched writes), then compact: a steady state.
	zero := make([]byte, 8)
	for _, k := range f.keys {
		e := state.Entry{State: "count", Kind: api.ValueStateKind, KeyGroup: keygroup.Of(k, 128), Key: k, Value: zero}
		if err := f.be.Restore(&e); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.be.flushRestore(); err != nil {
		b.Fatal(err)
	}
	compact(f.be.db, f.be.states["count"].cf)

	// The raw database: the backend's options, plain keys and 8-byte values.
	filter, err := newTTLFilter()
	if err != nil {
		b.Fatal(err)
	}
	dbOpts, stateOpts := f.rawRes.options(filter)
	f.rawOpts = [2]*grocksdb.Options{dbOpts, stateOpts}
	db, cfs, err := grocksdb.OpenDbColumnFamilies(dbOpts, filepath.Join(fixtureDir, fmt.Sprint("raw-", n)),
		[]string{"default"}, []*grocksdb.Options{dbOpts})
	if err != nil {
		b.Fatal(err)
	}
	cfs[0].Destroy()
	f.raw = db
	if f.rawCF, err = db.CreateColumnFamily(stateOpts, "raw"); err != nil {
		b.Fatal(err)
	}
	f.ro = grocksdb.NewDefaultReadOptions()
	f.wo = grocksdb.NewDefaultWriteOptions()
	f.wo.DisableWAL(true)
	wb := grocksdb.NewWriteBatch()
	for i, k := range f.keys {
		wb.PutCF(f.rawCF, k, zero)
		if i%1024 == 1023 || i == len(f.keys)-1 {
			if err := db.Write(f.wo, wb); err != nil {
				b.Fatal(err)
			}
			wb.Clear()
		}
	}
	wb.Destroy()
	compact(db, f.rawCF)
	fixtures[n] = f
	return f
}

func compact(db *grocksdb.DB, cf *grocksdb.ColumnFamilyHandle) {
	fo := grocksdb.NewDefaultFlushOptions()
	fo.SetWait(true)
	_ = db.FlushCF(cf, fo)
	fo.Destroy()
	db.CompactRangeCF(cf, grocksdb.Range{})
}

func (f *benchFixture) close() {
	f.be.Close()
	f.res.Close()
	f.rawCF.Destroy()
	f.raw.Close()
	f.rawOpts[0].Destroy()
	f.rawOpts[1].Destroy()
	f.ro.Destroy()
	f.wo.Destroy()
	f.rawRes.Close()
}

// pick maps operation i to a key index in [0, n): a fixed pseudo-random
// order, so neither side gets sequential (cache-friendly) access.
func pick(i, n int) int {
	x := uint64(i) + 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return int((x ^ (x >> 31)) % uint64(n))
}

// BenchmarkValueReadModifyWrite increments an 8-byte counter per key through
// ValueState and, in the same run, through raw grocksdb GetPinnedCF/PutCF on
// a database with the same options (see benchcmp for the metrics).
// "distinct" spreads operations over FRESHET_BENCH_KEYS keys (default
// 100000), "hot" over 1000 of them.
func BenchmarkValueReadModifyWrite(b *testing.B) {
	n := benchcmp.Keys(b, 100_000)
	for _, tc := range []struct {
		name string
		hot  int
	}{{fmt.Sprint("distinct-", n), n}, {"hot-1000", min(1000, n)}} {
		b.Run(tc.name, func(b *testing.B) {
			f := fixture(b, n)
			var buf [8]byte
			benchcmp.Compare(b, func(from, to int) {
				for i := from; i < to; i++ {
					f.be.SetCurrentKey(f.keys[pick(i, tc.hot)])
					cur, ok, err := f.v.Get()
					if err != nil || !ok {
						b.Fatal(ok, err)
					}
					binary.BigEndian.PutUint64(buf[:], binary.BigEndian.Uint64(cur)+1)
					if err := f.v.Put(buf[:]); err != nil {
						b.Fatal(err)
					}
				}
			}, func(from, to int) {
				for i := from; i < to; i++ {
					k := f.keys[pick(i, tc.hot)]
					h, err := f.raw.GetPinnedCF(f.ro, f.rawCF, k)
					if err != nil || !h.Exists() {
						b.Fatal(err)
					}
					binary.BigEndian.PutUint64(buf[:], binary.BigEndian.Uint64(h.Data())+1)
					h.Destroy()
					if err := f.raw.PutCF(f.wo, f.rawCF, k, buf[:]); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
