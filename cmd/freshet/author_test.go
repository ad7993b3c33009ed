package main_test

// End-to-end tests of the operator-author commands: freshet build compiles
// the reference tokenizer in Go and in Rust, freshet test runs the plugins'
// test specs (plugins/tests) against those builds and against
// plugins/build/{go,rust} (made by `make -C plugins`).

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

var authorBuild struct {
	once sync.Once
	dir  string // where the builds go
	res  map[string]result
}

// builtTokenizer builds plugins/<lang>/tokenizer with freshet build, once
// per test binary, and returns the module's path.
func builtTokenizer(t *testing.T, lang string) string {
	t.Helper()
	root := repoRoot(t)
	authorBuild.once.Do(func() {
		// Next to the freshet binary: TestMain removes that directory.
		dir := filepath.Join(filepath.Dir(freshet), "author")
		authorBuild.dir, authorBuild.res = dir, map[string]result{}
		for _, l := range []string{"go", "rust"} {
			authorBuild.res[l] = run(t, root, "build", filepath.Join("plugins", l, "tokenizer"),
				"-o", filepath.Join(dir, l, "tokenizer.wasm"), "--target-dir", filepath.Join(dir, "target"))
		}
	})
	if r := authorBuild.res[lang]; r.code != 0 {
		t.Fatalf("freshet build plugins/%s/tokenizer: exit %d\n%s%s", lang, r.code, r.stdout, r.stderr)
	}
	return filepath.Join(authorBuild.dir, lang, "tokenizer.wasm")
}

var summary = regexp.MustCompile(`(?m)^(\d+) passed, (\d+) failed$`)

func TestBuildAndTestTokenizers(t *testing.T) {
	root := repoRoot(t)
	for _, lang := range []string{"go", "rust"} {
		t.Run(lang, func(t *testing.T) {
			wasm := builtTokenizer(t, lang)
			b, err := os.ReadFile(wasm)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(b)
			out := authorBuild.res[lang].stdout
			langName := map[string]string{"go": "Go", "rust": "Rust"}[lang]
			for _, want := range []string{"Built " + wasm + " (" + langName + ", ", "  sha256:    " + hex.EncodeToString(sum[:]) + "\n",
				"  ABI:       v1, freshet-sdk-" + lang + " ", "  functions: tokenize (flat-map)\n"} {
				if !strings.Contains(out, want) {
					t.Errorf("freshet build output lacks %q:\n%s", want, out)
				}
			}
			r := run(t, root, "test", wasm, "plugins/tests/tokenizer.yaml")
			m := summary.FindStringSubmatch(r.stdout)
			if r.code != 0 || m == nil || m[1] == "0" || m[2] != "0" || strings.Contains(r.stdout, "FAIL") {
				t.Fatalf("freshet test: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
		})
	}
	t.Run("project directory", func(t *testing.T) {
		builtTokenizer(t, "rust") // the target directory holds the build already
		r := run(t, root, "test", "plugins/rust/tokenizer", "plugins/tests/tokenizer.yaml", "--target-dir", filepath.Join(authorBuild.dir, "target"))
		if m := summary.FindStringSubmatch(r.stdout); r.code != 0 || m == nil || m[2] != "0" {
			t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	})
}

// TestPluginSpecsPassOnBothBuilds runs every plugin's spec against the Go and
// the Rust build of that plugin (they must behave the same).
func TestPluginSpecsPassOnBothBuilds(t *testing.T) {
	root := repoRoot(t)
	specs, err := filepath.Glob(filepath.Join(root, "plugins", "tests", "*.yaml"))
	if err != nil || len(specs) < 3 {
		t.Fatalf("plugin specs: %v %v", specs, err)
	}
	for _, lang := range []string{"go", "rust"} {
		for _, s := range specs {
			name := strings.TrimSuffix(filepath.Base(s), ".yaml")
			t.Run(lang+"/"+name, func(t *testing.T) {
				wasm := filepath.Join("plugins", "build", lang, name+".wasm")
				if _, err := os.Stat(filepath.Join(root, wasm)); err != nil {
					if os.Getenv("CI") != "" {
						t.Fatalf("%s is missing (make -C plugins builds it): %v", wasm, err)
					}
					t.Skipf("%s is missing; run make -C plugins", wasm)
				}
				r := run(t, root, "test", wasm, filepath.Join("plugins", "tests", name+".yaml"))
				m := summary.FindStringSubmatch(r.stdout)
				if r.code != 0 || m == nil || m[1] == "0" || m[2] != "0" {
					t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
				}
			})
		}
	}
}

func TestTestReportsFailuresAndMalformedSpecs(t *testing.T) {
	root := repoRoot(t)
	wasm := builtTokenizer(t, "go")
	dir := t.TempDir()
	wrong := filepath.Join(dir, "wrong.yaml")
	writeFile(t, wrong, `function: tokenize
cases:
  - name: right
    steps:
      - record: "a b"
        output: [a, b]
  - name: wrong
    steps:
      - record: {value: "Hello there", timestamp: 5}
        output:
          - {key: hello, value: hello, timestamp: 5}
          - {key: there, value: There, timestamp: 5}
`)
	r := run(t, root, "test", wasm, wrong)
	want := "FAIL  wrong (" + wrong + ":7, "
	diff := "      step 1 (" + wrong + ":9, record):\n" +
		"        output differs: expected 2 records, got 2 (- expected, + got):\n" +
		"            [0] {key \"hello\", value \"hello\", timestamp 5}\n" +
		"          - [1] {key \"there\", value \"There\", timestamp 5}\n" +
		"          + [1] {key \"there\", value \"there\", timestamp 5}\n" +
		"1 passed, 1 failed\n"
	if r.code != 1 || !strings.Contains(r.stdout, "PASS  right") || !strings.Contains(r.stdout, want) || !strings.HasSuffix(r.stdout, diff) {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	malformed := filepath.Join(dir, "malformed.yaml")
	writeFile(t, malformed, "cases:\n  - name: x\n    steps:\n      - record: a\n        watermark: 5\n")
	r = run(t, root, "test", wasm, malformed)
	if r.code != 2 || r.stdout != "" || r.stderr != "freshet test: "+malformed+":5:9: case \"x\": step 1: a step does one thing, this one has record and watermark (split it into two steps)\n" {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
}

func TestBuildRejectsWhatIsNotAnOperatorProject(t *testing.T) {
	dir := t.TempDir()
	r := run(t, dir, "build", ".")
	if r.code != 2 || !strings.Contains(r.stderr, ". is not an operator project: it has neither go.mod (Go) nor Cargo.toml (Rust)") {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
}
