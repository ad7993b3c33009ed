package job_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/freshet/freshet/engine/job"
	"github.com/freshet/freshet/engine/jobspec"
	"github.com/freshet/freshet/host"
	"github.com/freshet/freshet/host/wasmop"
)

// TestExamples builds every job file in examples/ with the default
// registry plus WebAssembly operators, so the examples stay valid as the
// components change. Examples that use plugins need `make plugins` first;
// outside CI they are skipped when the modules are not built.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "examples", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	rt, err := host.NewRuntime(context.Background(), host.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	reg := job.DefaultRegistry()
	wasmop.Register(reg, wasmop.Loader{Runtime: rt})
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(data), "plugins/build/") {
				if _, err := os.Stat(filepath.Join("..", "..", "plugins", "build")); err != nil && os.Getenv("CI") == "" {
					t.Skip("plugins are not built (make plugins)")
				}
			}
			spec, err := jobspec.Load(file)
			if err != nil {
				t.Fatal(err)
			}
			// Module paths in examples are relative to the repository root.
			wd, _ := os.Getwd()
			if err := os.Chdir(filepath.Join("..", "..")); err != nil {
				t.Fatal(err)
			}
			defer os.Chdir(wd)
			if err := jobspec.Check(spec, reg); err != nil {
				t.Fatal(err)
			}
		})
	}
}
