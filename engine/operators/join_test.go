package operators_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/connectors"
	"github.com/freshet/freshet/engine/job"
	"github.com/freshet/freshet/engine/jobspec"
	"github.com/freshet/freshet/engine/operators"
	"github.com/freshet/freshet/engine/params"
	"github.com/freshet/freshet/engine/registry"
	"github.com/freshet/freshet/engine/stream"
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

// TestJoinInAJobFile runs a job file whose join reads persons and auctions
// (two filters of one file) as its left and right inputs, keyed by person
// id and seller, through the runtime at parallelism 2.
func TestJoinInAJobFile(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	var lines []string
	for i := range 40 {
		if i%4 == 0 {
			lines = append(lines, fmt.Sprintf(`{"type":"person","id":%d,"key":"p%d"}`, i, i))
		} else {
			lines = append(lines, fmt.Sprintf(`{"type":"auction","id":%d,"key":"p%d"}`, i, i/4*4+(i%2)*4))
		}
	}
	if err := os.WriteFile(in, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	file := fmt.Sprintf(`apiVersion: freshet/v1
name: join
parallelism: 2
sources:
  - {name: events, type: file, path: %s}
operators:
  - {name: persons, type: filter, input: events, field: type, value: person}
  - {name: auctions, type: filter, input: events, field: type, value: auction}
  - name: sellers
    type: join
    inputs: [persons, auctions]
    key-by: {field: key}
sinks:
  - {name: out, type: file, path: %s}
`, in, out)
	spec, err := jobspec.Parse("join.yaml", []byte(file))
	if err != nil {
		t.Fatal(err)
	}
	reg := joinRegistry()
	connectors.Register(reg)
	env, err := job.Build(spec, stream.Config{Registry: reg, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Execute(context.Background(), spec.Name); err != nil {
		t.Fatal(err)
	}
	var got []string
	parts, _ := filepath.Glob(filepath.Join(out, "*"))
	for _, p := range parts {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, strings.Fields(string(b))...)
	}
	// Every auction whose key names a person, in either order of arrival.
	var want []string
	for i := range 40 {
		if i%4 == 0 {
			continue
		}
		p := i/4*4 + (i%2)*4
		if p < 40 {
			want = append(want, fmt.Sprintf(`{"left":{"type":"person","id":%d,"key":"p%d"},"right":{"type":"auction","id":%d,"key":"p%d"}}`, p, p, i, p))
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

func TestJoinJobFileMistakes(t *testing.T) {
	op, err := joinRegistry().Operator("join", params.FromMap("operators[0]", map[string]any{"ttl": "1h"}))
	if err != nil || !op.Keyed || !op.TwoInputs {
		t.Fatalf("join: %+v, %v; want a keyed two-input operator", op, err)
	}
	tests := []struct {
		name string
		p    map[string]any
		want string
	}{
		{"negative ttl", map[string]any{"ttl": "-1s"}, "operators[0].ttl"},
		{"unknown field", map[string]any{"left": 1}, "operators[0].left: unknown field"},
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
