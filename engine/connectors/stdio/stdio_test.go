package stdio

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/connectors/conntest"
	"github.com/freshet/freshet/engine/onerror"
	"github.com/freshet/freshet/engine/params"
	"github.com/freshet/freshet/engine/registry"
)

// withStdin builds a stdin source through the registry while os.Stdin is
// the read end of a pipe, and returns the source and the write end.
func withStdin(t *testing.T, fields map[string]any) (api.Source, *os.File) {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stdin
	os.Stdin = pr
	r := registry.New()
	Register(r)
	newSrc, err := r.Source("stdin", params.FromMap("sources[0]", fields))
	os.Stdin = saved
	if err != nil {
		t.Fatal(err)
	}
	src, err := newSrc()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pr.Close(); pw.Close() })
	return src, pw
}

func feed(w *os.File, pieces ...string) {
	go func() {
		for _, p := range pieces {
			w.Write([]byte(p))
			time.Sleep(2 * time.Millisecond)
		}
		w.Close()
	}()
}

func TestStdinLines(t *testing.T) {
	src, w := withStdin(t, map[string]any{})
	feed(w, "one\ntw", "o\r\n\nthr", "ee\nlast")
	got, st, err := conntest.RunSource(conntest.NewContext("in", 0, 1), src, 2, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"one", "two", "", "three", "last"}; !slices.Equal(conntest.Values(got.Batch), want) {
		t.Fatalf("got %q, want %q", conntest.Values(got.Batch), want)
	}
	if st.MaxPerPoll > 2 {
		t.Fatalf("a poll emitted %d lines, budget 2", st.MaxPerPoll)
	}
	// Waiting on Wake, not spinning: a handful of idle polls per write.
	if st.Idle > 40 {
		t.Fatalf("%d idle polls for 4 writes", st.Idle)
	}
}

func TestStdinJSONSkip(t *testing.T) {
	src, w := withStdin(t, map[string]any{"format": "json", "on-error": "skip"})
	feed(w, "{\"a\":1}\nbad\n[2]\n")
	ctx := conntest.NewContext("in", 0, 1)
	got, _, err := conntest.RunSource(ctx, src, 100, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{`{"a":1}`, `[2]`}; !slices.Equal(conntest.Values(got.Batch), want) {
		t.Fatalf("got %q", conntest.Values(got.Batch))
	}
	if n := ctx.CounterValue(onerror.SkippedCounter); n != 1 {
		t.Fatalf("skipped %d", n)
	}
}

func TestStdinJSONFailNamesLine(t *testing.T) {
	src, w := withStdin(t, map[string]any{"format": "json"})
	feed(w, "{}\n{}\n{\n")
	_, _, err := conntest.RunSource(conntest.NewContext("in", 0, 1), src, 100, 10*time.Second)
	var re *onerror.RecordError
	if !errors.As(err, &re) || re.Position != "stdin:3" {
		t.Fatalf("err = %v, want a bad record at stdin:3", err)
	}
}

func TestStdinLongLines(t *testing.T) {
	src, w := withStdin(t, map[string]any{"max-line-size": "100KiB", "on-error": "skip"})
	long := strings.Repeat("z", 90<<10) // spans two chunks, within the limit
	tooLong := strings.Repeat("q", 300<<10)
	feed(w, "a\n"+long[:1000], long[1000:]+"\n"+tooLong+"\nb\n"+tooLong)
	ctx := conntest.NewContext("in", 0, 1)
	got, _, err := conntest.RunSource(ctx, src, 100, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	vals := conntest.Values(got.Batch)
	if len(vals) != 3 || vals[0] != "a" || vals[1] != long || vals[2] != "b" {
		t.Fatalf("got %d lines", len(vals))
	}
	if n := ctx.CounterValue(onerror.SkippedCounter); n != 2 {
		t.Fatalf("skipped %d, want 2", n)
	}
}

func TestStdinNeedsParallelismOne(t *testing.T) {
	src, _ := withStdin(t, map[string]any{})
	err := src.Open(conntest.NewContext("in", 0, 2))
	if !errors.Is(err, ErrParallelism) {
		t.Fatalf("Open = %v, want ErrParallelism", err)
	}
}

func TestStdinCloseStopsReader(t *testing.T) {
	src, _ := withStdin(t, map[string]any{})
	if err := src.Open(conntest.NewContext("in", 0, 1)); err != nil {
		t.Fatal(err)
	}
	out := conntest.NewSourceContext(10)
	if st, err := src.Poll(out); st != api.NothingAvailable || err != nil {
		t.Fatalf("Poll = %v, %v with no input", st, err)
	}
	start := time.Now()
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-src.(*StdinSource).exited:
	default:
		t.Fatal("reader goroutine still running after Close")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Close took %v", d)
	}
}

func TestStdoutBatchesDoNotInterleave(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stdout")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stdout
	os.Stdout = f
	r := registry.New()
	Register(r)
	op, err := r.Sink("stdout", params.FromMap("sinks[0]", map[string]any{"format": "key-value"}))
	os.Stdout = saved
	if err != nil {
		t.Fatal(err)
	}
	const subtasks, batches, perBatch = 3, 200, 50
	var wg sync.WaitGroup
	errs := make(chan error, subtasks)
	for s := range subtasks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sink, _ := op.New()
			var bs []*api.Batch
			for b := range batches {
				batch := api.NewBatch(perBatch)
				for i := range perBatch {
					batch.Append([]byte(fmt.Sprintf("s%d", s)), []byte(fmt.Sprintf("b%d-%d", b, i)), 0)
				}
				bs = append(bs, batch)
			}
			errs <- conntest.RunSink(conntest.NewContext("print", s, subtasks), sink, true, bs...)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != subtasks*batches*perBatch {
		t.Fatalf("%d lines, want %d", len(lines), subtasks*batches*perBatch)
	}
	for i := 0; i < len(lines); i += perBatch {
		key, first, _ := strings.Cut(lines[i], "\t")
		b := strings.SplitN(first, "-", 2)[0]
		for j := range perBatch {
			if want := fmt.Sprintf("%s\t%s-%d", key, b, j); lines[i+j] != want {
				t.Fatalf("line %d is %q, want %q: batches interleaved", i+j, lines[i+j], want)
			}
		}
	}
}

func TestStdoutWriteErrorIsReported(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "x"))
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	var mu sync.Mutex
	s := NewStdout(f, &mu, 0)
	b := api.NewBatch(1)
	b.Append(nil, []byte("v"), 0)
	err = conntest.RunSink(conntest.NewContext("print", 0, 1), s, true, b)
	if err == nil || !strings.Contains(err.Error(), "stdout sink: writing") {
		t.Fatalf("err = %v", err)
	}
}

func TestStdoutAllocatesNothingPerBatch(t *testing.T) {
	if conntest.RaceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "x"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var mu sync.Mutex
	s := NewStdout(f, &mu, 2)
	s.Open(conntest.NewContext("print", 0, 1))
	b := api.NewBatch(100)
	for i := range 100 {
		b.Append([]byte("k"), []byte(fmt.Sprintf(`{"i":%d}`, i)), int64(i))
	}
	if allocs := testing.AllocsPerRun(20, func() { s.ProcessBatch(b, nil) }); allocs != 0 {
		t.Fatalf("%v allocations per batch", allocs)
	}
}
