package windows

import (
	"encoding/binary"
	"fmt"

	"github.com/freshet/freshet/engine/api"
)

// Session windows.
//
// Each key keeps its open sessions in the value state "<name>.sessions" (in
// the empty namespace): for each, the session's window and its state window,
// the namespace its contents live in. A session that absorbs others keeps
// its state window, so merging moves the contents of the absorbed sessions
// only; timers and trigger state follow the session's actual window.
//
// With the default trigger (event-time or processing-time) timers follow the
// state window instead, and are not moved when a session grows: a timer
// that fires before the session's current end re-registers itself at that
// end. A record that extends a session then costs no timer work, which is
// what most records of a busy session do.

type session struct {
	w, state Window
}

const sessionLen = 32

func (o *Operator) loadSessions() error {
	o.core.ks.SetCurrentNamespace(nil)
	o.sess = o.sess[:0]
	v, ok, err := o.sessions.Get()
	if err != nil {
		return fmt.Errorf("reading sessions: %w", err)
	}
	if !ok {
		return nil
	}
	if len(v)%sessionLen != 0 {
		return fmt.Errorf("reading sessions: %w: %d bytes", ErrCorruptState, len(v))
	}
	for ; len(v) > 0; v = v[sessionLen:] {
		o.sess = append(o.sess, session{
			w:     Window{int64(binary.BigEndian.Uint64(v)), int64(binary.BigEndian.Uint64(v[8:]))},
			state: Window{int64(binary.BigEndian.Uint64(v[16:])), int64(binary.BigEndian.Uint64(v[24:]))},
		})
	}
	return nil
}

func (o *Operator) storeSessions() error {
	o.core.ks.SetCurrentNamespace(nil)
	if len(o.sess) == 0 {
		return o.sessions.Clear()
	}
	b := o.res[:0]
	for _, s := range o.sess {
		b = binary.BigEndian.AppendUint64(b, uint64(s.w.Start))
		b = binary.BigEndian.AppendUint64(b, uint64(s.w.End))
		b = binary.BigEndian.AppendUint64(b, uint64(s.state.Start))
		b = binary.BigEndian.AppendUint64(b, uint64(s.state.End))
	}
	o.res = b
	if err := o.sessions.Put(b); err != nil {
		return fmt.Errorf("writing sessions: %w", err)
	}
	return nil
}

// addSession adds the current element to its session, merging sessions it
// connects.
func (o *Operator) addSession(ts int64) (bool, error) {
	wm := o.core.watermark()
	nw := Window{ts, addSat(ts, o.cfg.Assigner.gap)}
	if err := o.loadSessions(); err != nil {
		return true, err
	}
	merged, n, firstIdx := nw, 0, -1
	for i, s := range o.sess {
		if s.w.Intersects(nw) {
			merged = merged.Cover(s.w)
			n++
			if firstIdx < 0 {
				firstIdx = i
			}
		}
	}
	if o.isLate(merged, wm) {
		return false, nil
	}
	var target session
	refire := false // a merged session's fire timer may have fired already
	switch {
	case n == 0:
		target = session{w: nw, state: nw}
		o.sess = append(o.sess, target)
		if err := o.storeSessions(); err != nil {
			return true, err
		}
	case n == 1 && o.sess[firstIdx].w == merged:
		target = o.sess[firstIdx]
	default:
		for _, s := range o.sess {
			if s.w.Intersects(nw) && s.w.MaxTimestamp() <= wm {
				refire = true
			}
		}
		var err error
		if target, err = o.mergeSessions(nw, merged, firstIdx); err != nil {
			return true, err
		}
	}
	o.ns2 = target.state.AppendNamespace(o.ns2[:0])
	o.core.ks.SetCurrentNamespace(o.ns2)
	first, err := o.add()
	if err != nil {
		return true, err
	}
	if o.lazy {
		return true, o.lazyElement(target, first || refire, wm)
	}
	o.setNS(target.w)
	o.tc.Window, o.tc.First = target.w, first
	res, err := o.trigger.OnElement(&o.tc, ts)
	if err != nil {
		return true, fmt.Errorf("trigger %s on window %s: %w", o.trigger, target.w, err)
	}
	if err := o.act(res, target.w, o.ns2); err != nil {
		return true, err
	}
	if first {
		o.setNS(target.w)
		if err := o.registerCleanup(target.w); err != nil {
			return true, err
		}
	}
	return true, nil
}

// mergeSessions replaces the sessions that intersect nw by one session
// covering them (merged), whose contents live in the state window of the
// first of them.
func (o *Operator) mergeSessions(nw, merged Window, firstIdx int) (session, error) {
	target := session{w: merged, state: o.sess[firstIdx].state}
	o.merged = o.merged[:0]
	kept := o.sess[:0]
	var absorbed []Window // state windows to fold into target.state
	for _, s := range o.sess {
		if !s.w.Intersects(nw) {
			kept = append(kept, s)
			continue
		}
		o.merged = append(o.merged, s.w)
		if s.state != target.state {
			absorbed = append(absorbed, s.state)
		}
	}
	o.sess = append(kept, target)
	for _, from := range absorbed {
		if err := o.moveContents(from, target.state); err != nil {
			return target, err
		}
	}
	if o.lazy {
		// The absorbed sessions' timers find no session and do nothing.
		return target, o.storeSessions()
	}
	o.setNS(merged)
	o.tc.Window, o.tc.First = merged, false
	if err := o.trigger.OnMerge(&o.tc, o.merged); err != nil {
		return target, fmt.Errorf("trigger %s merging into %s: %w", o.trigger, merged, err)
	}
	for _, m := range o.merged {
		o.setNS(m)
		o.tc.Window = m
		if err := o.trigger.Clear(&o.tc); err != nil {
			return target, fmt.Errorf("trigger %s clearing merged window %s: %w", o.trigger, m, err)
		}
		if err := o.deleteTimer(o.cleanupTime(m)); err != nil {
			return target, err
		}
	}
	o.setNS(merged)
	if err := o.registerCleanup(merged); err != nil {
		return target, err
	}
	return target, o.storeSessions()
}

// moveContents folds the contents in namespace from into namespace into.
func (o *Operator) moveContents(from, into Window) error {
	o.setNS(from)
	if o.mode == listMode {
		err := o.collectElements()
		if err == nil {
			err = o.clearElements()
		}
		o.setNS(into)
		elem := o.elem // the record being added; moved elements pass through addElement
		for _, v := range o.copies {
			if err != nil {
				break
			}
			o.elem = v
			_, err = o.addElement()
		}
		o.elem = elem
		if err != nil {
			return fmt.Errorf("merging session contents: %w", err)
		}
		return nil
	}
	v, ok, err := o.vs.Get()
	if err != nil || !ok {
		return err
	}
	o.accA = append(o.accA[:0], v...)
	if err := o.vs.Clear(); err != nil {
		return err
	}
	o.setNS(into)
	old, ok, err := o.vs.Get()
	if err != nil {
		return err
	}
	next := o.accA
	if ok {
		if o.cfg.Aggregate != nil {
			o.accB = o.cfg.Aggregate.Merge(old, o.accA, o.accB[:0])
		} else {
			o.accB = o.cfg.Reduce(old, o.accA, o.accB[:0])
		}
		next = o.accB
	}
	if err := o.vs.Put(next); err != nil {
		return fmt.Errorf("merging session contents: %w", err)
	}
	return nil
}

// lazyElement applies the default trigger to a record added to session s
// (in the state window's namespace). arm registers the session's timers:
// for a new session, or one that grew out of a session that already fired.
func (o *Operator) lazyElement(s session, arm bool, wm int64) error {
	if o.eventTime && s.w.MaxTimestamp() <= wm {
		// A late record within the allowed lateness: fire now; the state
		// still needs its cleanup timer.
		if err := o.emit(s.w); err != nil || !arm {
			return err
		}
		return o.registerTimer(o.cleanupTime(s.w))
	}
	if !arm {
		return nil
	}
	if err := o.registerTimer(s.w.MaxTimestamp()); err != nil {
		return err
	}
	if c := o.cleanupTime(s.w); c != s.w.MaxTimestamp() {
		return o.registerTimer(c)
	}
	return nil
}

// onLazyTimer handles a timer of the session whose state window is state.
func (o *Operator) onLazyTimer(t api.Timer, state Window) error {
	if (t.Domain == api.EventTime) != o.eventTime {
		return nil
	}
	if err := o.loadSessions(); err != nil {
		return err
	}
	idx := -1
	for i, s := range o.sess {
		if s.state == state {
			idx = i
			break
		}
	}
	if idx < 0 {
		return nil // absorbed by another session, or already dropped
	}
	s := o.sess[idx]
	fireAt, cleanAt := s.w.MaxTimestamp(), o.cleanupTime(s.w)
	o.ns2 = append(o.ns2[:0], t.Namespace...)
	o.core.ks.SetCurrentNamespace(o.ns2)
	switch {
	case t.Timestamp < fireAt:
		return o.registerTimer(fireAt) // the session grew since
	case t.Timestamp == fireAt:
		if err := o.emit(s.w); err != nil {
			return err
		}
		if cleanAt != fireAt {
			o.core.ks.SetCurrentNamespace(o.ns2)
			return o.registerTimer(cleanAt)
		}
	case t.Timestamp < cleanAt:
		return o.registerTimer(cleanAt)
	}
	// Cleanup time.
	o.core.ks.SetCurrentNamespace(o.ns2)
	if err := o.clearContents(); err != nil {
		return err
	}
	if err := o.loadSessions(); err != nil {
		return err
	}
	for i := range o.sess {
		if o.sess[i].state == state {
			o.sess = append(o.sess[:i], o.sess[i+1:]...)
			break
		}
	}
	return o.storeSessions()
}

func (o *Operator) onSessionTimer(t api.Timer, w Window) error {
	if o.lazy {
		return o.onLazyTimer(t, w)
	}
	if err := o.loadSessions(); err != nil {
		return err
	}
	idx := -1
	for i, s := range o.sess {
		if s.w == w {
			idx = i
			break
		}
	}
	if idx < 0 {
		return nil // the session was merged into another one meanwhile
	}
	s := o.sess[idx]
	o.setNS(w)
	o.tc.Window, o.tc.First = w, false
	res, err := o.fireTrigger(t)
	if err != nil {
		return err
	}
	o.ns2 = s.state.AppendNamespace(o.ns2[:0])
	if err := o.act(res, w, o.ns2); err != nil {
		return err
	}
	if !o.isCleanupTimer(t, w) {
		return nil
	}
	o.core.ks.SetCurrentNamespace(o.ns2)
	if err := o.clearContents(); err != nil {
		return err
	}
	o.setNS(w)
	if err := o.trigger.Clear(&o.tc); err != nil {
		return fmt.Errorf("trigger %s clearing window %s: %w", o.trigger, w, err)
	}
	if err := o.loadSessions(); err != nil {
		return err
	}
	for i := range o.sess {
		if o.sess[i].w == w {
			o.sess = append(o.sess[:i], o.sess[i+1:]...)
			break
		}
	}
	return o.storeSessions()
}
