package nexmark

import (
	"context"
	"testing"
)

// BenchmarkQuery runs each query through the engine on b.N events (heap
// state, no checkpoints, so that `make bench` stays short) and its limit in
// the same run, reporting both per core and their ratio. One op is one
// event. The suite's own figures come from `make bench-nexmark`.
//
//	go test -run '^$' -bench Query -benchtime 2000000x ./bench/nexmark/
func BenchmarkQuery(b *testing.B) {
	for _, q := range Queries() {
		b.Run(q.Name, func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.Events, cfg.State, cfg.CheckpointInterval, cfg.Dir = int64(max(b.N, 1000)), "heap", 0, b.TempDir()
			if q.Module != "" {
				dir, err := FindPlugins(".")
				if err != nil {
					b.Skip(err)
				}
				cfg.PluginDir = dir
			}
			r, err := RunQuery(context.Background(), cfg, q)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(r.EventsPerSec(), "events/s")
			b.ReportMetric(r.PerCore(), "events/s/core")
			b.ReportMetric(r.LimitPerCore(), "limit-events/s/core")
			b.ReportMetric(r.Ratio(), "ratio-to-limit")
		})
	}
}
