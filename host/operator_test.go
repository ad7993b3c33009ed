package host_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/host"
	"github.com/freshet/freshet/host/abi"
	"github.com/freshet/freshet/host/harness"
)

func values(recs []api.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Value)
	}
	return out
}

func kv(recs []api.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Key) + "=" + string(r.Value)
	}
	return out
}

func newHarness(t *testing.T, guestName string, opts host.Options, hopts harness.Options) *harness.Harness {
	t.Helper()
	h, err := harness.NewWasm(context.Background(), runtime(t), guest(t, guestName), opts, hopts)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func batch(vals ...string) *api.Batch {
	b := api.NewBatch(len(vals))
	for i, v := range vals {
		b.Append([]byte(fmt.Sprintf("k%d", i)), []byte(v), int64(1000+i))
	}
	return b
}

func TestTokenizer(t *testing.T) {
	h := newHarness(t, "tokenizer", host.Options{Kind: abi.KindFlatMap}, harness.Options{})
	if err := h.ProcessBatch(batch("Hello, wörld! 42x", "", "  a-B  ")); err != nil {
		t.Fatal(err)
	}
	got := kv(h.TakeOutput())
	want := []string{"hello=hello", "wörld=wörld", "42x=42x", "a=a", "b=b"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestRecordOperators(t *testing.T) {
	tests := []struct {
		name, fn string
		kind     abi.OperatorKind
		config   string
		in       []string
		want     []string
	}{
		{"map", "upper", abi.KindMap, `{"suffix":"!"}`, []string{"ab", "", "c"}, []string{"AB!", "!", "C!"}},
		{"map forwards identity", "identity", abi.KindMap, "", []string{"x", "y"}, []string{"x", "y"}},
		{"filter", "nonempty", abi.KindFilter, "", []string{"a", "", "b", ""}, []string{"a", "b"}},
		{"flat-map", "split", abi.KindFlatMap, "", []string{"a b", "", "c d e"}, []string{"a", "b", "c", "d", "e"}},
		{"deserializer", "csv", abi.KindDeserializer, "", []string{"k1,v1\nk2,v2", "junk"}, []string{"v1", "v2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "kitchen", host.Options{Function: tc.fn, Kind: tc.kind, Config: []byte(tc.config)}, harness.Options{})
			if err := h.ProcessBatch(batch(tc.in...)); err != nil {
				t.Fatal(err)
			}
			if got := values(h.TakeOutput()); !slices.Equal(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestMapKeepsKeyTimestampAndHeaders(t *testing.T) {
	h := newHarness(t, "kitchen", host.Options{Function: "upper", Kind: abi.KindMap}, harness.Options{})
	rec := api.Record{Key: []byte("k"), Value: []byte("v"), Timestamp: 42,
		Headers: []api.Header{{Key: []byte("h1"), Value: []byte("x")}, {Key: []byte("h2"), Value: nil}}}
	if err := h.ProcessRecords(rec); err != nil {
		t.Fatal(err)
	}
	out := h.TakeOutput()
	if len(out) != 1 || string(out[0].Key) != "k" || string(out[0].Value) != "V" || out[0].Timestamp != 42 ||
		len(out[0].Headers) != 2 || string(out[0].Headers[0].Key) != "h1" || string(out[0].Headers[0].Value) != "x" || string(out[0].Headers[1].Key) != "h2" {
		t.Fatalf("got %+v", out)
	}
	if h.Counter("records") != 1 {
		t.Errorf("counter records = %d, want 1", h.Counter("records"))
	}
}

func TestEmitWithHeaders(t *testing.T) {
	h := newHarness(t, "kitchen", host.Options{Function: "headers", Kind: abi.KindFlatMap}, harness.Options{})
	rec := api.Record{Key: []byte("k"), Value: []byte("v"), Timestamp: 7, Headers: []api.Header{{Key: []byte("a"), Value: []byte("b")}}}
	if err := h.ProcessRecords(rec); err != nil {
		t.Fatal(err)
	}
	out := h.TakeOutput()
	if len(out) != 1 || out[0].Timestamp != 8 || len(out[0].Headers) != 1 || string(out[0].Headers[0].Key) != "b" || string(out[0].Headers[0].Value) != "a" {
		t.Fatalf("got %+v", out)
	}
}

func TestManyRecordsSpanSeveralCalls(t *testing.T) {
	h := newHarness(t, "kitchen", host.Options{Function: "upper", Kind: abi.KindMap}, harness.Options{})
	b := api.NewBatch(5000)
	val := strings.Repeat("a", 300) // 5000 × ~330 bytes: more than one input buffer
	for i := 0; i < 5000; i++ {
		b.Append([]byte(fmt.Sprint(i)), []byte(val), int64(i))
	}
	if err := h.ProcessBatch(b); err != nil {
		t.Fatal(err)
	}
	out := h.TakeOutput()
	if len(out) != 5000 {
		t.Fatalf("got %d records", len(out))
	}
	for i, r := range out {
		if string(r.Key) != fmt.Sprint(i) || string(r.Value) != strings.ToUpper(val) {
			t.Fatalf("record %d: %q", i, r.Key)
		}
	}
}

func TestLargeRecordsGrowBuffers(t *testing.T) {
	h := newHarness(t, "kitchen", host.Options{Function: "big", Kind: abi.KindFlatMap}, harness.Options{})
	// Output larger than the guest's output buffer, then input larger than
	// the input buffer.
	if err := h.ProcessBatch(batch("1000000", "10")); err != nil {
		t.Fatal(err)
	}
	out := h.TakeOutput()
	if len(out) != 2 || len(out[0].Value) != 1000000 || len(out[1].Value) != 10 {
		t.Fatalf("got %d records", len(out))
	}
	h2 := newHarness(t, "kitchen", host.Options{Function: "identity", Kind: abi.KindMap}, harness.Options{})
	big := strings.Repeat("y", 600_000)
	if err := h2.ProcessBatch(batch("a", big, "b")); err != nil {
		t.Fatal(err)
	}
	if got := values(h2.TakeOutput()); len(got) != 3 || got[1] != big {
		t.Fatalf("got %d records", len(got))
	}
}

func TestKeySelector(t *testing.T) {
	rt := runtime(t)
	m := loadGuest(t, "kitchen")
	ks, err := host.NewKeySelector(context.Background(), m, host.Options{Function: "firstword"})
	if err != nil {
		t.Fatal(err)
	}
	defer ks.Close()
	b := batch("alpha beta", "gamma", " delta x")
	if err := ks.SelectKeys(b); err != nil {
		t.Fatal(err)
	}
	if got := []string{string(b.Records[0].Key), string(b.Records[1].Key), string(b.Records[2].Key)}; !slices.Equal(got, []string{"alpha", "gamma", "delta"}) {
		t.Fatalf("keys %q", got)
	}
	key, err := ks.SelectKey(&api.Record{Value: []byte("one two")}, []byte("prefix:"))
	if err != nil || string(key) != "prefix:one" {
		t.Fatalf("SelectKey = %q, %v", key, err)
	}
	_, err = ks.SelectKey(&api.Record{Value: []byte("  ")}, nil)
	if !errors.Is(err, host.ErrUserFunction) || !strings.Contains(err.Error(), "empty value") {
		t.Fatalf("empty value: %v", err)
	}
	pool, err := host.NewKeySelectorPool(context.Background(), m, host.Options{Function: "firstword"})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if k, err := pool.SelectKey(&api.Record{Value: []byte("x y")}, nil); err != nil || string(k) != "x" {
		t.Fatalf("pool: %q %v", k, err)
	}
	_ = rt
}

func TestProcessFunctionStateAndTimers(t *testing.T) {
	for _, cache := range []bool{true, false} {
		t.Run(fmt.Sprintf("cache=%v", cache), func(t *testing.T) {
			h := newHarness(t, "kitchen", host.Options{Function: "counter", Kind: abi.KindProcess, DisableStateCache: !cache}, harness.Options{})
			recs := []api.Record{
				{Key: []byte("a"), Value: []byte("1"), Timestamp: 10},
				{Key: []byte("b"), Value: []byte("1"), Timestamp: 20},
				{Key: []byte("a"), Value: []byte("1"), Timestamp: 30},
			}
			if err := h.ProcessRecords(recs...); err != nil {
				t.Fatal(err)
			}
			if got := kv(h.TakeOutput()); !slices.Equal(got, []string{"a=1", "b=1", "a=2"}) {
				t.Fatalf("got %q", got)
			}
			if v, ok, err := h.ValueState("count", []byte("a")); err != nil || !ok || v[0] != 2 {
				t.Fatalf("state of a: %v %v %v", v, ok, err)
			}
			if n := len(h.Timers()); n != 3 {
				t.Fatalf("%d timers pending, want 3", n)
			}
			if err := h.ProcessWatermark(115); err != nil { // fires a@110
				t.Fatal(err)
			}
			if got := kv(h.TakeOutput()); !slices.Equal(got, []string{"a=timer 2"}) {
				t.Fatalf("after watermark: %q", got)
			}
			if _, ok, _ := h.ValueState("count", []byte("a")); ok {
				t.Fatal("timer did not clear a's count")
			}
			if err := h.ProcessElement([]byte("a"), []byte("1"), 200); err != nil {
				t.Fatal(err)
			}
			if got := kv(h.TakeOutput()); !slices.Equal(got, []string{"a=1"}) {
				t.Fatalf("after clear: %q", got)
			}
		})
	}
}

func TestListAndMapState(t *testing.T) {
	h := newHarness(t, "kitchen", host.Options{Function: "collections", Kind: abi.KindProcess}, harness.Options{})
	for _, v := range []string{"x", "y", "x"} {
		if err := h.ProcessElement([]byte("k"), []byte(v), 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.ProcessElement([]byte("other"), []byte("z"), 1); err != nil {
		t.Fatal(err)
	}
	got := values(h.TakeOutput())
	want := []string{"list=1 map=x:1,", "list=2 map=x:1,y:1,", "list=3 map=x:2,y:1,", "list=1 map=z:1,"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestSideOutputAndErrorPolicies(t *testing.T) {
	h := newHarness(t, "kitchen", host.Options{Function: "sideout", Kind: abi.KindMap}, harness.Options{})
	if err := h.ProcessBatch(batch("a", "b")); err != nil {
		t.Fatal(err)
	}
	if got := values(h.SideOutput("copies")); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("side output %q", got)
	}

	fail := newHarness(t, "kitchen", host.Options{Function: "fail", Kind: abi.KindMap}, harness.Options{})
	err := fail.ProcessBatch(batch("ok", "bad", "ok"))
	var he *host.Error
	if !errors.Is(err, host.ErrUserFunction) || !errors.As(err, &he) || he.Entry != 1 || string(he.Key) != "k1" ||
		!strings.Contains(err.Error(), `cannot handle "bad"`) {
		t.Fatalf("fail policy: %v", err)
	}
	// The instance survives a user error.
	if err := fail.ProcessBatch(batch("fine")); err != nil {
		t.Fatalf("after a user error: %v", err)
	}

	skip := newHarness(t, "kitchen", host.Options{Function: "fail", Kind: abi.KindMap, OnError: host.ErrorSkip}, harness.Options{})
	if err := skip.ProcessBatch(batch("ok", "bad", "bad")); err != nil {
		t.Fatal(err)
	}
	if got := values(skip.TakeOutput()); !slices.Equal(got, []string{"ok"}) || skip.Counter(host.SkippedCounter) != 2 {
		t.Fatalf("skip: %q, skipped %d", got, skip.Counter(host.SkippedCounter))
	}

	side := newHarness(t, "kitchen", host.Options{Function: "fail", Kind: abi.KindMap, OnError: host.ErrorSideOutput}, harness.Options{})
	if err := side.ProcessBatch(batch("bad")); err != nil {
		t.Fatal(err)
	}
	errs := side.SideOutput(host.ErrorTag)
	if len(errs) != 1 || string(errs[0].Value) != "bad" || string(errs[0].Headers[0].Key) != host.ErrorHeader {
		t.Fatalf("side-output policy: %+v", errs)
	}
}

func TestAggregateFunction(t *testing.T) {
	m := loadGuest(t, "kitchen")
	agg, err := host.NewAggregateFunction(context.Background(), m, host.Options{Function: "sum"})
	if err != nil {
		t.Fatal(err)
	}
	defer agg.Close()
	var f api.AggregateFunction = agg
	acc := f.CreateAccumulator(nil)
	acc = f.Add(acc, []byte("5"), nil)
	acc = f.Add(acc, []byte("7"), nil)
	other := f.Add(f.CreateAccumulator(nil), []byte("30"), nil)
	merged := f.Merge(acc, other, nil)
	if got := string(f.Result(merged, []byte("sum="))); got != "sum=42" || agg.Err() != nil {
		t.Fatalf("result %q, err %v", got, agg.Err())
	}
	before := acc
	acc = f.Add(acc, []byte("not a number"), acc[:0:0])
	if agg.Err() == nil || !errors.Is(agg.Err(), host.ErrUserFunction) || len(acc) != 0 {
		t.Fatalf("bad value: acc %v, err %v", acc, agg.Err())
	}
	_ = before
}

func TestWindowFunction(t *testing.T) {
	m := loadGuest(t, "kitchen")
	w, err := host.NewWindowFunction(m, host.Options{Function: "concat"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := harness.New(noopOperator{}, harness.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Open(h.Context()); err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var out collect
	elems := []api.Record{{Value: []byte("a")}, {Value: []byte("b")}, {Value: []byte("c")}}
	if err := w.Process([]byte("k"), host.Window{Start: 0, End: 10}, elems, &out); err != nil {
		t.Fatal(err)
	}
	if err := w.Process([]byte("j"), host.Window{Start: 10, End: 20}, nil, &out); err != nil {
		t.Fatal(err)
	}
	if got := values(out.recs); !slices.Equal(got, []string{"k [0,10): a b c", "j [10,20):"}) || out.recs[0].Timestamp != 9 {
		t.Fatalf("got %q", got)
	}
}

type noopOperator struct{ api.BaseOperator }

func (noopOperator) ProcessBatch(*api.Batch, api.Output) error { return nil }

type collect struct{ recs []api.Record }

func (c *collect) Emit(r *api.Record) {
	c.recs = append(c.recs, api.Record{Key: slices.Clone(r.Key), Value: slices.Clone(r.Value), Timestamp: r.Timestamp})
}

func TestOpenConfig(t *testing.T) {
	m := loadGuest(t, "kitchen")
	op, err := host.NewOperator(m, host.Options{Function: "upper", Kind: abi.KindMap, Config: []byte(`{"suffix":"refuse"}`)})
	if err != nil {
		t.Fatal(err)
	}
	h, err := harness.New(op, harness.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = h.Open()
	if !errors.Is(err, host.ErrUserFunction) || !strings.Contains(err.Error(), "suffix refused") {
		t.Fatalf("Open = %v", err)
	}
}

func TestFunctionLookup(t *testing.T) {
	m := loadGuest(t, "kitchen")
	tests := []struct {
		name string
		kind abi.OperatorKind
		want string // error substring, "" for success
	}{
		{"upper", abi.KindMap, ""},
		{"", abi.KindAggregate, ""},
		{"", abi.KindMap, "several map functions"},
		{"nope", abi.KindMap, `no function "nope"`},
		{"upper", abi.KindFilter, "is a map, not a filter"},
	}
	for _, tc := range tests {
		_, err := m.Function(tc.name, tc.kind)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("Function(%q, %s) = %v, want %q", tc.name, tc.kind, err, tc.want)
		}
	}
	if m.ABIVersion != abi.Version || !strings.HasPrefix(m.SDK, "freshet-sdk-go") {
		t.Errorf("version %d sdk %q", m.ABIVersion, m.SDK)
	}
}

func TestProcessNeedsKeyedStream(t *testing.T) {
	m := loadGuest(t, "kitchen")
	op, err := host.NewOperator(m, host.Options{Function: "counter", Kind: abi.KindProcess})
	if err != nil {
		t.Fatal(err)
	}
	h, err := harness.New(op, harness.Options{Keyed: false})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Open(); err == nil || !strings.Contains(err.Error(), "keyed stream") {
		t.Fatalf("Open = %v", err)
	}
}

func TestStateInStatelessOperatorIsUnsupported(t *testing.T) {
	h := newHarness(t, "kitchen", host.Options{Function: "state-in-map", Kind: abi.KindMap}, harness.Options{})
	err := h.ProcessBatch(batch("x"))
	if !errors.Is(err, host.ErrUserFunction) || !strings.Contains(err.Error(), "unsupported") {
		t.Fatalf("got %v", err)
	}
}

func TestSandbox(t *testing.T) {
	h := newHarness(t, "kitchen", host.Options{Function: "sandbox", Kind: abi.KindMap}, harness.Options{StartProcessingTime: 1_700_000_000_123})
	if err := h.ProcessElement(nil, nil, 0); err != nil {
		t.Fatal(err)
	}
	got := values(h.TakeOutput())
	want := `file=true dir=true env="" args=0 time=1700000000123`
	if len(got) != 1 || got[0] != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestNoAllocationPerRecord: the host's hot path allocates a constant
// amount per batch, whatever its size.
// TestForwardedRecordsAreNotCopied: a filter's kept records reach an
// output that takes views (an api.Batch, as the runtime's) as the input
// records themselves; other outputs get copies.
func TestForwardedRecordsAreNotCopied(t *testing.T) {
	h := newHarness(t, "kitchen", host.Options{Function: "nonempty", Kind: abi.KindFilter}, harness.Options{})
	in := batch("a", "", "b")
	out := api.NewBatch(2)
	if err := h.Operator().ProcessBatch(in, out); err != nil {
		t.Fatal(err)
	}
	if got := values(out.Records); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("got %q", got)
	}
	if &out.Records[1].Value[0] != &in.Records[2].Value[0] {
		t.Fatal("the kept record was copied into a batch output")
	}
	var c collect
	if err := h.Operator().ProcessBatch(in, &c); err != nil {
		t.Fatal(err)
	}
	if len(c.recs) != 2 || &c.recs[1].Value[0] == &in.Records[2].Value[0] {
		t.Fatal("an output without views did not get a copy")
	}
}

func TestNoAllocationPerRecord(t *testing.T) {
	h := newHarness(t, "kitchen", host.Options{Function: "identity", Kind: abi.KindMap}, harness.Options{})
	op := h.Operator()
	for _, n := range []int{10, 1000} {
		b := api.NewBatch(n)
		for i := 0; i < n; i++ {
			b.Append([]byte("k"), []byte("some value"), int64(i))
		}
		var out discard
		allocs := testing.AllocsPerRun(20, func() {
			if err := op.ProcessBatch(b, &out); err != nil {
				t.Fatal(err)
			}
		})
		if allocs > 3 {
			t.Errorf("%d records: %.1f allocations per batch", n, allocs)
		}
	}
}

// TestInstancesRunConcurrently: one instance per goroutine, many at once.
func TestInstancesRunConcurrently(t *testing.T) {
	m := loadGuest(t, "kitchen")
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func() {
			op, err := host.NewOperator(m, host.Options{Function: "upper", Kind: abi.KindMap})
			if err != nil {
				errs <- err
				return
			}
			h, _ := harness.New(op, harness.Options{})
			if err := h.Open(); err != nil {
				errs <- err
				return
			}
			defer h.Close()
			for i := 0; i < 50; i++ {
				if err := h.ProcessBatch(batch("a", "b", "c")); err != nil {
					errs <- err
					return
				}
			}
			if n := len(h.Output()); n != 150 {
				errs <- fmt.Errorf("%d outputs", n)
				return
			}
			errs <- nil
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
