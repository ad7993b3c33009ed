package timerqueue_test

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/timerqueue"
)

type timer struct {
	d   api.TimeDomain
	ts  int64
	key string
}

func (t timer) String() string {
	d := "p"
	if t.d == api.EventTime {
		d = "e"
	}
	return fmt.Sprintf("%s%d%s", d, t.ts, t.key)
}

// TestQueue drives a Queue the way a harness does and lists what fires,
// with the clock each processing-time timer saw.
func TestQueue(t *testing.T) {
	for _, tc := range []struct {
		name  string
		clock int64
		reg   []timer
		del   []timer
		then  map[string][]timer // registered while the named timer fires
		run   func(q *timerqueue.Queue, clock *int64, fire timerqueue.Func) error
		want  []string
		left  []string // pending afterwards, in firing order
		after int64    // clock afterwards
	}{
		{name: "event time fires at the watermark, in order of time, key, namespace",
			reg:  []timer{{api.EventTime, 20, "b"}, {api.EventTime, 10, "b"}, {api.EventTime, 10, "a"}, {api.EventTime, 21, "a"}, {api.ProcessingTime, 5, "a"}},
			run:  func(q *timerqueue.Queue, _ *int64, f timerqueue.Func) error { return q.FireEventTime(20, f) },
			want: []string{"e10a", "e10b", "e20b"}, left: []string{"e21a", "p5a"}},
		{name: "a registered twice fires once; a deleted one not",
			reg:  []timer{{api.EventTime, 1, "a"}, {api.EventTime, 1, "a"}, {api.EventTime, 2, "a"}},
			del:  []timer{{api.EventTime, 2, "a"}},
			run:  func(q *timerqueue.Queue, _ *int64, f timerqueue.Func) error { return q.FireEventTime(10, f) },
			want: []string{"e1a"}, left: []string{}},
		{name: "processing time: the clock must pass the timer",
			clock: 10, reg: []timer{{api.ProcessingTime, 9, "a"}, {api.ProcessingTime, 10, "a"}},
			run:  func(q *timerqueue.Queue, c *int64, f timerqueue.Func) error { return q.FireProcessingTime(c, f) },
			want: []string{"p9a@10"}, left: []string{"p10a"}, after: 10},
		{name: "timers registered while firing fire if due",
			clock: 10, reg: []timer{{api.ProcessingTime, 5, "a"}},
			then: map[string][]timer{"p5a": {{api.ProcessingTime, 7, "a"}, {api.ProcessingTime, 10, "a"}}},
			run:  func(q *timerqueue.Queue, c *int64, f timerqueue.Func) error { return q.FireProcessingTime(c, f) },
			want: []string{"p5a@10", "p7a@10"}, left: []string{"p10a"}, after: 10},
		{name: "flush: every pending one in time order, the clock past each",
			clock: 1, reg: []timer{{api.ProcessingTime, 300, "a"}, {api.ProcessingTime, 100, "b"}, {api.EventTime, 50, "a"}},
			run:  func(q *timerqueue.Queue, c *int64, f timerqueue.Func) error { return q.FlushProcessingTime(c, f) },
			want: []string{"p100b@101", "p300a@301"}, left: []string{"e50a"}, after: 301},
		{name: "flush: registered meanwhile fires if due by the flush point and not fired yet",
			clock: 1, reg: []timer{{api.ProcessingTime, 100, "a"}, {api.ProcessingTime, 300, "a"}},
			then: map[string][]timer{
				"p100a": {{api.ProcessingTime, 200, "a"}, {api.ProcessingTime, 301, "a"}, {api.ProcessingTime, 100, "a"}, {api.EventTime, 1, "a"}},
				"p300a": {{api.ProcessingTime, 300, "a"}, {api.ProcessingTime, 300, "b"}},
			},
			run:  func(q *timerqueue.Queue, c *int64, f timerqueue.Func) error { return q.FlushProcessingTime(c, f) },
			want: []string{"p100a@101", "p200a@201", "p300a@301", "p300b@301"}, left: []string{"e1a"}, after: 301},
		{name: "flush: the flush point is the clock when it is later",
			clock: 1000, reg: []timer{{api.ProcessingTime, 400, "a"}},
			then: map[string][]timer{"p400a": {{api.ProcessingTime, 999, "a"}, {api.ProcessingTime, 1000, "a"}}},
			run:  func(q *timerqueue.Queue, c *int64, f timerqueue.Func) error { return q.FlushProcessingTime(c, f) },
			want: []string{"p400a@1000", "p999a@1000"}, left: []string{}, after: 1000},
		{name: "after a flush, registering works as before",
			clock: 1, reg: []timer{{api.ProcessingTime, 100, "a"}},
			run: func(q *timerqueue.Queue, c *int64, f timerqueue.Func) error {
				if err := q.FlushProcessingTime(c, f); err != nil {
					return err
				}
				q.Register(api.ProcessingTime, 100, []byte("a"), nil)
				q.Register(api.ProcessingTime, 500, []byte("a"), nil)
				return nil
			},
			want: []string{"p100a@101"}, left: []string{"p100a", "p500a"}, after: 101},
		{name: "the largest time saturates",
			clock: math.MaxInt64, reg: []timer{{api.ProcessingTime, math.MaxInt64, "a"}, {api.ProcessingTime, math.MaxInt64 - 1, "a"}},
			run:  func(q *timerqueue.Queue, c *int64, f timerqueue.Func) error { return q.FlushProcessingTime(c, f) },
			want: []string{fmt.Sprintf("p%da@%d", int64(math.MaxInt64-1), int64(math.MaxInt64)), fmt.Sprintf("p%da@%d", int64(math.MaxInt64), int64(math.MaxInt64))},
			left: []string{}, after: math.MaxInt64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := timerqueue.New()
			for _, r := range tc.reg {
				q.Register(r.d, r.ts, []byte(r.key), nil)
			}
			for _, r := range tc.del {
				q.Delete(r.d, r.ts, []byte(r.key), nil)
			}
			clock := tc.clock
			got := []string{}
			fire := func(at api.Timer) error {
				name := timer{at.Domain, at.Timestamp, string(at.Key)}.String()
				if at.Domain == api.ProcessingTime {
					if clock <= at.Timestamp && at.Timestamp != math.MaxInt64 {
						t.Errorf("%s fired with the clock at %d", name, clock)
					}
					got = append(got, fmt.Sprintf("%s@%d", name, clock))
				} else {
					got = append(got, name)
				}
				for _, r := range tc.then[name] {
					q.Register(r.d, r.ts, []byte(r.key), nil)
				}
				return nil
			}
			if err := tc.run(q, &clock, fire); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("fired %q, want %q", got, tc.want)
			}
			left := []string{}
			for _, p := range q.Pending() {
				left = append(left, timer{p.Domain, p.Timestamp, string(p.Key)}.String())
			}
			if !slices.Equal(left, tc.left) || q.Len() != len(tc.left) {
				t.Errorf("pending %q (Len %d), want %q", left, q.Len(), tc.left)
			}
			if tc.after != 0 && clock != tc.after {
				t.Errorf("clock %d afterwards, want %d", clock, tc.after)
			}
		})
	}
}

// TestQueueError: an error of the fire function stops firing and is
// returned; the timers not yet fired stay pending.
func TestQueueError(t *testing.T) {
	q := timerqueue.New()
	for _, ts := range []int64{1, 2, 3} {
		q.Register(api.EventTime, ts, []byte("k"), nil)
	}
	boom := fmt.Errorf("boom")
	err := q.FireEventTime(10, func(at api.Timer) error {
		if at.Timestamp == 2 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("got %v, want boom", err)
	}
	if p := q.Pending(); len(p) != 1 || p[0].Timestamp != 3 {
		t.Fatalf("pending %+v, want the timer at 3", p)
	}
}

// TestDeleteAndRegisterAgain: a timer deleted and registered again fires
// once.
func TestDeleteAndRegisterAgain(t *testing.T) {
	q := timerqueue.New()
	q.Register(api.ProcessingTime, 5, []byte("k"), []byte("ns"))
	q.Delete(api.ProcessingTime, 5, []byte("k"), []byte("ns"))
	q.Register(api.ProcessingTime, 5, []byte("k"), []byte("ns"))
	n := 0
	clock := int64(6)
	if err := q.FireProcessingTime(&clock, func(api.Timer) error { n++; return nil }); err != nil || n != 1 || q.Len() != 0 {
		t.Fatalf("fired %d times (err %v), %d pending; want once, none", n, err, q.Len())
	}
}
