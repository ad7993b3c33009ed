package nexmark

import (
	"embed"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/freshet/freshet/engine/jobspec"
)

//go:embed queries/*.yaml
var queryFiles embed.FS

// Query is one benchmark query: a job file and how to measure it.
type Query struct {
	// Name is what --query selects: q0 … q12, and q1-go / q2-go for the Go
	// SDK builds of the WebAssembly modules (q1 and q2 run the Rust builds).
	Name string
	// Summary says in a few words what the query computes.
	Summary string
	// File is the job file's name under queries/.
	File string
	// Module, when set, is the plugins build ("rust" or "go") whose
	// nexmark.wasm the operator named ModuleOperator runs.
	Module, ModuleOperator string
	// Latency says how result latency is measured; StampEvery how often a
	// nexmark-view stamps a row for it.
	Latency    LatencyMode
	StampEvery int64
	// WatermarkDelay is the job's watermark delay, added to an event-time
	// result's timestamp to find when it became due.
	WatermarkDelay time.Duration

	limit limitFunc
}

const (
	defaultStamp   = 1024
	watermarkDelay = 4*time.Second + time.Millisecond // max-out-of-orderness + 1 ms
)

var queries = []Query{
	{Name: "q0", Summary: "pass-through", File: "q0.yaml", Latency: LatencyStamped, StampEvery: defaultStamp, limit: limitQ0},
	{Name: "q1", Summary: "currency conversion (Rust module)", File: "q1.yaml", Module: "rust", ModuleOperator: "q1", Latency: LatencyStamped, StampEvery: defaultStamp, limit: limitQ1},
	{Name: "q1-go", Summary: "currency conversion (Go module)", File: "q1.yaml", Module: "go", ModuleOperator: "q1", Latency: LatencyStamped, StampEvery: defaultStamp, limit: limitQ1},
	{Name: "q2", Summary: "selection (Rust module)", File: "q2.yaml", Module: "rust", ModuleOperator: "q2", Latency: LatencyStamped, StampEvery: 8, limit: limitQ2},
	{Name: "q2-go", Summary: "selection (Go module)", File: "q2.yaml", Module: "go", ModuleOperator: "q2", Latency: LatencyStamped, StampEvery: 8, limit: limitQ2},
	{Name: "q3", Summary: "local item suggestion (regular join)", File: "q3.yaml", Latency: LatencyStamped, StampEvery: 4, limit: limitQ3},
	{Name: "q4", Summary: "average closing price per category", File: "q4.yaml", Latency: LatencyEventTime, WatermarkDelay: watermarkDelay, limit: limitQ4},
	{Name: "q5", Summary: "hot items (sliding 10 s / 2 s)", File: "q5.yaml", Latency: LatencyEventTime, WatermarkDelay: watermarkDelay, limit: limitQ5},
	{Name: "q7", Summary: "highest bid (tumbling 10 s)", File: "q7.yaml", Latency: LatencyEventTime, WatermarkDelay: watermarkDelay, limit: limitQ7},
	{Name: "q8", Summary: "new users (window join, tumbling 10 s)", File: "q8.yaml", Latency: LatencyEventTime, WatermarkDelay: watermarkDelay, limit: limitQ8},
	{Name: "q11", Summary: "user sessions (session gap 10 s)", File: "q11.yaml", Latency: LatencyEventTime, WatermarkDelay: watermarkDelay, limit: limitQ11},
	{Name: "q12", Summary: "bids per bidder per 10 s of processing time", File: "q12.yaml", Latency: LatencyProcessingTime, limit: limitQ12},
}

// Queries returns every query, in the order --all runs them.
func Queries() []Query { return slices.Clone(queries) }

// Lookup returns the query called name.
func Lookup(name string) (Query, error) {
	for _, q := range queries {
		if q.Name == name {
			return q, nil
		}
	}
	names := make([]string, len(queries))
	for i, q := range queries {
		names[i] = q.Name
	}
	return Query{}, fmt.Errorf("%w: %q (queries: %s)", ErrUnknownQuery, name, strings.Join(names, ", "))
}

// JobFile returns the query's job file as written.
func (q Query) JobFile() ([]byte, error) {
	b, err := queryFiles.ReadFile(path.Join("queries", q.File))
	if err != nil {
		return nil, fmt.Errorf("query %s: reading %s: %w", q.Name, q.File, err)
	}
	return b, nil
}

// Spec parses the query's job file. Its file name is as in the repository
// (bench/nexmark/queries/...), for error messages.
func (q Query) Spec() (*jobspec.Spec, error) {
	b, err := q.JobFile()
	if err != nil {
		return nil, err
	}
	spec, err := jobspec.Parse(path.Join("bench/nexmark/queries", q.File), b)
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", q.Name, err)
	}
	return spec, nil
}
