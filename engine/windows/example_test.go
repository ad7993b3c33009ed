package windows_test

import (
	"fmt"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/operators/jsonpath"
	"github.com/freshet/freshet/engine/windows"
	"github.com/freshet/freshet/engine/windows/windowstest"
)

// The highest bid per auction in tumbling 10-second windows, run in the
// test harness: the watermark fires the windows.
func ExampleNew() {
	newOp, err := windows.New(windows.Config{
		Assigner:  windows.Tumbling(10 * time.Second),
		Aggregate: windows.Numeric(windows.MaxAgg),
		Input:     windows.NumberField(jsonpath.MustParse("price")),
	})
	if err != nil {
		panic(err)
	}
	op, _ := newOp()
	h, _ := windowstest.New(op, windowstest.Options{Keyed: true})
	defer h.Close()
	_ = h.Process(
		api.Record{Key: []byte("auction-1"), Value: []byte(`{"price": 10}`), Timestamp: 1_000},
		api.Record{Key: []byte("auction-1"), Value: []byte(`{"price": 25}`), Timestamp: 7_000},
		api.Record{Key: []byte("auction-2"), Value: []byte(`{"price": 5}`), Timestamp: 9_000},
		api.Record{Key: []byte("auction-1"), Value: []byte(`{"price": 99}`), Timestamp: 12_000},
	)
	_ = h.Watermark(9_999)
	for _, r := range h.Records() {
		fmt.Printf("%s: %s at %d\n", r.Key, r.Value, r.Timestamp)
	}
	// Output:
	// auction-1: 25 at 9999
	// auction-2: 5 at 9999
}

// Session windows merge as records connect them.
func ExampleSession() {
	a := windows.Session(5 * time.Second)
	fmt.Println(a.Assign(12_000, nil))
	fmt.Println(windows.Window{Start: 1_000, End: 6_000}.Intersects(windows.Window{Start: 4_000, End: 9_000}))
	fmt.Println(windows.Window{Start: 1_000, End: 6_000}.Intersects(windows.Window{Start: 6_000, End: 11_000}))
	// Output:
	// [[12000, 17000)]
	// true
	// false
}

// A sliding window assigner puts a record into size/slide windows.
func ExampleSliding() {
	a := windows.Sliding(time.Minute, 20*time.Second)
	for _, w := range a.Assign(65_000, nil) {
		fmt.Println(w)
	}
	// Output:
	// [60000, 120000)
	// [40000, 100000)
	// [20000, 80000)
}
