package datagen_test

import (
	"strconv"
	"testing"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/connectors/conntest"
)

const benchBudget = 1024

// BenchmarkPoll measures rows per second through Poll into a batch that is
// reset after every poll, as the runtime does. One op is one row.
func BenchmarkPoll(b *testing.B) {
	cases := []struct {
		name   string
		fields map[string]any
	}{
		{"sequence", map[string]any{}},
		{"word-keyed", map[string]any{"value": "word", "key": "int"}},
		{"json4", map[string]any{"value": "json", "key": "word",
			"fields": map[string]any{"id": "sequence", "user": "word", "amount": "int", "score": "float"}}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			src, _ := build(b, tc.fields)()
			if err := src.Open(conntest.NewContext("gen", 0, 1)); err != nil {
				b.Fatal(err)
			}
			defer src.Close()
			out := conntest.NewSourceContext(benchBudget)
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; done += out.Batch.Len() {
				out.Batch.Reset()
				out.Limit = min(benchBudget, b.N-done)
				if _, err := src.Poll(out); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkBaselineAppend is the floor: a hand-written loop that formats a
// counter and appends it to the same kind of batch.
func BenchmarkBaselineAppend(b *testing.B) {
	batch := api.NewBatch(benchBudget)
	buf := make([]byte, 0, 32)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if batch.Len() == benchBudget {
			batch.Reset()
		}
		buf = strconv.AppendInt(buf[:0], int64(i), 10)
		batch.Append(nil, buf, api.NoTimestamp)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
