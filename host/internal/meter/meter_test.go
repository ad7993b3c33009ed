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
		if want := int(entries+2) / meter.Fuel; ticks != want { // +1 for the entry, +1 for the loop's exit iteration
			t.Errorf("%d entries: %d ticks, want %d", entries, ticks, want)
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
