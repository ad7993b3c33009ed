package rest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/freshet/freshet/engine/cluster"
	"github.com/freshet/freshet/engine/job"
	"github.com/freshet/freshet/engine/jobspec"
	"github.com/freshet/freshet/engine/registry"
	"github.com/freshet/freshet/engine/stream"
)

// LocalConfig configures a LocalCluster.
type LocalConfig struct {
	// Registry resolves the component types job files name (default:
	// job.DefaultRegistry()).
	Registry *registry.Registry
	Logger   *slog.Logger
}

// LocalCluster is the Cluster of an in-process MiniCluster: it builds
// submitted job files with its registry and runs them on the MiniCluster's
// TaskManagers, next to the jobs already there. Jobs share the slots (slot
// i of every job runs on the same TaskManager slot), so a job needs as many
// slots as its highest parallelism, whatever else runs.
//
// The TaskManagers exist before the job: the settings of a job file's
// config section that configure TaskManagers (network memory, credits,
// buffer timeout, state backend) are not applied, and Submit says so in the
// response's warnings.
type LocalCluster struct {
	mc  *cluster.MiniCluster
	jm  *cluster.JobManager
	reg *registry.Registry
	log *slog.Logger
}

// NewLocalCluster returns the Cluster of mc.
func NewLocalCluster(mc *cluster.MiniCluster, cfg LocalConfig) *LocalCluster {
	if cfg.Registry == nil {
		cfg.Registry = job.DefaultRegistry()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &LocalCluster{mc: mc, jm: mc.JobManager(), reg: cfg.Registry, log: cfg.Logger}
}

// taskManagerSettings are the config keys of a job file that configure the
// TaskManagers of the cluster `freshet run` starts for it.
var taskManagerSettings = []string{"network-memory", "segment-size", "credits", "buffer-timeout", "task-managers", "state-backend", "rocksdb"}

// Submit builds spec and starts it on the MiniCluster.
func (c *LocalCluster) Submit(ctx context.Context, spec *jobspec.Spec, opts SubmitOptions) (SubmitResponse, error) {
	env, err := job.Build(spec, stream.Config{Registry: c.reg, Logger: c.log})
	if err != nil {
		return SubmitResponse{}, mark(err, ErrInvalidJob)
	}
	cfg := env.Config()
	// The job's own TaskManager resources (a RocksDB block cache, say) are
	// not used here.
	for _, r := range cfg.Resources {
		_ = r.Close()
	}
	var res SubmitResponse
	if spec.Config != nil {
		for _, k := range spec.Config.Keys() {
			if slices.Contains(taskManagerSettings, k) {
				res.Warnings = append(res.Warnings, fmt.Sprintf("config.%s is a TaskManager setting: the cluster's TaskManagers are already running, so it is not applied", k))
			}
		}
	}
	jg, err := env.JobGraph(spec.Name)
	if err != nil {
		return SubmitResponse{}, mark(fmt.Errorf("job %q: %w", spec.Name, err), ErrInvalidJob)
	}
	need, slots := 0, 0
	for _, v := range jg.Vertices {
		need = max(need, v.Parallelism)
	}
	for _, tm := range c.mc.TaskManagers() {
		slots += tm.Slots()
	}
	if need > slots {
		return SubmitResponse{}, markf(ErrConflict, "job %q needs %d slots (its highest parallelism) but the cluster has %d: lower its parallelism, or start the cluster with more slots", spec.Name, need, slots)
	}
	res.ID, err = c.jm.SubmitWith(ctx, jg, cluster.SubmitOptions{
		Checkpoint:            cfg.Checkpoint,
		Restart:               cfg.Restart,
		RestoreFrom:           opts.RestoreFrom,
		AllowNonRestoredState: opts.AllowNonRestoredState,
	})
	if err != nil {
		// What SubmitWith refuses is the request's: a restore point that
		// does not fit, a checkpoint directory it cannot create.
		return SubmitResponse{}, mark(err, ErrBadRequest)
	}
	return res, nil
}

// TaskManagers describes the MiniCluster's TaskManagers.
func (c *LocalCluster) TaskManagers() []TaskManagerInfo {
	var out []TaskManagerInfo
	for _, tm := range c.mc.TaskManagers() {
		m := tm.Memory().Stats()
		out = append(out, TaskManagerInfo{ID: tm.ID(), Slots: tm.Slots(), NetworkMemory: NetworkMemory{Total: m.Total, Used: m.Used, Peak: m.Peak}})
	}
	return out
}

// Jobs lists the jobs, oldest first.
func (c *LocalCluster) Jobs() []string { return c.jm.Jobs() }

// Status returns a job's status.
func (c *LocalCluster) Status(id string) (cluster.JobStatus, error) { return c.jm.Status(id) }

// Checkpoints returns a job's checkpoint history.
func (c *LocalCluster) Checkpoints(id string) ([]cluster.CheckpointStats, error) {
	return c.jm.Checkpoints(id)
}

// Events returns a job's recent events.
func (c *LocalCluster) Events(id string) []cluster.Event { return c.jm.Events(id) }

// Cancel cancels a job.
func (c *LocalCluster) Cancel(ctx context.Context, id string) error { return c.jm.Cancel(ctx, id) }

// Stop stops a job gracefully.
func (c *LocalCluster) Stop(ctx context.Context, id string) error { return c.jm.Stop(ctx, id) }

// TriggerSavepoint takes a savepoint of a job.
func (c *LocalCluster) TriggerSavepoint(ctx context.Context, id, dir string, stop bool) (string, error) {
	return c.jm.TriggerSavepoint(ctx, id, dir, stop)
}

// Wait waits for a job to end.
func (c *LocalCluster) Wait(ctx context.Context, id string) (cluster.JobResult, error) {
	return c.jm.Wait(ctx, id)
}

// errNoSwap is returned while the JobManager cannot swap modules.
var errNoSwap = fmt.Errorf("%w: this JobManager cannot hot-swap modules yet", errors.ErrUnsupported)

// SwapModule hands the swap to the JobManager when it implements
// ModuleSwapper, and otherwise fails with errors.ErrUnsupported.
func (c *LocalCluster) SwapModule(ctx context.Context, jobID, vertex, module string) (string, error) {
	if sw, ok := any(c.jm).(ModuleSwapper); ok {
		return sw.SwapModule(ctx, jobID, vertex, module)
	}
	return "", errNoSwap
}

// SwapStatus reports a swap started by SwapModule.
func (c *LocalCluster) SwapStatus(jobID, requestID string) (string, string, error) {
	if sw, ok := any(c.jm).(ModuleSwapper); ok {
		return sw.SwapStatus(jobID, requestID)
	}
	return "", "", errNoSwap
}

var (
	_ Cluster       = (*LocalCluster)(nil)
	_ ModuleSwapper = (*LocalCluster)(nil)
)
