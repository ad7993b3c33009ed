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
)

// Every kind of bad module or misbehaving guest must end in a categorised
// error, never a crash of the host, and never in a change of keyed state.

func TestLoadRejectsBadModules(t *testing.T) {
	kitchen, err := os.ReadFile(guest(t, "kitchen"))
	if err != nil {
		t.Fatal(err)
	}
	valueGet := hostImport(abi.FnValueGet)
	valueGet.params = []byte{i32}
	noProcess := rawGuest(1, abi.KindMap, iconst(0))
	noProcess.funcs[4].export = ""
	noMemory := rawGuest(1, abi.KindMap, iconst(0))
	noMemory.noMem, noMemory.data = true, nil
	hugeMemory := rawGuest(1, abi.KindMap, iconst(0))
	hugeMemory.pages = 2000

	tests := []struct {
		name string
		wasm []byte
		kind error
		msg  string
	}{
		{"empty file", nil, host.ErrInvalidModule, "bad magic"},
		{"not WebAssembly", []byte("#!/bin/sh\necho hello\n"), host.ErrInvalidModule, "bad magic"},
		{"truncated", kitchen[:len(kitchen)/2], host.ErrInvalidModule, "compiling"},
		{"import outside the ABI", rawGuest(1, abi.KindMap, iconst(0), wimport{module: "env", name: "system"}).bytes(), host.ErrABI, "env.system"},
		{"host import with another signature", rawGuest(1, abi.KindMap, iconst(0), valueGet).bytes(), host.ErrABI, "value_get with signature"},
		{"WASI outside the sandbox", rawGuest(1, abi.KindMap, iconst(0), wimport{module: "wasi_snapshot_preview1", name: "sock_open", results: []byte{i32}}).bytes(), host.ErrABI, "sock_open"},
		{"unsupported ABI version", rawGuest(2, abi.KindMap, iconst(0)).bytes(), host.ErrABI, "ABI version 2"},
		{"ABI version 0", rawGuest(0, abi.KindMap, iconst(0)).bytes(), host.ErrABI, "ABI version 0"},
		{"missing export", noProcess.bytes(), host.ErrABI, "does not export freshet_process"},
		{"no memory", noMemory.bytes(), host.ErrABI, "memory"},
		{"unknown function kind", rawGuest(1, 99, iconst(0)).bytes(), host.ErrABI, "unknown kind 99"},
		{"aggregate without agg exports", rawGuest(1, abi.KindAggregate, iconst(0)).bytes(), host.ErrABI, "does not export freshet_agg_create"},
		{"memory larger than the limit", hugeMemory.bytes(), host.ErrMemoryLimit, "limit"},
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
func rawHarness(t *testing.T, m *wmodule, kind abi.OperatorKind, opts host.Options) *harness.Harness {
	t.Helper()
	mod, err := runtime(t).Load(context.Background(), t.Name()+".wasm", m.bytes())
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

// entryAt writes an output entry header at output offset 0.
func outputEntry(kind abi.EntryKind, extra uint32) []byte {
	return cat(
		iconst(rawOut), iconst(int32(kind)), []byte{0x3a, 0x00, 0x00}, // i32.store8
		writeOut(abi.OffEntryKeyLen, 0), writeOut(abi.OffEntryValueLen, 0),
		writeOut(abi.OffEntryExtra, int32(extra)),
	)
}

func TestMisbehavingRawGuests(t *testing.T) {
	putThenOOB := cat(
		iconst(int32(abi.StateValue)), iconst(rawName), iconst(1), lconst(0), call(0), drop, // state_declare -> 0
		iconst(rawCtrl), iconst(0), i32store(abi.OffCtrlCurrentEntry), // current_entry = 0
		iconst(0), iconst(rawValue), iconst(1), call(1), drop, // value_put(0, "v") succeeds
		iconst(0), iconst(0x7ffffff0), iconst(16), call(1), drop, // value_put out of bounds
		iconst(0),
	)
	stateImports := []wimport{hostImport(abi.FnStateDeclare), hostImport(abi.FnValuePut)}
	tests := []struct {
		name    string
		kind    abi.OperatorKind
		process []byte
		imports []wimport
		want    error
		msg     string
	}{
		{"trap", abi.KindMap, cat(unreachable, iconst(0)), nil, host.ErrGuestTrap, "unreachable"},
		{"infinite loop", abi.KindMap, cat(spinForever, iconst(0)), nil, host.ErrTimeout, "longer than"},
		{"unknown output kind", abi.KindMap, cat(outputEntry(99, 0), iconst(abi.EntryHeaderSize)), nil, host.ErrABI, "kind"},
		{"input kind as output", abi.KindMap, cat(outputEntry(abi.EntryData, 0), iconst(abi.EntryHeaderSize)), nil, host.ErrABI, "not an output"},
		{"truncated output", abi.KindMap, cat(outputEntry(abi.EntryOutput, 0), iconst(10)), nil, host.ErrABI, "entry header"},
		{"output longer than the buffer", abi.KindMap, iconst(rawOutCap + 1), nil, host.ErrABI, "larger than the output buffer"},
		{"forward of a missing record", abi.KindMap, cat(outputEntry(abi.EntryForward, 7), iconst(abi.EntryHeaderSize)), nil, host.ErrABI, "input entry 7"},
		{"key run past the output", abi.KindMap, cat(outputEntry(abi.EntryOutput, 0), writeOut(abi.OffEntryKeyLen, 1000), iconst(abi.EntryHeaderSize)), nil, host.ErrABI, "run past"},
		{"failure status", abi.KindMap, iconst(int32(abi.StatusInternal)), nil, host.ErrABI, "internal"},
		{"state call with an out-of-bounds pointer", abi.KindProcess, putThenOOB, stateImports, host.ErrABI, "outside the guest's memory"},
		{"flush of garbage", abi.KindMap, cat(outputEntry(99, 0), iconst(abi.EntryHeaderSize), call(0), drop, iconst(0)),
			[]wimport{hostImport(abi.FnFlushOutput)}, host.ErrABI, "flush_output"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := rawHarness(t, rawGuest(1, tc.kind, tc.process, tc.imports...), tc.kind, host.Options{BatchTimeout: 100 * time.Millisecond})
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
				t.Fatalf("second call: %v, want ErrPoisoned", err)
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
