package kafka

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/connectors/conntest"
	"github.com/freshet/freshet/engine/internal/kafkatest"
	"github.com/freshet/freshet/engine/onerror"
)

func TestOwnerDealsEveryPartitionOnce(t *testing.T) {
	for _, par := range []int{1, 2, 3, 7} {
		count := make([]int, par)
		for _, topic := range []string{"a", "orders", "clicks.v2"} {
			for p := range int32(10) {
				o := Owner(topic, p, par)
				if o < 0 || o >= par {
					t.Fatalf("Owner(%s, %d, %d) = %d", topic, p, par, o)
				}
				count[o]++
				// Round robin within a topic: consecutive partitions go
				// to consecutive subtasks.
				if next := Owner(topic, p+1, par); next != (o+1)%par {
					t.Fatalf("Owner(%s, %d, %d) = %d after %d", topic, p+1, par, next, o)
				}
			}
		}
		for i, n := range count {
			if n < 30/par-1 || n > 30/par+3 {
				t.Errorf("parallelism %d: subtask %d owns %d of 30 partitions", par, i, n)
			}
		}
	}
}

// A bounded source reads what was committed when it opened, across
// partitions and subtasks, and ends; aborted transactions are skipped.
func TestSourceBoundedReadsCommittedAndEnds(t *testing.T) {
	forEachCluster(t, func(t *testing.T, bootstrap string) {
		topic := newTopic(t, bootstrap, 3)
		var want []string
		var plain []*kgo.Record
		for i := range 30 {
			v := fmt.Sprintf("plain-%02d", i)
			plain = append(plain, rec(int32(i%3), v))
			want = append(want, v)
		}
		produce(t, bootstrap, topic, plain...)
		produceTxn(t, bootstrap, topic, true, rec(0, "committed-0"), rec(1, "committed-1"))
		produceTxn(t, bootstrap, topic, false, rec(1, "aborted-1"), rec(2, "aborted-2"))
		want = append(want, "committed-0", "committed-1")
		slices.Sort(want)

		cfg := SourceConfig{ClientConfig: ClientConfig{BootstrapServers: kafkatest.Seeds(bootstrap)}, Topics: []string{topic}, Bounded: true}
		var got []string
		for i := range 2 {
			newSrc, err := NewSource(cfg)
			if err != nil {
				t.Fatal(err)
			}
			src, _ := newSrc()
			out, _, err := conntest.RunSource(opCtx(t, "in", i, 2), src, 7, 30*time.Second)
			if err != nil {
				t.Fatalf("subtask %d: %v", i, err)
			}
			got = append(got, conntest.Values(out.Batch)...)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("read %q\nwant %q", got, want)
		}
	})
}

// Records of one partition come in offset order, with Kafka's timestamp,
// key and headers.
func TestSourceRecordShape(t *testing.T) {
	bootstrap := kafkatest.Fake(t)
	topic := newTopic(t, bootstrap, 1)
	produce(t, bootstrap, topic,
		&kgo.Record{Key: []byte("k1"), Value: []byte(`{"n":1}`), Timestamp: time.UnixMilli(1000),
			Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("v")}}},
		&kgo.Record{Value: []byte(`{"n":2}`), Timestamp: time.UnixMilli(2000)})
	cfg := SourceConfig{ClientConfig: ClientConfig{BootstrapServers: kafkatest.Seeds(bootstrap)},
		Topics: []string{topic}, Bounded: true, Format: FormatJSON, KeyFormat: FormatString}
	ctx := opCtx(t, "in", 0, 1)
	src := openSource(t, cfg, ctx, nil)
	out := newCollector(100)
	pollUntil(t, src, out, 10*time.Second, untilEnd)
	rs := out.Batch.Records
	if len(rs) != 2 {
		t.Fatalf("%d records", len(rs))
	}
	if string(rs[0].Key) != "k1" || string(rs[0].Value) != `{"n":1}` || rs[0].Timestamp != 1000 ||
		len(rs[0].Headers) != 1 || string(rs[0].Headers[0].Key) != "h" || string(rs[0].Headers[0].Value) != "v" {
		t.Errorf("first record %+v", rs[0])
	}
	if len(rs[1].Key) != 0 || rs[1].Timestamp != 2000 {
		t.Errorf("second record %+v", rs[1])
	}
	if n := ctx.CounterValue(RecordsInCounter); n != 2 {
		t.Errorf("%s = %d", RecordsInCounter, n)
	}
	if n := ctx.CounterValue(BytesInCounter); n != int64(2+7+1+1+7) {
		t.Errorf("%s = %d", BytesInCounter, n)
	}
}

// Each partition's watermark trails its own largest timestamp; the
// source's is the minimum over partitions that are not idle.
func TestSourcePerPartitionWatermarks(t *testing.T) {
	bootstrap := kafkatest.Fake(t)
	topic := newTopic(t, bootstrap, 2)
	cfg := SourceConfig{ClientConfig: ClientConfig{BootstrapServers: kafkatest.Seeds(bootstrap)},
		Topics: []string{topic}, MaxOutOfOrderness: 100 * time.Millisecond, IdleTimeout: time.Second}
	src := openSource(t, cfg, opCtx(t, "in", 0, 1), nil)
	out := newCollector(100)

	// Partition 0 alone: partition 1 has no data yet and is not idle, so
	// the watermark stays at its minimum.
	produce(t, bootstrap, topic, recAt(0, "a", 1000), recAt(0, "b", 3000))
	pollUntil(t, src, out, 5*time.Second, atLeast(out, 2))
	if len(out.Watermarks) != 0 {
		t.Fatalf("watermarks %v before partition 1 had data or went idle", out.Watermarks)
	}
	produce(t, bootstrap, topic, recAt(1, "c", 2000))
	pollUntil(t, src, out, 5*time.Second, func(api.SourceStatus) bool { return len(out.Watermarks) > 0 })
	if want := int64(2000 - 100 - 1); out.Watermarks[0] != want {
		t.Fatalf("watermark %v, want min(3000, 2000) - 100 - 1 = %d", out.Watermarks, want)
	}
	// Partition 1 goes ahead: partition 0 now holds the watermark back.
	produce(t, bootstrap, topic, recAt(1, "d", 9000))
	pollUntil(t, src, out, 5*time.Second, func(api.SourceStatus) bool { return len(out.Watermarks) > 1 })
	if want := int64(3000 - 100 - 1); out.Watermarks[1] != want {
		t.Fatalf("watermarks %v, want then %d", out.Watermarks, want)
	}
	// Partition 0 goes idle while partition 1 keeps getting records: it
	// stops holding the watermark back.
	ts, last := int64(9500), time.Time{}
	pollUntil(t, src, out, 10*time.Second, func(api.SourceStatus) bool {
		if time.Since(last) > 100*time.Millisecond {
			produce(t, bootstrap, topic, recAt(1, "more", ts))
			ts, last = ts+100, time.Now()
		}
		return out.Watermarks[len(out.Watermarks)-1] > 3000-100-1
	})
	// Then both are idle: the source marks itself idle, once.
	pollUntil(t, src, out, 5*time.Second, func(api.SourceStatus) bool { return out.idle > 0 })
	for range 5 {
		src.Poll(out)
	}
	if out.idle != 1 {
		t.Errorf("marked idle %d times, want once", out.idle)
	}
	for i := 1; i < len(out.Watermarks); i++ {
		if out.Watermarks[i] <= out.Watermarks[i-1] {
			t.Fatalf("watermarks %v do not increase", out.Watermarks)
		}
	}
	// A record makes it active again; a later idle period marks it again.
	n := out.Batch.Len()
	produce(t, bootstrap, topic, recAt(0, "f", 20000))
	pollUntil(t, src, out, 5*time.Second, atLeast(out, n+1))
	pollUntil(t, src, out, 5*time.Second, func(api.SourceStatus) bool { return out.idle == 2 })
}

// A subtask with no partition is idle from the start.
func TestSourceWithoutPartitionsIsIdle(t *testing.T) {
	bootstrap := kafkatest.Fake(t)
	topic := newTopic(t, bootstrap, 1)
	cfg := SourceConfig{ClientConfig: ClientConfig{BootstrapServers: kafkatest.Seeds(bootstrap)}, Topics: []string{topic}}
	owner := Owner(topic, 0, 2)
	src := openSource(t, cfg, opCtx(t, "in", 1-owner, 2), nil)
	out := newCollector(10)
	if st, err := src.Poll(out); err != nil || st != api.NothingAvailable || out.idle != 1 {
		t.Fatalf("Poll = %v, %v; idle marks %d", st, err, out.idle)
	}
	// Bounded, it ends at once.
	cfg.Bounded = true
	src = openSource(t, cfg, opCtx(t, "in", 1-owner, 2), nil)
	if st, err := src.Poll(out); err != nil || st != api.EndOfInput {
		t.Fatalf("bounded Poll = %v, %v", st, err)
	}
}

// Restoring a snapshot replays exactly what followed it: every record is
// read once, over the two runs.
func TestSourceRestoreReplaysExactly(t *testing.T) {
	forEachCluster(t, func(t *testing.T, bootstrap string) {
		topic := newTopic(t, bootstrap, 2)
		var recs []*kgo.Record
		var all []string
		for i := range 100 {
			v := fmt.Sprintf("r%03d", i)
			recs = append(recs, rec(int32(i%2), v))
			all = append(all, v)
		}
		produce(t, bootstrap, topic, recs...)
		cfg := SourceConfig{ClientConfig: ClientConfig{BootstrapServers: kafkatest.Seeds(bootstrap)}, Topics: []string{topic}, Bounded: true}

		first := openSource(t, cfg, opCtx(t, "in", 0, 1), nil)
		out := newCollector(7)
		pollUntil(t, first, out, 10*time.Second, atLeast(out, 30))
		snap, err := first.SnapshotState(1)
		if err != nil {
			t.Fatal(err)
		}
		before := conntest.Values(out.Batch)
		// Records after the checkpoint: lost with the crash, replayed.
		pollUntil(t, first, out, 10*time.Second, atLeast(out, len(before)+20))
		first.Close()

		second := openSource(t, cfg, opCtx(t, "in", 0, 1), snap)
		out2 := newCollector(7)
		pollUntil(t, second, out2, 10*time.Second, untilEnd)
		got := append(before, conntest.Values(out2.Batch)...)
		slices.Sort(got)
		if !slices.Equal(got, all) {
			t.Fatalf("read %d records over both runs, want each of %d once:\n%q", len(got), len(all), got)
		}
		checkPartitionOrder(t, out2.Batch)
	})
}

// checkPartitionOrder checks that records of each partition (rN with N odd
// in partition 1) come in increasing order.
func checkPartitionOrder(t *testing.T, b *api.Batch) {
	last := map[byte]string{}
	for _, v := range conntest.Values(b) {
		p := (v[len(v)-1] - '0') % 2
		if v <= last[p] {
			t.Fatalf("%s after %s in one partition", v, last[p])
		}
		last[p] = v
	}
}

// Union state lets a job restore with another parallelism: every new
// subtask sees every offset and takes its partitions'.
func TestSourceRescaleWithUnionState(t *testing.T) {
	forEachCluster(t, func(t *testing.T, bootstrap string) {
		topic := newTopic(t, bootstrap, 5)
		var recs []*kgo.Record
		var all []string
		for i := range 200 {
			v := fmt.Sprintf("r%03d", i)
			recs = append(recs, rec(int32(i%5), v))
			all = append(all, v)
		}
		produce(t, bootstrap, topic, recs...)
		cfg := SourceConfig{ClientConfig: ClientConfig{BootstrapServers: kafkatest.Seeds(bootstrap)}, Topics: []string{topic}, Bounded: true}

		var union [][]byte
		var got []string
		for i := range 3 {
			src := openSource(t, cfg, opCtx(t, "in", i, 3), nil)
			out := newCollector(5)
			pollUntil(t, src, out, 10*time.Second, func(st api.SourceStatus) bool { return out.Batch.Len() >= 15 || st == api.EndOfInput })
			snap, err := src.SnapshotState(7)
			if err != nil {
				t.Fatal(err)
			}
			union = append(union, snap...)
			got = append(got, conntest.Values(out.Batch)...)
			src.Close()
		}
		if len(union) != 5 {
			t.Fatalf("%d entries for 5 partitions", len(union))
		}
		for i := range 2 {
			src := openSource(t, cfg, opCtx(t, "in", i, 2), union)
			out := newCollector(13)
			pollUntil(t, src, out, 10*time.Second, untilEnd)
			got = append(got, conntest.Values(out.Batch)...)
		}
		slices.Sort(got)
		if !slices.Equal(got, all) {
			t.Fatalf("read %d records, want each of %d once", len(got), len(all))
		}
	})
}

// Bad records follow the on-error policy, named by topic/partition/offset.
func TestSourceMalformedRecords(t *testing.T) {
	forEachCluster(t, func(t *testing.T, bootstrap string) {
		topic := newTopic(t, bootstrap, 1)
		produce(t, bootstrap, topic,
			rec(0, `{"ok":1}`),
			&kgo.Record{Key: []byte("k"), Value: []byte(`{"broken":`), Headers: []kgo.RecordHeader{{Key: "trace", Value: []byte("t1")}}},
			rec(0, `{"ok":2}`))
		base := SourceConfig{ClientConfig: ClientConfig{BootstrapServers: kafkatest.Seeds(bootstrap)},
			Topics: []string{topic}, Bounded: true, Format: FormatJSON}

		t.Run("fail", func(t *testing.T) {
			src := openSource(t, base, opCtx(t, "orders", 0, 1), nil)
			out := newCollector(100)
			var err error
			for deadline := time.Now().Add(10 * time.Second); err == nil && time.Now().Before(deadline); {
				_, err = src.Poll(out)
				time.Sleep(5 * time.Millisecond)
			}
			var re *onerror.RecordError
			if !errors.As(err, &re) || !errors.Is(err, onerror.ErrMalformed) {
				t.Fatalf("err = %v, want a RecordError wrapping ErrMalformed", err)
			}
			if want := topic + "/0/1"; re.Position != want || !strings.Contains(err.Error(), want) {
				t.Fatalf("error %q does not name %s", err, want)
			}
		})
		t.Run("skip", func(t *testing.T) {
			cfg := base
			cfg.OnError = onerror.Policy{Action: onerror.Skip}
			ctx := opCtx(t, "orders", 0, 1)
			src := openSource(t, cfg, ctx, nil)
			out := newCollector(100)
			pollUntil(t, src, out, 10*time.Second, untilEnd)
			if got := conntest.Values(out.Batch); !slices.Equal(got, []string{`{"ok":1}`, `{"ok":2}`}) {
				t.Fatalf("records %q", got)
			}
			if n := ctx.CounterValue(onerror.SkippedCounter); n != 1 {
				t.Fatalf("%s = %d, want 1", onerror.SkippedCounter, n)
			}
		})
		t.Run("dead-letter topic", func(t *testing.T) {
			dead := newTopic(t, bootstrap, 1)
			cfg := base
			cfg.OnError = onerror.Policy{Action: onerror.DeadLetter}
			cfg.DeadLetterTopic = dead
			ctx := opCtx(t, "orders", 0, 1)
			src := openSource(t, cfg, ctx, nil)
			out := newCollector(100)
			pollUntil(t, src, out, 10*time.Second, untilEnd)
			if _, err := src.SnapshotState(1); err != nil { // flushes dead letters
				t.Fatal(err)
			}
			if out.Batch.Len() != 2 || ctx.CounterValue(onerror.DeadLetteredCounter) != 1 {
				t.Fatalf("%d records, %d dead letters", out.Batch.Len(), ctx.CounterValue(onerror.DeadLetteredCounter))
			}
			letters := kafkatest.ConsumeCommitted(t, bootstrap, dead)
			if len(letters) != 1 {
				t.Fatalf("%d dead letters in %s", len(letters), dead)
			}
			l := letters[0]
			hdr := map[string]string{}
			for _, h := range l.Headers {
				hdr[h.Key] = string(h.Value)
			}
			if string(l.Value) != `{"broken":` || string(l.Key) != "k" || hdr["trace"] != "t1" ||
				!strings.Contains(hdr[HeaderErrorReason], "not valid JSON") || hdr[HeaderErrorSource] != "orders" ||
				hdr[HeaderErrorTopic] != topic || hdr[HeaderErrorPartition] != "0" || hdr[HeaderErrorOffset] != "1" {
				t.Fatalf("dead letter key %q value %q headers %v", l.Key, l.Value, hdr)
			}
		})
	})
}

// Event time from a JSON field or a header; a record without one follows
// the on-error policy.
func TestSourceTimestampFromFieldAndHeader(t *testing.T) {
	bootstrap := kafkatest.Fake(t)
	topic := newTopic(t, bootstrap, 1)
	produce(t, bootstrap, topic,
		&kgo.Record{Value: []byte(`{"ts":"2024-05-01T00:00:01Z"}`), Headers: []kgo.RecordHeader{{Key: "ts", Value: []byte("1700")}}},
		&kgo.Record{Value: []byte(`{"no":1}`)})
	tests := []struct {
		cfg  func(*SourceConfig)
		want int64
	}{
		{func(c *SourceConfig) {
			c.Timestamp, c.TimestampFieldPath, c.TimestampFormat = TimestampField, "ts", "rfc3339"
		}, 1714521601000},
		{func(c *SourceConfig) { c.Timestamp, c.TimestampHeaderName = TimestampHeader, "ts" }, 1700},
	}
	for _, tt := range tests {
		cfg := SourceConfig{ClientConfig: ClientConfig{BootstrapServers: kafkatest.Seeds(bootstrap)},
			Topics: []string{topic}, Bounded: true, OnError: onerror.Policy{Action: onerror.Skip}}
		tt.cfg(&cfg)
		ctx := opCtx(t, "in", 0, 1)
		src := openSource(t, cfg, ctx, nil)
		out := newCollector(10)
		pollUntil(t, src, out, 10*time.Second, untilEnd)
		if out.Batch.Len() != 1 || out.Batch.Records[0].Timestamp != tt.want || ctx.CounterValue(onerror.SkippedCounter) != 1 {
			t.Errorf("%s: %d records (%+v), %d skipped; want one at %d", cfg.Timestamp, out.Batch.Len(), out.Batch.Records, ctx.CounterValue(onerror.SkippedCounter), tt.want)
		}
	}
}

// Start offsets: latest, timestamp, explicit, committed.
func TestSourceStartOffsets(t *testing.T) {
	bootstrap := kafkatest.Fake(t)
	topic := newTopic(t, bootstrap, 1)
	produce(t, bootstrap, topic, recAt(0, "a", 1000), recAt(0, "b", 2000), recAt(0, "c", 3000))
	group := kafkatest.UniqueName("group")
	adm := kadmClient(kafkatest.Client(t, bootstrap))
	offs := make(map[string]map[int32]int64)
	offs[topic] = map[int32]int64{0: 2}
	if _, err := adm.CommitOffsets(testCtx(t), group, kadmOffsets(offs)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  func(*SourceConfig)
		want []string
	}{
		{"earliest", func(*SourceConfig) {}, []string{"a", "b", "c"}},
		{"latest", func(c *SourceConfig) { c.StartFrom = StartLatest }, nil},
		{"timestamp", func(c *SourceConfig) { c.StartFrom, c.StartTimestamp = StartTimestamp, time.UnixMilli(1500) }, []string{"b", "c"}},
		{"offsets", func(c *SourceConfig) {
			c.StartFrom, c.StartOffsets = StartOffsets, map[TopicPartition]int64{{topic, 0}: 1}
		}, []string{"b", "c"}},
		{"committed", func(c *SourceConfig) { c.StartFrom, c.GroupID = StartCommitted, group }, []string{"c"}},
		{"committed fallback", func(c *SourceConfig) {
			c.StartFrom, c.GroupID, c.CommittedFallback = StartCommitted, group+"-none", StartLatest
		}, nil},
		{"stop offsets", func(c *SourceConfig) { c.StopOffsets = map[TopicPartition]int64{{topic, 0}: 2} }, []string{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := SourceConfig{ClientConfig: ClientConfig{BootstrapServers: kafkatest.Seeds(bootstrap)}, Topics: []string{topic}, Bounded: true}
			tt.cfg(&cfg)
			src := openSource(t, cfg, opCtx(t, "in", 0, 1), nil)
			out := newCollector(10)
			pollUntil(t, src, out, 10*time.Second, untilEnd)
			if got := conntest.Values(out.Batch); !slices.Equal(got, tt.want) && (len(got) != 0 || len(tt.want) != 0) {
				t.Fatalf("read %q, want %q", got, tt.want)
			}
		})
	}
}

// A pattern picks topics, and an unbounded source discovers partitions and
// topics that appear later; offsets go back to the group on completed
// checkpoints.
func TestSourcePatternDiscoveryAndGroupCommit(t *testing.T) {
	bootstrap := kafkatest.Fake(t)
	prefix := kafkatest.UniqueName("disc")
	t1 := prefix + "-a"
	if err := kafkatest.CreateTopic(testCtx(t), bootstrap, t1, 1); err != nil {
		t.Fatal(err)
	}
	produce(t, bootstrap, t1, rec(0, "one"))
	group := kafkatest.UniqueName("group")
	cfg := SourceConfig{ClientConfig: ClientConfig{BootstrapServers: kafkatest.Seeds(bootstrap)},
		TopicPattern: prefix + `-.*`, GroupID: group, DiscoveryInterval: 100 * time.Millisecond}
	src := openSource(t, cfg, opCtx(t, "in", 0, 1), nil)
	out := newCollector(10)
	pollUntil(t, src, out, 10*time.Second, atLeast(out, 1))

	t2 := prefix + "-b"
	if err := kafkatest.CreateTopic(testCtx(t), bootstrap, t2, 2); err != nil {
		t.Fatal(err)
	}
	produce(t, bootstrap, t2, rec(0, "two"), rec(1, "three"))
	pollUntil(t, src, out, 10*time.Second, atLeast(out, 3))
	if got := sortedValues(out.Batch); !slices.Equal(got, []string{"one", "three", "two"}) {
		t.Fatalf("read %q", got)
	}
	if lag := src.Lag(); len(lag) != 3 {
		t.Fatalf("lag of %d partitions: %v", len(lag), lag)
	}
	if _, err := src.SnapshotState(1); err != nil {
		t.Fatal(err)
	}
	if err := src.NotifyCheckpointComplete(1); err != nil {
		t.Fatal(err)
	}
	adm := kadmClient(kafkatest.Client(t, bootstrap))
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := adm.FetchOffsets(testCtx(t), group)
		o1, ok1 := resp.Lookup(t1, 0)
		o2, ok2 := resp.Lookup(t2, 1)
		if err == nil && ok1 && ok2 && o1.At == 1 && o2.At == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("group offsets %v, %v", resp, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSourceLagPerPartition(t *testing.T) {
	bootstrap := kafkatest.Fake(t)
	topic := newTopic(t, bootstrap, 2)
	var recs []*kgo.Record
	for i := range 50 {
		recs = append(recs, rec(0, fmt.Sprint(i)))
	}
	produce(t, bootstrap, topic, recs...)
	src := openSource(t, SourceConfig{ClientConfig: ClientConfig{BootstrapServers: kafkatest.Seeds(bootstrap)}, Topics: []string{topic}}, opCtx(t, "in", 0, 1), nil)
	out := newCollector(10)
	pollUntil(t, src, out, 10*time.Second, atLeast(out, 10))
	lag := src.Lag()
	if len(lag) != 2 || lag[0].Partition != 0 || lag[0].Lag != 40 || lag[1].Lag != 0 {
		t.Fatalf("lag %v after reading 10 of 50 records of partition 0", lagString(lag))
	}
}

func lagString(ls []PartitionLag) string {
	var b strings.Builder
	for _, l := range ls {
		fmt.Fprintf(&b, "%s:%d ", l.TopicPartition, l.Lag)
	}
	return b.String()
}
