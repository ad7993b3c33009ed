package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshet/freshet/engine/api"
)

// Counter names of the sink.
const (
	RecordsOutCounter = "kafkaRecordsOut" // records handed to the producer
	BytesOutCounter   = "kafkaBytesOut"   // their key, value and header bytes
)

// ErrPoolExhausted is the category of the error of an exactly-once sink
// whose transactional ids all hold transactions waiting for checkpoints to
// complete.
var ErrPoolExhausted = errors.New("transactional id pool exhausted")

// Sink is one subtask of a Kafka sink, an api.Operator that writes every
// record it is given and emits nothing.
//
// Exactly-once: records go into a transaction, opened on the first record
// after a checkpoint with one of the subtask's transactional ids (a fresh
// producer session each time, so every transaction has its own producer
// epoch). SnapshotState(n) flushes it and records it, with its producer id
// and epoch, in the checkpoint; NotifyCheckpointComplete(n) commits it. A
// subtask restored from checkpoint n commits, in Open, the transactions
// recorded in n (resuming their producer id and epoch), then fences every
// transactional id it owns, which aborts what the failed run left open.
type Sink struct {
	spec *sinkSpec

	ctx     api.Context
	name    string
	log     *slog.Logger
	subtask int
	par     int
	exactly bool

	kctx    context.Context // cancelled on Close: unblocks produce
	cancel  context.CancelFunc
	pctx    context.Context // what records are produced with, see produceCtx
	pctxAt  time.Time
	cancels []deadlineCancel
	meta    *kgo.Client // metadata and raw transaction requests; the producer unless exactly-once
	prod    *kgo.Client // where records go now
	popts   []kgo.Opt   // producer options of every client

	keySer, valSer Serializer
	recs           recordPool
	promise        func(*kgo.Record, error)
	hdrKeys        map[string]string
	recordsOut     api.Counter
	bytesOut       api.Counter

	errMu    sync.Mutex
	asyncErr error // first failed write

	// Exactly-once.
	busy []bool // transactional id n holds the open or a prepared transaction
	// idle are producers of free transactional ids kept for their next
	// transaction: a new client per transaction (connections, producer id)
	// cost more than the transaction itself at short checkpoint intervals.
	idle          []*kgo.Client
	cur           *txn   // open transaction, nil before the first record after a checkpoint
	pending       []*txn // prepared, in checkpoint order
	restoredPools []poolEntry
	restoredTxns  []txnEntry
}

type deadlineCancel struct {
	cancel   context.CancelFunc
	deadline time.Time
}

// produceCtx is the context records are produced with: it expires
// DeliveryTimeout after it was made, and franz-go fails a record whose
// context expired before it was acknowledged (the client's own delivery
// timeout counts from the record's timestamp, which here is event time, so
// it cannot be used). One context serves every record of a one-second
// window, so the timeout is between DeliveryTimeout-1s and DeliveryTimeout.
func (s *Sink) produceCtx(now time.Time) context.Context {
	if s.pctx != nil && now.Sub(s.pctxAt) < time.Second {
		return s.pctx
	}
	keep := s.cancels[:0]
	for _, c := range s.cancels {
		if now.After(c.deadline) {
			c.cancel() // expired already; releases the context
		} else {
			keep = append(keep, c)
		}
	}
	deadline := now.Add(s.spec.DeliveryTimeout)
	ctx, cancel := context.WithDeadline(s.kctx, deadline)
	s.cancels = append(keep, deadlineCancel{cancel, deadline})
	s.pctx, s.pctxAt = ctx, now
	return ctx
}

// txn is one transaction of the sink.
type txn struct {
	slot       int
	id         string
	cl         *kgo.Client
	records    int64
	checkpoint int64 // set when prepared
	producerID int64
	epoch      int16
}

// txnID names transactional id n of a subtask.
func txnID(prefix string, subtask, n int) string {
	return prefix + "-" + strconv.Itoa(subtask) + "-" + strconv.Itoa(n)
}

// StateDistribution is UnionDistribution: after a rescale every subtask
// sees every prepared transaction and id pool and handles those of the old
// subtasks it inherits (old subtask s goes to new subtask s mod parallelism).
func (s *Sink) StateDistribution() api.Distribution { return api.UnionDistribution }

// RestoreState keeps the prepared transactions and id pools of the
// checkpoint restored from; Open commits and fences them.
func (s *Sink) RestoreState(entries [][]byte) error {
	s.restoredPools, s.restoredTxns = nil, nil
	for i, b := range entries {
		kind, err := entryKind(b)
		if err == nil {
			switch kind {
			case kindPool:
				var e poolEntry
				if e, err = decodePool(b); err == nil {
					s.restoredPools = append(s.restoredPools, e)
				}
			case kindTxn:
				var e txnEntry
				if e, err = decodeTxn(b); err == nil {
					s.restoredTxns = append(s.restoredTxns, e)
				}
			default:
				err = fmt.Errorf("%w: entry kind %d is not kafka sink state (was this state written by a kafka source?)", ErrCorruptState, kind)
			}
		}
		if err != nil {
			return fmt.Errorf("kafka sink: restoring entry %d of %d: %w", i, len(entries), err)
		}
	}
	sort.SliceStable(s.restoredTxns, func(i, j int) bool { return s.restoredTxns[i].Checkpoint < s.restoredTxns[j].Checkpoint })
	return nil
}

// Open connects, checks the topic exists, finishes what a restored
// checkpoint left (commits its transactions, fences the ids), and gets ready
// to write.
func (s *Sink) Open(ctx api.Context) (err error) {
	spec := s.spec
	s.ctx, s.name, s.log = ctx, ctx.OperatorName(), ctx.Logger()
	s.subtask, s.par = ctx.Subtask(), ctx.Parallelism()
	s.exactly = spec.Delivery == DeliveryExactlyOnce
	s.recordsOut, s.bytesOut = ctx.Counter(RecordsOutCounter), ctx.Counter(BytesOutCounter)
	s.hdrKeys = map[string]string{}
	s.promise = s.delivered
	what := fmt.Sprintf("kafka sink %q", s.name)
	if s.keySer, err = spec.newKey(); err != nil {
		return fmt.Errorf("%s: making the key serializer: %w", what, err)
	}
	if s.valSer, err = spec.newValue(); err != nil {
		return fmt.Errorf("%s: making the value serializer: %w", what, err)
	}
	s.kctx, s.cancel = context.WithCancel(ctx.Context())
	defer func() {
		if err != nil {
			s.shutdown(false)
		}
	}()

	s.popts = []kgo.Opt{
		kgo.RecordPartitioner(newPartitioner(spec.Partitioner, s.subtask)),
		kgo.ProducerBatchCompression(compressions[spec.Compression]),
		kgo.ProducerLinger(spec.Linger),
		kgo.RetryBackoffFn(backoff(spec.RetryBackoff, 2*time.Second)),
		kgo.MaxBufferedRecords(spec.MaxBufferedRecords),
		kgo.DefaultProduceTopic(spec.Topic),
	}
	opts := append(spec.ClientConfig.opts(s.log), s.popts...)
	if s.meta, err = kgo.NewClient(opts...); err != nil {
		return fmt.Errorf("%s: creating the Kafka client: %w", what, err)
	}
	if err := waitForBroker(s.kctx, s.meta, &spec.ClientConfig, what); err != nil {
		return err
	}
	octx, ocancel := context.WithTimeout(s.kctx, spec.ConnectTimeout)
	defer ocancel()
	if _, err := topicPartitions(octx, kadmClient(s.meta), []string{spec.Topic}, spec.ConnectTimeout); err != nil {
		return fmt.Errorf("%s: on %s: %w", what, spec.servers(), err)
	}
	if err := s.recover(octx); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if s.exactly {
		s.busy = make([]bool, spec.TransactionPoolSize)
		s.idle = make([]*kgo.Client, spec.TransactionPoolSize)
	} else {
		s.prod = s.meta
	}
	s.log.Info("kafka sink open", "topic", spec.Topic, "delivery-guarantee", spec.Delivery,
		"bootstrap-servers", spec.servers())
	return nil
}

// owns reports whether this subtask handles the state of old subtask old.
func (s *Sink) owns(old int) bool { return old%s.par == s.subtask }

// recover commits the prepared transactions of the restored checkpoint that
// this subtask inherits, then fences every transactional id it owns or
// inherits, aborting whatever a failed run left open in them. Restored
// transactions are committed whatever the sink's delivery guarantee is now.
func (s *Sink) recover(ctx context.Context) error {
	for _, e := range s.restoredTxns {
		if !s.owns(e.Subtask) {
			continue
		}
		ended, err := resumeCommit(ctx, s.meta, e)
		if err != nil {
			return fmt.Errorf("committing transaction %s (producer id %d, epoch %d) of checkpoint %d: %w",
				e.TxnID, e.ProducerID, e.Epoch, e.Checkpoint, err)
		}
		if ended != nil {
			s.log.Warn("kafka sink: a transaction of the restored checkpoint was already ended, not by this commit; "+
				"fine if an earlier attempt committed it, records lost if it was aborted (e.g. it outlived transaction-timeout)",
				"transactional-id", e.TxnID, "producer-id", e.ProducerID, "epoch", e.Epoch, "checkpoint", e.Checkpoint, "answer", ended)
			continue
		}
		s.log.Info("kafka sink: committed a transaction of the restored checkpoint",
			"transactional-id", e.TxnID, "checkpoint", e.Checkpoint)
	}
	seen := map[string]bool{}
	var ids []string
	add := func(prefix string, subtask, size int) {
		for n := 0; n < size; n++ {
			if id := txnID(prefix, subtask, n); !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	for _, e := range s.restoredPools {
		if s.owns(e.Subtask) {
			add(e.Prefix, e.Subtask, e.Size)
		}
	}
	if s.exactly {
		add(s.spec.TransactionalIDPrefix, s.subtask, s.spec.TransactionPoolSize)
	}
	for _, id := range ids {
		if err := fence(ctx, s.meta, id, s.spec.TransactionTimeout); err != nil {
			if errors.Is(err, kerr.InvalidTransactionTimeout) {
				err = fmt.Errorf("transaction-timeout %s is more than the broker allows (its transaction.max.timeout.ms): %w", s.spec.TransactionTimeout, err)
			}
			return fmt.Errorf("fencing transactional id %s: %w", id, err)
		}
	}
	if len(ids) > 0 {
		s.log.Debug("kafka sink: fenced transactional ids", "count", len(ids))
	}
	s.restoredPools, s.restoredTxns = nil, nil
	return nil
}

// begin opens a transaction on the lowest free transactional id.
func (s *Sink) begin() error {
	slot := -1
	for n, b := range s.busy {
		if !b {
			slot = n
			break
		}
	}
	if slot < 0 {
		ids := make([]int64, len(s.pending))
		for i, t := range s.pending {
			ids[i] = t.checkpoint
		}
		return fmt.Errorf("kafka sink %q: %w: all %d transactional ids of subtask %d hold transactions waiting for checkpoints %v to complete; raise transaction-pool-size",
			s.name, ErrPoolExhausted, len(s.busy), s.subtask, ids)
	}
	id := txnID(s.spec.TransactionalIDPrefix, s.subtask, slot)
	cl := s.idle[slot]
	s.idle[slot] = nil
	if cl == nil {
		opts := append(s.spec.ClientConfig.opts(s.log), s.popts...)
		opts = append(opts, kgo.TransactionalID(id), kgo.TransactionTimeout(s.spec.TransactionTimeout))
		var err error
		if cl, err = kgo.NewClient(opts...); err != nil {
			return fmt.Errorf("kafka sink %q: creating the producer of transactional id %s: %w", s.name, id, err)
		}
	}
	if err := cl.BeginTransaction(); err != nil {
		cl.Close()
		return fmt.Errorf("kafka sink %q: beginning a transaction with id %s: %w", s.name, id, err)
	}
	s.busy[slot] = true
	s.cur = &txn{slot: slot, id: id, cl: cl}
	s.prod = cl
	return nil
}

// ProcessBatch hands every record to the producer. It returns the first
// write error of earlier records (after the producer's retries ran out),
// which fails the task.
func (s *Sink) ProcessBatch(in *api.Batch, _ api.Output) error {
	if err := s.takeErr(); err != nil {
		return err
	}
	if len(in.Records) == 0 {
		return nil
	}
	if s.exactly && s.cur == nil {
		if err := s.begin(); err != nil {
			return err
		}
	}
	var size int64
	ctx := s.produceCtx(time.Now())
	for i := range in.Records {
		rec := &in.Records[i]
		p := s.recs.get()
		if err := s.fill(p, rec); err != nil {
			s.recs.put(&p.Record)
			return fmt.Errorf("kafka sink %q: record %d of %d: %w", s.name, i, len(in.Records), err)
		}
		size += int64(rec.Size())
		s.prod.Produce(ctx, &p.Record, s.promise)
	}
	if s.cur != nil {
		s.cur.records += int64(len(in.Records))
	}
	s.recordsOut.Add(int64(len(in.Records)))
	s.bytesOut.Add(size)
	return nil
}

// fill makes p the Kafka record of rec, in p's reused buffers.
func (s *Sink) fill(p *pooledRecord, rec *api.Record) error {
	var err error
	if p.key, err = s.keySer.Serialize(p.key[:0], rec.Key); err != nil {
		return fmt.Errorf("key: %w", err)
	}
	if p.value, err = s.valSer.Serialize(p.value[:0], rec.Value); err != nil {
		return fmt.Errorf("value: %w", err)
	}
	r := &p.Record
	if len(p.key) > 0 {
		r.Key = p.key
	}
	if len(p.value) > 0 {
		r.Value = p.value
	}
	if rec.HasTimestamp() {
		r.Timestamp = time.UnixMilli(rec.Timestamp)
	}
	if n := len(rec.Headers); n > 0 && !s.spec.DropHeaders {
		if cap(p.headers) < n {
			p.headers = append(p.headers[:cap(p.headers)], make([]kgo.RecordHeader, n-cap(p.headers))...)
		}
		hs := p.headers[:n]
		for i := range rec.Headers {
			h := &rec.Headers[i]
			hs[i].Key = s.headerKey(h.Key)
			hs[i].Value = append(hs[i].Value[:0], h.Value...)
		}
		r.Headers = hs
	}
	return nil
}

// headerKey returns key as a string, interned: header names repeat, and a
// map lookup by a converted []byte does not allocate.
func (s *Sink) headerKey(key []byte) string {
	if k, ok := s.hdrKeys[string(key)]; ok {
		return k
	}
	k := string(key)
	if len(s.hdrKeys) < 1024 {
		s.hdrKeys[k] = k
	}
	return k
}

// delivered is the promise of every record: it keeps the first error and
// recycles the record.
func (s *Sink) delivered(r *kgo.Record, err error) {
	if err != nil {
		s.errMu.Lock()
		if s.asyncErr == nil {
			s.asyncErr = fmt.Errorf("kafka sink %q: writing to %s/%d: %w", s.name, r.Topic, r.Partition, err)
		}
		s.errMu.Unlock()
	}
	s.recs.put(r)
}

func (s *Sink) takeErr() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.asyncErr
}

// flush waits until every record handed to cl is acknowledged, at most
// DeliveryTimeout.
func (s *Sink) flush(cl *kgo.Client, why string) error {
	ctx, cancel := context.WithTimeout(s.kctx, s.spec.DeliveryTimeout)
	defer cancel()
	if err := cl.Flush(ctx); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("records not acknowledged within delivery-timeout %s: %w", s.spec.DeliveryTimeout, err)
		}
		return fmt.Errorf("kafka sink %q: flushing for %s: %w", s.name, why, err)
	}
	return s.takeErr()
}

// SnapshotState flushes (at-least-once) or prepares the open transaction
// (exactly-once) and returns the transactions waiting for their commit.
func (s *Sink) SnapshotState(id int64) ([][]byte, error) {
	if err := s.takeErr(); err != nil {
		return nil, err
	}
	why := "checkpoint " + strconv.FormatInt(id, 10)
	switch s.spec.Delivery {
	case DeliveryNone:
		return nil, nil
	case DeliveryAtLeastOnce:
		return nil, s.flush(s.prod, why)
	}
	if t := s.cur; t != nil && t.records > 0 {
		if err := s.flush(t.cl, why); err != nil {
			return nil, err
		}
		pid, epoch, err := t.cl.ProducerID(s.kctx)
		if err != nil {
			return nil, fmt.Errorf("kafka sink %q: %s: reading the producer id of transaction %s: %w", s.name, why, t.id, err)
		}
		t.checkpoint, t.producerID, t.epoch = id, pid, epoch
		s.pending = append(s.pending, t)
		s.cur, s.prod = nil, nil
	}
	entries := make([][]byte, 0, 1+len(s.pending))
	entries = append(entries, poolEntry{s.subtask, s.par, len(s.busy), s.spec.TransactionalIDPrefix}.encode())
	for _, t := range s.pending {
		entries = append(entries, txnEntry{t.checkpoint, s.subtask, t.id, t.producerID, t.epoch}.encode())
	}
	return entries, nil
}

// NotifyCheckpointComplete commits the transactions prepared for
// checkpoints up to id. A failed commit fails the task; the restored
// subtask commits the transaction again from the checkpoint.
func (s *Sink) NotifyCheckpointComplete(id int64) error {
	for len(s.pending) > 0 && s.pending[0].checkpoint <= id {
		t := s.pending[0]
		if err := s.commit(t); err != nil {
			return fmt.Errorf("kafka sink %q: committing transaction %s of checkpoint %d: %w", s.name, t.id, t.checkpoint, err)
		}
		s.pending = s.pending[1:]
	}
	return nil
}

// NotifyCheckpointAborted keeps the transaction of checkpoint id prepared:
// it is committed with the next checkpoint that completes, whose state
// covers its records too.
func (s *Sink) NotifyCheckpointAborted(int64) error { return nil }

func (s *Sink) commit(t *txn) error {
	if err := t.cl.EndTransaction(s.kctx, kgo.TryCommit); err != nil {
		return err
	}
	s.busy[t.slot] = false
	// The client is reused by the next transaction on this id only if the
	// commit bumped its producer epoch (transactions v2, KIP-890 part 2,
	// Kafka 4.0): then the (id, epoch) the checkpoint recorded names this
	// transaction alone, and a restore that commits it again cannot commit
	// a later one. Without the bump the next transaction would run under
	// the same (id, epoch), so it gets a fresh producer session instead.
	if pid, epoch, err := t.cl.ProducerID(s.kctx); err == nil && t.checkpoint > 0 && pid == t.producerID && epoch != t.epoch {
		s.idle[t.slot] = t.cl
	} else {
		t.cl.Close()
	}
	return nil
}

// ProcessWatermark does nothing: Kafka records carry their own timestamps.
func (s *Sink) ProcessWatermark(int64, api.Output) error { return nil }

// Finish flushes, and for exactly-once commits the open transaction and
// every prepared one: the input has ended and no checkpoint follows, so
// nothing else would commit them.
func (s *Sink) Finish(api.Output) error {
	if !s.exactly {
		return s.flush(s.prod, "end of input")
	}
	if t := s.cur; t != nil {
		if err := s.flush(t.cl, "end of input"); err != nil {
			return err
		}
		s.pending = append(s.pending, t)
		s.cur, s.prod = nil, nil
	}
	for len(s.pending) > 0 {
		t := s.pending[0]
		if err := s.commit(t); err != nil {
			return fmt.Errorf("kafka sink %q: committing transaction %s at end of input: %w", s.name, t.id, err)
		}
		s.pending = s.pending[1:]
	}
	return nil
}

// Close releases the clients. An open transaction is aborted; prepared ones
// are left to the broker, for a restored subtask to commit (or, if none
// comes, for transaction-timeout to abort).
func (s *Sink) Close() error {
	return s.shutdown(true)
}

func (s *Sink) shutdown(abortOpen bool) error {
	var errs []error
	if t := s.cur; t != nil {
		if abortOpen {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := t.cl.AbortBufferedRecords(ctx); err == nil {
				if err := t.cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
					s.log.Warn("kafka sink: aborting the open transaction failed; the next run fences it",
						"transactional-id", t.id, "error", err)
				}
			}
			cancel()
		}
		t.cl.Close()
		s.cur = nil
	}
	for _, t := range s.pending {
		t.cl.Close() // no EndTxn: the transaction stays prepared
	}
	s.pending = nil
	for i, cl := range s.idle {
		if cl != nil {
			cl.Close()
			s.idle[i] = nil
		}
	}
	if s.cancel != nil {
		s.cancel()
	}
	for _, c := range s.cancels {
		c.cancel()
	}
	s.cancels = nil
	if s.meta != nil {
		s.meta.Close()
		s.meta = nil
	}
	s.prod = nil
	for _, x := range []Serializer{s.keySer, s.valSer} {
		if c, ok := x.(io.Closer); ok {
			if err := c.Close(); err != nil {
				errs = append(errs, fmt.Errorf("kafka sink %q: closing serializer: %w", s.name, err))
			}
		}
	}
	s.keySer, s.valSer = nil, nil
	return errors.Join(errs...)
}

// pooledRecord is a kgo.Record with the buffers it reuses. Record is the
// first field, so the *kgo.Record the client hands back to the promise is
// the address of its pooledRecord.
type pooledRecord struct {
	kgo.Record
	key, value []byte
	headers    []kgo.RecordHeader
}

// recordPool recycles records between ProcessBatch (task goroutine) and the
// promises (client goroutines).
type recordPool struct {
	mu   sync.Mutex
	free []*pooledRecord
}

func (p *recordPool) get() *pooledRecord {
	p.mu.Lock()
	n := len(p.free)
	if n == 0 {
		p.mu.Unlock()
		return &pooledRecord{}
	}
	r := p.free[n-1]
	p.free = p.free[:n-1]
	p.mu.Unlock()
	return r
}

func (p *recordPool) put(r *kgo.Record) {
	pr := (*pooledRecord)(unsafe.Pointer(r))
	pr.Record = kgo.Record{}
	p.mu.Lock()
	p.free = append(p.free, pr)
	p.mu.Unlock()
}
