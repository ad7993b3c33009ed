package windows

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/freshet/freshet/engine/api"
)

// TriggerResult is what a trigger decides for a window.
type TriggerResult uint8

const (
	// Continue: do nothing.
	Continue TriggerResult = iota
	// Fire: evaluate the window and emit its result; keep its contents.
	Fire
	// Purge: drop the window's contents without evaluating them.
	Purge
	// FireAndPurge: evaluate the window, then drop its contents.
	FireAndPurge
)

func (r TriggerResult) fires() bool  { return r == Fire || r == FireAndPurge }
func (r TriggerResult) purges() bool { return r == Purge || r == FireAndPurge }

func (r TriggerResult) String() string {
	switch r {
	case Continue:
		return "continue"
	case Fire:
		return "fire"
	case Purge:
		return "purge"
	case FireAndPurge:
		return "fire-and-purge"
	}
	return "unknown"
}

// Trigger decides when a window fires. A Trigger value is shared by every
// subtask of an operator, so it keeps no state of its own: what it must
// remember per window it stores through TriggerContext.Value, in the
// window's namespace of keyed state, and its timers go through the context.
//
// The operator calls OnElement for every record added to a window,
// OnEventTime and OnProcessingTime when a timer registered through the
// context fires, OnMerge when session windows merge (after the merged
// windows' contents were combined) and Clear when the window is dropped.
type Trigger interface {
	OnElement(c *TriggerContext, ts int64) (TriggerResult, error)
	OnEventTime(c *TriggerContext, t int64) (TriggerResult, error)
	OnProcessingTime(c *TriggerContext, t int64) (TriggerResult, error)
	// CanMerge reports whether OnMerge is implemented (needed for sessions).
	CanMerge() bool
	// OnMerge is called with c.Window set to the new window; merged lists the
	// windows it replaces, whose state the trigger reads with c.WithWindow.
	// The operator calls Clear for each of them afterwards.
	OnMerge(c *TriggerContext, merged []Window) error
	// Clear deletes the trigger's timers and state of c.Window.
	Clear(c *TriggerContext) error
	String() string
}

// TriggerContext gives a trigger the window it decides for, the clocks, and
// timers and state in the window's namespace of the current key.
type TriggerContext struct {
	// Window is the window the call is about.
	Window Window
	// First is true in OnElement when the record is the first of the
	// window's contents (the window was empty or just purged). Triggers
	// register their timers then; a timer stays registered until it fires or
	// is deleted.
	First bool

	op *opCore
	ns []byte
}

// CurrentWatermark is the operator's event time.
func (c *TriggerContext) CurrentWatermark() int64 { return c.op.watermark() }

// CurrentProcessingTime is the wall clock in ms.
func (c *TriggerContext) CurrentProcessingTime() int64 { return c.op.now() }

// RegisterEventTimeTimer asks for OnEventTime at t, for this key and window.
func (c *TriggerContext) RegisterEventTimeTimer(t int64) error {
	return c.op.timers.RegisterEventTimeTimer(t)
}

// RegisterProcessingTimeTimer asks for OnProcessingTime at wall-clock t.
func (c *TriggerContext) RegisterProcessingTimeTimer(t int64) error {
	return c.op.timers.RegisterProcessingTimeTimer(t)
}

// DeleteEventTimeTimer deletes a timer registered for this key and window.
func (c *TriggerContext) DeleteEventTimeTimer(t int64) error {
	return c.op.timers.DeleteEventTimeTimer(t)
}

// DeleteProcessingTimeTimer deletes a processing-time timer of this key and window.
func (c *TriggerContext) DeleteProcessingTimeTimer(t int64) error {
	return c.op.timers.DeleteProcessingTimeTimer(t)
}

// Value returns the trigger's value state called name, in the namespace of
// c.Window. Names are prefixed with "trigger." in keyed state.
func (c *TriggerContext) Value(name string) (api.ValueState, error) {
	return c.op.triggerState(name)
}

// WithWindow runs fn with the context (and keyed state) set to window w,
// then restores it; OnMerge uses it to read the merged windows' state.
func (c *TriggerContext) WithWindow(w Window, fn func() error) error {
	saved := c.Window
	c.set(w)
	err := fn()
	c.set(saved)
	return err
}

func (c *TriggerContext) set(w Window) {
	c.Window = w
	c.ns = w.AppendNamespace(c.ns[:0])
	c.op.ks.SetCurrentNamespace(c.ns)
}

// EventTimeTrigger fires a window once the watermark passes its end, and
// again for every late record that arrives within the allowed lateness.
// It is the default of event-time assigners.
func EventTimeTrigger() Trigger { return eventTimeTrigger{} }

type eventTimeTrigger struct{}

func (eventTimeTrigger) OnElement(c *TriggerContext, ts int64) (TriggerResult, error) {
	maxTs := c.Window.MaxTimestamp()
	if maxTs <= c.CurrentWatermark() {
		return Fire, nil
	}
	if c.First {
		return Continue, c.RegisterEventTimeTimer(maxTs)
	}
	return Continue, nil
}

func (eventTimeTrigger) OnEventTime(c *TriggerContext, t int64) (TriggerResult, error) {
	if t == c.Window.MaxTimestamp() {
		return Fire, nil
	}
	return Continue, nil
}

func (eventTimeTrigger) OnProcessingTime(*TriggerContext, int64) (TriggerResult, error) {
	return Continue, nil
}

func (eventTimeTrigger) CanMerge() bool { return true }

func (eventTimeTrigger) OnMerge(c *TriggerContext, _ []Window) error {
	if maxTs := c.Window.MaxTimestamp(); maxTs > c.CurrentWatermark() {
		return c.RegisterEventTimeTimer(maxTs)
	}
	return nil
}

func (eventTimeTrigger) Clear(c *TriggerContext) error {
	return c.DeleteEventTimeTimer(c.Window.MaxTimestamp())
}

func (eventTimeTrigger) String() string { return "event-time" }

// ProcessingTimeTrigger fires a window when the wall clock passes its end.
// It is the default of processing-time assigners.
func ProcessingTimeTrigger() Trigger { return processingTimeTrigger{} }

type processingTimeTrigger struct{}

func (processingTimeTrigger) OnElement(c *TriggerContext, ts int64) (TriggerResult, error) {
	if c.First {
		return Continue, c.RegisterProcessingTimeTimer(c.Window.MaxTimestamp())
	}
	return Continue, nil
}

func (processingTimeTrigger) OnEventTime(*TriggerContext, int64) (TriggerResult, error) {
	return Continue, nil
}

func (processingTimeTrigger) OnProcessingTime(c *TriggerContext, t int64) (TriggerResult, error) {
	if t == c.Window.MaxTimestamp() {
		return Fire, nil
	}
	return Continue, nil
}

func (processingTimeTrigger) CanMerge() bool { return true }

func (processingTimeTrigger) OnMerge(c *TriggerContext, _ []Window) error {
	if maxTs := c.Window.MaxTimestamp(); maxTs > c.CurrentProcessingTime() {
		return c.RegisterProcessingTimeTimer(maxTs)
	}
	return nil
}

func (processingTimeTrigger) Clear(c *TriggerContext) error {
	return c.DeleteProcessingTimeTimer(c.Window.MaxTimestamp())
}

func (processingTimeTrigger) String() string { return "processing-time" }

// NeverTrigger never fires; the default of global windows.
func NeverTrigger() Trigger { return neverTrigger{} }

type neverTrigger struct{}

func (neverTrigger) OnElement(*TriggerContext, int64) (TriggerResult, error) { return Continue, nil }
func (neverTrigger) OnEventTime(*TriggerContext, int64) (TriggerResult, error) {
	return Continue, nil
}
func (neverTrigger) OnProcessingTime(*TriggerContext, int64) (TriggerResult, error) {
	return Continue, nil
}
func (neverTrigger) CanMerge() bool                          { return true }
func (neverTrigger) OnMerge(*TriggerContext, []Window) error { return nil }
func (neverTrigger) Clear(*TriggerContext) error             { return nil }
func (neverTrigger) String() string                          { return "never" }

// CountTrigger fires a window every n records (n >= 1). It does not fire at
// the window's end: combine with allowed lateness (or wrap in Purging) to
// bound state. Counts of merged sessions add up.
func CountTrigger(n int64) Trigger { return countTrigger{n: max(n, 1)} }

type countTrigger struct{ n int64 }

const countState = "count"

func getInt(vs api.ValueState) (int64, bool, error) {
	v, ok, err := vs.Get()
	if err != nil || !ok {
		return 0, false, err
	}
	if len(v) != 8 {
		return 0, false, fmt.Errorf("trigger state: %w: %d bytes, want 8", ErrCorruptState, len(v))
	}
	return int64(binary.BigEndian.Uint64(v)), true, nil
}

func putInt(c *TriggerContext, vs api.ValueState, n int64) error {
	c.op.intBuf = binary.BigEndian.AppendUint64(c.op.intBuf[:0], uint64(n))
	return vs.Put(c.op.intBuf)
}

func (t countTrigger) OnElement(c *TriggerContext, ts int64) (TriggerResult, error) {
	vs, err := c.Value(countState)
	if err != nil {
		return Continue, err
	}
	n, _, err := getInt(vs)
	if err != nil {
		return Continue, err
	}
	n++
	if n >= t.n {
		return Fire, vs.Clear()
	}
	return Continue, putInt(c, vs, n)
}

func (countTrigger) OnEventTime(*TriggerContext, int64) (TriggerResult, error) { return Continue, nil }
func (countTrigger) OnProcessingTime(*TriggerContext, int64) (TriggerResult, error) {
	return Continue, nil
}
func (countTrigger) CanMerge() bool { return true }

func (t countTrigger) OnMerge(c *TriggerContext, merged []Window) error {
	var sum int64
	for _, w := range merged {
		err := c.WithWindow(w, func() error {
			vs, err := c.Value(countState)
			if err != nil {
				return err
			}
			n, _, err := getInt(vs)
			sum += n
			return err
		})
		if err != nil {
			return err
		}
	}
	vs, err := c.Value(countState)
	if err != nil {
		return err
	}
	old, _, err := getInt(vs)
	if err != nil {
		return err
	}
	return putInt(c, vs, old+sum)
}

func (countTrigger) Clear(c *TriggerContext) error {
	vs, err := c.Value(countState)
	if err != nil {
		return err
	}
	return vs.Clear()
}

func (t countTrigger) String() string { return fmt.Sprintf("count(%d)", t.n) }

// ContinuousEventTimeTrigger fires a window every interval of event time
// (aligned to the epoch) and at its end, so long windows report early
// results.
func ContinuousEventTimeTrigger(interval time.Duration) Trigger {
	return continuousTrigger{interval: max(interval.Milliseconds(), 1)}
}

// ContinuousProcessingTimeTrigger fires a window every interval of wall-clock
// time while it receives records, and at its end.
func ContinuousProcessingTimeTrigger(interval time.Duration) Trigger {
	return continuousTrigger{interval: max(interval.Milliseconds(), 1), proc: true}
}

type continuousTrigger struct {
	interval int64
	proc     bool
}

const fireState = "fire-time"

func (t continuousTrigger) register(c *TriggerContext, at int64) error {
	if t.proc {
		return c.RegisterProcessingTimeTimer(at)
	}
	return c.RegisterEventTimeTimer(at)
}

func (t continuousTrigger) deleteTimer(c *TriggerContext, at int64) error {
	if t.proc {
		return c.DeleteProcessingTimeTimer(at)
	}
	return c.DeleteEventTimeTimer(at)
}

// scheduleNext stores and registers the next early firing after from.
func (t continuousTrigger) scheduleNext(c *TriggerContext, vs api.ValueState, from int64) error {
	next := min(addSat(from-floorMod(from, t.interval), t.interval), c.Window.MaxTimestamp())
	if err := putInt(c, vs, next); err != nil {
		return err
	}
	return t.register(c, next)
}

func (t continuousTrigger) OnElement(c *TriggerContext, ts int64) (TriggerResult, error) {
	maxTs := c.Window.MaxTimestamp()
	if !t.proc {
		if maxTs <= c.CurrentWatermark() {
			return Fire, nil
		}
		if c.First {
			if err := c.RegisterEventTimeTimer(maxTs); err != nil {
				return Continue, err
			}
		}
	} else {
		ts = c.CurrentProcessingTime()
	}
	vs, err := c.Value(fireState)
	if err != nil {
		return Continue, err
	}
	if _, ok, err := getInt(vs); err != nil || ok {
		return Continue, err
	}
	return Continue, t.scheduleNext(c, vs, ts)
}

func (t continuousTrigger) onTimer(c *TriggerContext, at int64) (TriggerResult, error) {
	vs, err := c.Value(fireState)
	if err != nil {
		return Continue, err
	}
	next, ok, err := getInt(vs)
	if err != nil {
		return Continue, err
	}
	if ok && next == at {
		if err := vs.Clear(); err != nil {
			return Continue, err
		}
		if at < c.Window.MaxTimestamp() {
			if err := t.scheduleNext(c, vs, at); err != nil {
				return Continue, err
			}
		}
		return Fire, nil
	}
	if !t.proc && at == c.Window.MaxTimestamp() {
		return Fire, nil
	}
	return Continue, nil
}

func (t continuousTrigger) OnEventTime(c *TriggerContext, at int64) (TriggerResult, error) {
	if t.proc {
		return Continue, nil
	}
	return t.onTimer(c, at)
}

func (t continuousTrigger) OnProcessingTime(c *TriggerContext, at int64) (TriggerResult, error) {
	if !t.proc {
		return Continue, nil
	}
	return t.onTimer(c, at)
}

func (continuousTrigger) CanMerge() bool { return true }

func (t continuousTrigger) OnMerge(c *TriggerContext, merged []Window) error {
	earliest, found := int64(0), false
	for _, w := range merged {
		err := c.WithWindow(w, func() error {
			vs, err := c.Value(fireState)
			if err != nil {
				return err
			}
			n, ok, err := getInt(vs)
			if ok && (!found || n < earliest) {
				earliest, found = n, true
			}
			return err
		})
		if err != nil {
			return err
		}
	}
	if !t.proc && c.Window.MaxTimestamp() > c.CurrentWatermark() {
		if err := c.RegisterEventTimeTimer(c.Window.MaxTimestamp()); err != nil {
			return err
		}
	}
	if !found {
		return nil
	}
	vs, err := c.Value(fireState)
	if err != nil {
		return err
	}
	if err := putInt(c, vs, earliest); err != nil {
		return err
	}
	return t.register(c, earliest)
}

func (t continuousTrigger) Clear(c *TriggerContext) error {
	vs, err := c.Value(fireState)
	if err != nil {
		return err
	}
	next, ok, err := getInt(vs)
	if err != nil {
		return err
	}
	if ok {
		if err := t.deleteTimer(c, next); err != nil {
			return err
		}
	}
	if !t.proc {
		if err := c.DeleteEventTimeTimer(c.Window.MaxTimestamp()); err != nil {
			return err
		}
	}
	return vs.Clear()
}

func (t continuousTrigger) String() string {
	if t.proc {
		return fmt.Sprintf("continuous-processing-time(%s)", ms(t.interval))
	}
	return fmt.Sprintf("continuous-event-time(%s)", ms(t.interval))
}

// Purging wraps t so that every firing also drops the window's contents:
// each firing then reports only what arrived since the previous one.
func Purging(t Trigger) Trigger { return purgingTrigger{t} }

type purgingTrigger struct{ t Trigger }

func purge(r TriggerResult, err error) (TriggerResult, error) {
	if r == Fire {
		r = FireAndPurge
	}
	return r, err
}

func (p purgingTrigger) OnElement(c *TriggerContext, ts int64) (TriggerResult, error) {
	return purge(p.t.OnElement(c, ts))
}
func (p purgingTrigger) OnEventTime(c *TriggerContext, t int64) (TriggerResult, error) {
	return purge(p.t.OnEventTime(c, t))
}
func (p purgingTrigger) OnProcessingTime(c *TriggerContext, t int64) (TriggerResult, error) {
	return purge(p.t.OnProcessingTime(c, t))
}
func (p purgingTrigger) CanMerge() bool { return p.t.CanMerge() }
func (p purgingTrigger) OnMerge(c *TriggerContext, merged []Window) error {
	return p.t.OnMerge(c, merged)
}
func (p purgingTrigger) Clear(c *TriggerContext) error { return p.t.Clear(c) }
func (p purgingTrigger) String() string                { return "purging(" + p.t.String() + ")" }
