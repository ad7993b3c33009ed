package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/freshet/freshet/engine/cluster"
	"github.com/freshet/freshet/engine/job"
	"github.com/freshet/freshet/engine/memory"
	"github.com/freshet/freshet/engine/metrics"
	"github.com/freshet/freshet/engine/params"
	"github.com/freshet/freshet/engine/registry"
	"github.com/freshet/freshet/engine/rest"
	"github.com/freshet/freshet/engine/state"
	"github.com/freshet/freshet/engine/state/heap"
	"github.com/freshet/freshet/engine/state/rocksdb"
	"github.com/freshet/freshet/host"
	"github.com/freshet/freshet/host/modules"
	"github.com/freshet/freshet/host/wasmop"
)

// endpoints are the HTTP endpoints of a cluster: the REST API and the
// Prometheus metrics.
type endpoints struct {
	rest       *rest.Server
	metrics    *metrics.Server
	restURL    string
	metricsURL string
}

type endpointConfig struct {
	restAddr, metricsAddr string
	registry              *registry.Registry
	modules               rest.ModuleStore
	log                   *slog.Logger
}

// errRESTAddr and errMetricsAddr say which address could not be served.
var (
	errRESTAddr    = errors.New("--rest-addr")
	errMetricsAddr = errors.New("--metrics-addr")
)

// serve starts the endpoints of mc that have an address.
func serve(mc *cluster.MiniCluster, cfg endpointConfig) (*endpoints, error) {
	e := &endpoints{}
	var restMetrics *metrics.REST
	if cfg.metricsAddr != "" {
		reg := metrics.NewRegistry(mc)
		var err error
		if restMetrics, err = metrics.NewREST(reg); err != nil {
			return nil, err
		}
		if e.metrics, err = metrics.Serve(cfg.metricsAddr, reg, cfg.log); err != nil {
			return nil, fmt.Errorf("%w: %w", errMetricsAddr, err)
		}
		e.metricsURL = "http://" + e.metrics.Addr() + "/metrics"
	}
	if cfg.restAddr != "" {
		srv, err := rest.NewServer(rest.Config{
			Cluster: rest.NewLocalCluster(mc, rest.LocalConfig{Registry: cfg.registry, Logger: cfg.log}),
			Modules: cfg.modules, Version: Version, Logger: cfg.log,
		})
		if err != nil {
			e.close()
			return nil, err
		}
		var wrap func(h http.Handler) http.Handler
		if restMetrics != nil {
			wrap = restMetrics.Wrap
		}
		addr, err := srv.Listen(cfg.restAddr, wrap)
		if err != nil {
			e.close()
			return nil, fmt.Errorf("%w: %w", errRESTAddr, err)
		}
		e.rest, e.restURL = srv, "http://"+addr
	}
	return e, nil
}

func (e *endpoints) close() {
	if e.rest != nil {
		_ = e.rest.Close()
	}
	if e.metrics != nil {
		_ = e.metrics.Close()
	}
}

func clusterCmd(ctx context.Context, stdio IO, args []string) int {
	fs := newFlags(stdio, "cluster", "", "Run a session cluster in this process: a JobManager, TaskManagers, the REST API and\n"+
		"the metrics endpoint, until Ctrl-C. Submit jobs with 'freshet submit JOB.yaml' or POST /v1/jobs\n"+
		"(docs/rest-api.md). On Ctrl-C the running jobs stop gracefully (sources stop, sinks flush\n"+
		"and commit), then the cluster exits 0; a second Ctrl-C exits at once.")
	restAddr := fs.String("rest-addr", rest.DefaultAddr, "serve the REST API on this address (port 0 picks a free one)")
	metricsAddr := fs.String("metrics-addr", metrics.DefaultAddr, "serve Prometheus metrics on this address ('' to disable)")
	taskManagers := fs.Int("taskmanagers", 1, "number of TaskManagers")
	slots := fs.Int("slots", 4, "slots of each TaskManager: a job needs as many slots as its highest parallelism")
	networkMemory := fs.String("network-memory", "64MiB", "network buffer memory of each TaskManager")
	stateBackend := fs.String("state-backend", "heap", "keyed state backend of every job: heap or rocksdb")
	stateDir := fs.String("state-dir", "", "directory for local state (default: a temporary directory)")
	moduleDir := fs.String("module-dir", "", "directory of the module store (default: a temporary directory, removed at exit)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stdio.Err, "freshet cluster: "+format+"\n", a...)
		return ExitUsage
	}
	if fs.NArg() != 0 {
		return usage("takes no arguments (submit jobs with 'freshet submit')")
	}
	if *restAddr == "" {
		return usage("--rest-addr is required: the REST API is how jobs reach a session cluster")
	}
	if *taskManagers < 1 || *taskManagers > 64 {
		return usage("--taskmanagers must be in [1, 64], got %d", *taskManagers)
	}
	if *slots < 1 || *slots > 1024 {
		return usage("--slots must be in [1, 1024], got %d", *slots)
	}
	memBytes, err := params.ParseSize(*networkMemory)
	if err != nil {
		return usage("--network-memory: %v", err)
	}
	mem := memory.Config{TotalBytes: memBytes}
	if err := mem.WithDefaults().Validate(); err != nil {
		return usage("--network-memory: %v", err)
	}
	log, err := newLogger(stdio.Err, *logLevel)
	if err != nil {
		return usage("%v", err)
	}
	var stateFactory func(state.Options) (state.Backend, error)
	switch *stateBackend {
	case "heap":
		stateFactory = heap.New
	case "rocksdb":
		res, err := rocksdb.NewSharedResources(rocksdb.Defaults())
		if err != nil {
			fmt.Fprintf(stdio.Err, "freshet cluster: starting RocksDB: %v\n", err)
			return ExitFailure
		}
		defer res.Close()
		stateFactory = func(o state.Options) (state.Backend, error) { return rocksdb.New(o, res) }
	default:
		return usage("--state-backend: %q is not heap or rocksdb", *stateBackend)
	}

	// The module store, and the registry that resolves name@version in job
	// files through it.
	bg := context.Background()
	rt, err := host.NewRuntime(bg, host.Config{Logger: log})
	if err != nil {
		fmt.Fprintf(stdio.Err, "freshet cluster: starting the WebAssembly runtime: %v\n", err)
		return ExitFailure
	}
	defer rt.Close(bg)
	dir := *moduleDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "freshet-modules-"); err != nil {
			fmt.Fprintf(stdio.Err, "freshet cluster: %v\n", err)
			return ExitFailure
		}
		defer os.RemoveAll(dir)
	}
	store, err := modules.Open(dir, rt)
	if err != nil {
		return usage("--module-dir: %v", err)
	}
	reg := job.DefaultRegistry()
	wasmop.Register(reg, wasmop.Loader{Runtime: rt, Store: store})

	mc, err := cluster.NewMiniCluster(cluster.MiniClusterConfig{
		TaskManagers: *taskManagers,
		Logger:       log,
		TaskManager:  cluster.TaskManagerConfig{Slots: *slots, Memory: mem, Dir: *stateDir, State: stateFactory},
	})
	if err != nil {
		fmt.Fprintf(stdio.Err, "freshet cluster: %v\n", err)
		return ExitFailure
	}
	defer mc.Close()
	ep, err := serve(mc, endpointConfig{restAddr: *restAddr, metricsAddr: *metricsAddr, registry: reg, modules: store, log: log})
	if err != nil {
		fmt.Fprintf(stdio.Err, "freshet cluster: %v (pick another address; port 0 picks a free one)\n", err)
		return ExitUsage
	}
	defer ep.close()

	fmt.Fprintf(stdio.Out, "Freshet %s session cluster: %d TaskManager(s) with %d slots each\n", Version, *taskManagers, *slots)
	fmt.Fprintf(stdio.Out, "REST API: %s\n", ep.restURL)
	if ep.metricsURL != "" {
		fmt.Fprintf(stdio.Out, "Metrics: %s\n", ep.metricsURL)
	}
	fmt.Fprintf(stdio.Out, "Module store: %s\n", dir)
	fmt.Fprintf(stdio.Out, "Submit jobs with: freshet submit JOB.yaml --jobmanager %s\n", ep.restURL)

	<-ctx.Done()
	fmt.Fprintln(stdio.Err, "freshet cluster: interrupt: stopping the running jobs (sources stop, sinks flush)")
	// Stop the API first: no new jobs while the others stop.
	ep.close()
	stopAll(mc.JobManager(), 30*time.Second, log)
	return ExitOK
}

// stopAll stops every running job gracefully and waits for them; jobs that
// have not ended after timeout are cancelled.
func stopAll(jm *cluster.JobManager, timeout time.Duration, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, id := range jm.Jobs() {
		st, err := jm.Status(id)
		if err != nil || st.State.Terminal() {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := jm.Stop(ctx, id); err != nil {
				log.Warn("stopping job", "job", id, "err", err)
			}
			if _, err := jm.Wait(ctx, id); err != nil {
				log.Warn("job did not stop in time: cancelling it", "job", id, "timeout", timeout)
				_ = jm.Cancel(context.Background(), id)
			}
		}()
	}
	wg.Wait()
}
