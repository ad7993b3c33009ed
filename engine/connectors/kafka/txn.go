package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Recovery of exactly-once transactions needs two things franz-go's
// transactional client does not offer, because it only ever drives its own
// producer session: committing a transaction another process prepared, and
// aborting whatever a transactional id has open without taking the id over
// for producing. Both are single coordinator requests, sent here through a
// plain client (which routes them to the transaction coordinator):
//
//   - resumeCommit sends EndTxn(commit) with the producer id and epoch the
//     preparing process recorded in the checkpoint. This is how Flink's
//     KafkaSink resumes a transaction (it sets the id and epoch into the
//     Java producer by reflection, then commits). It is idempotent: the
//     coordinator acknowledges a repeated commit of a completed transaction.
//     InitProducerID with the recorded id and epoch (KIP-360) would not do:
//     the coordinator aborts the open transaction before bumping the epoch.
//   - fence sends InitProducerID for the transactional id, without a
//     producer id: the coordinator aborts the open transaction, if any, and
//     bumps the epoch, which also fences a zombie producer still using it.
//
// A recorded (id, epoch) must name exactly one transaction, so that
// resuming it can never commit a later transaction of the same
// transactional id. With transactions v2 (KIP-890 part 2, Kafka 4.0) every
// commit bumps the producer epoch, and the sink keeps one client per
// transactional id across transactions; on brokers without it, a commit
// leaves the epoch as it was and the next transaction gets a fresh producer
// session (a new client: InitProducerID bumps the epoch). Sink.commit
// checks which by comparing the epoch before and after the commit.

// kadmClient is kadm over cl.
func kadmClient(cl *kgo.Client) *kadm.Client { return kadm.NewClient(cl) }

// txnRetryable reports whether a transaction coordinator error goes away by
// itself: a coordinator moving or loading, or another operation (an abort
// the coordinator runs for a fence) in progress.
func txnRetryable(err error) bool {
	return kerr.IsRetriable(err) || errors.Is(err, kerr.ConcurrentTransactions)
}

// coordinatorRetries bounds how long recovery retries one request.
const coordinatorRetries = 60 * time.Second

// resumeCommit commits the prepared transaction e. ended is not nil when the
// coordinator answers that the transaction was already ended by something
// else (an earlier commit of it, or an abort): nothing more can be done
// about it, and the caller logs it. err is anything else.
func resumeCommit(ctx context.Context, cl *kgo.Client, e txnEntry) (ended, err error) {
	err = retry(ctx, func() error {
		req := kmsg.NewPtrEndTxnRequest()
		req.TransactionalID = e.TxnID
		req.ProducerID = e.ProducerID
		req.ProducerEpoch = e.Epoch
		req.Commit = true
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return err
		}
		return kerr.ErrorForCode(resp.ErrorCode)
	})
	switch {
	case err == nil:
		return nil, nil
	case errors.Is(err, kerr.ProducerFenced), errors.Is(err, kerr.InvalidProducerEpoch),
		errors.Is(err, kerr.InvalidTxnState), errors.Is(err, kerr.InvalidProducerIDMapping),
		errors.Is(err, kerr.TransactionalIDNotFound):
		return err, nil
	}
	return nil, err
}

// fence aborts whatever transactional id id has open and fences its
// producers.
func fence(ctx context.Context, cl *kgo.Client, id string, timeout time.Duration) error {
	return retry(ctx, func() error {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID = kmsg.StringPtr(id)
		req.TransactionTimeoutMillis = int32(timeout.Milliseconds())
		req.ProducerID = -1
		req.ProducerEpoch = -1
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return err
		}
		return kerr.ErrorForCode(resp.ErrorCode)
	})
}

// retry runs fn until it succeeds, fails with an error that does not go
// away by itself, or coordinatorRetries pass.
func retry(ctx context.Context, fn func() error) error {
	deadline := time.Now().Add(coordinatorRetries)
	wait := 20 * time.Millisecond
	for {
		err := fn()
		if err == nil || !txnRetryable(err) && !isNetErr(err) {
			return err
		}
		if time.Now().Add(wait).After(deadline) {
			return fmt.Errorf("still failing after %s: %w", coordinatorRetries, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-t.C:
		}
		wait = min(2*wait, time.Second)
	}
}

// isNetErr reports a connection problem worth retrying: the broker
// restarting, or a dial refused while it does.
func isNetErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}
