package kafka

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/internal/kafkatest"
)

// BenchmarkCopy copies a topic of 100-byte records to another topic, on
// the fake and the real cluster:
//
//   - franz-go: the baseline, a hand-written loop over the raw client:
//     poll fetches, produce each record, flush at the end;
//   - at-least-once / exactly-once: the connector's Source and Sink driven
//     directly, as a task would (Poll into a batch, ProcessBatch), with a
//     checkpoint (SnapshotState, NotifyCheckpointComplete) every 100000
//     records (-short: none).
//
// Reported: records/s over the copy (client setup excluded) and the mean
// time of a checkpoint (both subtasks' snapshots and notifications: for
// at-least-once a flush, for exactly-once a flush and a commit).
//
//	scripts/kafka.sh run go test ./engine/connectors/kafka -run XXX -bench Copy -benchtime 3x
func BenchmarkCopy(b *testing.B) {
	for _, c := range clusters {
		b.Run(c.name, func(b *testing.B) {
			bootstrap := c.start(b)
			n := 300_000
			if c.name == "fake" {
				n = 100_000
			}
			in := benchTopic(b, bootstrap, n)
			b.Run("franz-go", func(b *testing.B) { benchRaw(b, bootstrap, in, n) })
			b.Run("at-least-once", func(b *testing.B) { benchConnector(b, bootstrap, in, n, DeliveryAtLeastOnce) })
			b.Run("exactly-once", func(b *testing.B) { benchConnector(b, bootstrap, in, n, DeliveryExactlyOnce) })
		})
	}
}

const benchPartitions = 4

// benchTopic makes a topic of n 100-byte records.
func benchTopic(b *testing.B, bootstrap string, n int) string {
	topic := newTopic(b, bootstrap, benchPartitions)
	cl := kafkatest.Client(b, bootstrap, kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(5*time.Millisecond))
	ctx := testCtx(b)
	pad := bytes.Repeat([]byte("x"), 100)
	for i := range n {
		v := append([]byte(nil), pad...)
		copy(v, fmt.Sprintf("%09d", i))
		cl.Produce(ctx, &kgo.Record{Value: v}, func(_ *kgo.Record, err error) {
			if err != nil {
				b.Error(err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	return topic
}

func report(b *testing.B, n int, elapsed time.Duration) {
	b.ReportMetric(float64(n*b.N)/elapsed.Seconds(), "records/s")
	b.ReportMetric(0, "ns/op")
}

func benchRaw(b *testing.B, bootstrap, in string, n int) {
	b.ReportAllocs()
	var elapsed time.Duration
	for range b.N {
		b.StopTimer()
		out := newTopic(b, bootstrap, benchPartitions)
		parts := map[int32]kgo.Offset{}
		for p := range int32(benchPartitions) {
			parts[p] = kgo.NewOffset().AtStart()
		}
		cons, err := kgo.NewClient(kgo.SeedBrokers(kafkatest.Seeds(bootstrap)...),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{in: parts}),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxBytes(defaultFetchMaxBytes))
		if err != nil {
			b.Fatal(err)
		}
		prod, err := kgo.NewClient(kgo.SeedBrokers(kafkatest.Seeds(bootstrap)...), kgo.DefaultProduceTopic(out),
			kgo.MaxBufferedRecords(defaultMaxBuffered))
		if err != nil {
			b.Fatal(err)
		}
		ctx := testCtx(b)
		var failed error
		promise := func(_ *kgo.Record, err error) {
			if err != nil && failed == nil {
				failed = err
			}
		}
		b.StartTimer()
		start := time.Now()
		for seen := 0; seen < n; {
			fs := cons.PollFetches(ctx)
			if err := fs.Err(); err != nil {
				b.Fatal(err)
			}
			fs.EachRecord(func(r *kgo.Record) {
				seen++
				prod.Produce(ctx, &kgo.Record{Key: r.Key, Value: r.Value, Timestamp: r.Timestamp}, promise)
			})
		}
		if err := prod.Flush(ctx); err != nil || failed != nil {
			b.Fatal(err, failed)
		}
		elapsed += time.Since(start)
		b.StopTimer()
		cons.Close()
		prod.Close()
	}
	report(b, n, elapsed)
}

func benchConnector(b *testing.B, bootstrap, in string, n int, delivery string) {
	checkpointEvery := 100_000
	if testing.Short() {
		checkpointEvery = 1 << 30
	}
	b.ReportAllocs()
	var elapsed, inCheckpoints time.Duration
	checkpoints := 0
	for range b.N {
		b.StopTimer()
		out := newTopic(b, bootstrap, benchPartitions)
		src := openSource(b, SourceConfig{ClientConfig: ClientConfig{BootstrapServers: kafkatest.Seeds(bootstrap)},
			Topics: []string{in}, Bounded: true, Timestamp: TimestampRecord}, opCtx(b, "in", 0, 1), nil)
		sink := openSink(b, sinkConfig(bootstrap, out, delivery), opCtx(b, "out", 0, 1), nil)
		col := newCollector(1024)
		b.StartTimer()
		start := time.Now()
		var seen, id int
		for {
			st, err := src.Poll(col)
			if err != nil {
				b.Fatal(err)
			}
			if k := col.Batch.Len(); k > 0 {
				if err := sink.ProcessBatch(col.Batch, nil); err != nil {
					b.Fatal(err)
				}
				seen += k
				col.Batch.Reset()
				col.Watermarks = col.Watermarks[:0]
			}
			if seen/checkpointEvery > id {
				id++
				cpStart := time.Now()
				if err := checkpoint(src, sink, int64(id)); err != nil {
					b.Fatal(err)
				}
				inCheckpoints += time.Since(cpStart)
				checkpoints++
			}
			if st == api.EndOfInput {
				break
			}
			if st == api.NothingAvailable {
				select {
				case <-src.Wake():
				case <-time.After(time.Millisecond):
				}
			}
		}
		if err := sink.Finish(nil); err != nil {
			b.Fatal(err)
		}
		elapsed += time.Since(start)
		b.StopTimer()
		if seen != n {
			b.Fatalf("copied %d records, want %d", seen, n)
		}
		src.Close()
		sink.Close()
	}
	report(b, n, elapsed)
	if checkpoints > 0 {
		b.ReportMetric(float64(inCheckpoints.Milliseconds())/float64(checkpoints), "ms/checkpoint")
	}
}

func checkpoint(src *Source, sink *Sink, id int64) error {
	if _, err := src.SnapshotState(id); err != nil {
		return err
	}
	if _, err := sink.SnapshotState(id); err != nil {
		return err
	}
	if err := src.NotifyCheckpointComplete(id); err != nil {
		return err
	}
	return sink.NotifyCheckpointComplete(id)
}
