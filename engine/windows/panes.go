package windows

import (
	"fmt"

	"github.com/freshet/freshet/engine/api"
)

// Sliding windows with panes.
//
// A sliding window of size S every slide D is the union of S/P consecutive
// panes of width P = gcd(S, D). A record is added to the accumulator of its
// pane only, under the pane as namespace; a window that fires combines the
// accumulators of its panes with the function's merge.
//
// Timers: a pane that gets its first element registers the end of the
// earliest pending window holding it. When a window fires it registers the
// next window's end if one of its panes lies in the next window too, so
// every window that holds data fires, in order. The panes of the first
// slide of window w belong to no later window: they are dropped when w is
// cleaned up (its end plus the allowed lateness).

// addPane adds the current element to its pane.
func (o *Operator) addPane(ts int64) (bool, error) {
	a := &o.cfg.Assigner
	wm := o.core.watermark()
	lastStart := startOf(ts, a.offset, a.slide)
	s := lastStart - ((lastStart-ts+a.size-1)/a.slide)*a.slide // earliest window holding ts
	for ; s <= lastStart && o.isLate(Window{s, addSat(s, a.size)}, wm); s += a.slide {
	}
	if s > lastStart {
		return false, nil
	}
	ps := startOf(ts, a.offset, o.pane)
	o.setNS(Window{ps, addSat(ps, o.pane)})
	first, err := o.add()
	if err != nil {
		return true, err
	}
	for ; s <= lastStart; s += a.slide {
		w := Window{s, addSat(s, a.size)}
		if o.eventTime && w.MaxTimestamp() <= wm {
			// A late record within the allowed lateness: fire the window
			// again with its updated contents.
			if _, err := o.firePanes(w); err != nil {
				return true, err
			}
			o.setNS(w)
			if err := o.registerTimer(o.cleanupTime(w)); err != nil {
				return true, err
			}
			continue
		}
		if first {
			o.setNS(w)
			if err := o.registerTimer(w.MaxTimestamp()); err != nil {
				return true, err
			}
		}
		break
	}
	return true, nil
}

// firePanes emits window w combined from its panes. hasNext reports whether
// one of them also lies in the next window.
func (o *Operator) firePanes(w Window) (hasNext bool, err error) {
	slide := o.cfg.Assigner.slide
	have := false
	for ps := w.Start; ps < w.End; ps += o.pane {
		o.ns2 = Window{ps, addSat(ps, o.pane)}.AppendNamespace(o.ns2[:0])
		o.core.ks.SetCurrentNamespace(o.ns2)
		v, ok, err := o.vs.Get()
		if err != nil {
			return false, fmt.Errorf("reading pane of window %s: %w", w, err)
		}
		if !ok {
			continue
		}
		if ps >= w.Start+slide {
			hasNext = true
		}
		if !have {
			o.accA = append(o.accA[:0], v...)
			have = true
			continue
		}
		if o.cfg.Aggregate != nil {
			o.accB = o.cfg.Aggregate.Merge(o.accA, v, o.accB[:0])
		} else {
			o.accB = o.cfg.Reduce(o.accA, v, o.accB[:0])
		}
		o.accA, o.accB = o.accB, o.accA
	}
	if !have {
		return false, nil
	}
	return hasNext, o.emitValue(o.core.ks.CurrentKey(), w, o.accA)
}

func (o *Operator) onPaneTimer(t api.Timer, w Window) error {
	if (t.Domain == api.EventTime) != o.eventTime {
		return nil
	}
	slide := o.cfg.Assigner.slide
	if t.Timestamp == w.MaxTimestamp() {
		hasNext, err := o.firePanes(w)
		if err != nil {
			return err
		}
		if hasNext {
			next := Window{w.Start + slide, addSat(w.End, slide)}
			o.setNS(next)
			if err := o.registerTimer(next.MaxTimestamp()); err != nil {
				return err
			}
		}
		if c := o.cleanupTime(w); c != t.Timestamp {
			o.setNS(w)
			if err := o.registerTimer(c); err != nil {
				return err
			}
		}
	}
	if t.Timestamp == o.cleanupTime(w) {
		for ps := w.Start; ps < w.Start+slide; ps += o.pane {
			o.setNS(Window{ps, addSat(ps, o.pane)})
			if err := o.vs.Clear(); err != nil {
				return fmt.Errorf("dropping pane of window %s: %w", w, err)
			}
		}
	}
	return nil
}
