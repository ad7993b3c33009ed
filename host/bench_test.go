package host_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/host"
	"github.com/freshet/freshet/host/abi"
	"github.com/freshet/freshet/host/build"
	"github.com/freshet/freshet/host/harness"
	wt "github.com/freshet/freshet/host/internal/wasmtest"
)

// Benchmarks of the WebAssembly boundary, each with a native Go baseline in
// the same run. Per-record figures are reported as ns/rec.
//
//	go test ./host -run '^$' -bench . -benchtime 2s

const benchBatch = 1024

func benchRecords() *api.Batch {
	b := api.NewBatch(benchBatch)
	val := bytes.Repeat([]byte("abcdefghij"), 10) // 100 bytes
	for i := 0; i < benchBatch; i++ {
		key := fmt.Appendf(nil, "key-%04d", i%1000)
		b.Append(key, val, int64(i))
	}
	return b
}

// discard counts what it is given.
type discard struct{ n int }

func (d *discard) Emit(*api.Record) { d.n++ }

// nativeMap is the benchmarks' baseline: the same functions as a native
// api.Operator.
type nativeMap struct {
	api.BaseOperator
	upper bool
	buf   []byte
	rec   api.Record
}

func (m *nativeMap) ProcessBatch(in *api.Batch, out api.Output) error {
	for i := range in.Records {
		r := &in.Records[i]
		if !m.upper {
			out.Emit(r)
			continue
		}
		m.buf = m.buf[:0]
		for _, c := range r.Value {
			if c >= 'a' && c <= 'z' {
				c -= 'a' - 'A'
			}
			m.buf = append(m.buf, c)
		}
		m.rec = api.Record{Key: r.Key, Value: m.buf, Timestamp: r.Timestamp, Headers: r.Headers}
		out.Emit(&m.rec)
	}
	return nil
}

var rustGuest struct {
	once sync.Once
	path string
	err  error
}

// rustMaps builds testdata/guests/rust-maps, or skips when cargo is missing.
func rustMaps(b testing.TB) string {
	rustGuest.once.Do(func() {
		if _, err := exec.LookPath("/usr/bin/cargo"); err != nil {
			rustGuest.err = err
			return
		}
		rustGuest.path = filepath.Join(os.TempDir(), "freshet-host-bench-rust-maps.wasm")
		rustGuest.err = build.BuildContext(context.Background(), "testdata/guests/rust-maps", rustGuest.path,
			build.Options{TargetDir: filepath.Join(os.TempDir(), "freshet-host-test-cargo-target")})
	})
	if rustGuest.err != nil {
		b.Skip("Rust guest unavailable:", rustGuest.err)
	}
	return rustGuest.path
}

func benchOperator(b *testing.B, op api.Operator) {
	h, err := harness.New(op, harness.Options{})
	if err != nil {
		b.Fatal(err)
	}
	if err := h.Open(); err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	in := benchRecords()
	var out discard
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := op.ProcessBatch(in, &out); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatch), "ns/rec")
	if out.n != b.N*benchBatch {
		b.Fatalf("emitted %d, want %d", out.n, b.N*benchBatch)
	}
}

func BenchmarkMap(b *testing.B) {
	for _, fn := range []string{"identity", "upper"} {
		b.Run(fn+"/native", func(b *testing.B) { benchOperator(b, &nativeMap{upper: fn == "upper"}) })
		b.Run(fn+"/go-wasm", func(b *testing.B) {
			op, err := host.NewOperator(loadGuest(b, "kitchen"), host.Options{Function: fn, Kind: abi.KindMap})
			if err != nil {
				b.Fatal(err)
			}
			benchOperator(b, op)
		})
		b.Run(fn+"/rust-wasm", func(b *testing.B) {
			m, err := runtime(b).LoadFile(context.Background(), rustMaps(b))
			if err != nil {
				b.Fatal(err)
			}
			op, err := host.NewOperator(m, host.Options{Function: fn, Kind: abi.KindMap})
			if err != nil {
				b.Fatal(err)
			}
			benchOperator(b, op)
		})
	}
}

// nativeRW reads and writes one value state per record.
type nativeRW struct {
	api.BaseOperator
	vs api.ValueState
	ks api.KeyedState
}

func (n *nativeRW) Open(ctx api.Context) error {
	n.ks = ctx.KeyedState()
	var err error
	n.vs, err = n.ks.Value(api.StateDescriptor{Name: "count", Kind: api.ValueStateKind})
	return err
}

func (n *nativeRW) ProcessBatch(in *api.Batch, out api.Output) error {
	var buf [8]byte
	for i := range in.Records {
		n.ks.SetCurrentKey(in.Records[i].Key)
		v, ok, err := n.vs.Get()
		if err != nil {
			return err
		}
		var c uint64
		if ok {
			c = binary.LittleEndian.Uint64(v)
		}
		binary.LittleEndian.PutUint64(buf[:], c+1)
		if err := n.vs.Put(buf[:]); err != nil {
			return err
		}
	}
	return nil
}

func BenchmarkKeyedState(b *testing.B) {
	run := func(b *testing.B, op api.Operator) {
		h, err := harness.New(op, harness.Options{Keyed: true})
		if err != nil {
			b.Fatal(err)
		}
		if err := h.Open(); err != nil {
			b.Fatal(err)
		}
		defer h.Close()
		in := benchRecords()
		var out discard
		if err := op.ProcessBatch(in, &out); err != nil { // warm up: every key exists
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := op.ProcessBatch(in, &out); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatch), "ns/rec")
	}
	b.Run("native-heap", func(b *testing.B) { run(b, &nativeRW{}) })
	for _, cache := range []bool{true, false} {
		b.Run(fmt.Sprintf("go-wasm/cache=%v", cache), func(b *testing.B) {
			op, err := host.NewOperator(loadGuest(b, "kitchen"), host.Options{Function: "rw", Kind: abi.KindProcess, DisableStateCache: !cache})
			if err != nil {
				b.Fatal(err)
			}
			run(b, op)
		})
	}
}

// BenchmarkModuleStart measures what a task pays to start a Go guest when
// the on-disk compilation cache is warm: a new runtime (so nothing is
// cached in memory), load (compile from cache), instantiate and open.
func BenchmarkModuleStart(b *testing.B) {
	path := guest(b, "kitchen")
	cacheDir := filepath.Join(os.TempDir(), "freshet-host-test-compilation-cache")
	ctx := context.Background()
	start := func() {
		rt, err := host.NewRuntime(ctx, host.Config{CompilationCacheDir: cacheDir})
		if err != nil {
			b.Fatal(err)
		}
		defer rt.Close(ctx)
		m, err := rt.LoadFile(ctx, path)
		if err != nil {
			b.Fatal(err)
		}
		op, err := host.NewOperator(m, host.Options{Function: "upper", Kind: abi.KindMap})
		if err != nil {
			b.Fatal(err)
		}
		h, _ := harness.New(op, harness.Options{})
		if err := h.Open(); err != nil {
			b.Fatal(err)
		}
		h.Close()
	}
	start() // warm the cache
	b.ResetTimer()
	t0 := time.Now()
	for i := 0; i < b.N; i++ {
		start()
	}
	b.ReportMetric(float64(time.Since(t0).Milliseconds())/float64(b.N), "ms/start")
}

// BenchmarkBoundary measures the cost of the boundary alone: a hand-written
// guest that forwards every record, so what remains is the host's encoding
// of the batch, the call, and the decoding and emitting of its output.
func BenchmarkBoundary(b *testing.B) {
	ctx := context.Background()
	for _, interruptible := range []bool{true, false} {
		b.Run(fmt.Sprintf("interruptible=%v", interruptible), func(b *testing.B) {
			rt, err := host.NewRuntime(ctx, host.Config{CompilationCacheDir: "off", Uninterruptible: !interruptible})
			if err != nil {
				b.Fatal(err)
			}
			defer rt.Close(ctx)
			m, err := rt.Load(ctx, "forward-all.wasm", wt.RawGuest(1, abi.KindMap, wt.ForwardAll()).Bytes())
			if err != nil {
				b.Fatal(err)
			}
			op, err := host.NewOperator(m, host.Options{Kind: abi.KindMap})
			if err != nil {
				b.Fatal(err)
			}
			benchOperator(b, op)
		})
	}
}
