package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ReadCommitted returns every record committed to topic when it is called,
// read with read_committed isolation, partition by partition in partition
// order, each partition in offset order. Transaction markers and records of
// aborted or still-open transactions are not returned.
//
// It first lists each partition's log start offset and last stable offset
// (the end of what is committed), then reads each partition from its start
// until it has seen the record just before that end. Transaction markers are
// fetched too (and dropped from the result) because the last entry of a
// partition is often a marker, and a reader that skipped markers could not
// tell "done" from "more to come".
func ReadCommitted(ctx context.Context, bootstrap, topic string) ([]*kgo.Record, error) {
	admCl, err := newClient(bootstrap)
	if err != nil {
		return nil, err
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)

	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("reading committed records of %s: listing start offsets: %w", topic, err)
	}
	ends, err := adm.ListCommittedOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("reading committed records of %s: listing last stable offsets: %w", topic, err)
	}

	from := make(map[int32]kgo.Offset)
	end := make(map[int32]int64) // partition -> last stable offset, for partitions with records
	starts.Each(func(o kadm.ListedOffset) {
		e, ok := ends.Lookup(topic, o.Partition)
		if !ok || e.Offset <= o.Offset {
			return
		}
		from[o.Partition] = kgo.NewOffset().At(o.Offset)
		end[o.Partition] = e.Offset
	})
	if len(end) == 0 {
		return nil, nil
	}

	cl, err := newClient(bootstrap,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(250*time.Millisecond),
	)
	if err != nil {
		return nil, err
	}
	defer cl.Close()

	byPartition := make(map[int32][]*kgo.Record, len(end))
	for len(end) > 0 {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("reading committed records of %s: partitions %v did not reach their last stable offsets: %w",
				topic, pendingPartitions(end), err)
		}
		var fetchErr error
		fetches.EachError(func(t string, p int32, err error) {
			fetchErr = errors.Join(fetchErr, fmt.Errorf("partition %d: %w", p, err))
		})
		if fetchErr != nil {
			return nil, fmt.Errorf("reading committed records of %s: %w", topic, fetchErr)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			last, ok := end[r.Partition]
			if !ok {
				return // a partition already complete
			}
			if r.Offset < last && !r.Attrs.IsControl() {
				byPartition[r.Partition] = append(byPartition[r.Partition], r)
			}
			if r.Offset >= last-1 {
				delete(end, r.Partition)
			}
		})
	}

	parts := make([]int32, 0, len(byPartition))
	for p := range byPartition {
		parts = append(parts, p)
	}
	slices.Sort(parts)
	var out []*kgo.Record
	for _, p := range parts {
		out = append(out, byPartition[p]...)
	}
	return out, nil
}

func pendingPartitions(end map[int32]int64) []int32 {
	ps := make([]int32, 0, len(end))
	for p := range end {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}

// ReadSettled is ReadCommitted once no transaction is in flight on topic:
// it first waits until every partition's last stable offset has reached its
// high watermark. A transaction's commit (EndTxn) returns before the broker
// has written its commit markers to the partitions, and until it has,
// read_committed readers stop before the transaction's records, so a reader
// started right after a writer committed can miss its last transactions.
// Use it to read the output of a writer that is done (a finished job); a
// transaction left open makes it wait until ctx ends.
func ReadSettled(ctx context.Context, bootstrap, topic string) ([]*kgo.Record, error) {
	cl, err := newClient(bootstrap)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for {
		lso, err := adm.ListCommittedOffsets(ctx, topic)
		if err == nil {
			err = lso.Error()
		}
		hw, herr := adm.ListEndOffsets(ctx, topic)
		if herr == nil {
			herr = hw.Error()
		}
		if err = errors.Join(err, herr); err != nil {
			return nil, fmt.Errorf("reading settled records of %s: listing offsets: %w", topic, err)
		}
		var inFlight []string
		hw.Each(func(h kadm.ListedOffset) {
			if l, ok := lso.Lookup(topic, h.Partition); !ok || l.Offset < h.Offset {
				inFlight = append(inFlight, fmt.Sprintf("partition %d (last stable offset %d, high watermark %d)", h.Partition, l.Offset, h.Offset))
			}
		})
		if len(inFlight) == 0 {
			return ReadCommitted(ctx, bootstrap, topic)
		}
		select {
		case <-ctx.Done():
			slices.Sort(inFlight)
			return nil, fmt.Errorf("reading settled records of %s: a transaction is still in flight on %v: %w", topic, inFlight, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
