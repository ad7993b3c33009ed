package kafka

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/connectors/conntest"
	"github.com/freshet/freshet/engine/internal/kafkatest"
)

// clusters are the clusters behavioural tests run against: the in-process
// fake always, the real broker when FRESHET_KAFKA names one.
var clusters = []struct {
	name  string
	start func(testing.TB) string
}{
	{"fake", func(t testing.TB) string { return kafkatest.Fake(t) }},
	{"broker", kafkatest.Broker},
}

func forEachCluster(t *testing.T, fn func(t *testing.T, bootstrap string)) {
	t.Helper()
	for _, c := range clusters {
		t.Run(c.name, func(t *testing.T) { fn(t, c.start(t)) })
	}
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// opCtx is the api.Context of subtask i of p of an operator named name.
func opCtx(t testing.TB, name string, i, p int) *conntest.Context {
	c := conntest.NewContext(name, i, p)
	c.Ctx = testCtx(t)
	return c
}

// produce writes recs synchronously; a record's Partition is honoured.
func produce(t testing.TB, bootstrap, topic string, recs ...*kgo.Record) {
	t.Helper()
	cl := kafkatest.Client(t, bootstrap, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := cl.ProduceSync(testCtx(t), recs...).FirstErr(); err != nil {
		t.Fatalf("producing %d records to %s: %v", len(recs), topic, err)
	}
}

// produceTxn writes recs in one transaction, committed or aborted.
func produceTxn(t testing.TB, bootstrap, topic string, commit bool, recs ...*kgo.Record) {
	t.Helper()
	cl := kafkatest.Client(t, bootstrap, kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionalID(kafkatest.UniqueName("txn")))
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(testCtx(t), recs...).FirstErr(); err != nil {
		t.Fatalf("producing in a transaction: %v", err)
	}
	if err := cl.EndTransaction(testCtx(t), kgo.TransactionEndTry(commit)); err != nil {
		t.Fatalf("ending the transaction: %v", err)
	}
}

func rec(partition int32, value string) *kgo.Record {
	return &kgo.Record{Partition: partition, Value: []byte(value)}
}

func recAt(partition int32, value string, ts int64) *kgo.Record {
	return &kgo.Record{Partition: partition, Value: []byte(value), Timestamp: time.UnixMilli(ts)}
}

// collector is a SourceContext that also records idleness.
type collector struct {
	*conntest.SourceContext
	idle int
}

func newCollector(budget int) *collector {
	return &collector{SourceContext: conntest.NewSourceContext(budget)}
}

func (c *collector) MarkIdle() { c.idle++ }

var _ api.IdleMarker = (*collector)(nil)

// pollUntil polls src until done() holds, waiting on the source's Wake
// channel between empty polls. It returns the last status.
func pollUntil(t testing.TB, src *Source, out *collector, timeout time.Duration, done func(api.SourceStatus) bool) api.SourceStatus {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st, err := src.Poll(out)
		if err != nil {
			t.Fatalf("Poll: %v", err)
		}
		if done(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("source did not get there within %s; %d records so far", timeout, out.Batch.Len())
		}
		if st == api.NothingAvailable {
			select {
			case <-src.Wake():
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
}

// untilEnd polls to EndOfInput.
func untilEnd(st api.SourceStatus) bool { return st == api.EndOfInput }

// atLeast returns a condition: out holds at least n records.
func atLeast(out *collector, n int) func(api.SourceStatus) bool {
	return func(api.SourceStatus) bool { return out.Batch.Len() >= n }
}

// openSource makes and opens a source subtask.
func openSource(t testing.TB, cfg SourceConfig, ctx api.Context, restore [][]byte) *Source {
	t.Helper()
	newSrc, err := NewSource(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := newSrc()
	src := s.(*Source)
	if restore != nil {
		if err := src.RestoreState(restore); err != nil {
			t.Fatal(err)
		}
	}
	if err := src.Open(ctx); err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

func sortedValues(b *api.Batch) []string {
	v := conntest.Values(b)
	slices.Sort(v)
	return v
}

// flakyNet is a dialer whose network can be cut: open connections close
// and new dials fail until it heals. It simulates a broker that goes away
// mid-run without touching the broker (which other tests share).
type flakyNet struct {
	mu    sync.Mutex
	down  bool
	conns []net.Conn
}

var errNetDown = errors.New("flaky network: down")

func (f *flakyNet) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, errNetDown
	}
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err == nil {
		f.conns = append(f.conns, c)
	}
	return c, err
}

func (f *flakyNet) cut() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = true
	for _, c := range f.conns {
		c.Close()
	}
	f.conns = nil
}

func (f *flakyNet) heal() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = false
}

func kadmOffsets(m map[string]map[int32]int64) kadm.Offsets {
	o := kadm.Offsets{}
	for t, ps := range m {
		for p, at := range ps {
			o.Add(kadm.Offset{Topic: t, Partition: p, At: at, LeaderEpoch: -1})
		}
	}
	return o
}

// newTopic is kafkatest.Topic, then waits until the broker lists the
// topic's offsets: a loaded broker answers "unknown topic" for a moment
// after creating one.
func newTopic(t testing.TB, bootstrap string, partitions int32) string {
	t.Helper()
	topic := kafkatest.Topic(t, bootstrap, partitions)
	adm := kadm.NewClient(kafkatest.Client(t, bootstrap))
	deadline := time.Now().Add(10 * time.Second)
	for {
		listed, err := adm.ListStartOffsets(testCtx(t), topic)
		if err == nil {
			err = listed.Error()
		}
		if err == nil && len(listed[topic]) == int(partitions) {
			return topic
		}
		if time.Now().After(deadline) {
			t.Fatalf("topic %s not listed 10s after its creation: %v", topic, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
