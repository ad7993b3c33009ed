package main_test

// End-to-end tests: they build the freshet binary and run it on job files as
// a user would, comparing its output with references computed here.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var freshet string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "freshet-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	freshet = filepath.Join(dir, "freshet")
	build := exec.Command("go", "build", "-o", freshet, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building freshet:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// repoRoot is where examples/ lives.
func repoRoot(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

type result struct {
	stdout, stderr string
	code           int
}

func run(t *testing.T, dir string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, freshet, args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running freshet %v: %v", args, err)
	}
	return result{out.String(), errb.String(), code}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestWordCountMatchesReference(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewSource(7))
	vocab := []string{"stream", "river", "freshet", "flood", "water", "delta", "source", "sink", "bank", "ford"}
	want := map[string]int{}
	var text strings.Builder
	for line := 0; line < 2000; line++ {
		n := 1 + rng.Intn(12)
		for i := 0; i < n; i++ {
			w := vocab[rng.Intn(len(vocab))]
			if rng.Intn(50) == 0 {
				w = fmt.Sprintf("w%d", rng.Intn(1000))
			}
			want[w]++
			if i > 0 {
				text.WriteString(" ")
			}
			text.WriteString(w)
		}
		text.WriteString("\n")
	}
	input := filepath.Join(dir, "book.txt")
	writeFile(t, input, text.String())
	for _, p := range []string{"1", "3"} {
		t.Run("parallelism="+p, func(t *testing.T) {
			r := run(t, repoRoot(t), "run", "examples/wordcount.yaml", "--metrics-addr", "",
				"--set", "sources.lines.path="+input, "--parallelism", p)
			if r.code != 0 {
				t.Fatalf("exit %d\nstderr: %s", r.code, r.stderr)
			}
			got := map[string]int{}
			sc := bufio.NewScanner(strings.NewReader(r.stdout))
			for sc.Scan() {
				line := sc.Text()
				if strings.HasPrefix(line, "Job ") {
					break
				}
				word, count, ok := strings.Cut(line, ",")
				if !ok {
					t.Fatalf("unexpected output line %q", line)
				}
				n, err := strconv.Atoi(count)
				if err != nil {
					t.Fatalf("bad count in %q", line)
				}
				if _, dup := got[word]; dup {
					t.Fatalf("word %q printed twice", word)
				}
				got[word] = n
			}
			if len(got) != len(want) {
				t.Fatalf("got %d words, want %d", len(got), len(want))
			}
			for w, n := range want {
				if got[w] != n {
					t.Errorf("count of %q: got %d, want %d", w, got[w], n)
				}
			}
			if !strings.Contains(r.stdout, `Job "word-count" FINISHED`) {
				t.Errorf("no summary in output:\n%s", r.stdout)
			}
		})
	}
}

func TestMalformedJobFileNamesFileLineAndField(t *testing.T) {
	dir := t.TempDir()
	job := filepath.Join(dir, "bad.yaml")
	writeFile(t, job, `apiVersion: freshet/v1
name: bad
sources:
  - name: gen
    type: datagen
    count: lots
sinks:
  - name: out
    type: stdout
`)
	r := run(t, dir, "run", job, "--metrics-addr", "")
	if r.code != 2 {
		t.Fatalf("exit %d, want 2; stderr: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "bad.yaml:6:") || !strings.Contains(r.stderr, "count") {
		t.Fatalf("error does not name file, line and field: %s", r.stderr)
	}
	if strings.Contains(r.stderr, "goroutine") || strings.Contains(r.stderr, "panic") {
		t.Fatalf("panic trace for a user mistake: %s", r.stderr)
	}
}

func TestUserMistakesAreOneLineErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, job, want string
	}{
		{"missing input file", `apiVersion: freshet/v1
name: m
sources:
  - {name: in, type: file, path: /does/not/exist.txt}
sinks:
  - {name: out, type: stdout}
`, "/does/not/exist.txt"},
		{"unknown operator", `apiVersion: freshet/v1
name: u
sources:
  - {name: in, type: datagen, count: 10}
operators:
  - {name: x, type: frobnicate}
sinks:
  - {name: out, type: stdout}
`, "frobnicate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			job := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".yaml")
			writeFile(t, job, tc.job)
			r := run(t, dir, "run", job, "--metrics-addr", "")
			if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit 2 naming %q", r.code, r.stderr, tc.want)
			}
			if n := strings.Count(strings.TrimSpace(r.stderr), "\n"); n > 0 {
				t.Fatalf("want a one-line error, got %d lines: %s", n+1, r.stderr)
			}
		})
	}
}

func jsonJob(input, policy, extra string) string {
	return fmt.Sprintf(`apiVersion: freshet/v1
name: json-%s
on-error: %s
sources:
  - name: in
    type: file
    format: json
    path: %s
%s
sinks:
  - {name: out, type: stdout}
`, policy, policy, input, extra)
}

func TestOnErrorPolicies(t *testing.T) {
	dir := t.TempDir()
	input := filepath.Join(dir, "in.jsonl")
	writeFile(t, input, "{\"a\":1}\n{\"a\":2}\nnot json\n{\"a\":3}\n{broken\n")

	t.Run("fail", func(t *testing.T) {
		job := filepath.Join(dir, "fail.yaml")
		writeFile(t, job, jsonJob(input, "fail", ""))
		r := run(t, dir, "run", job, "--metrics-addr", "")
		if r.code != 1 || !strings.Contains(r.stderr, "in.jsonl:3") {
			t.Fatalf("exit %d; want 1 and an error naming in.jsonl:3; stderr: %s", r.code, r.stderr)
		}
	})
	t.Run("skip", func(t *testing.T) {
		job := filepath.Join(dir, "skip.yaml")
		writeFile(t, job, jsonJob(input, "skip", ""))
		r := run(t, dir, "run", job, "--metrics-addr", "")
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		for _, v := range []string{`{"a":1}`, `{"a":2}`, `{"a":3}`} {
			if !strings.Contains(r.stdout, v) {
				t.Errorf("output lacks %s", v)
			}
		}
		if !strings.Contains(r.stdout, "numRecordsSkipped 2") {
			t.Errorf("summary does not report 2 skipped records:\n%s", r.stdout)
		}
	})
	t.Run("dead-letter", func(t *testing.T) {
		dl := filepath.Join(dir, "dead.jsonl")
		job := filepath.Join(dir, "dl.yaml")
		writeFile(t, job, jsonJob(input, "dead-letter", "    dead-letter-path: "+dl))
		r := run(t, dir, "run", job, "--metrics-addr", "")
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		data, err := os.ReadFile(dl)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Count(string(data), "\n"); got != 2 || !strings.Contains(string(data), "not json") {
			t.Fatalf("dead letters: %q", data)
		}
	})
}

func TestInterruptStopsCleanlyAndFlushesSink(t *testing.T) {
	dir := t.TempDir()
	job := filepath.Join(dir, "endless.yaml")
	outDir := filepath.Join(dir, "out")
	writeFile(t, job, fmt.Sprintf(`apiVersion: freshet/v1
name: endless
sources:
  - {name: gen, type: datagen, rows-per-second: 2000}
sinks:
  - {name: out, type: file, path: %s}
`, outDir))
	cmd := exec.Command(freshet, "run", job, "--metrics-addr", "")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	_ = cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	ee, _ := err.(*exec.ExitError)
	if ee == nil || ee.ExitCode() != 130 {
		t.Fatalf("want exit 130 after SIGINT, got %v; stderr %s", err, errb.String())
	}
	files, _ := filepath.Glob(filepath.Join(outDir, "part-*"))
	lines := 0
	for _, f := range files {
		data, _ := os.ReadFile(f)
		lines += bytes.Count(data, []byte("\n"))
	}
	if lines < 1000 {
		t.Fatalf("only %d records reached committed part files (%v) after 1.5 s at 2000/s", lines, files)
	}
	if !strings.Contains(out.String(), "FINISHED") {
		t.Errorf("summary does not say the job finished:\n%s", out.String())
	}
}

func TestValidateVersionHelp(t *testing.T) {
	root := repoRoot(t)
	if r := run(t, root, "validate", "examples/wordcount.yaml"); r.code != 0 || !strings.Contains(r.stdout, "valid") {
		t.Fatalf("validate: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := run(t, root, "version"); r.code != 0 || !strings.HasPrefix(r.stdout, "freshet ") {
		t.Fatalf("version: exit %d %q", r.code, r.stdout)
	}
	for _, c := range []string{"run", "validate", "version"} {
		if r := run(t, root, c, "--help"); r.code != 0 || !strings.Contains(r.stderr, "Usage: freshet "+c) {
			t.Fatalf("%s --help: exit %d %q", c, r.code, r.stderr)
		}
	}
	if r := run(t, root, "--help"); r.code != 0 || !strings.Contains(r.stdout, "Commands:") {
		t.Fatalf("--help: exit %d %q", r.code, r.stdout)
	}
	if r := run(t, root, "frobnicate"); r.code != 2 {
		t.Fatalf("unknown command: exit %d", r.code)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestMetricsAreServedWhileRunning(t *testing.T) {
	dir := t.TempDir()
	job := filepath.Join(dir, "paced.yaml")
	writeFile(t, job, `apiVersion: freshet/v1
name: paced
sources:
  - {name: gen, type: datagen, rows-per-second: 5000, count: 15000}
operators:
  - {name: upper, type: uppercase}
sinks:
  - {name: out, type: discard}
`)
	addr := freePort(t)
	cmd := exec.Command(freshet, "run", job, "--metrics-addr", addr)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var body string
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(300 * time.Millisecond)
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		if strings.Contains(body, `freshet_operator_records_in_total{job=`) && strings.Contains(body, `operator="upper"`) {
			break
		}
	}
	for _, want := range []string{
		`freshet_operator_records_in_total{`,
		`freshet_operator_records_out_total{`,
		`freshet_task_back_pressured_time_ms_per_second{`,
		`freshet_taskmanager_network_memory_total_bytes{`,
		`freshet_job_running{`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestDemoJobCountsWordsWithAWasmTokenizer runs the demo (a Rust WebAssembly
// tokenizer feeding a keyed count) on both plugin builds and checks every
// count against a reference tokenizer written here from plugins/README.md.
func TestDemoJobCountsWordsWithAWasmTokenizer(t *testing.T) {
	root := repoRoot(t)
	for _, lang := range []string{"rust", "go"} {
		t.Run(lang, func(t *testing.T) {
			module := filepath.Join("plugins", "build", lang, "tokenizer.wasm")
			if _, err := os.Stat(filepath.Join(root, module)); err != nil {
				if os.Getenv("CI") != "" {
					t.Fatalf("%s is not built: make plugins", module)
				}
				t.Skipf("%s is not built (make plugins)", module)
			}
			r := run(t, root, "run", "examples/demo.yaml", "--metrics-addr", "", "--rest-addr", "", "--set", "operators.words.module="+module)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			want := map[string]int{}
			files, _ := filepath.Glob(filepath.Join(root, "examples", "data", "*.txt"))
			for _, f := range files {
				data, _ := os.ReadFile(f)
				word := []byte{}
				flush := func() {
					if len(word) > 0 {
						want[string(word)]++
						word = word[:0]
					}
				}
				for _, c := range data {
					switch {
					case c >= 'A' && c <= 'Z':
						word = append(word, c+'a'-'A')
					case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c >= 0x80:
						word = append(word, c)
					default:
						flush()
					}
				}
				flush()
			}
			got := map[string]int{}
			for _, line := range strings.Split(r.stdout, "\n") {
				if strings.HasPrefix(line, "Job ") {
					break
				}
				w, c, ok := strings.Cut(line, ",")
				if !ok {
					continue
				}
				n, _ := strconv.Atoi(c)
				got[w] = n
			}
			if len(got) != len(want) {
				t.Fatalf("got %d words, want %d", len(got), len(want))
			}
			for w, n := range want {
				if got[w] != n {
					t.Errorf("%q: got %d, want %d", w, got[w], n)
				}
			}
		})
	}
}
