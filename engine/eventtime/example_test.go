package eventtime_test

import (
	"fmt"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/eventtime"
	"github.com/freshet/freshet/engine/operators/jsonpath"
	"github.com/freshet/freshet/engine/windows/windowstest"
)

// Timestamps from a JSON field, watermarks 5 seconds behind the largest
// timestamp seen, emitted on the periodic tick.
func ExampleNew() {
	newOp, err := eventtime.New(eventtime.Strategy{
		Timestamps: eventtime.FieldTimestamp(jsonpath.MustParse("ts"), eventtime.Seconds),
		Watermarks: eventtime.BoundedOutOfOrderness(5 * time.Second),
	})
	if err != nil {
		panic(err)
	}
	op, _ := newOp()
	h, _ := windowstest.New(op, windowstest.Options{})
	defer h.Close()
	_ = h.Process(api.Record{Value: []byte(`{"ts": 100}`)}, api.Record{Value: []byte(`{"ts": 98.5}`)})
	_ = h.SetProcessingTime(200) // the runtime ticks every 200 ms
	for _, e := range h.Events() {
		fmt.Println(e)
	}
	// Output:
	// record ""="{\"ts\": 100}"@100000
	// record ""="{\"ts\": 98.5}"@98500
	// watermark 94999
}
