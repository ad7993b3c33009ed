// Package job turns a job file (engine/jobspec) into a runnable pipeline of
// the Go API (engine/stream), resolving each node's type through a
// registry.Registry. It is where the built-in components are assembled into
// the default registry.
package job

import (
	"errors"
	"fmt"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/cluster"
	"github.com/freshet/freshet/engine/connectors"
	"github.com/freshet/freshet/engine/connectors/kafka"
	"github.com/freshet/freshet/engine/eventtime"
	"github.com/freshet/freshet/engine/graph"
	"github.com/freshet/freshet/engine/jobspec"
	"github.com/freshet/freshet/engine/operators"
	"github.com/freshet/freshet/engine/params"
	"github.com/freshet/freshet/engine/registry"
	"github.com/freshet/freshet/engine/state"
	"github.com/freshet/freshet/engine/state/rocksdb"
	"github.com/freshet/freshet/engine/stream"
	"github.com/freshet/freshet/engine/windows"
)

// DefaultRegistry returns a registry with every built-in source, operator
// and sink.
func DefaultRegistry() *registry.Registry {
	r := registry.New()
	connectors.Register(r)
	operators.Register(r)
	kafka.Register(r)
	eventtime.Register(r)
	windows.Register(r)
	return r
}

// readConfig fills cfg from the job's config section.
func readConfig(p *params.Params, cfg *stream.Config) error {
	if p == nil {
		return nil
	}
	cfg.Memory.TotalBytes = p.Size("network-memory", cfg.Memory.TotalBytes)
	cfg.Memory.SegmentSize = int(p.Size("segment-size", int64(cfg.Memory.SegmentSize)))
	cfg.Credits = int(p.IntRange("credits", int64(cfg.Credits), 0, 1024))
	cfg.BufferTimeout = p.Duration("buffer-timeout", cfg.BufferTimeout)
	cfg.TaskManagers = int(p.IntRange("task-managers", int64(cfg.TaskManagers), 0, 64))
	if p.Has("checkpointing") {
		c := p.Sub("checkpointing")
		cp := &cluster.CheckpointConfig{}
		if cfg.Checkpoint != nil {
			*cp = *cfg.Checkpoint
		}
		cp.Interval = c.Duration("interval", cp.Interval)
		cp.AtLeastOnce = c.Enum("mode", "exactly-once", "exactly-once", "at-least-once") == "at-least-once"
		cp.Timeout = c.Duration("timeout", cp.Timeout)
		cp.MinPause = c.Duration("min-pause", cp.MinPause)
		cp.Retain = int(c.IntRange("retained", int64(cp.Retain), 0, 1000))
		cp.Dir = c.String("dir", cp.Dir)
		cfg.Checkpoint = cp
	}
	backend := p.Enum("state-backend", "heap", "heap", "rocksdb")
	// The rocksdb section is read (and checked) with either backend, so
	// that one job file runs on both (--set config.state-backend=heap);
	// only the RocksDB backend uses it.
	rc := rocksdb.Defaults()
	if backend == "rocksdb" || p.Has("rocksdb") {
		r := p.Sub("rocksdb")
		rc.WriteBufferSize = r.Size("write-buffer-size", rc.WriteBufferSize)
		rc.MaxBackgroundJobs = int(r.IntRange("max-background-jobs", int64(rc.MaxBackgroundJobs), 1, 256))
		rc.BlockSize = int(r.Size("block-size", int64(rc.BlockSize)))
		rc.BlockCacheSize = r.Size("block-cache-size", rc.BlockCacheSize)
		rc.BloomFilterBitsPerKey = int(r.IntRange("bloom-filter-bits-per-key", int64(rc.BloomFilterBitsPerKey), 0, 64))
		rc.Compression = rocksdb.Compression(r.Enum("compression", string(rc.Compression), "none", "snappy", "lz4", "zstd"))
		rc.StateCacheSize = r.Size("state-cache-size", rc.StateCacheSize)
		if err := rc.Validate(); err != nil {
			r.Errorf("", "%v", err)
		}
	}
	if backend == "rocksdb" && p.Err() == nil {
		res, err := rocksdb.NewSharedResources(rc)
		if err != nil {
			return fmt.Errorf("config.rocksdb: %w", err)
		}
		cfg.State = func(opts state.Options) (state.Backend, error) { return rocksdb.New(opts, res) }
		cfg.Resources = append(cfg.Resources, res)
	}
	if p.Has("restart-strategy") {
		r := p.Sub("restart-strategy")
		switch r.Enum("type", "exponential-delay", "none", "fixed-delay", "failure-rate", "exponential-delay") {
		case "none":
			cfg.Restart = cluster.NoRestart{}
		case "fixed-delay":
			cfg.Restart = &cluster.FixedDelay{Attempts: int(r.IntRange("attempts", 3, 0, 1<<30)), Delay: r.Duration("delay", time.Second)}
		case "failure-rate":
			cfg.Restart = &cluster.FailureRate{MaxFailures: int(r.IntRange("max-failures", 3, 0, 1<<30)), Interval: r.Duration("interval", time.Minute), Delay: r.Duration("delay", time.Second)}
		default:
			e := cluster.DefaultExponentialDelay()
			e.Initial = r.Duration("initial-delay", e.Initial)
			e.Max = r.Duration("max-delay", e.Max)
			e.Multiplier = r.Float("multiplier", e.Multiplier)
			e.Jitter = r.Float("jitter", e.Jitter)
			e.ResetAfter = r.Duration("reset-after", e.ResetAfter)
			cfg.Restart = e
		}
	}
	return p.Err()
}

// Build turns spec into an Environment ready to execute. cfg supplies what
// the file does not say (a registry, a logger, a state directory).
func Build(spec *jobspec.Spec, cfg stream.Config) (*stream.Environment, error) {
	if cfg.Registry == nil {
		cfg.Registry = DefaultRegistry()
	}
	cfg.Parallelism = spec.Parallelism
	cfg.MaxParallelism = spec.MaxParallelism
	if err := readConfig(spec.Config, &cfg); err != nil {
		return nil, err
	}
	if err := cfg.Memory.WithDefaults().Validate(); err != nil {
		return nil, fmt.Errorf("%s: config: %w", spec.File, err)
	}
	env := stream.NewEnvironment(cfg)
	reg := cfg.Registry
	streams := map[string]*stream.DataStream{}
	var errs []error
	for _, n := range spec.TopoOrder() {
		p := n.NewParams()
		par := spec.ParallelismOf(n)
		switch n.Kind {
		case jobspec.SourceKind:
			// A `watermarks:` block on a source chains a watermark
			// strategy operator right after it.
			var newWM func() (api.Operator, error)
			if p.Has("watermarks") {
				sub := p.Sub("watermarks")
				strategy := eventtime.FromParams(sub, spec.OnErrorOf(n))
				if sub.Err() == nil { // else reported with the source's fields
					var werr error
					if newWM, werr = eventtime.New(strategy); werr != nil {
						errs = append(errs, &params.Error{Pos: n.Pos, Field: n.Path() + ".watermarks", Msg: werr.Error()})
						continue
					}
				}
			}
			newSource, err := reg.Source(n.Type, p)
			if err == nil {
				err = p.Err()
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
			src := env.FromSource(n.Name, newSource).SetParallelism(par)
			if newWM != nil {
				src = src.Transform(n.Name+"-watermarks", newWM).SetParallelism(par)
			}
			streams[n.Name] = src
		case jobspec.OperatorKind, jobspec.SinkKind:
			var op registry.Operator
			var err error
			if n.Kind == jobspec.OperatorKind {
				op, err = reg.Operator(n.Type, p)
			} else {
				op, err = reg.Sink(n.Type, p)
			}
			if err == nil {
				err = p.Err()
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if op.TwoInputs && len(n.Inputs) != 2 {
				errs = append(errs, &params.Error{Pos: n.Pos, Field: n.Path() + ".inputs", Msg: fmt.Sprintf("type %s joins two inputs: list them as inputs: [left, right]", n.Type)})
				continue
			}
			var in, second *stream.DataStream
			if op.TwoInputs {
				if in, err = inputOf(spec, n, n.Inputs[:1], streams); err == nil {
					second, err = inputOf(spec, n, n.Inputs[1:], streams)
				}
			} else {
				in, err = inputOf(spec, n, n.Inputs, streams)
			}
			if errors.Is(err, errInputFailed) {
				continue
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if op.Keyed && n.KeyBy == nil {
				errs = append(errs, &params.Error{Pos: n.Pos, Field: n.Path(), Msg: fmt.Sprintf("%s %q of type %s keeps keyed state: add key-by (value, key, or {field: ...})", n.Kind, n.Name, n.Type)})
				continue
			}
			if op.MaxParallelism > 0 && par > op.MaxParallelism {
				if n.Parallelism > op.MaxParallelism {
					errs = append(errs, &params.Error{Pos: n.Pos, Field: n.Path() + ".parallelism", Msg: fmt.Sprintf("type %s runs with parallelism at most %d", n.Type, op.MaxParallelism)})
					continue
				}
				par = op.MaxParallelism
			}
			var out *stream.DataStream
			switch {
			case op.TwoInputs:
				out = in.TransformTwoOp(n.Name, n.Type, second, op)
			case n.Kind == jobspec.SinkKind:
				out = in.AddSinkOp(n.Name, n.Type, op)
			case op.Keyed:
				out = (&stream.KeyedStream{DataStream: in}).TransformOp(n.Name, n.Type, op)
			default:
				out = in.TransformOp(n.Name, n.Type, op)
			}
			streams[n.Name] = out.SetParallelism(par)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return env, nil
}

var errInputFailed = errors.New("an input failed to build")

// inputOf unions the inputs refs of n (a node name, or name.tag for a side
// output) and applies n's partitioning.
func inputOf(spec *jobspec.Spec, n *jobspec.Node, refs []string, streams map[string]*stream.DataStream) (*stream.DataStream, error) {
	var in *stream.DataStream
	for _, ref := range refs {
		name, side := jobspec.SplitInput(ref)
		s, ok := streams[name]
		if !ok {
			return nil, errInputFailed // already reported
		}
		if side != "" {
			s = s.SideOutput(side)
		}
		if in == nil {
			in = s
		} else {
			in = in.Union(s)
		}
	}
	if n.KeyBy != nil {
		sel, err := operators.KeySelector(n.KeyBy)
		if err != nil {
			return nil, &params.Error{Pos: n.KeyBy.Pos, Field: n.Path() + ".key-by", Msg: err.Error()}
		}
		return in.KeyBy(graph.KeySelector(sel)).DataStream, nil
	}
	switch n.Partition {
	case jobspec.PartitionRebalance:
		return in.Rebalance(), nil
	case jobspec.PartitionBroadcast:
		return in.Broadcast(), nil
	case jobspec.PartitionForward:
		return in.Forward(), nil
	}
	return in, nil
}
