package task_test

import (
	"context"
	"fmt"
	"iter"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/stream"
	"github.com/freshet/freshet/engine/windows"
)

// pacedSource emits one record per poll, keyed 0..keys-1 in turn, for
// about run of wall-clock time, then ends its input. Polls are as frequent
// as the task makes them, so records are processed in every millisecond,
// the last one of each window included.
type pacedSource struct {
	run     time.Duration
	keys    int
	emitted *atomic.Int64
	end     time.Time
	buf     []byte
}

func (s *pacedSource) Open(api.Context) error {
	s.end = time.Now().Add(s.run)
	return nil
}

func (s *pacedSource) Poll(out api.SourceContext) (api.SourceStatus, error) {
	if !time.Now().Before(s.end) {
		return api.EndOfInput, nil
	}
	n := s.emitted.Add(1)
	s.buf = strconv.AppendInt(s.buf[:0], n%int64(s.keys), 10)
	out.Collect(s.buf, s.buf)
	return api.MoreAvailable, nil
}

func (s *pacedSource) Close() error { return nil }

type windowCount struct {
	key        string
	start, end int64
	count      int64
}

// countSink keeps every window result.
type countSink struct {
	api.BaseOperator
	mu  *sync.Mutex
	got *[]windowCount
}

func (s *countSink) ProcessBatch(in *api.Batch, _ api.Output) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range in.Records {
		var c windowCount
		if _, err := fmt.Sscanf(string(r.Value), "%s %d %d %d", &c.key, &c.start, &c.end, &c.count); err != nil {
			return fmt.Errorf("window result %q: %w", r.Value, err)
		}
		*s.got = append(*s.got, c)
	}
	return nil
}

// TestProcessingTimeWindowCountsEveryRecordOnce runs a processing-time
// tumbling count window over a bounded source through the Go API: every
// record is counted exactly once, by one firing of one window, including
// the records of the windows still open when the input ends and those
// processed during a window's last millisecond.
func TestProcessingTimeWindowCountsEveryRecordOnce(t *testing.T) {
	const (
		size = 20 * time.Millisecond
		keys = 3
	)
	var emitted atomic.Int64
	var mu sync.Mutex
	var got []windowCount
	env := stream.NewEnvironment(stream.Config{Parallelism: 1})
	env.FromSource("paced", func() (api.Source, error) {
		return &pacedSource{run: 10 * size, keys: keys, emitted: &emitted}, nil
	}).
		KeyBy(func(r *api.Record, dst []byte) ([]byte, error) { return append(dst, r.Key...), nil }).
		Window(windows.Tumbling(size).InProcessingTime()).
		AggregateProcess("count", windows.Numeric(windows.CountAgg), windows.NoInput,
			func(key []byte, w windows.Window, elems iter.Seq[[]byte], out api.Output) error {
				for e := range elems {
					out.Emit(&api.Record{Value: fmt.Appendf(nil, "%s %d %d %s", key, w.Start, w.End, e)})
				}
				return nil
			}).
		AddSink("counts", func() (api.Operator, error) { return &countSink{mu: &mu, got: &got}, nil })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now().UnixMilli()
	if _, err := env.Execute(ctx, "processing-time windows"); err != nil {
		t.Fatal(err)
	}
	end := time.Now().UnixMilli()

	mu.Lock()
	defer mu.Unlock()
	firings := map[string]int{}
	var counted int64
	for _, c := range got {
		if c.end-c.start != size.Milliseconds() || c.start%size.Milliseconds() != 0 || c.start < start-size.Milliseconds() || c.end > end+size.Milliseconds() {
			t.Fatalf("window [%d, %d) of key %s is not an aligned window of the run [%d, %d]", c.start, c.end, c.key, start, end)
		}
		firings[fmt.Sprintf("%s@[%d,%d)", c.key, c.start, c.end)]++
		counted += c.count
	}
	for w, n := range firings {
		if n > 1 {
			t.Errorf("window %s fired %d times", w, n)
		}
	}
	if n := emitted.Load(); counted != n {
		t.Errorf("%d records counted, %d emitted", counted, n)
	}
	if len(firings) < 2*keys {
		t.Errorf("only %d windows fired: the run was too short to test anything", len(firings))
	}
	t.Logf("%d records in %d windows", counted, len(firings))
}
