// Package build compiles an operator project to a WebAssembly module the
// host can run: a Go project (go.mod) with the Go SDK, or a Rust project
// (Cargo.toml) with the Rust SDK.
//
//   - Go: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath.
//     Go guests are WASI reactors; the host runs _initialize.
//   - Rust: cargo build --release --offline --target wasm32-unknown-unknown
//     with RUSTFLAGS "-C target-feature=+simd128,+bulk-memory". The
//     unknown-unknown target needs no WASI and has no per-export
//     constructor wrappers (which wasm32-wasi adds to every export); SIMD
//     and bulk memory make byte loops 2–6× faster. Debian's cargo and rustc
//     (/usr/bin) are preferred: they carry the wasm32 standard library.
//
// `freshet build` calls Build.
package build

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// RustTarget is the Rust target operator modules are built for.
const RustTarget = "wasm32-unknown-unknown"

// RustFlags are the code generation flags of Rust operator modules.
const RustFlags = "-C target-feature=+simd128,+bulk-memory"

// ErrUnknownProject: the directory holds neither a Go nor a Rust project.
var ErrUnknownProject = errors.New("not a Go (go.mod) or Rust (Cargo.toml) operator project")

// Lang is a project's language.
type Lang string

const (
	Go   Lang = "go"
	Rust Lang = "rust"
)

// Options configure BuildContext.
type Options struct {
	// Stdout and Stderr receive the compiler's output (default: captured
	// and returned in the error on failure).
	Stdout, Stderr io.Writer
	// Go, Cargo and Rustc name the tools (defaults: "go"; /usr/bin/cargo
	// and /usr/bin/rustc when present, else from PATH).
	Go, Cargo, Rustc string
	// TargetDir is Cargo's target directory (default <dir>/target).
	TargetDir string
}

// Detect says what kind of project dir is: Rust if it has Cargo.toml; Go
// if it has go.mod, or .go files and a go.mod in a parent directory.
func Detect(dir string) (Lang, error) {
	if fileExists(filepath.Join(dir, "Cargo.toml")) {
		return Rust, nil
	}
	if fileExists(filepath.Join(dir, "go.mod")) {
		return Go, nil
	}
	if goFiles, _ := filepath.Glob(filepath.Join(dir, "*.go")); len(goFiles) > 0 {
		abs, err := filepath.Abs(dir)
		if err == nil {
			for d := filepath.Dir(abs); ; d = filepath.Dir(d) {
				if fileExists(filepath.Join(d, "go.mod")) {
					return Go, nil
				}
				if filepath.Dir(d) == d {
					break
				}
			}
		}
	}
	return "", fmt.Errorf("building %s: %w", dir, ErrUnknownProject)
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// Build compiles the project in dir into the module file out.
func Build(dir, out string) error { return BuildContext(context.Background(), dir, out, Options{}) }

// BuildContext is Build with a context and options.
func BuildContext(ctx context.Context, dir, out string, o Options) error {
	lang, err := Detect(dir)
	if err != nil {
		return err
	}
	absOut, err := filepath.Abs(out)
	if err != nil {
		return fmt.Errorf("building %s: %w", dir, err)
	}
	if err := os.MkdirAll(filepath.Dir(absOut), 0o755); err != nil {
		return fmt.Errorf("building %s: %w", dir, err)
	}
	switch lang {
	case Go:
		return buildGo(ctx, dir, absOut, o)
	default:
		return buildRust(ctx, dir, absOut, o)
	}
}

func run(ctx context.Context, dir string, env []string, o Options, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var captured bytes.Buffer
	cmd.Stdout, cmd.Stderr = o.Stdout, o.Stderr
	if cmd.Stdout == nil {
		cmd.Stdout = &captured
	}
	if cmd.Stderr == nil {
		cmd.Stderr = &captured
	}
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(captured.String())
		if msg != "" {
			msg = "\n" + msg
		}
		return fmt.Errorf("building %s: %s %s: %w%s", dir, name, strings.Join(args, " "), err, msg)
	}
	return nil
}

func buildGo(ctx context.Context, dir, out string, o Options) error {
	goTool := o.Go
	if goTool == "" {
		goTool = "go"
	}
	return run(ctx, dir, []string{"GOOS=wasip1", "GOARCH=wasm"}, o, goTool,
		"build", "-buildmode=c-shared", "-trimpath", "-o", out, ".")
}

func preferDebian(given, name string) string {
	if given != "" {
		return given
	}
	if p := "/usr/bin/" + name; fileExists(p) {
		return p
	}
	return name
}

func buildRust(ctx context.Context, dir, out string, o Options) error {
	lib, err := crateLibName(filepath.Join(dir, "Cargo.toml"))
	if err != nil {
		return fmt.Errorf("building %s: %w", dir, err)
	}
	target := o.TargetDir
	if target == "" {
		target = filepath.Join(dir, "target")
	}
	target, err = filepath.Abs(target)
	if err != nil {
		return fmt.Errorf("building %s: %w", dir, err)
	}
	cargo, rustc := preferDebian(o.Cargo, "cargo"), preferDebian(o.Rustc, "rustc")
	env := []string{"RUSTC=" + rustc, "CARGO_TARGET_DIR=" + target, "RUSTFLAGS=" + RustFlags}
	if err := run(ctx, dir, env, o, cargo, "build", "--release", "--offline", "--target", RustTarget, "--lib"); err != nil {
		return err
	}
	built := filepath.Join(target, RustTarget, "release", lib+".wasm")
	b, err := os.ReadFile(built)
	if err != nil {
		return fmt.Errorf("building %s: cargo did not produce %s (is the crate-type cdylib?): %w", dir, built, err)
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		return fmt.Errorf("building %s: %w", dir, err)
	}
	return nil
}

// crateLibName reads the library name of a Cargo.toml: [lib] name, or the
// [package] name with '-' replaced by '_'. It understands the simple TOML
// that Cargo manifests use for these keys.
func crateLibName(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var section, pkg, lib string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(line, '#'); i >= 0 && !strings.Contains(line[:i], `"`) {
			line = strings.TrimSpace(line[:i])
		}
		if strings.HasPrefix(line, "[") {
			section = strings.Trim(line, "[] ")
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(k) != "name" {
			continue
		}
		v = strings.Trim(strings.TrimSpace(v), `"'`)
		switch section {
		case "package":
			pkg = v
		case "lib":
			lib = v
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	switch {
	case lib != "":
		return strings.ReplaceAll(lib, "-", "_"), nil
	case pkg != "":
		return strings.ReplaceAll(pkg, "-", "_"), nil
	}
	return "", fmt.Errorf("%s has no [package] name (a workspace? build one of its members)", path)
}
