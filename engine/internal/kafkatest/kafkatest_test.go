package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// clusters lists the two clusters every behavioural test runs against: the
// in-process fake always, the real broker when make test provides one.
var clusters = []struct {
	name  string
	start func(testing.TB) string
}{
	{"fake", func(t testing.TB) string { return Fake(t) }},
	{"broker", Broker},
}

func forEachCluster(t *testing.T, fn func(t *testing.T, bootstrap string)) {
	for _, c := range clusters {
		t.Run(c.name, func(t *testing.T) {
			fn(t, c.start(t))
		})
	}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestRoundTrip(t *testing.T) {
	forEachCluster(t, func(t *testing.T, bootstrap string) {
		rep, err := RoundTrip(ctxFor(t), bootstrap)
		if err != nil {
			t.Fatalf("RoundTrip: %v", err)
		}
		if rep.Brokers < 1 || rep.Committed != 10 || rep.Aborted != 5 {
			t.Errorf("report = %+v, want >= 1 broker, 10 committed, 5 aborted", rep)
		}
	})
}

// producer returns a transactional producer (or a plain one when txnID is
// empty) that writes to topic and honours Record.Partition.
func producer(t *testing.T, bootstrap, topic, txnID string) *kgo.Client {
	opts := []kgo.Opt{kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner())}
	if txnID != "" {
		opts = append(opts, kgo.TransactionalID(txnID))
	}
	return Client(t, bootstrap, opts...)
}

// txnEnd says whether produce uses a transaction and how it ends it.
type txnEnd int

const (
	noTxn     txnEnd = iota // plain, non-transactional produce
	commitTxn               // commit the transaction
	abortTxn                // abort the transaction
	leaveOpen               // begin a transaction and leave it open
)

// produce writes values round-robin over partitions.
func produce(t *testing.T, cl *kgo.Client, partitions int32, end txnEnd, values ...string) {
	t.Helper()
	ctx := ctxFor(t)
	if end != noTxn {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatalf("BeginTransaction: %v", err)
		}
	}
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		recs[i] = &kgo.Record{Value: []byte(v), Partition: int32(i) % partitions}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("producing %v: %v", values, err)
	}
	if end == commitTxn || end == abortTxn {
		if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(end == commitTxn)); err != nil {
			t.Fatalf("ending transaction (commit=%v): %v", end == commitTxn, err)
		}
	}
}

func values(recs []*kgo.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Value)
	}
	return out
}

// checkOrder asserts records come partition by partition, in offset order.
func checkOrder(t *testing.T, recs []*kgo.Record) {
	t.Helper()
	for i := 1; i < len(recs); i++ {
		a, b := recs[i-1], recs[i]
		if a.Partition > b.Partition || (a.Partition == b.Partition && a.Offset >= b.Offset) {
			t.Fatalf("record %d (p%d@%d) comes after p%d@%d: want partition order, then offset order",
				i, b.Partition, b.Offset, a.Partition, a.Offset)
		}
	}
}

func TestConsumeCommitted(t *testing.T) {
	forEachCluster(t, func(t *testing.T, bootstrap string) {
		const parts = 3
		topic := Topic(t, bootstrap, parts)

		produce(t, producer(t, bootstrap, topic, ""), parts, noTxn, "plain-0", "plain-1", "plain-2", "plain-3")
		produce(t, producer(t, bootstrap, topic, UniqueName("committed")), parts, commitTxn,
			"commit-0", "commit-1", "commit-2", "commit-3", "commit-4", "commit-5")
		produce(t, producer(t, bootstrap, topic, UniqueName("aborted")), parts, abortTxn,
			"abort-0", "abort-1", "abort-2")
		open := producer(t, bootstrap, topic, UniqueName("open"))
		produce(t, open, parts, leaveOpen, "open-0", "open-1")

		want := []string{"commit-0", "commit-1", "commit-2", "commit-3", "commit-4", "commit-5",
			"plain-0", "plain-1", "plain-2", "plain-3"}
		got := ConsumeCommitted(t, bootstrap, topic)
		checkOrder(t, got)
		for _, r := range got {
			if r.Attrs.IsControl() {
				t.Errorf("control record at p%d@%d returned", r.Partition, r.Offset)
			}
		}
		if vs := values(got); !slices.Equal(sorted(vs), want) {
			t.Fatalf("with a transaction open: got %q, want %q", vs, want)
		}

		if err := open.EndTransaction(ctxFor(t), kgo.TryCommit); err != nil {
			t.Fatalf("committing the open transaction: %v", err)
		}
		want = append(want, "open-0", "open-1")
		// Settled: the commit returned, its markers may not be written yet.
		got = ConsumeSettled(t, bootstrap, topic)
		checkOrder(t, got)
		if vs := values(got); !slices.Equal(sorted(vs), sorted(want)) {
			t.Fatalf("after committing it: got %q, want %q", vs, sorted(want))
		}
	})
}

// A settled read waits for the transaction in flight and then returns its
// records; a transaction that stays open makes it fail, naming it.
func TestConsumeSettled(t *testing.T) {
	forEachCluster(t, func(t *testing.T, bootstrap string) {
		topic := Topic(t, bootstrap, 2)
		produce(t, producer(t, bootstrap, topic, ""), 2, noTxn, "plain-0", "plain-1")
		open := producer(t, bootstrap, topic, UniqueName("open"))
		produce(t, open, 2, leaveOpen, "open-0", "open-1")

		ctx, cancel := context.WithTimeout(ctxFor(t), 300*time.Millisecond)
		_, err := ReadSettled(ctx, bootstrap, topic)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "in flight") {
			t.Fatalf("ReadSettled with a transaction open = %v, want a deadline error naming the transaction in flight", err)
		}

		type result struct {
			recs []*kgo.Record
			err  error
		}
		done := make(chan result, 1)
		go func() {
			recs, err := ReadSettled(ctxFor(t), bootstrap, topic)
			done <- result{recs, err}
		}()
		time.Sleep(200 * time.Millisecond)
		if err := open.EndTransaction(ctxFor(t), kgo.TryCommit); err != nil {
			t.Fatalf("committing the open transaction: %v", err)
		}
		r := <-done
		if r.err != nil {
			t.Fatal(r.err)
		}
		if got, want := sorted(values(r.recs)), []string{"open-0", "open-1", "plain-0", "plain-1"}; !slices.Equal(got, want) {
			t.Fatalf("settled read: got %q, want %q", got, want)
		}
	})
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestConsumeCommittedEmptyTopic(t *testing.T) {
	forEachCluster(t, func(t *testing.T, bootstrap string) {
		topic := Topic(t, bootstrap, 2)
		if got := ConsumeCommitted(t, bootstrap, topic); len(got) != 0 {
			t.Fatalf("empty topic: got %d records %q", len(got), values(got))
		}
	})
}

func TestReadCommittedMissingTopic(t *testing.T) {
	forEachCluster(t, func(t *testing.T, bootstrap string) {
		topic := UniqueName("missing")
		_, err := ReadCommitted(ctxFor(t), bootstrap, topic)
		if !errors.Is(err, kerr.UnknownTopicOrPartition) {
			t.Fatalf("ReadCommitted(missing topic) error = %v, want one wrapping %v", err, kerr.UnknownTopicOrPartition)
		}
		if !strings.Contains(err.Error(), topic) {
			t.Errorf("error %q does not name the topic %s", err, topic)
		}
	})
}

func TestTopicIsUniqueAndExists(t *testing.T) {
	forEachCluster(t, func(t *testing.T, bootstrap string) {
		a, b := Topic(t, bootstrap, 1), Topic(t, bootstrap, 1)
		if a == b {
			t.Fatalf("two Topic calls returned the same name %q", a)
		}
		cl := producer(t, bootstrap, a, "")
		produce(t, cl, 1, noTxn, "x")
		if got := values(ConsumeCommitted(t, bootstrap, a)); !slices.Equal(got, []string{"x"}) {
			t.Fatalf("topic %s holds %q, want [x]", a, got)
		}
		if got := ConsumeCommitted(t, bootstrap, b); len(got) != 0 {
			t.Fatalf("topic %s holds %q, want nothing", b, values(got))
		}
	})
}

func TestUniqueName(t *testing.T) {
	tests := []struct {
		hint       string
		wantPrefix string
	}{
		{"TestFoo", "freshet-TestFoo-"},
		{"TestFoo/sub case#1", "freshet-TestFoo_sub_case_1-"},
		{"ü.ï", "freshet-___-"},
		{strings.Repeat("a", 500), "freshet-" + strings.Repeat("a", 72) + "-"},
	}
	for _, tt := range tests {
		name := UniqueName(tt.hint)
		if !strings.HasPrefix(name, tt.wantPrefix) {
			t.Errorf("UniqueName(%q) = %q, want prefix %q", tt.hint, name, tt.wantPrefix)
		}
		if len(name) > 249 {
			t.Errorf("UniqueName(%q) is %d bytes, over Kafka's 249", tt.hint, len(name))
		}
		if other := UniqueName(tt.hint); other == name {
			t.Errorf("UniqueName(%q) returned %q twice", tt.hint, name)
		}
	}
}

func TestBrokerFromEnv(t *testing.T) {
	tests := []struct {
		env                  map[string]string
		addr, skip, failWord string
	}{
		{env: map[string]string{EnvBroker: "127.0.0.1:19092"}, addr: "127.0.0.1:19092"},
		{env: map[string]string{EnvBroker: " 127.0.0.1:19092 ", "CI": "true"}, addr: "127.0.0.1:19092"},
		{env: map[string]string{}, skip: "skipping"},
		{env: map[string]string{EnvBroker: "  "}, skip: "skipping"},
		{env: map[string]string{"CI": "true"}, failWord: "CI is"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.env), func(t *testing.T) {
			addr, skip, fail := brokerFromEnv(func(k string) string { return tt.env[k] })
			if addr != tt.addr {
				t.Errorf("addr = %q, want %q", addr, tt.addr)
			}
			if (skip != "") != (tt.skip != "") || !strings.Contains(skip, tt.skip) {
				t.Errorf("skip = %q, want it to contain %q", skip, tt.skip)
			}
			if (fail != "") != (tt.failWord != "") || !strings.Contains(fail, tt.failWord) {
				t.Errorf("fail = %q, want it to contain %q", fail, tt.failWord)
			}
			if tt.addr == "" && !strings.Contains(skip+fail, "scripts/kafka.sh start") {
				t.Errorf("message %q does not say how to start the broker", skip+fail)
			}
		})
	}
}

func TestSeeds(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"a:1", []string{"a:1"}},
		{"a:1,b:2", []string{"a:1", "b:2"}},
		{" a:1 , ,b:2,", []string{"a:1", "b:2"}},
		{"", nil},
	}
	for _, tt := range tests {
		if got := Seeds(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("Seeds(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
