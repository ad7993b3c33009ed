package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/cli"
	"github.com/freshet/freshet/engine/cluster"
	"github.com/freshet/freshet/engine/job"
	"github.com/freshet/freshet/engine/params"
	"github.com/freshet/freshet/engine/registry"
	"github.com/freshet/freshet/engine/rest"
	"github.com/freshet/freshet/engine/rest/resttest"
	"github.com/freshet/freshet/host"
	"github.com/freshet/freshet/host/abi"
	"github.com/freshet/freshet/host/modules"
)

type result struct {
	code        int
	out, errout string
}

func run(ctx context.Context, args ...string) result {
	var out, errb bytes.Buffer
	code := cli.Run(ctx, args, cli.IO{In: strings.NewReader(""), Out: &out, Err: &errb})
	return result{code, out.String(), errb.String()}
}

// jobManager starts a REST API over a real MiniCluster and module store
// and returns its URL.
func jobManager(t *testing.T) string { return jobManagerOf(t, nil, nil) }

// noSwap is a Cluster that cannot swap modules.
type noSwap struct{ rest.Cluster }

func jobManagerOf(t *testing.T, wrap func(rest.Cluster) rest.Cluster, reg *registry.Registry) string {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	mc, err := cluster.NewMiniCluster(cluster.MiniClusterConfig{TaskManager: cluster.TaskManagerConfig{Slots: 2}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mc.Close() })
	rt, err := host.NewRuntime(ctx, host.Config{CompilationCacheDir: "off"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close(ctx) })
	store, err := modules.Open(t.TempDir(), rt)
	if err != nil {
		t.Fatal(err)
	}
	var c rest.Cluster = rest.NewLocalCluster(mc, rest.LocalConfig{Logger: log, Registry: reg})
	if wrap != nil {
		c = wrap(c)
	}
	srv, err := rest.NewServer(rest.Config{Cluster: c, Modules: store, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); _ = srv.Close() })
	return hs.URL
}

func write(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func endless(dir string) string {
	return fmt.Sprintf(`apiVersion: freshet/v1
name: endless
parallelism: 2
sources:
  - {name: gen, type: datagen, rows-per-second: 1000}
sinks:
  - {name: out, type: file, path: %s}
`, filepath.Join(dir, "out"))
}

var jobID = regexp.MustCompile(`Job submitted: ([0-9a-f]{16})`)

func TestJobCommands(t *testing.T) {
	ctx := context.Background()
	jm := jobManager(t)
	dir := t.TempDir()
	job := write(t, filepath.Join(dir, "endless.yaml"), endless(dir))

	if r := run(ctx, "list", "--jobmanager", jm); r.code != 0 || r.out != "No jobs.\n" {
		t.Fatalf("list: %+v", r)
	}
	r := run(ctx, "submit", job, "--jobmanager", jm)
	m := jobID.FindStringSubmatch(r.out)
	if r.code != 0 || m == nil {
		t.Fatalf("submit: %+v", r)
	}
	id := m[1]
	if r := run(ctx, "list", "--jobmanager", jm); r.code != 0 || !strings.Contains(r.out, id) || !strings.Contains(r.out, "endless") || !strings.Contains(r.out, "RUNNING") || !strings.HasPrefix(r.out, "ID") {
		t.Fatalf("list: %+v", r)
	}
	if r := run(ctx, "list", "--json", "--jobmanager", jm); r.code != 0 || !strings.Contains(r.out, `"state": "RUNNING"`) {
		t.Fatalf("list --json: %+v", r)
	}

	// A savepoint, then stop with a savepoint, then resume from it.
	r = run(ctx, "savepoint", id, filepath.Join(dir, "sp"), "--jobmanager", jm)
	if r.code != 0 || !strings.Contains(r.out, "Savepoint completed: "+filepath.Join(dir, "sp")) {
		t.Fatalf("savepoint: %+v", r)
	}
	r = run(ctx, "stop", id, "--savepoint", filepath.Join(dir, "stop"), "--jobmanager", jm)
	loc, _, _ := strings.Cut(strings.TrimPrefix(r.out, "Savepoint completed: "), "\n")
	if r.code != 0 || !strings.HasPrefix(loc, filepath.Join(dir, "stop")) || !strings.Contains(r.out, "Job "+id+" stopped") {
		t.Fatalf("stop: %+v", r)
	}
	r = run(ctx, "submit", job, "--from-savepoint", loc, "--quiet", "--jobmanager", jm)
	resumed := strings.TrimSpace(r.out)
	if r.code != 0 || len(resumed) != 16 {
		t.Fatalf("submit --from-savepoint: %+v", r)
	}
	if r := run(ctx, "list", "--running", "--jobmanager", jm); r.code != 0 || strings.Contains(r.out, id) || !strings.Contains(r.out, resumed) {
		t.Fatalf("list --running: %+v", r)
	}
	if r := run(ctx, "cancel", resumed, "--jobmanager", jm); r.code != 0 || r.out != "Job "+resumed+" CANCELED\n" {
		t.Fatalf("cancel: %+v", r)
	}

	// Mistakes: exit 2, one line each (a job file: one line per problem).
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"cancel", resumed}, "has already ended CANCELED"},
		{[]string{"cancel", "0000000000000000"}, `no job with ID "0000000000000000"`},
		{[]string{"stop", id}, "it is FINISHED, not RUNNING"},
		{[]string{"savepoint", "nope", dir}, `no job with ID "nope"`},
		{[]string{"submit", write(t, filepath.Join(dir, "bad.yaml"), "apiVersion: freshet/v1\nname: bad\nsources:\n  - {name: s, type: nope}\nsinks:\n  - {name: o, type: discard}\n")}, "bad.yaml:4"},
		{[]string{"submit", filepath.Join(dir, "absent.yaml")}, "absent.yaml"},
		{[]string{"submit", job, "--from-savepoint", filepath.Join(dir, "nothing-here")}, "nothing-here"},
		{[]string{"swap", "nope", "0", "m@1"}, `no job with ID "nope"`},
		{[]string{"list", "extra"}, "expected no arguments"},
		{[]string{"cancel"}, "expected one job ID"},
		{[]string{"savepoint", id}, "expected a job ID and a target directory"},
		{[]string{"swap", id, "0"}, "expected a job ID, a vertex and a module"},
		{[]string{"list", "--no-such-flag"}, "flag provided but not defined"},
	} {
		r := run(ctx, append(tc.args, "--jobmanager", jm)...)
		if r.code != 2 || !strings.Contains(r.errout, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, r.code, r.errout, tc.want)
		}
		if strings.Count(strings.TrimSpace(r.errout), "\n") > 0 && !strings.HasPrefix(tc.args[0], "list") {
			t.Errorf("%v: more than one line: %q", tc.args, r.errout)
		}
	}
}

func TestUnreachableJobManager(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now
	ctx := context.Background()
	for _, args := range [][]string{{"list"}, {"submit", write(t, filepath.Join(t.TempDir(), "j.yaml"), endless(t.TempDir()))}, {"cancel", "x"},
		{"savepoint", "x", "/tmp"}, {"stop", "x"}, {"swap", "x", "v", "m@1"}, {"modules", "list"}} {
		r := run(ctx, append(args, "--jobmanager", url)...)
		want := "cannot reach the JobManager at " + url
		if r.code != 1 || !strings.Contains(r.errout, want) || strings.Count(r.errout, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want 1 and one line with %q", args, r.code, r.errout, want)
		}
	}
	if r := run(ctx, "list", "--jobmanager", "ftp://x"); r.code != 2 || !strings.Contains(r.errout, "--jobmanager") {
		t.Errorf("bad URL: %+v", r)
	}
}

func TestModuleCommands(t *testing.T) {
	ctx := context.Background()
	jm := jobManager(t)
	dir := t.TempDir()
	wasm := filepath.Join(dir, "upper.wasm")
	if err := os.WriteFile(wasm, resttest.Module(abi.KindMap, 1), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := run(ctx, "modules", "list", "--jobmanager", jm); r.code != 0 || r.out != "No modules.\n" {
		t.Fatalf("modules list: %+v", r)
	}
	r := run(ctx, "modules", "upload", wasm, "--version", "1.0.0", "--jobmanager", jm)
	if r.code != 0 || !strings.Contains(r.out, "Module upper@1.0.0 stored") || !strings.Contains(r.out, "f (map)") {
		t.Fatalf("upload: %+v", r)
	}
	if r := run(ctx, "modules", "upload", wasm, "--name", "other", "--version", "2", "--jobmanager", jm); r.code != 0 {
		t.Fatalf("upload --name: %+v", r)
	}
	r = run(ctx, "modules", "list", "--jobmanager", jm)
	if r.code != 0 || !strings.Contains(r.out, "other@2") || !strings.Contains(r.out, "upper@1.0.0") || !strings.HasPrefix(r.out, "MODULE") {
		t.Fatalf("modules list: %+v", r)
	}
	junk := write(t, filepath.Join(dir, "junk.wasm"), "not wasm at all")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"modules", "upload", junk, "--version", "1"}, 2, "not a WebAssembly binary"},
		{[]string{"modules", "upload", wasm, "--version", "1.0.0", "--name", "upper"}, 0, "stored"},
		{[]string{"modules", "upload", junk, "--version", "1.0.0", "--name", "upper"}, 2, "not a WebAssembly binary"},
		{[]string{"modules", "upload", wasm, "--name", "Bad Name", "--version", "1"}, 2, `name "Bad Name"`},
		{[]string{"modules", "upload", wasm}, 2, "--version is required"},
		{[]string{"modules", "upload", filepath.Join(dir, "absent.wasm"), "--version", "1"}, 2, "absent.wasm"},
		{[]string{"modules", "frob"}, 2, `unknown command "frob"`},
		{[]string{"swap", "x", "v", "upper"}, 2, "expected name@version"},
	} {
		r := run(ctx, append(tc.args, "--jobmanager", jm)...)
		out := r.out + r.errout
		if r.code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %d, output %q; want %d and %q", tc.args, r.code, out, tc.code, tc.want)
		}
	}
	if r := run(ctx, "modules"); r.code != 2 || !strings.Contains(r.errout, "Usage: freshet modules") {
		t.Errorf("modules without a command: %+v", r)
	}
}

func TestSwapCommandOnAClusterThatCannotSwap(t *testing.T) {
	ctx := context.Background()
	jm := jobManagerOf(t, func(c rest.Cluster) rest.Cluster { return noSwap{c} }, nil)
	dir := t.TempDir()
	wasm := write(t, filepath.Join(dir, "m.wasm"), string(resttest.Module(abi.KindMap, 1)))
	if r := run(ctx, "modules", "upload", wasm, "--version", "1", "--jobmanager", jm); r.code != 0 {
		t.Fatalf("upload: %+v", r)
	}
	r := run(ctx, "submit", write(t, filepath.Join(dir, "j.yaml"), endless(dir)), "--jobmanager", jm)
	id := jobID.FindStringSubmatch(r.out)[1]
	r = run(ctx, "swap", id, "gen", "m@1", "--jobmanager", jm)
	if r.code != 1 || !strings.Contains(r.errout, "cannot hot-swap") {
		t.Fatalf("swap: %+v", r)
	}
	if r := run(ctx, "swap", id, "nope", "m@1", "--jobmanager", jm); r.code != 2 || !strings.Contains(r.errout, `no vertex or operator "nope"`) {
		t.Fatalf("swap of an unknown vertex: %+v", r)
	}
}

// tagged is an operator type that swaps like a WebAssembly operator: it
// prefixes records with its module's name. Module "tag@broken" does not
// start.
func tagged(module string) registry.Operator {
	return registry.Operator{
		Module: module,
		New: func() (api.Operator, error) {
			if module == "tag@broken" {
				return nil, fmt.Errorf("module %s does not start", module)
			}
			return &tagOp{tag: module}, nil
		},
		Rebuild: func(m string) (registry.Operator, error) { return tagged(m), nil },
	}
}

type tagOp struct {
	api.BaseOperator
	tag string
	buf []byte
}

func (o *tagOp) ProcessBatch(in *api.Batch, out api.Output) error {
	for i := range in.Records {
		o.buf = append(append(append(o.buf[:0], o.tag...), ':'), in.Records[i].Value...)
		out.Emit(&api.Record{Value: o.buf})
	}
	return nil
}

func TestSwapCommand(t *testing.T) {
	ctx := context.Background()
	reg := job.DefaultRegistry()
	reg.AddOperator("tagged", "prefixes records with its module's name", func(p *params.Params) (registry.Operator, error) {
		return tagged(p.String("module", "tag@1")), p.Err()
	})
	dir := t.TempDir() // before the cluster: cleanups run last-first, and the job writes checkpoints here until the cluster closes
	jm := jobManagerOf(t, nil, reg)
	wasm := write(t, filepath.Join(dir, "tag.wasm"), string(resttest.Module(abi.KindMap, 1)))
	for _, v := range []string{"2", "broken"} {
		if r := run(ctx, "modules", "upload", wasm, "--version", v, "--jobmanager", jm); r.code != 0 {
			t.Fatalf("upload: %+v", r)
		}
	}
	r := run(ctx, "submit", write(t, filepath.Join(dir, "j.yaml"), fmt.Sprintf(`apiVersion: freshet/v1
name: tagging
config:
  checkpointing: {interval: 50ms, dir: %s}
sources:
  - {name: gen, type: datagen, rows-per-second: 1000}
operators:
  - {name: tagger, type: tagged, module: tag@1}
sinks:
  - {name: out, type: discard}
`, filepath.Join(dir, "cp"))), "--jobmanager", jm)
	id := jobID.FindStringSubmatch(r.out)[1]
	if r := run(ctx, "swap", id, "tagger", "tag@2", "--jobmanager", jm); r.code != 0 || r.out != "Vertex tagger of job "+id+" runs tag@2\n" {
		t.Fatalf("swap: %+v", r)
	}
	if r := run(ctx, "swap", id, "tagger", "tag@broken", "--jobmanager", jm); r.code != 1 || !strings.Contains(r.errout, "does not start") {
		t.Fatalf("swap to a module that does not start: %+v", r)
	}
	if r := run(ctx, "swap", id, "gen", "tag@2", "--jobmanager", jm); r.code != 2 || !strings.Contains(r.errout, "cannot be hot-swapped") {
		t.Fatalf("swap of a source: %+v", r)
	}
	if r := run(ctx, "swap", id, "tagger", "tag@3", "--jobmanager", jm); r.code != 2 || !strings.Contains(r.errout, "tag@3") {
		t.Fatalf("swap to a module not in the store: %+v", r)
	}
}

func TestHelpOfEveryCommand(t *testing.T) {
	ctx := context.Background()
	for _, c := range [][]string{{"cluster"}, {"submit"}, {"list"}, {"cancel"}, {"stop"}, {"savepoint"}, {"swap"}, {"modules", "list"}, {"modules", "upload"}} {
		r := run(ctx, append(c, "--help")...)
		if r.code != 0 || !strings.Contains(r.errout, "Usage: freshet "+strings.Join(c, " ")) {
			t.Errorf("%v --help: exit %d, %q", c, r.code, r.errout)
		}
		if c[0] != "cluster" && c[0] != "modules" || len(c) > 1 {
			if !strings.Contains(r.errout, "-jobmanager") {
				t.Errorf("%v --help does not show --jobmanager", c)
			}
		}
	}
	r := run(ctx, "--help")
	for _, c := range []string{"cluster", "submit", "list", "cancel", "stop", "savepoint", "swap", "modules"} {
		if !strings.Contains(r.out, "\n  "+c+" ") {
			t.Errorf("freshet --help does not list %s", c)
		}
	}
}

func TestClusterServesUntilInterrupted(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, errb := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- cli.Run(ctx, []string{"cluster", "--rest-addr", "127.0.0.1:0", "--metrics-addr", "", "--slots", "2",
			"--module-dir", filepath.Join(dir, "modules"), "--log-level", "error"}, cli.IO{Out: out, Err: errb})
	}()
	var url string
	deadline := time.Now().Add(10 * time.Second)
	for url == "" {
		if m := regexp.MustCompile(`REST API: (http://\S+)`).FindStringSubmatch(out.String()); m != nil {
			url = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("the cluster did not print its address: %q %q", out.String(), errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	job := write(t, filepath.Join(dir, "j.yaml"), endless(dir))
	r := run(context.Background(), "submit", job, "--jobmanager", url)
	if r.code != 0 {
		t.Fatalf("submit: %+v", r)
	}
	wasm := write(t, filepath.Join(dir, "m.wasm"), string(resttest.Module(abi.KindMap, 1)))
	if r := run(context.Background(), "modules", "upload", wasm, "--version", "1", "--jobmanager", url); r.code != 0 {
		t.Fatalf("upload: %+v", r)
	}
	if _, err := os.Stat(filepath.Join(dir, "modules", "index", "m", "1.json")); err != nil {
		t.Fatalf("the module is not in --module-dir: %v", err)
	}
	time.Sleep(300 * time.Millisecond)
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
	case <-time.After(40 * time.Second):
		t.Fatal("the cluster did not exit after the interrupt")
	}
	// The job was stopped gracefully: its sink committed what it got.
	files, _ := filepath.Glob(filepath.Join(dir, "out", "part-*"))
	if len(files) == 0 {
		t.Fatal("the stopped job committed no part files")
	}
}

func TestClusterRefusesBadFlags(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--slots", "0"}, "--slots"},
		{[]string{"--taskmanagers", "100"}, "--taskmanagers"},
		{[]string{"--network-memory", "lots"}, "--network-memory"},
		{[]string{"--state-backend", "paper"}, "--state-backend"},
		{[]string{"--rest-addr", ""}, "--rest-addr is required"},
		{[]string{"--log-level", "loud"}, "--log-level"},
		{[]string{"job.yaml"}, "takes no arguments"},
	} {
		r := run(ctx, append([]string{"cluster", "--metrics-addr", ""}, tc.args...)...)
		if r.code != 2 || !strings.Contains(r.errout, tc.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", tc.args, r.code, r.errout, tc.want)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	r := run(ctx, "cluster", "--metrics-addr", "", "--rest-addr", ln.Addr().String())
	if r.code != 2 || !strings.Contains(r.errout, "--rest-addr") || !strings.Contains(r.errout, "address already in use") {
		t.Errorf("busy address: %+v", r)
	}
}

func TestRunServesTheAPIAndTakesMoreJobs(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	job := write(t, filepath.Join(dir, "paced.yaml"), `apiVersion: freshet/v1
name: paced
sources:
  - {name: gen, type: datagen, rows-per-second: 1000, count: 3000}
sinks:
  - {name: out, type: discard}
`)
	done := make(chan result, 1)
	go func() {
		done <- run(context.Background(), "run", job, "--metrics-addr", "", "--rest-addr", addr, "--quiet")
	}()
	url := "http://" + addr
	var r result
	for i := 0; ; i++ {
		if r = run(context.Background(), "list", "--jobmanager", url); r.code == 0 {
			break
		}
		if i > 100 {
			t.Fatalf("freshet run does not serve the API: %+v", r)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(r.out, "paced") {
		t.Fatalf("list: %+v", r)
	}
	other := write(t, filepath.Join(dir, "other.yaml"), endless(dir))
	if r := run(context.Background(), "submit", other, "--jobmanager", url); r.code != 2 || !strings.Contains(r.errout, "needs 2 slots") {
		t.Fatalf("submit of a job wider than freshet run's cluster: %+v", r)
	}
	if r := run(context.Background(), "submit", other, "--parallelism", "1", "--jobmanager", url); r.code != 0 {
		t.Fatalf("submit to freshet run: %+v", r)
	}
	select {
	case r := <-done:
		if r.code != 0 {
			t.Fatalf("run: %+v", r)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("freshet run did not end with its job")
	}
	if r := run(context.Background(), "list", "--jobmanager", url); r.code != 1 {
		t.Fatalf("the API outlived freshet run: %+v", r)
	}
}

func TestRunWithoutItsDefaultRESTAddressStillRuns(t *testing.T) {
	// Hold the default address if nobody does; either way it is taken.
	if ln, err := net.Listen("tcp", rest.DefaultAddr); err == nil {
		defer ln.Close()
	}
	dir := t.TempDir()
	job := write(t, filepath.Join(dir, "small.yaml"), "apiVersion: freshet/v1\nname: small\nsources:\n  - {name: gen, type: datagen, count: 100}\nsinks:\n  - {name: out, type: discard}\n")
	r := run(context.Background(), "run", job, "--metrics-addr", "", "--quiet")
	if r.code != 0 || !strings.Contains(r.errout, "REST API disabled") {
		t.Fatalf("%+v", r)
	}
	if r := run(context.Background(), "run", job, "--metrics-addr", "", "--quiet", "--rest-addr", rest.DefaultAddr); r.code != 2 || !strings.Contains(r.errout, "--rest-addr") {
		t.Fatalf("an explicit busy address should be refused: %+v", r)
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
