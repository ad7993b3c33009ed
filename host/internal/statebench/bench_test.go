package statebench_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/state"
	"github.com/freshet/freshet/engine/state/rocksdb"
	"github.com/freshet/freshet/host"
	"github.com/freshet/freshet/host/abi"
	"github.com/freshet/freshet/host/build"
	"github.com/freshet/freshet/host/harness"
)

type discard struct{}

func (discard) Emit(*api.Record) {}

// BenchmarkKeyedStateRocksDB: a Go guest reading and writing one value
// state per record (1000 keys) over RocksDB, with and without the host's
// write-back cache.
//
//	go test ./host/internal/statebench -run '^$' -bench . -benchtime 100x
func BenchmarkKeyedStateRocksDB(b *testing.B) {
	ctx := context.Background()
	wasm := filepath.Join(b.TempDir(), "kitchen.wasm")
	if err := build.Build("../../testdata/guests/kitchen", wasm); err != nil {
		b.Fatal(err)
	}
	rt, err := host.NewRuntime(ctx, host.Config{CompilationCacheDir: filepath.Join(os.TempDir(), "freshet-host-test-compilation-cache")})
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close(ctx)
	m, err := rt.LoadFile(ctx, wasm)
	if err != nil {
		b.Fatal(err)
	}
	res, err := rocksdb.NewSharedResources(rocksdb.Defaults())
	if err != nil {
		b.Fatal(err)
	}
	defer res.Close()
	in := api.NewBatch(1024)
	val := make([]byte, 100)
	for i := 0; i < 1024; i++ {
		in.Append(fmt.Appendf(nil, "key-%04d", i%1000), val, int64(i))
	}
	for _, cache := range []bool{true, false} {
		b.Run(fmt.Sprintf("cache=%v", cache), func(b *testing.B) {
			op, err := host.NewOperator(m, host.Options{Function: "rw", Kind: abi.KindProcess, DisableStateCache: !cache})
			if err != nil {
				b.Fatal(err)
			}
			h, err := harness.New(op, harness.Options{Keyed: true, StateDir: b.TempDir(),
				NewState: func(o state.Options) (state.Backend, error) { return rocksdb.New(o, res) }})
			if err != nil {
				b.Fatal(err)
			}
			if err := h.Open(); err != nil {
				b.Fatal(err)
			}
			defer h.Close()
			if err := op.ProcessBatch(in, discard{}); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := op.ProcessBatch(in, discard{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*in.Len()), "ns/rec")
		})
	}
}
