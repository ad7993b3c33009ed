package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tetratelabs/wazero"
	wapi "github.com/tetratelabs/wazero/api"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/host/abi"
	"github.com/freshet/freshet/host/internal/meter"
)

// hostFunc implements one function of the freshet_v1 module for instance in.
type hostFunc func(in *Instance, stack []uint64)

// hostFuncs maps every host function of the ABI to its implementation; the
// host module is built from abi.HostFunctions, so a function missing here is
// a startup error (and a test failure).
var hostFuncs = map[string]hostFunc{
	abi.FnStateDeclare:   (*Instance).hStateDeclare,
	abi.FnValueGet:       (*Instance).hValueGet,
	abi.FnValuePut:       (*Instance).hValuePut,
	abi.FnStateClear:     (*Instance).hStateClear,
	abi.FnListAdd:        (*Instance).hListAdd,
	abi.FnListGet:        (*Instance).hListGet,
	abi.FnListUpdate:     (*Instance).hListUpdate,
	abi.FnMapGet:         (*Instance).hMapGet,
	abi.FnMapPut:         (*Instance).hMapPut,
	abi.FnMapDelete:      (*Instance).hMapDelete,
	abi.FnMapScan:        (*Instance).hMapScan,
	abi.FnTimerRegister:  (*Instance).hTimerRegister,
	abi.FnTimerDelete:    (*Instance).hTimerDelete,
	abi.FnSideOutputTag:  (*Instance).hSideOutputTag,
	abi.FnCurrentKey:     (*Instance).hCurrentKey,
	abi.FnWatermark:      (*Instance).hWatermark,
	abi.FnProcessingTime: (*Instance).hProcessingTime,
	abi.FnLog:            (*Instance).hLog,
	abi.FnCounterDeclare: (*Instance).hCounterDeclare,
	abi.FnCounterAdd:     (*Instance).hCounterAdd,
	abi.FnFlushOutput:    (*Instance).hFlushOutput,
}

func instantiateHostModule(ctx context.Context, rt wazero.Runtime) error {
	b := rt.NewHostModuleBuilder(abi.ImportModule)
	for _, f := range abi.HostFunctions {
		impl, ok := hostFuncs[f.Name]
		if !ok {
			return fmt.Errorf("host function %s.%s is in the ABI but not implemented", abi.ImportModule, f.Name)
		}
		b.NewFunctionBuilder().
			WithGoModuleFunction(wapi.GoModuleFunc(func(ctx context.Context, _ wapi.Module, stack []uint64) {
				in := instanceFrom(ctx)
				if in == nil {
					panic(errors.New("freshet host function called outside a Freshet instance"))
				}
				impl(in, stack)
			}), f.Params, f.Results).
			WithParameterNames(f.ParamNames...).
			Export(f.Name)
	}
	if _, err := b.Instantiate(ctx); err != nil {
		return fmt.Errorf("instantiating host module %s: %w", abi.ImportModule, err)
	}
	return nil
}

// instantiateMeterModule provides the function metered guests call when
// their fuel runs out (see host/internal/meter).
func instantiateMeterModule(ctx context.Context, rt wazero.Runtime) error {
	_, err := rt.NewHostModuleBuilder(meter.ImportModule).
		NewFunctionBuilder().
		WithGoModuleFunction(wapi.GoModuleFunc(func(ctx context.Context, _ wapi.Module, stack []uint64) {
			in := instanceFrom(ctx)
			if in == nil {
				panic(errors.New("metered guest called outside a Freshet instance"))
			}
			in.tick(stack)
		}), nil, []wapi.ValueType{wapi.ValueTypeI32}).
		Export(meter.ImportName).
		Instantiate(ctx)
	if err != nil {
		return fmt.Errorf("instantiating host module %s: %w", meter.ImportModule, err)
	}
	return nil
}

// errInterrupted unwinds a guest whose deadline passed or whose task was
// cancelled.
var errInterrupted = errors.New("guest call interrupted")

// tick runs every meter.Fuel loop iterations (and entries of functions that
// may recurse) of the guest: it stops the call when its deadline passed or the task was
// cancelled, and otherwise refills the fuel. Being a call into Go, it also
// lets the Go scheduler stop this goroutine for a garbage collection.
func (in *Instance) tick(stack []uint64) {
	if time.Now().After(in.deadline) {
		in.timedOut = true
		panic(errInterrupted)
	}
	if in.ctx.Err() != nil {
		in.cancelled = true
		panic(errInterrupted)
	}
	stack[0] = meter.Fuel
}

// abiPanic is how a host function aborts the guest call: the violation is
// recorded and the panic unwinds the guest (wazero turns it into an error).
type abiPanic struct{ err error }

func (in *Instance) abort(format string, args ...any) {
	err := fmt.Errorf(format, args...)
	if in.call.abiErr == nil {
		in.call.abiErr = err
	}
	panic(abiPanic{err})
}

// bytesAt returns the guest memory [ptr, ptr+n), aborting the call when it
// is outside memory.
func (in *Instance) bytesAt(fn string, ptr, n uint32) []byte {
	b, ok := in.mem.Read(ptr, n)
	if !ok {
		in.abort("%s: [%d, +%d) is outside the guest's memory of %d bytes", fn, ptr, n, in.mem.Size())
	}
	return b
}

func status(s abi.Status) uint64 { return uint64(uint32(int32(s))) }

// result copies b into the guest's buffer when it fits and returns its length.
func (in *Instance) result(fn string, stack []uint64, bufArg int, b []byte) {
	ptr, n := uint32(stack[bufArg]), uint32(stack[bufArg+1])
	dst := in.bytesAt(fn, ptr, n)
	if len(b) > int(^uint32(0)>>1) {
		stack[0] = status(abi.StatusInternal)
		return
	}
	if len(b) <= len(dst) {
		copy(dst, b)
	}
	stack[0] = uint64(uint32(len(b)))
}

// keyed prepares keyed state for the entry the guest is processing.
func (in *Instance) keyed(fn string) abi.Status {
	if !in.opts.keyed || in.state == nil {
		return abi.StatusUnsupported
	}
	idx, _ := in.currentEntry()
	if idx == abi.NoEntry {
		return abi.StatusNoCurrentKey
	}
	if int(idx) >= len(in.call.keys) {
		in.abort("%s: current_entry is %d but the call has %d entries", fn, idx, len(in.call.keys))
	}
	if idx != in.call.cur {
		var ns []byte
		if int(idx) < len(in.call.ns) {
			ns = in.call.ns[idx]
		}
		in.state.setKey(in.call.keys[idx], ns)
		in.call.cur = idx
	}
	return abi.StatusOK
}

// stateStatus maps a state error to a status, remembering backend failures
// so that the batch fails whatever the guest does with the status.
func (in *Instance) stateStatus(err error) abi.Status {
	switch {
	case err == nil:
		return abi.StatusOK
	case errors.Is(err, errUnknownHandle):
		return abi.StatusUnknownHandle
	case errors.Is(err, errKindMismatch):
		return abi.StatusKindMismatch
	}
	if in.call.stateErr == nil {
		in.call.stateErr = err
	}
	return abi.StatusStateError
}

func (in *Instance) hStateDeclare(stack []uint64) {
	kind, ptr, n, ttl := abi.StateKind(uint32(stack[0])), uint32(stack[1]), uint32(stack[2]), int64(stack[3])
	name := in.bytesAt(abi.FnStateDeclare, ptr, n)
	switch {
	case !in.opts.keyed || in.state == nil:
		stack[0] = status(abi.StatusUnsupported)
		return
	case len(name) == 0 || len(name) > 256 || ttl < 0 || kind < abi.StateValue || kind > abi.StateMap:
		stack[0] = status(abi.StatusInvalidArgument)
		return
	}
	h, err := in.state.declare(kind, string(name), time.Duration(ttl)*time.Millisecond)
	if err != nil {
		stack[0] = status(in.stateStatus(err))
		return
	}
	stack[0] = uint64(uint32(h))
}

func (in *Instance) hValueGet(stack []uint64) {
	if st := in.keyed(abi.FnValueGet); st != abi.StatusOK {
		in.bytesAt(abi.FnValueGet, uint32(stack[1]), uint32(stack[2]))
		stack[0] = status(st)
		return
	}
	v, ok, err := in.state.valueGet(int32(stack[0]))
	switch {
	case err != nil:
		stack[0] = status(in.stateStatus(err))
	case !ok:
		in.bytesAt(abi.FnValueGet, uint32(stack[1]), uint32(stack[2]))
		stack[0] = status(abi.StatusNotFound)
	default:
		in.result(abi.FnValueGet, stack, 1, v)
	}
}

func (in *Instance) hValuePut(stack []uint64) {
	v := in.bytesAt(abi.FnValuePut, uint32(stack[1]), uint32(stack[2]))
	if st := in.keyed(abi.FnValuePut); st != abi.StatusOK {
		stack[0] = status(st)
		return
	}
	stack[0] = status(in.stateStatus(in.state.valuePut(int32(stack[0]), v)))
}

func (in *Instance) hStateClear(stack []uint64) {
	if st := in.keyed(abi.FnStateClear); st != abi.StatusOK {
		stack[0] = status(st)
		return
	}
	stack[0] = status(in.stateStatus(in.state.clear(int32(stack[0]))))
}

func (in *Instance) hListAdd(stack []uint64) {
	v := in.bytesAt(abi.FnListAdd, uint32(stack[1]), uint32(stack[2]))
	if st := in.keyed(abi.FnListAdd); st != abi.StatusOK {
		stack[0] = status(st)
		return
	}
	stack[0] = status(in.stateStatus(in.state.listAdd(int32(stack[0]), v)))
}

func (in *Instance) hListGet(stack []uint64) {
	in.bytesAt(abi.FnListGet, uint32(stack[1]), uint32(stack[2]))
	if st := in.keyed(abi.FnListGet); st != abi.StatusOK {
		stack[0] = status(st)
		return
	}
	var err error
	in.scratch, err = in.state.listGet(int32(stack[0]), in.scratch[:0])
	if err != nil {
		stack[0] = status(in.stateStatus(err))
		return
	}
	in.result(abi.FnListGet, stack, 1, in.scratch)
}

func (in *Instance) hListUpdate(stack []uint64) {
	b := in.bytesAt(abi.FnListUpdate, uint32(stack[1]), uint32(stack[2]))
	if st := in.keyed(abi.FnListUpdate); st != abi.StatusOK {
		stack[0] = status(st)
		return
	}
	items, err := decodeList(b)
	if err != nil {
		stack[0] = status(abi.StatusInvalidArgument)
		return
	}
	stack[0] = status(in.stateStatus(in.state.listUpdate(int32(stack[0]), items)))
}

func (in *Instance) hMapGet(stack []uint64) {
	uk := in.bytesAt(abi.FnMapGet, uint32(stack[1]), uint32(stack[2]))
	in.bytesAt(abi.FnMapGet, uint32(stack[3]), uint32(stack[4]))
	if st := in.keyed(abi.FnMapGet); st != abi.StatusOK {
		stack[0] = status(st)
		return
	}
	v, ok, err := in.state.mapGet(int32(stack[0]), uk)
	switch {
	case err != nil:
		stack[0] = status(in.stateStatus(err))
	case !ok:
		stack[0] = status(abi.StatusNotFound)
	default:
		in.result(abi.FnMapGet, stack, 3, v)
	}
}

func (in *Instance) hMapPut(stack []uint64) {
	uk := in.bytesAt(abi.FnMapPut, uint32(stack[1]), uint32(stack[2]))
	v := in.bytesAt(abi.FnMapPut, uint32(stack[3]), uint32(stack[4]))
	if st := in.keyed(abi.FnMapPut); st != abi.StatusOK {
		stack[0] = status(st)
		return
	}
	stack[0] = status(in.stateStatus(in.state.mapSet(int32(stack[0]), uk, v, true)))
}

func (in *Instance) hMapDelete(stack []uint64) {
	uk := in.bytesAt(abi.FnMapDelete, uint32(stack[1]), uint32(stack[2]))
	if st := in.keyed(abi.FnMapDelete); st != abi.StatusOK {
		stack[0] = status(st)
		return
	}
	stack[0] = status(in.stateStatus(in.state.mapSet(int32(stack[0]), uk, nil, false)))
}

func (in *Instance) hMapScan(stack []uint64) {
	in.bytesAt(abi.FnMapScan, uint32(stack[1]), uint32(stack[2]))
	if st := in.keyed(abi.FnMapScan); st != abi.StatusOK {
		stack[0] = status(st)
		return
	}
	var err error
	in.scratch, err = in.state.mapScan(int32(stack[0]), in.scratch[:0])
	if err != nil {
		stack[0] = status(in.stateStatus(err))
		return
	}
	in.result(abi.FnMapScan, stack, 1, in.scratch)
}

func (in *Instance) timerOp(fn string, stack []uint64, del bool) {
	domain, ts := abi.TimeDomain(uint32(stack[0])), int64(stack[1])
	if st := in.keyed(fn); st != abi.StatusOK {
		stack[0] = status(st)
		return
	}
	timers := in.opts.actx.Timers()
	if timers == nil {
		stack[0] = status(abi.StatusUnsupported)
		return
	}
	in.state.sync() // the timer service reads the backend's current key
	var err error
	switch {
	case domain == abi.DomainEventTime && !del:
		err = timers.RegisterEventTimeTimer(ts)
	case domain == abi.DomainEventTime:
		err = timers.DeleteEventTimeTimer(ts)
	case domain == abi.DomainProcessingTime && !del:
		err = timers.RegisterProcessingTimeTimer(ts)
	case domain == abi.DomainProcessingTime:
		err = timers.DeleteProcessingTimeTimer(ts)
	default:
		stack[0] = status(abi.StatusInvalidArgument)
		return
	}
	stack[0] = status(in.stateStatus(err))
}

func (in *Instance) hTimerRegister(stack []uint64) { in.timerOp(abi.FnTimerRegister, stack, false) }
func (in *Instance) hTimerDelete(stack []uint64)   { in.timerOp(abi.FnTimerDelete, stack, true) }

func (in *Instance) hSideOutputTag(stack []uint64) {
	tag := in.bytesAt(abi.FnSideOutputTag, uint32(stack[0]), uint32(stack[1]))
	if in.opts.actx == nil || in.kind == abi.KindAggregate || in.kind == abi.KindKeySelector {
		stack[0] = status(abi.StatusUnsupported)
		return
	}
	if len(tag) == 0 || len(tag) > 256 {
		stack[0] = status(abi.StatusInvalidArgument)
		return
	}
	if h, ok := in.sideIdx[string(tag)]; ok {
		stack[0] = uint64(uint32(h))
		return
	}
	out := in.opts.actx.SideOutput(string(tag))
	if out == nil {
		stack[0] = status(abi.StatusUnsupported)
		return
	}
	if in.sideIdx == nil {
		in.sideIdx = map[string]int{}
	}
	in.sides = append(in.sides, out)
	in.sideIdx[string(tag)] = len(in.sides) - 1
	stack[0] = uint64(uint32(len(in.sides) - 1))
}

func (in *Instance) hCurrentKey(stack []uint64) {
	in.bytesAt(abi.FnCurrentKey, uint32(stack[0]), uint32(stack[1]))
	idx, _ := in.currentEntry()
	if idx == abi.NoEntry || int(idx) >= len(in.call.keys) {
		stack[0] = status(abi.StatusNoCurrentKey)
		return
	}
	in.result(abi.FnCurrentKey, stack, 0, in.call.keys[idx])
}

func (in *Instance) hWatermark(stack []uint64) {
	wm := api.MinWatermark
	if in.opts.actx != nil {
		wm = in.opts.actx.CurrentWatermark()
	}
	stack[0] = uint64(wm)
}

func (in *Instance) hProcessingTime(stack []uint64) { stack[0] = uint64(in.processingTime()) }

func (in *Instance) hLog(stack []uint64) {
	level, msg := int32(stack[0]), in.bytesAt(abi.FnLog, uint32(stack[1]), uint32(stack[2]))
	in.stderr.remember(msg)
	in.stderr.remember([]byte("\n"))
	in.stderr.log(slog.Level(level), msg)
}

func (in *Instance) hCounterDeclare(stack []uint64) {
	name := in.bytesAt(abi.FnCounterDeclare, uint32(stack[0]), uint32(stack[1]))
	if len(name) == 0 || len(name) > 128 {
		stack[0] = status(abi.StatusInvalidArgument)
		return
	}
	if h, ok := in.ctrIdx[string(name)]; ok {
		stack[0] = uint64(uint32(h))
		return
	}
	var c api.Counter = discardCounter{}
	if in.opts.actx != nil {
		if cc := in.opts.actx.Counter(string(name)); cc != nil {
			c = cc
		}
	}
	if in.ctrIdx == nil {
		in.ctrIdx = map[string]int{}
	}
	in.ctrs = append(in.ctrs, c)
	in.ctrIdx[string(name)] = len(in.ctrs) - 1
	stack[0] = uint64(uint32(len(in.ctrs) - 1))
}

type discardCounter struct{}

func (discardCounter) Add(int64) {}

func (in *Instance) hCounterAdd(stack []uint64) {
	h, delta := int32(stack[0]), int64(stack[1])
	if h < 0 || int(h) >= len(in.ctrs) {
		in.abort("%s: unknown counter handle %d", abi.FnCounterAdd, h)
	}
	in.ctrs[h].Add(delta)
}

func (in *Instance) hFlushOutput(stack []uint64) {
	n := uint32(stack[0])
	if in.call.sink == nil {
		in.abort("%s called outside %s", abi.FnFlushOutput, abi.ExportProcess)
	}
	if err := in.consume(n); err != nil {
		in.abort("%s: %v", abi.FnFlushOutput, err)
	}
	stack[0] = status(abi.StatusOK)
}
