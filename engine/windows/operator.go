package windows

import (
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"strconv"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/onerror"
)

// Counter names the window operator reports through api.Context.Counter.
const (
	// LateDroppedCounter counts late records dropped because no late side
	// output was declared.
	LateDroppedCounter = "numLateRecordsDropped"
	// LateSideOutputCounter counts late records sent to the late side output.
	LateSideOutputCounter = "numLateRecordsSideOutput"
)

// ErrConfig is wrapped by Config.Validate errors.
var ErrConfig = errors.New("invalid window configuration")

// Config describes a window operator. Exactly one of Reduce, Aggregate and
// Process must be set, or Process together with Reduce or Aggregate (Process
// then receives the single result).
type Config struct {
	Assigner Assigner
	// Trigger decides when windows fire (default: Assigner.DefaultTrigger).
	Trigger Trigger
	// AllowedLateness keeps event-time windows this long after they fired,
	// firing them again for every late record.
	AllowedLateness time.Duration
	// LateOutput names the side output (api.Context.SideOutput) that late
	// records go to; when empty they are dropped and counted.
	LateOutput string

	Reduce    ReduceFunc
	Aggregate api.AggregateFunction
	// NewAggregate, instead of Aggregate, gives each operator subtask an
	// aggregate of its own: one that holds per-subtask resources, as a
	// WebAssembly aggregate holds a module instance. The operator closes it
	// (io.Closer) and, when it reports a failure through an Err() error
	// method (api.AggregateFunction's methods cannot return one), fails
	// with that error after the batch, timer or watermark that caused it.
	NewAggregate func() (api.AggregateFunction, error)
	Process      ProcessWindowFunc
	// Distinct keeps one copy of equal elements per key and window (with
	// Process only): an element equal to one the window holds is not
	// added again, as when the window's input is a SQL GROUP BY of the
	// fields the element carries. The trigger still sees every record
	// (a count trigger counts the repeated ones too).
	Distinct bool
	// Input derives each record's element (default: the record value).
	Input InputFunc
	// OnError is applied to records without a timestamp (event time) and
	// records Input fails on.
	OnError onerror.Policy
	// StateName prefixes the operator's keyed state names (default "window").
	StateName string

	// perPane keeps sliding windows' panes one value each, however few
	// (tests use it to cover both layouts).
	perPane bool
	// newProcess, when set and Process is not, gives each operator subtask
	// its own Process (one that reuses buffers; FromParams sets it).
	newProcess func() ProcessWindowFunc
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if err := c.Assigner.Validate(); err != nil {
		return err
	}
	n := 0
	if c.Reduce != nil {
		n++
	}
	if c.Aggregate != nil {
		n++
	}
	if c.NewAggregate != nil {
		n++
	}
	if n > 1 {
		return fmt.Errorf("%w: set one of Reduce, Aggregate and NewAggregate", ErrConfig)
	}
	if n == 0 && c.Process == nil {
		return fmt.Errorf("%w: no window function (Reduce, Aggregate or Process)", ErrConfig)
	}
	if c.Distinct && n > 0 {
		return fmt.Errorf("%w: Distinct applies to windows that keep their elements (Process), not to Reduce or Aggregate", ErrConfig)
	}
	if c.AllowedLateness < 0 {
		return fmt.Errorf("%w: allowed lateness %s is negative", ErrConfig, c.AllowedLateness)
	}
	if c.AllowedLateness > 0 && !c.Assigner.IsEventTime() {
		return fmt.Errorf("%w: allowed lateness applies to event-time windows only", ErrConfig)
	}
	if c.Assigner.IsMerging() {
		if t := c.trigger(); !t.CanMerge() {
			return fmt.Errorf("%w: trigger %s cannot merge session windows", ErrConfig, t)
		}
	}
	return nil
}

func (c *Config) trigger() Trigger {
	if c.Trigger != nil {
		return c.Trigger
	}
	return c.Assigner.DefaultTrigger()
}

// New validates cfg and returns a constructor of window operators, one per
// subtask. The operators need a keyed stream (keyed state and timers).
func New(cfg Config) (func() (api.Operator, error), error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return func() (api.Operator, error) { return NewOperator(cfg) }, nil
}

// NewOperator returns one window operator subtask.
func NewOperator(cfg Config) (*Operator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.StateName == "" {
		cfg.StateName = "window"
	}
	if cfg.Process == nil && cfg.newProcess != nil {
		cfg.Process = cfg.newProcess()
	}
	var aggErr func() error
	var aggClose io.Closer
	if cfg.NewAggregate != nil {
		agg, err := cfg.NewAggregate()
		if err != nil {
			return nil, fmt.Errorf("window aggregate: %w", err)
		}
		cfg.Aggregate, cfg.NewAggregate = agg, nil
		if e, ok := agg.(interface{ Err() error }); ok {
			aggErr = e.Err
		}
		aggClose, _ = agg.(io.Closer)
	}
	o := &Operator{cfg: cfg, trigger: cfg.trigger(), aggErr: aggErr, aggClose: aggClose}
	o.eventTime = cfg.Assigner.IsEventTime()
	o.lateness = cfg.AllowedLateness.Milliseconds()
	o.merging = cfg.Assigner.IsMerging()
	if o.merging {
		switch o.trigger.(type) {
		case eventTimeTrigger, processingTimeTrigger:
			o.lazy = true
		}
	}
	if cfg.Reduce == nil && cfg.Aggregate == nil {
		o.mode = listMode
	} else {
		o.mode = accMode
		// Panes need a function that combines partial results and a
		// trigger whose firings the pane schedule reproduces.
		if p := cfg.Assigner.pane(); p > 0 {
			switch o.trigger.(type) {
			case eventTimeTrigger:
				o.pane = p
			case processingTimeTrigger:
				o.pane = p
			}
		}
		// Few panes per window: a key's panes share one value (paneset.go).
		o.paneSet = o.pane > 0 && !cfg.perPane && (cfg.Assigner.size+o.lateness)/o.pane <= maxSetPanes
		o.horizon = maxSetPanes * o.pane
	}
	o.singleSeq = func(yield func([]byte) bool) { yield(o.single) }
	o.listSeq = func(yield func([]byte) bool) { o.iterErr = o.ls.Iter(yield) }
	o.inlineSeq = o.iterInline
	return o, nil
}

type contentsMode uint8

const (
	accMode  contentsMode = iota + 1 // one value: accumulator or reduced element
	listMode                         // every element
)

// opCore is what triggers and operators share: keyed state, timers and clocks.
type opCore struct {
	ctx      api.Context
	ks       api.KeyedState
	timers   api.TimerService
	prefix   string
	trigVS   map[string]api.ValueState
	intBuf   []byte
	fixedNow int64 // processing time of the current batch, 0 when unset
}

func (c *opCore) open(ctx api.Context, prefix string) error {
	c.ctx, c.prefix = ctx, prefix
	c.ks = ctx.KeyedState()
	if c.ks == nil {
		return fmt.Errorf("%q needs a keyed input: key the stream before it", ctx.OperatorName())
	}
	c.timers = ctx.Timers()
	if c.timers == nil {
		return fmt.Errorf("%q needs timers, which the runtime gives keyed operators only", ctx.OperatorName())
	}
	c.trigVS = map[string]api.ValueState{}
	return nil
}

func (c *opCore) watermark() int64 { return c.timers.CurrentWatermark() }

func (c *opCore) now() int64 {
	if c.fixedNow != 0 {
		return c.fixedNow
	}
	return c.timers.CurrentProcessingTime()
}

func (c *opCore) triggerState(name string) (api.ValueState, error) {
	if vs, ok := c.trigVS[name]; ok {
		return vs, nil
	}
	vs, err := c.ks.Value(api.StateDescriptor{Name: c.prefix + ".trigger." + name, Kind: api.ValueStateKind})
	if err != nil {
		return nil, fmt.Errorf("declaring trigger state %q: %w", name, err)
	}
	c.trigVS[name] = vs
	return vs, nil
}

// Operator is a window operator subtask: a keyed api.Operator and
// api.TimerHandler. Build it with New (or NewOperator).
type Operator struct {
	api.BaseOperator
	cfg       Config
	aggErr    func() error // the aggregate's Err, for NewAggregate ones that have it
	aggClose  io.Closer
	core      opCore
	trigger   Trigger
	eventTime bool
	merging   bool
	lazy      bool // sessions with the default trigger: timers follow state windows
	lateness  int64
	mode      contentsMode
	pane      int64 // > 0: sliding windows kept per pane
	paneSet   bool  // panes: a key's panes in one value (paneset.go)
	horizon   int64 // pane sets: how far ahead of the watermark a pane joins the set
	tag       int   // > 0: elements are prefixed with the input index (joins)

	vs       api.ValueState // accMode contents
	ls       api.ListState  // listMode: elements of spilled windows (contents.go)
	inline   api.ValueState // listMode: elements of small windows, or the spilled mark
	sessions api.ValueState // merging: the key's sessions
	slider   api.ValueState // panes: the key's two-stacks aggregate
	panes    api.ValueState // pane sets: the key's panes

	bad       *onerror.Handler
	lateOut   api.Output
	lateDrop  api.Counter
	lateSide  api.Counter
	out       api.Output
	tc        TriggerContext
	wins      []Window
	ns, ns2   []byte
	elem      []byte
	accA      []byte
	accB      []byte
	res       []byte
	keyBuf    []byte
	rec       api.Record
	single    []byte
	singleSeq iter.Seq[[]byte]
	listSeq   iter.Seq[[]byte]
	iterErr   error
	inlineSeq iter.Seq[[]byte]
	contents  iter.Seq[[]byte] // listSeq or inlineSeq, set by elements
	inl       []byte           // the current window's contents value
	sl        slider
	slBuf     []byte
	slEnc     []byte
	sufBufs   [][]byte
	set       paneSet
	setBuf    []byte
	setEnc    []byte
	paneAcc   []byte
	farAcc    []byte
	sess      []session
	merged    []Window
	copies    [][]byte
}

// Open declares the operator's state.
func (o *Operator) Open(ctx api.Context) error {
	name := ctx.OperatorName()
	if err := o.core.open(ctx, o.cfg.StateName); err != nil {
		return fmt.Errorf("window operator %w", err)
	}
	var err error
	contents := o.cfg.StateName + ".contents"
	if o.mode == accMode {
		// Pane sets keep far panes here (paneset.go).
		o.vs, err = o.core.ks.Value(api.StateDescriptor{Name: contents, Kind: api.ValueStateKind})
	} else {
		// Elements inline in a value while few, in a list beyond
		// (contents.go). A savepoint from before this layout holds a list
		// under the contents name: declaring a value there is refused,
		// naming the state.
		o.inline, err = o.core.ks.Value(api.StateDescriptor{Name: contents, Kind: api.ValueStateKind})
		if err == nil {
			o.ls, err = o.core.ks.List(api.StateDescriptor{Name: o.cfg.StateName + ".spilled", Kind: api.ListStateKind})
		}
	}
	if err != nil {
		return fmt.Errorf("window operator %q: declaring state: %w", name, err)
	}
	if o.paneSet {
		o.panes, err = o.core.ks.Value(api.StateDescriptor{Name: o.cfg.StateName + ".panes", Kind: api.ValueStateKind})
		if err != nil {
			return fmt.Errorf("window operator %q: declaring state: %w", name, err)
		}
	}
	if o.pane > 0 && !o.paneSet {
		o.slider, err = o.core.ks.Value(api.StateDescriptor{Name: o.cfg.StateName + ".slider", Kind: api.ValueStateKind})
		if err != nil {
			return fmt.Errorf("window operator %q: declaring state: %w", name, err)
		}
	}
	if o.merging {
		o.sessions, err = o.core.ks.Value(api.StateDescriptor{Name: o.cfg.StateName + ".sessions", Kind: api.ValueStateKind})
		if err != nil {
			return fmt.Errorf("window operator %q: declaring state: %w", name, err)
		}
	}
	if o.bad, err = o.cfg.OnError.NewHandler(ctx); err != nil {
		return fmt.Errorf("window operator %q: %w", name, err)
	}
	if o.cfg.LateOutput != "" {
		o.lateOut = ctx.SideOutput(o.cfg.LateOutput)
		o.lateSide = ctx.Counter(LateSideOutputCounter)
	}
	o.lateDrop = ctx.Counter(LateDroppedCounter)
	o.tc.op = &o.core
	return nil
}

// Close releases the on-error handler and the aggregate's resources.
func (o *Operator) Close() error {
	err := o.bad.Close()
	if o.aggClose != nil {
		err = errors.Join(err, o.aggClose.Close())
	}
	return err
}

// ProcessBatch adds every record to its windows.
func (o *Operator) ProcessBatch(in *api.Batch, out api.Output) error {
	return o.checkAggregate(o.processBatch(in, out, 0))
}

// checkAggregate turns an aggregate's reported failure into the error of
// the call that made it (err first, when there is one).
func (o *Operator) checkAggregate(err error) error {
	if err != nil || o.aggErr == nil {
		return err
	}
	if aerr := o.aggErr(); aerr != nil {
		return fmt.Errorf("window aggregate: %w", aerr)
	}
	return nil
}

func (o *Operator) processBatch(in *api.Batch, out api.Output, input int) error {
	o.out = out
	if !o.eventTime {
		o.core.fixedNow = o.core.timers.CurrentProcessingTime()
		defer func() { o.core.fixedNow = 0 }()
	}
	for i := range in.Records {
		r := &in.Records[i]
		if err := o.processRecord(r, input); err != nil {
			return err
		}
		if o.aggErr != nil {
			if err := o.aggErr(); err != nil {
				return fmt.Errorf("window aggregate on the record with key %q and timestamp %d: %w", r.Key, r.Timestamp, err)
			}
		}
	}
	return nil
}

func (o *Operator) processRecord(r *api.Record, input int) error {
	var err error
	o.elem = o.elem[:0]
	if o.tag > 0 {
		o.elem = append(o.elem, byte(input))
	}
	if o.cfg.Input != nil {
		o.elem, err = o.cfg.Input(r, o.elem)
	} else {
		o.elem = append(o.elem, r.Value...)
	}
	if err != nil {
		return o.bad.Handle(position(r), r.Value, err)
	}
	ts := r.Timestamp
	if !o.eventTime {
		ts = o.core.now()
	} else if !r.HasTimestamp() {
		return o.bad.Handle(position(r), r.Value, ErrNoTimestamp)
	}
	o.core.ks.SetCurrentKey(r.Key)
	var accepted bool
	switch {
	case o.merging:
		accepted, err = o.addSession(ts)
	case o.paneSet:
		accepted, err = o.addToSet(ts)
	case o.pane > 0:
		accepted, err = o.addPane(ts)
	default:
		accepted, err = o.addWindows(ts)
	}
	if err != nil {
		return err
	}
	if !accepted {
		o.lateRecord(r)
	}
	return nil
}

// lateRecord sends r to the late side output, or drops and counts it.
func (o *Operator) lateRecord(r *api.Record) {
	if o.lateOut != nil {
		o.lateOut.Emit(r)
		o.lateSide.Add(1)
		return
	}
	o.lateDrop.Add(1)
}

// cleanupTime is when w's state is dropped.
func (o *Operator) cleanupTime(w Window) int64 {
	if o.eventTime {
		return addSat(w.MaxTimestamp(), o.lateness)
	}
	return w.MaxTimestamp()
}

// isLate reports whether w was already dropped.
func (o *Operator) isLate(w Window, wm int64) bool {
	return o.eventTime && o.cleanupTime(w) <= wm
}

func (o *Operator) setNS(w Window) {
	o.ns = w.AppendNamespace(o.ns[:0])
	o.core.ks.SetCurrentNamespace(o.ns)
}

func (o *Operator) registerTimer(t int64) error {
	if o.eventTime {
		return o.core.timers.RegisterEventTimeTimer(t)
	}
	return o.core.timers.RegisterProcessingTimeTimer(t)
}

func (o *Operator) deleteTimer(t int64) error {
	if o.eventTime {
		return o.core.timers.DeleteEventTimeTimer(t)
	}
	return o.core.timers.DeleteProcessingTimeTimer(t)
}

// registerCleanup registers the timer that drops w (in the current namespace).
func (o *Operator) registerCleanup(w Window) error {
	t := o.cleanupTime(w)
	if t == math.MaxInt64 && w == GlobalWindow {
		return nil // the global window lives for ever
	}
	return o.registerTimer(t)
}

// add adds the current element to the contents in the current namespace,
// reporting whether they were empty.
func (o *Operator) add() (first bool, err error) {
	if o.mode == listMode {
		return o.addElement()
	}
	old, ok, err := o.vs.Get()
	if err != nil {
		return false, fmt.Errorf("reading window contents: %w", err)
	}
	o.accB = o.accumulate(old, ok, o.accB[:0])
	if err := o.vs.Put(o.accB); err != nil {
		return false, fmt.Errorf("writing window contents: %w", err)
	}
	return !ok, nil
}

// addWindows adds the element to each of its windows (no panes, no merging).
func (o *Operator) addWindows(ts int64) (bool, error) {
	wm := o.core.watermark()
	o.wins = o.cfg.Assigner.Assign(ts, o.wins[:0])
	accepted := false
	for _, w := range o.wins {
		if o.isLate(w, wm) {
			continue
		}
		accepted = true
		o.setNS(w)
		first, err := o.add()
		if err != nil {
			return true, err
		}
		o.tc.Window, o.tc.First = w, first
		res, err := o.trigger.OnElement(&o.tc, ts)
		if err != nil {
			return true, fmt.Errorf("trigger %s on window %s: %w", o.trigger, w, err)
		}
		if err := o.act(res, w, o.ns); err != nil {
			return true, err
		}
		if first {
			o.setNS(w)
			if err := o.registerCleanup(w); err != nil {
				return true, err
			}
		}
	}
	return accepted, nil
}

// act carries out a trigger's decision on window w whose contents live in
// namespace contentsNS.
func (o *Operator) act(res TriggerResult, w Window, contentsNS []byte) error {
	if res == Continue {
		return nil
	}
	o.core.ks.SetCurrentNamespace(contentsNS)
	if res.fires() {
		if err := o.emit(w); err != nil {
			return err
		}
	}
	if res.purges() {
		if err := o.clearContents(); err != nil {
			return err
		}
	}
	return nil
}

func (o *Operator) clearContents() error {
	var err error
	if o.mode == listMode {
		return o.clearElements()
	} else {
		err = o.vs.Clear()
	}
	if err != nil {
		return fmt.Errorf("clearing window contents: %w", err)
	}
	return nil
}

// emit evaluates window w from the contents in the current namespace.
func (o *Operator) emit(w Window) error {
	key := o.core.ks.CurrentKey()
	if o.mode == listMode {
		ok, err := o.elements()
		if err != nil {
			return fmt.Errorf("reading window contents: %w", err)
		}
		if !ok {
			return nil
		}
		o.keyBuf = append(o.keyBuf[:0], key...)
		o.iterErr = nil
		if err := o.cfg.Process(o.keyBuf, w, o.contents, o.out); err != nil {
			return fmt.Errorf("window function on %s: %w", w, err)
		}
		if o.iterErr != nil {
			return fmt.Errorf("reading window contents: %w", o.iterErr)
		}
		return nil
	}
	v, ok, err := o.vs.Get()
	if err != nil {
		return fmt.Errorf("reading window contents: %w", err)
	}
	if !ok {
		return nil
	}
	return o.emitValue(key, w, v)
}

// emitValue emits the result of accumulator (or reduced element) v.
func (o *Operator) emitValue(key []byte, w Window, v []byte) error {
	if o.cfg.Aggregate != nil {
		o.res = o.cfg.Aggregate.Result(v, o.res[:0])
		v = o.res
	}
	if o.cfg.Process != nil {
		o.single = v
		o.keyBuf = append(o.keyBuf[:0], key...)
		if err := o.cfg.Process(o.keyBuf, w, o.singleSeq, o.out); err != nil {
			return fmt.Errorf("window function on %s: %w", w, err)
		}
		return nil
	}
	o.rec = api.Record{Key: key, Value: v, Timestamp: w.MaxTimestamp()}
	o.out.Emit(&o.rec)
	return nil
}

// OnTimer fires and cleans up windows. The runtime has set the timer's key
// and namespace as the current ones.
func (o *Operator) OnTimer(t api.Timer, out api.Output) error {
	return o.checkAggregate(o.onTimer(t, out))
}

func (o *Operator) onTimer(t api.Timer, out api.Output) error {
	o.out = out
	if o.paneSet {
		return o.onSetTimer(t)
	}
	w, err := WindowOf(t.Namespace)
	if err != nil {
		return fmt.Errorf("window timer: %w", err)
	}
	switch {
	case o.merging:
		return o.onSessionTimer(t, w)
	case o.pane > 0:
		return o.onPaneTimer(t, w)
	}
	o.ns = append(o.ns[:0], t.Namespace...)
	o.tc.Window, o.tc.First = w, false
	res, err := o.fireTrigger(t)
	if err != nil {
		return err
	}
	if err := o.act(res, w, o.ns); err != nil {
		return err
	}
	if o.isCleanupTimer(t, w) {
		o.core.ks.SetCurrentNamespace(o.ns)
		if err := o.clearContents(); err != nil {
			return err
		}
		if err := o.trigger.Clear(&o.tc); err != nil {
			return fmt.Errorf("trigger %s clearing window %s: %w", o.trigger, w, err)
		}
	}
	return nil
}

func (o *Operator) fireTrigger(t api.Timer) (TriggerResult, error) {
	var res TriggerResult
	var err error
	if t.Domain == api.EventTime {
		res, err = o.trigger.OnEventTime(&o.tc, t.Timestamp)
	} else {
		res, err = o.trigger.OnProcessingTime(&o.tc, t.Timestamp)
	}
	if err != nil {
		return Continue, fmt.Errorf("trigger %s on window %s at %d: %w", o.trigger, o.tc.Window, t.Timestamp, err)
	}
	return res, nil
}

func (o *Operator) isCleanupTimer(t api.Timer, w Window) bool {
	if o.eventTime != (t.Domain == api.EventTime) {
		return false
	}
	return t.Timestamp == o.cleanupTime(w)
}

// position describes a record in a bad-record report.
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
