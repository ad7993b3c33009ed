package api

import "time"

// StateKind is the shape of one declared keyed state.
type StateKind uint8

const (
	ValueStateKind StateKind = iota + 1
	ListStateKind
	MapStateKind
	ReducingStateKind
	AggregatingStateKind
)

func (k StateKind) String() string {
	switch k {
	case ValueStateKind:
		return "value"
	case ListStateKind:
		return "list"
	case MapStateKind:
		return "map"
	case ReducingStateKind:
		return "reducing"
	case AggregatingStateKind:
		return "aggregating"
	}
	return "unknown"
}

// StateDescriptor declares one keyed state of an operator. Name is unique per
// operator; Kind may not change across savepoints.
type StateDescriptor struct {
	Name string
	Kind StateKind
	// TTL, when positive, expires an entry that long after its last write
	// (or read, with TTLOnRead). Expired entries are never returned.
	TTL       time.Duration
	TTLOnRead bool
	// Reduce combines two values of a reducing state.
	Reduce func(a, b []byte, dst []byte) []byte
	// Aggregate is the function of an aggregating state.
	Aggregate AggregateFunction
}

// AggregateFunction is an incremental aggregation over byte-encoded values:
// accumulators and results are bytes so that state backends and WebAssembly
// guests can store and exchange them. Each method may append to dst and return
// it, to avoid allocating.
type AggregateFunction interface {
	CreateAccumulator(dst []byte) []byte
	Add(acc, in []byte, dst []byte) []byte
	Merge(a, b []byte, dst []byte) []byte
	Result(acc []byte, dst []byte) []byte
}

// KeyedState is the keyed state of one operator subtask. Every state handle
// reads and writes the entry of the current key (and current namespace; the
// empty namespace unless windows set one).
//
// Byte slices returned by Get methods are views owned by the backend, valid
// until the next call on the same KeyedState; copy what you keep. Slices passed
// to Put methods are copied.
type KeyedState interface {
	SetCurrentKey(key []byte)
	CurrentKey() []byte
	SetCurrentNamespace(ns []byte)
	CurrentNamespace() []byte

	Value(d StateDescriptor) (ValueState, error)
	List(d StateDescriptor) (ListState, error)
	Map(d StateDescriptor) (MapState, error)
	Reducing(d StateDescriptor) (ReducingState, error)
	Aggregating(d StateDescriptor) (AggregatingState, error)
}

// ValueState holds one value per key.
type ValueState interface {
	Get() (v []byte, ok bool, err error)
	Put(v []byte) error
	Clear() error
}

// ListState holds a list of values per key.
type ListState interface {
	Add(v []byte) error
	Update(vs [][]byte) error
	// Iter calls fn for every element in insertion order until fn returns false.
	Iter(fn func(v []byte) bool) error
	Clear() error
}

// MapState holds a map from user key to value per key.
type MapState interface {
	Get(uk []byte) (v []byte, ok bool, err error)
	Put(uk, v []byte) error
	Delete(uk []byte) error
	// Iter visits every entry (in the backend's order) until fn returns false.
	Iter(fn func(uk, v []byte) bool) error
	IsEmpty() (bool, error)
	Clear() error
}

// ReducingState folds added values with the descriptor's Reduce function.
type ReducingState interface {
	Add(v []byte) error
	Get() (v []byte, ok bool, err error)
	Clear() error
}

// AggregatingState folds added values with the descriptor's AggregateFunction.
type AggregatingState interface {
	Add(in []byte) error
	// Get returns the aggregate's result.
	Get() (v []byte, ok bool, err error)
	Clear() error
}

// TimeDomain says which clock a timer follows.
type TimeDomain uint8

const (
	EventTime TimeDomain = iota
	ProcessingTime
)

// Timer is a timer that fired, with the key and namespace it was set for.
type Timer struct {
	Key       []byte
	Namespace []byte
	Timestamp int64
	Domain    TimeDomain
}

// TimerService registers timers for the current key and namespace. A timer
// registered twice for the same key, namespace and time fires once; due
// timers fire in time order.
//
// At the end of input (MaxWatermark) every pending timer fires before the
// operator sees the end: first the event-time timers, then the
// processing-time ones, in time order, each with the processing time
// advanced just past its time. In that final firing each processing-time
// timer fires once: one registered meanwhile for a time no later than the
// latest pending one fires too, unless that same timer already fired; one
// registered for a later time is dropped. Stopping a job (a savepoint with
// stop) is not an end of input: its timers stay pending.
type TimerService interface {
	// CurrentProcessingTime is the operator's wall clock in ms. It never
	// reads earlier than just past a processing-time timer that fired.
	CurrentProcessingTime() int64
	CurrentWatermark() int64
	// RegisterEventTimeTimer asks for OnTimer once the watermark reaches ts
	// (ts <= watermark).
	RegisterEventTimeTimer(ts int64) error
	// RegisterProcessingTimeTimer asks for OnTimer once the processing time
	// has passed ts (at ts+1 ms or later, as in Flink): a window's timer
	// sits at its last millisecond, and records processed during that
	// millisecond still belong to the window.
	RegisterProcessingTimeTimer(ts int64) error
	DeleteEventTimeTimer(ts int64) error
	DeleteProcessingTimeTimer(ts int64) error
}

// TimerHandler is implemented by operators that register timers. The runtime
// sets the current key and namespace of KeyedState to the timer's before the call.
type TimerHandler interface {
	OnTimer(t Timer, out Output) error
}
