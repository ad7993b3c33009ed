package network

import "sync"

// InputGate is the input side of a consumer subtask: it binds one channel per
// upstream producer subtask and hands the task their buffers, round robin over
// the channels that have data.
type InputGate struct {
	mu       sync.Mutex
	channels []*Channel
	inputOf  []int // input index per channel
	avail    []int // FIFO of channel indexes with queued buffers
	inAvail  []bool
	blocked  []bool
	notify   chan struct{}
}

// NewInputGate binds channels to a new gate; inputs[i] is the operator input
// (0 or 1) that channel i feeds.
func NewInputGate(channels []*Channel, inputs []int) *InputGate {
	g := &InputGate{
		channels: channels,
		inputOf:  inputs,
		inAvail:  make([]bool, len(channels)),
		blocked:  make([]bool, len(channels)),
		notify:   make(chan struct{}, 1),
	}
	for i, c := range channels {
		c.mu.Lock()
		c.gate, c.index = g, i
		queued := len(c.queue) > 0
		c.mu.Unlock()
		if queued {
			g.markAvailable(i)
		}
	}
	return g
}

// NumChannels is the number of channels of the gate.
func (g *InputGate) NumChannels() int { return len(g.channels) }

// Input returns the operator input that channel ch feeds.
func (g *InputGate) Input(ch int) int { return g.inputOf[ch] }

// Notify fires when a buffer may be available.
func (g *InputGate) Notify() <-chan struct{} { return g.notify }

func (g *InputGate) markAvailable(ch int) {
	g.mu.Lock()
	g.markAvailableLocked(ch)
	g.mu.Unlock()
}

func (g *InputGate) markAvailableLocked(ch int) {
	if g.inAvail[ch] || g.blocked[ch] {
		return
	}
	g.inAvail[ch] = true
	g.avail = append(g.avail, ch)
	select {
	case g.notify <- struct{}{}:
	default:
	}
}

// Poll returns the next buffer and its channel, or ok=false when none is queued.
func (g *InputGate) Poll() (ch int, b Buffer, ok bool) {
	for {
		g.mu.Lock()
		if len(g.avail) == 0 {
			g.mu.Unlock()
			return 0, Buffer{}, false
		}
		ch = g.avail[0]
		copy(g.avail, g.avail[1:])
		g.avail = g.avail[:len(g.avail)-1]
		g.inAvail[ch] = false
		blocked := g.blocked[ch]
		g.mu.Unlock()
		if blocked {
			continue
		}
		b, ok, more := g.channels[ch].pop()
		if more {
			g.markAvailable(ch)
		}
		if ok {
			return ch, b, true
		}
	}
}

// Recycle gives a processed data buffer back to its producer: the segment
// returns to the producer's pool and the channel regains a credit.
func (g *InputGate) Recycle(ch int, b Buffer) {
	if b.Kind != Data {
		return
	}
	b.Seg.Release()
	g.channels[ch].returnCredit()
}

// Block stops Poll from returning buffers of channel ch (checkpoint barrier
// alignment) until Unblock.
func (g *InputGate) Block(ch int) {
	g.mu.Lock()
	g.blocked[ch] = true
	g.mu.Unlock()
}

// Unblock lets channel ch's buffers through again.
func (g *InputGate) Unblock(ch int) {
	g.mu.Lock()
	g.blocked[ch] = false
	g.mu.Unlock()
	c := g.channels[ch]
	c.mu.Lock()
	queued := len(c.queue) > 0
	c.mu.Unlock()
	if queued {
		g.markAvailable(ch)
	}
}

// Close marks every channel closed: producers still sending have their
// buffers dropped instead of blocking forever, and queued buffers are released.
func (g *InputGate) Close() {
	for _, c := range g.channels {
		c.mu.Lock()
		c.closed = true
		drop := c.queue
		c.queue = nil
		c.mu.Unlock()
		for _, b := range drop {
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
