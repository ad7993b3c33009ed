package cli_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDocumentedOperators builds the example module of docs/operators.md
// (testdata/sensors) in Go and in Rust, runs its spec against both builds,
// validates its job file, and checks that the guide shows exactly these files.
func TestDocumentedOperators(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Go and Rust modules")
	}
	doc, err := os.ReadFile("../../docs/operators.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"sensors/go/main.go", "sensors/rust/src/lib.rs", "sensors/sensors_test.yaml", "sensors/alerts.yaml"} {
		b, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(doc), string(b)) {
			t.Errorf("docs/operators.md does not show testdata/%s as it is", f)
		}
	}
	ctx := context.Background()
	tmp := t.TempDir()
	for _, lang := range []string{"go", "rust"} {
		t.Run(lang, func(t *testing.T) {
			wasm := filepath.Join(tmp, lang, "sensors.wasm")
			r := run(ctx, "build", filepath.Join("testdata", "sensors", lang), "-o", wasm, "--target-dir", filepath.Join(tmp, "target"))
			if r.code != 0 || !strings.Contains(r.out, "  functions: to-celsius (map), threshold (process), mean (aggregate)\n") {
				t.Fatalf("build: exit %d\n%s%s", r.code, r.out, r.errout)
			}
			r = run(ctx, "test", wasm, "testdata/sensors/sensors_test.yaml")
			if r.code != 0 || !strings.HasSuffix(r.out, "\n8 passed, 0 failed\n") {
				t.Fatalf("test: exit %d\n%s%s", r.code, r.out, r.errout)
			}
			r = run(ctx, "validate", "testdata/sensors/alerts.yaml", "--set", "operators.alerts.module="+wasm,
				"--set", "sources.readings.path=testdata/sensors/readings.jsonl")
			if r.code != 0 {
				t.Fatalf("validate: exit %d\n%s%s", r.code, r.out, r.errout)
			}
		})
	}
}
