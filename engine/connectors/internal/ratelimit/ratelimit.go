// Package ratelimit paces sources against the wall clock with a token bucket,
// without busy-spinning: when the bucket is empty the source returns
// api.NothingAvailable and the bucket's Wake channel fires when the next token
// is due.
package ratelimit

import (
	"sync"
	"time"
)

// burstWindow bounds how far ahead a source may run after being idle: the
// bucket holds at most this much time's worth of tokens.
const burstWindow = 50 * time.Millisecond

// minWakeInterval is the shortest wait ArmWake arranges.
const minWakeInterval = time.Millisecond

// Bucket is a token bucket refilled at a fixed rate. It is used by one task
// goroutine; only the wake timer runs elsewhere.
type Bucket struct {
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time

	wake     chan struct{}
	mu       sync.Mutex // guards timer against Stop racing ArmWake
	timer    *time.Timer
	stopped  bool
	onWakeFn func()
}

// New returns a bucket filled at rate tokens per second, starting with one
// token so that the first row goes out at once. rate must be positive.
func New(rate float64) *Bucket {
	b := &Bucket{
		rate:   rate,
		burst:  max(1, rate*burstWindow.Seconds()),
		tokens: 1,
		wake:   make(chan struct{}, 1),
	}
	b.onWakeFn = b.signal
	return b
}

// Rate is the refill rate in tokens per second.
func (b *Bucket) Rate() float64 { return b.rate }

// Take takes up to want tokens at time now and returns how many it took.
func (b *Bucket) Take(now time.Time, want int) int {
	if b.last.IsZero() {
		b.last = now
	}
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(b.burst, b.tokens+d.Seconds()*b.rate)
		b.last = now
	}
	n := min(float64(want), b.tokens)
	if n < 1 {
		return 0
	}
	k := int(n)
	b.tokens -= float64(k)
	return k
}

// ArmWake makes Wake fire when the next token is due, as seen at now.
func (b *Bucket) ArmWake(now time.Time) {
	deficit := 1 - b.tokens
	d := time.Duration(deficit / b.rate * float64(time.Second))
	if !b.last.IsZero() {
		d -= now.Sub(b.last)
	}
	// Waking more than once a millisecond buys no latency worth its cost; at
	// high rates a wake-up then finds many tokens.
	d = max(d, minWakeInterval)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		return
	}
	if b.timer == nil {
		b.timer = time.AfterFunc(d, b.onWakeFn)
		return
	}
	b.timer.Reset(d)
}

func (b *Bucket) signal() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// Wake fires after ArmWake once a token is due. It is never nil.
func (b *Bucket) Wake() <-chan struct{} { return b.wake }

// Stop stops the wake timer; the bucket must not be armed again.
func (b *Bucket) Stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stopped = true
	if b.timer != nil {
		b.timer.Stop()
	}
}
