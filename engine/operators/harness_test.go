package operators

import (
	"context"
	"io"
	"log/slog"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/jobspec"
	"github.com/freshet/freshet/engine/keygroup"
	"github.com/freshet/freshet/engine/params"
	"github.com/freshet/freshet/engine/registry"
	"github.com/freshet/freshet/engine/state"
	"github.com/freshet/freshet/engine/state/heap"
)

// testContext is an api.Context for one subtask, with real keyed state (the
// heap backend) when keyed.
type testContext struct {
	name              string
	subtask, par, max int
	ks                state.Backend
	counters          map[string]*counter
}

type counter struct{ n int64 }

func (c *counter) Add(n int64) { c.n += n }

func newContext(t testing.TB, keyed bool, subtask, par, maxPar int) *testContext {
	c := &testContext{name: "op", subtask: subtask, par: par, max: maxPar, counters: map[string]*counter{}}
	if keyed {
		b, err := heap.New(state.Options{Operator: "op", MaxParallelism: maxPar, KeyGroups: keygroup.RangeOf(subtask, par, maxPar)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		c.ks = b
	}
	return c
}

func (c *testContext) Context() context.Context     { return context.Background() }
func (c *testContext) TaskName() string             { return c.name }
func (c *testContext) OperatorName() string         { return c.name }
func (c *testContext) Subtask() int                 { return c.subtask }
func (c *testContext) Parallelism() int             { return c.par }
func (c *testContext) MaxParallelism() int          { return c.max }
func (c *testContext) Attempt() int                 { return 0 }
func (c *testContext) Logger() *slog.Logger         { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
func (c *testContext) ProcessingTime() time.Time    { return time.Unix(0, 0) }
func (c *testContext) CurrentWatermark() int64      { return api.MinWatermark }
func (c *testContext) Timers() api.TimerService     { return nil }
func (c *testContext) SideOutput(string) api.Output { return nil }
func (c *testContext) KeyedState() api.KeyedState {
	if c.ks == nil {
		return nil
	}
	return c.ks
}
func (c *testContext) Counter(name string) api.Counter {
	if c.counters[name] == nil {
		c.counters[name] = &counter{}
	}
	return c.counters[name]
}

// build builds operator typ from a YAML fragment of params, the way a job
// file does, through the registry.
func build(t testing.TB, typ, yamlParams string) (registry.Operator, error) {
	t.Helper()
	file := "apiVersion: freshet/v1\nname: t\nsources: [{name: s, type: x}]\noperators:\n  - name: op\n    type: " + typ + "\n"
	for _, line := range strings.Split(strings.TrimSpace(yamlParams), "\n") {
		if line != "" {
			file += "    " + line + "\n"
		}
	}
	file += "sinks: [{name: k, type: y}]\n"
	spec, err := jobspec.Parse("test.yaml", []byte(file))
	if err != nil {
		t.Fatalf("parsing params %q: %v", yamlParams, err)
	}
	r := registry.New()
	Register(r)
	return r.Operator(typ, spec.Node("op").NewParams())
}

func mustBuild(t testing.TB, typ, yamlParams string) api.Operator {
	t.Helper()
	b, err := build(t, typ, yamlParams)
	if err != nil {
		t.Fatalf("building %s: %v", typ, err)
	}
	op, err := b.New()
	if err != nil {
		t.Fatal(err)
	}
	return op
}

// run opens op, feeds it the values as one batch (keys set by a key-by on
// the value when keyed), finishes and closes it, and returns what it emitted.
func run(t testing.TB, op api.Operator, ctx *testContext, values ...string) ([]string, error) {
	t.Helper()
	if err := op.Open(ctx); err != nil {
		return nil, err
	}
	defer op.Close()
	out := api.NewBatch(16)
	if err := op.ProcessBatch(batchOf(values...), out); err != nil {
		return collect(out), err
	}
	if err := op.Finish(out); err != nil {
		return collect(out), err
	}
	return collect(out), nil
}

func batchOf(values ...string) *api.Batch {
	b := api.NewBatch(len(values))
	for _, v := range values {
		b.Append(nil, []byte(v), 7)
	}
	return b
}

// keyed returns a batch whose record keys are set by sel.
func keyed(t testing.TB, sel *jobspec.KeyBy, values ...string) *api.Batch {
	t.Helper()
	f, err := KeySelector(sel)
	if err != nil {
		t.Fatal(err)
	}
	b := api.NewBatch(len(values))
	for _, v := range values {
		r := api.Record{Value: []byte(v), Timestamp: 7}
		k, err := f(&r, nil)
		if err != nil {
			t.Fatalf("key of %q: %v", v, err)
		}
		r.Key = k
		b.Emit(&r)
	}
	return b
}

func collect(b *api.Batch) []string {
	out := make([]string, 0, b.Len())
	for _, r := range b.Records {
		out = append(out, string(r.Value))
	}
	return out
}

func sorted(s []string) []string {
	s = append([]string(nil), s...)
	sort.Strings(s)
	return s
}

var _ = params.Pos{}
