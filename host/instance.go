package host

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/tetratelabs/wazero"
	wapi "github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/host/abi"
)

const wasmPage = 65536

// instanceOptions configure one instance.
type instanceOptions struct {
	memoryLimit           int64
	timeout               time.Duration
	inputSize, outputSize int
	// actx gives the guest state, timers, side outputs, metrics, logs and
	// time. Nil for probes and stand-alone aggregate functions.
	actx api.Context
	// keyed enables keyed state and timers (process and process_window).
	keyed bool
	// noStateCache writes state through to the backend at once.
	noStateCache bool
	// clock overrides actx's processing time (tests, harness).
	clock func() int64
}

// Instance is one instantiation of a module: a sandbox with its own memory,
// used by one goroutine. Adapters (NewOperator, ...) own their instance.
type Instance struct {
	m    *Module
	mod  wapi.Module
	mem  wapi.Memory
	ctx  context.Context
	opts instanceOptions

	stack [4]uint64

	fInit, fDescribe, fOpen, fProcess          wapi.Function
	fAggCreate, fAggAdd, fAggMerge, fAggResult wapi.Function

	version                      int
	ctrl                         uint32
	inPtr, inCap, outPtr, outCap uint32

	deadline  time.Time
	timedOut  bool
	cancelled bool
	alloc     *cappedMemory
	poison    error
	export    string
	fn        *Function

	call    callState
	hdrs    []api.Header
	stderr  *guestLog
	kind    abi.OperatorKind
	state   *stateCache
	sides   []api.Output
	sideIdx map[string]int
	ctrs    []api.Counter
	ctrIdx  map[string]int
	monoNow int64
	scratch []byte
}

// callState is what host functions need during one guest call.
type callState struct {
	// keys[i] and ns[i] are the key and namespace of input entry i.
	keys [][]byte
	ns   [][]byte
	// cur is the entry whose key is set on the keyed state, or NoEntry.
	cur      uint32
	sink     outputSink
	abiErr   error
	stateErr error
	sinkErr  error
}

type instanceKey struct{}

func instanceFrom(ctx context.Context) *Instance {
	in, _ := ctx.Value(instanceKey{}).(*Instance)
	return in
}

// instantiate makes an instance, runs _initialize, checks the ABI version
// and calls freshet_init.
func (m *Module) instantiate(parent context.Context, o instanceOptions) (*Instance, error) {
	if int64(m.minPages)*wasmPage > o.memoryLimit {
		return nil, &Error{Module: m.id, Entry: -1, Kind: ErrMemoryLimit,
			Err: fmt.Errorf("the module's memory starts at %d bytes, more than the limit of %d", int64(m.minPages)*wasmPage, o.memoryLimit)}
	}
	if parent == nil {
		parent = context.Background()
	}
	in := &Instance{m: m, opts: o, alloc: &cappedMemory{limit: uint64(o.memoryLimit)}}
	in.call.cur = abi.NoEntry
	in.stderr = newGuestLog(o.actx, m.rt.cfg.Logger, m.id)
	in.ctx = context.WithValue(parent, instanceKey{}, in)

	cfg := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions().
		WithStdout(in.stderr).
		WithStderr(in.stderr).
		WithWalltime(in.walltime, sys.ClockResolution(time.Millisecond)).
		WithNanotime(in.nanotime, sys.ClockResolution(time.Microsecond)).
		WithNanosleep(func(int64) {}).
		WithOsyield(func() {}).
		WithRandSource(newDetRand(m.Hash))
	ictx := experimental.WithMemoryAllocator(in.ctx, in.alloc)
	mod, err := m.rt.rt.InstantiateModule(ictx, m.compiled, cfg)
	if err != nil {
		return nil, in.classify("instantiate", err)
	}
	in.mod = mod
	in.mem = mod.Memory()
	if in.mem == nil {
		in.mod.Close(context.Background())
		return nil, &Error{Module: m.id, Entry: -1, Kind: ErrABI, Err: errors.New("the module has no memory")}
	}
	in.fInit = mod.ExportedFunction(abi.ExportInit)
	in.fDescribe = mod.ExportedFunction(abi.ExportDescribe)
	in.fOpen = mod.ExportedFunction(abi.ExportOpen)
	in.fProcess = mod.ExportedFunction(abi.ExportProcess)
	in.fAggCreate = mod.ExportedFunction(abi.ExportAggCreate)
	in.fAggAdd = mod.ExportedFunction(abi.ExportAggAdd)
	in.fAggMerge = mod.ExportedFunction(abi.ExportAggMerge)
	in.fAggResult = mod.ExportedFunction(abi.ExportAggResult)

	if m.hasInitialize {
		if _, err := in.invoke(mod.ExportedFunction("_initialize"), "_initialize"); err != nil {
			in.Close(context.Background())
			return nil, err
		}
	}
	v, err := in.invoke(mod.ExportedFunction(abi.ExportABIVersion), abi.ExportABIVersion)
	if err != nil {
		in.Close(context.Background())
		return nil, err
	}
	in.version = int(int32(v))
	if in.version < abi.MinSupportedVersion || in.version > abi.Version {
		in.Close(context.Background())
		return nil, &Error{Module: m.id, Export: abi.ExportABIVersion, Entry: -1, Kind: ErrABI,
			Err: fmt.Errorf("the module implements ABI version %d; this host supports versions %d to %d", in.version, abi.MinSupportedVersion, abi.Version)}
	}
	if err := in.init(uint32(o.inputSize), uint32(o.outputSize)); err != nil {
		in.Close(context.Background())
		return nil, err
	}
	return in, nil
}

// Close releases the instance. It is safe to call more than once.
func (in *Instance) Close(ctx context.Context) error {
	if in.mod == nil {
		return nil
	}
	err := in.mod.Close(ctx)
	in.mod = nil
	if in.poison == nil {
		in.poison = ErrPoisoned
	}
	return err
}

// Module returns the module the instance was made from.
func (in *Instance) Module() *Module { return in.m }

// Err returns the error that poisoned the instance, or nil.
func (in *Instance) Err() error { return in.poison }

// invoke calls f with in.stack as parameters and returns its first result.
// Any failure poisons the instance.
func (in *Instance) invoke(f wapi.Function, export string) (uint64, error) {
	if in.poison != nil {
		return 0, &Error{Module: in.m.id, Export: export, Function: in.fnName(), Entry: -1, Kind: ErrPoisoned, Err: in.poison}
	}
	in.export = export
	in.call.abiErr, in.call.stateErr, in.call.sinkErr = nil, nil, nil
	in.deadline = time.Now().Add(in.opts.timeout)
	err := f.CallWithStack(in.ctx, in.stack[:])
	if err == nil && in.call.abiErr == nil {
		return in.stack[0], nil
	}
	return 0, in.fail(in.classify(export, err))
}

// fail poisons the instance with err and closes it.
func (in *Instance) fail(err error) error {
	in.poison = err
	if in.mod != nil {
		_ = in.mod.Close(context.Background())
		in.mod = nil
	}
	return err
}

func (in *Instance) fnName() string {
	if in.fn == nil {
		return ""
	}
	return in.fn.Name
}

// classify turns a failed call into an *Error of the right category.
func (in *Instance) classify(export string, err error) error {
	e := &Error{Module: in.m.id, Export: export, Function: in.fnName(), Entry: -1, Err: err}
	if idx, ok := in.currentEntry(); ok && idx != abi.NoEntry {
		e.Entry = int(idx)
		if int(idx) < len(in.call.keys) {
			e.Key = append([]byte{}, in.call.keys[idx]...)
		}
	}
	var exit *sys.ExitError
	switch {
	case in.timedOut:
		e.Kind, e.Err = ErrTimeout, fmt.Errorf("the call ran longer than %s", in.opts.timeout)
	case in.call.abiErr != nil:
		e.Kind, e.Err = ErrABI, in.call.abiErr
	case in.alloc.exceeded:
		e.Kind, e.Err = ErrMemoryLimit, fmt.Errorf("the guest asked for %d bytes, the limit is %d", in.alloc.asked, in.alloc.limit)
	case in.cancelled:
		e.Kind, e.Err = ErrGuestTrap, fmt.Errorf("interrupted: the task was cancelled: %w", context.Cause(in.ctx))
	case errors.As(err, &exit):
		e.Kind, e.Err = ErrGuestTrap, fmt.Errorf("the guest exited with code %d", exit.ExitCode())
	default:
		e.Kind = ErrGuestTrap
	}
	if tail := in.stderr.tail(); tail != "" && (e.Kind == ErrGuestTrap || e.Kind == ErrMemoryLimit) {
		e.Err = fmt.Errorf("%w; guest output: %s", e.Err, tail)
	}
	return e
}

// currentEntry reads the control block's current_entry.
func (in *Instance) currentEntry() (uint32, bool) {
	if in.mem == nil || in.ctrl == 0 {
		return 0, false
	}
	return in.mem.ReadUint32Le(in.ctrl + abi.OffCtrlCurrentEntry)
}

func (in *Instance) abiError(format string, args ...any) error {
	return in.fail(&Error{Module: in.m.id, Export: in.export, Function: in.fnName(), Entry: -1, Kind: ErrABI, Err: fmt.Errorf(format, args...)})
}

// init calls freshet_init and reads the control block.
func (in *Instance) init(inSize, outSize uint32) error {
	in.stack[0], in.stack[1] = uint64(inSize), uint64(outSize)
	res, err := in.invoke(in.fInit, abi.ExportInit)
	if err != nil {
		return err
	}
	ctrl := int32(res)
	if ctrl <= 0 {
		if abi.Status(ctrl) == abi.StatusOutOfMemory {
			return in.fail(&Error{Module: in.m.id, Export: abi.ExportInit, Entry: -1, Kind: ErrMemoryLimit,
				Err: fmt.Errorf("the guest could not allocate %d+%d bytes of buffers", inSize, outSize)})
		}
		return in.abiError("returned %s instead of a control block address", abi.Status(ctrl))
	}
	if in.ctrl != 0 && uint32(ctrl) != in.ctrl {
		return in.abiError("moved its control block from %d to %d", in.ctrl, ctrl)
	}
	in.ctrl = uint32(ctrl)
	b, ok := in.mem.Read(in.ctrl, abi.ControlBlockSize)
	if !ok {
		return in.abiError("control block at %d is outside memory", in.ctrl)
	}
	in.inPtr = binary.LittleEndian.Uint32(b[abi.OffCtrlInputPtr:])
	in.inCap = binary.LittleEndian.Uint32(b[abi.OffCtrlInputCap:])
	if in.inCap < inSize {
		return in.abiError("asked for an input buffer of %d bytes, got %d", inSize, in.inCap)
	}
	if _, ok := in.mem.Read(in.inPtr, in.inCap); !ok {
		return in.abiError("input buffer [%d, +%d) is outside memory", in.inPtr, in.inCap)
	}
	if _, err := in.outputView(); err != nil {
		return err
	}
	return nil
}

// inputView returns the guest's input buffer. Fetch it again after every
// guest call.
func (in *Instance) inputView() []byte {
	b, _ := in.mem.Read(in.inPtr, in.inCap)
	return b
}

// growInput asks the guest for an input buffer of at least n bytes.
func (in *Instance) growInput(n int) error {
	if n > int(in.opts.memoryLimit) {
		return in.fail(&Error{Module: in.m.id, Export: abi.ExportInit, Function: in.fnName(), Entry: -1, Kind: ErrMemoryLimit,
			Err: fmt.Errorf("a record of %d bytes does not fit in the memory limit of %d bytes", n, in.opts.memoryLimit)})
	}
	want := max(uint32(n), in.inCap*2)
	_, outCap, _ := in.readOutputBuffer()
	return in.init(want, outCap)
}

func (in *Instance) readOutputBuffer() (ptr, cap uint32, ok bool) {
	b, ok := in.mem.Read(in.ctrl+abi.OffCtrlOutputPtr, 8)
	if !ok {
		return 0, 0, false
	}
	return binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint32(b[4:]), true
}

// outputView returns the guest's output buffer as the control block
// describes it now.
func (in *Instance) outputView() ([]byte, error) {
	ptr, n, ok := in.readOutputBuffer()
	if !ok {
		return nil, in.abiError("control block at %d is outside memory", in.ctrl)
	}
	b, ok := in.mem.Read(ptr, n)
	if !ok {
		return nil, in.abiError("output buffer [%d, +%d) is outside memory", ptr, n)
	}
	in.outPtr, in.outCap = ptr, n
	return b, nil
}

// describe calls freshet_describe and returns a copy of the descriptor.
func (in *Instance) describe() ([]byte, error) {
	res, err := in.invoke(in.fDescribe, abi.ExportDescribe)
	if err != nil {
		return nil, err
	}
	n := int32(res)
	if n < 0 {
		return nil, in.abiError("returned %s", abi.Status(n))
	}
	out, err := in.outputView()
	if err != nil {
		return nil, err
	}
	if int(n) > len(out) {
		return nil, in.abiError("returned length %d, more than its output buffer of %d bytes", n, len(out))
	}
	return append([]byte(nil), out[:n]...), nil
}

// open calls freshet_open for fn with config (a JSON object).
func (in *Instance) open(fn Function, config []byte) error {
	f := fn
	in.fn = &f
	in.kind = fn.Kind
	if len(config) == 0 {
		config = []byte("{}")
	}
	if len(config) > int(in.inCap) {
		if err := in.growInput(len(config)); err != nil {
			return err
		}
	}
	copy(in.inputView(), config)
	in.stack[0], in.stack[1] = uint64(fn.Index), uint64(len(config))
	res, err := in.invoke(in.fOpen, abi.ExportOpen)
	if err != nil {
		return err
	}
	if st := abi.Status(int32(res)); st != abi.StatusOK {
		kind := ErrABI
		if st == abi.StatusInvalidArgument || st == abi.StatusUserError {
			kind = ErrUserFunction
		}
		err := &Error{Module: in.m.id, Export: abi.ExportOpen, Function: fn.Name, Entry: -1, Kind: kind,
			Err: fmt.Errorf("opening the function with configuration %s returned %s%s", config, st, in.stderr.suffix())}
		return in.fail(err)
	}
	return nil
}

// walltime is the guest's realtime clock: the host's processing time.
func (in *Instance) walltime() (int64, int32) {
	ms := in.processingTime()
	return ms / 1000, int32(ms%1000) * 1e6
}

// nanotime is a monotonic clock that advances 1 µs per reading.
func (in *Instance) nanotime() int64 {
	in.monoNow += 1000
	return in.monoNow
}

func (in *Instance) processingTime() int64 {
	switch {
	case in.opts.clock != nil:
		return in.opts.clock()
	case in.opts.actx != nil:
		return in.opts.actx.ProcessingTime().UnixMilli()
	}
	return 0
}

// detRand is a deterministic random source seeded by the module hash
// (splitmix64), so guests behave the same in every run.
type detRand struct{ s uint64 }

func newDetRand(h [32]byte) io.Reader { return &detRand{s: binary.LittleEndian.Uint64(h[:])} }

func (r *detRand) Read(p []byte) (int, error) {
	for i := range p {
		if i%8 == 0 {
			r.s += 0x9e3779b97f4a7c15
		}
		z := r.s
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		z ^= z >> 31
		p[i] = byte(z >> (8 * (i % 8)))
	}
	return len(p), nil
}

// cappedMemory allocates guest linear memory and enforces the instance's
// memory limit, remembering when the guest hit it.
type cappedMemory struct {
	limit    uint64
	buf      []byte
	exceeded bool
	asked    uint64
}

func (c *cappedMemory) Allocate(cap, max uint64) experimental.LinearMemory { return c }

func (c *cappedMemory) Reallocate(size uint64) []byte {
	if size > c.limit {
		c.exceeded = true
		c.asked = size
		return nil
	}
	if size <= uint64(cap(c.buf)) {
		c.buf = c.buf[:size]
		return c.buf
	}
	newCap := min(max(size, uint64(cap(c.buf))*2), c.limit)
	nb := make([]byte, size, newCap)
	copy(nb, c.buf)
	c.buf = nb
	return c.buf
}

func (c *cappedMemory) Free() { c.buf = nil }
