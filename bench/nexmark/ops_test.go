package nexmark

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/connectors/conntest"
	"github.com/freshet/freshet/engine/connectors/nexmark"
	"github.com/freshet/freshet/engine/onerror"
	"github.com/freshet/freshet/engine/params"
	"github.com/freshet/freshet/engine/registry"
	"github.com/freshet/freshet/engine/state"
	"github.com/freshet/freshet/engine/windows"
	"github.com/freshet/freshet/engine/windows/windowstest"
)

func testRegistry(probe *Probe) *registry.Registry {
	r := registry.New()
	Register(r, probe)
	return r
}

// harness builds operator typ from fields and opens it in a harness.
func harness(t *testing.T, typ string, fields map[string]any, keyed bool, restore *windowstest.Snapshot) *windowstest.Harness {
	t.Helper()
	op, err := testRegistry(nil).Operator(typ, params.FromMap("operators[0]", fields))
	if err != nil {
		t.Fatal(err)
	}
	inst, err := op.New()
	if err != nil {
		t.Fatal(err)
	}
	h, err := windowstest.New(inst, windowstest.Options{Keyed: keyed, Restore: restore})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func emitted(h *windowstest.Harness) []string {
	var s []string
	for _, r := range h.Records() {
		s = append(s, fmt.Sprintf("%s|%s|%d", r.Key, r.Value, r.Timestamp))
	}
	return s
}

// events returns the binary records of the first n events of a stream.
func events(t testing.TB, n int64) []api.Record {
	cfg := nexmark.DefaultConfig()
	cfg.Events, cfg.Seed = n, 3
	g, err := nexmark.NewGenerator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var ev nexmark.Event
	var recs []api.Record
	for g.Next(&ev) {
		recs = append(recs, api.Record{Value: nexmark.AppendBinary(nil, &ev), Timestamp: ev.Timestamp()})
	}
	return recs
}

func TestViewProjects(t *testing.T) {
	recs := events(t, 60) // persons at 0 and 50, auctions at 1-3 and 51-53
	var ev nexmark.Event
	if err := nexmark.DecodeBinary(recs[1].Value, &ev); err != nil {
		t.Fatal(err)
	}
	a := ev.Auction
	tests := []struct {
		name   string
		fields map[string]any
		want   string // the first output record: key|value|timestamp
		n      int
	}{
		{"json with key and type", map[string]any{"view": "auction", "columns": []any{"type", "id", "seller"}, "key": "seller"},
			fmt.Sprintf(`%d|{"type":"auction","id":%d,"seller":%d}|%d`, a.Seller, a.ID, a.Seller, a.DateTime), 6},
		{"csv", map[string]any{"view": "auction", "columns": []any{"id", "itemName", "category"}, "format": "csv"},
			fmt.Sprintf(`|%d,%s,%d|%d`, a.ID, a.ItemName, a.Category, a.DateTime), 6},
		{"every column", map[string]any{"view": "person"}, "", 2},
		{"bids", map[string]any{"view": "bid", "columns": []any{"price"}}, "", 60 - 8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := harness(t, "nexmark-view", tc.fields, false, nil)
			if err := h.Process(recs...); err != nil {
				t.Fatal(err)
			}
			out := emitted(h)
			if len(out) != tc.n {
				t.Fatalf("%d rows, want %d", len(out), tc.n)
			}
			if tc.want != "" && out[0] != tc.want {
				t.Fatalf("got  %s\nwant %s", out[0], tc.want)
			}
		})
	}
}

func TestViewStampsRowsForTheProbe(t *testing.T) {
	probe := NewProbe(LatencyStamped, 2, 0)
	op, err := testRegistry(probe).Operator("nexmark-view", params.FromMap("v", map[string]any{"view": "bid"}))
	if err != nil {
		t.Fatal(err)
	}
	inst, _ := op.New()
	h, err := windowstest.New(inst, windowstest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	before := time.Now().UnixNano()
	if err := h.Process(events(t, 50)...); err != nil {
		t.Fatal(err)
	}
	stamped := 0
	for _, r := range h.Records() {
		if ts, ok := stampOf(&r); ok {
			stamped++
			if ts < before || ts > time.Now().UnixNano() {
				t.Fatalf("stamp %d is not the time of emission", ts)
			}
		}
	}
	if want := (50 - 4) / 2; stamped != want {
		t.Fatalf("%d rows stamped, want every second one: %d", stamped, want)
	}
	if at, ok := probe.dueSince(0); !ok || at < before {
		t.Fatalf("the view logged no progress: %d %v", at, ok)
	}
}

func TestViewRejects(t *testing.T) {
	tests := []struct {
		name   string
		fields map[string]any
		want   string
	}{
		{"no view", map[string]any{}, "operators[0].view: required"},
		{"unknown view", map[string]any{"view": "seller"}, "operators[0].view"},
		{"unknown column", map[string]any{"view": "bid", "columns": []any{"auction", "seller"}}, `the bid view has no column "seller" (columns: type, auction, bidder`},
		{"string key", map[string]any{"view": "bid", "key": "channel"}, "is a string; key by an integer column"},
		{"empty columns", map[string]any{"view": "bid", "columns": []any{}}, "is empty"},
		{"bad format", map[string]any{"view": "bid", "format": "avro"}, "operators[0].format"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := testRegistry(nil).Operator("nexmark-view", params.FromMap("operators[0]", tc.fields))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestViewBadRecords(t *testing.T) {
	json := api.Record{Value: []byte(`{"type":"bid"}`), Timestamp: 1}
	truncated := events(t, 5)[4]
	truncated.Value = truncated.Value[:len(truncated.Value)-3]
	h := harness(t, "nexmark-view", map[string]any{"view": "bid"}, false, nil)
	if err := h.Process(json); !errors.Is(err, ErrNotBinary) || !strings.Contains(err.Error(), "format: binary") {
		t.Fatalf("JSON input: err = %v, want ErrNotBinary with a hint", err)
	}
	h = harness(t, "nexmark-view", map[string]any{"view": "bid", "on-error": "skip"}, false, nil)
	if err := h.Process(json, truncated, events(t, 5)[4]); err != nil {
		t.Fatal(err)
	}
	if n := h.CounterValue(onerror.SkippedCounter); n != 2 || len(h.Records()) != 1 {
		t.Fatalf("skipped %d, emitted %d; want 2 and 1", n, len(h.Records()))
	}
}

func TestViewAllocatesNothingPerRecord(t *testing.T) {
	recs := events(t, 1000)
	in := api.NewBatch(len(recs))
	for i := range recs {
		in.Emit(&recs[i])
	}
	op, err := testRegistry(NewProbe(LatencyStamped, 64, 0)).Operator("nexmark-view", params.FromMap("v", map[string]any{"view": "bid", "key": "auction"}))
	if err != nil {
		t.Fatal(err)
	}
	inst, _ := op.New()
	h, err := windowstest.New(inst, windowstest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	out := api.NewBatch(len(recs))
	run := func() {
		out.Reset()
		if err := inst.ProcessBatch(in, out); err != nil {
			t.Fatal(err)
		}
	}
	run()
	if n := testing.AllocsPerRun(20, run); n > 0 {
		t.Fatalf("%.1f allocations per batch of %d records", n, len(recs))
	}
}

func TestTopKeepsTheLargestPerKeyAndTime(t *testing.T) {
	h := harness(t, "top", map[string]any{"field": "n"}, true, nil)
	rec := func(key, v string, ts int64) api.Record {
		return api.Record{Key: []byte(key), Value: []byte(v), Timestamp: ts}
	}
	err := h.Process(
		rec("w1", `{"a":1,"n":3}`, 99), rec("w1", `{"a":2,"n":5}`, 99), rec("w1", `{"a":3,"n":5}`, 99),
		rec("w1", `{"a":4,"n":4}`, 99), rec("w2", `{"a":5,"n":1.5}`, 99), rec("w1", `{"a":6,"n":9}`, 199),
	)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := h.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	h = harness(t, "top", map[string]any{"field": "n"}, true, snap) // survives a restore
	if err := h.Watermark(99); err != nil {
		t.Fatal(err)
	}
	got := emitted(h)
	slices.Sort(got)
	want := []string{`w1|{"a":2,"n":5}|99`, `w1|{"a":3,"n":5}|99`, `w2|{"a":5,"n":1.5}|99`}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if err := h.Process(rec("w1", `{"n":100}`, 50)); err != nil {
		t.Fatal(err)
	}
	if h.CounterValue(windows.LateDroppedCounter) != 1 {
		t.Fatal("a record behind the watermark was not dropped as late")
	}
	if err := h.Process(rec("w1", `{"n":"x"}`, 500)); err == nil || !errors.Is(err, onerror.ErrMalformed) {
		t.Fatalf("a record without a number: err = %v", err)
	}
}

func TestWindowTopFiresAtTheWatermark(t *testing.T) {
	h := harness(t, "window-top", map[string]any{"field": "p", "size": "10s"}, false, nil)
	rec := func(v string, ts int64) api.Record { return api.Record{Value: []byte(v), Timestamp: ts} }
	if err := h.Process(rec(`{"p":1}`, 1000), rec(`{"p":7}`, 2000), rec(`{"p":7}`, 9999), rec(`{"p":3}`, 10_000)); err != nil {
		t.Fatal(err)
	}
	if err := h.Watermark(9998); err != nil {
		t.Fatal(err)
	}
	if len(h.Records()) != 0 {
		t.Fatalf("fired before the window's end: %q", emitted(h))
	}
	// A checkpoint in between: the restored subtask still holds both windows.
	entries, err := h.Operator().(api.CheckpointedFunction).SnapshotState(1)
	if err != nil {
		t.Fatal(err)
	}
	op, _ := testRegistry(nil).Operator("window-top", params.FromMap("w", map[string]any{"field": "p", "size": "10s"}))
	restored, _ := op.New()
	if err := restored.(api.CheckpointedFunction).RestoreState(entries); err != nil {
		t.Fatal(err)
	}
	h2, err := windowstest.New(restored, windowstest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close()
	if err := h2.Watermark(api.MaxWatermark); err != nil {
		t.Fatal(err)
	}
	want := []string{`10000|{"p":7}|9999`, `10000|{"p":7}|9999`, `20000|{"p":3}|19999`}
	if got := emitted(h2); !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if err := h2.Operator().(api.CheckpointedFunction).RestoreState([][]byte{{0x80}}); !errors.Is(err, ErrCorruptState) {
		t.Fatalf("a malformed entry: err = %v", err)
	}
}

func TestLocalCountSumsToTheCounts(t *testing.T) {
	h := harness(t, "local-count", map[string]any{"pane": "2s", "max-keys": 3}, false, nil)
	rec := func(key string, ts int64) api.Record {
		return api.Record{Key: []byte(key), Value: []byte("{}"), Timestamp: ts}
	}
	in := []api.Record{rec("a", 100), rec("a", 1999), rec("b", 500), rec("a", 2000), rec("a", 2500), rec("c", 10), rec("a", 3000)}
	if err := h.Process(in...); err != nil {
		t.Fatal(err)
	}
	if err := h.Watermark(3999); err != nil {
		t.Fatal(err)
	}
	if err := h.Process(rec("a", 3999), rec("a", 4000)); err != nil {
		t.Fatal(err)
	}
	// Keep what is not flushed through a checkpoint.
	entries, err := h.Operator().(api.CheckpointedFunction).SnapshotState(1)
	if err != nil {
		t.Fatal(err)
	}
	op, _ := testRegistry(nil).Operator("local-count", params.FromMap("l", map[string]any{"pane": "2s"}))
	restored, _ := op.New()
	if err := restored.(api.CheckpointedFunction).RestoreState(entries); err != nil {
		t.Fatal(err)
	}
	h2, err := windowstest.New(restored, windowstest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close()
	if err := h2.Watermark(api.MaxWatermark); err != nil {
		t.Fatal(err)
	}
	sums := map[string]int64{}
	for _, r := range append(h.Records(), h2.Records()...) {
		var n int64
		if _, err := fmt.Sscanf(string(r.Value), `{"n":%d}`, &n); err != nil {
			t.Fatal(err)
		}
		sums[fmt.Sprintf("%s@%d", r.Key, r.Timestamp)] += n
	}
	want := map[string]int64{"a@0": 2, "b@0": 1, "c@0": 1, "a@2000": 3, "a@4000": 1}
	if fmt.Sprint(sums) != fmt.Sprint(want) {
		t.Fatalf("counts %v, want %v", sums, want)
	}
	if h.CounterValue(windows.LateDroppedCounter) != 1 {
		t.Fatal("the record at the watermark was not dropped as late")
	}
}

// Every watermark takes all partial counts with it, so none is held back
// when the input then goes idle (an operator is not told); runs of one key
// are counted without a lookup and still come out right.
func TestLocalCountEmitsAtEveryWatermark(t *testing.T) {
	h := harness(t, "local-count", map[string]any{"pane": "2s"}, false, nil)
	rec := func(key string, ts int64) api.Record {
		return api.Record{Key: []byte(key), Value: []byte("{}"), Timestamp: ts}
	}
	steps := []struct {
		in   []api.Record
		wm   int64
		want []string // records emitted by the step, sorted
	}{
		{[]api.Record{rec("a", 100), rec("a", 2100), rec("b", 1500)}, 1000, []string{`a {"n":1} @0`, `a {"n":1} @2000`, `b {"n":1} @0`}},
		{[]api.Record{rec("a", 1200), rec("a", 2200)}, 1500, []string{`a {"n":1} @0`, `a {"n":1} @2000`}},
		{[]api.Record{rec("a", 3000), rec("a", 3001), rec("a", 3002), rec("c", 4000), rec("a", 3003)}, api.MaxWatermark, []string{`a {"n":4} @2000`, `c {"n":1} @4000`}},
	}
	seen := 0
	for i, st := range steps {
		if err := h.Process(st.in...); err != nil {
			t.Fatal(err)
		}
		if err := h.Watermark(st.wm); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range h.Records()[seen:] {
			got = append(got, fmt.Sprintf("%s %s @%d", r.Key, r.Value, r.Timestamp))
		}
		seen = len(h.Records())
		slices.Sort(got)
		if !slices.Equal(got, st.want) {
			t.Fatalf("step %d (watermark %d): emitted %q, want %q", i, st.wm, got, st.want)
		}
	}
}

func TestClosingPrice(t *testing.T) {
	auction := func(id, ts, expires, cat int64) api.Record {
		return api.Record{Key: fmt.Appendf(nil, "%d", id), Value: fmt.Appendf(nil, `{"expires":%d,"category":%d}`, expires, cat), Timestamp: ts}
	}
	bid := func(id, ts, price int64) api.Record {
		return api.Record{Key: fmt.Appendf(nil, "%d", id), Value: fmt.Appendf(nil, `{"price":%d}`, price), Timestamp: ts}
	}
	h := harness(t, "closing-price", map[string]any{}, true, nil)
	steps := []struct {
		auctions bool
		recs     []api.Record
	}{
		{false, []api.Record{
			bid(1, 100, 50), // before its auction, at its start: counts
			bid(1, 99, 900), // before its auction's start: does not count
		}},
		{true, []api.Record{auction(1, 100, 200, 10)}},
		{false, []api.Record{
			bid(1, 150, 70),  // counts
			bid(1, 200, 80),  // at the expiry: counts
			bid(1, 201, 999), // after: does not
			bid(2, 120, 5),   // an auction that never comes
		}},
		{true, []api.Record{auction(3, 130, 140, 11)}},
	}
	for _, st := range steps {
		var err error
		if st.auctions {
			err = h.Process(st.recs...)
		} else {
			err = h.Process2(st.recs...)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	snap, err := h.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	h = harness(t, "closing-price", map[string]any{}, true, snap)
	if err := h.Watermark(300); err != nil {
		t.Fatal(err)
	}
	want := []string{`1|{"id":1,"category":10,"final":80}|200`} // auction 3 had no bid
	if got := emitted(h); !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if n := h.PendingTimers(); n != 0 {
		t.Fatalf("%d timers left: the pending bid of auction 2 was not dropped", n)
	}
	var st [2]bool
	err = h.Backend().Snapshot(func(e *state.Entry) error {
		st[0] = st[0] || e.State == "auction"
		st[1] = st[1] || e.State == "pending"
		return nil
	})
	if err != nil || st[0] || st[1] {
		t.Fatalf("state left after every auction closed: %v %v", st, err)
	}
}

// nexmark-rows emits what the nexmark source with format binary followed
// by nexmark-view emits: the same rows, keys and timestamps, stamps for
// the probe, and the events it generated counted.
func TestRowsSourceIsTheViewPushedIntoTheSource(t *testing.T) {
	const n = 500
	for _, fields := range []map[string]any{
		{"view": "bid", "columns": []any{"auction"}, "key": "auction"},
		{"view": "bid", "columns": []any{"auction", "price"}, "format": "binary"},
		{"view": "auction", "columns": []any{"type", "id", "itemName", "seller"}, "key": "seller", "format": "csv"},
		{"view": "person"},
	} {
		t.Run(fmt.Sprint(fields), func(t *testing.T) {
			probe := NewProbe(LatencyStamped, 7, 0)
			h := harness(t, "nexmark-view", fields, false, nil)
			if err := h.Process(events(t, n)...); err != nil {
				t.Fatal(err)
			}
			want := emitted(h)

			src := map[string]any{"events": n, "seed": 3}
			for k, v := range fields {
				src[k] = v
			}
			build, err := testRegistry(probe).Source("nexmark-rows", params.FromMap("sources[0]", src))
			if err != nil {
				t.Fatal(err)
			}
			s, err := build()
			if err != nil {
				t.Fatal(err)
			}
			ctx := conntest.NewContext("events", 0, 1)
			out, _, err := conntest.RunSource(ctx, s, 64, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			stamped := 0
			for i := range out.Batch.Records {
				r := &out.Batch.Records[i]
				got = append(got, fmt.Sprintf("%s|%s|%d", r.Key, r.Value, r.Timestamp))
				if _, ok := stampOf(r); ok {
					stamped++
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("nexmark-rows emitted %d rows, the view %d; first difference:\n%s", len(got), len(want), firstDiff(got, want))
			}
			if stamped != len(got)/7 {
				t.Fatalf("%d of %d rows stamped, want every 7th", stamped, len(got))
			}
			if c := ctx.CounterValue(nexmark.EventsCounter); c != n {
				t.Fatalf("%s = %d, want %d", nexmark.EventsCounter, c, n)
			}
		})
	}
}

func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("got  %q\nwant %q", a[i], b[i])
		}
	}
	return "one is a prefix of the other"
}
