package harness_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/host/harness"
)

// sessionizer is a native keyed operator: it counts records per key and,
// 10 ms (event time) after the first one, emits the count; a processing
// time timer emits "idle".
type sessionizer struct {
	api.BaseOperator
	ctx   api.Context
	count api.ValueState
}

func (s *sessionizer) Open(ctx api.Context) error {
	s.ctx = ctx
	var err error
	s.count, err = ctx.KeyedState().Value(api.StateDescriptor{Name: "count", Kind: api.ValueStateKind})
	return err
}

func (s *sessionizer) ProcessBatch(in *api.Batch, out api.Output) error {
	ks := s.ctx.KeyedState()
	for i := range in.Records {
		r := &in.Records[i]
		ks.SetCurrentKey(r.Key)
		v, ok, err := s.count.Get()
		if err != nil {
			return err
		}
		n := 0
		if ok {
			n = int(v[0])
		} else {
			s.ctx.Timers().RegisterEventTimeTimer(r.Timestamp + 10)
			s.ctx.Timers().RegisterProcessingTimeTimer(1000)
		}
		if err := s.count.Put([]byte{byte(n + 1)}); err != nil {
			return err
		}
	}
	return nil
}

func (s *sessionizer) OnTimer(t api.Timer, out api.Output) error {
	if t.Domain == api.ProcessingTime {
		out.Emit(&api.Record{Key: t.Key, Value: []byte("idle")})
		return nil
	}
	v, _, err := s.count.Get()
	if err != nil {
		return err
	}
	out.Emit(&api.Record{Key: t.Key, Value: fmt.Appendf(nil, "%d", v[0]), Timestamp: t.Timestamp})
	return s.count.Clear()
}

func TestHarnessDrivesTimersInOrder(t *testing.T) {
	h, err := harness.New(&sessionizer{}, harness.Options{Keyed: true})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.Open(); err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		k  string
		ts int64
	}{{"b", 5}, {"a", 1}, {"a", 2}, {"b", 6}, {"b", 7}} {
		if err := h.ProcessElement([]byte(r.k), nil, r.ts); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(h.Timers()); n != 4 {
		t.Fatalf("%d timers, want 4", n)
	}
	if err := h.ProcessWatermark(100); err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for _, r := range h.TakeOutput() {
		got = append(got, fmt.Sprintf("%s=%s@%d", r.Key, r.Value, r.Timestamp))
	}
	if want := []string{"a=2@11", "b=3@15"}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if _, ok, _ := h.ValueState("count", []byte("a")); ok {
		t.Error("a's count survived its timer")
	}
	if err := h.SetProcessingTime(999); err != nil || len(h.Output()) != 0 {
		t.Fatalf("early processing time: %v, %d outputs", err, len(h.Output()))
	}
	if err := h.SetProcessingTime(1000); err != nil || len(h.Output()) != 0 {
		t.Fatalf("processing time at the timers' millisecond: %v, %d outputs", err, len(h.Output()))
	}
	if err := h.SetProcessingTime(1001); err != nil {
		t.Fatal(err)
	}
	if out := h.TakeOutput(); len(out) != 2 || string(out[0].Value) != "idle" {
		t.Fatalf("processing-time timers: %+v", out)
	}
}
