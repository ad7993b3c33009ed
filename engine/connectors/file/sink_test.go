package file_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/connectors/conntest"
	"github.com/freshet/freshet/engine/connectors/file"
	"github.com/freshet/freshet/engine/params"
)

func batchOf(values ...string) *api.Batch {
	b := api.NewBatch(len(values))
	for i, v := range values {
		b.Append([]byte(fmt.Sprint("k", i)), []byte(v), int64(i))
	}
	return b
}

func buildSink(t *testing.T, fields map[string]any) *file.Sink {
	t.Helper()
	op, err := registryWithFile().Sink("file", params.FromMap("sinks[0]", fields))
	if err != nil {
		t.Fatal(err)
	}
	s, err := op.New()
	if err != nil {
		t.Fatal(err)
	}
	return s.(*file.Sink)
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestSinkRollsAndCommits(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	var values []string
	for i := range 100 {
		values = append(values, fmt.Sprintf("record-%03d", i)) // 11 bytes a line
	}
	s := buildSink(t, map[string]any{"path": dir, "rolling-size": 200})
	err := conntest.RunSink(conntest.NewContext("out", 0, 1), s, true, batchOf(values[:40]...), batchOf(values[40:]...))
	if err != nil {
		t.Fatal(err)
	}
	names := listDir(t, dir)
	// 200 bytes hold 19 lines: 100 lines roll into 6 part files.
	want := []string{"part-0-0", "part-0-1", "part-0-2", "part-0-3", "part-0-4", "part-0-5"}
	if !slices.Equal(names, want) {
		t.Fatalf("files %v, want %v", names, want)
	}
	var all string
	for _, n := range want {
		b, _ := os.ReadFile(filepath.Join(dir, n))
		if len(b) > 200+11 {
			t.Fatalf("%s has %d bytes", n, len(b))
		}
		all += string(b)
	}
	if all != strings.Join(values, "\n")+"\n" {
		t.Fatal("part files do not hold the records in order")
	}
}

func TestSinkFormatsAndSubtasks(t *testing.T) {
	dir := t.TempDir()
	for i := range 2 {
		s := buildSink(t, map[string]any{"path": dir, "format": "json", "prefix": "events", "suffix": ".jsonl"})
		if err := conntest.RunSink(conntest.NewContext("out", i, 2), s, true, batchOf(`{"x":1}`, "plain")); err != nil {
			t.Fatal(err)
		}
	}
	if names := listDir(t, dir); !slices.Equal(names, []string{"events-0-0.jsonl", "events-1-0.jsonl"}) {
		t.Fatalf("files %v", names)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "events-1-0.jsonl"))
	if want := `{"key":"k0","value":{"x":1},"timestamp":0}` + "\n" + `{"key":"k1","value":"plain","timestamp":1}` + "\n"; string(b) != want {
		t.Fatalf("got %q, want %q", b, want)
	}
}

func TestSinkWithoutFinishCommitsNothing(t *testing.T) {
	dir := t.TempDir()
	s := buildSink(t, map[string]any{"path": dir})
	if err := conntest.RunSink(conntest.NewContext("out", 0, 1), s, false, batchOf("a", "b")); err != nil {
		t.Fatal(err)
	}
	if names := listDir(t, dir); !slices.Equal(names, []string{".part-0-0.inprogress"}) {
		t.Fatalf("files %v", names)
	}
	// The next attempt removes the leftover and numbers after committed files.
	write(t, filepath.Join(dir, "part-0-4"), "old\n")
	write(t, filepath.Join(dir, "part-1-9"), "other subtask\n")
	s = buildSink(t, map[string]any{"path": dir})
	ctx := conntest.NewContext("out", 0, 1)
	ctx.AttemptNo = 1
	if err := conntest.RunSink(ctx, s, true, batchOf("c")); err != nil {
		t.Fatal(err)
	}
	if names := listDir(t, dir); !slices.Equal(names, []string{"part-0-4", "part-0-5", "part-1-9"}) {
		t.Fatalf("files %v", names)
	}
}

func TestSinkTwoPhaseCommit(t *testing.T) {
	dir := t.TempDir()
	s := buildSink(t, map[string]any{"path": dir, "rolling-size": 4})
	s.CommitOnRoll = false
	if err := s.Open(conntest.NewContext("out", 0, 1)); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.ProcessBatch(batchOf("aaaa", "bb"), nil); err != nil { // rolls after aaaa
		t.Fatal(err)
	}
	if names := listDir(t, dir); len(names) != 2 || !strings.HasSuffix(names[0], ".inprogress") {
		t.Fatalf("before the checkpoint: %v", names)
	}
	pending, err := s.PrepareCommit()
	if err != nil || len(pending) != 2 {
		t.Fatalf("PrepareCommit = %v, %v", pending, err)
	}
	if names := listDir(t, dir); len(names) != 2 || !strings.HasSuffix(names[1], ".inprogress") {
		t.Fatalf("prepared files must stay hidden until commit: %v", names)
	}
	for range 2 { // a commit repeated after a restore is harmless
		if err := s.Commit(pending); err != nil {
			t.Fatal(err)
		}
	}
	if names := listDir(t, dir); !slices.Equal(names, []string{"part-0-0", "part-0-1"}) {
		t.Fatalf("after commit: %v", names)
	}
}

func TestSinkParamErrors(t *testing.T) {
	dir := t.TempDir()
	f := write(t, filepath.Join(dir, "f"), "")
	tests := []struct {
		fields map[string]any
		want   string
	}{
		{map[string]any{}, "sinks[0].path: required field is missing"},
		{map[string]any{"path": f}, "sinks[0].path: " + f + " is a file, not a directory"},
		{map[string]any{"path": dir, "rolling-size": "lots"}, "sinks[0].rolling-size: expected a size"},
		{map[string]any{"path": dir, "format": "csv"}, `sinks[0].format: "csv" is not one of value, key-value, json`},
		{map[string]any{"path": dir, "prefix": ".x"}, "sinks[0].prefix"},
	}
	for _, tc := range tests {
		_, err := registryWithFile().Sink("file", params.FromMap("sinks[0]", tc.fields))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.fields, err, tc.want)
		}
	}
}

// BenchmarkSink measures lines per second into part files. One op is one record.
func BenchmarkSink(b *testing.B) {
	dir := b.TempDir()
	op, err := registryWithFile().Sink("file", params.FromMap("sinks[0]", map[string]any{"path": dir, "format": "json"}))
	if err != nil {
		b.Fatal(err)
	}
	s, _ := op.New()
	if err := s.Open(conntest.NewContext("out", 0, 1)); err != nil {
		b.Fatal(err)
	}
	batch := api.NewBatch(1024)
	for i := range 1024 {
		batch.Append([]byte("user-42"), []byte(fmt.Sprintf(`{"n":%d,"word":"apple"}`, i)), int64(i))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += batch.Len() {
		if err := s.ProcessBatch(batch, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	s.Finish(nil)
	s.Close()
}
