package cluster

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// RestartStrategy decides whether and when a failed job restarts from its
// latest checkpoint.
type RestartStrategy interface {
	// Next records a failure at now and returns the delay before restarting,
	// or ok=false when the job should fail for good.
	Next(now time.Time) (delay time.Duration, ok bool)
	String() string
}

// NoRestart fails the job on its first failure.
type NoRestart struct{}

func (NoRestart) Next(time.Time) (time.Duration, bool) { return 0, false }
func (NoRestart) String() string                       { return "none" }

// FixedDelay restarts up to Attempts times, Delay apart.
type FixedDelay struct {
	Attempts int
	Delay    time.Duration
	used     int
}

func (f *FixedDelay) Next(time.Time) (time.Duration, bool) {
	if f.used >= f.Attempts {
		return 0, false
	}
	f.used++
	return f.Delay, true
}

func (f *FixedDelay) String() string {
	return fmt.Sprintf("fixed-delay (%d attempts, %s apart)", f.Attempts, f.Delay)
}

// FailureRate restarts unless more than MaxFailures happened within Interval.
type FailureRate struct {
	MaxFailures int
	Interval    time.Duration
	Delay       time.Duration
	failures    []time.Time
}

func (f *FailureRate) Next(now time.Time) (time.Duration, bool) {
	keep := f.failures[:0]
	for _, t := range f.failures {
		if now.Sub(t) < f.Interval {
			keep = append(keep, t)
		}
	}
	f.failures = append(keep, now)
	if len(f.failures) > f.MaxFailures {
		return 0, false
	}
	return f.Delay, true
}

func (f *FailureRate) String() string {
	return fmt.Sprintf("failure-rate (%d per %s, %s delay)", f.MaxFailures, f.Interval, f.Delay)
}

// ExponentialDelay restarts forever with a growing delay: Initial, then
// ×Multiplier per failure up to Max, each with ±Jitter. A job that ran
// without failure for ResetAfter starts again from Initial.
type ExponentialDelay struct {
	Initial, Max, ResetAfter time.Duration
	Multiplier, Jitter       float64
	current                  time.Duration
	last                     time.Time
}

// DefaultExponentialDelay is the default strategy when checkpointing is on.
func DefaultExponentialDelay() *ExponentialDelay {
	return &ExponentialDelay{Initial: time.Second, Max: time.Minute, ResetAfter: time.Hour, Multiplier: 1.5, Jitter: 0.1}
}

func (e *ExponentialDelay) Next(now time.Time) (time.Duration, bool) {
	if e.current == 0 || (!e.last.IsZero() && e.ResetAfter > 0 && now.Sub(e.last) > e.ResetAfter) {
		e.current = e.Initial
	} else {
		e.current = min(time.Duration(float64(e.current)*e.Multiplier), e.Max)
	}
	e.last = now
	d := e.current
	if e.Jitter > 0 {
		d += time.Duration((rand.Float64()*2 - 1) * e.Jitter * float64(d))
	}
	return max(d, 0), true
}

func (e *ExponentialDelay) String() string {
	return fmt.Sprintf("exponential-delay (%s initial, ×%.1f, %s max)", e.Initial, e.Multiplier, e.Max)
}
