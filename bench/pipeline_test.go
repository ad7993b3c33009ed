package bench

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/connectors"
	"github.com/freshet/freshet/engine/registry"
	"github.com/freshet/freshet/engine/stream"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// The pipeline under test: sequence numbers → map (key the record by its
// value) → filter (keep even numbers) → discard.
func mapFn(r *api.Record) error {
	r.Key = r.Value
	return nil
}

func filterFn(r *api.Record) bool {
	v := r.Value
	return len(v) > 0 && (v[len(v)-1]-'0')%2 == 0
}

type countSink struct {
	api.BaseOperator
	n *int64
}

func (s *countSink) ProcessBatch(in *api.Batch, out api.Output) error {
	*s.n += int64(in.Len())
	return nil
}

func newRegistry() *registry.Registry {
	r := registry.New()
	connectors.Register(r)
	return r
}

// runEngine runs the pipeline over n records and returns the kept count,
// the wall time and the heap allocations made while the job ran.
func runEngine(b *testing.B, n int, rebalance bool) (kept int64, elapsed time.Duration, allocs uint64) {
	env := stream.NewEnvironment(stream.Config{Parallelism: 1, Registry: newRegistry(), Logger: quiet})
	src := env.FromSourceType("gen", "datagen", map[string]any{"count": n, "value": "sequence"})
	var mapped *stream.DataStream
	if rebalance {
		mapped = src.Rebalance().Map("map", mapFn)
	} else {
		mapped = src.Map("map", mapFn)
	}
	mapped.Filter("filter", filterFn).
		AddSink("sink", func() (api.Operator, error) { return &countSink{n: &kept}, nil })
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	if _, err := env.Execute(context.Background(), "bench"); err != nil {
		b.Fatal(err)
	}
	elapsed = time.Since(start)
	runtime.ReadMemStats(&after)
	return kept, elapsed, after.Mallocs - before.Mallocs
}

// runLoop is the same work without the engine: generate each sequence
// number as datagen does (decimal text), map, filter, count.
func runLoop(n int) (kept int64, elapsed time.Duration) {
	start := time.Now()
	var buf []byte
	var r api.Record
	for i := 0; i < n; i++ {
		buf = strconv.AppendInt(buf[:0], int64(i), 10)
		r = api.Record{Value: buf, Timestamp: api.NoTimestamp}
		_ = mapFn(&r)
		if filterFn(&r) {
			kept++
		}
	}
	return kept, time.Since(start)
}

func benchPipeline(b *testing.B, rebalance bool) {
	n := max(b.N, 1000)
	kept, engine, allocs := runEngine(b, n, rebalance)
	want, loop := runLoop(n)
	if kept != want {
		b.Fatalf("engine kept %d records, the loop %d", kept, want)
	}
	b.ReportMetric(float64(n)/engine.Seconds(), "records/s")
	b.ReportMetric(float64(n)/loop.Seconds(), "loop-records/s")
	b.ReportMetric(loop.Seconds()/engine.Seconds(), "ratio-to-loop")
	b.ReportMetric(float64(allocs)/float64(n), "allocs/record")
}

// BenchmarkChained: datagen → map → filter → discard, chained in one task.
// Run with -cpu 1 for the one-core figure.
func BenchmarkChained(b *testing.B) { benchPipeline(b, false) }

// BenchmarkRebalance: the same pipeline with a rebalance between the source
// and the map: records are serialized into network buffers, sent with
// credit-based flow control and deserialized in a second task.
func BenchmarkRebalance(b *testing.B) { benchPipeline(b, true) }
