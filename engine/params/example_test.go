package params_test

import (
	"fmt"
	"time"

	"github.com/freshet/freshet/engine/params"
)

// A component reads every field with a typed getter, then asks Err once: it
// gets every mistake at once, each naming the file, line, column and field.
func Example() {
	at := func(line, col int) params.Pos { return params.Pos{File: "job.yaml", Line: line, Col: col} }
	p := params.New("sources[0]", at(3, 5), map[string]params.Value{
		"topic":      {V: "orders", Pos: at(4, 12)},
		"partitions": {V: "four", Pos: at(5, 17)},
		"poll":       {V: "250ms", Pos: at(6, 11)},
		"retention":  {V: "7d", Pos: at(7, 16)},
		"max-bytes":  {V: "64MiB", Pos: at(8, 16)},
		"fromat":     {V: "json", Pos: at(9, 13)},
	})

	p.Required("topic")
	topic := p.String("topic", "")
	partitions := p.IntRange("partitions", 1, 1, 1024)
	poll := p.Duration("poll", time.Second)
	retention := p.Duration("retention", 0)
	maxBytes := p.Size("max-bytes", 1<<20)
	format := p.Enum("format", "json", "json", "csv")

	fmt.Println(topic, partitions, poll, retention, maxBytes, format)
	fmt.Println(p.Err())

	// The Go API builds the same configuration from plain values.
	q := params.FromMap("sources[0]", map[string]any{"topic": "orders", "partitions": 4, "poll": 250 * time.Millisecond})
	fmt.Println(q.String("topic", ""), q.Int("partitions", 1), q.Duration("poll", 0), q.Err())
	// Output:
	// orders 1 250ms 168h0m0s 67108864 json
	// job.yaml:5:17: sources[0].partitions: expected an integer, got "four"
	// job.yaml:9:13: sources[0].fromat: unknown field (did you mean "format"?)
	// orders 4 250ms <nil>
}
