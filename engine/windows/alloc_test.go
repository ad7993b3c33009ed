package windows_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/operators/jsonpath"
	"github.com/freshet/freshet/engine/windows"
	"github.com/freshet/freshet/engine/windows/windowstest"
)

// TestAddPathAllocs checks that adding records to windows that exist
// allocates nothing, for each kind of window state.
func TestAddPathAllocs(t *testing.T) {
	maxReduceNoAlloc := func(a, b, dst []byte) []byte {
		if string(a) > string(b) {
			return append(dst, a...)
		}
		return append(dst, b...)
	}
	tests := []struct {
		name string
		cfg  windows.Config
	}{
		{"tumbling aggregate", windows.Config{Assigner: windows.Tumbling(time.Hour),
			Aggregate: windows.Numeric(windows.MaxAgg), Input: windows.NumberField(jsonpath.MustParse("price"))}},
		{"tumbling reduce", windows.Config{Assigner: windows.Tumbling(time.Hour), Reduce: maxReduceNoAlloc}},
		{"sliding panes", windows.Config{Assigner: windows.Sliding(time.Hour, time.Minute),
			Aggregate: windows.Numeric(windows.CountAgg), Input: windows.NoInput}},
		{"sliding pane set", windows.Config{Assigner: windows.Sliding(10*time.Second, 2*time.Second),
			Aggregate: windows.Numeric(windows.SumAgg), Input: windows.NumberField(jsonpath.MustParse("price"))}},
		{"sliding per window", windows.Config{Assigner: windows.Sliding(time.Hour, 20*time.Minute), Trigger: windows.CountTrigger(1 << 40),
			Aggregate: windows.Numeric(windows.SumAgg), Input: windows.NumberField(jsonpath.MustParse("price"))}},
		{"session", windows.Config{Assigner: windows.Session(time.Hour),
			Aggregate: windows.Numeric(windows.AvgAgg), Input: windows.NumberField(jsonpath.MustParse("price"))}},
		{"processing-time tumbling", windows.Config{Assigner: windows.Tumbling(time.Hour).InProcessingTime(),
			Aggregate: windows.Numeric(windows.SumAgg), Input: windows.NumberField(jsonpath.MustParse("price"))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op, err := windows.NewOperator(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			h, err := windowstest.New(op, windowstest.Options{Keyed: true, DiscardOutput: true})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			in := api.NewBatch(256)
			for i := range 256 {
				in.Append([]byte("auction-"+strconv.Itoa(i%16)), fmt.Appendf(nil, `{"auction":%d,"price":%d}`, i%16, i), int64(1000+i))
			}
			if err := h.ProcessBatch(in); err != nil {
				t.Fatal(err)
			}
			n := testing.AllocsPerRun(20, func() {
				if err := h.ProcessBatch(in); err != nil {
					t.Fatal(err)
				}
			})
			if n != 0 {
				t.Errorf("%.1f allocations per batch of 256 records, want 0", n)
			}
		})
	}
}
