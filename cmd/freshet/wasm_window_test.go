package main_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestJobFileWindowWithAWasmAggregate runs a job file whose window
// aggregates with a WebAssembly module's aggregate function (the reference
// window-stats plugin, Go and Rust builds: count, sum and max), two window
// subtasks each with an instance of their own, and checks every window's
// result against a computation in the test. A function the module lacks is
// a user mistake named by file, line and field.
func TestJobFileWindowWithAWasmAggregate(t *testing.T) {
	root := repoRoot(t)
	for _, lang := range []string{"rust", "go"} {
		t.Run(lang, func(t *testing.T) {
			module := filepath.Join(root, "plugins", "build", lang, "window-stats.wasm")
			if _, err := os.Stat(module); err != nil {
				if os.Getenv("CI") != "" {
					t.Fatalf("%s is not built: make plugins", module)
				}
				t.Skipf("%s is not built (make plugins)", module)
			}
			dir := t.TempDir()
			var in strings.Builder
			type win struct {
				key   string
				start int64
			}
			type stats struct{ count, sum, max int64 }
			want := map[win]*stats{}
			for i := 0; i < 600; i++ {
				key, price, ts := fmt.Sprint("a", i%7), int64(i*37%1000), int64(i)*97
				fmt.Fprintf(&in, "{\"auction\":%q,\"price\":%d,\"ts\":%d}\n", key, price, ts)
				w := win{key, ts / 10000 * 10000}
				s := want[w]
				if s == nil {
					s = &stats{max: -1}
					want[w] = s
				}
				s.count++
				s.sum += price
				s.max = max(s.max, price)
			}
			if err := os.WriteFile(filepath.Join(dir, "bids.jsonl"), []byte(in.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			job := func(function string) string {
				return fmt.Sprintf(`apiVersion: freshet/v1
name: wasm-window
parallelism: 2
sources:
  - name: bids
    type: file
    path: bids.jsonl
    parallelism: 1
    watermarks:
      timestamp-field: ts
      max-out-of-orderness: 0s
operators:
  - name: stats
    type: window
    key-by: {field: auction}
    assigner: tumbling
    size: 10s
    field: price
    aggregate:
      module: %s
      function: %s
sinks:
  - name: out
    type: stdout
`, module, function)
			}
			if err := os.WriteFile(filepath.Join(dir, "job.yaml"), []byte(job("stats")), 0o644); err != nil {
				t.Fatal(err)
			}
			r := run(t, dir, "run", "job.yaml", "--metrics-addr", "", "--rest-addr", "")
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			got := map[win]string{}
			for _, line := range strings.Split(r.stdout, "\n") {
				if !strings.HasPrefix(line, "{") {
					continue
				}
				var row struct {
					Key    string `json:"key"`
					Start  int64  `json:"start"`
					End    int64  `json:"end"`
					Result string `json:"result"`
				}
				if err := json.Unmarshal([]byte(line), &row); err != nil {
					t.Fatalf("row %q: %v", line, err)
				}
				w := win{strings.Trim(row.Key, `"`), row.Start}
				if _, dup := got[w]; dup {
					t.Fatalf("window %v fired twice", w)
				}
				got[w] = row.Result
			}
			if len(got) != len(want) {
				t.Fatalf("%d windows fired, want %d\n%s", len(got), len(want), r.stdout)
			}
			for w, s := range want {
				if exp := fmt.Sprintf("%d,%d,%d", s.count, s.sum, s.max); got[w] != exp {
					t.Errorf("window %v: %q, want %q", w, got[w], exp)
				}
			}

			// A value the aggregate refuses fails the job, naming the module's error.
			if err := os.WriteFile(filepath.Join(dir, "bids.jsonl"), []byte(`{"auction":"a","price":"ten","ts":1}`+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			r = run(t, dir, "run", "job.yaml", "--metrics-addr", "", "--rest-addr", "")
			if r.code == 0 || !strings.Contains(r.stderr, `window aggregate on the record with key "a" and timestamp 1`) || !strings.Contains(r.stderr, "not a decimal integer") ||
				strings.Contains(r.stderr, "goroutine ") {
				t.Fatalf("a value the aggregate refuses: exit %d, stderr %q", r.code, r.stderr)
			}

			if err := os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte(job("no-such-function")), 0o644); err != nil {
				t.Fatal(err)
			}
			r = run(t, dir, "run", "bad.yaml", "--metrics-addr", "", "--rest-addr", "")
			if r.code != 2 || !strings.Contains(r.stderr, "bad.yaml:21") || !strings.Contains(r.stderr, "aggregate.function") ||
				strings.Contains(r.stderr, "goroutine ") {
				t.Fatalf("a missing aggregate function: exit %d, stderr %q; want exit 2 naming bad.yaml:21 and aggregate.function", r.code, r.stderr)
			}
		})
	}
}
