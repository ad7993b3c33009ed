package windows

import (
	"encoding/binary"
	"fmt"
	"iter"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/onerror"
)

// JoinConfig describes a window join: the elements of two keyed inputs that
// fall into the same window of the same key are joined when the window fires.
// Set CoGroup, or Join for an inner join of every pair.
type JoinConfig struct {
	Assigner        Assigner
	Trigger         Trigger
	AllowedLateness time.Duration
	LateOutput      string
	// CoGroup is called once per fired window with the elements (record
	// values) of each input, in arrival order; either side may be empty.
	CoGroup func(key []byte, w Window, left, right [][]byte, out api.Output) error
	// Join is called for every pair of a left and a right element.
	Join func(key []byte, w Window, left, right []byte, out api.Output) error
	// Distinct keeps one copy of equal elements of each input per key and
	// window: the join of two GROUP BY results (Nexmark q8's persons and
	// sellers per window), where repeated rows add nothing to the result.
	Distinct  bool
	OnError   onerror.Policy
	StateName string
}

// NewWindowJoin validates cfg and returns a constructor of window join
// operators (api.TwoInputOperator), one per subtask.
func NewWindowJoin(cfg JoinConfig) (func() (api.Operator, error), error) {
	if (cfg.CoGroup == nil) == (cfg.Join == nil) {
		return nil, fmt.Errorf("%w: a window join needs CoGroup or Join (one of them)", ErrConfig)
	}
	if cfg.StateName == "" {
		cfg.StateName = "join"
	}
	wc := Config{Assigner: cfg.Assigner, Trigger: cfg.Trigger, AllowedLateness: cfg.AllowedLateness,
		LateOutput: cfg.LateOutput, Distinct: cfg.Distinct, OnError: cfg.OnError, StateName: cfg.StateName, Process: func(key []byte, w Window, elems iter.Seq[[]byte], out api.Output) error { return nil }}
	if err := wc.Validate(); err != nil {
		return nil, err
	}
	return func() (api.Operator, error) {
		j := &WindowJoin{cfg: cfg}
		c := wc
		c.Process = j.process
		op, err := NewOperator(c)
		if err != nil {
			return nil, err
		}
		op.tag = 1
		j.Operator = op
		return j, nil
	}, nil
}

// WindowJoin is a window join subtask: input 0 is the left side, input 1 the right.
type WindowJoin struct {
	*Operator
	cfg         JoinConfig
	left, right [][]byte
}

// ProcessBatch2 adds the records of the right input to their windows.
func (j *WindowJoin) ProcessBatch2(in *api.Batch, out api.Output) error {
	return j.processBatch(in, out, 1)
}

func (j *WindowJoin) process(key []byte, w Window, elems iter.Seq[[]byte], out api.Output) error {
	j.left, j.right = j.left[:0], j.right[:0]
	for e := range elems {
		if len(e) == 0 {
			continue
		}
		v := append([]byte(nil), e[1:]...)
		if e[0] == 0 {
			j.left = append(j.left, v)
		} else {
			j.right = append(j.right, v)
		}
	}
	if j.cfg.CoGroup != nil {
		return j.cfg.CoGroup(key, w, j.left, j.right, out)
	}
	for _, l := range j.left {
		for _, r := range j.right {
			if err := j.cfg.Join(key, w, l, r, out); err != nil {
				return err
			}
		}
	}
	return nil
}

// IntervalJoinConfig describes an interval join: each left element with
// timestamp t joins the right elements of the same key whose timestamps lie
// in [t+Lower, t+Upper]. Elements are buffered in keyed state until the
// watermark passes the last time they can still match.
type IntervalJoinConfig struct {
	Lower, Upper time.Duration
	// Join is called for every matching pair with both timestamps; the
	// output records it emits should carry max(leftTs, rightTs).
	Join func(key []byte, left, right []byte, leftTs, rightTs int64, out api.Output) error
	// LateOutput names the side output for records behind the watermark;
	// without it they are dropped and counted.
	LateOutput string
	OnError    onerror.Policy
	StateName  string
}

// NewIntervalJoin validates cfg and returns a constructor of interval join
// operators (api.TwoInputOperator), one per subtask.
func NewIntervalJoin(cfg IntervalJoinConfig) (func() (api.Operator, error), error) {
	switch {
	case cfg.Join == nil:
		return nil, fmt.Errorf("%w: an interval join needs Join", ErrConfig)
	case cfg.Lower > cfg.Upper:
		return nil, fmt.Errorf("%w: interval join lower bound %s is above the upper bound %s", ErrConfig, cfg.Lower, cfg.Upper)
	}
	if cfg.StateName == "" {
		cfg.StateName = "interval-join"
	}
	return func() (api.Operator, error) {
		return &IntervalJoin{cfg: cfg, lower: cfg.Lower.Milliseconds(), upper: cfg.Upper.Milliseconds()}, nil
	}, nil
}

// IntervalJoin is an interval join subtask: input 0 is the left side, input 1 the right.
type IntervalJoin struct {
	api.BaseOperator
	cfg          IntervalJoinConfig
	lower, upper int64
	core         opCore
	buf          [2]api.MapState
	bad          *onerror.Handler
	lateOut      api.Output
	lateDrop     api.Counter
	lateSide     api.Counter
	out          api.Output
	tsKey, list  []byte
	ns           [1]byte
	keyBuf       []byte
	err          error
	match        func(uk, v []byte) bool
	side         int
	ts           int64
	elem         []byte
}

// Open declares the two buffers.
func (j *IntervalJoin) Open(ctx api.Context) error {
	if err := j.core.open(ctx, j.cfg.StateName); err != nil {
		return fmt.Errorf("interval join %w", err)
	}
	for i, side := range []string{"left", "right"} {
		ms, err := j.core.ks.Map(api.StateDescriptor{Name: j.cfg.StateName + "." + side, Kind: api.MapStateKind})
		if err != nil {
			return fmt.Errorf("interval join %q: declaring state: %w", ctx.OperatorName(), err)
		}
		j.buf[i] = ms
	}
	var err error
	if j.bad, err = j.cfg.OnError.NewHandler(ctx); err != nil {
		return fmt.Errorf("interval join %q: %w", ctx.OperatorName(), err)
	}
	if j.cfg.LateOutput != "" {
		j.lateOut = ctx.SideOutput(j.cfg.LateOutput)
		j.lateSide = ctx.Counter(LateSideOutputCounter)
	}
	j.lateDrop = ctx.Counter(LateDroppedCounter)
	j.match = j.matchEntry
	return nil
}

// Close closes the on-error handler.
func (j *IntervalJoin) Close() error { return j.bad.Close() }

// ProcessBatch joins records of the left input.
func (j *IntervalJoin) ProcessBatch(in *api.Batch, out api.Output) error {
	return j.processBatch(in, out, 0)
}

// ProcessBatch2 joins records of the right input.
func (j *IntervalJoin) ProcessBatch2(in *api.Batch, out api.Output) error {
	return j.processBatch(in, out, 1)
}

func (j *IntervalJoin) processBatch(in *api.Batch, out api.Output, side int) error {
	j.out = out
	for i := range in.Records {
		if err := j.processRecord(&in.Records[i], side); err != nil {
			return err
		}
	}
	return nil
}

// cleanupDelay is how long after its timestamp an element of side can
// still match.
func (j *IntervalJoin) cleanupDelay(side int) int64 {
	if side == 0 {
		return max(j.upper, 0)
	}
	return max(-j.lower, 0)
}

func appendTS(dst []byte, ts int64) []byte {
	return binary.BigEndian.AppendUint64(dst, uint64(ts)^(1<<63))
}

func (j *IntervalJoin) processRecord(r *api.Record, side int) error {
	if !r.HasTimestamp() {
		return j.bad.Handle(position(r), r.Value, ErrNoTimestamp)
	}
	ts := r.Timestamp
	if wm := j.core.watermark(); wm != api.MinWatermark && ts < wm {
		if j.lateOut != nil {
			j.lateOut.Emit(r)
			j.lateSide.Add(1)
		} else {
			j.lateDrop.Add(1)
		}
		return nil
	}
	ks := j.core.ks
	ks.SetCurrentKey(r.Key)
	ks.SetCurrentNamespace(nil)
	// Buffer the element under its timestamp.
	own := j.buf[side]
	j.tsKey = appendTS(j.tsKey[:0], ts)
	old, _, err := own.Get(j.tsKey)
	if err != nil {
		return fmt.Errorf("interval join: reading buffer: %w", err)
	}
	j.list = append(j.list[:0], old...)
	j.list = binary.AppendUvarint(j.list, uint64(len(r.Value)))
	j.list = append(j.list, r.Value...)
	if err := own.Put(j.tsKey, j.list); err != nil {
		return fmt.Errorf("interval join: buffering: %w", err)
	}
	// Join with the other side's buffered elements in range.
	j.side, j.ts, j.elem, j.err = side, ts, r.Value, nil
	j.keyBuf = append(j.keyBuf[:0], r.Key...)
	if err := j.buf[1-side].Iter(j.match); err != nil {
		return fmt.Errorf("interval join: reading buffer: %w", err)
	}
	if j.err != nil {
		return j.err
	}
	j.elem = nil
	j.ns[0] = byte('L' + side*('R'-'L'))
	ks.SetCurrentNamespace(j.ns[:])
	err = j.core.timers.RegisterEventTimeTimer(addSat(ts, j.cleanupDelay(side)))
	ks.SetCurrentNamespace(nil)
	return err
}

// matchEntry joins the current element with the other side's elements at
// timestamp uk, when it lies in range.
func (j *IntervalJoin) matchEntry(uk, v []byte) bool {
	if len(uk) != 8 {
		j.err = fmt.Errorf("interval join: %w: buffer key of %d bytes", ErrCorruptState, len(uk))
		return false
	}
	other := int64(binary.BigEndian.Uint64(uk) ^ (1 << 63))
	lt, rt := j.ts, other
	if j.side == 1 {
		lt, rt = other, j.ts
	}
	if rt < lt+j.lower || rt > lt+j.upper {
		return true
	}
	for len(v) > 0 {
		n, k := binary.Uvarint(v)
		if k <= 0 || uint64(len(v)-k) < n {
			j.err = fmt.Errorf("interval join: %w: malformed buffer", ErrCorruptState)
			return false
		}
		e := v[k : k+int(n)]
		v = v[k+int(n):]
		l, r := j.elem, e
		if j.side == 1 {
			l, r = e, j.elem
		}
		if err := j.cfg.Join(j.keyBuf, l, r, lt, rt, j.out); err != nil {
			j.err = fmt.Errorf("interval join function: %w", err)
			return false
		}
	}
	return true
}

// OnTimer drops buffered elements that can no longer match.
func (j *IntervalJoin) OnTimer(t api.Timer, out api.Output) error {
	if len(t.Namespace) != 1 || (t.Namespace[0] != 'L' && t.Namespace[0] != 'R') {
		return fmt.Errorf("interval join timer: %w", ErrBadNamespace)
	}
	side := 0
	if t.Namespace[0] == 'R' {
		side = 1
	}
	j.core.ks.SetCurrentNamespace(nil)
	j.tsKey = appendTS(j.tsKey[:0], t.Timestamp-j.cleanupDelay(side))
	if err := j.buf[side].Delete(j.tsKey); err != nil {
		return fmt.Errorf("interval join: dropping buffered elements: %w", err)
	}
	return nil
}
