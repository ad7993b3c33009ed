package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrReadBack reports that RoundTrip read back something other than what it
// committed.
var ErrReadBack = errors.New("records read back differ from records committed")

// RoundTripReport says what RoundTrip did and how long each step took.
type RoundTripReport struct {
	Brokers      int           // brokers in the cluster's metadata
	Committed    int           // records produced in the committed transaction and read back
	Aborted      int           // records produced in the aborted transaction (never read back)
	Connect      time.Duration // listing brokers
	CreateTopic  time.Duration
	CommitTxn    time.Duration // init producer ID, produce, commit
	AbortTxn     time.Duration // produce, abort
	Read         time.Duration // ReadCommitted
	GroupOffsets time.Duration // commit and fetch a group offset
}

// RoundTrip exercises a cluster the way Freshet's exactly-once Kafka sink and
// source do: it creates a topic, commits one transaction and aborts another,
// reads the topic back with read_committed isolation and checks it holds
// exactly the committed records, commits and fetches a consumer-group offset,
// then deletes the topic and group.
//
// On a fresh broker the first transaction and the first group commit create
// the internal __transaction_state and __consumer_offsets topics, so RoundTrip
// doubles as a warm-up: tests that run after it do not wait for that.
func RoundTrip(ctx context.Context, bootstrap string) (RoundTripReport, error) {
	const committed, aborted = 10, 5
	rep := RoundTripReport{Committed: committed, Aborted: aborted}
	name := UniqueName("roundtrip")
	step := time.Now()
	lap := func(d *time.Duration) { now := time.Now(); *d = now.Sub(step); step = now }

	cl, err := newClient(bootstrap, kgo.TransactionalID(name), kgo.DefaultProduceTopic(name))
	if err != nil {
		return rep, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)

	brokers, err := adm.ListBrokers(ctx)
	if err != nil {
		return rep, fmt.Errorf("round trip: listing brokers of %s: %w", bootstrap, err)
	}
	rep.Brokers = len(brokers)
	lap(&rep.Connect)

	if err := CreateTopic(ctx, bootstrap, name, 2); err != nil {
		return rep, fmt.Errorf("round trip: %w", err)
	}
	defer func() {
		// Best effort: the caller's ctx may be done, so use a fresh bound.
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = DeleteTopic(cctx, bootstrap, name)
		_, _ = adm.DeleteGroup(cctx, name)
	}()
	lap(&rep.CreateTopic)

	want := make([]string, committed)
	for i := range want {
		want[i] = "committed-" + strconv.Itoa(i)
	}
	if err := produceTxn(ctx, cl, "committed-", committed, kgo.TryCommit); err != nil {
		return rep, fmt.Errorf("round trip: committing a transaction to %s: %w", name, err)
	}
	lap(&rep.CommitTxn)
	if err := produceTxn(ctx, cl, "aborted-", aborted, kgo.TryAbort); err != nil {
		return rep, fmt.Errorf("round trip: aborting a transaction to %s: %w", name, err)
	}
	lap(&rep.AbortTxn)

	recs, err := ReadCommitted(ctx, bootstrap, name)
	if err != nil {
		return rep, fmt.Errorf("round trip: %w", err)
	}
	got := make([]string, len(recs))
	for i, r := range recs {
		got[i] = string(r.Value)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		return rep, fmt.Errorf("round trip: topic %s: %w: got %q, want %q", name, ErrReadBack, got, want)
	}
	lap(&rep.Read)

	var offs kadm.Offsets
	offs.Add(kadm.Offset{Topic: name, Partition: 0, At: 1, LeaderEpoch: -1})
	if err := commitAndFetchGroupOffset(ctx, adm, name, offs); err != nil {
		return rep, fmt.Errorf("round trip: %w", err)
	}
	lap(&rep.GroupOffsets)
	return rep, nil
}

// produceTxn produces n records with values prefix+i in one transaction and
// ends it with end.
func produceTxn(ctx context.Context, cl *kgo.Client, prefix string, n int, end kgo.TransactionEndTry) error {
	if err := cl.BeginTransaction(); err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	recs := make([]*kgo.Record, n)
	for i := range recs {
		v := prefix + strconv.Itoa(i)
		recs[i] = &kgo.Record{Key: []byte(v), Value: []byte(v)}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		// End the transaction so the client is usable again; the produce
		// error is the one worth reporting.
		_ = cl.EndTransaction(ctx, kgo.TryAbort)
		return fmt.Errorf("producing %d records: %w", n, err)
	}
	if err := cl.EndTransaction(ctx, end); err != nil {
		return fmt.Errorf("ending transaction (commit=%v): %w", bool(end), err)
	}
	return nil
}

func commitAndFetchGroupOffset(ctx context.Context, adm *kadm.Client, group string, offs kadm.Offsets) error {
	resp, err := adm.CommitOffsets(ctx, group, offs)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return fmt.Errorf("committing offsets for group %s: %w", group, err)
	}
	fetched, err := adm.FetchOffsets(ctx, group)
	if err == nil {
		err = fetched.Error()
	}
	if err != nil {
		return fmt.Errorf("fetching offsets of group %s: %w", group, err)
	}
	var mismatch error
	offs.Each(func(o kadm.Offset) {
		f, ok := fetched.Lookup(o.Topic, o.Partition)
		if !ok || f.At != o.At {
			mismatch = fmt.Errorf("group %s, %s/%d: fetched offset %d (present %v), committed %d: %w",
				group, o.Topic, o.Partition, f.At, ok, o.At, ErrReadBack)
		}
	})
	return mismatch
}
