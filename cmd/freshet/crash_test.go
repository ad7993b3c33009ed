package main_test

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
	"time"
)

// TestSIGKILLAtRandomMomentsGivesExactlyOnceOutput runs a keyed running-sum
// job with checkpoints and a transactional file sink as a real freshet
// process, SIGKILLs it again and again (at random moments, during a
// checkpoint's file writes, and between a checkpoint's completion and the
// sink's commit), resumes it from its checkpoint directory each time, and
// requires the committed output to equal the reference exactly: every
// running sum once, nothing lost, nothing twice.
func TestSIGKILLAtRandomMomentsGivesExactlyOnceOutput(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test")
	}
	for _, backend := range []string{"heap", "rocksdb"} {
		t.Run(backend, func(t *testing.T) { crashTest(t, backend) })
	}
}

func crashTest(t *testing.T, backend string) {
	const n, keys = 60000, 10
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	cps := filepath.Join(dir, "checkpoints")
	job := filepath.Join(dir, "sums.yaml")
	writeFile(t, job, fmt.Sprintf(`apiVersion: freshet/v1
name: crash-sums
parallelism: 2
config:
  state-backend: %s
  checkpointing: {interval: 100ms, dir: %s}
sources:
  - name: gen
    type: datagen
    parallelism: 1
    count: %d
    rows-per-second: 8000
    key: {kind: sequence, end: %d}
    value: json
    fields:
      amount: sequence
operators:
  - name: sums
    type: sum
    key-by: key
    field: amount
sinks:
  - name: out
    type: file
    path: %s
`, backend, cps, n, keys-1, out))

	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	failpoints := []string{
		"", "during-checkpoint-write=3", "", "after-checkpoint-complete=2", "",
		"after-checkpoint-complete=1", "", "during-checkpoint-write=1", "", "", "",
	}
	kills := 0
	for run := 0; ; run++ {
		args := []string{"run", job, "--metrics-addr", "", "--quiet"}
		if _, err := os.Stat(cps); err == nil {
			if entries, _ := filepath.Glob(filepath.Join(cps, "chk-*", "_metadata")); len(entries) > 0 {
				args = append(args, "--from-checkpoint", cps)
			}
		}
		cmd := exec.Command(freshet, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		fp := ""
		if run < len(failpoints) {
			fp = failpoints[run]
		}
		cmd.Env = append(os.Environ(), "FRESHET_FAILPOINTS="+fp)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var err error
		if kills < 10 && fp == "" {
			select {
			case err = <-done:
			case <-time.After(time.Duration(150+rng.Intn(600)) * time.Millisecond):
				_ = cmd.Process.Signal(syscall.SIGKILL)
				err = <-done
			}
		} else {
			select {
			case err = <-done:
			case <-time.After(2 * time.Minute):
				_ = cmd.Process.Kill()
				t.Fatalf("run %d did not end", run)
			}
		}
		if err == nil {
			if kills < 10 {
				t.Logf("run %d finished before it was killed", run)
			}
			break
		}
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("run %d (failpoints %q) ended with %v\n%s", run, fp, err, stderr.String())
		}
		kills++
		if run > 40 {
			t.Fatal("the job never finished")
		}
	}
	if kills < 10 {
		t.Fatalf("only %d kills happened", kills)
	}
	t.Logf("%d kills", kills)

	// The committed output: every line of every part file with a final name.
	files, _ := filepath.Glob(filepath.Join(out, "part-*"))
	var got []string
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			got = append(got, sc.Text())
		}
		fh.Close()
	}
	// The reference: key k = i mod keys, running sums of the amounts i.
	var want []string
	sums := make([]int64, keys)
	for i := 0; i < n; i++ {
		k := i % keys
		sums[k] += int64(i)
		want = append(want, fmt.Sprintf("%d,%d", k, sums[k]))
	}
	sort.Strings(got)
	sort.Strings(want)
	if len(got) != len(want) {
		dup, missing := diff(got, want)
		t.Fatalf("committed %d lines, want %d (%d unexpected e.g. %v, %d missing e.g. %v)", len(got), len(want), len(dup), head(dup), len(missing), head(missing))
	}
	for i := range got {
		if got[i] != want[i] {
			dup, missing := diff(got, want)
			t.Fatalf("output differs: %d unexpected e.g. %v, %d missing e.g. %v", len(dup), head(dup), len(missing), head(missing))
		}
	}
	if left, _ := filepath.Glob(filepath.Join(out, ".*.inprogress")); len(left) > 0 {
		t.Errorf("in-progress files left after the job finished: %v", left)
	}
}

func diff(got, want []string) (extra, missing []string) {
	w := map[string]int{}
	for _, s := range want {
		w[s]++
	}
	for _, s := range got {
		if w[s] > 0 {
			w[s]--
		} else {
			extra = append(extra, s)
		}
	}
	for s, c := range w {
		for ; c > 0; c-- {
			missing = append(missing, s)
		}
	}
	sort.Strings(missing)
	return extra, missing
}

func head(s []string) []string {
	if len(s) > 5 {
		return s[:5]
	}
	return s
}
