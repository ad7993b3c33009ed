package cli_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// upperWasm builds testdata/upper once with `freshet build` and returns the
// module's path.
var upper struct {
	once sync.Once
	path string
	res  result
}

func upperWasm(t *testing.T) string {
	t.Helper()
	upper.once.Do(func() {
		dir, err := os.MkdirTemp("", "freshet-cli-build-")
		if err != nil {
			t.Fatal(err)
		}
		upper.path = filepath.Join(dir, "out", "upper.wasm")
		upper.res = run(context.Background(), "build", "testdata/upper", "-o", upper.path)
	})
	if upper.res.code != 0 {
		t.Fatalf("freshet build testdata/upper: exit %d\n%s%s", upper.res.code, upper.res.out, upper.res.errout)
	}
	return upper.path
}

func TestBuildPrintsWhatTheModuleHolds(t *testing.T) {
	path := upperWasm(t)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	out := upper.res.out
	for _, want := range []string{
		"Built " + path + " (Go, ",
		"  sha256:    " + hex.EncodeToString(sum[:]) + "\n",
		"  ABI:       v1, freshet-sdk-go ",
		"  functions: upper (map)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if upper.res.errout != "" {
		t.Errorf("a successful build printed to stderr:\n%s", upper.res.errout)
	}
}

func TestBuildWritesBuildNameWasmByDefault(t *testing.T) {
	upperWasm(t) // warm the Go build cache
	src, err := filepath.Abs("testdata/upper")
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	r := run(context.Background(), "build", src)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.errout)
	}
	if _, err := os.Stat(filepath.Join("build", "upper.wasm")); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(r.out, "Built "+filepath.Join("build", "upper.wasm")+" ") {
		t.Errorf("got %q", r.out)
	}
}

func TestBuildErrors(t *testing.T) {
	tmp := t.TempDir()
	write := func(path, content string) string {
		t.Helper()
		p := filepath.Join(tmp, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
		return filepath.Dir(p)
	}
	empty := filepath.Join(tmp, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	badGo := write("badgo/main.go", "package main\n\nfunc init() { undefinedThing() }\n\nfunc main() {}\n")
	write("badgo/go.mod", "module example.com/badgo\n\ngo 1.26\n")
	noSDK := write("nosdk/main.go", "package main\n\nfunc main() {}\n")
	write("nosdk/go.mod", "module example.com/nosdk\n\ngo 1.26\n")
	badRust := write("badrust/Cargo.toml", "[package]\nname = \"badrust\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[lib]\ncrate-type = [\"cdylib\"]\n")
	write("badrust/src/lib.rs", "pub fn f() -> u32 { \"not a number\" }\n")
	// A rustc whose sysroot has no wasm32 standard library.
	fakeRustc := filepath.Join(write("bin/rustc", "#!/bin/sh\necho "+tmp+"\n"), "rustc")

	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"no directory", []string{"build"}, 2, []string{"expected one operator project directory"}},
		{"missing directory", []string{"build", filepath.Join(tmp, "nope")}, 2, []string{"nope: no such directory"}},
		{"a file", []string{"build", filepath.Join(badGo, "main.go")}, 2, []string{"main.go is not a directory"}},
		{"not a project", []string{"build", empty}, 2, []string{empty + " is not an operator project", "go.mod", "Cargo.toml"}},
		{"Go missing", []string{"build", badGo, "--go", filepath.Join(tmp, "no-go")}, 1, []string{
			"is a Go project, but the Go toolchain", "no-go", "not installed", "Debian package golang-go"}},
		{"cargo missing", []string{"build", badRust, "--cargo", filepath.Join(tmp, "no-cargo")}, 1, []string{
			"is a Rust project, but cargo", "Debian package cargo"}},
		{"rustc missing", []string{"build", badRust, "--rustc", filepath.Join(tmp, "no-rustc")}, 1, []string{
			"the Rust compiler", "Debian package rustc"}},
		{"no wasm32 std", []string{"build", badRust, "--rustc", fakeRustc}, 1, []string{
			"has no standard library for wasm32-unknown-unknown", "Debian package libstd-rust-dev-wasm32"}},
		{"Go compile error", []string{"build", badGo, "-o", filepath.Join(tmp, "out", "bad.wasm")}, 1, []string{
			"freshet build: building " + badGo + ": go build", "exit status 1\n", "undefined: undefinedThing"}},
		{"Go compile error, compiler output streamed", []string{"build", "-v", badGo, "-o", filepath.Join(tmp, "out", "bad.wasm")}, 1, []string{
			"undefined: undefinedThing\nfreshet build: building " + badGo + ": go build"}},
		{"Rust compile error", []string{"build", badRust, "-o", filepath.Join(tmp, "out", "bad.wasm")}, 1, []string{
			"freshet build: building " + badRust + ": ", "cargo build", "mismatched types"}},
		{"not built with an SDK", []string{"build", noSDK, "-o", filepath.Join(tmp, "out", "nosdk.wasm")}, 1, []string{
			"built " + filepath.Join(tmp, "out", "nosdk.wasm") + ", but the host rejects it", "\n  does not export freshet_init (is it built with a Freshet SDK?)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(context.Background(), tc.args...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tc.code, r.out, r.errout)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.errout, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.errout)
				}
			}
			if r.out != "" {
				t.Errorf("stdout: %q", r.out)
			}
		})
	}
}

func TestBuildHelp(t *testing.T) {
	r := run(context.Background(), "build", "--help")
	if r.code != 0 || !strings.Contains(r.errout, "Usage: freshet build [flags] DIR") || !strings.Contains(r.errout, "build/<DIR's name>.wasm") {
		t.Fatalf("exit %d\n%s", r.code, r.errout)
	}
}
