package eventtime

import (
	"time"

	"github.com/freshet/freshet/engine/api"
)

// Generator derives watermarks from the timestamps of a stream (Flink's
// WatermarkGenerator). One Generator serves one subtask, from its task
// goroutine.
type Generator interface {
	// OnEvent sees every record with its timestamp. A punctuated generator
	// returns a watermark to emit right after the record (emit true).
	OnEvent(r *api.Record, ts int64) (wm int64, emit bool)
	// OnPeriodicEmit returns the current watermark; it is called every
	// Strategy.Interval and emitted when it advances (api.MinWatermark: none yet).
	OnPeriodicEmit() int64
}

// BoundedOutOfOrderness returns generators whose watermark trails the
// largest timestamp seen by maxDelay: a record may arrive up to maxDelay
// after a record with a later timestamp without being late.
func BoundedOutOfOrderness(maxDelay time.Duration) func() Generator {
	d := maxDelay.Milliseconds()
	return func() Generator { return &bounded{delay: d, max: api.MinWatermark} }
}

// Monotonous returns generators for timestamps that never decrease: the
// watermark is the largest timestamp seen minus one ms.
func Monotonous() func() Generator { return BoundedOutOfOrderness(0) }

type bounded struct {
	delay, max int64
}

func (g *bounded) OnEvent(_ *api.Record, ts int64) (int64, bool) {
	if ts > g.max {
		g.max = ts
	}
	return 0, false
}

func (g *bounded) OnPeriodicEmit() int64 {
	if g.max == api.MinWatermark {
		return api.MinWatermark
	}
	return g.max - g.delay - 1
}

// Punctuated returns generators that ask fn for every record whether it
// carries a watermark (for example a marker record written by the
// producer); fn returns the watermark and true to emit it.
func Punctuated(fn func(r *api.Record, ts int64) (wm int64, ok bool)) func() Generator {
	return func() Generator { return punctuated(fn) }
}

type punctuated func(r *api.Record, ts int64) (int64, bool)

func (p punctuated) OnEvent(r *api.Record, ts int64) (int64, bool) { return p(r, ts) }
func (punctuated) OnPeriodicEmit() int64                           { return api.MinWatermark }
