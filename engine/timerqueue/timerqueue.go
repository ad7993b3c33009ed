// Package timerqueue holds the keyed timers of one operator subtask for the
// test harnesses (engine/windows/windowstest and host/harness) and fires
// them by the runtime's rules (engine/internal/task, documented on
// api.TimerService), so that both harnesses emulate the runtime the same way
// and a change of the rules is made in one place:
//
//   - A timer is unique by (domain, time, key, namespace): registering it
//     again does nothing.
//   - An event-time timer for t fires once the watermark reaches t.
//   - A processing-time timer for t fires once the clock has passed t, at
//     t+1 ms or later (Flink's margin), and the clock reads at least t+1
//     while it fires.
//   - At the end of input (FlushProcessingTime, after the event-time timers
//     of MaxWatermark) every pending processing-time timer fires once, in
//     time order, with the clock advanced past each. One registered during
//     that flush fires too if it is due by the flush point (just past the
//     latest timer pending when the flush began, or the clock if later)
//     and has not fired in the flush already; later ones are dropped.
//     Nothing else flushes: a stop leaves the timers pending.
//   - Timers registered while timers fire fire in the same round if due.
//
// Unlike the runtime, which orders due timers by time only, a Queue fires
// timers of equal time in order of key, then namespace, so that harness
// runs are reproducible.
package timerqueue

import (
	"bytes"
	"cmp"
	"container/heap"
	"encoding/binary"
	"math"
	"slices"

	"github.com/freshet/freshet/engine/api"
)

// Func is called for each timer that fires. The harness sets the current
// key and namespace and calls the operator's OnTimer.
type Func func(t api.Timer) error

// Queue is the timers of one keyed operator subtask. The zero value is not
// usable; call New. A Queue is not safe for concurrent use.
type Queue struct {
	event, proc entryHeap
	live        map[string]*entry // by id; an entry in a heap but not here was deleted
	scratch     []byte

	// While FlushProcessingTime runs: the latest time it fires and the ids
	// of the processing-time timers it fired.
	flushing   bool
	flushLimit int64
	flushed    map[string]struct{}
}

type entry struct {
	t  api.Timer
	id string
}

// New returns an empty Queue.
func New() *Queue { return &Queue{live: map[string]*entry{}} }

// After is the first millisecond after ts: the earliest clock at which a
// processing-time timer for ts fires.
func After(ts int64) int64 {
	if ts == math.MaxInt64 {
		return ts
	}
	return ts + 1
}

// id encodes a timer's identity into the scratch buffer.
func (q *Queue) id(d api.TimeDomain, ts int64, key, ns []byte) []byte {
	b := append(q.scratch[:0], byte(d))
	b = binary.BigEndian.AppendUint64(b, uint64(ts))
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	b = append(b, ns...)
	q.scratch = b
	return b
}

// Register adds the timer (d, ts, key, ns) unless it is pending already,
// or, during FlushProcessingTime, it is a processing-time timer that the
// flush will not fire (see the package comment). It copies key and ns.
func (q *Queue) Register(d api.TimeDomain, ts int64, key, ns []byte) {
	id := q.id(d, ts, key, ns)
	if _, ok := q.live[string(id)]; ok {
		return
	}
	if q.flushing && d == api.ProcessingTime {
		if _, again := q.flushed[string(id)]; again || ts > q.flushLimit {
			return
		}
	}
	e := &entry{id: string(id), t: api.Timer{Key: append([]byte{}, key...), Namespace: bytes.Clone(ns), Timestamp: ts, Domain: d}}
	q.live[e.id] = e
	if d == api.EventTime {
		heap.Push(&q.event, e)
	} else {
		heap.Push(&q.proc, e)
	}
}

// Delete removes the timer (d, ts, key, ns) if it is pending.
func (q *Queue) Delete(d api.TimeDomain, ts int64, key, ns []byte) {
	delete(q.live, string(q.id(d, ts, key, ns)))
}

// Len is the number of pending timers.
func (q *Queue) Len() int { return len(q.live) }

// Pending lists the pending timers in firing order: the event-time ones,
// then the processing-time ones, each by time, key and namespace. The
// timers' bytes are the queue's: do not modify them.
func (q *Queue) Pending() []api.Timer {
	out := make([]api.Timer, 0, len(q.live))
	for _, e := range q.live {
		out = append(out, e.t)
	}
	slices.SortFunc(out, func(a, b api.Timer) int {
		return cmp.Or(cmp.Compare(a.Domain, b.Domain), compare(a, b))
	})
	return out
}

// FireEventTime fires, in order, every event-time timer at or before the
// watermark wm, including those registered meanwhile.
func (q *Queue) FireEventTime(wm int64, fire Func) error {
	return q.fire(&q.event, wm, nil, fire)
}

// FireProcessingTime fires, in order, every processing-time timer the
// clock (*clock, in ms) has passed: those for times before *clock.
func (q *Queue) FireProcessingTime(clock *int64, fire Func) error {
	if *clock == math.MinInt64 {
		return nil
	}
	return q.fire(&q.proc, *clock-1, clock, fire)
}

// FlushProcessingTime fires every pending processing-time timer, at the
// end of input, in time order, as if the clock ran on to just past the
// latest of them: *clock is advanced past each timer's time before it
// fires, and stays there. Each timer fires once; see the package comment
// for timers registered while it runs.
func (q *Queue) FlushProcessingTime(clock *int64, fire Func) error {
	limit := *clock
	if limit != math.MinInt64 {
		limit--
	}
	for _, e := range q.proc {
		if q.live[e.id] == e && e.t.Timestamp > limit {
			limit = e.t.Timestamp
		}
	}
	q.flushing, q.flushLimit, q.flushed = true, limit, map[string]struct{}{}
	defer func() { q.flushing, q.flushed = false, nil }()
	return q.fire(&q.proc, limit, clock, fire)
}

// fire pops and fires the live timers of h due at or before limit. For
// processing-time timers clock is advanced to just past each one's time.
func (q *Queue) fire(h *entryHeap, limit int64, clock *int64, fire Func) error {
	for h.Len() > 0 && (*h)[0].t.Timestamp <= limit {
		e := heap.Pop(h).(*entry)
		if q.live[e.id] != e {
			continue // deleted, or deleted and registered again (that entry fires)
		}
		delete(q.live, e.id)
		if e.t.Domain == api.ProcessingTime {
			*clock = max(*clock, After(e.t.Timestamp))
			if q.flushing {
				q.flushed[e.id] = struct{}{}
			}
		}
		if err := fire(e.t); err != nil {
			return err
		}
	}
	return nil
}

func compare(a, b api.Timer) int {
	return cmp.Or(cmp.Compare(a.Timestamp, b.Timestamp), bytes.Compare(a.Key, b.Key), bytes.Compare(a.Namespace, b.Namespace))
}

// entryHeap orders timers by time, key and namespace.
type entryHeap []*entry

func (h entryHeap) Len() int           { return len(h) }
func (h entryHeap) Less(i, j int) bool { return compare(h[i].t, h[j].t) < 0 }
func (h entryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *entryHeap) Push(x any)        { *h = append(*h, x.(*entry)) }
func (h *entryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}
