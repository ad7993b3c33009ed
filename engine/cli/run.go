package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/freshet/freshet/engine/cluster"
	"github.com/freshet/freshet/engine/job"
	"github.com/freshet/freshet/engine/jobspec"
	"github.com/freshet/freshet/engine/metrics"
	"github.com/freshet/freshet/engine/registry"
	"github.com/freshet/freshet/engine/rest"
	"github.com/freshet/freshet/engine/stream"
)

func validateCmd(ctx context.Context, stdio IO, args []string) int {
	fs := newFlags(stdio, "validate", "JOB.yaml", "Check a job file: its syntax, its graph and every component's parameters.")
	var sets multiFlag
	fs.Var(&sets, "set", "override a job file field, e.g. --set parallelism=4 (repeatable)")
	parallelism := fs.Int("parallelism", 0, "override the job's default parallelism")
	moduleDir := fs.String("module-dir", "", "module store resolving name@version references of wasm operators (paths work without it)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stdio.Err, "freshet validate: expected one job file")
		return ExitUsage
	}
	spec, err := loadSpec(fs.Arg(0), sets, *parallelism)
	if err == nil {
		var reg *registry.Registry
		var done func()
		if reg, _, done, err = jobRegistry(slog.New(slog.NewTextHandler(io.Discard, nil)), *moduleDir); err == nil {
			defer done()
			_, err = job.Build(spec, stream.Config{Registry: reg})
		}
	}
	if err != nil {
		printErr(stdio.Err, "freshet validate", err)
		return ExitUsage
	}
	fmt.Fprintf(stdio.Out, "%s: job %q is valid (%d sources, %d operators, %d sinks)\n", fs.Arg(0), spec.Name, len(spec.Sources), len(spec.Operators), len(spec.Sinks))
	return ExitOK
}

func loadSpec(path string, sets []string, parallelism int) (*jobspec.Spec, error) {
	spec, err := jobspec.Load(path)
	if err != nil {
		return nil, err
	}
	if len(sets) > 0 || parallelism > 0 {
		if err := spec.Override(sets, parallelism); err != nil {
			return nil, err
		}
	}
	return spec, nil
}

// printErr prints each joined error on its own line.
func printErr(w io.Writer, prefix string, err error) {
	lines := strings.Split(strings.TrimSpace(err.Error()), "\n")
	if len(lines) == 1 {
		fmt.Fprintf(w, "%s: %s\n", prefix, lines[0])
		return
	}
	fmt.Fprintf(w, "%s: %d problems:\n", prefix, len(lines))
	for _, l := range lines {
		fmt.Fprintf(w, "  %s\n", l)
	}
}

func runCmd(ctx context.Context, stdio IO, args []string) int {
	fs := newFlags(stdio, "run", "JOB.yaml", "Run a job on an in-process cluster (a JobManager and TaskManagers in this process).\nA bounded job exits when its sources end. Ctrl-C stops the job gracefully (sources stop,\noperators finish, sinks flush and commit) and exits 130; a second Ctrl-C exits at once.")
	var sets multiFlag
	fs.Var(&sets, "set", "override a job file field, e.g. --set sources.lines.path=in.txt (repeatable)")
	parallelism := fs.Int("parallelism", 0, "override the job's default parallelism")
	metricsAddr := fs.String("metrics-addr", metrics.DefaultAddr, "serve Prometheus metrics on this address ('' to disable)")
	restAddr := fs.String("rest-addr", rest.DefaultAddr, "serve the REST API on this address ('' to disable); jobs submitted to it\nrun next to this one and end with it (see 'freshet cluster' for a lasting cluster)")
	logLevel := fs.String("log-level", "warn", "log level: debug, info, warn, error")
	quiet := fs.Bool("quiet", false, "print no progress line and no summary")
	stateDir := fs.String("state-dir", "", "directory for local state (default: a temporary directory)")
	fromCheckpoint := fs.String("from-checkpoint", "", "restore from a checkpoint: a chk-N directory, or a checkpoint directory (its newest intact checkpoint)")
	fromSavepoint := fs.String("from-savepoint", "", "restore from a savepoint directory")
	allowNonRestored := fs.Bool("allow-non-restored-state", false, "accept a checkpoint holding state of operators the job no longer has")
	checkpointDir := fs.String("checkpoint-dir", "", "override config.checkpointing.dir")
	moduleDir := fs.String("module-dir", "", "module store resolving name@version references of wasm operators (paths work without it)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stdio.Err, "freshet run: expected one job file")
		return ExitUsage
	}
	log, err := newLogger(stdio.Err, *logLevel)
	if err != nil {
		fmt.Fprintf(stdio.Err, "freshet run: %v\n", err)
		return ExitUsage
	}
	spec, err := loadSpec(fs.Arg(0), sets, *parallelism)
	if err != nil {
		printErr(stdio.Err, "freshet run", err)
		return ExitUsage
	}
	if *fromCheckpoint != "" && *fromSavepoint != "" {
		fmt.Fprintln(stdio.Err, "freshet run: give --from-checkpoint or --from-savepoint, not both")
		return ExitUsage
	}
	reg, store, closeReg, err := jobRegistry(log, *moduleDir)
	if err != nil {
		fmt.Fprintf(stdio.Err, "freshet run: %v\n", err)
		return ExitUsage
	}
	defer closeReg()
	cfg := stream.Config{Logger: log, Dir: *stateDir, RestoreFrom: *fromCheckpoint + *fromSavepoint, AllowNonRestoredState: *allowNonRestored, Registry: reg}
	env, err := job.Build(spec, cfg)
	if err != nil {
		printErr(stdio.Err, "freshet run", err)
		return ExitUsage
	}
	if *checkpointDir != "" {
		env.SetCheckpointDir(*checkpointDir)
	}
	client, err := env.ExecuteAsync(context.Background(), spec.Name)
	if err != nil {
		printErr(stdio.Err, "freshet run", err)
		return ExitUsage
	}
	epc := endpointConfig{restAddr: *restAddr, metricsAddr: *metricsAddr, registry: reg, log: log}
	if store != nil {
		epc.modules = store
	}
	ep, err := serve(client.Cluster(), epc)
	if errors.Is(err, errRESTAddr) && !flagSet(fs, "rest-addr") {
		// The default address is taken (another freshet, say): the job
		// runs without the API rather than not at all.
		log.Warn("REST API disabled: its default address is in use (--rest-addr picks another)", "addr", *restAddr, "err", err)
		ep, err = serve(client.Cluster(), endpointConfig{metricsAddr: *metricsAddr, log: log})
	}
	if err != nil {
		_ = client.Cancel(context.Background())
		_, _ = client.Wait(context.Background())
		fmt.Fprintf(stdio.Err, "freshet run: %v (pick another address, or '' to disable)\n", err)
		return ExitUsage
	}
	defer ep.close()
	var interrupted atomic.Bool
	stop := context.AfterFunc(ctx, func() {
		interrupted.Store(true)
		if !stdio.Interactive || *quiet {
			fmt.Fprintln(stdio.Err, "freshet run: interrupt: stopping the job (sources stop, sinks flush)")
		}
		_ = client.Stop(context.Background())
		// A job that does not stop in time is cancelled.
		t := time.AfterFunc(30*time.Second, func() { _ = client.Cancel(context.Background()) })
		_ = t
	})
	defer stop()

	done := make(chan struct{})
	if stdio.Interactive && !*quiet {
		go progress(stdio.Out, client, done)
	}
	res, waitErr := client.Wait(context.Background())
	close(done)
	if stdio.Interactive && !*quiet {
		fmt.Fprint(stdio.Out, "\r\033[K")
	}
	if !*quiet {
		summary(stdio.Out, res, client)
	}
	switch {
	case interrupted.Load():
		if waitErr != nil {
			printErr(stdio.Err, "freshet run", waitErr)
		}
		fmt.Fprintln(stdio.Err, "freshet run: stopped by interrupt")
		return ExitInterrupted
	case waitErr != nil:
		printErr(stdio.Err, "freshet run", waitErr)
		return ExitFailure
	}
	return ExitOK
}

// progress rewrites one status line per second until done.
func progress(w io.Writer, c *stream.JobClient, done <-chan struct{}) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
		}
		st, err := c.Status()
		if err != nil {
			continue
		}
		in, out, level := rates(st)
		fmt.Fprintf(w, "\r\033[K[%s] %s  in %s rec/s  out %s rec/s  back pressure %s",
			st.Duration.Truncate(time.Second), st.State, human(in), human(out), level)
	}
}

// rates returns what the sources emit and the sinks take per second, and
// the worst back-pressure level.
func rates(st cluster.JobStatus) (in, out float64, level cluster.BackPressureLevel) {
	level = cluster.BackPressureOK
	for _, v := range st.Vertices {
		if v.Source {
			in += v.OutPerSec
		}
		if v.Sink {
			out += v.InPerSec
		}
		if v.BackPressure == cluster.BackPressureHigh || v.BackPressure == cluster.BackPressureLow && level == cluster.BackPressureOK {
			level = v.BackPressure
		}
	}
	return in, out, level
}

func human(f float64) string {
	switch {
	case f >= 1e6:
		return fmt.Sprintf("%.2fM", f/1e6)
	case f >= 1e3:
		return fmt.Sprintf("%.1fK", f/1e3)
	}
	return fmt.Sprintf("%.0f", f)
}

func summary(w io.Writer, res cluster.JobResult, c *stream.JobClient) {
	st := res.Status
	fmt.Fprintf(w, "Job %q %s in %s\n", st.Name, res.State, res.Duration.Round(time.Millisecond))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "  task\toperator\tparallelism\trecords in\trecords out\tback pressure\t")
	for _, v := range st.Vertices {
		for i, op := range v.Operators {
			task, bp := "", ""
			if i == 0 {
				task, bp = fmt.Sprintf("#%d", v.ID+1), string(v.BackPressure)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%d\t%s\t\n", task, op.Name, v.Parallelism, op.RecordsIn, op.RecordsOut, bp)
		}
	}
	_ = tw.Flush()
	secs := res.Duration.Seconds()
	var notes []string
	for _, v := range st.Vertices {
		for _, op := range v.Operators {
			for name, n := range op.Counters {
				if n > 0 {
					notes = append(notes, fmt.Sprintf("  %s: %s %d", op.Name, name, n))
				}
			}
		}
	}
	for _, n := range notes {
		fmt.Fprintln(w, n)
	}
	if len(st.Vertices) > 0 && secs > 0 {
		var srcOut int64
		for _, v := range st.Vertices {
			if v.Source {
				srcOut += v.Operators[0].RecordsOut
			}
		}
		fmt.Fprintf(w, "  throughput: %s records/s from sources\n", human(float64(srcOut)/secs))
	}
	for _, tm := range c.Cluster().TaskManagers() {
		m := tm.Memory().Stats()
		fmt.Fprintf(w, "  network memory (%s): peak %s of %s\n", tm.ID(), bytes(m.Peak), bytes(m.Total))
	}
	if st.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", strings.SplitN(st.Error, "\n", 2)[0])
	}
}

func bytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
