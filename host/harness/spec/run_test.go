package spec_test

import (
	"context"
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/freshet/freshet/host/harness/spec"
)

// TestGuestSpecPasses runs every kind of step and check against the test
// guest; all cases are written to pass.
func TestGuestSpecPasses(t *testing.T) {
	rep, err := spec.Run(context.Background(), rt, guestWasm, "testdata/guest.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed() > 0 || len(rep.Cases) == 0 {
		t.Fatalf("\n%s", rep)
	}
	for _, c := range rep.Cases {
		if c.Function == "" || c.Duration <= 0 {
			t.Errorf("case %q: function %q, duration %v", c.Name, c.Function, c.Duration)
		}
	}
}

var durations = regexp.MustCompile(`, [0-9.]+(µs|ms|s)\)`)

// runYAML runs a spec given as text and returns its report without timings.
func runYAML(t *testing.T, yaml string) string {
	t.Helper()
	s, err := spec.Parse("t.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.Run(context.Background(), rt, guestWasm, spec.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return durations.ReplaceAllString(rep.String(), ")")
}

// TestFailuresShowWhatDiffers: each failing check names its step and line
// and shows expected against got.
func TestFailuresShowWhatDiffers(t *testing.T) {
	for _, tc := range []struct {
		name, spec, want string
	}{
		{"output in order", `
function: words
cases:
  - name: c
    steps:
      - record: {value: "a b c", timestamp: 7}
        output: [a, {key: x}, c, d]
`, `FAIL  c (t.yaml:4)
      step 1 (t.yaml:6, record):
        output differs: expected 4 records, got 3 (- expected, + got):
            [0] {key "a", value "a", timestamp 7}
          - [1] {key "x"}
          + [1] {key "b", value "b", timestamp 7}
            [2] {key "c", value "c", timestamp 7}
          - [3] {value "d"}
0 passed, 1 failed
`},
		{"output in any order", `
function: words
cases:
  - name: c
    steps:
      - record: "a b b"
        any-order: true
        output: [b, {value: {hex: "00"}}, a, {key: b}]
      - record: "z"
        output: []
`, `FAIL  c (t.yaml:4)
      step 1 (t.yaml:6, record):
        output differs: expected 4 records in any order, got 3 (- expected, + got):
          - missing    {value hex 00}
      step 2 (t.yaml:9, record):
        output differs: expected 0 records, got 1 (- expected, + got):
          + [0] {key "z", value "z", timestamp none}
0 passed, 1 failed
`},
		{"state, timers and counters", `
function: tally
cases:
  - name: c
    steps:
      - record: {key: a, value: "x", timestamp: 1}
        state:
          - {key: a, name: count, value: {i64le: 2}}
          - {key: a, name: count, absent: true}
          - {key: b, name: count, value: "1"}
          - {key: a, name: history, list: ["x", "y"]}
          - {key: a, name: per-word, map: {x: "2", z: "1"}}
          - {key: a, name: count, list: []}
        timers: [{timestamp: 101, key: a}]
        counters: {records: 3}
`, `FAIL  c (t.yaml:4)
      step 1 (t.yaml:6, record):
        state "count" of key "a": expected i64le 2, got i64le 1
        state "count" of key "a": expected absent, got hex 0100000000000000 (i64le 1)
        state "count" of key "b": expected "1", got absent
        state "history" of key "a": the list differs: expected 2 elements, got 1 (- expected, + got):
            [0] "x"
          - [1] "y"
        state "per-word" of key "a": the map differs: expected 2 entries, got 1 (- expected, + got):
          - "x": "2"
          + "x": "1"
          - "z": "1"
        state "count" of key "a": the function declared a value state, the spec checks a list state
        pending timers differ: expected 1 timer, got 2 (- expected, + got):
            [0] {event-time, timestamp 101, key "a"}
          + [1] {processing-time, timestamp 1000, key "a"}
        counter "records": expected 3, got 0
0 passed, 1 failed
`},
		{"side outputs", `
function: label
config: {prefix: ""}
cases:
  - name: c
    steps:
      - record: abc
        side-outputs: {odd: [abd], even: [abc]}
`, `FAIL  c (t.yaml:5)
      step 1 (t.yaml:7, record):
        side output "odd" differs: expected 1 record, got 1 (- expected, + got):
          - [0] {value "abd"}
          + [0] {key "", value "abc", timestamp none}
        side output "even" differs: expected 1 record, got 0 (- expected, + got):
          - [0] {value "abc"}
0 passed, 1 failed
`},
		{"an unexpected error stops the case", `
function: label
config: {prefix: ""}
cases:
  - name: c
    steps:
      - record: {key: k, value: bad}
      - record: ok
        output: [nope]
  - name: next case runs
    steps:
      - record: ok
        output: [ok]
`, `FAIL  c (t.yaml:5)
      step 1 (t.yaml:7, record):
        unexpected error (the case stops here): wasm module guest.wasm (sha256:HASH): freshet_process (function "label"): record 0 of the call (key "k"): operator function failed: bad value
PASS  next case runs (t.yaml:10)
1 passed, 1 failed
`},
		{"expected errors", `
function: label
config: {prefix: ""}
cases:
  - name: c
    steps:
      - record: ok
        error: bad
      - record: bad
        error: worse
      - record: bad
        error-kind: trap
  - name: opens
    open-error: refused
`, `FAIL  c (t.yaml:5)
      step 1 (t.yaml:7, record):
        expected the step to fail with an error containing "bad"; it succeeded
      step 2 (t.yaml:9, record):
        expected the step to fail with an error containing "worse"; it failed with: wasm module guest.wasm (sha256:HASH): freshet_process (function "label"): record 0 of the call (key ""): operator function failed: bad value
      step 3 (t.yaml:11, record):
        expected the step to fail with a trap error; it failed with: wasm module guest.wasm (sha256:HASH): freshet_process (function "label"): record 0 of the call (key ""): operator function failed: bad value
FAIL  opens (t.yaml:13)
      expected opening the function to fail with an error containing "refused"; it succeeded
0 passed, 2 failed
`},
		{"the module decides what a case can do", `
cases:
  - name: no function named
    steps:
      - record: x
  - name: merge needs an aggregate
    function: words
    steps:
      - merge: {from: a, into: b}
  - name: state needs a process function
    function: words
    steps:
      - record: x
        state: [{key: x, name: n, absent: true}]
        timers: []
  - name: merge of an unknown key
    function: sum
    steps:
      - merge: {from: a, into: b}
`, `FAIL  no function named (t.yaml:3)
      setting up: module guest.wasm (sha256:HASH) has several operator functions (words, label, short, first-word, tally, sum): name one with ` + "`function`" + `
FAIL  merge needs an aggregate (t.yaml:6)
      step 1 (t.yaml:9, merge):
        merge: only aggregate functions merge, words is a flat-map function
FAIL  state needs a process function (t.yaml:10)
      step 1 (t.yaml:13, record):
        state "n" of key "x": words is a flat-map function; only process functions have keyed state
        timers: words is a flat-map function; only process functions have timers
FAIL  merge of an unknown key (t.yaml:16)
      step 1 (t.yaml:19, merge):
        unexpected error (the case stops here): merge: key "a" has no accumulator (add a record with that key first)
0 passed, 4 failed
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := hashes.ReplaceAllString(runYAML(t, tc.spec), "sha256:HASH")
			if got != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

var hashes = regexp.MustCompile(`sha256:[0-9a-f]{12}`)

func TestFailedCaseShowsTheFunctionLogs(t *testing.T) {
	got := runYAML(t, `
function: label
config: {prefix: ""}
cases:
  - name: c
    steps:
      - record: panic
`)
	if !strings.Contains(got, "the function logged:") || !strings.Contains(got, "asked to panic") {
		t.Fatalf("no log lines in\n%s", got)
	}
}

func TestMatchSelectsCases(t *testing.T) {
	s, err := spec.Load("testdata/guest.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.Run(context.Background(), rt, guestWasm, spec.Options{Match: regexp.MustCompile(`^key selector|aggregate`).MatchString})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range rep.Cases {
		names = append(names, c.Name)
	}
	if strings.Join(names, "|") != "key selector sets keys|an aggregate adds per key, merges and emits at finish" || rep.Failed() != 0 {
		t.Fatalf("ran %q\n%s", names, rep)
	}
}

func TestRunErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := spec.Run(ctx, rt, "testdata/missing.wasm", "testdata/guest.yaml"); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing module: %v", err)
	}
	if _, err := spec.Run(ctx, rt, guestWasm, "testdata/missing.yaml"); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing spec: %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	s, _ := spec.Load("testdata/guest.yaml")
	m, err := rt.LoadFile(ctx, guestWasm)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.RunModule(cancelled, m, spec.Options{})
	if !errors.Is(err, context.Canceled) || rep == nil || len(rep.Cases) != 0 {
		t.Errorf("cancelled: %v, %v", rep, err)
	}
}
