package lint

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestRepository is the rule itself: Freshet's packages keep their
// boundaries. A failure names the file and line to fix.
func TestRepository(t *testing.T) {
	root := repoRoot(t)
	vs, err := Check(root, Rules, LineLimits)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		t.Errorf("%s", v)
	}
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if mp, err := modulePath(filepath.Join(dir, "go.mod")); err == nil && mp == module {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("no go.mod of module %s above the test's directory", module)
		}
		dir = parent
	}
}

// writeTree writes files (path -> contents) under a new temporary directory.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, body := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const gomod = "module github.com/freshet/freshet\n\ngo 1.26\n"

func src(pkg string, imports ...string) string {
	var b strings.Builder
	b.WriteString("package " + pkg + "\n\nimport (\n")
	for _, imp := range imports {
		b.WriteString("\t_ \"" + imp + "\"\n")
	}
	b.WriteString(")\n")
	return b.String()
}

func TestCheck(t *testing.T) {
	const (
		wazero  = "github.com/tetratelabs/wazero"
		rocks   = "github.com/linxGnu/grocksdb"
		kgo     = "github.com/twmb/franz-go/pkg/kgo"
		kfTest  = module + "/engine/internal/kafkatest"
		keygrp  = module + "/engine/keygroup"
		apiPath = module + "/engine/api"
	)
	tests := []struct {
		name  string
		files map[string]string
		want  []string // "file:line: fragment"
	}{
		{
			name: "allowed imports pass",
			files: map[string]string{
				"host/wasm.go":                            src("host", wazero),
				"host/internal/abi/abi.go":                src("abi", wazero+"/api"),
				"engine/state/rocksdb/db.go":              src("rocksdb", rocks),
				"engine/connectors/kafka/source.go":       src("kafka", kgo, apiPath),
				"engine/internal/kafkatest/kt.go":         src("kafkatest", kgo),
				"engine/internal/kafkatest/cmd/x/main.go": src("main", kfTest),
				"engine/runtime/runtime_test.go":          src("runtime", kfTest),
				"engine/api/api.go":                       src("api", "fmt"),
				"engine/api/api_test.go":                  src("api_test", apiPath),
				"cmd/freshet/main.go":                     src("main", "os"),
			},
		},
		{
			name: "wazero outside host",
			files: map[string]string{
				"engine/runtime/op.go": src("runtime", "fmt", wazero),
			},
			want: []string{"engine/runtime/op.go:5: imports github.com/tetratelabs/wazero: only host/... may import it"},
		},
		{
			name: "a sibling named like host is not under host",
			files: map[string]string{
				"hostile/x.go": src("hostile", wazero+"/api"),
			},
			want: []string{"hostile/x.go:4: imports github.com/tetratelabs/wazero/api: only host/..."},
		},
		{
			name: "grocksdb outside the rocksdb backend, even in a test",
			files: map[string]string{
				"engine/state/heap/heap_test.go": src("heap", rocks),
			},
			want: []string{"engine/state/heap/heap_test.go:4: imports github.com/linxGnu/grocksdb: only engine/state/rocksdb/..."},
		},
		{
			name: "franz-go outside the connector",
			files: map[string]string{
				"engine/runtime/sink.go":      src("runtime", kgo),
				"engine/connectors/file/f.go": src("file", "github.com/twmb/franz-go/pkg/kadm"),
			},
			want: []string{
				"engine/connectors/file/f.go:4: imports github.com/twmb/franz-go/pkg/kadm: only engine/connectors/kafka/..., engine/internal/kafkatest/...",
				"engine/runtime/sink.go:4: imports github.com/twmb/franz-go/pkg/kgo: only engine/connectors/kafka/...",
			},
		},
		{
			name: "kafkatest in production code",
			files: map[string]string{
				"engine/connectors/kafka/sink.go": src("kafka", kfTest),
			},
			want: []string{"engine/connectors/kafka/sink.go:4: imports " + kfTest + ": only _test.go files and engine/internal/kafkatest/..."},
		},
		{
			name: "engine/api importing the project",
			files: map[string]string{
				"engine/api/record.go":   src("api", "errors", keygrp),
				"engine/api/x_test.go":   src("api_test", apiPath, keygrp),
				"engine/api/sub/more.go": src("sub", apiPath), // a subpackage is not engine/api
			},
			want: []string{
				"engine/api/record.go:5: imports " + keygrp + ": packages matching engine/api may not import it",
				"engine/api/x_test.go:5: imports " + keygrp + ": packages matching engine/api may not import it",
			},
		},
		{
			name: "fat main",
			files: map[string]string{
				"cmd/freshet/main.go":      "package main\n" + strings.Repeat("\n", 38) + "func main() {}\n",
				"cmd/freshet/main_test.go": "package main\n" + strings.Repeat("\n", 100),
				"cmd/tool/main.go":         "package main\n" + strings.Repeat("\n", 37) + "func main() {}\n",
			},
			want: []string{"cmd/freshet/main.go:40: has 40 lines, files under cmd/... must have fewer than 40"},
		},
		{
			name: "skipped directories",
			files: map[string]string{
				"sdk-go/go.mod":                 "module github.com/freshet/freshet/sdk-go\n",
				"sdk-go/x.go":                   src("sdk", wazero),
				"engine/x/testdata/bad.go":      src("bad", wazero),
				".cache/tool/x.go":              src("x", wazero),
				"_scratch/x.go":                 src("x", wazero),
				"vendor/github.com/foo/x/x.go":  src("x", wazero),
				"engine/x/README.md":            "import " + wazero,
				"engine/x/ok.go":                src("x", "fmt"),
				"engine/x/gen/ignored_linux.go": "//go:build ignore\n\n" + src("main", rocks),
			},
			want: []string{"engine/x/gen/ignored_linux.go:6: imports github.com/linxGnu/grocksdb"},
		},
		{
			name: "unparsable file",
			files: map[string]string{
				"engine/x/broken.go": "package x\nimport (\n",
			},
			want: []string{"engine/x/broken.go:1: does not parse"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{"go.mod": gomod}
			for k, v := range tt.files {
				files[k] = v
			}
			vs, err := Check(writeTree(t, files), Rules, LineLimits)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]string, len(vs))
			for i, v := range vs {
				got[i] = v.String()
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d violations, want %d:\n  got:  %s\n  want: %s",
					len(got), len(tt.want), strings.Join(got, "\n        "), strings.Join(tt.want, "\n        "))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("violation %d:\n  got:  %s\n  want: %s...", i, got[i], tt.want[i])
				}
				if !strings.Contains(got[i], "(") || !strings.HasSuffix(got[i], ")") {
					t.Errorf("violation %q does not say why", got[i])
				}
			}
		})
	}
}

func TestCheckWithoutModule(t *testing.T) {
	root := writeTree(t, map[string]string{"x.go": "package x\n"})
	if _, err := Check(root, Rules, LineLimits); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Check without go.mod: err = %v, want one wrapping os.ErrNotExist", err)
	}
	root = writeTree(t, map[string]string{"go.mod": "go 1.26\n"})
	if _, err := Check(root, Rules, LineLimits); !errors.Is(err, ErrNoModule) {
		t.Fatalf("Check with a go.mod without module line: err = %v, want ErrNoModule", err)
	}
}

func TestMatchPattern(t *testing.T) {
	tests := []struct {
		pat, dir string
		want     bool
	}{
		{"host/...", "host", true},
		{"host/...", "host/abi", true},
		{"host/...", "hostile", false},
		{"host/...", "", false},
		{"engine/api", "engine/api", true},
		{"engine/api", "engine/api/sub", false},
		{"engine/api", "engine", false},
	}
	for _, tt := range tests {
		if got := matchPattern(tt.pat, tt.dir); got != tt.want {
			t.Errorf("matchPattern(%q, %q) = %v, want %v", tt.pat, tt.dir, got, tt.want)
		}
	}
}

func TestRulesAreWellFormed(t *testing.T) {
	for _, r := range Rules {
		if r.Import == "" || r.Why == "" {
			t.Errorf("rule %+v needs an Import and a Why", r)
		}
		for _, p := range slices.Concat(r.Allow, r.Deny) {
			if strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || strings.Contains(p, "\\") {
				t.Errorf("rule for %s: pattern %q must be a relative slash path", r.Import, p)
			}
		}
	}
}
