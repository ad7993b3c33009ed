package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/freshet/freshet/bench/nexmark"
)

// benchCmd is `freshet bench <suite>`; Nexmark is the one suite.
func benchCmd(ctx context.Context, stdio IO, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stdio.Err, "Usage: freshet bench nexmark [flags]")
		fmt.Fprintln(stdio.Err, "\nSuites:\n  nexmark    the Nexmark queries against hand-written limits (docs/nexmark.md)")
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	if args[0] != "nexmark" {
		fmt.Fprintf(stdio.Err, "freshet bench: unknown suite %q (suites: nexmark)\n", args[0])
		return ExitUsage
	}
	return benchNexmark(ctx, stdio, args[1:])
}

func benchNexmark(ctx context.Context, stdio IO, args []string) int {
	def := nexmark.DefaultConfig()
	fs := newFlags(stdio, "bench nexmark", "", "Run Nexmark queries on an in-process cluster, each followed by its hand-written limit, and\n"+
		"print a Markdown table of throughput (events/s, per core of process CPU time), latency, peak RSS\n"+
		"and checkpoint sizes. docs/nexmark.md explains the figures.")
	var queries, sets multiFlag
	fs.Var(&queries, "query", "query to run: q0, q1, q1-go, q2, q2-go, q3, q4, q5, q7, q8, q11, q12 (repeatable, or comma-separated)")
	all := fs.Bool("all", false, "run every query")
	events := fs.Int64("events", def.Events, "events per query")
	rate := fs.Float64("rate", def.Rate, "event-time rate of the generator, events per second of event time")
	seed := fs.Uint64("seed", def.Seed, "generator seed")
	parallelism := fs.Int("parallelism", def.Parallelism, "parallelism of every operator")
	state := fs.String("state", def.State, "keyed state backend: rocksdb or heap")
	interval := fs.Duration("checkpoint-interval", def.CheckpointInterval, "checkpoint interval (0: no checkpoints)")
	plugins := fs.String("plugins", "", "directory of the WebAssembly plugins (default: plugins/build above the working directory)")
	dir := fs.String("dir", "", "directory for state and checkpoints (default: the system's temporary directory)")
	noLimit := fs.Bool("no-limit", false, "skip the hand-written limits")
	report := fs.String("report", "", "append the table to the Nexmark section of this Markdown file (e.g. docs/benchmarks.md)")
	plot := fs.String("plot", "", "write an SVG plot of the throughput per core to this file (e.g. docs/nexmark.svg)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run (go tool pprof) to this file")
	memProfile := fs.String("memprofile", "", "write a heap profile (allocations: go tool pprof -sample_index=alloc_space) of the whole run to this file")
	logLevel := fs.String("log-level", "error", "engine log level: debug, info, warn, error")
	fs.Var(&sets, "set", "override a job file field of every query, e.g. --set config.rocksdb.block-cache-size=64MiB (repeatable)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stdio.Err, "freshet bench nexmark: unexpected arguments %q\n", fs.Args())
		return ExitUsage
	}
	var names []string
	for _, q := range queries {
		for _, n := range strings.Split(q, ",") {
			if n = strings.TrimSpace(n); n != "" {
				names = append(names, n)
			}
		}
	}
	switch {
	case *all && len(names) > 0:
		fmt.Fprintln(stdio.Err, "freshet bench nexmark: give --query or --all, not both")
		return ExitUsage
	case *all:
		for _, q := range nexmark.Queries() {
			names = append(names, q.Name)
		}
	case len(names) == 0:
		fmt.Fprintln(stdio.Err, "freshet bench nexmark: give --query NAME or --all")
		return ExitUsage
	}
	for _, n := range names {
		if _, err := nexmark.Lookup(n); err != nil {
			fmt.Fprintf(stdio.Err, "freshet bench nexmark: %v\n", err)
			return ExitUsage
		}
	}
	log, err := newLogger(stdio.Err, *logLevel)
	if err != nil {
		fmt.Fprintf(stdio.Err, "freshet bench nexmark: %v\n", err)
		return ExitUsage
	}
	cfg := def
	cfg.Events, cfg.Rate, cfg.Seed, cfg.Parallelism, cfg.State = *events, *rate, *seed, *parallelism, *state
	cfg.CheckpointInterval, cfg.PluginDir, cfg.Dir, cfg.Limit = *interval, *plugins, *dir, !*noLimit
	cfg.Set, cfg.Logger = sets, log
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stdio.Err, "freshet bench nexmark: %v\n", err)
		return ExitUsage
	}
	prog := newBenchProgress(stdio)
	cfg.Progress = prog.update
	rep := nexmark.Report{Date: time.Now(), Machine: nexmark.Machine(), Command: "freshet bench nexmark " + strings.Join(args, " "), Config: cfg}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintf(stdio.Err, "freshet bench nexmark: --cpuprofile: %v\n", err)
			return ExitUsage
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stdio.Err, "freshet bench nexmark: --cpuprofile: %v\n", err)
			return ExitUsage
		}
		defer pprof.StopCPUProfile()
	}
	if *memProfile != "" {
		f, err := os.Create(*memProfile)
		if err != nil {
			fmt.Fprintf(stdio.Err, "freshet bench nexmark: --memprofile: %v\n", err)
			return ExitUsage
		}
		defer func() {
			if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
				fmt.Fprintf(stdio.Err, "freshet bench nexmark: --memprofile: %v\n", err)
			}
			f.Close()
		}()
	}
	var runErr error
	for _, n := range names {
		q, _ := nexmark.Lookup(n)
		r, err := nexmark.RunQuery(ctx, cfg, q)
		prog.clear()
		if err != nil {
			runErr = err
			break
		}
		rep.Results = append(rep.Results, r)
		fmt.Fprintf(stdio.Err, "%s: %s events/s, %s per core (limit %s per core)\n", r.Query,
			human(r.EventsPerSec()), human(r.PerCore()), human(r.LimitPerCore()))
	}
	if len(rep.Results) > 0 {
		if err := rep.Markdown(stdio.Out); err != nil {
			fmt.Fprintf(stdio.Err, "freshet bench nexmark: %v\n", err)
			return ExitFailure
		}
		if code := writeBenchFiles(stdio.Err, rep, *report, *plot); code != ExitOK {
			return code
		}
	}
	switch {
	case runErr != nil && ctx.Err() != nil:
		fmt.Fprintln(stdio.Err, "freshet bench nexmark: stopped by interrupt")
		return ExitInterrupted
	case errors.Is(runErr, nexmark.ErrNoPlugins):
		printErr(stdio.Err, "freshet bench nexmark", runErr)
		return ExitUsage
	case runErr != nil:
		printErr(stdio.Err, "freshet bench nexmark", runErr)
		return ExitFailure
	}
	return ExitOK
}

// writeBenchFiles appends the table to report and writes the plot.
func writeBenchFiles(errw io.Writer, rep nexmark.Report, report, plot string) int {
	if report != "" {
		var b strings.Builder
		if err := rep.Markdown(&b); err == nil {
			err = nexmark.AppendToSection(report, []byte(b.String()))
			if err != nil {
				fmt.Fprintf(errw, "freshet bench nexmark: --report: %v\n", err)
				return ExitFailure
			}
		}
	}
	if plot != "" {
		f, err := os.Create(plot)
		if err == nil {
			err = rep.SVG(f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintf(errw, "freshet bench nexmark: --plot: %v\n", err)
			return ExitFailure
		}
	}
	return ExitOK
}

// benchProgress draws a progress bar on a terminal, and otherwise prints a
// line every 5 seconds to the error stream.
type benchProgress struct {
	mu      sync.Mutex
	stdio   IO
	last    time.Time
	drawn   bool
	started map[string]bool
}

func newBenchProgress(stdio IO) *benchProgress {
	return &benchProgress{stdio: stdio, started: map[string]bool{}}
}

func (p *benchProgress) update(pr nexmark.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	frac := 0.0
	if pr.Total > 0 {
		frac = min(float64(pr.Done)/float64(pr.Total), 1)
	}
	rate := 0.0
	if pr.Elapsed > 0 {
		rate = float64(pr.Done) / pr.Elapsed.Seconds()
	}
	phase := pr.Phase
	if phase == "freshet" && pr.Total > 0 && pr.Done >= pr.Total {
		phase = "finishing" // the sources are done; windows and timers fire
	}
	if p.stdio.Interactive {
		const width = 30
		n := int(frac * width)
		fmt.Fprintf(p.stdio.Out, "\r\033[K%-6s %-9s [%s%s] %3.0f%%  %s/%s events  %s/s  %s",
			pr.Query, phase, strings.Repeat("#", n), strings.Repeat(".", width-n), 100*frac,
			human(float64(pr.Done)), human(float64(pr.Total)), human(rate), pr.Elapsed.Truncate(time.Second))
		p.drawn = true
		return
	}
	key := pr.Query + "/" + phase
	if p.started[key] && time.Since(p.last) < 5*time.Second {
		return
	}
	p.started[key], p.last = true, time.Now()
	fmt.Fprintf(p.stdio.Err, "%s %s: %s of %s events (%.0f%%), %s/s, %s\n", pr.Query, phase,
		human(float64(pr.Done)), human(float64(pr.Total)), 100*frac, human(rate), pr.Elapsed.Truncate(time.Second))
}

// clear erases the bar before other output.
func (p *benchProgress) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprint(p.stdio.Out, "\r\033[K")
		p.drawn = false
	}
}
