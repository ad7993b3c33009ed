package nexmark

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/connectors/nexmark"
	"github.com/freshet/freshet/engine/onerror"
	"github.com/freshet/freshet/engine/params"
	"github.com/freshet/freshet/engine/windows"
	"github.com/freshet/freshet/engine/windows/windowstest"
)

// bids decodes the bids among recs.
func bids(t *testing.T, recs []api.Record) []nexmark.Bid {
	var out []nexmark.Bid
	for _, r := range recs {
		var ev nexmark.Event
		if err := nexmark.DecodeBinary(r.Value, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Kind == nexmark.KindBid {
			b := ev.Bid
			b.Channel, b.URL, b.Extra = slices.Clone(b.Channel), slices.Clone(b.URL), slices.Clone(b.Extra)
			out = append(out, b)
		}
	}
	return out
}

// bidTopRows is the reference: per window of size ms, the bid view rows
// (JSON, cols) of the bids with the window's highest price, as
// end|row|end-1, oldest window first.
func bidTopRows(bs []nexmark.Bid, size int64, cols []string) []string {
	type win struct {
		max  int64
		rows []string
	}
	wins := map[int64]*win{}
	var starts []int64
	var sel []column
	for _, name := range cols {
		c, _ := findColumn(nexmark.KindBid, name)
		sel = append(sel, c)
	}
	for _, b := range bs {
		start := b.DateTime - floorMod(b.DateTime, size)
		w := wins[start]
		if w == nil {
			w = &win{max: b.Price}
			wins[start] = w
			starts = append(starts, start)
		}
		ev := nexmark.Event{Kind: nexmark.KindBid, Bid: b}
		row := string(appendRow(nil, sel, &ev, formatJSON))
		switch {
		case b.Price > w.max:
			w.max, w.rows = b.Price, []string{row}
		case b.Price == w.max:
			w.rows = append(w.rows, row)
		}
	}
	slices.Sort(starts)
	var out []string
	for _, s := range starts {
		for _, r := range wins[s].rows {
			out = append(out, fmt.Sprintf("%d|%s|%d", s+size, r, s+size-1))
		}
	}
	return out
}

func TestBidTopKeepsTheHighestBids(t *testing.T) {
	recs := events(t, 3000)
	cols := []any{"auction", "bidder", "price", "dateTime", "extra"}
	fields := map[string]any{"size": "20ms", "columns": cols}
	var names []string
	for _, c := range cols {
		names = append(names, c.(string))
	}
	all := bids(t, recs)
	want := bidTopRows(all, 20, names)
	if len(want) < 5 {
		t.Fatalf("only %d rows: the input spans too few windows", len(want))
	}

	// One pass, and the same input cut by a checkpoint and a restore.
	h := harness(t, "bid-top", fields, false, nil)
	if err := h.Process(recs...); err != nil {
		t.Fatal(err)
	}
	if err := h.Watermark(api.MaxWatermark); err != nil {
		t.Fatal(err)
	}
	if got := emitted(h); !slices.Equal(got, want) {
		t.Fatalf("got %d rows, want %d\n got  %q\n want %q", len(got), len(want), got[:min(3, len(got))], want[:3])
	}

	half := len(recs) / 2
	h1 := harness(t, "bid-top", fields, false, nil)
	if err := h1.Process(recs[:half]...); err != nil {
		t.Fatal(err)
	}
	entries, err := h1.Operator().(api.CheckpointedFunction).SnapshotState(1)
	if err != nil {
		t.Fatal(err)
	}
	op, _ := testRegistry(nil).Operator("bid-top", params.FromMap("w", fields))
	restored, _ := op.New()
	if err := restored.(api.CheckpointedFunction).RestoreState(entries); err != nil {
		t.Fatal(err)
	}
	h2, err := windowstest.New(restored, windowstest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close()
	if err := h2.Process(recs[half:]...); err != nil {
		t.Fatal(err)
	}
	if err := h2.Watermark(api.MaxWatermark); err != nil {
		t.Fatal(err)
	}
	if got := emitted(h2); !slices.Equal(got, want) {
		t.Fatalf("after a restore: got %d rows, want %d", len(got), len(want))
	}
	if err := h2.Operator().(api.CheckpointedFunction).RestoreState([][]byte{{0x80}}); !errors.Is(err, ErrCorruptState) {
		t.Fatalf("a malformed entry: err = %v", err)
	}
}

func TestBidTopDropsLateBidsAndRejectsOtherInput(t *testing.T) {
	recs := events(t, 200)
	h := harness(t, "bid-top", map[string]any{"size": "10s", "columns": []any{"price"}}, false, nil)
	if err := h.Watermark(recs[len(recs)-1].Timestamp + 10_000); err != nil {
		t.Fatal(err)
	}
	if err := h.Process(recs...); err != nil {
		t.Fatal(err)
	}
	if n, late := len(h.Records()), h.CounterValue(windows.LateDroppedCounter); n != 0 || late != int64(len(bids(t, recs))) {
		t.Fatalf("%d rows, %d late; want none and every bid late", n, late)
	}
	json := api.Record{Value: []byte(`{"type":"bid"}`), Timestamp: 1}
	if err := h.Process(json); !errors.Is(err, ErrNotBinary) {
		t.Fatalf("JSON input: err = %v, want ErrNotBinary", err)
	}
	noTime := recs[len(recs)-1]
	noTime.Timestamp = api.NoTimestamp
	if err := h.Process(noTime); !errors.Is(err, onerror.ErrMalformed) {
		t.Fatalf("a bid without event time: err = %v", err)
	}
	_, err := testRegistry(nil).Operator("bid-top", params.FromMap("operators[0]", map[string]any{"columns": []any{"price"}}))
	if err == nil || !strings.Contains(err.Error(), "operators[0].size") {
		t.Fatalf("no size: err = %v", err)
	}
}

func TestBidTopLogsEventTimeForTheProbe(t *testing.T) {
	probe := NewProbe(LatencyEventTime, 0, 0)
	op, err := testRegistry(probe).Operator("bid-top", params.FromMap("w", map[string]any{"size": "10s"}))
	if err != nil {
		t.Fatal(err)
	}
	inst, _ := op.New()
	h, err := windowstest.New(inst, windowstest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	recs := events(t, 100)
	if err := h.Process(recs...); err != nil {
		t.Fatal(err)
	}
	last := recs[len(recs)-1].Timestamp
	if _, ok := probe.dueSince(last); !ok {
		t.Fatalf("no event time logged up to %s", strconv.FormatInt(last, 10))
	}
}

func TestBidTopAllocatesNothingPerBid(t *testing.T) {
	recs := events(t, 1000)
	// A bid above every other in the one window all events fall in: the
	// rest are not candidates, the common case.
	top := nexmark.Event{Kind: nexmark.KindBid, Bid: nexmark.Bid{Price: 1 << 40, DateTime: recs[0].Timestamp}}
	h := harness(t, "bid-top", map[string]any{"size": "1000s"}, false, nil)
	if err := h.Process(api.Record{Value: nexmark.AppendBinary(nil, &top), Timestamp: top.Bid.DateTime}); err != nil {
		t.Fatal(err)
	}
	in := api.NewBatch(len(recs))
	for i := range recs {
		in.Emit(&recs[i])
	}
	op := h.Operator()
	out := api.NewBatch(1)
	if n := testing.AllocsPerRun(20, func() {
		if err := op.ProcessBatch(in, out); err != nil {
			t.Fatal(err)
		}
	}); n > 0 {
		t.Fatalf("%.1f allocations per batch of %d events", n, len(recs))
	}
}
