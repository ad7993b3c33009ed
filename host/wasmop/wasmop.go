// Package wasmop makes WebAssembly modules usable from job files: Register
// adds the operator type `wasm` to a component registry, and FromParams reads
// the same fields for other components that run guest functions (a window
// operator's aggregate, a key selector).
//
// A job file names a module by path or by name@version in the module store:
//
//	operators:
//	  - name: alerts
//	    type: wasm
//	    module: fraud@1.0.0        # or ./build/fraud.wasm
//	    kind: process              # map | filter | flat-map | process | deserializer | key-selector
//	    function: fraud            # when the module has several functions
//	    memory-limit: 64MiB
//	    batch-timeout: 1s
//	    on-error: fail             # fail | skip | side-output (side output "errors")
//	    config: {threshold: 500}   # passed to the function as JSON
//
// The module is loaded and validated when the job is built; each subtask
// then gets its own instance.
package wasmop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/params"
	"github.com/freshet/freshet/engine/registry"
	"github.com/freshet/freshet/engine/windows"
	"github.com/freshet/freshet/host"
	"github.com/freshet/freshet/host/abi"
	"github.com/freshet/freshet/host/modules"
)

// TypeName is the operator type Register adds.
const TypeName = "wasm"

// recordKinds are the kinds the `wasm` operator type runs.
var recordKinds = []string{"map", "filter", "flat-map", "process", "deserializer", "key-selector"}

// Loader resolves a module reference (a path, or name@version when a store
// is configured).
type Loader struct {
	Runtime *host.Runtime
	// Store resolves name@version; nil allows paths only.
	Store *modules.Store
}

// Load resolves ref. A relative path is tried as given, then relative to
// the directory of jobFile (when set).
func (l Loader) Load(ctx context.Context, ref, jobFile string) (*host.Module, error) {
	if modules.IsPath(ref) || l.Store == nil {
		path := ref
		if _, err := os.Stat(path); err != nil && !filepath.IsAbs(ref) && jobFile != "" {
			if alt := filepath.Join(filepath.Dir(jobFile), ref); fileExists(alt) {
				path = alt
			}
		}
		return l.Runtime.LoadFile(ctx, path)
	}
	return l.Store.Load(ctx, ref)
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// Register adds the `wasm` operator type to r, and lets its `window`
// operators take a module's aggregate function (WindowAggregates).
func Register(r *registry.Registry, l Loader) {
	r.AddOperator(TypeName, "runs a function of a WebAssembly module (module, kind, function, memory-limit, batch-timeout, on-error, config)",
		func(p *params.Params) (registry.Operator, error) { return build(l, p) })
	windows.RegisterWith(r, WindowAggregates(l))
}

// WindowAggregates resolves a job-file window's `aggregate:` mapping
// (module, function, config, memory-limit, batch-timeout) to the module's
// aggregate function, with an instance of its own per operator subtask.
// The module is loaded and the function opened once here, so that a
// mistake is reported when the job is built, naming file, line and field.
func WindowAggregates(l Loader) windows.AggregateResolver {
	return func(p *params.Params) (func() (api.AggregateFunction, error), error) {
		spec, err := FromParams(l, p, "aggregate")
		if err != nil {
			return nil, err
		}
		if _, ok := p.Raw("on-error"); ok {
			return nil, fieldErr(p, "on-error", errors.New("does not apply to an aggregate (a failing aggregate fails the task); set on-error on the window for records without the field"))
		}
		agg, err := host.NewAggregateFunction(context.Background(), spec.Module, spec.Options)
		if err != nil {
			return nil, fieldErr(p, "function", err)
		}
		_ = agg.Close()
		return func() (api.AggregateFunction, error) {
			return host.NewAggregateFunction(context.Background(), spec.Module, spec.Options)
		}, nil
	}
}

// Spec is what FromParams reads.
type Spec struct {
	Module  *host.Module
	Options host.Options
}

// FromParams reads the module fields (module, kind, function, memory-limit,
// batch-timeout, on-error, state-cache, config) and loads the module. kinds
// lists the kinds the caller accepts; without `kind`, the function's kind is
// used (the named function, or the module's only function).
// Mistakes are returned as errors that name the file, line and field.
func FromParams(l Loader, p *params.Params, kinds ...string) (Spec, error) {
	ref := p.String("module", "")
	p.Required("module")
	kindName := p.Enum("kind", "", kinds...)
	var o host.Options
	o.Function = p.String("function", "")
	o.MemoryLimit = p.Size("memory-limit", 0)
	if p.Has("memory-limit") && (o.MemoryLimit < host.MinMemoryLimit || o.MemoryLimit > 4<<30) {
		p.Errorf("memory-limit", "%d bytes is out of range [1MiB, 4GiB]", o.MemoryLimit)
	}
	o.BatchTimeout = p.Duration("batch-timeout", 0)
	if p.Has("batch-timeout") && o.BatchTimeout <= 0 {
		p.Errorf("batch-timeout", "must be positive")
	}
	onErr := p.Enum("on-error", "fail", "fail", "skip", "side-output")
	o.OnError, _ = host.ParseErrorPolicy(onErr)
	o.DisableStateCache = !p.Bool("state-cache", true)
	if v, ok := p.Raw("config"); ok {
		m, isMap := v.V.(map[string]params.Value)
		if !isMap {
			p.Errorf("config", "expected a mapping")
		} else if b, err := json.Marshal(plain(m)); err != nil {
			p.Errorf("config", "cannot be encoded as JSON: %v", err)
		} else {
			o.Config = b
		}
	}
	if err := p.Err(); err != nil {
		return Spec{}, err
	}
	kind, _ := abi.ParseOperatorKind(kindName)
	o.Kind = kind
	mod, err := l.Load(context.Background(), ref, p.Pos().File)
	if err != nil {
		return Spec{}, fieldErr(p, "module", err)
	}
	fn, err := mod.Function(o.Function, kind)
	if err != nil {
		field := "function"
		if o.Function == "" {
			field = "kind"
		}
		return Spec{}, fieldErr(p, field, err)
	}
	if !slices.Contains(kinds, fn.Kind.String()) {
		return Spec{}, fieldErr(p, "function", fmt.Errorf("function %q is a %s; expected one of %v", fn.Name, fn.Kind, kinds))
	}
	o.Kind, o.Function = fn.Kind, fn.Name
	return Spec{Module: mod, Options: o}, nil
}

// plain turns params values into JSON-encodable Go values.
func plain(v any) any {
	switch x := v.(type) {
	case map[string]params.Value:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = plain(e.V)
		}
		return m
	case []params.Value:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = plain(e.V)
		}
		return s
	}
	return v
}

// fieldError is a params.Error that also wraps the cause (host.ErrABI, ...).
type fieldError struct {
	pe  *params.Error
	err error
}

func (e *fieldError) Error() string   { return e.pe.Error() }
func (e *fieldError) Unwrap() []error { return []error{e.pe, e.err} }

func fieldErr(p *params.Params, field string, err error) error {
	pos := p.Pos()
	if v, ok := p.Raw(field); ok && v.Pos.Line != 0 {
		pos = v.Pos
	}
	f := field
	if p.Path() != "" {
		f = p.Path() + "." + field
	}
	return &fieldError{pe: &params.Error{Pos: pos, Field: f, Msg: err.Error()}, err: err}
}

func build(l Loader, p *params.Params) (registry.Operator, error) {
	spec, err := FromParams(l, p, recordKinds...)
	if err != nil {
		return registry.Operator{}, err
	}
	if spec.Options.Kind == abi.KindKeySelector {
		return registry.Operator{New: func() (api.Operator, error) {
			return &KeySelectorOperator{m: spec.Module, opts: spec.Options}, nil
		}}, nil
	}
	// Check the options once, so that New cannot fail for a user mistake.
	if _, err := host.NewOperator(spec.Module, spec.Options); err != nil {
		return registry.Operator{}, fieldErr(p, "kind", err)
	}
	ref := p.String("module", "")
	return operatorFor(l, spec, ref, p.Pos().File), nil
}

// operatorFor describes the operator of spec, with a Rebuild that swaps in
// another module for the same function, kind and options (hot-swap).
func operatorFor(l Loader, spec Spec, ref, jobFile string) registry.Operator {
	return registry.Operator{
		New:    func() (api.Operator, error) { return host.NewOperator(spec.Module, spec.Options) },
		Keyed:  spec.Options.Kind == abi.KindProcess,
		Module: ref,
		Rebuild: func(module string) (registry.Operator, error) {
			mod, err := l.Load(context.Background(), module, jobFile)
			if err != nil {
				return registry.Operator{}, err
			}
			fn, err := mod.Function(spec.Options.Function, spec.Options.Kind)
			if err != nil {
				return registry.Operator{}, err // names the module
			}
			if fn.Kind != spec.Options.Kind {
				return registry.Operator{}, fmt.Errorf("module %s: function %q is a %s, the running operator is a %s", module, fn.Name, fn.Kind, spec.Options.Kind)
			}
			next := Spec{Module: mod, Options: spec.Options}
			next.Options.Function = fn.Name
			// Check the options once, so that New cannot fail for a user mistake.
			if _, err := host.NewOperator(mod, next.Options); err != nil {
				return registry.Operator{}, fmt.Errorf("module %s: %w", module, err)
			}
			return operatorFor(l, next, module, jobFile), nil
		},
	}
}

// KeySelectorOperator runs a key selector over every batch and emits the
// records with their new keys: put it before a key-by on "key" to key a
// stream with a guest function.
type KeySelectorOperator struct {
	api.BaseOperator
	m    *host.Module
	opts host.Options
	ks   *host.KeySelector
}

// NewKeySelectorOperator returns an operator running m's key selector.
func NewKeySelectorOperator(m *host.Module, opts host.Options) *KeySelectorOperator {
	return &KeySelectorOperator{m: m, opts: opts}
}

// Open instantiates the module.
func (k *KeySelectorOperator) Open(ctx api.Context) error {
	ks, err := host.NewKeySelector(ctx.Context(), k.m, k.opts)
	if err != nil {
		return err
	}
	k.ks = ks
	return nil
}

// ProcessBatch sets every record's key and emits it.
func (k *KeySelectorOperator) ProcessBatch(in *api.Batch, out api.Output) error {
	if k.ks == nil {
		return errors.New("wasm key selector: ProcessBatch before Open")
	}
	if err := k.ks.SelectKeys(in); err != nil {
		return err
	}
	for i := range in.Records {
		out.Emit(&in.Records[i])
	}
	return nil
}

// Close discards the instance.
func (k *KeySelectorOperator) Close() error {
	if k.ks == nil {
		return nil
	}
	err := k.ks.Close()
	k.ks = nil
	return err
}

// NewKeySelector returns a goroutine-safe key selector with the signature
// of graph.KeySelector (pool.SelectKey), for edges keyed by a guest
// function. Close the pool when the job ends.
func NewKeySelector(ctx context.Context, l Loader, ref, function string, opts host.Options) (*host.KeySelectorPool, error) {
	mod, err := l.Load(ctx, ref, "")
	if err != nil {
		return nil, fmt.Errorf("wasm key selector %s: %w", ref, err)
	}
	opts.Function = function
	return host.NewKeySelectorPool(ctx, mod, opts)
}
