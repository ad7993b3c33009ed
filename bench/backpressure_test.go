package bench

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/memory"
	"github.com/freshet/freshet/engine/stream"
)

// slowSink spends perRecord of CPU time on every record, about ten times
// what the source needs to produce one.
type slowSink struct {
	api.BaseOperator
	perRecord time.Duration
	n         *int64
}

func (s *slowSink) ProcessBatch(in *api.Batch, out api.Output) error {
	deadline := time.Now().Add(time.Duration(in.Len()) * s.perRecord)
	for time.Now().Before(deadline) {
	}
	*s.n += int64(in.Len())
	return nil
}

// BenchmarkSlowSink runs an unbounded source into a sink ten times slower,
// across a rebalance, for the benchmark time, and reports the peak network
// memory against its budget, the peak Go heap and the rate the source was
// throttled to. Credit-based flow control must hold network memory within
// the budget and keep the heap flat.
func BenchmarkSlowSink(b *testing.B) {
	const budget = 8 << 20
	var sunk int64
	env := stream.NewEnvironment(stream.Config{
		Parallelism: 1, Registry: newRegistry(), Logger: quiet,
		Memory: memory.Config{TotalBytes: budget},
	})
	env.FromSourceType("gen", "datagen", map[string]any{"value": map[string]any{"kind": "string", "length": 100}}).
		Rebalance().
		AddSink("slow", func() (api.Operator, error) { return &slowSink{perRecord: time.Microsecond, n: &sunk}, nil })
	c, err := env.ExecuteAsync(context.Background(), "slow-sink")
	if err != nil {
		b.Fatal(err)
	}
	run := time.Duration(b.N) * time.Millisecond
	run = min(max(run, 2*time.Second), 10*time.Second)
	var peakHeap uint64
	var ms runtime.MemStats
	end := time.Now().Add(run)
	for time.Now().Before(end) {
		time.Sleep(100 * time.Millisecond)
		runtime.ReadMemStats(&ms)
		peakHeap = max(peakHeap, ms.HeapInuse)
	}
	st, _ := c.Status()
	mem := c.Cluster().TaskManagers()[0].Memory().Stats()
	_ = c.Cancel(context.Background())
	_, _ = c.Wait(context.Background())
	if mem.Peak > budget {
		b.Fatalf("network memory peaked at %d bytes, over the %d-byte budget", mem.Peak, budget)
	}
	src := st.Vertices[0]
	b.ReportMetric(float64(budget), "budget-bytes")
	b.ReportMetric(float64(mem.Peak), "network-peak-bytes")
	b.ReportMetric(float64(peakHeap), "heap-peak-bytes")
	b.ReportMetric(src.OutPerSec, "source-records/s")
	b.ReportMetric(src.BackPressuredMsPerSec, "source-backpressured-ms/s")
}
