package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"github.com/freshet/freshet/host/harness/spec"
)

func testCmd(ctx context.Context, stdio IO, args []string) int {
	fs := newFlags(stdio, "test", "MODULE.wasm|DIR SPEC.yaml...", "Run the cases of test specs against a WebAssembly module in the real host: each case opens\n"+
		"one function of the module, feeds it records, watermarks and processing time, and checks its\n"+
		"outputs, side outputs, keyed state, timers, counters and errors (format: docs/operators.md).\n"+
		"Given an operator project DIR instead of a module, build it first (as 'freshet build' does,\n"+
		"into a temporary file). Prints PASS or FAIL per case, a diff under each failure, then\n"+
		"\"N passed, M failed\". Exit code 0: every case passed; 1: a case failed (or the module did not\n"+
		"build or load); 2: a malformed spec or bad arguments.")
	runRe := fs.String("run", "", "run only the cases whose name matches this regular expression")
	tools := addToolFlags(fs)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() < 2 {
		fmt.Fprintln(stdio.Err, "freshet test: expected a module (or an operator project directory) and one or more spec files (run 'freshet test --help')")
		return ExitUsage
	}
	var match func(string) bool
	if *runRe != "" {
		re, err := regexp.Compile(*runRe)
		if err != nil {
			fmt.Fprintf(stdio.Err, "freshet test: --run: %v\n", err)
			return ExitUsage
		}
		match = re.MatchString
	}
	// Every spec is parsed before anything is built or run: a typo in a
	// spec costs no build.
	var specs []*spec.Spec
	for _, path := range fs.Args()[1:] {
		s, err := spec.Load(path)
		if err != nil {
			if errors.Is(err, spec.ErrMalformed) {
				printErr(stdio.Err, "freshet test", err)
			} else {
				fmt.Fprintf(stdio.Err, "freshet test: %v\n", err)
			}
			return ExitUsage
		}
		specs = append(specs, s)
	}
	module := fs.Arg(0)
	info, err := os.Stat(module)
	if err != nil {
		fmt.Fprintf(stdio.Err, "freshet test: %s: no such module or operator project\n", module)
		return ExitUsage
	}
	if info.IsDir() {
		tmp, err := os.MkdirTemp("", "freshet-test-")
		if err != nil {
			fmt.Fprintf(stdio.Err, "freshet test: %v\n", err)
			return ExitFailure
		}
		defer os.RemoveAll(tmp)
		out := filepath.Join(tmp, filepath.Base(defaultModulePath(module)))
		if _, code := buildProject(ctx, stdio, "freshet test", module, out, tools); code != ExitOK {
			return code
		}
		module = out
	}
	rt, err := newAuthorRuntime(ctx)
	if err != nil {
		fmt.Fprintf(stdio.Err, "freshet test: %v\n", err)
		return ExitFailure
	}
	defer rt.Close(context.Background())
	m, err := rt.LoadFile(ctx, module)
	if err != nil {
		fmt.Fprintf(stdio.Err, "freshet test: %v\n", err)
		return ExitFailure
	}
	passed, failed := 0, 0
	for _, s := range specs {
		rep, err := s.RunModule(ctx, m, spec.Options{Match: match})
		if rep != nil {
			_ = rep.Write(stdio.Out)
			passed, failed = passed+rep.Passed(), failed+rep.Failed()
		}
		if err != nil {
			fmt.Fprintf(stdio.Err, "freshet test: %v\n", err)
			if ctx.Err() != nil {
				return ExitInterrupted
			}
			return ExitFailure
		}
	}
	if passed+failed == 0 {
		fmt.Fprintf(stdio.Err, "freshet test: no case matches --run %q\n", *runRe)
		return ExitUsage
	}
	fmt.Fprintf(stdio.Out, "%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return ExitFailure
	}
	return ExitOK
}
