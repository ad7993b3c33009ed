package stream_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/stream"
)

// events emits keyed records "k<i%keys>" with timestamp i and a watermark
// every 10 records.
type events struct {
	n, keys, i int
	buf        []byte
}

func (s *events) Open(ctx api.Context) error { return nil }
func (s *events) Close() error               { return nil }
func (s *events) Poll(out api.SourceContext) (api.SourceStatus, error) {
	for j := 0; j < 50; j++ {
		if s.i >= s.n {
			return api.EndOfInput, nil
		}
		s.buf = append(s.buf[:0], 'k')
		s.buf = strconv.AppendInt(s.buf, int64(s.i%s.keys), 10)
		out.CollectWithTimestamp(s.buf, s.buf, int64(s.i))
		if s.i%10 == 9 {
			out.EmitWatermark(int64(s.i))
		}
		s.i++
	}
	return api.MoreAvailable, nil
}

func TestEventTimeTimersFireInOrderPerKey(t *testing.T) {
	env := stream.NewEnvironment(stream.Config{Parallelism: 2})
	var c collector
	env.FromSource("events", func() (api.Source, error) { return &events{n: 1000, keys: 5}, nil }).SetParallelism(1).
		KeyBy(nil).
		Process("timers", stream.ProcessFunction{
			Process: func(ctx api.Context, r *api.Record, out api.Output) error {
				// One timer per key per 100 ms of event time; re-registering is a no-op.
				return ctx.Timers().RegisterEventTimeTimer(r.Timestamp/100*100 + 99)
			},
			OnTimer: func(ctx api.Context, tm api.Timer, out api.Output) error {
				if wm := ctx.Timers().CurrentWatermark(); wm < tm.Timestamp {
					return fmt.Errorf("timer %d fired at watermark %d", tm.Timestamp, wm)
				}
				v := fmt.Appendf(nil, "%s@%d", tm.Key, tm.Timestamp)
				out.Emit(&api.Record{Value: v, Timestamp: tm.Timestamp})
				return nil
			},
		}).
		AddSink("collect", c.sink())
	if _, err := env.Execute(context.Background(), "timers"); err != nil {
		t.Fatal(err)
	}
	var want []string
	for k := 0; k < 5; k++ {
		for w := 0; w < 10; w++ {
			want = append(want, fmt.Sprintf("k%d@%d", k, w*100+99))
		}
	}
	equal(t, c.sorted(), expectStrings(want))
}

func expectStrings(s []string) []string {
	out := append([]string(nil), s...)
	sortStrings(out)
	return out
}

// trickle emits one record, then nothing for a while, then ends.
type trickle struct {
	start time.Time
	sent  bool
}

func (s *trickle) Open(ctx api.Context) error { s.start = time.Now(); return nil }
func (s *trickle) Close() error               { return nil }
func (s *trickle) Poll(out api.SourceContext) (api.SourceStatus, error) {
	if !s.sent {
		s.sent = true
		out.Collect([]byte("k"), []byte("v"))
		return api.MoreAvailable, nil
	}
	if time.Since(s.start) > 400*time.Millisecond {
		return api.EndOfInput, nil
	}
	return api.NothingAvailable, nil
}

func TestProcessingTimeTimerFiresWhileIdle(t *testing.T) {
	env := stream.NewEnvironment(stream.Config{Parallelism: 1})
	var c collector
	env.FromSource("trickle", func() (api.Source, error) { return &trickle{}, nil }).
		KeyBy(nil).
		Process("proc-timer", stream.ProcessFunction{
			Process: func(ctx api.Context, r *api.Record, out api.Output) error {
				ts := ctx.Timers()
				return ts.RegisterProcessingTimeTimer(ts.CurrentProcessingTime() + 100)
			},
			OnTimer: func(ctx api.Context, tm api.Timer, out api.Output) error {
				out.Emit(&api.Record{Value: []byte("fired:" + string(tm.Key))})
				return nil
			},
		}).
		AddSink("collect", c.sink())
	if _, err := env.Execute(context.Background(), "proc-timers"); err != nil {
		t.Fatal(err)
	}
	equal(t, c.sorted(), []string{"fired:k"})
}

func TestDeletedTimerDoesNotFire(t *testing.T) {
	env := stream.NewEnvironment(stream.Config{Parallelism: 1})
	var c collector
	env.FromSource("events", func() (api.Source, error) { return &events{n: 100, keys: 2}, nil }).
		KeyBy(nil).
		Process("timers", stream.ProcessFunction{
			Process: func(ctx api.Context, r *api.Record, out api.Output) error {
				ts := ctx.Timers()
				if err := ts.RegisterEventTimeTimer(1000); err != nil {
					return err
				}
				if string(r.Key) == "k1" {
					return ts.DeleteEventTimeTimer(1000)
				}
				return nil
			},
			OnTimer: func(ctx api.Context, tm api.Timer, out api.Output) error {
				out.Emit(&api.Record{Value: tm.Key})
				return nil
			},
		}).
		AddSink("collect", c.sink())
	if _, err := env.Execute(context.Background(), "deleted"); err != nil {
		t.Fatal(err)
	}
	equal(t, c.sorted(), []string{"k0"})
}
