package task

import (
	"container/heap"
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/freshet/freshet/engine/api"
)

// timerService holds the event-time and processing-time timers of one keyed
// operator subtask. Timers are de-duplicated by (domain, time, key,
// namespace) and fire in time order. Deleting a timer removes it from the
// set; the queue drops it lazily when it reaches the front.
//
// An event-time timer for t fires when the watermark reaches t. A
// processing-time timer for t fires once the clock has passed t, at t+1 ms
// or later (Flink's margin): a window's timer sits at its last millisecond,
// and a record processed during that millisecond still belongs to the
// window, so the window must not have fired yet.
type timerService struct {
	o       *opRuntime
	event   timerQueue
	proc    timerQueue
	set     map[string]struct{}
	scratch []byte

	// While flushProcessing runs: the latest time it fires, and the
	// processing-time timers it fired (each fires once).
	flushing   bool
	flushLimit int64
	flushed    map[string]struct{}
}

type timerEntry struct {
	ts     int64
	key    []byte
	ns     []byte
	domain api.TimeDomain
	id     string
}

type timerQueue []*timerEntry

func (q timerQueue) Len() int           { return len(q) }
func (q timerQueue) Less(i, j int) bool { return q[i].ts < q[j].ts }
func (q timerQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *timerQueue) Push(x any)        { *q = append(*q, x.(*timerEntry)) }
func (q *timerQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return e
}

func newTimerService(o *opRuntime) *timerService {
	return &timerService{o: o, set: map[string]struct{}{}}
}

// id encodes a timer's identity into the scratch buffer.
func (s *timerService) id(domain api.TimeDomain, ts int64, key, ns []byte) []byte {
	b := append(s.scratch[:0], byte(domain))
	b = binary.BigEndian.AppendUint64(b, uint64(ts))
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	b = append(b, ns...)
	s.scratch = b
	return b
}

func (s *timerService) register(domain api.TimeDomain, ts int64) error {
	ks := s.o.backend
	key := ks.CurrentKey()
	if key == nil {
		return fmt.Errorf("timer registered without a current key (only keyed operators have timers)")
	}
	ns := ks.CurrentNamespace()
	id := s.id(domain, ts, key, ns)
	if _, ok := s.set[string(id)]; ok {
		return nil
	}
	if s.flushing && domain == api.ProcessingTime {
		if _, again := s.flushed[string(id)]; again || ts > s.flushLimit {
			return nil // after the end of input: see flushProcessing
		}
	}
	e := &timerEntry{ts: ts, key: append([]byte(nil), key...), ns: append([]byte(nil), ns...), domain: domain, id: string(id)}
	s.set[e.id] = struct{}{}
	if domain == api.EventTime {
		heap.Push(&s.event, e)
	} else {
		heap.Push(&s.proc, e)
		s.o.task.noteDeadline(dueAt(ts))
	}
	return nil
}

func (s *timerService) remove(domain api.TimeDomain, ts int64) error {
	ks := s.o.backend
	delete(s.set, string(s.id(domain, ts, ks.CurrentKey(), ks.CurrentNamespace())))
	return nil
}

// api.TimerService

func (s *timerService) CurrentProcessingTime() int64 { return s.o.now() }
func (s *timerService) CurrentWatermark() int64      { return s.o.watermark }
func (s *timerService) RegisterEventTimeTimer(ts int64) error {
	return s.register(api.EventTime, ts)
}
func (s *timerService) RegisterProcessingTimeTimer(ts int64) error {
	return s.register(api.ProcessingTime, ts)
}
func (s *timerService) DeleteEventTimeTimer(ts int64) error { return s.remove(api.EventTime, ts) }
func (s *timerService) DeleteProcessingTimeTimer(ts int64) error {
	return s.remove(api.ProcessingTime, ts)
}

// after is the first millisecond after ts.
func after(ts int64) int64 {
	if ts == math.MaxInt64 {
		return ts
	}
	return ts + 1
}

// dueAt is when a processing-time timer for ts fires: once the clock has
// passed ts.
func dueAt(ts int64) time.Time { return time.UnixMilli(after(ts)) }

// fireProcessing fires the processing-time timers due at now (ms): those
// whose time the clock has passed.
func (s *timerService) fireProcessing(now int64) error {
	return s.fire(&s.proc, now-1)
}

// flushProcessing fires every pending processing-time timer at the end of
// input, in time order, as if the clock ran on to just past the latest of
// them (the flush point): the operator's processing time is advanced past
// each timer's time before it fires. Each timer fires once. A timer
// registered while flushing fires too if it is due by the flush point and
// has not fired in this flush; one registered for a later time, or again
// for a key, namespace and time that already fired, is dropped, so a timer
// that re-registers itself cannot loop.
func (s *timerService) flushProcessing() error {
	limit := s.o.now() - 1
	for _, e := range s.proc {
		if _, live := s.set[e.id]; live && e.ts > limit {
			limit = e.ts
		}
	}
	s.flushing, s.flushLimit, s.flushed = true, limit, map[string]struct{}{}
	defer func() { s.flushing, s.flushed = false, nil }()
	return s.fire(&s.proc, limit)
}

// fire calls the operator's OnTimer for every live timer of q due at or
// before limit, in time order. Timers registered while firing that are due
// fire too. The operator's processing time is at least just past the time
// of the processing-time timer it is told about.
func (s *timerService) fire(q *timerQueue, limit int64) error {
	h, _ := s.o.op.(api.TimerHandler)
	ks := s.o.backend
	for q.Len() > 0 && (*q)[0].ts <= limit {
		e := heap.Pop(q).(*timerEntry)
		if _, live := s.set[e.id]; !live {
			continue
		}
		delete(s.set, e.id)
		if e.domain == api.ProcessingTime {
			s.o.clockFloor = max(s.o.clockFloor, after(e.ts))
			if s.flushing {
				s.flushed[e.id] = struct{}{}
			}
		}
		if h == nil {
			continue
		}
		ks.SetCurrentKey(e.key)
		ks.SetCurrentNamespace(e.ns)
		err := h.OnTimer(api.Timer{Key: e.key, Namespace: e.ns, Timestamp: e.ts, Domain: e.domain}, s.o.out)
		ks.SetCurrentNamespace(nil)
		if err != nil {
			return s.o.fail(fmt.Sprintf("firing a timer at %d", e.ts), err)
		}
		// A watermark can fire millions of timers (every window of every
		// key at the end of input): what they emit moves on in batches
		// rather than in one batch that holds it all.
		if s.o.out.Len() >= deliverEvery {
			if err := s.o.deliver(); err != nil {
				return err
			}
		}
	}
	return nil
}

// deliverEvery is how many records timers may emit before they are
// delivered downstream, in the middle of firing.
const deliverEvery = 1024

// nextProcessing returns when the earliest processing-time timer is due.
func (s *timerService) nextProcessing() (time.Time, bool) {
	for s.proc.Len() > 0 {
		e := s.proc[0]
		if _, live := s.set[e.id]; live {
			return dueAt(e.ts), true
		}
		heap.Pop(&s.proc)
	}
	return time.Time{}, false
}

// Pending is the number of live timers.
func (s *timerService) Pending() int { return len(s.set) }
