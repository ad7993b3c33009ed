package nexmark_test

import (
	"testing"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/connectors/conntest"
	"github.com/freshet/freshet/engine/connectors/nexmark"
)

func reportRate(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkGenerator measures the generator alone and with each encoding.
// One op is one event.
func BenchmarkGenerator(b *testing.B) {
	for _, enc := range []string{"none", "json", "binary"} {
		b.Run(enc, func(b *testing.B) {
			g := newGen(b, nexmark.DefaultConfig())
			var ev nexmark.Event
			buf := make([]byte, 0, 1024)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				g.Next(&ev)
				switch enc {
				case "json":
					buf = nexmark.AppendJSON(buf[:0], &ev)
				case "binary":
					buf = nexmark.AppendBinary(buf[:0], &ev)
				}
			}
			reportRate(b)
		})
	}
}

// BenchmarkSourcePoll measures the source through Poll into a batch reset
// after every poll, as the runtime does. One op is one event.
func BenchmarkSourcePoll(b *testing.B) {
	for _, format := range []string{"json", "binary"} {
		b.Run(format, func(b *testing.B) {
			newSrc, err := buildSource(b, map[string]any{"format": format})
			if err != nil {
				b.Fatal(err)
			}
			src, _ := newSrc()
			if err := src.Open(conntest.NewContext("events", 0, 1)); err != nil {
				b.Fatal(err)
			}
			defer src.Close()
			out := conntest.NewSourceContext(1024)
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; done += out.Batch.Len() {
				out.Batch.Reset()
				out.Limit = min(1024, b.N-done)
				if _, err := src.Poll(out); err != nil {
					b.Fatal(err)
				}
			}
			reportRate(b)
		})
	}
}

// BenchmarkBaselineAppend is the floor for BenchmarkSourcePoll/json: a
// hand-written loop appending a fixed 255-byte JSON bid (the average size)
// to the same kind of batch.
func BenchmarkBaselineAppend(b *testing.B) {
	payload := []byte(`{"type":"bid","auction":1000,"bidder":1001,"price":12345,"channel":"Google","url":"https://www.nexmark.com/abc/def/ghi/item.htm?query=1","dateTime":1436918400000,"extra":"` +
		"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrst" + `"}`)
	batch := api.NewBatch(1024)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if batch.Len() == 1024 {
			batch.Reset()
		}
		batch.Append(nil, payload, int64(i))
	}
	reportRate(b)
}
