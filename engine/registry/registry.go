// Package registry maps the component types a job names (a source "file", an
// operator "tokenize" or "wasm", a sink "stdout") to the code that builds them.
//
// A Registry is a value, not a global: the CLI builds one with every built-in
// component, tests build their own, and a multi-tenant service can give each
// tenant a different one. Builders validate their Params once, when the job is
// built; the returned constructors then make one instance per subtask.
package registry

import (
	"fmt"
	"sort"
	"strings"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/params"
)

// SourceBuilder validates a source's params and returns a constructor that
// makes one Source per subtask.
type SourceBuilder func(p *params.Params) (func() (api.Source, error), error)

// OperatorBuilder validates an operator's (or sink's) params.
type OperatorBuilder func(p *params.Params) (Operator, error)

// Operator describes a built operator or sink.
type Operator struct {
	// New makes one instance per subtask.
	New func() (api.Operator, error)
	// Keyed is true when the operator needs a keyed input (KeyBy before it):
	// it uses keyed state or timers.
	Keyed bool
	// MaxParallelism, when positive, caps the operator's parallelism
	// (1 for a sink that writes one file, say).
	MaxParallelism int
	// TwoInputs marks an api.TwoInputOperator (a join): a job file lists its
	// two inputs in order, the first feeding ProcessBatch and the second
	// ProcessBatch2, instead of a union of them.
	TwoInputs bool
	// Module names the WebAssembly module the operator runs ("" for
	// others), as the job gave it (name@version or a path).
	Module string
	// Rebuild, for operators that can hot-swap their code, builds the same
	// operator (same kind, options and configuration) with another module;
	// it validates and compiles the module before returning.
	Rebuild func(module string) (Operator, error)
}

// Registry holds the buildable component types by kind and name.
type Registry struct {
	sources   map[string]entry[SourceBuilder]
	operators map[string]entry[OperatorBuilder]
	sinks     map[string]entry[OperatorBuilder]
}

type entry[B any] struct {
	build B
	doc   string
}

// New returns an empty registry.
func New() *Registry {
	return &Registry{
		sources:   map[string]entry[SourceBuilder]{},
		operators: map[string]entry[OperatorBuilder]{},
		sinks:     map[string]entry[OperatorBuilder]{},
	}
}

// Clone returns a copy that can be extended without changing r.
func (r *Registry) Clone() *Registry {
	c := New()
	for k, v := range r.sources {
		c.sources[k] = v
	}
	for k, v := range r.operators {
		c.operators[k] = v
	}
	for k, v := range r.sinks {
		c.sinks[k] = v
	}
	return c
}

// AddSource registers a source type; doc is one line for `freshet validate`.
func (r *Registry) AddSource(name, doc string, b SourceBuilder) {
	r.sources[name] = entry[SourceBuilder]{b, doc}
}

// AddOperator registers an operator type.
func (r *Registry) AddOperator(name, doc string, b OperatorBuilder) {
	r.operators[name] = entry[OperatorBuilder]{b, doc}
}

// AddSink registers a sink type.
func (r *Registry) AddSink(name, doc string, b OperatorBuilder) {
	r.sinks[name] = entry[OperatorBuilder]{b, doc}
}

// Source builds a source of type typ.
func (r *Registry) Source(typ string, p *params.Params) (func() (api.Source, error), error) {
	e, ok := r.sources[typ]
	if !ok {
		return nil, unknown("source", typ, p, keys(r.sources))
	}
	return e.build(p)
}

// Operator builds an operator of type typ.
func (r *Registry) Operator(typ string, p *params.Params) (Operator, error) {
	e, ok := r.operators[typ]
	if !ok {
		return Operator{}, unknown("operator", typ, p, keys(r.operators))
	}
	return e.build(p)
}

// Sink builds a sink of type typ.
func (r *Registry) Sink(typ string, p *params.Params) (Operator, error) {
	e, ok := r.sinks[typ]
	if !ok {
		return Operator{}, unknown("sink", typ, p, keys(r.sinks))
	}
	return e.build(p)
}

// Doc lists kind's registered types with their one-line docs.
func (r *Registry) Doc(kind string) map[string]string {
	out := map[string]string{}
	switch kind {
	case "source":
		for k, v := range r.sources {
			out[k] = v.doc
		}
	case "operator":
		for k, v := range r.operators {
			out[k] = v.doc
		}
	case "sink":
		for k, v := range r.sinks {
			out[k] = v.doc
		}
	}
	return out
}

func keys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func unknown(kind, typ string, p *params.Params, known []string) error {
	e := &params.Error{Pos: p.Pos(), Field: p.Path() + ".type",
		Msg: fmt.Sprintf("unknown %s type %q (known: %s)", kind, typ, strings.Join(known, ", "))}
	return e
}
