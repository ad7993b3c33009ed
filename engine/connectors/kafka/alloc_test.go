package kafka

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/connectors/conntest"
)

// bareSource is a Source ready to emit fetches without a cluster: what Open
// sets up, minus the client.
func bareSource(t testing.TB, cfg SourceConfig, tps ...TopicPartition) *Source {
	cfg.BootstrapServers = []string{"unused:1"}
	cfg.defaults()
	var errs []string
	spec := cfg.compile(func(f, format string, args ...any) { errs = append(errs, f+": "+fmt.Sprintf(format, args...)) })
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	s := &Source{spec: spec, parts: map[TopicPartition]*partState{}, lastWM: api.MinWatermark}
	s.keyDe, _ = spec.newKey()
	s.valDe, _ = spec.newValue()
	for _, tp := range tps {
		p := &partState{tp: tp, stop: -1, gen: spec.newGen(), lastActive: time.Now()}
		s.parts[tp] = p
		s.list = append(s.list, p)
	}
	return s
}

// fetchOf is one fetch of n records per partition, offsets from 0.
func fetchOf(n int, value []byte, tps ...TopicPartition) kgo.Fetches {
	f := kgo.Fetch{}
	for _, tp := range tps {
		fp := kgo.FetchPartition{Partition: tp.Partition, HighWatermark: int64(n), LastStableOffset: int64(n)}
		for i := range n {
			fp.Records = append(fp.Records, &kgo.Record{
				Topic: tp.Topic, Partition: tp.Partition, Offset: int64(i), Key: []byte("key"), Value: value,
				Timestamp: time.UnixMilli(int64(1000 + i)),
				Headers:   []kgo.RecordHeader{{Key: "trace", Value: []byte("abc")}},
			})
		}
		f.Topics = append(f.Topics, kgo.FetchTopic{Topic: tp.Topic, Partitions: []kgo.FetchPartition{fp}})
	}
	return kgo.Fetches{f}
}

// The per-record path of the source (deserialize, timestamp, watermark
// generator, emit) allocates nothing.
func TestSourceEmitAllocatesNothing(t *testing.T) {
	if conntest.RaceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	tps := []TopicPartition{{"t", 0}, {"t", 1}}
	for _, cfg := range []SourceConfig{
		{Format: FormatJSON, Timestamp: TimestampRecord},
		{Format: FormatString, Timestamp: TimestampField, TimestampFieldPath: "ts"},
		{Format: FormatBytes, Timestamp: TimestampNone, DropHeaders: true},
	} {
		cfg.Topics = []string{"t"}
		s := bareSource(t, cfg, tps...)
		fetches := fetchOf(500, []byte(`{"ts":1700000000000,"user":"ann","amount":12}`), tps...)
		out := newCollector(1000)
		allocs := testing.AllocsPerRun(20, func() {
			out.Batch.Reset()
			out.Watermarks = out.Watermarks[:0]
			for _, p := range s.list {
				p.next = 0
			}
			s.fetches, s.fi, s.ti, s.pi, s.ri, s.entered = fetches, 0, 0, 0, 0, false
			if n, _, err := s.drain(out, 1000, time.Now()); err != nil || n != 1000 {
				t.Fatalf("drain: %d, %v", n, err)
			}
			s.watermark(out, time.Now())
		})
		if allocs > 0 {
			t.Errorf("%s/%s: %v allocations per 1000 records", cfg.Format, cfg.Timestamp, allocs)
		}
	}
}

// Building the Kafka record of a sink record, headers included, allocates
// nothing once the pool is warm.
func TestSinkFillAllocatesNothing(t *testing.T) {
	if conntest.RaceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	s := &Sink{spec: &sinkSpec{}, keySer: codec(FormatString), valSer: codec(FormatJSON), hdrKeys: map[string]string{}}
	rec := api.Record{Key: []byte("user-1"), Value: []byte(`{"amount":12}`), Timestamp: 1700000000000,
		Headers: []api.Header{{Key: []byte("trace"), Value: []byte("abc")}}}
	allocs := testing.AllocsPerRun(1000, func() {
		p := s.recs.get()
		if err := s.fill(p, &rec); err != nil {
			t.Fatal(err)
		}
		s.recs.put(&p.Record)
	})
	if allocs > 0 {
		t.Errorf("%v allocations per record", allocs)
	}
}
