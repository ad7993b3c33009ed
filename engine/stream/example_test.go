package stream_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/connectors"
	"github.com/freshet/freshet/engine/registry"
	"github.com/freshet/freshet/engine/stream"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// printSink prints each record's value.
type printSink struct{ api.BaseOperator }

func (printSink) ProcessBatch(in *api.Batch, _ api.Output) error {
	for i := range in.Records {
		fmt.Println(string(in.Records[i].Value))
	}
	return nil
}

// A pipeline in Flink's shape: a source, a map, a filter, a keyed process
// function with state, and a sink.
func Example() {
	reg := registry.New()
	connectors.Register(reg) // datagen, file, stdout, ...
	env := stream.NewEnvironment(stream.Config{Parallelism: 1, Registry: reg, Logger: quiet})

	seen := api.StateDescriptor{Name: "seen", Kind: api.ValueStateKind}
	var buf []byte
	env.FromSourceType("numbers", "datagen", map[string]any{"count": 10, "value": "sequence"}).
		Map("square", func(r *api.Record) error {
			n, _ := strconv.Atoi(string(r.Value))
			buf = strconv.AppendInt(buf[:0], int64(n*n), 10)
			r.Value = buf // the runtime copies it before the next call
			return nil
		}).
		Filter("odd", func(r *api.Record) bool { return strings.ContainsAny(string(r.Value[len(r.Value)-1:]), "13579") }).
		KeyBy(func(r *api.Record, dst []byte) ([]byte, error) { return append(dst, r.Value[len(r.Value)-1]), nil }).
		Process("first-per-last-digit", stream.ProcessFunction{
			Process: func(ctx api.Context, r *api.Record, out api.Output) error {
				st, err := ctx.KeyedState().Value(seen)
				if err != nil {
					return err
				}
				if _, ok, _ := st.Get(); !ok {
					out.Emit(r)
					return st.Put([]byte{1})
				}
				return nil
			},
		}).
		AddSink("print", func() (api.Operator, error) { return printSink{}, nil })

	if _, err := env.Execute(context.Background(), "example"); err != nil {
		fmt.Println(err)
	}
	// Output:
	// 1
	// 9
	// 25
}
