package eventtime

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/onerror"
)

// DefaultInterval is how often periodic watermarks are emitted by default.
const DefaultInterval = 200 * time.Millisecond

// ErrConfig is wrapped by Strategy.Validate errors.
var ErrConfig = errors.New("invalid watermark strategy")

// Strategy says how a stream gets timestamps and watermarks.
type Strategy struct {
	// Timestamps reads each record's event time (default: RecordTimestamp).
	Timestamps TimestampAssigner
	// Watermarks makes the generator of each subtask (required).
	Watermarks func() Generator
	// Interval is the period of periodic watermarks (default 200 ms).
	Interval time.Duration
	// Idleness, when positive, marks the output idle after that long
	// without records.
	Idleness time.Duration
	// Alignment, when its Group is set, aligns watermarks across sources.
	Alignment Alignment
	// OnError is applied to records without a usable timestamp.
	OnError onerror.Policy
}

// Validate checks the strategy.
func (s *Strategy) Validate() error {
	switch {
	case s.Watermarks == nil:
		return fmt.Errorf("%w: no watermark generator", ErrConfig)
	case s.Interval < 0:
		return fmt.Errorf("%w: interval %s is negative", ErrConfig, s.Interval)
	case s.Idleness < 0:
		return fmt.Errorf("%w: idleness %s is negative", ErrConfig, s.Idleness)
	case s.Alignment.Group != "" && s.Alignment.MaxDrift <= 0:
		return fmt.Errorf("%w: alignment group %q needs a positive max drift", ErrConfig, s.Alignment.Group)
	}
	return nil
}

// New validates s and returns a constructor of watermark operators, one per
// subtask.
func New(s Strategy) (func() (api.Operator, error), error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return func() (api.Operator, error) { return NewOperator(s) }, nil
}

// NewOperator returns one watermark operator subtask.
func NewOperator(s Strategy) (*Operator, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if s.Timestamps == nil {
		s.Timestamps = RecordTimestamp()
	}
	if s.Interval == 0 {
		s.Interval = DefaultInterval
	}
	return &Operator{s: s, gen: s.Watermarks(), lastWM: api.MinWatermark, maxAllowed: api.MaxWatermark}, nil
}

// Operator assigns timestamps and generates watermarks. It implements
// api.Operator, api.Ticker and api.WatermarkGenerator.
type Operator struct {
	s       Strategy
	gen     Generator
	ctx     api.Context
	emitter api.WatermarkEmitter
	bad     *onerror.Handler
	rec     api.Record

	lastWM   int64 // last emitted
	sawData  bool  // records arrived since the last tick
	lastData time.Time
	idle     bool
	ended    bool

	coord      AlignmentCoordinator
	member     string
	maxAllowed int64
}

// GeneratesWatermarks tells the runtime not to forward upstream watermarks.
func (o *Operator) GeneratesWatermarks() bool { return true }

// Open checks that the runtime can take watermarks from the operator.
func (o *Operator) Open(ctx api.Context) error {
	o.ctx = ctx
	we, ok := ctx.(api.WatermarkEmitter)
	if !ok {
		return fmt.Errorf("watermarks %q: the runtime offers no watermark emitter", ctx.OperatorName())
	}
	o.emitter = we
	var err error
	if o.bad, err = o.s.OnError.NewHandler(ctx); err != nil {
		return fmt.Errorf("watermarks %q: %w", ctx.OperatorName(), err)
	}
	o.lastData = ctx.ProcessingTime()
	if a := o.s.Alignment; a.Group != "" {
		o.coord = a.Coordinator
		if o.coord == nil {
			if p, ok := ctx.(CoordinatorProvider); ok {
				o.coord = p.AlignmentCoordinator()
			}
		}
		if o.coord == nil {
			o.coord = DefaultCoordinator
		}
		o.member = ctx.OperatorName() + "#" + strconv.Itoa(ctx.Subtask())
		o.maxAllowed = o.coord.Report(a.Group, o.member, api.MinWatermark, a.MaxDrift)
	}
	return nil
}

// ProcessBatch stamps every record with its event time and emits it, and
// any punctuated watermark right after the record that produced it.
func (o *Operator) ProcessBatch(in *api.Batch, out api.Output) error {
	if in.Len() > 0 {
		o.sawData = true
		if o.idle {
			o.idle = false // emitting a record makes the output active again
		}
	}
	for i := range in.Records {
		r := &in.Records[i]
		ts, err := o.s.Timestamps.Timestamp(r)
		if err != nil {
			if err := o.bad.Handle(position(r), r.Value, err); err != nil {
				return fmt.Errorf("assigning timestamps (%s): %w", o.s.Timestamps, err)
			}
			continue
		}
		o.rec = *r
		o.rec.Timestamp = ts
		out.Emit(&o.rec)
		if wm, ok := o.gen.OnEvent(&o.rec, ts); ok && wm > o.lastWM {
			o.lastWM = wm
			o.emitter.EmitWatermark(wm)
		}
	}
	o.rec = api.Record{}
	return nil
}

// ProcessWatermark swallows upstream watermarks; the end of input
// (MaxWatermark) passes.
func (o *Operator) ProcessWatermark(wm int64, _ api.Output) error {
	if wm != api.MaxWatermark || o.ended {
		return nil
	}
	o.ended = true
	o.lastWM = wm
	o.emitter.EmitWatermark(wm)
	if o.coord != nil {
		o.coord.Leave(o.s.Alignment.Group, o.member)
		o.maxAllowed = api.MaxWatermark
	}
	return nil
}

// TickInterval is the periodic emission interval.
func (o *Operator) TickInterval() time.Duration { return o.s.Interval }

// OnTick emits the periodic watermark, detects idleness and reports to the
// alignment coordinator.
func (o *Operator) OnTick(now time.Time, _ api.Output) error {
	if o.ended {
		return nil
	}
	if o.sawData {
		o.sawData = false
		o.lastData = now
	} else if d := o.s.Idleness; d > 0 && !o.idle && now.Sub(o.lastData) >= d {
		o.idle = true
		o.emitter.MarkIdle()
		if o.coord != nil {
			o.coord.Leave(o.s.Alignment.Group, o.member)
			o.maxAllowed = api.MaxWatermark
		}
		return nil
	}
	if o.idle {
		return nil
	}
	if wm := o.gen.OnPeriodicEmit(); wm > o.lastWM {
		o.lastWM = wm
		o.emitter.EmitWatermark(wm)
	}
	if o.coord != nil {
		o.maxAllowed = o.coord.Report(o.s.Alignment.Group, o.member, o.lastWM, o.s.Alignment.MaxDrift)
	}
	return nil
}

// PauseSource reports whether the source this operator follows should stop
// polling: its watermark ran more than the maximum drift ahead of its
// alignment group. The runtime asks before every poll and keeps calling
// OnTick while paused, which refreshes the answer.
func (o *Operator) PauseSource() bool { return o.coord != nil && o.lastWM > o.maxAllowed }

// Watermark is the last watermark the operator emitted.
func (o *Operator) Watermark() int64 { return o.lastWM }

// Finish has nothing to flush: the end of input arrived as MaxWatermark.
func (o *Operator) Finish(api.Output) error { return nil }

// Close leaves the alignment group and closes the on-error handler.
func (o *Operator) Close() error {
	if o.coord != nil {
		o.coord.Leave(o.s.Alignment.Group, o.member)
	}
	return o.bad.Close()
}

func position(r *api.Record) string {
	var b []byte
	if len(r.Key) > 0 {
		b = append(b, "record with key "...)
		b = strconv.AppendQuote(b, string(r.Key))
	} else {
		b = append(b, "record"...)
	}
	if r.HasTimestamp() {
		b = append(b, " at "...)
		b = strconv.AppendInt(b, r.Timestamp, 10)
	}
	return string(b)
}
