package windows

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/freshet/freshet/engine/api"
)

// Sliding windows of few panes: a key's panes in one value.
//
// When a window spans few panes (size plus allowed lateness at most
// maxSetPanes panes), the operator keeps every live pane of a key in one
// value state, "<name>.panes", instead of one value per pane and the
// two-stacks slider of panes.go, and gives the key one timer (empty
// namespace) instead of one per window:
//
//   - A record is a read-modify-write of that value: the pane's
//     accumulator is updated in place among the others.
//   - The key's timer is at the earliest time something is due: the end
//     of its first window that holds data and has not fired, or, when every
//     window of a pane has fired, the time the pane is dropped (end of its
//     last window plus the allowed lateness). The value records that time,
//     so a record that makes something due earlier moves the timer.
//   - When the timer fires, every window of the key that is due (its last
//     timestamp at or behind the watermark, or the clock in processing time)
//     fires from that one read, in order, each combining its panes with the
//     function's merge; then the panes no window needs any more are dropped
//     and the timer moves to what is due next. At the end of input a key
//     fires all its windows with one read and one delete, where the per-pane
//     layout needs a timer, reads and writes per window.
//   - The value also records done: every window whose last timestamp is at
//     or before done has fired. In event time done follows the watermark; a
//     late record (allowed lateness) fires the windows it changes that are
//     behind the watermark at once. In processing time done is the last
//     millisecond the clock had passed when the timer fired.
//   - The set stays small: it holds the panes of the windows not yet
//     cleaned up and panes less than the horizon (maxSetPanes panes) ahead
//     of the watermark (the clock in processing time). A pane further ahead
//     (a watermark that lags the data, or none yet) is a far pane: it is
//     kept in "<name>.contents" under the pane as namespace, as in the
//     per-pane layout, with a timer (the pane's namespace) at the time it
//     comes within the horizon, which moves it into the set. One firing
//     emits the windows that end less than the horizon after its timer, so
//     a far pane always joins the set before a window holding it fires; a
//     key further behind fires again at once for the next ones.
//
// Windows of different keys that fall due with one watermark come out key
// by key rather than in time order; each key's windows are in time order.
//
// Value: done (varint), timer (varint, math.MinInt64 when none), the number
// of panes (uvarint), then per pane in start order its start (varint) and
// accumulator (uvarint length, bytes).

// maxSetPanes bounds the panes of a window (size and allowed lateness) for
// which a key's panes share one value: every record rewrites them all.
const maxSetPanes = 32

// noTimer marks a pane set without a registered timer.
const noTimer = math.MinInt64

// paneAcc is one pane of a set: its start and accumulator.
type paneAcc struct {
	start int64
	acc   []byte
}

// paneSet is a decoded "<name>.panes" value.
type paneSet struct {
	done  int64
	timer int64
	panes []paneAcc // by start; acc slices point into the operator's buffers
}

var errPaneSet = fmt.Errorf("%w: malformed pane set", ErrCorruptState)

// decode parses v, copying it to *buf first: the accumulators point into
// *buf.
func (s *paneSet) decode(v []byte, buf *[]byte) error {
	*buf = append((*buf)[:0], v...)
	b := *buf
	s.panes = s.panes[:0]
	var n int
	if s.done, n = binary.Varint(b); n <= 0 {
		return errPaneSet
	}
	b = b[n:]
	if s.timer, n = binary.Varint(b); n <= 0 {
		return errPaneSet
	}
	b = b[n:]
	cnt, n := binary.Uvarint(b)
	if n <= 0 || cnt > uint64(len(b)) {
		return errPaneSet
	}
	b = b[n:]
	for range cnt {
		start, n := binary.Varint(b)
		if n <= 0 || (len(s.panes) > 0 && start <= s.panes[len(s.panes)-1].start) {
			return errPaneSet
		}
		b = b[n:]
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return errPaneSet
		}
		b = b[n:]
		s.panes = append(s.panes, paneAcc{start: start, acc: b[:l:l]})
		b = b[l:]
	}
	if len(b) != 0 {
		return errPaneSet
	}
	return nil
}

func (s *paneSet) encode(dst []byte) []byte {
	dst = binary.AppendVarint(dst, s.done)
	dst = binary.AppendVarint(dst, s.timer)
	dst = binary.AppendUvarint(dst, uint64(len(s.panes)))
	for _, p := range s.panes {
		dst = binary.AppendVarint(dst, p.start)
		dst = binary.AppendUvarint(dst, uint64(len(p.acc)))
		dst = append(dst, p.acc...)
	}
	return dst
}

// readSet loads the current key's pane set, reporting whether it has one.
func (o *Operator) readSet() (bool, error) {
	o.core.ks.SetCurrentNamespace(nil)
	v, ok, err := o.panes.Get()
	if err != nil {
		return false, fmt.Errorf("reading panes: %w", err)
	}
	if !ok {
		o.set = paneSet{done: math.MinInt64, timer: noTimer, panes: o.set.panes[:0]}
		return false, nil
	}
	if err := o.set.decode(v, &o.setBuf); err != nil {
		return false, err
	}
	return true, nil
}

// writeSet stores o.set for the current key, or clears it when it holds no
// pane.
func (o *Operator) writeSet() error {
	o.core.ks.SetCurrentNamespace(nil)
	if len(o.set.panes) == 0 {
		if err := o.panes.Clear(); err != nil {
			return fmt.Errorf("dropping panes: %w", err)
		}
		return nil
	}
	o.setEnc = o.set.encode(o.setEnc[:0])
	if err := o.panes.Put(o.setEnc); err != nil {
		return fmt.Errorf("writing panes: %w", err)
	}
	return nil
}

// lastStart is the start of the last window holding the pane at ps.
func (o *Operator) lastStart(ps int64) int64 {
	a := &o.cfg.Assigner
	return startOf(ps, a.offset, a.slide)
}

// firstStart is the start of the first window holding the pane at ps.
func (o *Operator) firstStart(ps int64) int64 {
	a := &o.cfg.Assigner
	last := o.lastStart(ps)
	return last - ((last-ps+a.size-1)/a.slide)*a.slide
}

// pendingStart is the start of the first window holding the pane at ps
// that has not fired (its last timestamp after done); ok is false when all
// of them have.
func (o *Operator) pendingStart(ps, done int64) (s int64, ok bool) {
	a := &o.cfg.Assigner
	last := o.lastStart(ps)
	if addSat(last, a.size)-1 <= done {
		return 0, false
	}
	s = o.firstStart(ps)
	if end := s + a.size - 1; end <= done {
		// done < last+size-1, so the difference is below the size.
		s += ((done-end)/a.slide + 1) * a.slide
	}
	return s, true
}

// dropTime is when the pane at ps is no longer needed: its last window is
// cleaned up.
func (o *Operator) dropTime(ps int64) int64 {
	last := o.lastStart(ps)
	return o.cleanupTime(Window{last, addSat(last, o.cfg.Assigner.size)})
}

// nextDue is the next time the pane at ps needs the key's timer.
func (o *Operator) nextDue(ps, done int64) int64 {
	if s, ok := o.pendingStart(ps, done); ok {
		return addSat(s, o.cfg.Assigner.size) - 1
	}
	return o.dropTime(ps)
}

// setTimer makes t the key's one timer (the set records it).
func (o *Operator) setTimer(t int64) error {
	s := &o.set
	if s.timer == t {
		return nil
	}
	o.core.ks.SetCurrentNamespace(nil)
	if s.timer != noTimer {
		if err := o.deleteTimer(s.timer); err != nil {
			return err
		}
	}
	s.timer = t
	if t == noTimer {
		return nil
	}
	return o.registerTimer(t)
}

// addToSet adds the current element to the pane of ts in the key's set.
func (o *Operator) addToSet(ts int64) (bool, error) {
	a := &o.cfg.Assigner
	wm := o.core.watermark()
	ps := startOf(ts, a.offset, o.pane)
	if o.eventTime && o.dropTime(ps) <= wm {
		return false, nil // every window of the record is gone
	}
	if ps >= addSat(o.reference(), o.horizon) {
		return true, o.addFar(ps)
	}
	if _, err := o.readSet(); err != nil {
		return true, err
	}
	s := &o.set
	i, found := o.findPane(ps)
	var old []byte
	if found {
		old = s.panes[i].acc
	}
	o.paneAcc = o.accumulate(old, found, o.paneAcc[:0])
	if found {
		s.panes[i].acc = o.paneAcc
	} else {
		s.panes = slices.Insert(s.panes, i, paneAcc{start: ps, acc: o.paneAcc})
	}
	if o.eventTime {
		// Windows behind the watermark that hold the pane and are still
		// kept fire again (allowed lateness) with the record; every other
		// window up to the watermark has fired.
		w := Window{Start: o.firstStart(ps)}
		for last := o.lastStart(ps); w.Start <= last; w.Start += a.slide {
			w.End = addSat(w.Start, a.size)
			if w.MaxTimestamp() > wm {
				break
			}
			if o.cleanupTime(w) > wm {
				if err := o.fireFromSet(w); err != nil {
					return true, err
				}
			}
		}
		s.done = max(s.done, wm)
	}
	if next := o.nextDue(ps, s.done); s.timer == noTimer || next < s.timer {
		if err := o.setTimer(next); err != nil {
			return true, err
		}
	}
	return true, o.writeSet()
}

// reference is the time the horizon counts from: the watermark, or in
// processing time the last millisecond the clock has passed.
func (o *Operator) reference() int64 {
	if o.eventTime {
		return o.core.watermark()
	}
	return o.core.now() - 1
}

// findPane returns the index of the pane at ps in the set, or where it
// would go.
func (o *Operator) findPane(ps int64) (int, bool) {
	return slices.BinarySearchFunc(o.set.panes, ps, func(p paneAcc, ps int64) int {
		switch {
		case p.start < ps:
			return -1
		case p.start > ps:
			return 1
		}
		return 0
	})
}

// addFar adds the current element to the far pane at ps, which joins the
// set when its timer fires.
func (o *Operator) addFar(ps int64) error {
	o.setNS(Window{ps, addSat(ps, o.pane)})
	first, err := o.add()
	if err != nil || !first {
		return err
	}
	return o.registerTimer(ps - o.horizon + 1)
}

// adoptFar moves the far pane of timer t into the key's set.
func (o *Operator) adoptFar(t api.Timer) error {
	w, err := WindowOf(t.Namespace)
	if err != nil {
		return fmt.Errorf("window timer: %w", err)
	}
	o.core.ks.SetCurrentNamespace(t.Namespace)
	v, ok, err := o.vs.Get()
	if err != nil {
		return fmt.Errorf("reading pane at %d: %w", w.Start, err)
	}
	if !ok {
		return nil
	}
	o.farAcc = append(o.farAcc[:0], v...)
	if err := o.vs.Clear(); err != nil {
		return fmt.Errorf("moving pane at %d: %w", w.Start, err)
	}
	if _, err := o.readSet(); err != nil {
		return err
	}
	s := &o.set
	switch i, found := o.findPane(w.Start); {
	case found: // records that came after the pane came within the horizon
		o.paneAcc = o.merge(s.panes[i].acc, o.farAcc, o.paneAcc[:0])
		s.panes[i].acc = o.paneAcc
	default:
		s.panes = slices.Insert(s.panes, i, paneAcc{start: w.Start, acc: o.farAcc})
	}
	if next := o.nextDue(w.Start, s.done); s.timer == noTimer || next < s.timer {
		if err := o.setTimer(next); err != nil {
			return err
		}
	}
	return o.writeSet()
}

// accumulate adds the current element to accumulator (or reduced element)
// old, present when ok, appending the result to dst.
func (o *Operator) accumulate(old []byte, ok bool, dst []byte) []byte {
	switch {
	case o.cfg.Aggregate != nil:
		if !ok {
			o.accA = o.cfg.Aggregate.CreateAccumulator(o.accA[:0])
			old = o.accA
		}
		return o.cfg.Aggregate.Add(old, o.elem, dst)
	case !ok:
		return append(dst, o.elem...)
	default:
		return o.cfg.Reduce(old, o.elem, dst)
	}
}

// fireFromSet emits window w combined from the panes of the set it holds.
func (o *Operator) fireFromSet(w Window) error {
	have := false
	for _, p := range o.set.panes {
		if p.start < w.Start {
			continue
		}
		if p.start >= w.End {
			break
		}
		if !have {
			o.accA = append(o.accA[:0], p.acc...)
			have = true
			continue
		}
		o.accB = o.merge(o.accA, p.acc, o.accB[:0])
		o.accA, o.accB = o.accB, o.accA
	}
	if !have {
		return nil
	}
	return o.emitValue(o.core.ks.CurrentKey(), w, o.accA)
}

// onSetTimer fires every window of the timer's key that is due, drops the
// panes no window needs any more and moves the key's timer on; or, for a
// far pane's timer, moves the pane into the set.
func (o *Operator) onSetTimer(t api.Timer) error {
	if (t.Domain == api.EventTime) != o.eventTime {
		return nil
	}
	if len(t.Namespace) > 0 {
		return o.adoptFar(t)
	}
	ok, err := o.readSet()
	if err != nil || !ok {
		return err
	}
	s := &o.set
	if s.timer == t.Timestamp {
		s.timer = noTimer // it has fired
	}
	limit := o.core.watermark()
	if !o.eventTime {
		// What the clock has passed: a record in the current millisecond
		// still belongs to the windows that end with it.
		limit = max(t.Timestamp, o.core.now()-1)
	}
	// A far pane p comes into the set at p - horizon + 1: by this timer's
	// time if it is before p - 1, so windows up to there hold no other.
	limit = min(limit, addSat(t.Timestamp, o.horizon-2))
	if limit > s.done && len(s.panes) > 0 {
		if err := o.fireDue(limit); err != nil {
			return err
		}
		s.done = limit
	}
	kept := s.panes[:0]
	next := int64(math.MaxInt64)
	for _, p := range s.panes {
		if o.dropTime(p.start) <= limit {
			continue
		}
		kept = append(kept, p)
		next = min(next, o.nextDue(p.start, s.done))
	}
	clear(s.panes[len(kept):])
	s.panes = kept
	if len(kept) == 0 {
		next = noTimer
	}
	if err := o.setTimer(next); err != nil {
		return err
	}
	return o.writeSet()
}

// fireDue emits, in order, every window that holds a pane of the set and
// whose last timestamp lies in (done, limit].
func (o *Operator) fireDue(limit int64) error {
	a := &o.cfg.Assigner
	panes := o.set.panes
	s, ok := int64(0), false
	lo := 0
	for ; lo < len(panes) && !ok; lo++ {
		s, ok = o.pendingStart(panes[lo].start, o.set.done)
	}
	if !ok {
		return nil
	}
	lo--
	for lo < len(panes) {
		w := Window{s, addSat(s, a.size)}
		if w.MaxTimestamp() > limit {
			break
		}
		if panes[lo].start >= w.End {
			// No pane in w: go to the first window of the next pane.
			s = max(s+a.slide, o.firstStart(panes[lo].start))
			continue
		}
		if err := o.fireFromSet(w); err != nil {
			return err
		}
		s += a.slide
		for lo < len(panes) && panes[lo].start < s {
			lo++
		}
	}
	return nil
}
