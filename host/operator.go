package host

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	wapi "github.com/tetratelabs/wazero/api"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/host/abi"
)

// ErrorPolicy says what an adapter does when the guest reports that its
// function failed on a record (an error entry).
type ErrorPolicy uint8

const (
	// ErrorFail fails the batch with an ErrUserFunction error (the default).
	ErrorFail ErrorPolicy = iota
	// ErrorSkip drops the record, logs the first failure and counts every
	// one in the numRecordsSkipped counter.
	ErrorSkip
	// ErrorSideOutput sends the failed input record, with a header
	// ErrorHeader holding the message, to the side output ErrorTag.
	ErrorSideOutput
)

// Names used by ErrorSideOutput and ErrorSkip.
const (
	ErrorTag       = "errors"
	ErrorHeader    = "freshet-error"
	SkippedCounter = "numRecordsSkipped"
)

// ParseErrorPolicy reads "fail", "skip" or "side-output".
func ParseErrorPolicy(s string) (ErrorPolicy, error) {
	switch s {
	case "", "fail":
		return ErrorFail, nil
	case "skip":
		return ErrorSkip, nil
	case "side-output":
		return ErrorSideOutput, nil
	}
	return 0, fmt.Errorf("on-error %q is not one of fail, skip, side-output", s)
}

func (p ErrorPolicy) String() string {
	switch p {
	case ErrorSkip:
		return "skip"
	case ErrorSideOutput:
		return "side-output"
	}
	return "fail"
}

// Options configure an adapter over one function of a module.
type Options struct {
	// Function names the module's function; empty means the module's only
	// function of Kind.
	Function string
	// Kind is the operator kind the adapter runs.
	Kind abi.OperatorKind
	// Config is the JSON object given to the function when it opens
	// (empty: "{}").
	Config []byte
	// MemoryLimit caps the instance's memory; 0 means the runtime's.
	MemoryLimit int64
	// BatchTimeout bounds one guest call; 0 means the runtime's.
	BatchTimeout time.Duration
	// OnError is the policy for records the function fails on.
	OnError ErrorPolicy
	// DisableStateCache makes every state operation reach the backend at
	// once instead of at the end of the batch (for benchmarks).
	DisableStateCache bool
	// Clock, when set, is the processing time (ms) the guest sees, instead
	// of the task context's.
	Clock func() int64
}

func (m *Module) instanceOptions(o *Options) instanceOptions {
	cfg := m.rt.cfg
	io := instanceOptions{memoryLimit: cfg.MemoryLimit, timeout: cfg.BatchTimeout,
		inputSize: cfg.InputBufferSize, outputSize: cfg.OutputBufferSize,
		noStateCache: o.DisableStateCache, clock: o.Clock}
	if o.MemoryLimit > 0 {
		io.memoryLimit = o.MemoryLimit
	}
	if o.BatchTimeout > 0 {
		io.timeout = o.BatchTimeout
	}
	return io
}

// resolve checks the options against the module and returns the function.
func (m *Module) resolve(o *Options) (Function, error) {
	if o.MemoryLimit != 0 && (o.MemoryLimit < MinMemoryLimit || o.MemoryLimit > 4<<30) {
		return Function{}, fmt.Errorf("memory limit %d is out of range [%d, 4GiB]", o.MemoryLimit, MinMemoryLimit)
	}
	if o.BatchTimeout < 0 {
		return Function{}, fmt.Errorf("batch timeout %s is negative", o.BatchTimeout)
	}
	return m.Function(o.Function, o.Kind)
}

// start instantiates and opens fn.
func (m *Module) start(ctx context.Context, fn Function, o *Options, io instanceOptions) (*Instance, error) {
	in, err := m.instantiate(ctx, io)
	if err != nil {
		return nil, err
	}
	if io.keyed {
		in.state = newStateCache(io.actx.KeyedState(), !io.noStateCache)
	}
	in.kind = fn.Kind
	if err := in.open(fn, o.Config); err != nil {
		in.Close(context.Background())
		return nil, err
	}
	return in, nil
}

// Operator runs a module's map, filter, flat-map, process or deserializer
// function as an api.Operator. A process function also implements
// api.TimerHandler. One Operator is one subtask: make one per subtask.
type Operator struct {
	m    *Module
	fn   Function
	opts Options
	in   *Instance
	actx api.Context
	sink recordSink
	one  [1][]byte
	ns   [1][]byte
}

var (
	_ api.Operator     = (*Operator)(nil)
	_ api.TimerHandler = (*Operator)(nil)
)

// NewOperator checks that m has the function opts describe; the instance is
// made in Open.
func NewOperator(m *Module, opts Options) (*Operator, error) {
	switch opts.Kind {
	case abi.KindMap, abi.KindFilter, abi.KindFlatMap, abi.KindProcess, abi.KindDeserializer:
	default:
		return nil, fmt.Errorf("wasm operator: kind %s is not a record operator (use the %s adapter)", opts.Kind, opts.Kind)
	}
	fn, err := m.resolve(&opts)
	if err != nil {
		return nil, fmt.Errorf("wasm operator: %w", err)
	}
	return &Operator{m: m, fn: fn, opts: opts}, nil
}

// Function is the function the operator runs.
func (o *Operator) Function() Function { return o.fn }

// Open instantiates the module for this subtask and opens the function.
func (o *Operator) Open(ctx api.Context) error {
	io := o.m.instanceOptions(&o.opts)
	io.actx = ctx
	if o.fn.Kind == abi.KindProcess {
		if ctx.KeyedState() == nil {
			return fmt.Errorf("wasm operator %s: process function %q needs a keyed stream (key-by before it)", o.m.id, o.fn.Name)
		}
		io.keyed = true
	}
	in, err := o.m.start(ctx.Context(), o.fn, &o.opts, io)
	if err != nil {
		return err
	}
	o.in, o.actx = in, ctx
	o.sink = recordSink{in: in, policy: o.opts.OnError, actx: ctx}
	return nil
}

// ProcessBatch runs the function over every record of b.
func (o *Operator) ProcessBatch(b *api.Batch, out api.Output) error {
	if o.in == nil {
		return errors.New("wasm operator: ProcessBatch before Open")
	}
	o.sink.out = out
	// Forwarded records are b's own: an output that takes views gets them
	// without a copy (api.ViewEmitter).
	o.sink.view, _ = out.(api.ViewEmitter)
	err := o.in.processRecords(b.Records, &o.sink)
	o.sink.out, o.sink.view, o.sink.recs = nil, nil, nil
	return o.endBatch(err)
}

// endBatch flushes keyed state after a successful call and drops it after
// a failed one.
func (o *Operator) endBatch(err error) error {
	if st := o.in.state; st != nil {
		if err != nil {
			st.discard()
			return err
		}
		if ferr := st.flush(); ferr != nil {
			return fmt.Errorf("wasm operator %s: %w", o.m.id, ferr)
		}
	}
	return err
}

// OnTimer passes a fired timer to a process function.
func (o *Operator) OnTimer(t api.Timer, out api.Output) error {
	if o.in == nil {
		return errors.New("wasm operator: OnTimer before Open")
	}
	if o.fn.Kind != abi.KindProcess {
		return fmt.Errorf("wasm operator %s: function %q (%s) has no timers", o.m.id, o.fn.Name, o.fn.Kind)
	}
	in := o.in
	size := entrySize(t.Key, t.Namespace, nil)
	if size > int(in.inCap) {
		if err := in.growInput(size); err != nil {
			return o.endBatch(err)
		}
	}
	n := putEntry(in.inputView(), abi.EntryTimer, uint32(t.Domain), t.Key, t.Namespace, t.Timestamp, nil)
	o.one[0], o.ns[0] = t.Key, t.Namespace
	in.call.keys, in.call.ns = o.one[:], o.ns[:]
	o.sink.out, o.sink.recs = out, nil
	err := in.run(n, 1, &o.sink)
	o.sink.out = nil
	in.call.keys, in.call.ns = nil, nil
	return o.endBatch(err)
}

// ProcessWatermark does nothing: guests read the watermark with a host call.
func (o *Operator) ProcessWatermark(int64, api.Output) error { return nil }

// Finish does nothing: guests keep no records between calls.
func (o *Operator) Finish(api.Output) error { return nil }

// Flush writes cached keyed state to the backend. State is flushed after
// every batch already; Flush exists for callers that want to be explicit
// (before a snapshot).
func (o *Operator) Flush() error {
	if o.in == nil || o.in.state == nil {
		return nil
	}
	return o.in.state.flush()
}

// Close discards the instance.
func (o *Operator) Close() error {
	if o.in == nil {
		return nil
	}
	err := o.in.Close(context.Background())
	o.in = nil
	return err
}

// Instance exposes the operator's instance (nil before Open), for tests.
func (o *Operator) Instance() *Instance { return o.in }

// processRecords feeds recs through the guest in as few calls as the
// buffers and MaxBatchRecords allow.
func (in *Instance) processRecords(recs []api.Record, sink batchSink) error {
	maxN := in.m.rt.cfg.MaxBatchRecords
	for i := 0; i < len(recs); {
		view := in.inputView()
		off, n, start := 0, 0, i
		keys := in.call.keys[:0]
		for i < len(recs) && n < maxN {
			r := &recs[i]
			if len(r.Headers) > 0xffff {
				return fmt.Errorf("wasm module %s: record %d has %d headers, the ABI allows 65535", in.m.id, i, len(r.Headers))
			}
			sz := entrySize(r.Key, r.Value, r.Headers)
			if off+sz > len(view) {
				if n > 0 {
					break
				}
				if err := in.growInput(sz); err != nil {
					return err
				}
				view = in.inputView()
				continue
			}
			off += putEntry(view[off:], abi.EntryData, 0, r.Key, r.Value, r.Timestamp, r.Headers)
			keys = append(keys, r.Key)
			n++
			i++
		}
		in.call.keys, in.call.ns = keys, nil
		sink.setRecs(recs[start:i])
		err := in.run(off, n, sink)
		clear(keys)
		sink.setRecs(nil)
		if err != nil {
			return err
		}
	}
	return nil
}

// batchSink is an outputSink that is told the input records of each call.
type batchSink interface {
	outputSink
	setRecs(recs []api.Record)
}

// recordSink emits a record operator's outputs.
type recordSink struct {
	in      *Instance
	out     api.Output
	view    api.ViewEmitter // out, when recs are its input batch's and it takes views
	recs    []api.Record    // the call's input records, for forward and error entries
	policy  ErrorPolicy
	actx    api.Context
	warned  bool
	skipped api.Counter
	errOut  api.Output
	hdr     [1]api.Header
}

func (s *recordSink) setRecs(recs []api.Record) { s.recs = recs }

func (s *recordSink) emit(e *outEntry) error {
	switch e.kind {
	case abi.EntryOutput:
		s.out.Emit(&e.rec)
	case abi.EntrySideOutput:
		s.in.sides[e.extra].Emit(&e.rec)
	case abi.EntryForward:
		if int(e.extra) >= len(s.recs) {
			return fmt.Errorf("forward entry names input entry %d, which is not a record", e.extra)
		}
		if s.view != nil {
			s.view.EmitView(&s.recs[e.extra])
		} else {
			s.out.Emit(&s.recs[e.extra])
		}
	case abi.EntryError:
		var rec *api.Record
		if int(e.extra) < len(s.recs) {
			rec = &s.recs[e.extra]
		}
		s.userError(int(e.extra), rec, e.rec.Value)
	default:
		return fmt.Errorf("unexpected %s entry", e.kind)
	}
	return nil
}

func (s *recordSink) userError(entry int, rec *api.Record, msg []byte) {
	in := s.in
	mkErr := func() *Error {
		e := &Error{Module: in.m.id, Export: in.export, Function: in.fnName(), Entry: entry, Kind: ErrUserFunction,
			Err: errors.New(string(msg))}
		if entry < len(in.call.keys) {
			e.Key = append([]byte{}, in.call.keys[entry]...)
		}
		return e
	}
	switch {
	case s.policy == ErrorSkip && s.actx != nil:
		if s.skipped == nil {
			s.skipped = s.actx.Counter(SkippedCounter)
		}
		if s.skipped != nil {
			s.skipped.Add(1)
		}
		if !s.warned {
			s.warned = true
			s.actx.Logger().Warn("skipping records the wasm function fails on (first one follows; the rest are counted in "+SkippedCounter+")", "error", mkErr())
		}
	case s.policy == ErrorSideOutput && s.actx != nil && rec != nil:
		if s.errOut == nil {
			s.errOut = s.actx.SideOutput(ErrorTag)
		}
		r := *rec
		s.hdr[0] = api.Header{Key: []byte(ErrorHeader), Value: msg}
		r.Headers = append(s.hdr[:], rec.Headers...)
		s.errOut.Emit(&r)
	default:
		if in.call.sinkErr == nil {
			in.call.sinkErr = mkErr()
		}
	}
}

// KeySelector runs a module's key selector over batches: it sets every
// record's key in place. It is used by one goroutine.
type KeySelector struct {
	in   *Instance
	sink keySink
}

// NewKeySelector instantiates m and opens its key selector function.
func NewKeySelector(ctx context.Context, m *Module, opts Options) (*KeySelector, error) {
	opts.Kind = abi.KindKeySelector
	fn, err := m.resolve(&opts)
	if err != nil {
		return nil, fmt.Errorf("wasm key selector: %w", err)
	}
	in, err := m.start(ctx, fn, &opts, m.instanceOptions(&opts))
	if err != nil {
		return nil, err
	}
	k := &KeySelector{in: in}
	k.sink.in = in
	return k, nil
}

// SelectKeys sets the key of every record of b, allocating keys in b's arena.
func (k *KeySelector) SelectKeys(b *api.Batch) error {
	k.sink.batch = b
	k.sink.dst = nil
	defer func() { k.sink.batch = nil }()
	return k.in.selectKeys(b.Records, &k.sink)
}

// SelectKey computes the key of one record and appends it to dst: one guest
// call per record, so prefer SelectKeys.
func (k *KeySelector) SelectKey(r *api.Record, dst []byte) ([]byte, error) {
	k.sink.batch = nil
	k.sink.dst = dst
	rec := *r
	k.sink.single = &rec
	err := k.in.selectKeys(k.sink.singleSlice(), &k.sink)
	k.sink.single = nil
	return k.sink.dst, err
}

// Close discards the instance.
func (k *KeySelector) Close() error { return k.in.Close(context.Background()) }

func (in *Instance) selectKeys(recs []api.Record, s *keySink) error {
	s.n = 0
	s.errs.in = in
	if err := in.processRecords(recs, s); err != nil {
		return err
	}
	if s.n != len(recs) {
		return in.abiError("the key selector produced %d keys or errors for %d records", s.n, len(recs))
	}
	return nil
}

// keySink sets the keys a key selector produces.
type keySink struct {
	in     *Instance
	batch  *api.Batch // SelectKeys: keys go to the records, in its arena
	dst    []byte     // SelectKey: the key is appended here
	single *api.Record
	one    [1]api.Record
	recs   []api.Record
	errs   recordSink // applies the fail policy to error entries
	n      int
}

func (s *keySink) singleSlice() []api.Record {
	s.one[0] = *s.single
	return s.one[:]
}

func (s *keySink) setRecs(recs []api.Record) { s.recs = recs }

func (s *keySink) emit(e *outEntry) error {
	switch e.kind {
	case abi.EntryKey:
		if int(e.extra) >= len(s.recs) {
			return fmt.Errorf("key entry names input entry %d of %d", e.extra, len(s.recs))
		}
		s.n++
		if s.batch != nil {
			key := s.batch.Alloc(len(e.rec.Key))
			copy(key, e.rec.Key)
			s.recs[e.extra].Key = key
		} else {
			s.dst = append(s.dst, e.rec.Key...)
		}
	case abi.EntryError:
		s.n++
		s.errs.userError(int(e.extra), nil, e.rec.Value)
	default:
		return fmt.Errorf("unexpected %s entry", e.kind)
	}
	return nil
}

// KeySelectorPool is a goroutine-safe key selector (graph.KeySelector's
// signature) backed by a pool of instances, one per concurrent caller.
type KeySelectorPool struct {
	m    *Module
	opts Options
	mu   sync.Mutex
	free []*KeySelector
	all  []*KeySelector
}

// NewKeySelectorPool checks that m has the key selector opts names and
// starts one instance.
func NewKeySelectorPool(ctx context.Context, m *Module, opts Options) (*KeySelectorPool, error) {
	k, err := NewKeySelector(ctx, m, opts)
	if err != nil {
		return nil, err
	}
	return &KeySelectorPool{m: m, opts: opts, free: []*KeySelector{k}, all: []*KeySelector{k}}, nil
}

// SelectKey appends r's key to dst.
func (p *KeySelectorPool) SelectKey(r *api.Record, dst []byte) ([]byte, error) {
	p.mu.Lock()
	var k *KeySelector
	if n := len(p.free); n > 0 {
		k, p.free = p.free[n-1], p.free[:n-1]
	}
	p.mu.Unlock()
	if k == nil {
		var err error
		if k, err = NewKeySelector(context.Background(), p.m, p.opts); err != nil {
			return dst, err
		}
		p.mu.Lock()
		p.all = append(p.all, k)
		p.mu.Unlock()
	}
	out, err := k.SelectKey(r, dst)
	if k.in.Err() != nil { // poisoned: replace it next time
		k.Close()
		return out, err
	}
	p.mu.Lock()
	p.free = append(p.free, k)
	p.mu.Unlock()
	return out, err
}

// Close discards every instance.
func (p *KeySelectorPool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for _, k := range p.all {
		errs = append(errs, k.Close())
	}
	p.all, p.free = nil, nil
	return errors.Join(errs...)
}

// AggregateFunction is an api.AggregateFunction backed by a module's
// aggregate function (exports freshet_agg_*). api.AggregateFunction cannot
// return errors: a failure leaves dst as it was and is kept in Err, which
// callers check after each window (or use the *E methods). One guest call
// per method call. Used by one goroutine.
type AggregateFunction struct {
	in  *Instance
	err error
}

var _ api.AggregateFunction = (*AggregateFunction)(nil)

// NewAggregateFunction instantiates m and opens its aggregate function.
func NewAggregateFunction(ctx context.Context, m *Module, opts Options) (*AggregateFunction, error) {
	opts.Kind = abi.KindAggregate
	fn, err := m.resolve(&opts)
	if err != nil {
		return nil, fmt.Errorf("wasm aggregate function: %w", err)
	}
	in, err := m.start(ctx, fn, &opts, m.instanceOptions(&opts))
	if err != nil {
		return nil, err
	}
	return &AggregateFunction{in: in}, nil
}

// Err returns the first error of the api.AggregateFunction methods.
func (a *AggregateFunction) Err() error { return a.err }

// Close discards the instance.
func (a *AggregateFunction) Close() error { return a.in.Close(context.Background()) }

func (a *AggregateFunction) keep(dst []byte, out []byte, err error) []byte {
	if err != nil {
		if a.err == nil {
			a.err = err
		}
		return dst
	}
	return out
}

func (a *AggregateFunction) CreateAccumulator(dst []byte) []byte {
	out, err := a.CreateE(dst)
	return a.keep(dst, out, err)
}

func (a *AggregateFunction) Add(acc, v, dst []byte) []byte {
	out, err := a.AddE(acc, v, dst)
	return a.keep(dst, out, err)
}

func (a *AggregateFunction) Merge(x, y, dst []byte) []byte {
	out, err := a.MergeE(x, y, dst)
	return a.keep(dst, out, err)
}

func (a *AggregateFunction) Result(acc, dst []byte) []byte {
	out, err := a.ResultE(acc, dst)
	return a.keep(dst, out, err)
}

// CreateE appends a new accumulator to dst.
func (a *AggregateFunction) CreateE(dst []byte) ([]byte, error) {
	return a.in.aggCall(a.in.fAggCreate, abi.ExportAggCreate, nil, nil, 0, dst)
}

// AddE appends acc with v added to dst.
func (a *AggregateFunction) AddE(acc, v, dst []byte) ([]byte, error) {
	return a.in.aggCall(a.in.fAggAdd, abi.ExportAggAdd, acc, v, 2, dst)
}

// MergeE appends the merge of x and y to dst.
func (a *AggregateFunction) MergeE(x, y, dst []byte) ([]byte, error) {
	return a.in.aggCall(a.in.fAggMerge, abi.ExportAggMerge, x, y, 2, dst)
}

// ResultE appends the result of acc to dst.
func (a *AggregateFunction) ResultE(acc, dst []byte) ([]byte, error) {
	return a.in.aggCall(a.in.fAggResult, abi.ExportAggResult, acc, nil, 1, dst)
}

func (in *Instance) aggCall(f wapi.Function, export string, x, y []byte, nargs int, dst []byte) ([]byte, error) {
	if need := len(x) + len(y); need > int(in.inCap) {
		if err := in.growInput(need); err != nil {
			return dst, err
		}
	}
	view := in.inputView()
	copy(view, x)
	copy(view[len(x):], y)
	in.stack[0] = uint64(in.fn.Index)
	in.stack[1], in.stack[2] = uint64(len(x)), uint64(len(y))
	res, err := in.invoke(f, export)
	if err != nil {
		return dst, err
	}
	n := int32(res)
	if n < 0 {
		if abi.Status(n) == abi.StatusUserError {
			return dst, &Error{Module: in.m.id, Export: export, Function: in.fnName(), Entry: -1, Kind: ErrUserFunction,
				Err: fmt.Errorf("the aggregate function failed%s", in.stderr.suffix())}
		}
		return dst, in.abiError("returned %s", abi.Status(n))
	}
	out, err := in.outputView()
	if err != nil {
		return dst, err
	}
	if int(n) > len(out) {
		return dst, in.abiError("returned length %d, more than its output buffer of %d bytes", n, len(out))
	}
	return append(dst, out[:n]...), nil
}

// Window is a time window [Start, End) in ms.
type Window struct{ Start, End int64 }

// WindowFunction runs a module's process window function: all elements of
// a window in one call. One per subtask, used by one goroutine.
type WindowFunction struct {
	m    *Module
	fn   Function
	opts Options
	in   *Instance
	sink recordSink
}

// NewWindowFunction checks that m has the process window function opts
// names; the instance is made in Open.
func NewWindowFunction(m *Module, opts Options) (*WindowFunction, error) {
	opts.Kind = abi.KindProcessWindow
	fn, err := m.resolve(&opts)
	if err != nil {
		return nil, fmt.Errorf("wasm window function: %w", err)
	}
	return &WindowFunction{m: m, fn: fn, opts: opts}, nil
}

// Open instantiates the module for this subtask. Keyed state is available
// to the guest when ctx has it.
func (w *WindowFunction) Open(ctx api.Context) error {
	io := w.m.instanceOptions(&w.opts)
	io.actx = ctx
	io.keyed = ctx.KeyedState() != nil
	in, err := w.m.start(ctx.Context(), w.fn, &w.opts, io)
	if err != nil {
		return err
	}
	w.in = in
	w.sink = recordSink{in: in, policy: w.opts.OnError, actx: ctx}
	return nil
}

// Process calls the function once for window win of key with its elements.
func (w *WindowFunction) Process(key []byte, win Window, elements []api.Record, out api.Output) error {
	in := w.in
	if in == nil {
		return errors.New("wasm window function: Process before Open")
	}
	var bounds [16]byte
	binary.LittleEndian.PutUint64(bounds[:], uint64(win.Start))
	binary.LittleEndian.PutUint64(bounds[8:], uint64(win.End))
	size := entrySize(key, bounds[:], nil)
	for i := range elements {
		size += entrySize(elements[i].Key, elements[i].Value, elements[i].Headers)
	}
	if size > int(in.inCap) {
		if err := in.growInput(size); err != nil {
			return err
		}
	}
	view := in.inputView()
	off := putEntry(view, abi.EntryWindow, uint32(len(elements)), key, bounds[:], win.End-1, nil)
	keys := append(in.call.keys[:0], key)
	for i := range elements {
		r := &elements[i]
		off += putEntry(view[off:], abi.EntryData, 0, r.Key, r.Value, r.Timestamp, r.Headers)
		keys = append(keys, key)
	}
	in.call.keys, in.call.ns = keys, nil
	w.sink.out, w.sink.recs = out, nil
	err := in.run(off, len(elements)+1, &w.sink)
	w.sink.out = nil
	clear(keys)
	if in.state != nil {
		if err != nil {
			in.state.discard()
			return err
		}
		if ferr := in.state.flush(); ferr != nil {
			return fmt.Errorf("wasm window function %s: %w", w.m.id, ferr)
		}
	}
	return err
}

// Close discards the instance.
func (w *WindowFunction) Close() error {
	if w.in == nil {
		return nil
	}
	err := w.in.Close(context.Background())
	w.in = nil
	return err
}
