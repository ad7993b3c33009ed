package kafka

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/cluster"
	"github.com/freshet/freshet/engine/internal/kafkatest"
	"github.com/freshet/freshet/engine/stream"
)

// BenchmarkJob measures Kafka → map → Kafka as a real job through the
// runtime (MiniCluster, task, chained source → Go Map → sink, checkpoints
// every second), on the real broker only. It writes jobRecords 100-byte
// records into a topic of 4 partitions once, then:
//
//   - franz-go: the baseline, BenchmarkCopy's plain loop (poll fetches,
//     produce each record, flush) copying that topic to a new one.
//   - at-least-once, exactly-once: a bounded kafka source, a Go Map that
//     upper-cases each value, a kafka sink with that guarantee, parallelism
//     1. records/s runs from the first record the map sees to the end of the
//     job (the sink's final flush or commit): job start-up, reported apart
//     as startup-ms, is left out as the baseline leaves out its client
//     set-up. vs-franz-go is the ratio to the baseline's median. The output
//     is read back with read_committed and must hold every input record
//     once, upper-cased.
//   - latency-half/at-least-once, latency-half/exactly-once: an unbounded
//     job of the same shape fed by a producer paced at half the median
//     throughput of that guarantee, each value starting with its produce
//     time; a read_committed consumer of output partition 0 (a quarter of
//     the records) measures receive time − produce time over a window after
//     a warm-up. The producer and consumer share the machine with the job
//     and the broker. With exactly-once a record becomes visible only when
//     the checkpoint after it completes: about half the checkpoint interval
//     at p50, the whole interval plus the checkpoint at p99.
//   - latency-tenth/at-least-once: the same at a tenth of the throughput,
//     the pipeline's own latency on a machine that is not saturated.
//
// Run it with
//
//	scripts/kafka.sh run go test ./engine/connectors/kafka -run XXX -bench Job -benchtime 1x -count 3
//
// -count repeats each sub-benchmark in turn within one process, so ratios
// and latency rates use the medians of the runs before; the latency
// sub-benchmarks skip when the throughput ones did not run.
func BenchmarkJob(b *testing.B) {
	bootstrap := kafkatest.Broker(b)
	n := jobRecords
	if testing.Short() {
		n = 100_000
	}
	in := benchTopic(b, bootstrap, n)
	// records/s of each run of this process: -count repeats each
	// sub-benchmark in turn, so ratios and the latency runs' rates use the
	// median of the runs so far.
	var raw, alo, eos []float64
	b.Run("franz-go", func(b *testing.B) {
		raw = append(raw, benchJobRuns(b, n, func() (copyResult, error) { return rawCopy(b, bootstrap, in, n) }))
	})
	for _, c := range []struct {
		delivery string
		rates    *[]float64
	}{{DeliveryAtLeastOnce, &alo}, {DeliveryExactlyOnce, &eos}} {
		b.Run(c.delivery, func(b *testing.B) {
			rate := benchJobRuns(b, n, func() (copyResult, error) { return jobCopy(b, bootstrap, in, n, c.delivery) })
			*c.rates = append(*c.rates, rate)
			if len(raw) > 0 {
				b.ReportMetric(rate/median(raw), "vs-franz-go")
			}
		})
	}
	for _, c := range []struct {
		load     string
		share    float64
		delivery string
		rates    *[]float64
	}{
		{"half", 0.5, DeliveryAtLeastOnce, &alo},
		{"half", 0.5, DeliveryExactlyOnce, &eos},
		{"tenth", 0.1, DeliveryAtLeastOnce, &alo},
	} {
		b.Run("latency-"+c.load+"/"+c.delivery, func(b *testing.B) {
			if len(*c.rates) == 0 {
				b.Skip("the latency runs at a share of the throughput of the " + c.delivery + " sub-benchmark, which did not run")
			}
			benchLatency(b, bootstrap, c.delivery, median(*c.rates)*c.share)
		})
	}
}

func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// jobRecords is how many records the throughput runs copy: 100 MB, a few
// seconds of work, so that several 1 s checkpoints fall inside a run.
const jobRecords = 1_000_000

// copyResult is one copy of the input topic.
type copyResult struct {
	elapsed     time.Duration // first record to the end of the copy
	startup     time.Duration // job submission to the first record (jobs only)
	checkpoints int           // checkpoints completed during the copy (jobs only)
}

// benchJobRuns runs one copy per b.N and reports the mean rate, returned
// too, and for jobs the mean start-up and the checkpoints per copy.
func benchJobRuns(b *testing.B, n int, copyOnce func() (copyResult, error)) float64 {
	var sum copyResult
	for range b.N {
		r, err := copyOnce()
		if err != nil {
			b.Fatal(err)
		}
		sum.elapsed += r.elapsed
		sum.startup += r.startup
		sum.checkpoints += r.checkpoints
	}
	rate := float64(n*b.N) / sum.elapsed.Seconds()
	b.ReportMetric(rate, "records/s")
	b.ReportMetric(0, "ns/op")
	if sum.startup > 0 {
		b.ReportMetric(float64(sum.startup.Milliseconds())/float64(b.N), "startup-ms")
		b.ReportMetric(float64(sum.checkpoints)/float64(b.N), "checkpoints")
	}
	return rate
}

// rawCopy is BenchmarkCopy's baseline loop (the same clients, options and
// loop as benchRaw), copying in to a new topic and checking it holds n
// records.
func rawCopy(b *testing.B, bootstrap, in string, n int) (copyResult, error) {
	out := newTopic(b, bootstrap, benchPartitions)
	parts := map[int32]kgo.Offset{}
	for p := range int32(benchPartitions) {
		parts[p] = kgo.NewOffset().AtStart()
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(kafkatest.Seeds(bootstrap)...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{in: parts}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxBytes(defaultFetchMaxBytes))
	if err != nil {
		return copyResult{}, err
	}
	defer cons.Close()
	prod, err := kgo.NewClient(kgo.SeedBrokers(kafkatest.Seeds(bootstrap)...), kgo.DefaultProduceTopic(out),
		kgo.MaxBufferedRecords(defaultMaxBuffered))
	if err != nil {
		return copyResult{}, err
	}
	defer prod.Close()
	ctx := testCtx(b)
	var failed atomic.Pointer[error]
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			failed.CompareAndSwap(nil, &err)
		}
	}
	start := time.Now()
	for seen := 0; seen < n; {
		fs := cons.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			return copyResult{}, fmt.Errorf("franz-go loop: consuming %s: %w", in, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			seen++
			prod.Produce(ctx, &kgo.Record{Key: r.Key, Value: r.Value, Timestamp: r.Timestamp}, promise)
		})
	}
	if err := prod.Flush(ctx); err != nil {
		return copyResult{}, fmt.Errorf("franz-go loop: flushing %s: %w", out, err)
	}
	if e := failed.Load(); e != nil {
		return copyResult{}, fmt.Errorf("franz-go loop: producing to %s: %w", out, *e)
	}
	res := copyResult{elapsed: time.Since(start)}
	return res, checkOutput(ctx, bootstrap, out, n, false)
}

var jobLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// upperMap returns the job's Map function: it upper-cases the value into a
// buffer it reuses (the runtime copies the record before the next call; the
// jobs run with parallelism 1, so one buffer serves) and stores the wall time
// of the first record it sees in first.
func upperMap(first *atomic.Int64) func(r *api.Record) error {
	var buf []byte
	return func(r *api.Record) error {
		if first.Load() == 0 {
			first.Store(time.Now().UnixNano())
		}
		buf = append(buf[:0], r.Value...)
		for i, c := range buf {
			if 'a' <= c && c <= 'z' {
				buf[i] = c - ('a' - 'A')
			}
		}
		r.Value = buf
		return nil
	}
}

// jobEnv builds source → upper-case map → sink with 1 s checkpoints.
func jobEnv(b *testing.B, src SourceConfig, sink SinkConfig, first *atomic.Int64) (*stream.Environment, error) {
	newSrc, err := NewSource(src)
	if err != nil {
		return nil, err
	}
	newSink, err := NewSink(sink)
	if err != nil {
		return nil, err
	}
	env := stream.NewEnvironment(stream.Config{
		Parallelism: 1,
		Checkpoint:  &cluster.CheckpointConfig{Interval: time.Second, Dir: b.TempDir()},
		Logger:      jobLogger,
	})
	env.FromSource("in", newSrc).Map("upper", upperMap(first)).AddSink("out", newSink)
	return env, env.Err()
}

// jobCopy runs the bounded job copying in to a new topic with the given
// delivery guarantee and checks the output.
func jobCopy(b *testing.B, bootstrap, in string, n int, delivery string) (copyResult, error) {
	out := newTopic(b, bootstrap, benchPartitions)
	var first atomic.Int64
	env, err := jobEnv(b,
		SourceConfig{ClientConfig: ClientConfig{BootstrapServers: kafkatest.Seeds(bootstrap)}, Topics: []string{in}, Bounded: true},
		sinkConfig(bootstrap, out, delivery), &first)
	if err != nil {
		return copyResult{}, err
	}
	ctx := testCtx(b)
	submitted := time.Now()
	job, err := env.ExecuteAsync(ctx, "kafka-job-bench-"+delivery)
	if err != nil {
		return copyResult{}, err
	}
	if _, err := job.Wait(ctx); err != nil {
		return copyResult{}, err
	}
	end := time.Now()
	firstAt := time.Unix(0, first.Load())
	res := copyResult{elapsed: end.Sub(firstAt), startup: firstAt.Sub(submitted)}
	cps, err := job.Checkpoints()
	if err != nil {
		return copyResult{}, fmt.Errorf("listing the job's checkpoints: %w", err)
	}
	for _, c := range cps {
		if c.Status == "COMPLETED" && !c.Savepoint {
			res.checkpoints++
		}
	}
	return res, checkOutput(ctx, bootstrap, out, n, true)
}

// checkOutput reads topic with read_committed and checks it holds exactly
// the n input records (values "%09d" + padding, benchTopic's), each once,
// upper-cased if upper. It counts instead of keeping records, reading each
// partition up to its last stable offset, markers included (see
// kafkatest.ReadCommitted).
func checkOutput(ctx context.Context, bootstrap, topic string, n int, upper bool) error {
	admCl, err := kgo.NewClient(kgo.SeedBrokers(kafkatest.Seeds(bootstrap)...))
	if err != nil {
		return fmt.Errorf("checking %s: %w", topic, err)
	}
	defer admCl.Close()
	ends, err := settledEnds(ctx, kadm.NewClient(admCl), topic)
	if err != nil {
		return fmt.Errorf("checking %s: %w", topic, err)
	}
	from := map[int32]kgo.Offset{}
	end := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			from[o.Partition] = kgo.NewOffset().AtStart()
			end[o.Partition] = o.Offset
		}
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafkatest.Seeds(bootstrap)...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords(),
		kgo.FetchMaxBytes(defaultFetchMaxBytes), kgo.FetchMaxWait(250*time.Millisecond))
	if err != nil {
		return fmt.Errorf("checking %s: %w", topic, err)
	}
	defer cl.Close()
	seen := make([]bool, n)
	var count, dups, bad int
	for len(end) > 0 {
		fs := cl.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			return fmt.Errorf("checking %s after %d records: %w", topic, count, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			last, ok := end[r.Partition]
			if !ok {
				return
			}
			if r.Offset >= last-1 {
				delete(end, r.Partition)
			}
			if r.Offset >= last || r.Attrs.IsControl() {
				return
			}
			count++
			i, ok := seqOf(r.Value)
			switch {
			case !ok || i >= n || upper && !bytes.HasSuffix(r.Value, []byte("X")):
				bad++
			case seen[i]:
				dups++
			default:
				seen[i] = true
			}
		})
	}
	if count != n || dups != 0 || bad != 0 {
		return fmt.Errorf("checking %s: %d committed records (%d duplicates, %d malformed), want the %d input records once each",
			topic, count, dups, bad, n)
	}
	return nil
}

// settledEnds waits until no transaction is open on topic (each
// partition's last stable offset is its high watermark: a committed
// transaction's markers are written after EndTxn returns) and returns the
// last stable offsets.
func settledEnds(ctx context.Context, adm *kadm.Client, topic string) (kadm.ListedOffsets, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		stable, err := adm.ListCommittedOffsets(ctx, topic)
		if err == nil {
			err = stable.Error()
		}
		if err != nil {
			return nil, fmt.Errorf("listing last stable offsets: %w", err)
		}
		high, err := adm.ListEndOffsets(ctx, topic)
		if err == nil {
			err = high.Error()
		}
		if err != nil {
			return nil, fmt.Errorf("listing end offsets: %w", err)
		}
		open := 0
		high.Each(func(o kadm.ListedOffset) {
			if s, ok := stable.Lookup(topic, o.Partition); !ok || s.Offset != o.Offset {
				open++
			}
		})
		if open == 0 {
			return stable, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d partitions still had an open transaction 30s after the job ended", open)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// seqOf parses the decimal number at the start of v (up to the first
// non-digit).
func seqOf(v []byte) (int, bool) {
	x, digits := 0, 0
	for _, c := range v {
		if c < '0' || c > '9' {
			break
		}
		x = x*10 + int(c-'0')
		digits++
	}
	return x, digits > 0 && digits <= 19
}

// benchLatency runs the unbounded job fed at rate records/s and reports the
// end-to-end latency percentiles of a window of its output.
func benchLatency(b *testing.B, bootstrap, delivery string, rate float64) {
	var lat []time.Duration
	var produced float64
	var cps []cluster.CheckpointStats
	for range b.N {
		r, err := jobLatency(b, bootstrap, delivery, rate)
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, r.lat...)
		produced += r.rate
		cps = append(cps, r.checkpoints...)
	}
	slices.Sort(lat)
	ms := func(q float64) float64 {
		return float64(lat[min(len(lat)-1, int(q*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(rate, "target-records/s")
	b.ReportMetric(produced/float64(b.N), "records/s")
	b.ReportMetric(ms(0.50), "p50-ms")
	b.ReportMetric(ms(0.99), "p99-ms")
	b.ReportMetric(ms(1), "max-ms")
	b.ReportMetric(float64(len(lat))/float64(b.N), "samples")
	if len(cps) > 1 {
		var took time.Duration
		for _, c := range cps {
			took += c.Duration
		}
		every := cps[len(cps)-1].Trigger.Sub(cps[0].Trigger) / time.Duration(len(cps)-1)
		b.ReportMetric(float64(took.Milliseconds())/float64(len(cps)), "checkpoint-ms")
		b.ReportMetric(float64(every.Milliseconds()), "checkpoint-every-ms")
	}
}

// Latency run phases: after the map sees its first record, a warm-up, then
// the measured window; records produced in the window are sampled.
const (
	latencyWarmup = time.Second
	latencyWindow = 5 * time.Second
	// latencySettle: the consumer stops once it sees a record produced
	// this long after the window, so late window records got their chance.
	latencySettle = 200 * time.Millisecond
)

// jobLatency runs source → upper-case map → sink (delivery) as an unbounded
// job, feeds its input at rate records/s with values that start with their
// produce time (decimal ns since the epoch), and returns the latencies of
// the window's records read from output partition 0, and the produce rate
// reached in the window.
// latencyRun is what one latency run measured.
type latencyRun struct {
	lat         []time.Duration           // the sampled records' latencies
	rate        float64                   // records/s produced in the window
	checkpoints []cluster.CheckpointStats // completed in the window
}

func jobLatency(b *testing.B, bootstrap, delivery string, rate float64) (latencyRun, error) {
	in := newTopic(b, bootstrap, benchPartitions)
	out := newTopic(b, bootstrap, benchPartitions)
	var first atomic.Int64
	env, err := jobEnv(b,
		SourceConfig{ClientConfig: ClientConfig{BootstrapServers: kafkatest.Seeds(bootstrap)}, Topics: []string{in}},
		sinkConfig(bootstrap, out, delivery), &first)
	if err != nil {
		return latencyRun{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	job, err := env.ExecuteAsync(ctx, "kafka-job-latency-"+delivery)
	if err != nil {
		return latencyRun{}, err
	}

	// window holds [start, end) in ns once the map has seen a record.
	var windowStart, windowEnd atomic.Int64
	var inWindow atomic.Int64 // records produced in the window
	feedCtx, stopFeed := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var feedErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		feedErr = feed(feedCtx, bootstrap, in, rate, &windowStart, &windowEnd, &inWindow)
	}()

	// The window opens a warm-up after the map saw its first record.
	for first.Load() == 0 && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	ws := time.Unix(0, first.Load()).Add(latencyWarmup)
	windowEnd.Store(ws.Add(latencyWindow).UnixNano())
	windowStart.Store(ws.UnixNano())

	lat, consumeErr := sampleLatency(ctx, bootstrap, out, ws, ws.Add(latencyWindow), int(rate*latencyWindow.Seconds()))
	stopFeed()
	wg.Wait()
	var run latencyRun
	cps, cpErr := job.Checkpoints()
	for _, c := range cps {
		if c.Status == "COMPLETED" && !c.Savepoint && !c.Trigger.Before(ws) && c.Trigger.Before(ws.Add(latencyWindow)) {
			run.checkpoints = append(run.checkpoints, c)
		}
	}
	stopErr := job.Stop(ctx)
	if _, err := job.Wait(ctx); err != nil && stopErr == nil {
		stopErr = err
	}
	for _, err := range []error{consumeErr, feedErr, cpErr, stopErr} {
		if err != nil {
			return run, fmt.Errorf("latency run (%s): %w", delivery, err)
		}
	}
	if len(lat) == 0 {
		return run, fmt.Errorf("latency run (%s): no record of the window reached output partition 0", delivery)
	}
	run.lat, run.rate = lat, float64(inWindow.Load())/latencyWindow.Seconds()
	return run, nil
}

// feed produces 100-byte records into topic at rate records/s until ctx
// ends, each value its produce time in decimal ns and 'x' padding. It
// counts the records produced within the window once the window is set.
func feed(ctx context.Context, bootstrap, topic string, rate float64, windowStart, windowEnd, inWindow *atomic.Int64) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafkatest.Seeds(bootstrap)...), kgo.DefaultProduceTopic(topic),
		kgo.ProducerLinger(0), kgo.MaxBufferedRecords(defaultMaxBuffered))
	if err != nil {
		return fmt.Errorf("feeding %s: %w", topic, err)
	}
	defer cl.Close()
	var failed atomic.Pointer[error]
	promise := func(_ *kgo.Record, err error) {
		if err != nil && ctx.Err() == nil {
			failed.CompareAndSwap(nil, &err)
		}
	}
	pad := bytes.Repeat([]byte("x"), 100)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	sent := 0
	for {
		select {
		case <-ctx.Done():
			if e := failed.Load(); e != nil {
				return fmt.Errorf("feeding %s: %w", topic, *e)
			}
			return nil
		case <-tick.C:
		}
		due := int(rate*time.Since(start).Seconds()) - sent
		for range due {
			ns := time.Now().UnixNano()
			if ws := windowStart.Load(); ws != 0 && ns >= ws && ns < windowEnd.Load() {
				inWindow.Add(1)
			}
			v := strconv.AppendInt(make([]byte, 0, 100), ns, 10)
			v = append(v, pad[:100-len(v)]...)
			cl.Produce(ctx, &kgo.Record{Value: v}, promise)
		}
		sent += due
	}
}

// sampleLatency consumes partition 0 of topic with read_committed and
// returns receive time − produce time of the records produced within
// [from, to). It stops once it sees a record produced latencySettle after
// to.
func sampleLatency(ctx context.Context, bootstrap, topic string, from, to time.Time, capacity int) ([]time.Duration, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafkatest.Seeds(bootstrap)...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		return nil, fmt.Errorf("sampling latency from %s: %w", topic, err)
	}
	defer cl.Close()
	lat := make([]time.Duration, 0, capacity/benchPartitions+1024)
	lo, hi, stop := from.UnixNano(), to.UnixNano(), to.Add(latencySettle).UnixNano()
	for done := false; !done; {
		fs := cl.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			return nil, fmt.Errorf("sampling latency from %s after %d records: %w", topic, len(lat), err)
		}
		now := time.Now().UnixNano()
		fs.EachRecord(func(r *kgo.Record) {
			ns, ok := seqOf(r.Value)
			switch {
			case !ok:
			case int64(ns) >= stop:
				done = true
			case int64(ns) >= lo && int64(ns) < hi:
				lat = append(lat, time.Duration(now-int64(ns)))
			}
		})
	}
	return lat, nil
}
