package cli

import (
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/freshet/freshet/host"
	"github.com/freshet/freshet/host/build"
)

// The operator-author commands: `freshet build` compiles an operator project
// into a module and checks it in the host; `freshet test` (optest.go) runs
// test specs against a module.

// toolFlags name the compilers `freshet build` and `freshet test DIR` use.
type toolFlags struct {
	goTool, cargo, rustc, targetDir *string
	verbose                         *bool
}

func addToolFlags(fs *flag.FlagSet) *toolFlags {
	return &toolFlags{
		goTool:    fs.String("go", "go", "the Go tool (Go projects)"),
		cargo:     fs.String("cargo", "", "the cargo tool (Rust projects; default /usr/bin/cargo when present, else cargo on PATH)"),
		rustc:     fs.String("rustc", "", "the Rust compiler (Rust projects; default /usr/bin/rustc when present, else rustc on PATH)"),
		targetDir: fs.String("target-dir", "", "cargo's target directory (Rust projects; default DIR/target)"),
		verbose:   fs.Bool("v", false, "show the compiler's output as it runs (by default it is shown only when the build fails)"),
	}
}

// debianTool returns given, or /usr/bin/name when it exists, or name: the
// Rust toolchain of Debian carries the wasm32 standard library.
func debianTool(given, name string) string {
	if given != "" {
		return given
	}
	if p := "/usr/bin/" + name; fileExists(p) {
		return p
	}
	return name
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// checkToolchain reports what is missing to build a project of lang, naming
// the Debian package that provides it.
func checkToolchain(ctx context.Context, lang build.Lang, t *toolFlags) error {
	missing := func(tool, what, pkg string) error {
		return fmt.Errorf("%s (%q) is not installed or not on PATH; install the Debian package %s", what, tool, pkg)
	}
	if lang == build.Go {
		if _, err := exec.LookPath(*t.goTool); err != nil {
			return fmt.Errorf("%w (the Go SDK needs the Go version its go.mod names; Debian's package may be older, then install a Go release)",
				missing(*t.goTool, "the Go toolchain", "golang-go"))
		}
		return nil
	}
	cargo, rustc := debianTool(*t.cargo, "cargo"), debianTool(*t.rustc, "rustc")
	if _, err := exec.LookPath(cargo); err != nil {
		return missing(cargo, "cargo", "cargo")
	}
	if _, err := exec.LookPath(rustc); err != nil {
		return missing(rustc, "the Rust compiler", "rustc")
	}
	out, err := exec.CommandContext(ctx, rustc, "--print", "sysroot").Output()
	if err != nil {
		return fmt.Errorf("running %s --print sysroot failed: %v", rustc, err)
	}
	std := filepath.Join(strings.TrimSpace(string(out)), "lib", "rustlib", build.RustTarget)
	if !fileExists(std) {
		return fmt.Errorf("%s has no standard library for %s (no %s); install the Debian package libstd-rust-dev-wasm32",
			rustc, build.RustTarget, std)
	}
	return nil
}

// defaultModulePath is where `freshet build DIR` writes: build/<name>.wasm
// under the current directory, <name> being DIR's base name.
func defaultModulePath(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	return filepath.Join("build", filepath.Base(abs)+".wasm")
}

// buildProject compiles the project in dir into out. On failure it prints
// the error (and the compiler's output) and returns the exit code.
func buildProject(ctx context.Context, stdio IO, prefix, dir, out string, t *toolFlags) (build.Lang, int) {
	info, err := os.Stat(dir)
	switch {
	case err != nil:
		fmt.Fprintf(stdio.Err, "%s: %s: no such directory\n", prefix, dir)
		return "", ExitUsage
	case !info.IsDir():
		fmt.Fprintf(stdio.Err, "%s: %s is not a directory (give the operator project's directory)\n", prefix, dir)
		return "", ExitUsage
	}
	lang, err := build.Detect(dir)
	if err != nil {
		fmt.Fprintf(stdio.Err, "%s: %s is not an operator project: it has neither go.mod (Go) nor Cargo.toml (Rust), nor .go files inside a Go module\n", prefix, dir)
		return "", ExitUsage
	}
	if err := checkToolchain(ctx, lang, t); err != nil {
		fmt.Fprintf(stdio.Err, "%s: %s is a %s project, but %s\n", prefix, dir, langName(lang), err)
		return lang, ExitFailure
	}
	var captured strings.Builder
	var w io.Writer = &captured
	if *t.verbose {
		w = stdio.Err
	}
	err = build.BuildContext(ctx, dir, out, build.Options{Stdout: w, Stderr: w,
		Go: *t.goTool, Cargo: debianTool(*t.cargo, "cargo"), Rustc: debianTool(*t.rustc, "rustc"), TargetDir: *t.targetDir})
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(stdio.Err, "%s: building %s: interrupted\n", prefix, dir)
			return lang, ExitInterrupted
		}
		fmt.Fprintf(stdio.Err, "%s: %v\n", prefix, err)
		if s := strings.TrimRight(captured.String(), "\n"); s != "" {
			fmt.Fprintln(stdio.Err, s)
		}
		return lang, ExitFailure
	}
	return lang, ExitOK
}

func langName(l build.Lang) string {
	if l == build.Rust {
		return "Rust"
	}
	return "Go"
}

// newAuthorRuntime is the WebAssembly runtime of build and test: the
// on-disk compilation cache is shared with `freshet run`, so a module
// checked by `freshet build` starts at once in `freshet test`.
func newAuthorRuntime(ctx context.Context) (*host.Runtime, error) {
	rt, err := host.NewRuntime(ctx, host.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, fmt.Errorf("starting the WebAssembly runtime: %w", err)
	}
	return rt, nil
}

func buildCmd(ctx context.Context, stdio IO, args []string) int {
	fs := newFlags(stdio, "build", "DIR", "Build the operator project in DIR into a WebAssembly module: a Go project (go.mod, Go SDK)\n"+
		"with GOOS=wasip1 GOARCH=wasm -buildmode=c-shared, or a Rust project (Cargo.toml, Rust SDK) for\n"+
		build.RustTarget+" with SIMD and bulk memory. Then load the module in the host to check\n"+
		"it (ABI version, exports, the functions it describes) and print what it holds.\n"+
		"The module is written to build/<DIR's name>.wasm under the current directory unless -o is given.")
	out := fs.String("o", "", "write the module to this file (default build/<DIR's name>.wasm)")
	tools := addToolFlags(fs)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stdio.Err, "freshet build: expected one operator project directory (run 'freshet build --help')")
		return ExitUsage
	}
	dir := fs.Arg(0)
	if *out == "" {
		*out = defaultModulePath(dir)
	}
	start := time.Now()
	lang, code := buildProject(ctx, stdio, "freshet build", dir, *out, tools)
	if code != ExitOK {
		return code
	}
	took := time.Since(start)
	rt, err := newAuthorRuntime(ctx)
	if err != nil {
		fmt.Fprintf(stdio.Err, "freshet build: %v\n", err)
		return ExitFailure
	}
	defer rt.Close(context.Background())
	m, err := rt.LoadFile(ctx, *out)
	if err != nil {
		lines := strings.Split(strings.TrimSpace(err.Error()), "\n")
		fmt.Fprintf(stdio.Err, "freshet build: built %s, but the host rejects it: %s\n", *out, lines[0])
		for _, l := range lines[1:] {
			fmt.Fprintf(stdio.Err, "  %s\n", l)
		}
		return ExitFailure
	}
	describeModule(stdio.Out, *out, lang, m, took)
	return ExitOK
}

// describeModule prints what `freshet build` found in a module.
func describeModule(w io.Writer, path string, lang build.Lang, m *host.Module, took time.Duration) {
	fmt.Fprintf(w, "Built %s (%s, %s) in %s\n", path, langName(lang), bytes(int64(m.Size)), took.Round(100*time.Millisecond))
	fmt.Fprintf(w, "  sha256:    %s\n", hex.EncodeToString(m.Hash[:]))
	fmt.Fprintf(w, "  ABI:       v%d, %s\n", m.ABIVersion, m.SDK)
	var fns []string
	for _, f := range m.Functions {
		fns = append(fns, fmt.Sprintf("%s (%s)", f.Name, f.Kind))
	}
	if len(fns) == 0 {
		fmt.Fprintln(w, "  functions: none (register them with the SDK, e.g. freshet.Map in init or m.map in register)")
		return
	}
	fmt.Fprintf(w, "  functions: %s\n", strings.Join(fns, ", "))
}
