package meter_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tetratelabs/wazero"
	wapi "github.com/tetratelabs/wazero/api"

	"github.com/freshet/freshet/host/abi"
	"github.com/freshet/freshet/host/internal/meter"
	wt "github.com/freshet/freshet/host/internal/wasmtest"
)

// run instantiates the metered module with a tick that counts its calls
// and stops the guest after maxTicks, then calls export.
func run(t *testing.T, module []byte, export string, maxTicks int, args ...uint64) (ticks int, res []uint64, err error) {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	errStop := errors.New("stopped by tick")
	_, err = rt.NewHostModuleBuilder(meter.ImportModule).NewFunctionBuilder().
		WithGoModuleFunction(wapi.GoModuleFunc(func(ctx context.Context, _ wapi.Module, stack []uint64) {
			ticks++
			if ticks >= maxTicks {
				panic(errStop)
			}
			stack[0] = meter.Fuel
		}), nil, []wapi.ValueType{wapi.ValueTypeI32}).Export(meter.ImportName).Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	metered, err := meter.Instrument(module)
	if err != nil {
		t.Fatal(err)
	}
	mod, err := rt.InstantiateWithConfig(ctx, metered, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		t.Fatal(err)
	}
	res, err = mod.ExportedFunction(export).Call(ctx, args...)
	return ticks, res, err
}

func TestSpinningLoopIsStopped(t *testing.T) {
	m := wt.RawGuest(1, abi.KindMap, wt.Cat(wt.SpinForever, wt.I32Const(0)))
	ticks, _, err := run(t, m.Bytes(), abi.ExportProcess, 3, 0, 0, 0)
	if err == nil || ticks != 3 {
		t.Fatalf("ticks %d, err %v", ticks, err)
	}
}

func TestBehaviourIsUnchanged(t *testing.T) {
	// ForwardAll loops once per entry: results must be identical, and the
	// fuel must be spent one unit per iteration.
	m := wt.RawGuest(1, abi.KindMap, wt.ForwardAll())
	for _, entries := range []uint64{0, 1, 5, meter.Fuel - 2, meter.Fuel + 5} {
		ticks, res, err := run(t, m.Bytes(), abi.ExportProcess, 1<<30, 0, 0, entries)
		if err != nil {
			t.Fatal(err)
		}
		if res[0] != entries*abi.EntryHeaderSize {
			t.Errorf("%d entries: result %d", entries, res[0])
		}
		// +1 for the loop's exit iteration; a function that calls nothing
		// pays nothing at its entry.
		if want := int(entries+1) / meter.Fuel; ticks != want {
			t.Errorf("%d entries: %d ticks, want %d", entries, ticks, want)
		}
	}
}

// Instructions the fuel tests use beyond wasmtest's.
var (
	ifEmpty = []byte{0x04, 0x40}
	ret     = []byte{0x0f}
	i32Sub  = []byte{0x6b}
)

func brTable(labels ...int) []byte {
	b := []byte{0x0e, byte(len(labels) - 1)}
	for _, l := range labels {
		b = append(b, byte(l))
	}
	return b
}

// countTo loops from param 1 up to param 0, leaving the loop in one of the
// ways a function can return from inside it; the loop's check runs
// param 0 + 1 times.
func countTo(exit string) []byte {
	done := wt.Cat(wt.LocalGet(1), wt.LocalGet(0), wt.I32GeU)
	next := wt.Cat(wt.LocalGet(1), wt.I32Const(1), wt.I32Add, wt.LocalSet(1))
	switch exit {
	case "end":
		return wt.Cat(wt.Block, wt.Loop, done, wt.BrIf(1), next, wt.Br(0), wt.End, wt.End)
	case "return":
		return wt.Cat(wt.Loop, done, ifEmpty, ret, wt.End, next, wt.Br(0), wt.End)
	case "br":
		return wt.Cat(wt.Block, wt.Loop, done, wt.BrIf(2), next, wt.Br(0), wt.End, wt.End)
	case "br_table":
		// label 0 leaves the inner block (go on counting), 2 the function.
		return wt.Cat(wt.Loop, wt.Block, done, brTable(0, 2), wt.End, next, wt.Br(0), wt.End)
	}
	panic(exit)
}

// TestFuelFollowsCalls: a loop that calls a looping function spends the
// callee's iterations too, whichever way the callee returns, and functions
// that neither loop nor call spend nothing.
func TestFuelFollowsCalls(t *testing.T) {
	const n, m = 100, 250
	for _, exit := range []string{"end", "return", "br", "br_table"} {
		mod := &wt.Module{
			Pages: 1,
			Funcs: []wt.Func{
				{Params: []byte{wt.I32, wt.I32}, Body: countTo(exit)},
				{Export: "outer", Params: []byte{wt.I32, wt.I32, wt.I32}, Body: wt.Cat(
					wt.Block, wt.Loop,
					wt.LocalGet(2), wt.LocalGet(0), wt.I32GeU, wt.BrIf(1),
					wt.LocalGet(1), wt.I32Const(0), wt.Call(0),
					wt.LocalGet(2), wt.I32Const(1), wt.I32Add, wt.LocalSet(2),
					wt.Br(0), wt.End, wt.End)},
				{Params: []byte{wt.I32}, Results: []byte{wt.I32}, Body: wt.Cat(wt.LocalGet(0), wt.I32Const(1), wt.I32Add)},
				{Export: "leaves", Params: []byte{wt.I32, wt.I32}, Body: wt.Cat(
					wt.Block, wt.Loop,
					wt.LocalGet(1), wt.LocalGet(0), wt.I32GeU, wt.BrIf(1),
					wt.LocalGet(1), wt.Call(2), wt.LocalSet(1),
					wt.Br(0), wt.End, wt.End)},
			},
		}
		// outer: its entry, n+1 checks of its loop, n calls of m+1 checks.
		ticks, _, err := run(t, mod.Bytes(), "outer", 1<<30, n, m, 0)
		if want := (1 + n + 1 + n*(m+1)) / meter.Fuel; err != nil || ticks != want {
			t.Errorf("exit by %s: %d ticks (err %v), want %d", exit, ticks, err, want)
		}
		// leaves: only its loop's checks. It calls only a function that
		// neither loops nor calls, which costs nothing and cannot recurse,
		// so its own entry costs nothing either.
		const calls = 3*meter.Fuel - 2
		ticks, _, err = run(t, mod.Bytes(), "leaves", 1<<30, calls, 0)
		if want := (calls + 1) / meter.Fuel; err != nil || ticks != want {
			t.Errorf("leaves: %d ticks (err %v), want %d", ticks, err, want)
		}
	}
}

func TestRecursionIsMetered(t *testing.T) {
	// down(n) calls down(n-1) until 0, directly or through a second
	// function, neither with a loop: each entry of a function on the cycle
	// costs one unit.
	down := func(callee int) []byte {
		return wt.Cat(wt.LocalGet(0), ifEmpty, wt.LocalGet(0), wt.I32Const(1), i32Sub, wt.Call(callee), wt.End)
	}
	const depth = 2*meter.Fuel + 5
	for _, c := range []struct {
		name  string
		funcs []wt.Func
		ticks int
	}{
		{"self", []wt.Func{{Export: "rec", Params: []byte{wt.I32}, Body: down(0)}}, 2},
		{"mutual", []wt.Func{
			{Export: "rec", Params: []byte{wt.I32}, Body: down(1)},
			{Params: []byte{wt.I32}, Body: down(0)},
		}, 2},
	} {
		mod := &wt.Module{Pages: 1, Funcs: c.funcs}
		ticks, _, err := run(t, mod.Bytes(), "rec", 1<<30, depth)
		if err != nil || ticks != c.ticks {
			t.Errorf("%s: %d ticks (err %v), want %d", c.name, ticks, err, c.ticks)
		}
	}
}

func TestCallsAreRenumbered(t *testing.T) {
	// Function 0 is an import; function 2 calls function 3 which returns 42.
	m := &wt.Module{
		Imports: []wt.Import{{Module: "env", Name: "unused", Results: []byte{wt.I32}}},
		Pages:   1,
		Funcs: []wt.Func{
			{Export: "answer", Results: []byte{wt.I32}, Body: wt.I32Const(42)},
			{Export: "caller", Results: []byte{wt.I32}, Body: wt.Call(1)},
		},
	}
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	rt.NewHostModuleBuilder("env").NewFunctionBuilder().
		WithGoModuleFunction(wapi.GoModuleFunc(func(ctx context.Context, _ wapi.Module, stack []uint64) { stack[0] = 7 }), nil, []wapi.ValueType{wapi.ValueTypeI32}).
		Export("unused").Instantiate(ctx)
	rt.NewHostModuleBuilder(meter.ImportModule).NewFunctionBuilder().
		WithGoModuleFunction(wapi.GoModuleFunc(func(ctx context.Context, _ wapi.Module, stack []uint64) { stack[0] = meter.Fuel }), nil, []wapi.ValueType{wapi.ValueTypeI32}).
		Export(meter.ImportName).Instantiate(ctx)
	metered, err := meter.Instrument(m.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	mod, err := rt.Instantiate(ctx, metered)
	if err != nil {
		t.Fatal(err)
	}
	res, err := mod.ExportedFunction("caller").Call(ctx)
	if err != nil || res[0] != 42 {
		t.Fatalf("caller() = %v, %v", res, err)
	}
}

func TestRejectsReferencesToTheFuelGlobal(t *testing.T) {
	// global.get 0 in a module without globals would name the fuel global
	// after the rewrite.
	m := wt.RawGuest(1, abi.KindMap, []byte{0x23, 0x00})
	if _, err := meter.Instrument(m.Bytes()); !errors.Is(err, meter.ErrUnsupported) {
		t.Fatalf("got %v", err)
	}
}

func FuzzInstrument(f *testing.F) {
	f.Add(wt.RawGuest(1, abi.KindMap, wt.ForwardAll()).Bytes())
	f.Add(wt.RawGuest(1, abi.KindMap, wt.Cat(wt.SpinForever, wt.I32Const(0))).Bytes())
	f.Add([]byte("\x00asm\x01\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := meter.Instrument(b)
		if err != nil {
			return
		}
		// Whatever the rewriter accepts and wazero compiles must still
		// compile after the rewrite.
		ctx := context.Background()
		rt := wazero.NewRuntime(ctx)
		defer rt.Close(ctx)
		if _, err := rt.CompileModule(ctx, b); err != nil {
			return
		}
		if _, err := rt.CompileModule(ctx, out); err != nil {
			t.Fatalf("the original compiles, the metered module does not: %v", err)
		}
	})
}
