// Package network moves records between tasks: a producer subtask's
// RecordWriter serializes records into fixed-size buffers from its memory pool
// and sends each full buffer over a Channel to the consumer subtask's
// InputGate.
//
// Flow control is credit-based, as in Flink: a channel starts with as many
// credits as the consumer will queue buffers for it; sending a data buffer
// spends one, and the consumer returns it when it has processed the buffer. A
// producer without credit (or without a free buffer in its pool) blocks, and
// the time it blocks is its back-pressured time. So a slow consumer slows its
// producers all the way back to the sources, and the memory in flight stays
// within the pools' budgets.
//
// Events (watermarks, checkpoint barriers, end of partition) travel in band,
// in order with the data. They need no credit; consecutive watermarks on a
// channel coalesce, so a stalled consumer cannot make a queue grow without
// bound.
//
// Locks are taken per buffer, never per record.
//
// This package implements channels between subtasks of one process. Channels
// between processes keep the same interfaces (Channel's Send and the gate's
// Poll/Recycle) over a stream of the same buffers.
package network

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/freshet/freshet/engine/memory"
)

// Kind is what a buffer carries.
type Kind uint8

const (
	// Data is a buffer of serialized records.
	Data Kind = iota
	// Watermark carries the producer's watermark in Value.
	Watermark
	// Barrier carries checkpoint Value; Flags hold barrier options.
	Barrier
	// EndOfPartition says the producer sends nothing more on this channel.
	EndOfPartition
	// Idle marks the producer idle (Value 1) or active again (Value 0) for
	// watermark purposes.
	Idle
)

func (k Kind) String() string {
	switch k {
	case Data:
		return "data"
	case Watermark:
		return "watermark"
	case Barrier:
		return "barrier"
	case EndOfPartition:
		return "end-of-partition"
	case Idle:
		return "idle"
	}
	return "unknown"
}

// Buffer is one unit sent over a channel.
type Buffer struct {
	Kind  Kind
	Seg   *memory.Segment // Data only
	N     int             // bytes of Seg in use
	Value int64
	Flags uint32
}

// Bytes returns the filled bytes of a data buffer.
func (b *Buffer) Bytes() []byte { return b.Seg.Bytes()[:b.N] }

// ChannelID names one producer-subtask → consumer-subtask connection of a job edge.
type ChannelID struct {
	Job      string
	Edge     int
	Producer int
	Consumer int
}

func (id ChannelID) String() string {
	return fmt.Sprintf("%s/edge-%d/%d->%d", id.Job, id.Edge, id.Producer, id.Consumer)
}

// Channel is one connection between a producer subtask and a consumer
// subtask. It is created unbound; the consumer's gate binds it.
type Channel struct {
	id      ChannelID
	credits int // guarded by mu (the gate's once bound)

	mu     sync.Mutex
	queue  []Buffer // the queued buffers: a window of mem
	mem    []Buffer // queue's array from its start, reused as pop drains it
	gate   *InputGate
	index  int
	signal chan struct{} // credit returned
	closed bool          // consumer gone: sends are dropped
	ended  bool          // producer sent end of partition
}

func newChannel(id ChannelID, credits int) *Channel {
	return &Channel{id: id, credits: credits, signal: make(chan struct{}, 1)}
}

// ID returns the channel's identity.
func (c *Channel) ID() ChannelID { return c.id }

// Send queues b for the consumer. A data buffer waits for a credit; the time
// spent waiting is returned as back pressure. Send fails only when ctx ends.
func (c *Channel) Send(ctx context.Context, b Buffer) (time.Duration, error) {
	var waited time.Duration
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			if b.Kind == Data {
				b.Seg.Release()
			}
			return waited, nil
		}
		if b.Kind != Data || c.credits > 0 {
			if b.Kind == Data {
				c.credits--
			}
			g, idx := c.enqueueLocked(b)
			c.mu.Unlock()
			if g != nil {
				g.markAvailable(idx)
			}
			return waited, nil
		}
		c.mu.Unlock()
		start := time.Now()
		select {
		case <-c.signal:
		case <-ctx.Done():
			if b.Kind == Data {
				b.Seg.Release()
			}
			return waited + time.Since(start), ctx.Err()
		}
		waited += time.Since(start)
	}
}

// enqueueLocked appends b and returns the gate to tell, if any.
func (c *Channel) enqueueLocked(b Buffer) (*InputGate, int) {
	if b.Kind == Watermark && len(c.queue) > 0 && c.queue[len(c.queue)-1].Kind == Watermark {
		c.queue[len(c.queue)-1] = b // coalesce: only the latest watermark matters
		return nil, 0
	}
	if b.Kind == EndOfPartition {
		c.ended = true
	}
	if len(c.queue) == cap(c.queue) {
		if cap(c.queue) < cap(c.mem) {
			// The front of the array was popped: move the queue back to
			// its start instead of growing a new array.
			mem := c.mem[:cap(c.mem)]
			n := copy(mem, c.queue)
			clear(mem[n:])
			c.queue = mem[:n]
		} else {
			c.queue = append(c.queue, b)
			c.mem = c.queue
			return c.gate, c.index
		}
	}
	c.queue = append(c.queue, b)
	return c.gate, c.index
}

// pop takes the head buffer; more reports whether others remain.
func (c *Channel) pop() (b Buffer, ok, more bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) == 0 {
		return Buffer{}, false, false
	}
	b = c.queue[0]
	c.queue[0] = Buffer{}
	c.queue = c.queue[1:]
	if len(c.queue) == 0 {
		c.queue = c.mem[:0] // start again at the front: no allocation
	}
	return b, true, len(c.queue) > 0
}

func (c *Channel) returnCredit() {
	c.mu.Lock()
	c.credits++
	c.mu.Unlock()
	select {
	case c.signal <- struct{}{}:
	default:
	}
}

// Network creates channels by ID so that a producer and a consumer that start
// in any order meet on the same channel. One Network serves every task of a
// process.
type Network struct {
	credits int
	mu      sync.Mutex
	chans   map[ChannelID]*Channel
}

// New returns a network whose channels grant credits buffers each.
func New(credits int) *Network {
	if credits < 1 {
		credits = 1
	}
	return &Network{credits: credits, chans: map[ChannelID]*Channel{}}
}

// Credits is the number of buffers a consumer queues per channel.
func (n *Network) Credits() int { return n.credits }

// Channel returns the channel id, creating it if needed.
func (n *Network) Channel(id ChannelID) *Channel {
	n.mu.Lock()
	defer n.mu.Unlock()
	c, ok := n.chans[id]
	if !ok {
		c = newChannel(id, n.credits)
		n.chans[id] = c
	}
	return c
}

// Release forgets every channel of job, releasing buffers still queued.
func (n *Network) Release(job string) {
	n.mu.Lock()
	var drop []*Channel
	for id, c := range n.chans {
		if id.Job == job {
			drop = append(drop, c)
			delete(n.chans, id)
		}
	}
	n.mu.Unlock()
	for _, c := range drop {
		c.mu.Lock()
		c.closed = true
		q := c.queue
		c.queue = nil
		c.mu.Unlock()
		for _, b := range q {
			if b.Kind == Data {
				b.Seg.Release()
			}
		}
		select {
		case c.signal <- struct{}{}:
		default:
		}
	}
}
