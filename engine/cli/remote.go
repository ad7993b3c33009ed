package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/freshet/freshet/engine/rest"
)

// The client commands: they operate a running cluster through the REST API
// of its JobManager (`freshet cluster`, or `freshet run` while it runs).

func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

func printJSON(w io.Writer, v any) {
	b, _ := json.MarshalIndent(v, "", "  ")
	fmt.Fprintln(w, string(b))
}

// start parses a remote command's flags, checks it got n arguments
// (described by what), and connects to the JobManager; on failure it
// returns the exit code.
func (r *remote) start(fs *flag.FlagSet, args []string, n int, what string) (int, bool) {
	if code, ok := parseFlags(fs, args); !ok {
		return code, false
	}
	if !r.args(fs, n, what) {
		return ExitUsage, false
	}
	return r.connect()
}

func listCmd(ctx context.Context, stdio IO, args []string) int {
	fs := newFlags(stdio, "list", "", "List the jobs of a cluster, oldest first.")
	r := newRemote(stdio, fs)
	running := fs.Bool("running", false, "only jobs that have not ended")
	asJSON := fs.Bool("json", false, "print the jobs as JSON")
	if code, ok := r.start(fs, args, 0, "no arguments"); !ok {
		return code
	}
	jobs, err := r.client.Jobs(ctx)
	if err != nil {
		return r.fail(ctx, err)
	}
	if *running {
		kept := jobs[:0]
		for _, j := range jobs {
			if !j.Terminal() {
				kept = append(kept, j)
			}
		}
		jobs = kept
	}
	if *asJSON {
		printJSON(stdio.Out, rest.JobList{Jobs: jobs})
		return ExitOK
	}
	if len(jobs) == 0 {
		fmt.Fprintln(stdio.Out, "No jobs.")
		return ExitOK
	}
	var rows [][]string
	for _, j := range jobs {
		rows = append(rows, []string{j.ID, j.Name, j.State, j.StartTime.Local().Format("2006-01-02 15:04:05"),
			(time.Duration(j.Duration) * time.Millisecond).Truncate(time.Second).String()})
	}
	writeRows(stdio.Out, "ID\tNAME\tSTATE\tSTARTED\tDURATION", rows)
	return ExitOK
}

func submitCmd(ctx context.Context, stdio IO, args []string) int {
	fs := newFlags(stdio, "submit", "JOB.yaml", "Submit a job file to a running cluster and print the new job's ID.\nThe JobManager validates and builds the job: paths in the file are paths on its machine.")
	r := newRemote(stdio, fs)
	var sets multiFlag
	fs.Var(&sets, "set", "override a job file field, e.g. --set sources.lines.path=in.txt (repeatable)")
	parallelism := fs.Int("parallelism", 0, "override the job's default parallelism")
	fromSavepoint := fs.String("from-savepoint", "", "start from this savepoint (or checkpoint) directory")
	allowNonRestored := fs.Bool("allow-non-restored-state", false, "accept a savepoint holding state of operators the job no longer has")
	quiet := fs.Bool("quiet", false, "print only the job's ID")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if !r.args(fs, 1, "one job file") {
		return ExitUsage
	}
	if *parallelism < 0 {
		fmt.Fprintf(stdio.Err, "freshet submit: --parallelism must be positive\n")
		return ExitUsage
	}
	data, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(stdio.Err, "freshet submit: %v\n", err)
		return ExitUsage
	}
	if code, ok := r.connect(); !ok {
		return code
	}
	res, err := r.client.Submit(ctx, data, rest.SubmitParams{
		File: fs.Arg(0), FromSavepoint: absPath(*fromSavepoint), AllowNonRestoredState: *allowNonRestored,
		Parallelism: *parallelism, Sets: sets,
	})
	if err != nil {
		return r.fail(ctx, err)
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(stdio.Err, "freshet submit: warning: %s\n", w)
	}
	if *quiet {
		fmt.Fprintln(stdio.Out, res.ID)
	} else {
		fmt.Fprintf(stdio.Out, "Job submitted: %s\n", res.ID)
	}
	return ExitOK
}

func cancelCmd(ctx context.Context, stdio IO, args []string) int {
	fs := newFlags(stdio, "cancel", "JOB_ID", "Cancel a job at once, without flushing its sinks ('freshet stop' stops gracefully).\nWaits until the job has ended.")
	r := newRemote(stdio, fs)
	timeout := fs.Duration("timeout", time.Minute, "how long to wait for the job to end (0: no limit)")
	if code, ok := r.start(fs, args, 1, "one job ID"); !ok {
		return code
	}
	id := fs.Arg(0)
	js, err := r.client.Cancel(ctx, id)
	if err != nil {
		return r.fail(ctx, err)
	}
	wctx, cancel := waitFor(ctx, *timeout)
	defer cancel()
	for !js.Terminal() {
		if err := sleepCtx(wctx, pollInterval); err != nil {
			return r.fail(ctx, waitErr(wctx, err))
		}
		d, err := r.client.Job(wctx, id)
		if err != nil {
			return r.fail(ctx, waitErr(wctx, err))
		}
		js = d.JobSummary
	}
	fmt.Fprintf(stdio.Out, "Job %s %s\n", id, js.State)
	return ExitOK
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func savepointCmd(ctx context.Context, stdio IO, args []string) int {
	fs := newFlags(stdio, "savepoint", "JOB_ID DIR", "Take a savepoint of a running job into DIR (a savepoint-N directory is made in it)\nand print its path. The job keeps running. DIR is a path on the JobManager's machine.")
	r := newRemote(stdio, fs)
	timeout := fs.Duration("timeout", 10*time.Minute, "how long to wait for the savepoint (0: no limit)")
	if code, ok := r.start(fs, args, 2, "a job ID and a target directory"); !ok {
		return code
	}
	id := fs.Arg(0)
	rid, err := r.client.TriggerSavepoint(ctx, id, absPath(fs.Arg(1)))
	if err != nil {
		return r.fail(ctx, err)
	}
	return r.waitOperation(ctx, id, rid, *timeout, "")
}

// waitOperation polls a savepoint or stop request and reports it.
func (r *remote) waitOperation(ctx context.Context, id, rid string, timeout time.Duration, done string) int {
	wctx, cancel := waitFor(ctx, timeout)
	defer cancel()
	st, err := r.client.WaitOperation(wctx, id, rid, pollInterval)
	if err != nil {
		return r.fail(ctx, waitErr(wctx, err))
	}
	if st.Location != "" {
		fmt.Fprintf(r.stdio.Out, "Savepoint completed: %s\n", st.Location)
	}
	if st.Status != rest.StatusCompleted {
		fmt.Fprintf(r.stdio.Err, "%s: %s\n", r.name, oneLine(st.Failure))
		return ExitFailure
	}
	if done != "" {
		fmt.Fprintln(r.stdio.Out, done)
	}
	return ExitOK
}

func stopCmd(ctx context.Context, stdio IO, args []string) int {
	fs := newFlags(stdio, "stop", "JOB_ID", "Stop a job gracefully: its sources stop, and every operator and sink finishes,\nflushes and commits. With --savepoint a savepoint is taken first (to resume from with\n'freshet submit --from-savepoint'). Waits until the job has ended.")
	r := newRemote(stdio, fs)
	dir := fs.String("savepoint", "", "take a savepoint into this directory before stopping")
	timeout := fs.Duration("timeout", 10*time.Minute, "how long to wait for the job to stop (0: no limit)")
	if code, ok := r.start(fs, args, 1, "one job ID"); !ok {
		return code
	}
	id := fs.Arg(0)
	rid, err := r.client.Stop(ctx, id, absPath(*dir))
	if err != nil {
		return r.fail(ctx, err)
	}
	return r.waitOperation(ctx, id, rid, *timeout, fmt.Sprintf("Job %s stopped", id))
}

func swapCmd(ctx context.Context, stdio IO, args []string) int {
	fs := newFlags(stdio, "swap", "JOB_ID VERTEX name@version", "Replace the WebAssembly module a running vertex runs with another version from the\nmodule store ('freshet modules upload' adds it). VERTEX is a vertex ID, a vertex name\nor the name of one of its operators. Waits until the swap is done.")
	r := newRemote(stdio, fs)
	timeout := fs.Duration("timeout", 5*time.Minute, "how long to wait for the swap (0: no limit)")
	if code, ok := r.start(fs, args, 3, "a job ID, a vertex and a module name@version"); !ok {
		return code
	}
	id, vertex, module := fs.Arg(0), fs.Arg(1), fs.Arg(2)
	rid, err := r.client.SwapModule(ctx, id, vertex, module)
	if err != nil {
		return r.fail(ctx, err)
	}
	wctx, cancel := waitFor(ctx, *timeout)
	defer cancel()
	st, err := r.client.WaitSwap(wctx, id, rid, pollInterval)
	if err != nil {
		return r.fail(ctx, waitErr(wctx, err))
	}
	if st.Status != rest.StatusCompleted {
		fmt.Fprintf(stdio.Err, "freshet swap: %s\n", oneLine(st.Failure))
		return ExitFailure
	}
	fmt.Fprintf(stdio.Out, "Vertex %s of job %s runs %s\n", vertex, id, module)
	return ExitOK
}

func modulesCmd(ctx context.Context, stdio IO, args []string) int {
	subs := []command{
		{"list", "list the modules of the module store", modulesListCmd},
		{"upload", "validate a .wasm module and add it to the module store", modulesUploadCmd},
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		w := stdio.Err
		fmt.Fprintln(w, "Usage: freshet modules <command> [flags] [arguments]")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Manage the WebAssembly modules of a running cluster's module store.")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Commands:")
		for _, c := range subs {
			fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
		}
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	for _, c := range subs {
		if c.name == args[0] {
			return c.run(ctx, stdio, args[1:])
		}
	}
	fmt.Fprintf(stdio.Err, "freshet modules: unknown command %q (list, upload)\n", args[0])
	return ExitUsage
}

func modulesListCmd(ctx context.Context, stdio IO, args []string) int {
	fs := newFlags(stdio, "modules list", "", "List the modules of the module store by name and version.")
	r := newRemote(stdio, fs)
	asJSON := fs.Bool("json", false, "print the modules as JSON")
	if code, ok := r.start(fs, args, 0, "no arguments"); !ok {
		return code
	}
	mods, err := r.client.Modules(ctx)
	if err != nil {
		return r.fail(ctx, err)
	}
	if *asJSON {
		printJSON(stdio.Out, rest.ModuleList{Modules: mods})
		return ExitOK
	}
	if len(mods) == 0 {
		fmt.Fprintln(stdio.Out, "No modules.")
		return ExitOK
	}
	var rows [][]string
	for _, m := range mods {
		rows = append(rows, []string{m.Ref, m.SHA256[:min(12, len(m.SHA256))], bytes(m.Size), functions(m), m.Added.Local().Format("2006-01-02 15:04")})
	}
	writeRows(stdio.Out, "MODULE\tSHA256\tSIZE\tFUNCTIONS\tADDED", rows)
	return ExitOK
}

func functions(m rest.Module) string {
	var fs []string
	for _, f := range m.Functions {
		fs = append(fs, f.Name+" ("+f.Kind+")")
	}
	sort.Strings(fs)
	return strings.Join(fs, ", ")
}

func modulesUploadCmd(ctx context.Context, stdio IO, args []string) int {
	fs := newFlags(stdio, "modules upload", "FILE.wasm", "Upload a WebAssembly module to the module store as name@version. The JobManager\nvalidates it first. Versions are immutable: upload changes as a new version.")
	r := newRemote(stdio, fs)
	name := fs.String("name", "", "module name (default: the file's name without .wasm)")
	version := fs.String("version", "", "module version, e.g. 1.2.0 (required)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if !r.args(fs, 1, "one .wasm file") {
		return ExitUsage
	}
	if *version == "" {
		fmt.Fprintln(stdio.Err, "freshet modules upload: --version is required")
		return ExitUsage
	}
	if *name == "" {
		*name = strings.TrimSuffix(filepath.Base(fs.Arg(0)), ".wasm")
	}
	wasm, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(stdio.Err, "freshet modules upload: %v\n", err)
		return ExitUsage
	}
	if code, ok := r.connect(); !ok {
		return code
	}
	m, err := r.client.UploadModule(ctx, *name, *version, wasm)
	if err != nil {
		return r.fail(ctx, err)
	}
	fmt.Fprintf(stdio.Out, "Module %s stored (sha256 %s, %s): %s\n", m.Ref, m.SHA256[:min(12, len(m.SHA256))], bytes(m.Size), functions(m))
	return ExitOK
}
