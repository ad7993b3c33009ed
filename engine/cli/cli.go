// Package cli implements the `freshet` command. cmd/freshet only calls Main,
// so every command is testable as a function with its own arguments,
// standard streams and exit code.
//
// Exit codes: 0 success, 1 the job or command failed at run time, 2 a user
// mistake (bad flags, a malformed job file, a missing input), 130 stopped by
// an interrupt (the job was cancelled cleanly and its sinks flushed).
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// Exit codes.
const (
	ExitOK          = 0
	ExitFailure     = 1
	ExitUsage       = 2
	ExitInterrupted = 130
)

// Version is set at build time with -ldflags "-X github.com/freshet/freshet/engine/cli.Version=...".
var Version = "dev"

// IO are the standard streams of a command.
type IO struct {
	In       io.Reader
	Out, Err io.Writer
	// Interactive is true when Out is a terminal (live progress line).
	Interactive bool
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, io IO, args []string) int
}

func commands() []command {
	return []command{
		{"run", "run a job file on an in-process cluster", runCmd},
		{"validate", "check a job file without running it", validateCmd},
		{"version", "print the version", versionCmd},
		{"cluster", "run a session cluster (JobManager, TaskManagers, REST API) until Ctrl-C", clusterCmd},
		{"submit", "submit a job file to a running cluster", submitCmd},
		{"list", "list the jobs of a running cluster", listCmd},
		{"cancel", "cancel a job at once", cancelCmd},
		{"stop", "stop a job gracefully, optionally with a savepoint", stopCmd},
		{"savepoint", "take a savepoint of a running job", savepointCmd},
		{"swap", "hot-swap the WebAssembly module of a running vertex", swapCmd},
		{"modules", "list and upload the WebAssembly modules of a cluster", modulesCmd},
		{"bench", "run a benchmark suite (nexmark) and report its figures", benchCmd},
		{"build", "build an operator project (Go or Rust) into a WebAssembly module and check it", buildCmd},
		{"test", "run test specs against a WebAssembly module (or an operator project)", testCmd},
	}
}

// Main runs the freshet command line and returns its exit code.
// The first interrupt cancels the command's context (run stops its job
// gracefully); after it, signals take their default action again, so a
// second Ctrl-C ends the process at once.
func Main(args []string, stdio IO) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop)
	return Run(ctx, args, stdio)
}

// Run is Main with a caller-controlled context (cancelling it acts as Ctrl-C).
func Run(ctx context.Context, args []string, stdio IO) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdio.Out)
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, stdio, args[1:])
		}
	}
	fmt.Fprintf(stdio.Err, "freshet: unknown command %q (run 'freshet --help' for the list)\n", args[0])
	return ExitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "freshet — a stream processing engine with WebAssembly operators")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: freshet <command> [flags] [arguments]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	cs := commands()
	sort.Slice(cs, func(i, j int) bool { return cs[i].name < cs[j].name })
	for _, c := range cs {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'freshet <command> --help' for a command's flags.")
}

// newFlags returns a flag set that reports errors to stdio.Err and prints
// usage on --help.
func newFlags(stdio IO, name, args, summary string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stdio.Err)
	fs.Usage = func() {
		fmt.Fprintf(stdio.Err, "Usage: freshet %s [flags] %s\n\n%s\n\nFlags:\n", name, args, summary)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args, moving flags that follow positional arguments to
// the front, so `freshet run job.yaml --parallelism 2` works.
func parseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if strings.HasPrefix(a, "-") && a != "-" {
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if !strings.Contains(name, "=") {
				if f := fs.Lookup(name); f != nil {
					if bf, isBool := f.Value.(interface{ IsBoolFlag() bool }); !isBool || !bf.IsBoolFlag() {
						if i+1 < len(args) {
							flags = append(flags, args[i+1])
							i++
						}
					}
				}
			}
			continue
		}
		pos = append(pos, a)
	}
	if err := fs.Parse(append(flags, pos...)); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK, false
		}
		return ExitUsage, false
	}
	return 0, true
}

// multiFlag collects a repeated string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %q is not one of debug, info, warn, error", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

func versionCmd(ctx context.Context, stdio IO, args []string) int {
	fs := newFlags(stdio, "version", "", "Print the version of freshet.")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	fmt.Fprintf(stdio.Out, "freshet %s\n", Version)
	return ExitOK
}
