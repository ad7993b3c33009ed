package main_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func httpJSON(t *testing.T, method, url string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && len(data) > 0 {
		_ = json.Unmarshal(data, out)
	}
	return resp.StatusCode
}

// TestHotSwapOfARunningWasmOperatorEndToEnd runs a keyed job whose scorer is
// a Rust WebAssembly module (plugins/rust/scorer) with a transactional file
// sink, as a real freshet process, and through its REST API: swaps v1 → v2
// (a changed formula) under load; refuses a module of another kind; swaps to
// a version that traps on its first record, which rolls back to v2 while the
// job keeps running; then SIGKILLs the process and resumes it from its
// checkpoints, where the recorded version (v2, not the job file's v1) runs.
// The committed output must hold every record exactly once, v1's form
// before the swap and v2's after, with per-key counts that carry across.
func TestHotSwapOfARunningWasmOperatorEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end hot-swap")
	}
	root := repoRoot(t)
	mod := func(v string) string { return filepath.Join(root, "plugins", "build", "rust", "scorer-"+v+".wasm") }
	for _, v := range []string{"v1", "v2", "trap"} {
		if _, err := os.Stat(mod(v)); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is not built: make plugins", mod(v))
			}
			t.Skipf("%s is not built (make plugins)", mod(v))
		}
	}
	const rows, keys = 15000, 10
	dir := t.TempDir()
	out, cps := filepath.Join(dir, "out"), filepath.Join(dir, "checkpoints")
	job := filepath.Join(dir, "scores.yaml")
	writeFile(t, job, fmt.Sprintf(`apiVersion: freshet/v1
name: scores
parallelism: 2
config:
  checkpointing: {interval: 200ms, dir: %s}
  restart-strategy: {type: fixed-delay, attempts: 5, delay: 100ms}
sources:
  - name: gen
    type: datagen
    parallelism: 1
    count: %d
    rows-per-second: 2500
    key: {kind: sequence, end: %d}
    value: sequence
operators:
  - name: scorer
    type: wasm
    module: %s
    kind: process
    key-by: key
sinks:
  - {name: out, type: file, path: %s}
`, cps, rows, keys-1, mod("v1"), out))

	modDir := filepath.Join(dir, "modules")
	start := func(extra ...string) (*exec.Cmd, string, *bytes.Buffer) {
		addr := freePort(t)
		args := append([]string{"run", job, "--metrics-addr", "", "--rest-addr", addr, "--quiet", "--module-dir", modDir}, extra...)
		cmd := exec.Command(freshet, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		base := "http://" + addr + "/v1"
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			var jobs struct {
				Jobs []struct{ ID, State string } `json:"jobs"`
			}
			if resp, err := http.Get(base + "/jobs"); err == nil {
				_ = json.NewDecoder(resp.Body).Decode(&jobs)
				resp.Body.Close()
				if len(jobs.Jobs) == 1 && jobs.Jobs[0].State == "RUNNING" {
					// Upload the versions to swap to.
					for name, file := range map[string]string{"scorer@2": mod("v2"), "scorer@trap": mod("trap"),
						"tokenizer@1": filepath.Join(root, "plugins", "build", "rust", "tokenizer.wasm")} {
						nv := strings.SplitN(name, "@", 2)
						data, _ := os.ReadFile(file)
						resp, err := http.Post(base+"/modules?name="+nv[0]+"&version="+nv[1], "application/wasm", bytes.NewReader(data))
						if err != nil || resp.StatusCode/100 != 2 {
							t.Fatalf("uploading %s: %v %v", name, err, resp)
						}
						resp.Body.Close()
					}
					return cmd, base + "/jobs/" + jobs.Jobs[0].ID, &stderr
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		_ = cmd.Process.Kill()
		t.Fatalf("the job did not start: %s", stderr.String())
		return nil, "", nil
	}
	swap := func(jobURL, module string) (status, failure string) {
		t.Helper()
		var accepted struct {
			RequestID string `json:"request-id"`
			Message   string `json:"message"`
		}
		code := httpJSON(t, "POST", jobURL+"/vertices/scorer/module", map[string]string{"module": module}, &accepted)
		// A completed swap stays on probation until the next checkpoint.
		for tries := 0; code == http.StatusConflict && strings.Contains(accepted.Message, "in progress") && tries < 100; tries++ {
			time.Sleep(50 * time.Millisecond)
			code = httpJSON(t, "POST", jobURL+"/vertices/scorer/module", map[string]string{"module": module}, &accepted)
		}
		if code != http.StatusAccepted {
			return fmt.Sprintf("HTTP %d", code), accepted.Message
		}
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			var st struct{ Status, Failure string }
			httpJSON(t, "GET", jobURL+"/swaps/"+accepted.RequestID, nil, &st)
			if st.Status != "IN_PROGRESS" {
				return st.Status, st.Failure
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatal("the swap did not end")
		return "", ""
	}

	// Run 1: swaps under load, then SIGKILL.
	cmd, jobURL, stderr := start()
	time.Sleep(1200 * time.Millisecond)
	if st, f := swap(jobURL, "scorer@2"); st != "COMPLETED" {
		t.Fatalf("v1 → v2: %s %s\n%s", st, f, stderr)
	}
	if st, f := swap(jobURL, "tokenizer@1"); st == "COMPLETED" || !strings.Contains(f, "flat-map") {
		t.Fatalf("a module of another kind must be refused: %s %q", st, f)
	}
	time.Sleep(600 * time.Millisecond)
	st, f := swap(jobURL, "scorer@trap")
	if st == "COMPLETED" { // it fails in probation, right after completing
		deadline := time.Now().Add(20 * time.Second)
		for id := ""; st == "COMPLETED" && time.Now().Before(deadline); {
			_ = id
			var evs struct {
				Events []struct{ Type, Message string } `json:"events"`
			}
			httpJSON(t, "GET", jobURL+"/events", nil, &evs)
			for _, ev := range evs.Events {
				if ev.Type == "MODULE_SWAP_FAILED" && strings.Contains(ev.Message, "rolled back") {
					st, f = "FAILED", ev.Message
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if st != "FAILED" || !strings.Contains(f, "rolled back to scorer@2") {
		t.Fatalf("trap swap: %s %q", st, f)
	}
	// The job keeps running (after its restart from the swap's checkpoint).
	deadline := time.Now().Add(20 * time.Second)
	for {
		var js struct{ State string }
		httpJSON(t, "GET", jobURL, nil, &js)
		if js.State == "RUNNING" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job is %s after the failed swap", js.State)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(700 * time.Millisecond)
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()

	// Run 2: resume from the checkpoints; the recorded version runs.
	cmd2 := exec.Command(freshet, "run", job, "--metrics-addr", "", "--rest-addr", "", "--quiet", "--from-checkpoint", cps, "--module-dir", modDir)
	var stderr2 bytes.Buffer
	cmd2.Stderr = &stderr2
	if err := cmd2.Run(); err != nil {
		t.Fatalf("resumed run: %v\n%s", err, stderr2.String())
	}

	// The committed output.
	files, _ := filepath.Glob(filepath.Join(out, "part-*"))
	type rec struct {
		version string
		score   int64
	}
	byKey := map[string]map[int64]rec{}
	n := 0
	for _, file := range files {
		fh, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			parts := strings.Split(sc.Text(), ",")
			if len(parts) != 4 {
				t.Fatalf("bad output line %q", sc.Text())
			}
			count, _ := strconv.ParseInt(parts[2], 10, 64)
			score, _ := strconv.ParseInt(parts[3], 10, 64)
			if byKey[parts[1]] == nil {
				byKey[parts[1]] = map[int64]rec{}
			}
			if _, dup := byKey[parts[1]][count]; dup {
				t.Fatalf("key %s count %d committed twice", parts[1], count)
			}
			byKey[parts[1]][count] = rec{parts[0], score}
			n++
		}
		fh.Close()
	}
	if n != rows {
		t.Fatalf("committed %d records, want %d", n, rows)
	}
	sawV2 := false
	for k := 0; k < keys; k++ {
		key := strconv.Itoa(k)
		switched := false
		for count := int64(1); count <= rows/keys; count++ {
			r, ok := byKey[key][count]
			if !ok {
				t.Fatalf("key %s count %d missing", key, count)
			}
			value := int64(keys)*(count-1) + int64(k) // datagen: row n has key n%keys, value n
			switch r.version {
			case "v1":
				if switched {
					t.Fatalf("key %s: v1 output after v2 at count %d", key, count)
				}
				if r.score != value {
					t.Fatalf("key %s count %d: v1 score %d, want %d", key, count, r.score, value)
				}
			case "v2":
				switched, sawV2 = true, true
				if r.score != 2*value {
					t.Fatalf("key %s count %d: v2 score %d, want %d", key, count, r.score, 2*value)
				}
			default:
				t.Fatalf("key %s count %d: output of version %q", key, count, r.version)
			}
		}
		if !switched {
			t.Fatalf("key %s never ran v2 (the resumed job must run the recorded v2)", key)
		}
	}
	if !sawV2 {
		t.Fatal("no v2 output")
	}
}
