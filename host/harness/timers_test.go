package harness_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/host/harness"
)

// timerLog is a keyed operator that registers, per record, a timer at the
// record's timestamp (processing time, or event time for value "e") and
// emits, per timer that fires, its time and the processing time it sees.
// then[t] lists the processing-time timers it registers while t fires.
type timerLog struct {
	api.BaseOperator
	ctx  api.Context
	then map[int64][]int64
}

func (o *timerLog) Open(ctx api.Context) error { o.ctx = ctx; return nil }

func (o *timerLog) ProcessBatch(in *api.Batch, _ api.Output) error {
	for i := range in.Records {
		r := &in.Records[i]
		o.ctx.KeyedState().SetCurrentKey(r.Key)
		register := o.ctx.Timers().RegisterProcessingTimeTimer
		if string(r.Value) == "e" {
			register = o.ctx.Timers().RegisterEventTimeTimer
		}
		if err := register(r.Timestamp); err != nil {
			return err
		}
	}
	return nil
}

func (o *timerLog) OnTimer(t api.Timer, out api.Output) error {
	d := "p"
	if t.Domain == api.EventTime {
		d = "e"
	}
	now := o.ctx.Timers().CurrentProcessingTime()
	if wall := o.ctx.ProcessingTime().UnixMilli(); wall != now {
		return fmt.Errorf("ProcessingTime %d but CurrentProcessingTime %d", wall, now)
	}
	out.Emit(&api.Record{Key: t.Key, Value: fmt.Appendf(nil, "%s%d now=%d", d, t.Timestamp, now)})
	for _, ts := range o.then[t.Timestamp] {
		if err := o.ctx.Timers().RegisterProcessingTimeTimer(ts); err != nil {
			return err
		}
	}
	return nil
}

// TestHarnessProcessingTimeTimers checks the runtime's processing-time
// rules (api.TimerService): a timer fires once the clock has passed its
// time, and the end of input fires the pending ones.
func TestHarnessProcessingTimeTimers(t *testing.T) {
	type rec struct {
		key string
		ts  int64
		e   bool // an event-time timer
	}
	for _, tc := range []struct {
		name    string
		start   int64
		recs    []rec
		then    map[int64][]int64
		drive   func(h *harness.Harness) error
		want    []string
		pending int
		clock   int64 // processing time afterwards
	}{
		{name: "a timer at the current millisecond waits for the clock to pass it",
			start: 100, recs: []rec{{"a", 100, false}, {"a", 101, false}},
			drive: func(h *harness.Harness) error { return h.SetProcessingTime(100) },
			want:  []string{}, pending: 2, clock: 100},
		{name: "the clock past a timer fires it",
			start: 100, recs: []rec{{"a", 100, false}, {"a", 101, false}},
			drive: func(h *harness.Harness) error { return h.SetProcessingTime(101) },
			want:  []string{"a p100 now=101"}, pending: 1, clock: 101},
		{name: "end of input fires event-time, then processing-time timers in time order, the clock past each",
			recs:  []rec{{"b", 300, false}, {"a", 100, false}, {"a", 5000, true}},
			drive: func(h *harness.Harness) error { return h.ProcessWatermark(api.MaxWatermark) },
			want:  []string{"a e5000 now=0", "a p100 now=101", "b p300 now=301"}, clock: 301},
		{name: "Finish ends the input",
			recs:  []rec{{"a", 100, false}},
			drive: func(h *harness.Harness) error { return h.Finish() },
			want:  []string{"a p100 now=101"}, clock: 101},
		{name: "Finish after the end of input does not end it again",
			recs: []rec{{"a", 100, false}},
			drive: func(h *harness.Harness) error {
				if err := h.ProcessWatermark(api.MaxWatermark); err != nil {
					return err
				}
				if err := h.ProcessElement([]byte("a"), []byte("p"), 200); err != nil {
					return err
				}
				return h.Finish()
			},
			want: []string{"a p100 now=101"}, pending: 1, clock: 101},
		{name: "timers registered during the end of input fire if due by its end, once",
			recs:  []rec{{"a", 100, false}, {"a", 300, false}},
			then:  map[int64][]int64{100: {200, 400, 100}, 200: {300}},
			drive: func(h *harness.Harness) error { return h.ProcessWatermark(api.MaxWatermark) },
			want:  []string{"a p100 now=101", "a p200 now=201", "a p300 now=301"}, clock: 301},
		{name: "the end of input runs the clock on from where it is",
			start: 1000, recs: []rec{{"a", 400, false}},
			then: map[int64][]int64{400: {999, 1000}},
			drive: func(h *harness.Harness) error {
				return h.ProcessWatermark(api.MaxWatermark)
			},
			want: []string{"a p400 now=1000", "a p999 now=1000"}, clock: 1000},
		{name: "a stop fires none",
			recs:  []rec{{"a", 100, false}, {"a", 50, true}},
			drive: func(h *harness.Harness) error { return h.Stop() },
			want:  []string{}, pending: 2, clock: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := harness.New(&timerLog{then: tc.then}, harness.Options{Keyed: true, StartProcessingTime: tc.start})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			if err := h.Open(); err != nil {
				t.Fatal(err)
			}
			for _, r := range tc.recs {
				v := "p"
				if r.e {
					v = "e"
				}
				if err := h.ProcessElement([]byte(r.key), []byte(v), r.ts); err != nil {
					t.Fatal(err)
				}
			}
			if err := tc.drive(h); err != nil {
				t.Fatal(err)
			}
			got := []string{}
			for _, r := range h.TakeOutput() {
				got = append(got, fmt.Sprintf("%s %s", r.Key, r.Value))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("fired %q, want %q", got, tc.want)
			}
			if n := len(h.Timers()); n != tc.pending {
				t.Errorf("%d timers pending, want %d: %+v", n, tc.pending, h.Timers())
			}
			if now := h.Context().ProcessingTime().UnixMilli(); now != tc.clock {
				t.Errorf("processing time %d afterwards, want %d", now, tc.clock)
			}
		})
	}
}
