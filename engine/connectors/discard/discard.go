// Package discard is the `discard` sink: it counts records and drops them,
// for benchmarks and for jobs run only for their side effects or metrics.
// The count is the numRecordsDiscarded counter of each subtask.
package discard

import (
	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/params"
	"github.com/freshet/freshet/engine/registry"
)

// Counter is the name of the counter of discarded records.
const Counter = "numRecordsDiscarded"

// Register adds the discard sink to r.
func Register(r *registry.Registry) {
	r.AddSink("discard", "counts records and drops them", Build)
}

// Build validates a discard sink's params (it has none).
func Build(p *params.Params) (registry.Operator, error) {
	if err := p.Err(); err != nil {
		return registry.Operator{}, err
	}
	return registry.Operator{New: func() (api.Operator, error) { return &Sink{}, nil }}, nil
}

// Sink counts and drops records.
type Sink struct {
	api.BaseOperator
	counter api.Counter
	n       int64
}

func (s *Sink) Open(ctx api.Context) error {
	s.counter = ctx.Counter(Counter)
	return nil
}

// ProcessBatch counts in's records.
func (s *Sink) ProcessBatch(in *api.Batch, _ api.Output) error {
	s.n += int64(in.Len())
	s.counter.Add(int64(in.Len()))
	return nil
}

// Count is how many records this subtask dropped.
func (s *Sink) Count() int64 { return s.n }
