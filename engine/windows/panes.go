package windows

import (
	"encoding/binary"
	"fmt"
	"math"

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
//
// Firing without re-reading every pane: each key keeps a two-stacks
// aggregate (the "<name>.slider" value state). The front holds suffix
// aggregates of the panes [fs, b): front[i] combines panes fs+i*P up to b;
// the back is the aggregate of the panes [b, be). A window [ws, we) is
// front[(ws-fs)/P] combined with the back after folding the panes [be, we)
// into it. When ws reaches b the front is rebuilt from the panes of the
// window (size/P reads once every size/slide firings), so a firing costs a
// few state reads and merges on average instead of size/P. A late record
// that changes a pane already folded in drops the key's slider, and the
// next firing rebuilds it.

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
	if o.eventTime && addSat(ps, o.pane)-1 <= wm {
		// The pane may be folded into the slider already.
		o.core.ks.SetCurrentNamespace(nil)
		if err := o.slider.Clear(); err != nil {
			return true, fmt.Errorf("dropping slider: %w", err)
		}
	}
	for ; s <= lastStart; s += a.slide {
		w := Window{s, addSat(s, a.size)}
		if o.eventTime && w.MaxTimestamp() <= wm {
			// A late record within the allowed lateness: fire the window
			// again with its updated contents.
			if err := o.fireLate(w); err != nil {
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
	sl := &o.sl
	o.core.ks.SetCurrentNamespace(nil)
	v, ok, err := o.slider.Get()
	if err != nil {
		return false, fmt.Errorf("reading slider: %w", err)
	}
	if ok {
		if err := sl.decode(v, &o.slBuf); err != nil {
			return false, err
		}
	}
	if !ok || w.Start < sl.fs || w.Start >= sl.b || sl.be > w.End {
		if err := o.rebuildSlider(w); err != nil {
			return false, err
		}
	} else {
		sl.front = sl.front[(w.Start-sl.fs)/o.pane:]
		sl.fs = w.Start
		for ps := sl.be; ps < w.End; ps += o.pane {
			p, ok, err := o.readPane(ps)
			if err != nil {
				return false, err
			}
			if !ok {
				continue
			}
			sl.last = ps
			if sl.back == nil {
				o.accA = append(o.accA[:0], p...)
			} else {
				o.accA = o.merge(sl.back, p, o.accA[:0])
			}
			o.accA, o.accB = o.accB, o.accA
			sl.back = o.accB
		}
		sl.be = w.End
	}
	hasNext = sl.last >= w.Start+o.cfg.Assigner.slide
	o.core.ks.SetCurrentNamespace(nil)
	if hasNext {
		o.slEnc = sl.encode(o.slEnc[:0])
		err = o.slider.Put(o.slEnc)
	} else {
		err = o.slider.Clear() // the key's run of windows ends here
	}
	if err != nil {
		return false, fmt.Errorf("writing slider: %w", err)
	}
	var res []byte
	switch f := sl.front[0]; {
	case f != nil && sl.back != nil:
		o.accA = o.merge(f, sl.back, o.accA[:0])
		res = o.accA
	case f != nil:
		res = f
	case sl.back != nil:
		res = sl.back
	default:
		return hasNext, nil
	}
	return hasNext, o.emitValue(o.core.ks.CurrentKey(), w, res)
}

// fireLate emits window w again after a late record changed one of its
// panes, combining the panes directly (the slider serves regular firings).
func (o *Operator) fireLate(w Window) error {
	have := false
	for ps := w.Start; ps < w.End; ps += o.pane {
		v, ok, err := o.readPane(ps)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if !have {
			o.accA = append(o.accA[:0], v...)
			have = true
			continue
		}
		o.accB = o.merge(o.accA, v, o.accB[:0])
		o.accA, o.accB = o.accB, o.accA
	}
	if !have {
		return nil
	}
	return o.emitValue(o.core.ks.CurrentKey(), w, o.accA)
}

// rebuildSlider makes the front the suffix aggregates of w's panes.
func (o *Operator) rebuildSlider(w Window) error {
	sl := &o.sl
	n := int((w.End - w.Start) / o.pane)
	for len(o.sufBufs) < n {
		o.sufBufs = append(o.sufBufs, nil)
	}
	sl.front = sl.front[:0]
	for range n {
		sl.front = append(sl.front, nil)
	}
	sl.fs, sl.b, sl.be, sl.back, sl.last = w.Start, w.End, w.End, nil, math.MinInt64
	var next []byte // suffix of the panes after i
	for i := n - 1; i >= 0; i-- {
		ps := w.Start + int64(i)*o.pane
		p, ok, err := o.readPane(ps)
		if err != nil {
			return err
		}
		switch {
		case ok && sl.last == math.MinInt64:
			sl.last = ps
			fallthrough
		case ok && next == nil:
			o.sufBufs[i] = append(o.sufBufs[i][:0], p...)
		case ok:
			o.sufBufs[i] = o.merge(p, next, o.sufBufs[i][:0])
		case next == nil:
			continue
		default:
			o.sufBufs[i] = append(o.sufBufs[i][:0], next...)
		}
		next = o.sufBufs[i]
		sl.front[i] = next
	}
	return nil
}

// readPane returns the accumulator of the pane starting at ps.
func (o *Operator) readPane(ps int64) ([]byte, bool, error) {
	o.ns2 = Window{ps, addSat(ps, o.pane)}.AppendNamespace(o.ns2[:0])
	o.core.ks.SetCurrentNamespace(o.ns2)
	v, ok, err := o.vs.Get()
	if err != nil {
		return nil, false, fmt.Errorf("reading pane at %d: %w", ps, err)
	}
	return v, ok, nil
}

// merge combines two accumulators (or reduced elements) into dst.
func (o *Operator) merge(a, b, dst []byte) []byte {
	if o.cfg.Aggregate != nil {
		return o.cfg.Aggregate.Merge(a, b, dst)
	}
	return o.cfg.Reduce(a, b, dst)
}

// slider is the decoded two-stacks aggregate of one key; nil slices are
// aggregates of no data.
type slider struct {
	fs, b, be, last int64
	front           [][]byte
	back            []byte
}

func (s *slider) encode(dst []byte) []byte {
	dst = binary.AppendVarint(dst, s.fs)
	dst = binary.AppendVarint(dst, s.b)
	dst = binary.AppendVarint(dst, s.be)
	dst = binary.AppendVarint(dst, s.last)
	dst = binary.AppendUvarint(dst, uint64(len(s.front)))
	for _, f := range s.front {
		dst = appendOpt(dst, f)
	}
	return appendOpt(dst, s.back)
}

func appendOpt(dst, v []byte) []byte {
	if v == nil {
		return append(dst, 0)
	}
	dst = append(dst, 1)
	dst = binary.AppendUvarint(dst, uint64(len(v)))
	return append(dst, v...)
}

var errSlider = fmt.Errorf("%w: malformed slider", ErrCorruptState)

// decode parses v, copying it to *buf first: the slices point into *buf.
func (s *slider) decode(v []byte, buf *[]byte) error {
	*buf = append((*buf)[:0], v...)
	b := *buf
	var ok bool
	varint := func(dst *int64) {
		x, n := binary.Varint(b)
		if n <= 0 {
			ok = false
			return
		}
		*dst, b = x, b[n:]
	}
	ok = true
	varint(&s.fs)
	varint(&s.b)
	varint(&s.be)
	varint(&s.last)
	cnt, n := binary.Uvarint(b)
	if !ok || n <= 0 || cnt > uint64(len(b)) {
		return errSlider
	}
	b = b[n:]
	opt := func() []byte {
		if len(b) == 0 {
			ok = false
			return nil
		}
		present := b[0]
		b = b[1:]
		if present == 0 {
			return nil
		}
		l, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < l {
			ok = false
			return nil
		}
		x := b[n : n+int(l) : n+int(l)]
		b = b[n+int(l):]
		return x
	}
	s.front = s.front[:0]
	for range cnt {
		s.front = append(s.front, opt())
	}
	s.back = opt()
	if !ok || len(s.front) == 0 {
		return errSlider
	}
	return nil
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
