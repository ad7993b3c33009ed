package stream

import (
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/eventtime"
	"github.com/freshet/freshet/engine/graph"
	"github.com/freshet/freshet/engine/windows"
)

// Event time and windows (packages eventtime and windows) in the DataStream API:
//
//	env.FromSource("bids", src).
//		AssignTimestampsAndWatermarks("ts", eventtime.Strategy{
//			Watermarks: eventtime.BoundedOutOfOrderness(5 * time.Second)}).
//		KeyBy(byAuction).
//		Window(windows.Tumbling(10 * time.Second)).
//		Aggregate("max-price", windows.Numeric(windows.MaxAgg), windows.NumberField(price))

// AssignTimestampsAndWatermarks adds the operator that stamps records with
// their event time and generates watermarks by strategy s. Chain it right
// after the source: it replaces the source's watermarks.
func (d *DataStream) AssignTimestampsAndWatermarks(name string, s eventtime.Strategy) *DataStream {
	newOp, err := eventtime.New(s)
	if err != nil {
		d.env.errorf("watermarks %q: %w", name, err)
		newOp = func() (api.Operator, error) { return nil, err }
	}
	return d.Transform(name, newOp)
}

// WindowedStream is a keyed stream with a window assigner, waiting for its
// window function. Its methods configure and return it.
type WindowedStream struct {
	k   *KeyedStream
	cfg windows.Config
}

// Window groups the keyed stream into windows of assigner a.
func (k *KeyedStream) Window(a windows.Assigner) *WindowedStream {
	return &WindowedStream{k: k, cfg: windows.Config{Assigner: a}}
}

// Trigger replaces the assigner's default trigger.
func (w *WindowedStream) Trigger(t windows.Trigger) *WindowedStream { w.cfg.Trigger = t; return w }

// AllowedLateness keeps event-time windows d after they fired; late records
// within d fire them again.
func (w *WindowedStream) AllowedLateness(d time.Duration) *WindowedStream {
	w.cfg.AllowedLateness = d
	return w
}

// SideOutputLateData sends late records to side output tag (read it with
// SideOutput(tag) on the result) instead of dropping them.
func (w *WindowedStream) SideOutputLateData(tag string) *WindowedStream {
	w.cfg.LateOutput = tag
	return w
}

// Input derives the element each record adds to its windows (default: the
// record value).
func (w *WindowedStream) Input(fn windows.InputFunc) *WindowedStream { w.cfg.Input = fn; return w }

// Reduce folds each window's elements with fn and emits the result.
func (w *WindowedStream) Reduce(name string, fn windows.ReduceFunc) *DataStream {
	c := w.cfg
	c.Reduce = fn
	return w.build(name, c)
}

// Aggregate folds each window's elements with agg (elements from input, or
// the record values when input is nil) and emits the result. Every subtask
// calls the same agg, so it must be safe for concurrent use; an aggregate
// with state of its own (a WebAssembly one) goes through AggregateEach.
func (w *WindowedStream) Aggregate(name string, agg api.AggregateFunction, input windows.InputFunc) *DataStream {
	c := w.cfg
	c.Aggregate = agg
	if input != nil {
		c.Input = input
	}
	return w.build(name, c)
}

// AggregateEach is Aggregate with an aggregate of its own per subtask,
// made by newAgg (for example host.NewAggregateFunction of a module); the
// operator closes it and fails when it reports an error (windows.Config
// NewAggregate).
func (w *WindowedStream) AggregateEach(name string, newAgg func() (api.AggregateFunction, error), input windows.InputFunc) *DataStream {
	c := w.cfg
	c.NewAggregate = newAgg
	if input != nil {
		c.Input = input
	}
	return w.build(name, c)
}

// AggregateProcess folds with agg and hands the single result to fn with
// the window's key and bounds.
func (w *WindowedStream) AggregateProcess(name string, agg api.AggregateFunction, input windows.InputFunc, fn windows.ProcessWindowFunc) *DataStream {
	c := w.cfg
	c.Aggregate, c.Process = agg, fn
	if input != nil {
		c.Input = input
	}
	return w.build(name, c)
}

// Process keeps every element and hands them to fn when the window fires.
func (w *WindowedStream) Process(name string, fn windows.ProcessWindowFunc) *DataStream {
	c := w.cfg
	c.Process = fn
	return w.build(name, c)
}

func (w *WindowedStream) build(name string, c windows.Config) *DataStream {
	newOp, err := windows.New(c)
	if err != nil {
		w.k.env.errorf("window %q: %w", name, err)
		newOp = func() (api.Operator, error) { return nil, err }
	}
	return w.k.Transform(name, newOp)
}

// JoinedStreams pairs two keyed streams for a window join. Both must be
// keyed the same way: records join when their keys are equal.
type JoinedStreams struct {
	left, right *KeyedStream
	cfg         windows.JoinConfig
}

// Join starts a window join of k (left) with other (right).
func (k *KeyedStream) Join(other *KeyedStream) *JoinedStreams {
	return &JoinedStreams{left: k, right: other}
}

// Window sets the windows both sides are grouped into.
func (j *JoinedStreams) Window(a windows.Assigner) *JoinedStreams { j.cfg.Assigner = a; return j }

// Trigger replaces the assigner's default trigger.
func (j *JoinedStreams) Trigger(t windows.Trigger) *JoinedStreams { j.cfg.Trigger = t; return j }

// AllowedLateness keeps windows d after they fired.
func (j *JoinedStreams) AllowedLateness(d time.Duration) *JoinedStreams {
	j.cfg.AllowedLateness = d
	return j
}

// SideOutputLateData sends late records of both sides to side output tag.
func (j *JoinedStreams) SideOutputLateData(tag string) *JoinedStreams {
	j.cfg.LateOutput = tag
	return j
}

// Distinct keeps one copy of equal elements of each side per key and
// window (windows.JoinConfig.Distinct): the join of two GROUP BY results.
func (j *JoinedStreams) Distinct() *JoinedStreams { j.cfg.Distinct = true; return j }

// Apply calls fn for every pair of a left and a right element of one key
// in one window (an inner join).
func (j *JoinedStreams) Apply(name string, fn func(key []byte, w windows.Window, left, right []byte, out api.Output) error) *DataStream {
	c := j.cfg
	c.Join = fn
	newOp, err := windows.NewWindowJoin(c)
	return j.left.twoInput(name, j.right, newOp, err)
}

// CoGroup calls fn once per key and window with the elements of both sides.
func (j *JoinedStreams) CoGroup(name string, fn func(key []byte, w windows.Window, left, right [][]byte, out api.Output) error) *DataStream {
	c := j.cfg
	c.CoGroup = fn
	newOp, err := windows.NewWindowJoin(c)
	return j.left.twoInput(name, j.right, newOp, err)
}

// IntervalJoined pairs two keyed streams for an interval join.
type IntervalJoined struct {
	left, right *KeyedStream
	cfg         windows.IntervalJoinConfig
}

// IntervalJoin starts an interval join of k (left) with other (right).
func (k *KeyedStream) IntervalJoin(other *KeyedStream) *IntervalJoined {
	return &IntervalJoined{left: k, right: other}
}

// Between joins each left element at t with the right elements of its key
// in [t+lower, t+upper].
func (j *IntervalJoined) Between(lower, upper time.Duration) *IntervalJoined {
	j.cfg.Lower, j.cfg.Upper = lower, upper
	return j
}

// SideOutputLateData sends records behind the watermark to side output tag.
func (j *IntervalJoined) SideOutputLateData(tag string) *IntervalJoined {
	j.cfg.LateOutput = tag
	return j
}

// Process calls fn for every matching pair.
func (j *IntervalJoined) Process(name string, fn func(key, left, right []byte, leftTs, rightTs int64, out api.Output) error) *DataStream {
	c := j.cfg
	c.Join = fn
	newOp, err := windows.NewIntervalJoin(c)
	return j.left.twoInput(name, j.right, newOp, err)
}

// twoInput adds a keyed two-input operator fed by k (input 0) and other (input 1).
func (k *KeyedStream) twoInput(name string, other *KeyedStream, newOp func() (api.Operator, error), err error) *DataStream {
	env := k.env
	if err != nil {
		env.errorf("join %q: %w", name, err)
		newOp = func() (api.Operator, error) { return nil, err }
	}
	if other.env != env {
		env.errorf("join %q: streams from different environments", name)
		return k.DataStream
	}
	n := env.graph.AddNode(&graph.Node{Name: name, Kind: graph.OperatorNode, Parallelism: env.cfg.Parallelism, NewOperator: newOp, Keyed: true})
	k.DataStream.connect(n, 0)
	other.DataStream.connect(n, 1)
	return &DataStream{env: env, refs: []ref{{node: n.ID, auto: true}}}
}
