package nexmark

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/connectors/nexmark"
	"github.com/freshet/freshet/engine/onerror"
	"github.com/freshet/freshet/engine/params"
	"github.com/freshet/freshet/engine/windows/windowstest"
)

func TestViewBinaryRows(t *testing.T) {
	recs := events(t, 500)
	h := harness(t, "nexmark-view", map[string]any{"view": "bid", "columns": []any{"auction", "price", "dateTime"}, "format": "binary"}, false, nil)
	if err := h.Process(recs...); err != nil {
		t.Fatal(err)
	}
	want := bids(t, recs)
	got := h.Records()
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
	for i, r := range got {
		b := want[i]
		row := binary.LittleEndian.AppendUint64(nil, uint64(b.Auction))
		row = binary.LittleEndian.AppendUint64(row, uint64(b.Price))
		row = binary.LittleEndian.AppendUint64(row, uint64(b.DateTime))
		if string(r.Value) != string(row) || r.Timestamp != b.DateTime {
			t.Fatalf("row %d: %x at %d, want %x at %d", i, r.Value, r.Timestamp, row, b.DateTime)
		}
	}
	_, err := testRegistry(nil).Operator("nexmark-view", params.FromMap("operators[0]", map[string]any{"view": "bid", "columns": []any{"auction", "url"}, "format": "binary"}))
	if err == nil || !strings.Contains(err.Error(), `column "url" is a string`) {
		t.Fatalf("a string column in binary rows: err = %v", err)
	}
}

func TestNexmarkCSV(t *testing.T) {
	row := func(vs ...int64) []byte {
		var b []byte
		for _, v := range vs {
			b = binary.LittleEndian.AppendUint64(b, uint64(v))
		}
		return b
	}
	hdr := []api.Header{{Key: []byte(StampHeader), Value: []byte("12345678")}}
	h := harness(t, "nexmark-csv", map[string]any{}, false, nil)
	in := []api.Record{
		{Key: []byte("k"), Value: row(1007, -2001, 0, 1_700_000_000_000), Timestamp: 5, Headers: hdr},
		{Value: row(-9223372036854775808), Timestamp: 6},
	}
	if err := h.Process(in...); err != nil {
		t.Fatal(err)
	}
	want := []string{"k|1007,-2001,0,1700000000000|5", "|-9223372036854775808|6"}
	if got := emitted(h); !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if r := h.Records()[0]; len(r.Headers) != 1 || string(r.Headers[0].Value) != "12345678" {
		t.Fatalf("headers %v, want the input's", r.Headers)
	}
	for _, v := range [][]byte{nil, make([]byte, 7), make([]byte, 17)} {
		if err := h.Process(api.Record{Value: v}); !errors.Is(err, onerror.ErrMalformed) {
			t.Errorf("a value of %d bytes: err = %v, want ErrMalformed", len(v), err)
		}
	}
}

// FuzzDecodeBidInts: the integer-only bid decoder accepts exactly what
// nexmark.DecodeBinary accepts as a bid, with the same integers.
func FuzzDecodeBidInts(f *testing.F) {
	for _, r := range events(f, 60) {
		f.Add(r.Value)
	}
	f.Add([]byte{2})
	f.Add([]byte{2, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast bidInts
		var full nexmark.Event
		ok := decodeBidInts(b, &fast)
		err := nexmark.DecodeBinary(b, &full)
		isBid := err == nil && full.Kind == nexmark.KindBid
		if ok != isBid {
			t.Fatalf("decodeBidInts %v, DecodeBinary %v (kind %v) for %x", ok, err, full.Kind, b)
		}
		if w := full.Bid; ok && fast != (bidInts{w.Auction, w.Bidder, w.Price, w.DateTime}) {
			t.Fatalf("got %v, want %+v", fast, w)
		}
	})
}

// TestViewIntBidsMatchesTheGenericPath: a bid view of integer columns
// (read with decodeBidInts) writes the rows and keys the generic path
// (DecodeBinary, appendRow) would.
func TestViewIntBidsMatchesTheGenericPath(t *testing.T) {
	recs := events(t, 300)
	names := []string{"price", "dateTime", "auction"}
	var cols []column
	for _, n := range names {
		c, _ := findColumn(nexmark.KindBid, n)
		cols = append(cols, c)
	}
	for _, f := range []struct {
		name string
		f    rowFormat
	}{{"json", formatJSON}, {"csv", formatCSV}, {"binary", formatBinary}} {
		h := harness(t, "nexmark-view", map[string]any{"view": "bid", "columns": []any{"price", "dateTime", "auction"}, "key": "bidder", "format": f.name}, false, nil)
		if err := h.Process(recs...); err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, r := range recs {
			var ev nexmark.Event
			if err := nexmark.DecodeBinary(r.Value, &ev); err != nil || ev.Kind != nexmark.KindBid {
				continue
			}
			want = append(want, fmt.Sprintf("%d|%s|%d", ev.Bid.Bidder, appendRow(nil, cols, &ev, f.f), r.Timestamp))
		}
		if got := emitted(h); !slices.Equal(got, want) {
			t.Fatalf("%s: got %d rows, want %d; first %q, want %q", f.name, len(got), len(want), got[0], want[0])
		}
	}
}

func TestViewBinaryRowsAllocateNothing(t *testing.T) {
	recs := events(t, 1000)
	in := api.NewBatch(len(recs))
	for i := range recs {
		in.Emit(&recs[i])
	}
	h := harness(t, "nexmark-view", map[string]any{"view": "bid", "columns": []any{"auction", "bidder", "price", "dateTime"}, "format": "binary"}, false, nil)
	op := h.Operator()
	out := api.NewBatch(len(recs))
	run := func() {
		out.Reset()
		if err := op.ProcessBatch(in, out); err != nil {
			t.Fatal(err)
		}
	}
	run()
	if n := testing.AllocsPerRun(20, run); n > 0 {
		t.Fatalf("%.1f allocations per batch of %d records", n, len(recs))
	}
}

// copyOnly is an Output without an arena to lend.
type copyOnly struct{ b *api.Batch }

func (c copyOnly) Emit(r *api.Record) { c.b.Emit(r) }

// TestViewBinaryRowsInPlace: rows built in the output's arena are the rows
// an output without one receives, stamps included.
func TestViewBinaryRowsInPlace(t *testing.T) {
	recs := events(t, 600)
	in := api.NewBatch(len(recs))
	for i := range recs {
		in.Emit(&recs[i])
	}
	var got [2][]string
	for i, lend := range []bool{true, false} {
		op, err := testRegistry(NewProbe(LatencyStamped, 7, 0)).Operator("nexmark-view", params.FromMap("v", map[string]any{"view": "bid", "columns": []any{"auction", "price"}, "format": "binary"}))
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
		var o api.Output = out
		if !lend {
			o = copyOnly{out}
		}
		if err := inst.ProcessBatch(in, o); err != nil {
			t.Fatal(err)
		}
		stamps := 0
		for _, r := range out.Records {
			if _, ok := stampOf(&r); ok {
				stamps++
				r.Headers = nil // the time differs between runs
			}
			got[i] = append(got[i], fmt.Sprintf("%x|%d|%d", r.Value, r.Timestamp, len(r.Headers)))
		}
		if want := len(out.Records) / 7; stamps != want {
			t.Fatalf("lend %v: %d stamped rows of %d, want %d", lend, stamps, len(out.Records), want)
		}
	}
	if !slices.Equal(got[0], got[1]) || len(got[0]) == 0 {
		t.Fatalf("rows in place differ from copied rows (%d and %d rows)", len(got[0]), len(got[1]))
	}
}
