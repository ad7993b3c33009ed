package operators_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/operators"
	"github.com/freshet/freshet/engine/params"
	"github.com/freshet/freshet/engine/registry"
	"github.com/freshet/freshet/engine/windows/windowstest"
)

func rec(key, value string, ts int64) api.Record {
	return api.Record{Key: []byte(key), Value: []byte(value), Timestamp: ts}
}

// outputs renders emitted records as "key:value@ts".
func outputs(h *windowstest.Harness) []string {
	var s []string
	for _, r := range h.Records() {
		s = append(s, fmt.Sprintf("%s:%s@%d", r.Key, r.Value, r.Timestamp))
	}
	return s
}

func newJoinHarness(t *testing.T, cfg operators.JoinConfig, restore *windowstest.Snapshot) *windowstest.Harness {
	t.Helper()
	newOp, err := operators.NewJoin(cfg)
	if err != nil {
		t.Fatal(err)
	}
	op, err := newOp()
	if err != nil {
		t.Fatal(err)
	}
	h, err := windowstest.New(op, windowstest.Options{Keyed: true, Restore: restore})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// step feeds records to one input of a two-input join.
type step struct {
	input int
	recs  []api.Record
}

func TestJoinPairsEachMatchOnce(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
		want  []string
	}{
		{
			name:  "left first",
			steps: []step{{0, []api.Record{rec("k", `"L"`, 1)}}, {1, []api.Record{rec("k", `"R"`, 5)}}},
			want:  []string{`k:{"left":"L","right":"R"}@5`},
		},
		{
			name:  "right first: the later timestamp wins",
			steps: []step{{1, []api.Record{rec("k", `"R"`, 9)}}, {0, []api.Record{rec("k", `"L"`, 2)}}},
			want:  []string{`k:{"left":"L","right":"R"}@9`},
		},
		{
			name: "every pair of a key, none across keys",
			steps: []step{
				{0, []api.Record{rec("a", "1", 1), rec("b", "2", 1)}},
				{1, []api.Record{rec("a", "x", 2), rec("a", "y", 3), rec("c", "z", 3)}},
				{0, []api.Record{rec("a", "3", 4)}},
			},
			want: []string{
				`a:{"left":1,"right":x}@2`, `a:{"left":1,"right":y}@3`,
				`a:{"left":3,"right":x}@4`, `a:{"left":3,"right":y}@4`,
			},
		},
		{
			name:  "one side only: nothing",
			steps: []step{{0, []api.Record{rec("k", "1", 1), rec("k", "2", 2)}}},
		},
		{
			name:  "records without event time give outputs without",
			steps: []step{{0, []api.Record{rec("k", "1", api.NoTimestamp)}}, {1, []api.Record{rec("k", "2", api.NoTimestamp)}}},
			want:  []string{fmt.Sprintf(`k:{"left":1,"right":2}@%d`, api.NoTimestamp)},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newJoinHarness(t, operators.JoinConfig{}, nil)
			for _, s := range tc.steps {
				var err error
				if s.input == 0 {
					err = h.Process(s.recs...)
				} else {
					err = h.Process2(s.recs...)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if got := outputs(h); !slices.Equal(got, tc.want) {
				t.Fatalf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestJoinOutputCarriesTheCompletingRecordsHeaders(t *testing.T) {
	h := newJoinHarness(t, operators.JoinConfig{}, nil)
	if err := h.Process(rec("k", "1", 1)); err != nil {
		t.Fatal(err)
	}
	r := rec("k", "2", 2)
	r.Headers = []api.Header{{Key: []byte("marker"), Value: []byte("42")}}
	if err := h.Process2(r); err != nil {
		t.Fatal(err)
	}
	out := h.Records()
	if len(out) != 1 || len(out[0].Headers) != 1 || string(out[0].Headers[0].Value) != "42" {
		t.Fatalf("got %+v", out)
	}
}

func TestJoinStateSurvivesARestore(t *testing.T) {
	h := newJoinHarness(t, operators.JoinConfig{}, nil)
	if err := h.Process(rec("k", "1", 1)); err != nil {
		t.Fatal(err)
	}
	if err := h.Process2(rec("j", "r", 1)); err != nil {
		t.Fatal(err)
	}
	snap, err := h.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	h2 := newJoinHarness(t, operators.JoinConfig{}, snap)
	if err := h2.Process2(rec("k", "2", 3)); err != nil {
		t.Fatal(err)
	}
	if err := h2.Process(rec("j", "l", 4)); err != nil {
		t.Fatal(err)
	}
	want := []string{`k:{"left":1,"right":2}@3`, `j:{"left":l,"right":r}@4`}
	if got := outputs(h2); !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestJoinCombineAndItsErrors(t *testing.T) {
	boom := errors.New("boom")
	cfg := operators.JoinConfig{Combine: func(dst, key, l, r []byte) ([]byte, error) {
		if string(r) == "bad" {
			return dst, boom
		}
		return fmt.Appendf(dst, "%s=%s+%s", key, l, r), nil
	}}
	h := newJoinHarness(t, cfg, nil)
	if err := h.Process(rec("k", "a", 1)); err != nil {
		t.Fatal(err)
	}
	if err := h.Process2(rec("k", "b", 1)); err != nil {
		t.Fatal(err)
	}
	if got := outputs(h); !slices.Equal(got, []string{"k:k=a+b@1"}) {
		t.Fatalf("got %q", got)
	}
	if err := h.Process2(rec("k", "bad", 1)); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
}

func TestJoinNeedsKeyedState(t *testing.T) {
	newOp, err := operators.NewJoin(operators.JoinConfig{})
	if err != nil {
		t.Fatal(err)
	}
	op, _ := newOp()
	if _, err := windowstest.New(op, windowstest.Options{}); err == nil || !strings.Contains(err.Error(), "key-by") {
		t.Fatalf("err = %v, want a hint at key-by", err)
	}
	if _, err := operators.NewJoin(operators.JoinConfig{TTL: -1}); err == nil {
		t.Fatal("a negative TTL was accepted")
	}
}

func joinRegistry() *registry.Registry {
	r := registry.New()
	operators.Register(r)
	return r
}

// TestJoinFromJobFileParams: the job-file form reads both sides from one
// union input and tells them apart with a filter.
func TestJoinFromJobFileParams(t *testing.T) {
	op, err := joinRegistry().Operator("join", params.FromMap("operators[0]", map[string]any{
		"left": map[string]any{"field": "type", "value": "person"},
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !op.Keyed {
		t.Fatal("join is not keyed")
	}
	inst, err := op.New()
	if err != nil {
		t.Fatal(err)
	}
	h, err := windowstest.New(inst, windowstest.Options{Keyed: true})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	err = h.Process(
		rec("7", `{"type":"auction","id":1}`, 1),
		rec("7", `{"type":"person","id":7}`, 2),
		rec("8", `{"type":"person","id":8}`, 3),
		rec("7", `{"type":"auction","id":2}`, 4),
	)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`7:{"left":{"type":"person","id":7},"right":{"type":"auction","id":1}}@2`,
		`7:{"left":{"type":"person","id":7},"right":{"type":"auction","id":2}}@4`,
	}
	if got := outputs(h); !slices.Equal(got, want) {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

func TestJoinJobFileMistakes(t *testing.T) {
	tests := []struct {
		name string
		p    map[string]any
		want string
	}{
		{"no left", map[string]any{}, "operators[0].left: "},
		{"left without value", map[string]any{"left": map[string]any{"field": "type"}}, "operators[0].left.value"},
		{"left with a bad op", map[string]any{"left": map[string]any{"field": "type", "op": "~", "value": 1}}, "operators[0].left.op"},
		{"negative ttl", map[string]any{"left": map[string]any{"value": 1}, "ttl": "-1s"}, "operators[0].ttl"},
		{"unknown field", map[string]any{"left": map[string]any{"value": 1}, "rigth": 1}, "operators[0].rigth: unknown field"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := joinRegistry().Operator("join", params.FromMap("operators[0]", tc.p))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func BenchmarkJoin(b *testing.B) {
	// One kept left record per key, each right record matching it: the shape
	// of an auction joining its seller.
	newOp, _ := operators.NewJoin(operators.JoinConfig{})
	op, _ := newOp()
	h, err := windowstest.New(op, windowstest.Options{Keyed: true, DiscardOutput: true})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	const keys = 1000
	left := api.NewBatch(keys)
	for k := range keys {
		left.Append(fmt.Appendf(nil, "%d", k), []byte(`{"name":"a"}`), 1)
	}
	if err := h.ProcessBatch(left); err != nil {
		b.Fatal(err)
	}
	right := api.NewBatch(keys)
	for k := range keys {
		right.Append(fmt.Appendf(nil, "%d", k), []byte(`{"id":1}`), 2)
	}
	two := op.(api.TwoInputOperator)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := two.ProcessBatch2(right, discard{}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	engine := b.Elapsed()
	b.ReportMetric(float64(b.N*keys)/engine.Seconds(), "records/s")

	// The baseline in the same run: the same join with a Go map of kept
	// left values and an append of the output value per pair.
	kept := map[string][][]byte{}
	for _, r := range left.Records {
		kept[string(r.Key)] = append(kept[string(r.Key)], r.Value)
	}
	rights := map[string][][]byte{}
	var out []byte
	start := time.Now()
	for range b.N {
		for _, r := range right.Records {
			for _, l := range kept[string(r.Key)] {
				out, _ = combinePairForBench(out[:0], l, r.Value)
			}
			rights[string(r.Key)] = append(rights[string(r.Key)], r.Value)
		}
	}
	loop := time.Since(start)
	b.ReportMetric(float64(b.N*keys)/loop.Seconds(), "baseline-records/s")
	b.ReportMetric(loop.Seconds()/engine.Seconds(), "ratio-to-baseline")
}

func combinePairForBench(dst, l, r []byte) ([]byte, error) {
	dst = append(append(append(dst, `{"left":`...), l...), `,"right":`...)
	return append(append(dst, r...), '}'), nil
}

type discard struct{}

func (discard) Emit(*api.Record) {}
