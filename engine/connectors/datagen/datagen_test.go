package datagen_test

import (
	"encoding/json"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/connectors/conntest"
	"github.com/freshet/freshet/engine/connectors/datagen"
	"github.com/freshet/freshet/engine/params"
	"github.com/freshet/freshet/engine/registry"
)

func build(t testing.TB, fields map[string]any) func() (api.Source, error) {
	t.Helper()
	r := registry.New()
	datagen.Register(r)
	newSrc, err := r.Source("datagen", params.FromMap("sources[0]", fields))
	if err != nil {
		t.Fatalf("building datagen: %v", err)
	}
	return newSrc
}

// runAll runs every subtask of a source to its end and returns each
// subtask's records.
func runAll(t *testing.T, fields map[string]any, parallelism int) [][]api.Record {
	t.Helper()
	newSrc := build(t, fields)
	var out [][]api.Record
	for i := range parallelism {
		src, err := newSrc()
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := conntest.RunSource(conntest.NewContext("gen", i, parallelism), src, 100, 10*time.Second)
		if err != nil {
			t.Fatalf("subtask %d: %v", i, err)
		}
		out = append(out, got.Batch.Records)
	}
	return out
}

func values(recs []api.Record) []string {
	out := make([]string, len(recs))
	for i := range recs {
		out[i] = string(recs[i].Value)
	}
	return out
}

func TestSequenceSplitsAcrossSubtasks(t *testing.T) {
	const count = 1000
	for _, p := range []int{1, 3, 7} {
		parts := runAll(t, map[string]any{"count": count}, p)
		var all []int
		for i, part := range parts {
			want := (count - i + p - 1) / p
			if len(part) != want {
				t.Fatalf("p=%d subtask %d: %d rows, want %d", p, i, len(part), want)
			}
			for _, r := range part {
				n, err := strconv.Atoi(string(r.Value))
				if err != nil {
					t.Fatal(err)
				}
				if n%p != i {
					t.Fatalf("p=%d: subtask %d produced row %d", p, i, n)
				}
				if r.Key != nil || r.Timestamp != api.NoTimestamp {
					t.Fatalf("unexpected key %q or timestamp %d", r.Key, r.Timestamp)
				}
				all = append(all, n)
			}
		}
		sort.Ints(all)
		for i, n := range all {
			if n != i {
				t.Fatalf("p=%d: rows are not 0..%d: position %d holds %d", p, count-1, i, n)
			}
		}
	}
}

func TestRowsDoNotDependOnParallelism(t *testing.T) {
	fields := map[string]any{
		"count": 500, "seed": 9, "key": "word", "value": "json",
		"fields": map[string]any{"id": "sequence", "user": "word", "score": map[string]any{"kind": "float", "min": -1, "max": 1}},
	}
	collect := func(p int) []string {
		var s []string
		for _, part := range runAll(t, fields, p) {
			for _, r := range part {
				s = append(s, string(r.Key)+" "+string(r.Value))
			}
		}
		sort.Strings(s)
		return s
	}
	one, four := collect(1), collect(4)
	if !slices.Equal(one, four) {
		t.Fatalf("rows differ between parallelism 1 and 4:\n%v\n%v", one[:3], four[:3])
	}
	again := collect(1)
	if !slices.Equal(one, again) {
		t.Fatal("same seed gave different rows")
	}
	fields["seed"] = 10
	if other := collect(1); slices.Equal(one, other) {
		t.Fatal("different seeds gave the same rows")
	}
}

func TestJSONFields(t *testing.T) {
	parts := runAll(t, map[string]any{
		"count": 300, "value": "json", "key": map[string]any{"kind": "int", "min": 5, "max": 7},
		"fields": map[string]any{
			"id":    map[string]any{"kind": "sequence", "start": 100, "end": 109},
			"n":     map[string]any{"kind": "int", "min": -3, "max": 3},
			"f":     map[string]any{"kind": "float", "min": 2, "max": 4},
			"ok":    "bool",
			"s":     map[string]any{"kind": "string", "length": 6},
			"w":     "word",
			"ts":    map[string]any{"kind": "timestamp", "max-past": "1s"},
			"we\"d": "word",
		},
	}, 1)
	now := time.Now().UnixMilli()
	seenKeys := map[string]bool{}
	for _, r := range parts[0] {
		var m struct {
			ID  int64   `json:"id"`
			N   int64   `json:"n"`
			F   float64 `json:"f"`
			OK  *bool   `json:"ok"`
			S   string  `json:"s"`
			W   string  `json:"w"`
			TS  int64   `json:"ts"`
			Odd string  `json:"we\"d"`
		}
		if err := json.Unmarshal(r.Value, &m); err != nil {
			t.Fatalf("%s: %v", r.Value, err)
		}
		switch {
		case m.ID < 100 || m.ID > 109, m.N < -3 || m.N > 3, m.F < 2 || m.F >= 4, m.OK == nil,
			len(m.S) != 6, !slices.Contains(datagen.Words[:], m.W), m.TS > now || m.TS < now-5000:
			t.Fatalf("out of range: %s", r.Value)
		}
		if !strings.HasPrefix(string(r.Value), `{"f":`) {
			t.Fatalf("fields not in name order: %s", r.Value)
		}
		seenKeys[string(r.Key)] = true
	}
	if len(seenKeys) != 3 || !seenKeys["5"] || !seenKeys["7"] {
		t.Fatalf("keys %v, want 5, 6, 7", seenKeys)
	}
}

func TestParamErrors(t *testing.T) {
	tests := []struct {
		name   string
		fields map[string]any
		want   string
	}{
		{"unknown field", map[string]any{"cuont": 5, "count": 1}, `job.yaml:4:5: sources[0].cuont: unknown field (did you mean "count"?)`},
		{"negative rate", map[string]any{"rows-per-second": -1}, "sources[0].rows-per-second: must be a positive number"},
		{"bad value kind", map[string]any{"value": "uuid"}, `sources[0].value: "uuid" is not one of sequence`},
		{"json needs fields", map[string]any{"value": "json"}, "sources[0].fields: value is json but no fields are given"},
		{"fields without json", map[string]any{"fields": map[string]any{"a": "word"}}, "fields are only used with value: json"},
		{"max below min", map[string]any{"value": map[string]any{"kind": "int", "min": 5, "max": 1}}, "sources[0].value.max: 1 is below min 5"},
		{"option of another kind", map[string]any{"value": map[string]any{"kind": "word", "length": 3}}, "sources[0].value.length: unknown field"},
		{"kind missing", map[string]any{"key": map[string]any{"min": 1}}, "sources[0].key.kind: required field is missing"},
		{"json key", map[string]any{"key": "json"}, `sources[0].key: "json" is not one of`},
		{"count negative", map[string]any{"count": -2}, "sources[0].count: -2 is out of range"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vals := map[string]params.Value{}
			line := 3
			for _, k := range sortedKeys(tc.fields) {
				v := params.FromMap("", map[string]any{k: tc.fields[k]})
				raw, _ := v.Raw(k)
				raw.Pos = params.Pos{File: "job.yaml", Line: line, Col: 5}
				vals[k] = raw
				line++
			}
			r := registry.New()
			datagen.Register(r)
			_, err := r.Source("datagen", params.New("sources[0]", params.Pos{File: "job.yaml", Line: 2, Col: 3}, vals))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func TestRateLimitPacesWithoutSpinning(t *testing.T) {
	const rows, rate = 100, 400 // 250ms at 400 rows/s
	newSrc := build(t, map[string]any{"count": rows, "rows-per-second": rate})
	src, _ := newSrc()
	start := time.Now()
	got, st, err := conntest.RunSource(conntest.NewContext("gen", 0, 1), src, 1000, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if got.Batch.Len() != rows {
		t.Fatalf("%d rows, want %d", got.Batch.Len(), rows)
	}
	if took < 200*time.Millisecond || took > 3*time.Second {
		t.Fatalf("%d rows at %d/s took %v", rows, rate, took)
	}
	// A spinning source would poll thousands of times; a paced one about once per row.
	if st.Polls > 3*rows {
		t.Fatalf("%d polls (%d idle) for %d rows: the source spins", st.Polls, st.Idle, rows)
	}
}

func TestRateIsTotalOverSubtasks(t *testing.T) {
	// Two subtasks at 400 rows/s in total: 50 rows each take about 250ms.
	newSrc := build(t, map[string]any{"count": 100, "rows-per-second": 400})
	start := time.Now()
	done := make(chan error, 2)
	for i := range 2 {
		go func() {
			src, _ := newSrc()
			_, _, err := conntest.RunSource(conntest.NewContext("gen", i, 2), src, 1000, 10*time.Second)
			done <- err
		}()
	}
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if took := time.Since(start); took < 200*time.Millisecond {
		t.Fatalf("took %v: each subtask ran at the total rate", took)
	}
}

func TestPollEmitsBudget(t *testing.T) {
	src, _ := build(t, map[string]any{})()
	if err := src.Open(conntest.NewContext("gen", 0, 1)); err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	out := conntest.NewSourceContext(256)
	if st, err := src.Poll(out); err != nil || st != api.MoreAvailable || out.Batch.Len() != 256 {
		t.Fatalf("Poll = %v, %v with %d rows; want 256", st, err, out.Batch.Len())
	}
}

func TestPollAllocatesNothing(t *testing.T) {
	if conntest.RaceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	for _, value := range []any{"sequence", "word", map[string]any{"kind": "string", "length": 40}, "json"} {
		fields := map[string]any{"value": value, "key": "int"}
		if value == "json" {
			fields["fields"] = map[string]any{"a": "int", "b": "word", "c": "float", "d": "timestamp"}
		}
		src, _ := build(t, fields)()
		if err := src.Open(conntest.NewContext("gen", 0, 1)); err != nil {
			t.Fatal(err)
		}
		out := conntest.NewSourceContext(512)
		src.Poll(out) // warm up the batch arena
		allocs := testing.AllocsPerRun(50, func() {
			out.Batch.Reset()
			if _, err := src.Poll(out); err != nil {
				t.Fatal(err)
			}
		})
		src.Close()
		if allocs != 0 {
			t.Errorf("value %v: %v allocations per Poll of 512 rows", value, allocs)
		}
	}
}
