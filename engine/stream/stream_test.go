package stream_test

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/stream"
)

// numbers emits "0".."n-1" split over the subtasks, with timestamps i.
type numbers struct {
	n, next, step int
	buf           []byte
}

func newNumbers(n int) func() (api.Source, error) {
	return func() (api.Source, error) { return &numbers{n: n}, nil }
}

func (s *numbers) Open(ctx api.Context) error {
	s.next, s.step = ctx.Subtask(), ctx.Parallelism()
	return nil
}

func (s *numbers) Poll(out api.SourceContext) (api.SourceStatus, error) {
	for i := 0; i < out.Budget(); i++ {
		if s.next >= s.n {
			return api.EndOfInput, nil
		}
		s.buf = strconv.AppendInt(s.buf[:0], int64(s.next), 10)
		out.CollectWithTimestamp(nil, s.buf, int64(s.next))
		s.next += s.step
	}
	return api.MoreAvailable, nil
}

func (s *numbers) Close() error { return nil }

// collector is a sink that keeps every value it receives.
type collector struct {
	mu   sync.Mutex
	vals []string
}

func (c *collector) sink() func() (api.Operator, error) {
	return func() (api.Operator, error) { return &collectOp{c: c}, nil }
}

func (c *collector) sorted() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := append([]string(nil), c.vals...)
	sort.Strings(out)
	return out
}

type collectOp struct {
	api.BaseOperator
	c *collector
}

func (o *collectOp) ProcessBatch(in *api.Batch, out api.Output) error {
	o.c.mu.Lock()
	defer o.c.mu.Unlock()
	for i := range in.Records {
		r := &in.Records[i]
		if len(r.Key) > 0 {
			o.c.vals = append(o.c.vals, string(r.Key)+"="+string(r.Value))
		} else {
			o.c.vals = append(o.c.vals, string(r.Value))
		}
	}
	return nil
}

func expectNumbers(n int, f func(int) (string, bool)) []string {
	var out []string
	for i := 0; i < n; i++ {
		if s, ok := f(i); ok {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

func equal(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("record %d: got %q, want %q", i, got[i], want[i])
		}
	}
}

func TestChainedMapFilter(t *testing.T) {
	for _, p := range []int{1, 3} {
		t.Run(fmt.Sprintf("p=%d", p), func(t *testing.T) {
			env := stream.NewEnvironment(stream.Config{Parallelism: p})
			var c collector
			env.FromSource("numbers", newNumbers(10000)).
				Map("times-two", func(r *api.Record) error {
					n, _ := strconv.Atoi(string(r.Value))
					r.Value = strconv.AppendInt(nil, int64(2*n), 10)
					return nil
				}).
				Filter("div-by-3", func(r *api.Record) bool {
					n, _ := strconv.Atoi(string(r.Value))
					return n%3 == 0
				}).
				AddSink("collect", c.sink())
			if _, err := env.Execute(context.Background(), "chained"); err != nil {
				t.Fatal(err)
			}
			equal(t, c.sorted(), expectNumbers(10000, func(i int) (string, bool) {
				return strconv.Itoa(2 * i), (2*i)%3 == 0
			}))
		})
	}
}

func TestRebalanceAcrossParallelism(t *testing.T) {
	env := stream.NewEnvironment(stream.Config{Parallelism: 2})
	var c collector
	env.FromSource("numbers", newNumbers(50000)).SetParallelism(1).
		Rebalance().
		Map("id", func(r *api.Record) error { return nil }).SetParallelism(3).
		AddSink("collect", c.sink()).SetParallelism(2)
	if _, err := env.Execute(context.Background(), "rebalance"); err != nil {
		t.Fatal(err)
	}
	equal(t, c.sorted(), expectNumbers(50000, func(i int) (string, bool) { return strconv.Itoa(i), true }))
}

func TestKeyedCountWithState(t *testing.T) {
	env := stream.NewEnvironment(stream.Config{Parallelism: 3})
	var c collector
	desc := api.StateDescriptor{Name: "count", Kind: api.ValueStateKind}
	env.FromSource("numbers", newNumbers(9000)).
		KeyBy(func(r *api.Record, dst []byte) ([]byte, error) {
			n, _ := strconv.Atoi(string(r.Value))
			return strconv.AppendInt(dst, int64(n%7), 10), nil
		}).
		Process("count", stream.ProcessFunction{
			Process: func(ctx api.Context, r *api.Record, out api.Output) error {
				st, err := ctx.KeyedState().Value(desc)
				if err != nil {
					return err
				}
				v, _, err := st.Get()
				if err != nil {
					return err
				}
				n, _ := strconv.Atoi(string(v))
				return st.Put(strconv.AppendInt(nil, int64(n+1), 10))
			},
			Finish: func(ctx api.Context, out api.Output) error { return nil },
		}).
		AddSink("collect", c.sink())
	res, err := env.Execute(context.Background(), "keyed")
	if err != nil {
		t.Fatal(err)
	}
	var in int64
	for _, v := range res.Status.Vertices {
		if strings.HasPrefix(v.Name, "count") {
			in = v.RecordsIn
		}
	}
	if in != 9000 {
		t.Fatalf("count operator saw %d records, want 9000", in)
	}
}

func TestUnionAndBroadcast(t *testing.T) {
	env := stream.NewEnvironment(stream.Config{Parallelism: 2})
	var c collector
	a := env.FromSource("a", newNumbers(100))
	b := env.FromSource("b", newNumbers(50)).SetParallelism(1)
	a.Union(b).Broadcast().
		Map("id", func(r *api.Record) error { return nil }).
		AddSink("collect", c.sink())
	if _, err := env.Execute(context.Background(), "union"); err != nil {
		t.Fatal(err)
	}
	// Every record reaches both subtasks of "id".
	if got := len(c.sorted()); got != 2*150 {
		t.Fatalf("got %d records, want %d", got, 300)
	}
}

func TestOperatorErrorFailsJobWithName(t *testing.T) {
	env := stream.NewEnvironment(stream.Config{Parallelism: 2})
	var c collector
	env.FromSource("numbers", newNumbers(1000)).
		Map("picky", func(r *api.Record) error {
			if string(r.Value) == "500" {
				return fmt.Errorf("cannot handle %s", r.Value)
			}
			return nil
		}).
		AddSink("collect", c.sink())
	_, err := env.Execute(context.Background(), "failing")
	if err == nil || !strings.Contains(err.Error(), `"picky"`) || !strings.Contains(err.Error(), "cannot handle 500") {
		t.Fatalf("want an error naming the operator and the cause, got %v", err)
	}
}

func TestPanicInUserFunctionIsAnError(t *testing.T) {
	env := stream.NewEnvironment(stream.Config{Parallelism: 1})
	var c collector
	env.FromSource("numbers", newNumbers(10)).
		Map("boom", func(r *api.Record) error { panic("oops") }).
		AddSink("collect", c.sink())
	_, err := env.Execute(context.Background(), "panicking")
	if err == nil || !strings.Contains(err.Error(), "oops") || !strings.Contains(err.Error(), `"boom"`) {
		t.Fatalf("want the panic as an error, got %v", err)
	}
}

func TestBuildMistakesAreErrors(t *testing.T) {
	env := stream.NewEnvironment(stream.Config{})
	var c collector
	env.FromSource("numbers", newNumbers(10)).SetParallelism(0).
		Transform("needs-keys", func() (api.Operator, error) { return &collectOp{c: &c}, nil }).
		AddSink("collect", c.sink())
	_, err := env.Execute(context.Background(), "bad")
	if err == nil || !strings.Contains(err.Error(), "parallelism 0") {
		t.Fatalf("want a parallelism error, got %v", err)
	}
}

// slowSink sleeps per batch: the source must be throttled by back pressure.
func TestBackPressureBoundsMemory(t *testing.T) {
	env := stream.NewEnvironment(stream.Config{Parallelism: 1})
	slow := func() (api.Operator, error) { return &sleepy{}, nil }
	env.FromSource("numbers", newNumbers(100_000_000)).
		Rebalance().
		AddSink("slow", slow).DisableChaining()
	c, err := env.ExecuteAsync(context.Background(), "backpressure")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond)
	st, err := c.Status()
	if err != nil {
		t.Fatal(err)
	}
	mem := c.Cluster().TaskManagers()[0].Memory().Stats()
	if err := c.Cancel(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, _ = c.Wait(context.Background())
	var src = st.Vertices[0]
	if src.BackPressure != "HIGH" {
		t.Errorf("source back pressure %s (%.0f ms/s), want HIGH", src.BackPressure, src.BackPressuredMsPerSec)
	}
	if mem.Peak > mem.Total {
		t.Errorf("network memory peak %d exceeds the budget %d", mem.Peak, mem.Total)
	}
}

type sleepy struct{ api.BaseOperator }

func (s *sleepy) ProcessBatch(in *api.Batch, out api.Output) error {
	time.Sleep(20 * time.Millisecond) // far slower than the source, even under -race
	return nil
}

func sortStrings(s []string) { sort.Strings(s) }
