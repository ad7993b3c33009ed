package stream_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/eventtime"
	"github.com/freshet/freshet/engine/stream"
)

// ticking emits one record per poll with event time i*step ms, a poll per
// millisecond or so.
type ticking struct {
	i, step int64
	buf     []byte
}

func (s *ticking) Open(api.Context) error { return nil }
func (s *ticking) Close() error           { return nil }
func (s *ticking) Poll(out api.SourceContext) (api.SourceStatus, error) {
	s.buf = strconv.AppendInt(s.buf[:0], s.i, 10)
	out.CollectWithTimestamp(nil, s.buf, s.i*s.step)
	s.i++
	time.Sleep(time.Millisecond)
	return api.MoreAvailable, nil
}

// TestWatermarkAlignmentPausesTheSourceThatRunsAhead: two sources in one
// alignment group, one whose event time runs 50× faster; the fast one must
// be held within the maximum drift of the slow one.
func TestWatermarkAlignmentPausesTheSourceThatRunsAhead(t *testing.T) {
	coord := &eventtime.InProcessCoordinator{}
	strategy := func() eventtime.Strategy {
		return eventtime.Strategy{
			Watermarks: eventtime.Monotonous(),
			Interval:   10 * time.Millisecond,
			Alignment:  eventtime.Alignment{Group: "g", MaxDrift: time.Second, Coordinator: coord},
		}
	}
	env := stream.NewEnvironment(stream.Config{Parallelism: 1})
	var c collector
	fast := env.FromSource("fast", func() (api.Source, error) { return &ticking{step: 50}, nil }).
		AssignTimestampsAndWatermarks("fast-wm", strategy())
	slow := env.FromSource("slow", func() (api.Source, error) { return &ticking{step: 1}, nil }).
		AssignTimestampsAndWatermarks("slow-wm", strategy())
	fast.Union(slow).Rebalance().Filter("none", func(*api.Record) bool { return false }).AddSink("collect", c.sink())
	jc, err := env.ExecuteAsync(context.Background(), "alignment")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond)
	st, _ := jc.Status()
	_ = jc.Cancel(context.Background())
	_, _ = jc.Wait(context.Background())
	var fastN, slowN int64
	for _, v := range st.Vertices {
		switch v.Operators[0].Name {
		case "fast":
			fastN = v.Operators[0].RecordsOut
		case "slow":
			slowN = v.Operators[0].RecordsOut
		}
	}
	if slowN < 200 {
		t.Fatalf("the slow source emitted only %d records", slowN)
	}
	// Event time reached: fast ≈ fastN*50 ms, slow ≈ slowN ms. Allow the
	// drift plus slack for a late pause: the fast source gains 50 ms of
	// event time per ms it runs, and on a loaded machine the pause can
	// arrive tens of milliseconds late. Unaligned it would be ~120 s ahead.
	if ahead := fastN*50 - slowN; ahead > 1000+2500 {
		t.Fatalf("the fast source ran %d ms of event time ahead (fast %d records, slow %d); max drift 1000 ms", ahead, fastN, slowN)
	}
	if fastN < 10 {
		t.Fatalf("the fast source barely ran: %d records", fastN)
	}
}
