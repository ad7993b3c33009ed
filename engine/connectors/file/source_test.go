package file_test

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/connectors/conntest"
	"github.com/freshet/freshet/engine/connectors/file"
	"github.com/freshet/freshet/engine/onerror"
	"github.com/freshet/freshet/engine/params"
	"github.com/freshet/freshet/engine/registry"
)

func write(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func registryWithFile() *registry.Registry {
	r := registry.New()
	file.Register(r)
	return r
}

// atLine gives every field a position in job.yaml, in sorted order from line 3.
func atLine(fields map[string]any) *params.Params {
	vals := map[string]params.Value{}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		v, _ := params.FromMap("", map[string]any{k: fields[k]}).Raw(k)
		v.Pos = params.Pos{File: "job.yaml", Line: 3 + i, Col: 7}
		vals[k] = v
	}
	return params.New("sources[0]", params.Pos{File: "job.yaml", Line: 2, Col: 5}, vals)
}

// readAll runs every subtask of a file source and returns their records.
func readAll(t *testing.T, fields map[string]any, parallelism int) ([][]string, []*conntest.Context, error) {
	t.Helper()
	newSrc, err := registryWithFile().Source("file", atLine(fields))
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	var out [][]string
	var ctxs []*conntest.Context
	for i := range parallelism {
		src, _ := newSrc()
		ctx := conntest.NewContext("in", i, parallelism)
		ctxs = append(ctxs, ctx)
		got, _, err := conntest.RunSource(ctx, src, 3, 10*time.Second)
		if err != nil {
			return out, ctxs, err
		}
		out = append(out, conntest.Values(got.Batch))
	}
	return out, ctxs, nil
}

func TestTextLinesSplitByFile(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.txt"), "one\n\ntwo\r\nthree")
	write(t, filepath.Join(dir, "b.txt"), "four\nfive\n")
	write(t, filepath.Join(dir, "c.log"), "not me\n")
	got, _, err := readAll(t, map[string]any{"path": filepath.Join(dir, "*.txt")}, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"one", "", "two", "three"}, {"four", "five"}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestDirectoryAndGzip(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "1.txt"), "a\nb\n")
	write(t, filepath.Join(dir, ".hidden"), "no\n")
	write(t, filepath.Join(dir, "_SUCCESS"), "no\n")
	f, _ := os.Create(filepath.Join(dir, "2.txt.gz"))
	zw := gzip.NewWriter(f)
	zw.Write([]byte("c\nd\n"))
	zw.Close()
	f.Close()
	got, _, err := readAll(t, map[string]any{"path": dir}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a", "b", "c", "d"}; !slices.Equal(got[0], want) {
		t.Fatalf("got %q, want %q", got[0], want)
	}
}

const jsonInput = `{"a":1}

{"a":2}
{"a":
[1,2]
nope
`

func TestJSONLinesOnError(t *testing.T) {
	dir := t.TempDir()
	in := write(t, filepath.Join(dir, "in.jsonl"), jsonInput)

	t.Run("fail names file and line", func(t *testing.T) {
		_, _, err := readAll(t, map[string]any{"path": in, "format": "json"}, 1)
		var re *onerror.RecordError
		if !errors.As(err, &re) || re.Position != in+":4" || !errors.Is(err, onerror.ErrMalformed) {
			t.Fatalf("err = %v, want a malformed record at %s:4", err, in)
		}
		if !strings.Contains(err.Error(), "invalid JSON: unexpected end of JSON input") {
			t.Fatalf("err = %v does not say what is wrong", err)
		}
	})
	t.Run("skip", func(t *testing.T) {
		got, ctxs, err := readAll(t, map[string]any{"path": in, "format": "json", "on-error": "skip"}, 1)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{`{"a":1}`, `{"a":2}`, `[1,2]`}; !slices.Equal(got[0], want) {
			t.Fatalf("got %q, want %q", got[0], want)
		}
		if n := ctxs[0].CounterValue(onerror.SkippedCounter); n != 2 {
			t.Fatalf("skipped %d, want 2", n)
		}
	})
	t.Run("dead letter", func(t *testing.T) {
		dead := filepath.Join(dir, "dead.jsonl")
		_, ctxs, err := readAll(t, map[string]any{"path": in, "format": "json", "on-error": "dead-letter", "dead-letter-path": dead}, 1)
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(dead)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var letters []map[string]string
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var m map[string]string
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatal(err)
			}
			letters = append(letters, m)
		}
		if len(letters) != 2 || letters[0]["position"] != in+":4" || letters[0]["record"] != `{"a":` ||
			letters[1]["position"] != in+":6" || letters[1]["record"] != "nope" || letters[1]["source"] != "in" {
			t.Fatalf("dead letters %v", letters)
		}
		if n := ctxs[0].CounterValue(onerror.DeadLetteredCounter); n != 2 {
			t.Fatalf("dead-lettered %d, want 2", n)
		}
	})
}

func TestLongLines(t *testing.T) {
	dir := t.TempDir()
	huge := strings.Repeat("x", 200<<10) // beyond the read buffer
	in := write(t, filepath.Join(dir, "in.txt"), "short\n"+strings.Repeat("y", 150)+"\n"+huge+"\nlast\n")
	got, ctxs, err := readAll(t, map[string]any{"path": in, "max-line-size": 100, "on-error": "skip"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"short", "last"}; !slices.Equal(got[0], want) {
		t.Fatalf("got %d lines %.20q, want %q", len(got[0]), got[0], want)
	}
	if n := ctxs[0].CounterValue(onerror.SkippedCounter); n != 2 {
		t.Fatalf("skipped %d, want 2", n)
	}
	// Without a low limit the long line comes through whole.
	got, _, err = readAll(t, map[string]any{"path": in}, 1)
	if err != nil || len(got[0]) != 4 || got[0][2] != huge {
		t.Fatalf("long line not read whole: %v", err)
	}
}

func TestMissingFiles(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		path string
		want string
	}{
		{filepath.Join(dir, "nope.txt"), "job.yaml:3:7: sources[0].path: no input files: " + filepath.Join(dir, "nope.txt") + " does not exist"},
		{filepath.Join(dir, "*.csv"), `job.yaml:3:7: sources[0].path: no input files: no file matches "` + filepath.Join(dir, "*.csv") + `"`},
		{dir, "job.yaml:3:7: sources[0].path: no input files: directory " + dir + " has no files"},
	}
	for _, tc := range tests {
		_, err := registryWithFile().Source("file", atLine(map[string]any{"path": tc.path}))
		if err == nil || err.Error() != tc.want {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
	_, err := registryWithFile().Source("file", atLine(map[string]any{}))
	if err == nil || err.Error() != "job.yaml:2:5: sources[0].path: required field is missing" {
		t.Errorf("error %v", err)
	}
	// A file removed between build and Open fails Open.
	in := write(t, filepath.Join(dir, "gone.txt"), "x\n")
	newSrc, err := registryWithFile().Source("file", atLine(map[string]any{"path": in}))
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(in)
	src, _ := newSrc()
	if err := src.Open(conntest.NewContext("in", 0, 1)); err == nil || !strings.Contains(err.Error(), "gone.txt") {
		t.Fatalf("Open = %v", err)
	}
}

func TestPollRespectsBudgetAndAllocatesNothing(t *testing.T) {
	if conntest.RaceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	dir := t.TempDir()
	in := write(t, filepath.Join(dir, "in.jsonl"), strings.Repeat(`{"k":"value","n":12345}`+"\n", 20000))
	newSrc, err := registryWithFile().Source("file", atLine(map[string]any{"path": in, "format": "json"}))
	if err != nil {
		t.Fatal(err)
	}
	src, _ := newSrc()
	if err := src.Open(conntest.NewContext("in", 0, 1)); err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	out := conntest.NewSourceContext(100)
	if st, err := src.Poll(out); err != nil || st != api.MoreAvailable || out.Batch.Len() != 100 {
		t.Fatalf("Poll = %v, %v, %d records; want 100", st, err, out.Batch.Len())
	}
	allocs := testing.AllocsPerRun(50, func() {
		out.Batch.Reset()
		src.Poll(out)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per Poll of 100 lines", allocs)
	}
}
