package host_test

import (
	"context"
	"errors"
	"os"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/host"
	"github.com/freshet/freshet/host/abi"
	"github.com/freshet/freshet/host/harness"
	wt "github.com/freshet/freshet/host/internal/wasmtest"
)

// Every kind of bad module or misbehaving guest must end in a categorised
// error, never a crash of the host, and never in a change of keyed state.

func TestLoadRejectsBadModules(t *testing.T) {
	kitchen, err := os.ReadFile(guest(t, "kitchen"))
	if err != nil {
		t.Fatal(err)
	}
	valueGet := wt.HostImport(abi.FnValueGet)
	valueGet.Params = []byte{wt.I32}
	noProcess := wt.RawGuest(1, abi.KindMap, wt.I32Const(0))
	noProcess.Funcs[4].Export = ""
	noMemory := wt.RawGuest(1, abi.KindMap, wt.I32Const(0))
	noMemory.NoMem, noMemory.Data = true, nil
	hugeMemory := wt.RawGuest(1, abi.KindMap, wt.I32Const(0))
	hugeMemory.Pages = 2000

	tests := []struct {
		name string
		wasm []byte
		kind error
		msg  string
	}{
		{"empty file", nil, host.ErrInvalidModule, "bad magic"},
		{"not WebAssembly", []byte("#!/bin/sh\necho hello\n"), host.ErrInvalidModule, "bad magic"},
		{"truncated", kitchen[:len(kitchen)/2], host.ErrInvalidModule, "truncated"},
		{"import outside the ABI", wt.RawGuest(1, abi.KindMap, wt.I32Const(0), wt.Import{Module: "env", Name: "system"}).Bytes(), host.ErrABI, "env.system"},
		{"host import with another signature", wt.RawGuest(1, abi.KindMap, wt.I32Const(0), valueGet).Bytes(), host.ErrABI, "value_get with signature"},
		{"WASI outside the sandbox", wt.RawGuest(1, abi.KindMap, wt.I32Const(0), wt.Import{Module: "wasi_snapshot_preview1", Name: "sock_open", Results: []byte{wt.I32}}).Bytes(), host.ErrABI, "sock_open"},
		{"unsupported ABI version", wt.RawGuest(2, abi.KindMap, wt.I32Const(0)).Bytes(), host.ErrABI, "ABI version 2"},
		{"ABI version 0", wt.RawGuest(0, abi.KindMap, wt.I32Const(0)).Bytes(), host.ErrABI, "ABI version 0"},
		{"missing export", noProcess.Bytes(), host.ErrABI, "does not export freshet_process"},
		{"no memory", noMemory.Bytes(), host.ErrABI, "memory"},
		{"unknown function kind", wt.RawGuest(1, 99, wt.I32Const(0)).Bytes(), host.ErrABI, "unknown kind 99"},
		{"aggregate without agg exports", wt.RawGuest(1, abi.KindAggregate, wt.I32Const(0)).Bytes(), host.ErrABI, "does not export freshet_agg_create"},
		{"memory larger than the limit", hugeMemory.Bytes(), host.ErrMemoryLimit, "limit"},
	}
	rt := runtime(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := rt.Load(context.Background(), tc.name+".wasm", tc.wasm)
			if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Load = %v; want %v containing %q", err, tc.kind, tc.msg)
			}
			if !strings.Contains(err.Error(), tc.name+".wasm") {
				t.Errorf("error does not name the module: %v", err)
			}
		})
	}
}

// rawHarness runs function "f" of a hand-made module.
func rawHarness(t *testing.T, m *wt.Module, kind abi.OperatorKind, opts host.Options) *harness.Harness {
	t.Helper()
	mod, err := runtime(t).Load(context.Background(), t.Name()+".wasm", m.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	opts.Kind = kind
	op, err := host.NewOperator(mod, opts)
	if err != nil {
		t.Fatal(err)
	}
	h, err := harness.New(op, harness.Options{Keyed: kind == abi.KindProcess})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func TestMisbehavingRawGuests(t *testing.T) {
	putThenOOB := wt.Cat(
		wt.I32Const(int32(abi.StateValue)), wt.I32Const(wt.RawName), wt.I32Const(1), wt.I64Const(0), wt.Call(0), wt.Drop, // state_declare -> 0
		wt.I32Const(wt.RawCtrl), wt.I32Const(0), wt.I32Store(abi.OffCtrlCurrentEntry), // current_entry = 0
		wt.I32Const(0), wt.I32Const(wt.RawValue), wt.I32Const(1), wt.Call(1), wt.Drop, // value_put(0, "v") succeeds
		wt.I32Const(0), wt.I32Const(0x7ffffff0), wt.I32Const(16), wt.Call(1), wt.Drop, // value_put out of bounds
		wt.I32Const(0),
	)
	stateImports := []wt.Import{wt.HostImport(abi.FnStateDeclare), wt.HostImport(abi.FnValuePut)}
	tests := []struct {
		name    string
		kind    abi.OperatorKind
		process []byte
		imports []wt.Import
		want    error
		msg     string
	}{
		{"trap", abi.KindMap, wt.Cat(wt.Unreachable, wt.I32Const(0)), nil, host.ErrGuestTrap, "unreachable"},
		{"infinite loop", abi.KindMap, wt.Cat(wt.SpinForever, wt.I32Const(0)), nil, host.ErrTimeout, "longer than"},
		{"unknown output kind", abi.KindMap, wt.Cat(wt.OutputEntry(99, 0), wt.I32Const(abi.EntryHeaderSize)), nil, host.ErrABI, "kind"},
		{"input kind as output", abi.KindMap, wt.Cat(wt.OutputEntry(abi.EntryData, 0), wt.I32Const(abi.EntryHeaderSize)), nil, host.ErrABI, "not an output"},
		{"truncated output", abi.KindMap, wt.Cat(wt.OutputEntry(abi.EntryOutput, 0), wt.I32Const(10)), nil, host.ErrABI, "entry header"},
		{"output longer than the buffer", abi.KindMap, wt.I32Const(wt.RawOutCap + 1), nil, host.ErrABI, "larger than the output buffer"},
		{"forward of a missing record", abi.KindMap, wt.Cat(wt.OutputEntry(abi.EntryForward, 7), wt.I32Const(abi.EntryHeaderSize)), nil, host.ErrABI, "input entry 7"},
		{"key run past the output", abi.KindMap, wt.Cat(wt.OutputEntry(abi.EntryOutput, 0), wt.WriteOut(abi.OffEntryKeyLen, 1000), wt.I32Const(abi.EntryHeaderSize)), nil, host.ErrABI, "run past"},
		{"failure status", abi.KindMap, wt.I32Const(int32(abi.StatusInternal)), nil, host.ErrABI, "internal"},
		{"state wt.Call with an out-of-bounds pointer", abi.KindProcess, putThenOOB, stateImports, host.ErrABI, "outside the guest's memory"},
		{"flush of garbage", abi.KindMap, wt.Cat(wt.OutputEntry(99, 0), wt.I32Const(abi.EntryHeaderSize), wt.Call(0), wt.Drop, wt.I32Const(0)),
			[]wt.Import{wt.HostImport(abi.FnFlushOutput)}, host.ErrABI, "flush_output"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := rawHarness(t, wt.RawGuest(1, tc.kind, tc.process, tc.imports...), tc.kind, host.Options{BatchTimeout: 100 * time.Millisecond})
			start := time.Now()
			err := h.ProcessBatch(batch("x"))
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v; want %v containing %q", err, tc.want, tc.msg)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %s", d)
			}
			if len(h.Output()) != 0 {
				t.Errorf("emitted %d records", len(h.Output()))
			}
			// The instance is poisoned: it is never called again.
			if err := h.ProcessBatch(batch("y")); !errors.Is(err, host.ErrPoisoned) {
				t.Fatalf("second wt.Call: %v, want ErrPoisoned", err)
			}
			if tc.kind == abi.KindProcess {
				if _, ok, err := h.ValueState("s", []byte("k0")); ok || err != nil {
					t.Fatalf("the failed batch's state write reached the backend (ok=%v, err=%v)", ok, err)
				}
			}
		})
	}
}

func TestMisbehavingGoGuests(t *testing.T) {
	tests := []struct {
		name, fn string
		opts     host.Options
		want     error
		msg      string
	}{
		{"panic", "panic", host.Options{}, host.ErrGuestTrap, "asked to panic"},
		{"memory growth past the cap", "grow", host.Options{MemoryLimit: 32 << 20}, host.ErrMemoryLimit, "limit is 33554432"},
		{"infinite loop", "spin", host.Options{BatchTimeout: 200 * time.Millisecond}, host.ErrTimeout, "200ms"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Function, tc.opts.Kind = tc.fn, abi.KindMap
			h := newHarness(t, "kitchen", tc.opts, harness.Options{})
			if err := h.ProcessBatch(batch("fine")); err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			if tc.fn == "spin" {
				// A spinning guest must not stall the host's garbage collector.
				go func() {
					defer close(done)
					time.Sleep(50 * time.Millisecond)
					goruntime.GC()
				}()
			} else {
				close(done)
			}
			err := h.ProcessBatch(batch("ok", tc.fn))
			var he *host.Error
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) || !errors.As(err, &he) {
				t.Fatalf("got %v; want %v containing %q", err, tc.want, tc.msg)
			}
			if he.Entry != 1 || string(he.Key) != "k1" {
				t.Errorf("error names entry %d key %q, want 1 k1", he.Entry, he.Key)
			}
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("GC did not complete while the guest spun")
			}
			if err := h.ProcessBatch(batch("fine")); !errors.Is(err, host.ErrPoisoned) {
				t.Fatalf("after failure: %v", err)
			}
		})
	}
}

func TestHostKeepsWorkingAfterFailures(t *testing.T) {
	// A fresh instance of the same module works after others failed.
	h := newHarness(t, "kitchen", host.Options{Function: "panic", Kind: abi.KindMap}, harness.Options{})
	if err := h.ProcessBatch(batch("a")); err != nil {
		t.Fatal(err)
	}
	if got := values(h.TakeOutput()); len(got) != 1 || got[0] != "a" {
		t.Fatalf("got %q", got)
	}
	var _ api.Operator = h.Operator()
}
