// Package freshet writes Freshet stream operators in Go, compiled to
// WebAssembly (GOOS=wasip1 GOARCH=wasm -buildmode=c-shared) and run
// sandboxed by the Freshet host.
//
// A module registers its functions in init and has an empty main:
//
//	package main
//
//	import (
//		"bytes"
//
//		"github.com/freshet/freshet/sdk-go"
//	)
//
//	func init() {
//		freshet.Map("upper", func(c *freshet.Context, r *freshet.Record) ([]byte, error) {
//			return bytes.ToUpper(r.Value), nil
//		})
//	}
//
//	func main() {}
//
// Build it with `freshet build` or
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o upper.wasm .
//
// The package implements ABI v1 (docs/abi.md in the Freshet repository): the
// host hands a whole batch of records to one call, the SDK decodes them in
// place (a Record's slices are views into the input buffer, valid only until
// the function returns) and writes what the function emits into an output
// buffer. Keyed state (ValueState, ListState, MapState) and timers live in the
// host; a function keeps nothing between calls except through them.
//
// Rules for guest code: never start goroutines (they do not run between
// calls) and never block; return errors for bad records (they become the
// job's on-error policy) and panic only for bugs (a panic discards the
// instance and fails the task).
package freshet

import (
	"errors"
	"fmt"

	"github.com/freshet/freshet/sdk-go/internal/abi"
)

// Version is the SDK version reported to the host.
const Version = "0.1.0"

// Kind is what a registered function implements.
type Kind uint32

// Function kinds, as in the ABI.
const (
	KindMap           = Kind(abi.KindMap)
	KindFilter        = Kind(abi.KindFilter)
	KindFlatMap       = Kind(abi.KindFlatMap)
	KindKeySelector   = Kind(abi.KindKeySelector)
	KindProcess       = Kind(abi.KindProcess)
	KindAggregate     = Kind(abi.KindAggregate)
	KindProcessWindow = Kind(abi.KindProcessWindow)
	KindDeserializer  = Kind(abi.KindDeserializer)
)

func (k Kind) String() string { return abi.OperatorKind(k).String() }

// Option configures a registered function.
type Option func(*function)

// OnOpen runs fn once when the host opens the function, with the operator's
// configuration (a JSON object, "{}" when the job gives none). An error
// refuses to start the operator; its message reaches the host's logs.
func OnOpen(fn func(config []byte) error) Option {
	return func(f *function) { f.open = fn }
}

type function struct {
	name string
	kind Kind
	open func(config []byte) error

	mapFn     func(*Context, *Record) ([]byte, error)
	filterFn  func(*Context, *Record) (bool, error)
	flatMapFn func(*Context, *Record) error
	keyFn     func(*Context, *Record) ([]byte, error)
	process   ProcessFunction
	agg       AggregateFunction
	windowFn  func(*Context, []byte, Window, []Record) error
}

var (
	functions []*function
	regErr    error
)

func register(name string, kind Kind, f *function, opts []Option) {
	f.name, f.kind = name, kind
	for _, o := range opts {
		o(f)
	}
	switch {
	case name == "":
		regErr = errors.Join(regErr, fmt.Errorf("freshet: a %s function has an empty name", kind))
		return
	case lookup(name) != nil:
		regErr = errors.Join(regErr, fmt.Errorf("freshet: function %q is registered twice", name))
		return
	}
	functions = append(functions, f)
}

func lookup(name string) *function {
	for _, f := range functions {
		if f.name == name {
			return f
		}
	}
	return nil
}

// Map registers a function that turns each record into exactly one record
// with the same key, timestamp and headers and the value fn returns.
// Returning r.Value itself forwards the record without copying it.
func Map(name string, fn func(c *Context, r *Record) ([]byte, error), opts ...Option) {
	register(name, KindMap, &function{mapFn: fn}, opts)
}

// Filter registers a function that keeps the records for which fn returns true.
func Filter(name string, fn func(c *Context, r *Record) (bool, error), opts ...Option) {
	register(name, KindFilter, &function{filterFn: fn}, opts)
}

// FlatMap registers a function that emits any number of records per input
// record with c.Emit (or c.Forward, c.EmitSide).
func FlatMap(name string, fn func(c *Context, r *Record) error, opts ...Option) {
	register(name, KindFlatMap, &function{flatMapFn: fn}, opts)
}

// Deserializer registers a function that turns the raw bytes a source read
// (r.Key, r.Value) into zero or more records with c.Emit.
func Deserializer(name string, fn func(c *Context, r *Record) error, opts ...Option) {
	register(name, KindDeserializer, &function{flatMapFn: fn}, opts)
}

// KeySelector registers a function that computes each record's key.
func KeySelector(name string, fn func(c *Context, r *Record) ([]byte, error), opts ...Option) {
	register(name, KindKeySelector, &function{keyFn: fn}, opts)
}

// ProcessFunction is a keyed process function: it sees every record of its
// key with keyed state and timers, and the timers it registered when they fire.
type ProcessFunction interface {
	ProcessElement(c *Context, r *Record) error
	OnTimer(c *Context, t Timer) error
}

// Process registers a keyed process function. It must run on a keyed stream.
func Process(name string, p ProcessFunction, opts ...Option) {
	register(name, KindProcess, &function{process: p}, opts)
}

// ProcessFuncs adapts two functions to a ProcessFunction; a nil OnTimerFn
// ignores timers.
type ProcessFuncs struct {
	ProcessElementFn func(c *Context, r *Record) error
	OnTimerFn        func(c *Context, t Timer) error
}

func (p ProcessFuncs) ProcessElement(c *Context, r *Record) error { return p.ProcessElementFn(c, r) }

func (p ProcessFuncs) OnTimer(c *Context, t Timer) error {
	if p.OnTimerFn == nil {
		return nil
	}
	return p.OnTimerFn(c, t)
}

// AggregateFunction is an incremental window aggregate over bytes. Each
// method appends its result to dst (which may be reused memory) and returns it.
type AggregateFunction interface {
	CreateAccumulator(dst []byte) []byte
	Add(acc, value, dst []byte) ([]byte, error)
	Merge(a, b, dst []byte) ([]byte, error)
	Result(acc, dst []byte) ([]byte, error)
}

// Aggregate registers a window aggregate function.
func Aggregate(name string, a AggregateFunction, opts ...Option) {
	register(name, KindAggregate, &function{agg: a}, opts)
}

// Window is a time window [Start, End) in ms since the epoch.
type Window struct{ Start, End int64 }

// MaxTimestamp is the last timestamp that belongs to w.
func (w Window) MaxTimestamp() int64 { return w.End - 1 }

// ProcessWindow registers a process window function: fn sees all elements
// of one window of one key at once and emits with c.Emit.
func ProcessWindow(name string, fn func(c *Context, key []byte, w Window, elements []Record) error, opts ...Option) {
	register(name, KindProcessWindow, &function{windowFn: fn}, opts)
}
