package kafka

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/internal/kafkatest"
	"github.com/freshet/freshet/engine/onerror"
)

func sinkConfig(bootstrap, topic, delivery string) SinkConfig {
	c := SinkConfig{ClientConfig: ClientConfig{BootstrapServers: kafkatest.Seeds(bootstrap)}, Topic: topic, Delivery: delivery}
	if delivery == DeliveryExactlyOnce {
		c.TransactionalIDPrefix = kafkatest.UniqueName("sink")
	}
	return c
}

func openSink(t testing.TB, cfg SinkConfig, ctx api.Context, restore [][]byte) *Sink {
	t.Helper()
	newSink, err := NewSink(cfg)
	if err != nil {
		t.Fatal(err)
	}
	op, _ := newSink()
	s := op.(*Sink)
	if restore != nil {
		if err := s.RestoreState(restore); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Open(ctx); err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// crash drops a sink the way a dying process does: its clients go away
// without ending or aborting any transaction.
func crash(s *Sink) { s.shutdown(false) }

// batch makes records "<prefix>-<i>" keyed "k<i mod 7>", i in [from, to).
func batch(prefix string, from, to int) *api.Batch {
	b := api.NewBatch(to - from)
	for i := from; i < to; i++ {
		b.Append([]byte(fmt.Sprintf("k%d", i%7)), []byte(fmt.Sprintf("%s-%03d", prefix, i)), api.NoTimestamp)
	}
	return b
}

func values(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s-%03d", prefix, i))
	}
	return out
}

// committed returns the sorted values read_committed consumers see.
func committed(t testing.TB, bootstrap, topic string) []string {
	t.Helper()
	var out []string
	for _, r := range kafkatest.ConsumeCommitted(t, bootstrap, topic) {
		out = append(out, string(r.Value))
	}
	slices.Sort(out)
	return out
}

// eventually waits until read_committed consumers see exactly want. A
// commit is acknowledged before the broker writes its markers, so records
// become visible a moment after EndTxn returns.
func eventually(t testing.TB, what, bootstrap, topic string, want []string) {
	t.Helper()
	want = slices.Clone(want)
	slices.Sort(want)
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := committed(t, bootstrap, topic)
		if slices.Equal(got, want) || time.Now().After(deadline) {
			mustEqual(t, what, got, want)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mustEqual(t testing.TB, what string, got, want []string) {
	t.Helper()
	want = slices.Clone(want)
	slices.Sort(want)
	if slices.Equal(got, want) {
		return
	}
	// Summarize: lists of thousands of records help nobody.
	count := map[string]int{}
	for _, v := range got {
		count[v]++
	}
	var missing, dups, extra []string
	for _, v := range want {
		switch count[v] {
		case 0:
			missing = append(missing, v)
		case 1:
		default:
			dups = append(dups, v)
		}
		delete(count, v)
	}
	for v := range count {
		extra = append(extra, v)
	}
	slices.Sort(extra)
	head := func(s []string) []string { return s[:min(len(s), 10)] }
	t.Fatalf("%s: %d records, want %d: %d missing %q..., %d duplicated %q..., %d unexpected %q...",
		what, len(got), len(want), len(missing), head(missing), len(dups), head(dups), len(extra), head(extra))
}

func TestSinkNoneAndAtLeastOnce(t *testing.T) {
	forEachCluster(t, func(t *testing.T, bootstrap string) {
		for _, delivery := range []string{DeliveryNone, DeliveryAtLeastOnce} {
			t.Run(delivery, func(t *testing.T) {
				topic := newTopic(t, bootstrap, 3)
				ctx := opCtx(t, "out", 0, 1)
				s := openSink(t, sinkConfig(bootstrap, topic, delivery), ctx, nil)
				for i := range 3 {
					if err := s.ProcessBatch(batch("v", i*100, i*100+100), nil); err != nil {
						t.Fatal(err)
					}
					if _, err := s.SnapshotState(int64(i + 1)); err != nil {
						t.Fatal(err)
					}
					if delivery == DeliveryAtLeastOnce {
						// The checkpoint waited for every record before it.
						eventually(t, "after checkpoint", bootstrap, topic, values("v", 0, i*100+100))
					}
				}
				if err := s.Finish(nil); err != nil {
					t.Fatal(err)
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				recs := kafkatest.ConsumeCommitted(t, bootstrap, topic)
				var got []string
				for _, r := range recs {
					got = append(got, string(r.Value))
					if want := KeyPartition(r.Key, 3); int(r.Partition) != want {
						t.Fatalf("key %s in partition %d, murmur2 says %d", r.Key, r.Partition, want)
					}
				}
				slices.Sort(got)
				mustEqual(t, "after finish", got, values("v", 0, 300))
				if n := ctx.CounterValue(RecordsOutCounter); n != 300 {
					t.Errorf("%s = %d", RecordsOutCounter, n)
				}
			})
		}
	})
}

// Exactly-once, driven like the runtime: SnapshotState(n) prepares the
// open transaction, NotifyCheckpointComplete(n) commits it; a crash after
// SnapshotState(n) leaves it to the restored subtask, which commits it once
// and aborts what followed the checkpoint.
func TestSinkExactlyOnce(t *testing.T) {
	forEachCluster(t, func(t *testing.T, bootstrap string) {
		topic := newTopic(t, bootstrap, 2)
		cfg := sinkConfig(bootstrap, topic, DeliveryExactlyOnce)
		s := openSink(t, cfg, opCtx(t, "out", 0, 1), nil)

		if err := s.ProcessBatch(batch("a", 0, 50), nil); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SnapshotState(1); err != nil {
			t.Fatal(err)
		}
		eventually(t, "prepared, not committed", bootstrap, topic, nil)
		if err := s.NotifyCheckpointComplete(1); err != nil {
			t.Fatal(err)
		}
		eventually(t, "checkpoint 1 complete", bootstrap, topic, values("a", 0, 50))

		// Checkpoint 2 is taken, but the task dies before hearing it
		// completed; records after the barrier are in an open transaction.
		if err := s.ProcessBatch(batch("a", 50, 80), nil); err != nil {
			t.Fatal(err)
		}
		snap2, err := s.SnapshotState(2)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.ProcessBatch(batch("a", 80, 100), nil); err != nil {
			t.Fatal(err)
		}
		if err := s.flush(s.cur.cl, "test"); err != nil { // make the doomed records reach the broker
			t.Fatal(err)
		}
		crash(s)

		// The runtime restores checkpoint 2: the sink commits its
		// transaction and fences the one that followed.
		r := openSink(t, cfg, opCtx(t, "out", 0, 1), snap2)
		eventually(t, "restored", bootstrap, topic, values("a", 0, 80))
		// The source replays what followed checkpoint 2.
		if err := r.ProcessBatch(batch("a", 80, 100), nil); err != nil {
			t.Fatal(err)
		}
		if _, err := r.SnapshotState(3); err != nil {
			t.Fatal(err)
		}
		if err := r.NotifyCheckpointComplete(3); err != nil {
			t.Fatal(err)
		}
		// Had the doomed transaction stayed open, the last stable offset
		// would hide checkpoint 3's records.
		eventually(t, "after replay", bootstrap, topic, values("a", 0, 100))
	})
}

// Restoring the same checkpoint twice (the first restored run died too)
// commits its transaction once.
func TestSinkRecommitIsIdempotent(t *testing.T) {
	forEachCluster(t, func(t *testing.T, bootstrap string) {
		topic := newTopic(t, bootstrap, 1)
		cfg := sinkConfig(bootstrap, topic, DeliveryExactlyOnce)
		s := openSink(t, cfg, opCtx(t, "out", 0, 1), nil)
		if err := s.ProcessBatch(batch("b", 0, 10), nil); err != nil {
			t.Fatal(err)
		}
		snap, err := s.SnapshotState(5)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.NotifyCheckpointComplete(5); err != nil { // committed, then the task dies
			t.Fatal(err)
		}
		crash(s)
		for run := range 2 {
			r := openSink(t, cfg, opCtx(t, "out", 0, 1), snap)
			// Each run writes a transaction after the checkpoint and dies.
			if err := r.ProcessBatch(batch(fmt.Sprintf("doomed%d", run), 0, 5), nil); err != nil {
				t.Fatal(err)
			}
			if err := r.flush(r.cur.cl, "test"); err != nil {
				t.Fatal(err)
			}
			crash(r)
		}
		r := openSink(t, cfg, opCtx(t, "out", 0, 1), snap)
		if err := r.Finish(nil); err != nil {
			t.Fatal(err)
		}
		eventually(t, "after three restores", bootstrap, topic, values("b", 0, 10))
	})
}

// Union state: two subtasks' prepared transactions are committed by the
// one subtask of the rescaled job, and their ids fenced.
func TestSinkRescale(t *testing.T) {
	forEachCluster(t, func(t *testing.T, bootstrap string) {
		topic := newTopic(t, bootstrap, 2)
		cfg := sinkConfig(bootstrap, topic, DeliveryExactlyOnce)
		var union [][]byte
		var want []string
		for i := range 2 {
			s := openSink(t, cfg, opCtx(t, "out", i, 2), nil)
			p := fmt.Sprintf("s%d", i)
			if err := s.ProcessBatch(batch(p, 0, 20), nil); err != nil {
				t.Fatal(err)
			}
			snap, err := s.SnapshotState(9)
			if err != nil {
				t.Fatal(err)
			}
			union = append(union, snap...)
			want = append(want, values(p, 0, 20)...)
			// An open transaction after the checkpoint, left behind.
			if err := s.ProcessBatch(batch(p+"-doomed", 0, 3), nil); err != nil {
				t.Fatal(err)
			}
			if err := s.flush(s.cur.cl, "test"); err != nil {
				t.Fatal(err)
			}
			crash(s)
		}
		r := openSink(t, cfg, opCtx(t, "out", 0, 1), union)
		eventually(t, "restored at parallelism 1", bootstrap, topic, want)
		if err := r.ProcessBatch(batch("after", 0, 5), nil); err != nil {
			t.Fatal(err)
		}
		if err := r.Finish(nil); err != nil {
			t.Fatal(err)
		}
		eventually(t, "after", bootstrap, topic, append(want, values("after", 0, 5)...))
	})
}

// A notification for a later checkpoint commits the earlier ones too; an
// aborted checkpoint's transaction waits for the next completed one.
func TestSinkLateAndAbortedNotifications(t *testing.T) {
	bootstrap := kafkatest.Fake(t)
	topic := newTopic(t, bootstrap, 1)
	cfg := sinkConfig(bootstrap, topic, DeliveryExactlyOnce)
	cfg.TransactionPoolSize = 3
	s := openSink(t, cfg, opCtx(t, "out", 0, 1), nil)
	for i := range 2 {
		if err := s.ProcessBatch(batch("c", i*10, i*10+10), nil); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SnapshotState(int64(i + 1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.NotifyCheckpointAborted(1); err != nil {
		t.Fatal(err)
	}
	eventually(t, "checkpoint 1 aborted", bootstrap, topic, nil)
	// Two transactions wait and one is open: the pool of three is full.
	if err := s.ProcessBatch(batch("c", 20, 30), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SnapshotState(3); err != nil {
		t.Fatal(err)
	}
	err := s.ProcessBatch(batch("c", 30, 31), nil)
	if !errors.Is(err, ErrPoolExhausted) || !strings.Contains(err.Error(), "[1 2 3]") {
		t.Fatalf("err = %v, want ErrPoolExhausted naming checkpoints [1 2 3]", err)
	}
	if err := s.NotifyCheckpointComplete(2); err != nil {
		t.Fatal(err)
	}
	eventually(t, "checkpoint 2 complete", bootstrap, topic, values("c", 0, 20))
	if err := s.ProcessBatch(batch("c", 30, 40), nil); err != nil {
		t.Fatalf("a freed id is reused: %v", err)
	}
	if err := s.Finish(nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "finished", bootstrap, topic, values("c", 0, 40))
}

// Closing without Finish (a failed task) aborts the open transaction at
// once rather than leaving it to time out.
func TestSinkCloseAbortsOpenTransaction(t *testing.T) {
	bootstrap := kafkatest.Fake(t)
	topic := newTopic(t, bootstrap, 1)
	s := openSink(t, sinkConfig(bootstrap, topic, DeliveryExactlyOnce), opCtx(t, "out", 0, 1), nil)
	if err := s.ProcessBatch(batch("d", 0, 5), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.flush(s.cur.cl, "test"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	produce(t, bootstrap, topic, rec(0, "plain"))
	eventually(t, "after close", bootstrap, topic, []string{"plain"})
}

func TestSinkRecordShape(t *testing.T) {
	bootstrap := kafkatest.Fake(t)
	topic := newTopic(t, bootstrap, 4)
	cfg := sinkConfig(bootstrap, topic, DeliveryAtLeastOnce)
	cfg.Format, cfg.KeyFormat, cfg.Partitioner = FormatInt64, FormatString, PartitionFixed
	s := openSink(t, cfg, opCtx(t, "out", 6, 8), nil)
	b := api.NewBatch(2)
	b.Emit(&api.Record{Key: []byte("k"), Value: []byte("-7"), Timestamp: 1234,
		Headers: []api.Header{{Key: []byte("h"), Value: []byte("v")}}})
	b.Append(nil, []byte("9"), api.NoTimestamp)
	if err := s.ProcessBatch(b, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Finish(nil); err != nil {
		t.Fatal(err)
	}
	recs := kafkatest.ConsumeCommitted(t, bootstrap, topic)
	if len(recs) != 2 {
		t.Fatalf("%d records", len(recs))
	}
	r := recs[0]
	if string(r.Key) != "k" || string(r.Value) != string(be64(-7)) || r.Timestamp.UnixMilli() != 1234 || r.Partition != 2 ||
		len(r.Headers) != 1 || r.Headers[0].Key != "h" || string(r.Headers[0].Value) != "v" {
		t.Errorf("first record %+v", r)
	}
	if r := recs[1]; r.Key != nil || string(r.Value) != string(be64(9)) || r.Partition != 2 {
		t.Errorf("second record: key %v value %x partition %d", r.Key, r.Value, r.Partition)
	}

	// A record the serializer refuses fails the task, naming it.
	bad := api.NewBatch(1)
	bad.Append(nil, []byte("nine"), api.NoTimestamp)
	err := s.ProcessBatch(bad, nil)
	if !errors.Is(err, onerror.ErrMalformed) || !strings.Contains(err.Error(), "record 0 of 1: value") {
		t.Fatalf("err = %v", err)
	}
}

func TestSinkMissingTopic(t *testing.T) {
	bootstrap := kafkatest.Fake(t)
	cfg := sinkConfig(bootstrap, "no-such-topic", DeliveryAtLeastOnce)
	cfg.ConnectTimeout = 500 * time.Millisecond // how long a missing topic is waited for
	newSink, err := NewSink(cfg)
	if err != nil {
		t.Fatal(err)
	}
	op, _ := newSink()
	err = op.Open(opCtx(t, "out", 0, 1))
	if !errors.Is(err, ErrTopicNotFound) || !strings.Contains(err.Error(), "no-such-topic") {
		t.Fatalf("err = %v", err)
	}
}

// Records to a broker that goes away are retried until it is back; past
// the delivery timeout the sink fails the task.
func TestSinkBrokerUnavailableMidRun(t *testing.T) {
	forEachCluster(t, func(t *testing.T, bootstrap string) {
		for _, tt := range []struct {
			name     string
			outage   time.Duration
			deadline time.Duration
			fail     bool
		}{
			{"recovers", 700 * time.Millisecond, time.Minute, false},
			{"times out", 3 * time.Second, time.Second, true},
		} {
			t.Run(tt.name, func(t *testing.T) {
				topic := newTopic(t, bootstrap, 1)
				net := &flakyNet{}
				cfg := sinkConfig(bootstrap, topic, DeliveryAtLeastOnce)
				cfg.Dialer, cfg.DeliveryTimeout = net.dial, tt.deadline
				s := openSink(t, cfg, opCtx(t, "out", 0, 1), nil)
				if err := s.ProcessBatch(batch("e", 0, 10), nil); err != nil {
					t.Fatal(err)
				}
				if _, err := s.SnapshotState(1); err != nil {
					t.Fatal(err)
				}
				net.cut()
				time.AfterFunc(tt.outage, net.heal)
				err := s.ProcessBatch(batch("e", 10, 20), nil)
				if err == nil {
					_, err = s.SnapshotState(2)
				}
				if tt.fail {
					if err == nil {
						t.Fatal("no error after the delivery timeout")
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				eventually(t, "after the outage", bootstrap, topic, values("e", 0, 20))
			})
		}
	})
}

func TestBrokerUnavailableAtStart(t *testing.T) {
	client := ClientConfig{BootstrapServers: []string{"127.0.0.1:1"}, ConnectTimeout: 700 * time.Millisecond}
	newSrc, err := NewSource(SourceConfig{ClientConfig: client, Topics: []string{"t"}})
	if err != nil {
		t.Fatal(err)
	}
	src, _ := newSrc()
	newSink, err := NewSink(SinkConfig{ClientConfig: client, Topic: "t"})
	if err != nil {
		t.Fatal(err)
	}
	sink, _ := newSink()
	for name, open := range map[string]func(api.Context) error{"source": src.Open, "sink": sink.Open} {
		start := time.Now()
		err := open(opCtx(t, "x", 0, 1))
		took := time.Since(start)
		if !errors.Is(err, ErrBrokerUnavailable) || !strings.Contains(err.Error(), "127.0.0.1:1") {
			t.Errorf("%s: err = %v, want ErrBrokerUnavailable naming 127.0.0.1:1", name, err)
		}
		if !strings.Contains(err.Error(), "attempts") {
			t.Errorf("%s: err = %v does not say it retried", name, err)
		}
		if took < 500*time.Millisecond || took > 5*time.Second {
			t.Errorf("%s: gave up after %s with a 700ms connect timeout", name, took)
		}
	}
}

// A source whose broker goes away mid-run waits, then reads on.
func TestSourceBrokerUnavailableMidRun(t *testing.T) {
	forEachCluster(t, func(t *testing.T, bootstrap string) {
		topic := newTopic(t, bootstrap, 2)
		produce(t, bootstrap, topic, rec(0, "a"), rec(1, "b"))
		net := &flakyNet{}
		cfg := SourceConfig{ClientConfig: ClientConfig{BootstrapServers: kafkatest.Seeds(bootstrap), Dialer: net.dial}, Topics: []string{topic}}
		src := openSource(t, cfg, opCtx(t, "in", 0, 1), nil)
		out := newCollector(10)
		pollUntil(t, src, out, 10*time.Second, atLeast(out, 2))
		net.cut()
		produce(t, bootstrap, topic, rec(0, "c"), rec(1, "d"))
		for deadline := time.Now().Add(500 * time.Millisecond); time.Now().Before(deadline); {
			if st, err := src.Poll(out); err != nil || st == api.EndOfInput {
				t.Fatalf("Poll during the outage = %v, %v", st, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		net.heal()
		pollUntil(t, src, out, 30*time.Second, atLeast(out, 4))
		if got := sortedValues(out.Batch); !slices.Equal(got, []string{"a", "b", "c", "d"}) {
			t.Fatalf("read %q", got)
		}
	})
}

// A transaction timeout above the broker's maximum fails Open with a
// message that says so.
func TestSinkTransactionTimeoutTooLong(t *testing.T) {
	bootstrap := kafkatest.Fake(t)
	topic := newTopic(t, bootstrap, 1)
	cfg := sinkConfig(bootstrap, topic, DeliveryExactlyOnce)
	cfg.TransactionTimeout = 20 * time.Hour
	newSink, err := NewSink(cfg)
	if err != nil {
		t.Fatal(err)
	}
	op, _ := newSink()
	err = op.Open(opCtx(t, "out", 0, 1))
	if err == nil || !strings.Contains(err.Error(), "transaction.max.timeout.ms") {
		t.Fatalf("err = %v", err)
	}
}

func TestSourceMissingTopic(t *testing.T) {
	bootstrap := kafkatest.Fake(t)
	newSrc, err := NewSource(SourceConfig{ClientConfig: ClientConfig{BootstrapServers: kafkatest.Seeds(bootstrap), ConnectTimeout: 500 * time.Millisecond},
		Topics: []string{"no-such-topic"}})
	if err != nil {
		t.Fatal(err)
	}
	src, _ := newSrc()
	err = src.Open(opCtx(t, "in", 0, 1))
	if !errors.Is(err, ErrTopicNotFound) || !strings.Contains(err.Error(), "no-such-topic") {
		t.Fatalf("err = %v", err)
	}
}
