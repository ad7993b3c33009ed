package memory

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// closedChan is returned by Available when a segment can be had right away.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// Pool is a bounded set of segments: at most Max are out at any time. Its
// methods are safe for concurrent use.
type Pool struct {
	m    *Manager
	name string
	max  int

	mu    sync.Mutex
	free  []*Segment    // released segments kept for reuse
	owned int           // segments this pool holds: free plus out
	dead  error         // ErrPoolDestroyed or ErrClosed once the pool stops
	wait  chan struct{} // closed on the next Release; nil when nobody waits

	inUse         atomic.Int64
	peak          atomic.Int64
	destroyedFlag atomic.Bool
}

// Name is the name the pool was created with.
func (p *Pool) Name() string { return p.name }

// Max is the number of segments the pool reserved.
func (p *Pool) Max() int { return p.max }

// TryRequest returns a free segment, or nil if the pool has none (all Max are
// out), is destroyed, or memory could not be mapped.
func (p *Pool) TryRequest() *Segment {
	p.mu.Lock()
	s, err := p.takeLocked()
	p.mu.Unlock()
	if err != nil && err != ErrPoolDestroyed && err != ErrClosed {
		p.m.log.Error("memory pool could not obtain a segment", "pool", p.name, "err", err)
	}
	return s
}

// Request returns a segment, waiting until one is released if all are out.
// It fails when ctx is done (the error wraps the context's cause), the pool is
// destroyed (ErrPoolDestroyed), the manager is closed (ErrClosed) or memory
// cannot be mapped. A segment that is free when Request is called is returned
// even if ctx is already done.
func (p *Pool) Request(ctx context.Context) (*Segment, error) {
	for {
		p.mu.Lock()
		s, err := p.takeLocked()
		if s != nil || err != nil {
			p.mu.Unlock()
			if err != nil {
				return nil, fmt.Errorf("requesting a segment from pool %q: %w", p.name, err)
			}
			return s, nil
		}
		ch := p.waitLocked()
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("requesting a segment from pool %q: %w", p.name, context.Cause(ctx))
		}
	}
}

// Available returns a channel that is closed when a segment may be available:
// at once if one is free now (or the pool is dead, so that Request reports
// why), else on the next Release. It lets a task wait for a buffer in the same
// select as its other inputs. A closed channel is a hint, not a promise:
// another goroutine may take the segment first, so follow it with TryRequest
// and wait again on nil.
func (p *Pool) Available() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dead != nil || len(p.free) > 0 || p.owned < p.max {
		return closedChan
	}
	return p.waitLocked()
}

func (p *Pool) waitLocked() chan struct{} {
	if p.wait == nil {
		p.wait = make(chan struct{})
	}
	return p.wait
}

// takeLocked hands out one segment: a free one, else a new one from the
// manager while the pool holds fewer than Max. It returns (nil, nil) when all
// Max are out. Caller holds p.mu.
func (p *Pool) takeLocked() (*Segment, error) {
	if p.dead != nil {
		return nil, p.dead
	}
	var s *Segment
	if n := len(p.free); n > 0 {
		s = p.free[n-1]
		p.free[n-1] = nil
		p.free = p.free[:n-1]
	} else if p.owned < p.max {
		var err error
		if s, err = p.m.materialize(); err != nil {
			return nil, err
		}
		p.owned++
		s.pool.Store(p)
	} else {
		return nil, nil
	}
	s.out.Store(true)
	if n := p.inUse.Add(1); n > p.peak.Load() {
		p.peak.Store(n) // written under p.mu only
	}
	p.m.noteOut()
	return s, nil
}

// release takes back a segment of this pool. A dead pool passes it on to the
// manager with its share of the reservation.
func (p *Pool) release(s *Segment) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inUse.Add(-1)
	p.m.usedSegs.Add(-1)
	if p.dead != nil {
		p.owned--
		var drop *Pool
		if p.owned == 0 {
			drop = p
		}
		p.m.giveBack([]*Segment{s}, 1, drop)
		return
	}
	p.free = append(p.free, s)
	if p.wait != nil {
		close(p.wait)
		p.wait = nil
	}
}

// Destroy stops the pool: Request fails with ErrPoolDestroyed from now on
// (waiting calls wake up and fail too), free segments go back to the manager
// for other pools, and the reservation is returned to the budget, except for
// segments still out, whose share returns as each is released. Destroy is
// idempotent.
func (p *Pool) Destroy() { p.kill(ErrPoolDestroyed) }

func (p *Pool) kill(reason error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dead != nil {
		return
	}
	p.dead = reason
	p.destroyedFlag.Store(true)
	out := p.owned - len(p.free)
	var drop *Pool
	if out == 0 {
		drop = p
	}
	p.m.giveBack(p.free, p.max-out, drop)
	p.free = nil
	p.owned = out
	if p.wait != nil {
		close(p.wait)
		p.wait = nil
	}
}

// Segment is one network buffer of SegmentSize bytes outside the Go heap.
// A segment has one holder at a time: the goroutine that requested it, or
// whoever it handed the segment to.
type Segment struct {
	mem  []byte
	pool atomic.Pointer[Pool] // the pool it was last handed out by
	out  atomic.Bool          // true while handed out
}

// Bytes is the segment's memory, SegmentSize bytes long. It must not be used
// after Release.
func (s *Segment) Bytes() []byte { return s.mem }

// Release returns the segment to its pool. Releasing a segment that is not
// out (a double release) changes nothing: it is logged with the pool's name
// and counted in Stats.DoubleReleases.
func (s *Segment) Release() {
	p := s.pool.Load()
	if p == nil {
		return // a Segment that no pool handed out
	}
	if !s.out.CompareAndSwap(true, false) {
		p.m.doubleReleases.Add(1)
		p.m.log.Error("memory segment released twice; ignoring the second release", "pool", p.name)
		return
	}
	p.release(s)
}
