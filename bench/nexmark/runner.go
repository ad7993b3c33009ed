package nexmark

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/freshet/freshet/engine/cluster"
	"github.com/freshet/freshet/engine/connectors/nexmark"
	"github.com/freshet/freshet/engine/job"
	"github.com/freshet/freshet/engine/registry"
	"github.com/freshet/freshet/engine/stream"
	"github.com/freshet/freshet/host"
	"github.com/freshet/freshet/host/wasmop"
)

// Errors of the runner.
var (
	// ErrUnknownQuery: --query named no query of the suite.
	ErrUnknownQuery = errors.New("unknown nexmark query")
	// ErrConfig: a Config field is out of range.
	ErrConfig = errors.New("invalid nexmark benchmark config")
	// ErrNoPlugins: a query needs the WebAssembly plugins and none were found.
	ErrNoPlugins = errors.New("WebAssembly plugins not found")
)

// Config is one benchmark run. Start from DefaultConfig.
type Config struct {
	// Events per query, and their event-time rate (events per second of
	// event time; the Nexmark suite generates 10 M events per second).
	Events int64
	Rate   float64
	Seed   uint64
	// Parallelism of every operator.
	Parallelism int
	// State is the keyed state backend: "rocksdb" or "heap".
	State string
	// CheckpointInterval between periodic checkpoints; 0 takes none.
	CheckpointInterval time.Duration
	// PluginDir holds the WebAssembly plugins (rust/nexmark.wasm,
	// go/nexmark.wasm); empty: plugins/build found from the working
	// directory upwards.
	PluginDir string
	// Dir is where state and checkpoints go (a temporary directory under
	// it, removed after each query); empty: the system's.
	Dir string
	// Set holds extra job file overrides (key=value, as freshet run --set).
	Set []string
	// Limit runs each query's hand-written limit after it.
	Limit bool
	// Logger receives the engine's logs (default: none).
	Logger *slog.Logger
	// Progress, when set, is called about once a second while a query runs.
	Progress func(Progress)
}

// DefaultConfig is the suite's configuration: 10 M events at the Nexmark
// suite's event-time rate, parallelism 2, RocksDB state, a checkpoint every
// 10 s, limits on.
func DefaultConfig() Config {
	return Config{Events: 10_000_000, Rate: 10_000_000, Seed: 1, Parallelism: 2, State: "rocksdb",
		CheckpointInterval: 10 * time.Second, Limit: true}
}

// Validate reports the first field out of range.
func (c Config) Validate() error {
	switch {
	case c.Events < 1:
		return fmt.Errorf("%w: events is %d, want at least 1", ErrConfig, c.Events)
	case !(c.Rate > 0):
		return fmt.Errorf("%w: rate is %v, want a positive number of events per second", ErrConfig, c.Rate)
	case c.Parallelism < 1 || c.Parallelism > 1024:
		return fmt.Errorf("%w: parallelism is %d, want 1 to 1024", ErrConfig, c.Parallelism)
	case c.State != "rocksdb" && c.State != "heap":
		return fmt.Errorf("%w: state is %q, want rocksdb or heap", ErrConfig, c.State)
	case c.CheckpointInterval < 0:
		return fmt.Errorf("%w: checkpoint interval %s is negative", ErrConfig, c.CheckpointInterval)
	}
	return nil
}

// Progress is a running query's progress.
type Progress struct {
	Query string
	// Phase is "freshet" while the job runs, "limit" while the hand-written
	// limit does.
	Phase       string
	Done, Total int64 // events
	Elapsed     time.Duration
}

// Result is what one query measured.
type Result struct {
	Query   string
	Summary string
	// Events the sources emitted and Results the sink received.
	Events, Results int64
	Wall, CPU       time.Duration
	// PeakRSS is the process's resident set high-water mark during the
	// query, in bytes (-1: unknown); PeakIsProcess says it could not be reset
	// before the query and is the whole process's.
	PeakRSS       int64
	PeakIsProcess bool
	// Latency percentiles of the sampled results, measured as Mode says.
	P50, P99       time.Duration
	LatencySamples int
	LatencyMode    LatencyMode
	// Completed checkpoints and the largest and last full state size.
	Checkpoints                   int
	CheckpointMax, LastCheckpoint int64
	// Limit is the hand-written program's run (zero when not run).
	Limit LimitResult
}

// LimitResult is a hand-written limit's run.
type LimitResult struct {
	Events    int64
	Wall, CPU time.Duration
}

func perSec(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// EventsPerSec is Freshet's throughput in wall-clock time.
func (r Result) EventsPerSec() float64 { return perSec(r.Events, r.Wall) }

// PerCore is Freshet's throughput per core: events per second of process
// CPU time (0 when unknown).
func (r Result) PerCore() float64 { return perSec(r.Events, r.CPU) }

// LimitPerCore is the limit's events per second of CPU time.
func (r Result) LimitPerCore() float64 { return perSec(r.Limit.Events, r.Limit.CPU) }

// Ratio is Freshet's per-core throughput over the limit's (0 when either
// is unknown).
func (r Result) Ratio() float64 {
	if l := r.LimitPerCore(); l > 0 {
		return r.PerCore() / l
	}
	return 0
}

// Run runs the named queries one after the other. It returns the results
// of the queries that completed, and the first error.
func Run(ctx context.Context, cfg Config, names []string) ([]Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	qs := make([]Query, 0, len(names))
	for _, n := range names {
		q, err := Lookup(n)
		if err != nil {
			return nil, err
		}
		qs = append(qs, q)
	}
	var out []Result
	for _, q := range qs {
		r, err := RunQuery(ctx, cfg, q)
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

// FindPlugins returns the plugins/build directory above dir (or in it).
func FindPlugins(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("finding the plugins: %w", err)
	}
	for d := abs; ; d = filepath.Dir(d) {
		p := filepath.Join(d, "plugins", "build")
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			return p, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("%w above %s: build them with `make -C plugins` in the repository, or pass their directory", ErrNoPlugins, abs)
		}
	}
}

// ModulePath is the nexmark module of a plugins build ("rust" or "go").
func ModulePath(pluginDir, build string) string {
	return filepath.Join(pluginDir, build, "nexmark.wasm")
}

// overrides are the job file changes a run makes.
func (q Query) overrides(cfg Config) ([]string, error) {
	sets := []string{
		"sources.events.events=" + strconv.FormatInt(cfg.Events, 10),
		"sources.events.events-per-second=" + strconv.FormatFloat(cfg.Rate, 'f', -1, 64),
		"sources.events.seed=" + strconv.FormatUint(cfg.Seed, 10),
		"config.state-backend=" + cfg.State,
		"config.checkpointing.interval=" + cfg.CheckpointInterval.String(),
		"sinks.out.type=nexmark-probe",
	}
	if q.Module != "" {
		dir := cfg.PluginDir
		if dir == "" {
			var err error
			if dir, err = FindPlugins("."); err != nil {
				return nil, fmt.Errorf("query %s: %w", q.Name, err)
			}
		}
		mod := ModulePath(dir, q.Module)
		if _, err := os.Stat(mod); err != nil {
			return nil, fmt.Errorf("query %s: %w: %s is missing (make -C plugins builds it)", q.Name, ErrNoPlugins, mod)
		}
		sets = append(sets, "operators."+q.ModuleOperator+".module="+mod)
	}
	return append(sets, cfg.Set...), nil
}

// registry returns the registry of one run: the built-in components, the
// wasm operator over rt (when not nil), and this package's.
func runRegistry(rt *host.Runtime, probe *Probe) *registry.Registry {
	reg := job.DefaultRegistry()
	if rt != nil {
		wasmop.Register(reg, wasmop.Loader{Runtime: rt})
	}
	Register(reg, probe)
	return reg
}

// RunQuery runs one query, then its limit when cfg.Limit is set.
func RunQuery(ctx context.Context, cfg Config, q Query) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	spec, err := q.Spec()
	if err != nil {
		return Result{}, err
	}
	sets, err := q.overrides(cfg)
	if err != nil {
		return Result{}, err
	}
	if err := spec.Override(sets, cfg.Parallelism); err != nil {
		return Result{}, fmt.Errorf("query %s: %w", q.Name, err)
	}
	var rt *host.Runtime
	if q.Module != "" {
		if rt, err = host.NewRuntime(ctx, host.Config{Logger: log}); err != nil {
			return Result{}, fmt.Errorf("query %s: starting the WebAssembly runtime: %w", q.Name, err)
		}
		defer rt.Close(context.Background())
	}
	probe := NewProbe(q.Latency, q.StampEvery, q.WatermarkDelay)
	work, err := os.MkdirTemp(cfg.Dir, "nexmark-"+q.Name+"-")
	if err != nil {
		return Result{}, fmt.Errorf("query %s: %w", q.Name, err)
	}
	defer os.RemoveAll(work)
	env, err := job.Build(spec, stream.Config{Registry: runRegistry(rt, probe), Logger: log, Dir: filepath.Join(work, "state")})
	if err != nil {
		return Result{}, fmt.Errorf("query %s: %w", q.Name, err)
	}
	env.SetCheckpointDir(filepath.Join(work, "checkpoints"))

	r := Result{Query: q.Name, Summary: q.Summary, LatencyMode: q.Latency}
	// Return what earlier queries left to the OS, so that the peak is this
	// query's own.
	debug.FreeOSMemory()
	r.PeakIsProcess = !resetPeakRSS()
	cpu0, start := cpuTime(), time.Now()
	client, err := env.ExecuteAsync(ctx, spec.Name)
	if err != nil {
		return Result{}, fmt.Errorf("query %s: %w", q.Name, err)
	}
	w := startWatch(client, q.Name, cfg)
	res, err := client.JobManager().Wait(ctx, client.ID)
	r.Wall, r.CPU = time.Since(start), cpuTime()-cpu0
	r.PeakRSS = peakRSS()
	cps := w.stop()
	if err != nil { // ctx ended: cancel the job and let it shut down
		_ = client.Cancel(context.Background())
		_, _ = client.Wait(context.Background())
		return Result{}, fmt.Errorf("query %s: %w", q.Name, err)
	}
	if last, err := client.Checkpoints(); err == nil {
		cps = last
	}
	if _, err := client.Wait(context.Background()); err != nil {
		return Result{}, fmt.Errorf("query %s: %w", q.Name, err)
	}
	for _, v := range res.Status.Vertices {
		r.Events += sourceEvents(v)
	}
	r.Results = probe.Results()
	r.P50, r.P99, r.LatencySamples = probe.Latency()
	for _, c := range cps {
		if c.Savepoint || c.Status != "COMPLETED" {
			continue
		}
		r.Checkpoints++
		r.CheckpointMax = max(r.CheckpointMax, c.Size)
		r.LastCheckpoint = c.Size
	}
	if cfg.Limit {
		if r.Limit, err = RunLimit(ctx, cfg, q); err != nil {
			return r, err
		}
	}
	return r, nil
}

// watch reports progress and follows checkpoints while a job runs.
type watch struct {
	stopc chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	cps   []cluster.CheckpointStats
}

func startWatch(c *stream.JobClient, name string, cfg Config) *watch {
	w := &watch{stopc: make(chan struct{})}
	start := time.Now()
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-w.stopc:
				return
			case <-tick.C:
			}
			if cps, err := c.Checkpoints(); err == nil {
				w.mu.Lock()
				w.cps = cps
				w.mu.Unlock()
			}
			if cfg.Progress == nil {
				continue
			}
			st, err := c.Status()
			if err != nil {
				continue
			}
			var done int64
			for _, v := range st.Vertices {
				done += sourceEvents(v)
			}
			cfg.Progress(Progress{Query: name, Phase: "freshet", Done: done, Total: cfg.Events, Elapsed: time.Since(start)})
		}
	}()
	return w
}

// stop ends the watch and returns the last checkpoint history it saw.
func (w *watch) stop() []cluster.CheckpointStats {
	close(w.stopc)
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cps
}

// digest keeps the limits' results reachable so their work is not
// optimized away.
var digest uint64

// GeneratorConfig is the generator configuration of a run: the one the
// nexmark source of every query uses.
func GeneratorConfig(cfg Config) nexmark.Config {
	g := nexmark.DefaultConfig()
	g.Seed, g.Events, g.EventsPerSecond = cfg.Seed, cfg.Events, cfg.Rate
	return g
}

// RunLimit runs q's hand-written limit over the run's events.
func RunLimit(ctx context.Context, cfg Config, q Query) (LimitResult, error) {
	if err := ctx.Err(); err != nil {
		return LimitResult{}, err
	}
	g, err := nexmark.NewGenerator(GeneratorConfig(cfg))
	if err != nil {
		return LimitResult{}, fmt.Errorf("query %s: limit: %w", q.Name, err)
	}
	if cfg.Progress != nil {
		cfg.Progress(Progress{Query: q.Name, Phase: "limit", Total: cfg.Events})
	}
	runtime.GC()
	cpu0, start := cpuTime(), time.Now()
	digest ^= q.limit(g, nil)
	l := LimitResult{Events: g.Position(), Wall: time.Since(start), CPU: cpuTime() - cpu0}
	if cfg.Progress != nil {
		cfg.Progress(Progress{Query: q.Name, Phase: "limit", Done: l.Events, Total: cfg.Events, Elapsed: l.Wall})
	}
	return l, nil
}

// sourceEvents is the number of events a source vertex generated: its
// records out (the source's, not its chain's), or for a source with a view
// pushed into it (nexmark-rows), which emits only its view's rows, the
// events counted by nexmark.EventsCounter.
func sourceEvents(v cluster.VertexStatus) int64 {
	if !v.Source || len(v.Operators) == 0 {
		return 0
	}
	if n, ok := v.Operators[0].Counters[nexmark.EventsCounter]; ok {
		return n
	}
	return v.Operators[0].RecordsOut
}
