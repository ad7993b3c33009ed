package operators

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/jobspec"
	"github.com/freshet/freshet/engine/keygroup"
	"github.com/freshet/freshet/engine/state"
	"github.com/freshet/freshet/engine/state/heap"
)

var byValue = &jobspec.KeyBy{Kind: jobspec.KeyByValue}

// runKeyed runs a keyed operator on records keyed by sel.
func runKeyed(t *testing.T, typ, params string, sel *jobspec.KeyBy, values ...string) []string {
	t.Helper()
	op := mustBuild(t, typ, params)
	ctx := newContext(t, true, 0, 1, 128)
	if err := op.Open(ctx); err != nil {
		t.Fatal(err)
	}
	out := api.NewBatch(8)
	if err := op.ProcessBatch(keyed(t, sel, values...), out); err != nil {
		t.Fatal(err)
	}
	if err := op.Finish(out); err != nil {
		t.Fatal(err)
	}
	if err := op.Close(); err != nil {
		t.Fatal(err)
	}
	return collect(out)
}

func TestAggregates(t *testing.T) {
	user := &jobspec.KeyBy{Kind: jobspec.KeyByField, Field: "u"}
	events := []string{`{"u": "a", "n": 3}`, `{"u": "b", "n": 10}`, `{"u": "a", "n": -5}`, `{"u": "a", "n": 4}`}
	tests := []struct {
		name, typ, params string
		sel               *jobspec.KeyBy
		in                []string
		want              []string
		sort              bool
	}{
		{"count every", "count", "", byValue, []string{"x", "y", "x"}, []string{"x,1", "y,1", "x,2"}, false},
		{"count final", "count", "emit: final", byValue, []string{"x", "y", "x", "z", "x"}, []string{"x,3", "y,1", "z,1"}, true},
		{"count json", "count", "format: json", byValue, []string{`say "hi"`, "x"}, []string{`{"key":"say \"hi\"","count":1}`, `{"key":"x","count":1}`}, false},
		{"count csv quoting", "count", "", byValue, []string{"a,b", `q"`}, []string{`"a,b",1`, `"q""",1`}, false},
		{"sum", "sum", "field: n", user, events, []string{"a,3", "b,10", "a,-2", "a,2"}, false},
		{"min", "min", "field: n", user, events, []string{"a,3", "b,10", "a,-5", "a,-5"}, false},
		{"max final json", "max", "field: n\nemit: final\nformat: json", user, events, []string{`{"key":"a","max":4}`, `{"key":"b","max":10}`}, true},
		{"avg", "avg", "field: n", user, events, []string{"a,3", "b,10", "a,-1", "a,0.6666666666666666"}, false},
		{"sum floats", "sum", "field: n", user, []string{`{"u": "a", "n": 0.5}`, `{"u": "a", "n": 2}`}, []string{"a,0.5", "a,2.5"}, false},
		{"sum overflows into float", "sum", "field: n", user, []string{`{"u": "a", "n": 9223372036854775807}`, `{"u": "a", "n": 1}`}, []string{"a,9223372036854775807", "a,9223372036854776000"}, false},
		{"min mixes ints and floats", "min", "field: n", user, []string{`{"u": "a", "n": 2}`, `{"u": "a", "n": 1.5}`, `{"u": "a", "n": 1}`}, []string{"a,2", "a,1.5", "a,1"}, false},
		{"sum of whole value", "sum", "", &jobspec.KeyBy{Kind: jobspec.KeyByKey}, []string{"1", " 2\n", "3.5"}, []string{",1", ",3", ",6.5"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runKeyed(t, tt.typ, tt.params, tt.sel, tt.in...)
			want := tt.want
			if tt.sort {
				got, want = sorted(got), sorted(want)
			}
			if !slices.Equal(got, want) {
				t.Errorf("got  %q\nwant %q", got, want)
			}
		})
	}
}

func TestAggregateOutputRecord(t *testing.T) {
	op := mustBuild(t, "count", "")
	ctx := newContext(t, true, 0, 1, 128)
	if err := op.Open(ctx); err != nil {
		t.Fatal(err)
	}
	out := api.NewBatch(1)
	if err := op.ProcessBatch(keyed(t, byValue, "w"), out); err != nil {
		t.Fatal(err)
	}
	if r := out.Records[0]; string(r.Key) != "w" || r.Timestamp != 7 {
		t.Errorf("output record key %q ts %d; want the input's key and timestamp", r.Key, r.Timestamp)
	}
}

func TestAggregateNeedsKeyedState(t *testing.T) {
	op := mustBuild(t, "count", "")
	if err := op.Open(newContext(t, false, 0, 1, 128)); err == nil {
		t.Error("count opened without keyed state")
	}
	b, err := build(t, "sum", "field: n")
	if err != nil || !b.Keyed {
		t.Errorf("sum: Keyed=%v err=%v; want a keyed operator", b.Keyed, err)
	}
}

func TestAggregateCorruptState(t *testing.T) {
	ctx := newContext(t, true, 0, 1, 128)
	vs, err := ctx.ks.Value(api.StateDescriptor{Name: "count", Kind: api.ValueStateKind})
	if err != nil {
		t.Fatal(err)
	}
	ctx.ks.SetCurrentKey([]byte("x"))
	if err := vs.Put([]byte("garbage")); err != nil {
		t.Fatal(err)
	}
	op := mustBuild(t, "count", "")
	if err := op.Open(ctx); err != nil {
		t.Fatal(err)
	}
	err = op.ProcessBatch(keyed(t, byValue, "x"), api.NewBatch(1))
	if !errors.Is(err, ErrCorruptState) {
		t.Errorf("error %v; want ErrCorruptState", err)
	}
}

// TestFinalSurvivesRestoreAndRescale checks that emit: final emits keys seen
// before a checkpoint after the state is restored, also into a different
// number of subtasks: the key set lives in keyed state, by key group.
func TestFinalSurvivesRestoreAndRescale(t *testing.T) {
	const maxPar = 16
	// Keys w20..w59 appear only before the snapshot.
	var first, second []string
	want := map[string]int{}
	for i := range 200 {
		w := fmt.Sprintf("w%d", i%60)
		first = append(first, w)
		want[w]++
	}
	for i := range 100 {
		w := fmt.Sprintf("w%d", i%20)
		second = append(second, w)
		want[w]++
	}

	// Phase 1: two subtasks count the first part, then snapshot.
	var snapshot []state.Entry
	for sub := range 2 {
		op := mustBuild(t, "count", "emit: final")
		ctx := newContext(t, true, sub, 2, maxPar)
		if err := op.Open(ctx); err != nil {
			t.Fatal(err)
		}
		if err := op.ProcessBatch(keyed(t, byValue, ownedBy(first, sub, 2, maxPar)...), api.NewBatch(1)); err != nil {
			t.Fatal(err)
		}
		err := ctx.ks.Snapshot(func(e *state.Entry) error {
			c := *e
			c.Key, c.Namespace, c.UserKey, c.Value = clone(e.Key), clone(e.Namespace), clone(e.UserKey), clone(e.Value)
			snapshot = append(snapshot, c)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		op.Close() // fails: no Finish
	}

	// Phase 2: three subtasks restore, count the rest and finish.
	got := map[string]int{}
	for sub := range 3 {
		b, err := heap.New(state.Options{Operator: "op", MaxParallelism: maxPar, KeyGroups: keygroup.RangeOf(sub, 3, maxPar)})
		if err != nil {
			t.Fatal(err)
		}
		for i := range snapshot {
			if err := b.Restore(&snapshot[i]); err != nil {
				t.Fatal(err)
			}
		}
		ctx := newContext(t, false, sub, 3, maxPar)
		ctx.ks = b
		op := mustBuild(t, "count", "emit: final")
		if err := op.Open(ctx); err != nil {
			t.Fatal(err)
		}
		out := api.NewBatch(8)
		if err := op.ProcessBatch(keyed(t, byValue, ownedBy(second, sub, 3, maxPar)...), out); err != nil {
			t.Fatal(err)
		}
		if out.Len() != 0 {
			t.Errorf("emit: final emitted %d records before Finish", out.Len())
		}
		if err := op.Finish(out); err != nil {
			t.Fatal(err)
		}
		for _, r := range out.Records {
			var n int
			if _, err := fmt.Sscanf(string(r.Value[len(r.Key)+1:]), "%d", &n); err != nil {
				t.Fatalf("output %q: %v", r.Value, err)
			}
			if _, dup := got[string(r.Key)]; dup {
				t.Errorf("key %q emitted twice", r.Key)
			}
			got[string(r.Key)] = n
		}
		op.Close()
		b.Close()
	}
	if len(got) != len(want) {
		t.Errorf("%d keys emitted, want %d", len(got), len(want))
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("count of %s = %d, want %d", k, got[k], n)
		}
	}
}

// ownedBy returns the values whose key group subtask sub of par owns.
func ownedBy(values []string, sub, par, maxPar int) []string {
	var out []string
	for _, v := range values {
		if keygroup.SubtaskOf([]byte(v), par, maxPar) == sub {
			out = append(out, v)
		}
	}
	return out
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

func TestKeySetSentinels(t *testing.T) {
	ctx := newContext(t, true, 1, 3, 300)
	ks, err := newKeySet(ctx, ctx.ks, "k")
	if err != nil {
		t.Fatal(err)
	}
	for kg := ks.kgs.Start; kg <= ks.kgs.End; kg++ {
		if got := keygroup.Of(ks.sentinel(kg), 300); got != kg {
			t.Fatalf("sentinel of key group %d hashes to %d", kg, got)
		}
	}
	if ks.next > 10*300 {
		t.Errorf("%d candidates tried for 100 key groups", ks.next)
	}
}
