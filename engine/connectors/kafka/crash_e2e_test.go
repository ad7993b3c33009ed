package kafka_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshet/freshet/engine/internal/kafkatest"
)

// buildFreshet builds the freshet binary for end-to-end tests.
func buildFreshet(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..", "..")
	bin := filepath.Join(t.TempDir(), "freshet")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/freshet")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building freshet: %v\n%s", err, out)
	}
	return bin
}

// TestOrdersPipelineExactlyOnceUnderSIGKILL is the reference pipeline as a
// job file: orders in Kafka → event time from a JSON field → key by customer
// → tumbling 10 s window summing amounts → Kafka with exactly-once. It runs
// the real freshet binary against the real broker and SIGKILLs it at least
// ten times (at random moments, and between a checkpoint's completion and
// the transactions' commit), resuming from its checkpoints each time (a
// scenario the job outruns with fewer kills starts again from scratch). A
// read_committed consumer must then see every window result exactly once.
func TestOrdersPipelineExactlyOnceUnderSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end crash test")
	}
	broker := kafkatest.Broker(t)
	freshet := buildFreshet(t)
	in := kafkatest.Topic(t, broker, 4)

	// Orders: event time advances 10 ms per order; 10 s windows.
	const orders, customers = 1200000, 20
	type key struct {
		customer string
		start    int64
	}
	want := map[key]int64{}
	cl := kafkatest.Client(t, broker)
	base := int64(1_700_000_000_000)
	var recs []*kgo.Record
	for i := 0; i < orders; i++ {
		c := fmt.Sprintf("c%d", i%customers)
		ts := base + int64(i)*10
		amount := int64(i%97 + 1)
		want[key{c, ts / 10000 * 10000}] += amount
		v, _ := json.Marshal(map[string]any{"customer": c, "amount": amount, "ts": ts})
		recs = append(recs, &kgo.Record{Topic: in, Key: []byte(c), Value: v})
		if len(recs) == 5000 || i == orders-1 {
			if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
				t.Fatal(err)
			}
			recs = recs[:0]
		}
	}

	// One attempt runs the job to its end from fresh checkpoints into out and
	// returns how many times it was killed. A fast machine can read the
	// whole input within the kill timer of fewer than ten runs, which
	// proves nothing: the scenario then runs again.
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	failpoints := []string{"", "after-checkpoint-complete=2", "", "", "after-checkpoint-complete=1", "", "", "", "", "", ""}
	attempt := func(out string) (kills int) {
		dir := t.TempDir()
		cps := filepath.Join(dir, "checkpoints")
		job := filepath.Join(dir, "orders.yaml")
		if err := os.WriteFile(job, []byte(fmt.Sprintf(`apiVersion: freshet/v1
name: orders-per-customer
parallelism: 2
config:
  checkpointing: {interval: 150ms, dir: %s}
sources:
  - name: orders
    type: kafka
    bootstrap-servers: %s
    topic: %s
    format: json
    start-from: earliest
    bounded: true
    timestamp-field: ts
    max-out-of-orderness: 1s
operators:
  - name: totals
    key-by: {field: customer}
    type: window
    assigner: tumbling
    size: 10s
    aggregate: sum
    field: amount
sinks:
  - name: out
    type: kafka
    bootstrap-servers: %s
    topic: %s
    format: json
    delivery-guarantee: exactly-once
    transactional-id-prefix: %s
`, cps, broker, in, broker, out, kafkatest.UniqueName("orders-eo"))), 0o644); err != nil {
			t.Fatal(err)
		}

		for run := 0; ; run++ {
			args := []string{"run", job, "--metrics-addr", "", "--rest-addr", "", "--quiet", "--log-level", "info"}
			if m, _ := filepath.Glob(filepath.Join(cps, "chk-*", "_metadata")); len(m) > 0 {
				args = append(args, "--from-checkpoint", cps)
			}
			cmd := exec.Command(freshet, args...)
			fp := ""
			if run < len(failpoints) {
				fp = failpoints[run]
			}
			cmd.Env = append(os.Environ(), "FRESHET_FAILPOINTS="+fp)
			stderr := &watcher{match: []byte(`msg="kafka source open"`), seen: make(chan struct{})}
			cmd.Stderr = stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// A failure shows what each run logged (but the checkpoint
			// lines): the evidence for a loss that happens once in a hundred.
			w, r, att := stderr, run, out
			t.Cleanup(func() {
				if !t.Failed() {
					return
				}
				for _, l := range strings.Split(w.String(), "\n") {
					if l != "" && !strings.Contains(l, `msg="checkpoint completed"`) {
						t.Logf("output %s, run %d: %s", att, r, l)
					}
				}
			})
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			var err error
			if kills < 10 && fp == "" {
				// At a random moment of the first 300 ms of reading: a
				// timer from the process start would fire before the
				// sources open on a loaded machine and let a quiet one
				// read everything in fewer than ten runs.
				select {
				case err = <-done:
				case <-stderr.seen:
					select {
					case err = <-done:
					case <-time.After(time.Duration(rng.Intn(300)) * time.Millisecond):
						_ = cmd.Process.Signal(syscall.SIGKILL)
						err = <-done
					}
				case <-time.After(3 * time.Minute):
					_ = cmd.Process.Kill()
					t.Fatalf("run %d: no source opened:\n%s", run, stderr)
				}
			} else {
				select {
				case err = <-done:
				case <-time.After(3 * time.Minute):
					_ = cmd.Process.Kill()
					t.Fatalf("run %d did not end:\n%s", run, stderr)
				}
			}
			if err == nil {
				break
			}
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("run %d (failpoints %q): %v\n%s", run, fp, err, stderr)
			}
			kills++
			if run > 60 {
				t.Fatal("the job never finished")
			}
		}
		return kills
	}
	var out string
	kills := 0
	for try := 1; kills < 10; try++ {
		if try > 3 {
			t.Fatalf("the job finished after fewer than ten kills in %d attempts (last: %d)", try-1, kills)
		}
		if try > 1 {
			t.Logf("attempt %d: the job finished after only %d kills; again from scratch", try-1, kills)
		}
		out = kafkatest.Topic(t, broker, 2)
		kills = attempt(out)
	}

	got := map[key]int64{}
	seen := map[key]int{}
	// Settled: the sink's last commits return before the broker has
	// written their markers, and a read_committed read stops short of a
	// transaction whose markers are not written yet.
	for _, r := range kafkatest.ConsumeSettled(t, broker, out) {
		var v struct {
			Key   string `json:"key"`
			Start int64  `json:"start"`
			Sum   int64  `json:"sum"`
		}
		if err := json.Unmarshal(r.Value, &v); err != nil {
			t.Fatalf("output %q: %v", r.Value, err)
		}
		k := key{v.Key, v.Start}
		seen[k]++
		got[k] = v.Sum
	}
	var dups []string
	for k, n := range seen {
		if n > 1 {
			dups = append(dups, fmt.Sprintf("%s@%d×%d", k.customer, k.start, n))
		}
	}
	sort.Strings(dups)
	if len(dups) > 0 {
		t.Fatalf("%d window results committed more than once, e.g. %v", len(dups), dups[:min(5, len(dups))])
	}
	if len(got) != len(want) {
		for i := range customers {
			c := fmt.Sprintf("c%d", i)
			var missing []int64
			for k := range want {
				if _, ok := got[k]; !ok && k.customer == c {
					missing = append(missing, (k.start-base)/10000)
				}
			}
			if len(missing) > 0 {
				slices.Sort(missing)
				t.Logf("customer %s: %d windows missing (numbers from the first): %v", c, len(missing), missing)
			}
		}
		t.Fatalf("%d window results committed, want %d", len(got), len(want))
	}
	for k, s := range want {
		if got[k] != s {
			t.Fatalf("%s window %d: sum %d, want %d", k.customer, k.start, got[k], s)
		}
	}
	t.Logf("%d kills; %d window results, each exactly once", kills, len(got))
}

// watcher keeps what a process writes and closes seen once it has written
// match.
type watcher struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	match []byte
	seen  chan struct{}
	fired bool
}

func (w *watcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.fired && bytes.Contains(w.buf.Bytes(), w.match) {
		w.fired = true
		close(w.seen)
	}
	return len(p), nil
}

func (w *watcher) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
