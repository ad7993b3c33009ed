package network

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/graph"
	"github.com/freshet/freshet/engine/internal/codec"
	"github.com/freshet/freshet/engine/keygroup"
	"github.com/freshet/freshet/engine/memory"
)

// RecordWriter is the output of a producer subtask on one job edge: it
// partitions records over the edge's channels and serializes them into
// buffers from pool.
type RecordWriter struct {
	channels []*Channel
	pool     *memory.Pool
	out      []target

	part     graph.Partitioning
	keySel   graph.KeySelector
	keyBuf   []byte
	maxPar   int
	rr       int
	producer int

	// bp accumulates the nanoseconds spent waiting for buffers or credit.
	bp *atomic.Int64
}

type target struct {
	seg *memory.Segment
	w   codec.Writer
}

// NewRecordWriter returns a writer over channels (one per consumer subtask,
// in subtask order) for an edge partitioned by part. producer is the index of
// the producing subtask (used by forward edges, which have one channel).
//
// Time spent blocked is added to backPressure.
func NewRecordWriter(channels []*Channel, pool *memory.Pool, part graph.Partitioning, keySel graph.KeySelector, maxParallelism, producer int, backPressure *atomic.Int64) *RecordWriter {
	rr := producer
	if len(channels) > 0 {
		// Spread the round robin start across producers, also when there
		// are more producers than channels.
		rr = producer % len(channels)
	}
	return &RecordWriter{
		bp:       backPressure,
		channels: channels,
		pool:     pool,
		out:      make([]target, len(channels)),
		part:     part,
		keySel:   keySel,
		maxPar:   maxParallelism,
		producer: producer,
		rr:       rr,
	}
}

// EmitBatch partitions and serializes every record of b.
func (w *RecordWriter) EmitBatch(ctx context.Context, b *api.Batch) error {
	n := len(w.channels)
	for i := range b.Records {
		r := &b.Records[i]
		switch w.part {
		case graph.Forward:
			if err := w.write(ctx, 0, r); err != nil {
				return err
			}
		case graph.Rebalance:
			w.rr++
			if w.rr >= n {
				w.rr = 0
			}
			if err := w.write(ctx, w.rr, r); err != nil {
				return err
			}
		case graph.Hash:
			rec := *r
			if w.keySel != nil {
				k, err := w.keySel(r, w.keyBuf[:0])
				if err != nil {
					return &KeyError{Err: err}
				}
				w.keyBuf = k
				rec.Key = k
			}
			ch := keygroup.SubtaskOf(rec.Key, n, w.maxPar)
			if err := w.write(ctx, ch, &rec); err != nil {
				return err
			}
		case graph.Broadcast:
			for ch := 0; ch < n; ch++ {
				if err := w.write(ctx, ch, r); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// KeyError is a key selector failure; the task reports it naming the operator.
type KeyError struct{ Err error }

func (e *KeyError) Error() string { return fmt.Sprintf("selecting the key: %v", e.Err) }
func (e *KeyError) Unwrap() error { return e.Err }

func (w *RecordWriter) write(ctx context.Context, ch int, r *api.Record) error {
	t := &w.out[ch]
	if t.seg == nil {
		if err := w.newBuffer(ctx, t); err != nil {
			return err
		}
	}
	full := t.w.Write(r)
	for full {
		if err := w.send(ctx, ch, t); err != nil {
			return err
		}
		if err := w.newBuffer(ctx, t); err != nil {
			return err
		}
		full = t.w.Continue()
	}
	return nil
}

func (w *RecordWriter) newBuffer(ctx context.Context, t *target) error {
	seg := w.pool.TryRequest()
	if seg == nil {
		start := time.Now()
		var err error
		seg, err = w.pool.Request(ctx)
		w.bp.Add(int64(time.Since(start)))
		if err != nil {
			return err
		}
	}
	t.seg = seg
	t.w.SetBuffer(seg.Bytes())
	return nil
}

// send ships t's current buffer on channel ch.
func (w *RecordWriter) send(ctx context.Context, ch int, t *target) error {
	b := Buffer{Kind: Data, Seg: t.seg, N: len(t.w.Filled())}
	t.seg = nil
	waited, err := w.channels[ch].Send(ctx, b)
	w.bp.Add(int64(waited))
	return err
}

// Flush sends every partly filled buffer.
func (w *RecordWriter) Flush(ctx context.Context) error {
	for ch := range w.out {
		t := &w.out[ch]
		if t.seg == nil || len(t.w.Filled()) == 0 {
			continue
		}
		if err := w.send(ctx, ch, t); err != nil {
			return err
		}
	}
	return nil
}

// BroadcastEvent flushes, then sends event e on every channel, so the event
// follows every record written before it.
func (w *RecordWriter) BroadcastEvent(ctx context.Context, e Buffer) error {
	if err := w.Flush(ctx); err != nil {
		return err
	}
	for _, c := range w.channels {
		waited, err := c.Send(ctx, e)
		w.bp.Add(int64(waited))
		if err != nil {
			return err
		}
	}
	return nil
}

// Close returns the buffers still held to the pool.
func (w *RecordWriter) Close() {
	for i := range w.out {
		if w.out[i].seg != nil {
			w.out[i].seg.Release()
			w.out[i].seg = nil
		}
	}
}
