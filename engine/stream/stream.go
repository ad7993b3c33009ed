package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/cluster"
	"github.com/freshet/freshet/engine/graph"
	"github.com/freshet/freshet/engine/keygroup"
	"github.com/freshet/freshet/engine/memory"
	"github.com/freshet/freshet/engine/params"
	"github.com/freshet/freshet/engine/registry"
	"github.com/freshet/freshet/engine/state"
	"github.com/freshet/freshet/engine/state/heap"
)

// Config configures an Environment. The zero value is usable.
type Config struct {
	// Parallelism is the default parallelism of every operator (default 1).
	Parallelism int
	// MaxParallelism is the number of key groups (default 128).
	MaxParallelism int
	// Registry resolves component types named by AddSourceType and friends.
	Registry *registry.Registry
	// Memory is the network buffer budget of each TaskManager.
	Memory memory.Config
	// Credits is the number of buffers a consumer queues per input channel
	// (default 4).
	Credits int
	// BufferTimeout bounds how long a partly filled buffer waits (default 100ms).
	BufferTimeout time.Duration
	// TaskManagers is the number of in-process TaskManagers (default 1).
	TaskManagers int
	// State makes keyed state backends (default: heap).
	State func(opts state.Options) (state.Backend, error)
	// Dir is the working directory for local state (default: a temp dir).
	Dir    string
	Logger *slog.Logger

	// Checkpoint enables periodic checkpoints (nil: off).
	Checkpoint *cluster.CheckpointConfig
	// Restart is the restart strategy (nil: exponential delay with
	// checkpoints, none without).
	Restart cluster.RestartStrategy
	// RestoreFrom starts the job from a checkpoint or savepoint.
	RestoreFrom string
	// AllowNonRestoredState accepts state of operators the job lacks.
	AllowNonRestoredState bool
	// Resources are closed when the job's cluster shuts down (shared state
	// backend resources, for example).
	Resources []io.Closer
}

// Environment builds a job and runs it.
type Environment struct {
	cfg   Config
	graph *graph.StreamGraph
	errs  []error
	auto  map[*graph.Edge]bool // edges whose partitioning is decided at Execute
}

// NewEnvironment returns an empty job environment.
func NewEnvironment(cfg Config) *Environment {
	if cfg.Parallelism < 1 {
		cfg.Parallelism = 1
	}
	if cfg.MaxParallelism < 1 {
		cfg.MaxParallelism = keygroup.DefaultMaxParallelism
	}
	if cfg.Registry == nil {
		cfg.Registry = registry.New()
	}
	if cfg.State == nil {
		cfg.State = heap.New
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Environment{cfg: cfg, graph: &graph.StreamGraph{MaxParallelism: cfg.MaxParallelism}, auto: map[*graph.Edge]bool{}}
}

// SetCheckpointDir sets (or overrides) where checkpoints are written,
// turning checkpoint storage on without periodic checkpoints if none were
// configured.
func (e *Environment) SetCheckpointDir(dir string) {
	cp := cluster.CheckpointConfig{}
	if e.cfg.Checkpoint != nil {
		cp = *e.cfg.Checkpoint
	}
	cp.Dir = dir
	e.cfg.Checkpoint = &cp
}

// Config returns the environment's configuration.
func (e *Environment) Config() Config { return e.cfg }

func (e *Environment) errorf(format string, args ...any) {
	e.errs = append(e.errs, fmt.Errorf(format, args...))
}

// Err returns the mistakes recorded while building, if any.
func (e *Environment) Err() error { return errors.Join(e.errs...) }

// ref is one upstream output feeding the next operator.
type ref struct {
	node int
	side string
	part graph.Partitioning
	auto bool
	key  graph.KeySelector
}

// DataStream is a stream of records between operators.
type DataStream struct {
	env  *Environment
	refs []ref
}

// FromSource adds a source. newSource makes one instance per subtask.
func (e *Environment) FromSource(name string, newSource func() (api.Source, error)) *DataStream {
	n := e.graph.AddNode(&graph.Node{Name: name, Kind: graph.SourceNode, Parallelism: e.cfg.Parallelism, NewSource: newSource})
	return &DataStream{env: e, refs: []ref{{node: n.ID, auto: true}}}
}

// FromSourceType adds a source of a registered type with params.
func (e *Environment) FromSourceType(name, typ string, p map[string]any) *DataStream {
	newSource, err := e.cfg.Registry.Source(typ, params.FromMap(name, p))
	if err != nil {
		e.errorf("source %q: %w", name, err)
		newSource = func() (api.Source, error) { return nil, err }
	}
	ds := e.FromSource(name, newSource)
	e.graph.Nodes[ds.refs[0].node].Type = typ
	return ds
}

func (d *DataStream) node() *graph.Node {
	if len(d.refs) != 1 || d.refs[0].side != "" {
		return nil
	}
	return d.env.graph.Nodes[d.refs[0].node]
}

// SetParallelism sets the parallelism of the operator that produces d.
func (d *DataStream) SetParallelism(p int) *DataStream {
	n := d.node()
	if n == nil {
		d.env.errorf("SetParallelism(%d) on a union or side output: set it on the operators that produce it", p)
		return d
	}
	if err := keygroup.Validate(p, d.env.cfg.MaxParallelism); err != nil {
		d.env.errorf("%s %q: %w", n.Kind, n.Name, err)
		return d
	}
	n.Parallelism = p
	return d
}

// DisableChaining runs the operator that produces d in a task of its own.
func (d *DataStream) DisableChaining() *DataStream {
	if n := d.node(); n != nil {
		n.Chaining = graph.ChainNever
	}
	return d
}

// StartNewChain starts a new chain at the operator that produces d.
func (d *DataStream) StartNewChain() *DataStream {
	if n := d.node(); n != nil {
		n.Chaining = graph.ChainHead
	}
	return d
}

func (d *DataStream) withPartitioning(p graph.Partitioning, key graph.KeySelector) *DataStream {
	out := &DataStream{env: d.env, refs: make([]ref, len(d.refs))}
	for i, r := range d.refs {
		r.part, r.auto, r.key = p, false, key
		out.refs[i] = r
	}
	return out
}

// Rebalance spreads records round robin over the next operator's subtasks.
func (d *DataStream) Rebalance() *DataStream { return d.withPartitioning(graph.Rebalance, nil) }

// Broadcast sends every record to every subtask of the next operator.
func (d *DataStream) Broadcast() *DataStream { return d.withPartitioning(graph.Broadcast, nil) }

// Forward keeps records in the same subtask index (equal parallelism).
func (d *DataStream) Forward() *DataStream { return d.withPartitioning(graph.Forward, nil) }

// Union merges d with others into one stream.
func (d *DataStream) Union(others ...*DataStream) *DataStream {
	out := &DataStream{env: d.env, refs: append([]ref(nil), d.refs...)}
	for _, o := range others {
		if o.env != d.env {
			d.env.errorf("Union: streams from different environments")
			continue
		}
		out.refs = append(out.refs, o.refs...)
	}
	return out
}

// SideOutput returns the records the operator producing d emitted to tag.
func (d *DataStream) SideOutput(tag string) *DataStream {
	n := d.node()
	if n == nil {
		d.env.errorf("SideOutput(%q) on a union: take side outputs from one operator", tag)
		return d
	}
	return &DataStream{env: d.env, refs: []ref{{node: n.ID, side: tag, auto: true}}}
}

// connect adds node n fed by d's refs.
func (d *DataStream) connect(n *graph.Node, input int) {
	for _, r := range d.refs {
		e := &graph.Edge{From: r.node, To: n.ID, Partitioning: r.part, KeySelector: r.key, SideOutput: r.side, Input: input}
		d.env.graph.AddEdge(e)
		if r.auto {
			d.env.auto[e] = true
		}
	}
}

// Transform adds a native operator; newOp makes one instance per subtask.
func (d *DataStream) Transform(name string, newOp func() (api.Operator, error)) *DataStream {
	n := d.env.graph.AddNode(&graph.Node{Name: name, Kind: graph.OperatorNode, Parallelism: d.env.cfg.Parallelism, NewOperator: newOp})
	d.connect(n, 0)
	return &DataStream{env: d.env, refs: []ref{{node: n.ID, auto: true}}}
}

// TransformType adds an operator of a registered type with params.
func (d *DataStream) TransformType(name, typ string, p map[string]any) *DataStream {
	op, err := d.env.cfg.Registry.Operator(typ, params.FromMap(name, p))
	if err != nil {
		d.env.errorf("operator %q: %w", name, err)
		op = registry.Operator{New: func() (api.Operator, error) { return nil, err }}
	}
	return d.TransformOp(name, typ, op)
}

// TransformOp adds an operator built by a registry builder, keeping what
// it says of itself (keyed, maximum parallelism, module and hot-swap).
func (d *DataStream) TransformOp(name, typ string, op registry.Operator) *DataStream {
	out := d.Transform(name, op.New)
	describe(out.node(), typ, op)
	return out
}

// TransformTwoOp adds a two-input operator (a join) built by a registry
// builder: d feeds its first input, other its second.
func (d *DataStream) TransformTwoOp(name, typ string, other *DataStream, op registry.Operator) *DataStream {
	if other.env != d.env {
		d.env.errorf("%s %q: inputs from different environments", "operator", name)
	}
	n := d.env.graph.AddNode(&graph.Node{Name: name, Kind: graph.OperatorNode, Parallelism: d.env.cfg.Parallelism, NewOperator: op.New})
	d.connect(n, 0)
	other.connect(n, 1)
	out := &DataStream{env: d.env, refs: []ref{{node: n.ID, auto: true}}}
	describe(n, typ, op)
	return out
}

// AddSinkOp adds a sink built by a registry builder.
func (d *DataStream) AddSinkOp(name, typ string, op registry.Operator) *DataStream {
	out := d.AddSink(name, op.New)
	describe(out.node(), typ, op)
	return out
}

func describe(n *graph.Node, typ string, op registry.Operator) {
	n.Type, n.Keyed, n.MaxParallelism, n.Module = typ, op.Keyed, op.MaxParallelism, op.Module
	if op.MaxParallelism > 0 && n.Parallelism > op.MaxParallelism {
		n.Parallelism = op.MaxParallelism
	}
	if op.Rebuild != nil {
		rebuild := op.Rebuild
		n.Rebuild = func(module string) (func() (api.Operator, error), error) {
			nop, err := rebuild(module)
			if err != nil {
				return nil, err
			}
			if nop.Keyed != op.Keyed {
				return nil, fmt.Errorf("module %s runs a %s operator, the running one is %s", module, keyedWord(nop.Keyed), keyedWord(op.Keyed))
			}
			return nop.New, nil
		}
	}
}

func keyedWord(k bool) string {
	if k {
		return "keyed"
	}
	return "non-keyed"
}

// Map transforms each record with fn, which may change the record's fields.
func (d *DataStream) Map(name string, fn func(r *api.Record) error) *DataStream {
	return d.Transform(name, func() (api.Operator, error) { return &mapOp{fn: fn}, nil })
}

// Filter keeps the records for which fn returns true.
func (d *DataStream) Filter(name string, fn func(r *api.Record) bool) *DataStream {
	return d.Transform(name, func() (api.Operator, error) { return &filterOp{fn: fn}, nil })
}

// FlatMap emits zero or more records per input record.
func (d *DataStream) FlatMap(name string, fn func(r *api.Record, out api.Output) error) *DataStream {
	return d.Transform(name, func() (api.Operator, error) { return &flatMapOp{fn: fn}, nil })
}

// KeyBy partitions the stream by the key sel computes (appending it to dst);
// a nil sel keeps the key records already carry.
func (d *DataStream) KeyBy(sel graph.KeySelector) *KeyedStream {
	return &KeyedStream{DataStream: d.withPartitioning(graph.Hash, sel)}
}

// AddSink adds a sink; newSink makes one instance per subtask.
func (d *DataStream) AddSink(name string, newSink func() (api.Operator, error)) *DataStream {
	n := d.env.graph.AddNode(&graph.Node{Name: name, Kind: graph.SinkNode, Parallelism: d.env.cfg.Parallelism, NewOperator: newSink})
	d.connect(n, 0)
	return &DataStream{env: d.env, refs: []ref{{node: n.ID, auto: true}}}
}

// AddSinkType adds a sink of a registered type with params.
func (d *DataStream) AddSinkType(name, typ string, p map[string]any) *DataStream {
	op, err := d.env.cfg.Registry.Sink(typ, params.FromMap(name, p))
	if err != nil {
		d.env.errorf("sink %q: %w", name, err)
		op = registry.Operator{New: func() (api.Operator, error) { return nil, err }}
	}
	return d.AddSinkOp(name, typ, op)
}

// KeyedStream is a stream partitioned by key: operators on it get keyed
// state and timers.
type KeyedStream struct {
	*DataStream
}

// Process runs a keyed process function.
func (k *KeyedStream) Process(name string, fn ProcessFunction) *DataStream {
	out := k.Transform(name, func() (api.Operator, error) { return &processOp{fn: fn}, nil })
	out.node().Keyed = true
	return out
}

// Transform adds a native keyed operator.
func (k *KeyedStream) Transform(name string, newOp func() (api.Operator, error)) *DataStream {
	out := k.DataStream.Transform(name, newOp)
	out.node().Keyed = true
	return out
}

// TransformOp adds a keyed operator built by a registry builder.
func (k *KeyedStream) TransformOp(name, typ string, op registry.Operator) *DataStream {
	out := k.DataStream.TransformOp(name, typ, op)
	out.node().Keyed = true
	return out
}

// StreamGraph resolves default partitionings and returns the job's logical graph.
func (e *Environment) StreamGraph(jobName string) (*graph.StreamGraph, error) {
	if err := e.Err(); err != nil {
		return nil, err
	}
	for edge := range e.auto {
		from, to := e.graph.Nodes[edge.From], e.graph.Nodes[edge.To]
		if from.Parallelism == to.Parallelism {
			edge.Partitioning = graph.Forward
		} else {
			edge.Partitioning = graph.Rebalance
		}
	}
	e.graph.JobName = jobName
	return e.graph, nil
}

// JobGraph chains the job into its JobGraph.
func (e *Environment) JobGraph(jobName string) (*graph.JobGraph, error) {
	sg, err := e.StreamGraph(jobName)
	if err != nil {
		return nil, err
	}
	return graph.BuildJobGraph(sg)
}

// JobClient follows a job started by ExecuteAsync.
type JobClient struct {
	ID        string
	cluster   *cluster.MiniCluster
	resources []io.Closer
}

// JobManager returns the JobManager running the job.
func (c *JobClient) JobManager() *cluster.JobManager { return c.cluster.JobManager() }

// Cluster returns the MiniCluster running the job.
func (c *JobClient) Cluster() *cluster.MiniCluster { return c.cluster }

// Status returns the job's current status.
func (c *JobClient) Status() (cluster.JobStatus, error) { return c.cluster.JobManager().Status(c.ID) }

// Stop ends the job gracefully: sources stop, sinks flush (see JobManager.Stop).
func (c *JobClient) Stop(ctx context.Context) error { return c.cluster.JobManager().Stop(ctx, c.ID) }

// TriggerSavepoint takes a savepoint into dir; with stop, the job then ends.
func (c *JobClient) TriggerSavepoint(ctx context.Context, dir string, stop bool) (string, error) {
	return c.cluster.JobManager().TriggerSavepoint(ctx, c.ID, dir, stop)
}

// Checkpoints returns the job's checkpoint history.
func (c *JobClient) Checkpoints() ([]cluster.CheckpointStats, error) {
	return c.cluster.JobManager().Checkpoints(c.ID)
}

// Cancel cancels the job.
func (c *JobClient) Cancel(ctx context.Context) error {
	return c.cluster.JobManager().Cancel(ctx, c.ID)
}

// Wait waits for the job to end, then shuts its MiniCluster down.
func (c *JobClient) Wait(ctx context.Context) (cluster.JobResult, error) {
	res, err := c.cluster.JobManager().Wait(ctx, c.ID)
	if err != nil {
		return res, err
	}
	cerr := c.cluster.Close()
	for _, r := range c.resources {
		cerr = errors.Join(cerr, r.Close())
	}
	if res.Err != nil {
		return res, fmt.Errorf("job %q %s: %w", res.Name, res.State, res.Err)
	}
	if res.State != cluster.JobFinished {
		return res, fmt.Errorf("job %q ended %s", res.Name, res.State)
	}
	return res, cerr
}

// ExecuteAsync starts the job on a new MiniCluster.
func (e *Environment) ExecuteAsync(ctx context.Context, jobName string) (*JobClient, error) {
	jg, err := e.JobGraph(jobName)
	if err != nil {
		return nil, fmt.Errorf("job %q: %w", jobName, err)
	}
	slots := 1
	for _, v := range jg.Vertices {
		slots = max(slots, v.Parallelism)
	}
	tms := max(1, e.cfg.TaskManagers)
	mc, err := cluster.NewMiniCluster(cluster.MiniClusterConfig{
		TaskManagers: tms,
		Logger:       e.cfg.Logger,
		TaskManager: cluster.TaskManagerConfig{
			Slots:         (slots + tms - 1) / tms,
			Memory:        e.cfg.Memory,
			Credits:       e.cfg.Credits,
			Dir:           e.cfg.Dir,
			State:         e.cfg.State,
			BufferTimeout: e.cfg.BufferTimeout,
		},
	})
	if err != nil {
		return nil, err
	}
	id, err := mc.JobManager().SubmitWith(ctx, jg, cluster.SubmitOptions{
		Checkpoint:            e.cfg.Checkpoint,
		Restart:               e.cfg.Restart,
		RestoreFrom:           e.cfg.RestoreFrom,
		AllowNonRestoredState: e.cfg.AllowNonRestoredState,
	})
	if err != nil {
		_ = mc.Close()
		return nil, err
	}
	return &JobClient{ID: id, cluster: mc, resources: e.cfg.Resources}, nil
}

// Execute runs the job and waits for it to end. A bounded job ends when its
// sources are exhausted; cancel ctx to stop an unbounded one.
func (e *Environment) Execute(ctx context.Context, jobName string) (cluster.JobResult, error) {
	c, err := e.ExecuteAsync(ctx, jobName)
	if err != nil {
		return cluster.JobResult{}, err
	}
	stop := context.AfterFunc(ctx, func() { _ = c.Cancel(context.Background()) })
	defer stop()
	return c.Wait(context.Background())
}
