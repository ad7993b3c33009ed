package build_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/freshet/freshet/host"
	"github.com/freshet/freshet/host/abi"
	"github.com/freshet/freshet/host/build"
)

func TestDetect(t *testing.T) {
	tests := []struct {
		dir  string
		want build.Lang
	}{
		{"../testdata/guests", build.Go},         // go.mod
		{"../testdata/guests/kitchen", build.Go}, // .go files, go.mod above
		{"../testdata/guests/rust-maps", build.Rust},
	}
	for _, tc := range tests {
		if got, err := build.Detect(tc.dir); err != nil || got != tc.want {
			t.Errorf("Detect(%s) = %q, %v; want %q", tc.dir, got, err, tc.want)
		}
	}
	if _, err := build.Detect(t.TempDir()); !errors.Is(err, build.ErrUnknownProject) {
		t.Errorf("empty dir: %v", err)
	}
}

func load(t *testing.T, path string) *host.Module {
	t.Helper()
	ctx := context.Background()
	rt, err := host.NewRuntime(ctx, host.Config{CompilationCacheDir: filepath.Join(os.TempDir(), "freshet-host-test-compilation-cache")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(ctx) })
	m, err := rt.LoadFile(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestBuildGo(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out", "kitchen.wasm")
	if err := build.Build("../testdata/guests/kitchen", out); err != nil {
		t.Fatal(err)
	}
	m := load(t, out)
	if _, err := m.Function("upper", abi.KindMap); err != nil {
		t.Fatal(err)
	}
}

func TestBuildRust(t *testing.T) {
	if _, err := os.Stat("/usr/bin/cargo"); err != nil {
		t.Skip("no /usr/bin/cargo")
	}
	out := filepath.Join(t.TempDir(), "maps.wasm")
	err := build.BuildContext(context.Background(), "../testdata/guests/rust-maps", out,
		build.Options{TargetDir: filepath.Join(os.TempDir(), "freshet-host-test-cargo-target")})
	if err != nil {
		t.Fatal(err)
	}
	m := load(t, out)
	if _, err := m.Function("upper", abi.KindMap); err != nil || m.SDK == "" {
		t.Fatalf("%v (sdk %q)", err, m.SDK)
	}
}

func TestBuildErrorsCarryCompilerOutput(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module broken\n\ngo 1.26\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() { undefinedThing() }\n"), 0o644)
	err := build.Build(dir, filepath.Join(dir, "x.wasm"))
	if err == nil || !strings.Contains(err.Error(), "undefinedThing") {
		t.Fatalf("got %v", err)
	}
}
