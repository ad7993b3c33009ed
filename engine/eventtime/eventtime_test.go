package eventtime_test

import (
	"errors"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/eventtime"
	"github.com/freshet/freshet/engine/onerror"
	"github.com/freshet/freshet/engine/operators/jsonpath"
	"github.com/freshet/freshet/engine/windows/windowstest"
)

func TestTickInterval(t *testing.T) {
	for _, tt := range []struct {
		in, want time.Duration
	}{{0, 200 * time.Millisecond}, {50 * time.Millisecond, 50 * time.Millisecond}} {
		op, err := eventtime.NewOperator(eventtime.Strategy{Watermarks: eventtime.Monotonous(), Interval: tt.in})
		if err != nil {
			t.Fatal(err)
		}
		if got := op.TickInterval(); got != tt.want {
			t.Errorf("interval %s: TickInterval %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		s    eventtime.Strategy
	}{
		{"no generator", eventtime.Strategy{}},
		{"negative interval", eventtime.Strategy{Watermarks: eventtime.Monotonous(), Interval: -1}},
		{"negative idleness", eventtime.Strategy{Watermarks: eventtime.Monotonous(), Idleness: -1}},
		{"alignment without drift", eventtime.Strategy{Watermarks: eventtime.Monotonous(), Alignment: eventtime.Alignment{Group: "g"}}},
	}
	for _, tt := range tests {
		if _, err := eventtime.New(tt.s); !errors.Is(err, eventtime.ErrConfig) {
			t.Errorf("%s: error %v, want ErrConfig", tt.name, err)
		}
	}
}

func TestTimestampFormats(t *testing.T) {
	tests := []struct {
		format string
		value  string
		want   int64
		ok     bool
	}{
		{"ms", `1700000000123`, 1700000000123, true},
		{"ms", `"1700000000123"`, 1700000000123, true},
		{"ms", `-5`, -5, true},
		{"s", `1700000000`, 1700000000000, true},
		{"s", `1.0015`, 1001, true},
		{"s", `-0.5`, -500, true},
		{"us", `1500`, 1, true},
		{"us", `-1500`, -2, true},
		{"ns", `2999999`, 2, true},
		{"rfc3339", `"1970-01-01T00:00:01.5Z"`, 1500, true},
		{"rfc3339", `"1970-01-01T01:00:00+01:00"`, 0, true},
		{"rfc3339", `15`, 0, false},
		{"rfc3339", `"yesterday"`, 0, false},
		{"ms", `"soon"`, 0, false},
		{"ms", `true`, 0, false},
		{"ms", `{"a":1}`, 0, false},
		{"s", `1e300`, 0, false},
		{"s", `9223372036854775807`, 0, false},
	}
	for _, tt := range tests {
		f, err := eventtime.ParseFormat(tt.format)
		if err != nil {
			t.Fatal(err)
		}
		a := eventtime.FieldTimestamp(jsonpath.MustParse("t"), f)
		got, err := a.Timestamp(&api.Record{Value: []byte(`{"t":` + tt.value + `}`)})
		if (err == nil) != tt.ok || (tt.ok && got != tt.want) {
			t.Errorf("%s %s: got %d, %v; want %d ok=%v", tt.format, tt.value, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, onerror.ErrMalformed) {
			t.Errorf("%s %s: error %v does not wrap onerror.ErrMalformed", tt.format, tt.value, err)
		}
	}
	if _, err := eventtime.ParseFormat("hours"); err == nil {
		t.Error("ParseFormat(hours) succeeded")
	}
}

// TestAlignment runs two aligned operators of one group with a drift of
// 10 ms: the one that runs ahead pauses its source until the other catches up.
func TestAlignment(t *testing.T) {
	coord := &eventtime.InProcessCoordinator{}
	s := eventtime.Strategy{Watermarks: eventtime.Monotonous(),
		Alignment: eventtime.Alignment{Group: "g", MaxDrift: 10 * time.Millisecond, Coordinator: coord}}
	var ops []*eventtime.Operator
	var hs []*windowstest.Harness
	for i := range 2 {
		op, err := eventtime.NewOperator(s)
		if err != nil {
			t.Fatal(err)
		}
		h, err := windowstest.New(op, windowstest.Options{Name: "src", Subtask: i, Parallelism: 2})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		ops, hs = append(ops, op), append(hs, h)
	}
	if n := coord.Members("g"); n != 2 {
		t.Fatalf("%d members, want 2", n)
	}
	tick := func(now int64) {
		for _, h := range hs {
			if err := h.SetProcessingTime(now); err != nil {
				t.Fatal(err)
			}
		}
	}
	_ = hs[0].Process(api.Record{Value: []byte("a"), Timestamp: 5})
	_ = hs[1].Process(api.Record{Value: []byte("b"), Timestamp: 50})
	tick(200)
	tick(400) // both have reported: the allowed maximum is 4 + 10
	if ops[0].PauseSource() {
		t.Error("the slow source is paused")
	}
	if !ops[1].PauseSource() {
		t.Errorf("the source 45 ms ahead is not paused (watermark %d)", ops[1].Watermark())
	}
	_ = hs[0].Process(api.Record{Value: []byte("c"), Timestamp: 45})
	tick(600)
	tick(800)
	if ops[1].PauseSource() {
		t.Error("the fast source stays paused after the slow one caught up")
	}
	// The end of input leaves the group and never pauses.
	if err := hs[0].Finish(); err != nil {
		t.Fatal(err)
	}
	if n := coord.Members("g"); n != 1 {
		t.Errorf("%d members after one finished, want 1", n)
	}
}

func TestCoordinatorSaturates(t *testing.T) {
	c := &eventtime.InProcessCoordinator{}
	if got := c.Report("g", "a", math.MaxInt64-5, time.Second); got != math.MaxInt64 {
		t.Errorf("maxAllowed %d, want MaxInt64", got)
	}
	if got := c.Report("g", "b", 100, time.Second); got != 1100 {
		t.Errorf("maxAllowed %d, want 1100", got)
	}
	c.Leave("g", "b")
	c.Leave("g", "a")
	if c.Members("g") != 0 {
		t.Error("members left")
	}
}

// TestAllocs checks the per-record path allocates nothing.
func TestAllocs(t *testing.T) {
	op, err := eventtime.NewOperator(eventtime.Strategy{
		Watermarks: eventtime.BoundedOutOfOrderness(time.Second),
		Timestamps: eventtime.FieldTimestamp(jsonpath.MustParse("ts"), eventtime.Millis),
	})
	if err != nil {
		t.Fatal(err)
	}
	h, err := windowstest.New(op, windowstest.Options{DiscardOutput: true})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	in := api.NewBatch(256)
	for i := range 256 {
		in.Append(nil, []byte(`{"id":7,"ts":`+strconv.Itoa(1000+i)+`,"x":"y"}`), api.NoTimestamp)
	}
	_ = h.ProcessBatch(in)
	if n := testing.AllocsPerRun(50, func() { _ = h.ProcessBatch(in) }); n != 0 {
		t.Errorf("%.1f allocations per batch of 256, want 0", n)
	}
}

func BenchmarkAssign(b *testing.B) {
	op, _ := eventtime.NewOperator(eventtime.Strategy{
		Watermarks: eventtime.BoundedOutOfOrderness(time.Second),
		Timestamps: eventtime.FieldTimestamp(jsonpath.MustParse("dateTime"), eventtime.Millis),
	})
	h, err := windowstest.New(op, windowstest.Options{DiscardOutput: true})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	in := api.NewBatch(256)
	for i := range 256 {
		in.Append(nil, []byte(`{"auction":1007,"bidder":2001,"price":1234,"channel":"Google","dateTime":`+strconv.Itoa(1000+i)+`}`), api.NoTimestamp)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += 256 {
		_ = h.ProcessBatch(in)
	}
}
