package host_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/host"
	"github.com/freshet/freshet/host/abi"
	"github.com/freshet/freshet/host/harness"
)

// The Go reference plugins (plugins/go) against the examples and rules of
// plugins/README.md.

func TestJSONExtractPlugin(t *testing.T) {
	tests := []struct {
		field, doc string
		want       string // output value, or "error: msg"
	}{
		{"user.id", `{"user": {"id": "a\u00e9"}, "n": 1}`, "aé"},
		{"n", `{"user": {"id": "a\u00e9"}, "n": 1}`, "1"},
		{"n", ` {"n" :  [1, {"x": null}] } `, `[1, {"x": null}]`},
		{"n", `{"n": "\ud83d\ude00"}`, "😀"},
		{"a", `{"a": 1, "a": 2}`, "1"},
		{"a\tb", `{"a\tb": true}`, "true"},
		{"missing", `{"n": 1}`, "error: field not found: missing"},
		{"n.x", `{"n": 1}`, "error: invalid json"},
		{"n", `{"n": 1,}`, "error: invalid json"},
		{"n", `{"n": 1} x`, "error: invalid json"},
		{"n", `{"n": "\ud800"}`, "error: invalid json"},
		{"n", `{"n": 01}`, "error: invalid json"},
		{"n", "{\"n\": \"a\x01\"}", "error: invalid json"},
		{"n", strings.Repeat("[", 513) + strings.Repeat("]", 513), "error: invalid json"},
		{"n", `{"n": 1, "deep": ` + strings.Repeat("[", 511) + strings.Repeat("]", 511) + `}`, "1"},
	}
	for _, tc := range tests {
		t.Run(tc.field+" "+tc.doc[:min(len(tc.doc), 20)], func(t *testing.T) {
			h := newHarness(t, "json-extract", host.Options{Kind: abi.KindMap, Config: []byte(`{"field":"` + strings.ReplaceAll(tc.field, "\t", `\t`) + `"}`), OnError: host.ErrorSideOutput}, harness.Options{})
			if err := h.ProcessElement([]byte("k"), []byte(tc.doc), 5); err != nil {
				t.Fatal(err)
			}
			var got string
			if out := h.TakeOutput(); len(out) == 1 {
				got = string(out[0].Value)
			} else if errs := h.SideOutput(host.ErrorTag); len(errs) == 1 {
				got = "error: " + string(errs[0].Headers[0].Value)
			}
			if got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
	m := loadGuest(t, "json-extract")
	op, err := host.NewOperator(m, host.Options{Kind: abi.KindMap})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := harness.New(op, harness.Options{})
	if err := h.Open(); !errors.Is(err, host.ErrUserFunction) || !strings.Contains(err.Error(), "invalid_argument") {
		t.Fatalf("open without field: %v", err)
	}
}

func TestFraudPlugin(t *testing.T) {
	h := newHarness(t, "fraud", host.Options{Kind: abi.KindProcess}, harness.Options{})
	feed := func(acct, amount string, ts int64) {
		t.Helper()
		if err := h.ProcessElement([]byte(acct), []byte(amount), ts); err != nil {
			t.Fatal(err)
		}
	}
	feed("1", "50", 1000)    // small: flag
	feed("1", "60000", 2000) // large within a minute: alert
	feed("2", "99", 3000)    // small
	feed("2", "100", 4000)   // neither: clears the flag
	feed("2", "90000", 5000) // large, but not flagged
	feed("3", "10", 10_000)  // small
	feed("3", "10", 20_000)  // small again: re-arms
	feed("3", "50001", 79_999)
	feed("4", "1", 0)
	if err := h.ProcessWatermark(60_000); err != nil { // fires 4's timer: flag cleared
		t.Fatal(err)
	}
	feed("4", "70000", 59_000) // late large: flag already gone
	feed("5", "5", 0)
	feed("5", "50001", 60_000) // exactly a minute later: too late
	got := values(h.TakeOutput())
	want := []string{"ALERT 1 60000", "ALERT 3 50001"}
	if !slices.Equal(got, want) {
		t.Fatalf("alerts %q, want %q", got, want)
	}
	if _, ok, _ := h.ValueState("flag", []byte("1")); ok {
		t.Error("account 1 is still flagged")
	}
	if n := len(h.Timers()); n != 0 {
		t.Errorf("%d timers left, want 0: %+v", n, h.Timers())
	}
	err := h.ProcessElement([]byte("1"), []byte("12.5"), 0)
	if !errors.Is(err, host.ErrUserFunction) || !strings.Contains(err.Error(), "invalid amount") {
		t.Fatalf("bad amount: %v", err)
	}
}

func TestNexmarkPlugin(t *testing.T) {
	q1 := newHarness(t, "nexmark", host.Options{Function: "q1", Kind: abi.KindMap, OnError: host.ErrorSkip}, harness.Options{})
	if err := q1.ProcessBatch(batch("1007,2001,1000,1700000000000", "-0,007,999,1", "1,2,3", "1,2,x,4", "5,6,9223372036854775807,7")); err != nil {
		t.Fatal(err)
	}
	got := values(q1.TakeOutput())
	want := []string{"1007,2001,908,1700000000000", "0,7,907,1", "5,6,8374821809464136432,7"}
	if !slices.Equal(got, want) || q1.Counter(host.SkippedCounter) != 2 {
		t.Fatalf("q1 %q (skipped %d), want %q", got, q1.Counter(host.SkippedCounter), want)
	}
	q2 := newHarness(t, "nexmark", host.Options{Function: "q2", Kind: abi.KindFilter}, harness.Options{})
	if err := q2.ProcessBatch(batch("1007,1,1,1", "1107,1,1,1", "-123,1,1,1", "0,1,1,1")); err != nil {
		t.Fatal(err)
	}
	if got := values(q2.TakeOutput()); !slices.Equal(got, []string{"1107,1,1,1", "-123,1,1,1", "0,1,1,1"}) {
		t.Fatalf("q2 %q", got)
	}
	q2m := newHarness(t, "nexmark", host.Options{Function: "q2", Kind: abi.KindFilter, Config: []byte(`{"modulus": 2}`)}, harness.Options{})
	if err := q2m.ProcessBatch(batch("1,1,1,1", "2,1,1,1")); err != nil {
		t.Fatal(err)
	}
	if got := values(q2m.TakeOutput()); !slices.Equal(got, []string{"2,1,1,1"}) {
		t.Fatalf("q2 modulus 2: %q", got)
	}
}

func TestWindowStatsPlugin(t *testing.T) {
	m := loadGuest(t, "window-stats")
	agg, err := host.NewAggregateFunction(context.Background(), m, host.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer agg.Close()
	var f api.AggregateFunction = agg
	empty := f.CreateAccumulator(nil)
	if got := string(f.Result(empty, nil)); got != "0,0," {
		t.Fatalf("empty result %q", got)
	}
	acc := empty
	for _, v := range []string{"10", "30", "20"} {
		acc = f.Add(acc, []byte(v), nil)
	}
	if got := string(f.Result(acc, nil)); got != "3,60,30" {
		t.Fatalf("result %q", got)
	}
	other := f.Add(f.CreateAccumulator(nil), []byte("-5"), nil)
	if got := string(f.Result(f.Merge(acc, other, nil), nil)); got != "4,55,30" {
		t.Fatalf("merged %q", got)
	}
	if _, err := agg.AddE(acc, []byte("1.5"), nil); !errors.Is(err, host.ErrUserFunction) {
		t.Fatalf("bad value: %v", err)
	}
	if _, err := agg.ResultE([]byte("short"), nil); !errors.Is(err, host.ErrUserFunction) {
		t.Fatalf("bad accumulator: %v", err)
	}
}
