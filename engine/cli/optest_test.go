package cli_test

import (
	"context"
	"strings"
	"testing"
)

func TestTestCommand(t *testing.T) {
	wasm := upperWasm(t)
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		out, err string // exact when set
		contains []string
	}{
		{name: "passing spec", args: []string{"test", wasm, "testdata/upper.yaml"}, code: 0, contains: []string{
			"PASS  upper-cases the value, keeps key and timestamp (testdata/upper.yaml:4, ",
			"PASS  fails on an empty value (testdata/upper.yaml:8, ",
			"\n2 passed, 0 failed\n"}},
		{name: "several specs, one summary", args: []string{"test", wasm, "testdata/upper.yaml", "testdata/upper-wrong.yaml"}, code: 1, contains: []string{
			"PASS  fails on an empty value", "PASS  right (testdata/upper-wrong.yaml:3", "FAIL  wrong (testdata/upper-wrong.yaml:7", "\n3 passed, 1 failed\n"}},
		{name: "a failing case shows the diff", args: []string{"test", wasm, "testdata/upper-wrong.yaml"}, code: 1, contains: []string{
			"FAIL  wrong (testdata/upper-wrong.yaml:7, ",
			"      step 1 (testdata/upper-wrong.yaml:9, records):\n" +
				"        output differs: expected 2 records, got 2 (- expected, + got):\n" +
				"            [0] {key \"\", value \"A\", timestamp none}\n" +
				"          - [1] {value \"b\"}\n" +
				"          + [1] {key \"\", value \"B\", timestamp none}\n",
			"\n1 passed, 1 failed\n"}},
		{name: "--run selects cases", args: []string{"test", "--run", "^r", wasm, "testdata/upper-wrong.yaml"}, code: 0, contains: []string{"PASS  right", "\n1 passed, 0 failed\n"}},
		{name: "--run matching nothing", args: []string{"test", wasm, "testdata/upper.yaml", "--run", "zzz"}, code: 2, err: "freshet test: no case matches --run \"zzz\"\n"},
		{name: "bad --run", args: []string{"test", wasm, "testdata/upper.yaml", "--run", "("}, code: 2, contains: []string{"freshet test: --run: error parsing regexp"}},
		{name: "malformed spec", args: []string{"test", wasm, "testdata/malformed.yaml"}, code: 2,
			err: "freshet test: testdata/malformed.yaml:6:9: case \"typo\": step 1: unknown field \"ouput\" (did you mean \"output\"?)\n"},
		{name: "missing spec", args: []string{"test", wasm, "testdata/nope.yaml"}, code: 2, contains: []string{"freshet test: reading test spec: open testdata/nope.yaml: no such file or directory"}},
		{name: "missing module", args: []string{"test", "nope.wasm", "testdata/upper.yaml"}, code: 2, err: "freshet test: nope.wasm: no such module or operator project\n"},
		{name: "not a module", args: []string{"test", "testdata/upper.yaml", "testdata/upper.yaml"}, code: 1, contains: []string{"not a WebAssembly binary"}},
		{name: "too few arguments", args: []string{"test", wasm}, code: 2, contains: []string{"expected a module (or an operator project directory) and one or more spec files"}},
		{name: "help", args: []string{"test", "--help"}, code: 0, contains: []string{"Usage: freshet test [flags] MODULE.wasm|DIR SPEC.yaml...", "-run"}},
		{name: "a project directory is built first", args: []string{"test", "testdata/upper", "testdata/upper.yaml"}, code: 0, contains: []string{"\n2 passed, 0 failed\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(context.Background(), tc.args...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tc.code, r.out, r.errout)
			}
			if tc.out != "" && r.out != tc.out {
				t.Errorf("stdout:\n%s\nwant:\n%s", r.out, tc.out)
			}
			if tc.err != "" && r.errout != tc.err {
				t.Errorf("stderr:\n%s\nwant:\n%s", r.errout, tc.err)
			}
			both := r.out + r.errout
			for _, w := range tc.contains {
				if !strings.Contains(both, w) {
					t.Errorf("output lacks %q:\nstdout: %s\nstderr: %s", w, r.out, r.errout)
				}
			}
		})
	}
}
