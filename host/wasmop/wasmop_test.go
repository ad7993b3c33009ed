package wasmop_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/params"
	"github.com/freshet/freshet/engine/registry"
	"github.com/freshet/freshet/host"
	"github.com/freshet/freshet/host/abi"
	"github.com/freshet/freshet/host/harness"
	wt "github.com/freshet/freshet/host/internal/wasmtest"
	"github.com/freshet/freshet/host/modules"
	"github.com/freshet/freshet/host/wasmop"
)

// forwarder describes one function of kind that forwards (or keys) input
// entry 0: enough to run single-record batches.
func forwarder(kind abi.OperatorKind, out abi.EntryKind) []byte {
	return wt.RawGuest(1, kind, wt.Cat(wt.OutputEntry(out, 0), wt.I32Const(abi.EntryHeaderSize))).Bytes()
}

func setup(t *testing.T) (*registry.Registry, wasmop.Loader, string) {
	t.Helper()
	ctx := context.Background()
	rt, err := host.NewRuntime(ctx, host.Config{CompilationCacheDir: "off"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(ctx) })
	store, err := modules.Open(t.TempDir(), rt)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Add(ctx, "fwd@1.0", forwarder(abi.KindMap, abi.EntryForward)); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "keys.wasm")
	if err := os.WriteFile(path, forwarder(abi.KindKeySelector, abi.EntryKey), 0o644); err != nil {
		t.Fatal(err)
	}
	l := wasmop.Loader{Runtime: rt, Store: store}
	r := registry.New()
	wasmop.Register(r, l)
	return r, l, path
}

func TestWasmOperatorType(t *testing.T) {
	r, _, _ := setup(t)
	op, err := r.Operator("wasm", params.FromMap("operators[0]", map[string]any{
		"module": "fwd@1.0", "memory-limit": "16MiB", "batch-timeout": "250ms", "on-error": "skip",
		"config": map[string]any{"n": 1, "names": []any{"a"}},
	}))
	if err != nil {
		t.Fatal(err)
	}
	if op.Keyed {
		t.Error("a map is not keyed")
	}
	inst, err := op.New()
	if err != nil {
		t.Fatal(err)
	}
	h, err := harness.New(inst, harness.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.Open(); err != nil {
		t.Fatal(err)
	}
	if err := h.ProcessElement([]byte("k"), []byte("v"), 1); err != nil {
		t.Fatal(err)
	}
	if out := h.TakeOutput(); len(out) != 1 || string(out[0].Value) != "v" {
		t.Fatalf("output %+v", out)
	}
}

func TestKeySelectorKind(t *testing.T) {
	r, l, path := setup(t)
	op, err := r.Operator("wasm", params.FromMap("operators[1]", map[string]any{"module": path, "kind": "key-selector"}))
	if err != nil {
		t.Fatal(err)
	}
	inst, _ := op.New()
	h, _ := harness.New(inst, harness.Options{})
	defer h.Close()
	if err := h.Open(); err != nil {
		t.Fatal(err)
	}
	// The raw guest's key entry has an empty key.
	if err := h.ProcessElement([]byte("old"), []byte("v"), 1); err != nil {
		t.Fatal(err)
	}
	if out := h.TakeOutput(); len(out) != 1 || len(out[0].Key) != 0 || string(out[0].Value) != "v" {
		t.Fatalf("output %+v", out)
	}
	pool, err := wasmop.NewKeySelector(context.Background(), l, path, "", host.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if k, err := pool.SelectKey(&api.Record{Value: []byte("x")}, []byte("p")); err != nil || string(k) != "p" {
		t.Fatalf("SelectKey = %q, %v", k, err)
	}
}

func TestWasmOperatorErrors(t *testing.T) {
	r, _, path := setup(t)
	tests := []struct {
		name   string
		fields map[string]any
		want   []string
		is     error
	}{
		{"missing module", map[string]any{}, []string{"operators[0].module: required"}, nil},
		{"unknown store module", map[string]any{"module": "nope@1"}, []string{"operators[0].module", "module not found"}, modules.ErrNotFound},
		{"missing file", map[string]any{"module": "./missing.wasm"}, []string{"operators[0].module", "no such file"}, os.ErrNotExist},
		{"bad kind", map[string]any{"module": "fwd@1.0", "kind": "reduce"}, []string{"operators[0].kind", `"reduce" is not one of`}, nil},
		{"kind the module lacks", map[string]any{"module": "fwd@1.0", "kind": "filter"}, []string{"operators[0].kind", "has no filter function"}, nil},
		{"unknown function", map[string]any{"module": "fwd@1.0", "function": "g"}, []string{"operators[0].function", `no function "g"`}, nil},
		{"misspelt field", map[string]any{"module": "fwd@1.0", "memory-limt": "1MiB"}, []string{"memory-limt: unknown field"}, nil},
		{"tiny memory", map[string]any{"module": "fwd@1.0", "memory-limit": "1KiB"}, []string{"memory-limit", "out of range"}, nil},
		{"bad on-error", map[string]any{"module": "fwd@1.0", "on-error": "retry"}, []string{"on-error"}, nil},
		{"config not a mapping", map[string]any{"module": "fwd@1.0", "config": "x"}, []string{"config: expected a mapping"}, nil},
		{"key selector as process", map[string]any{"module": path, "kind": "process"}, []string{"has no process function"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.Operator("wasm", params.FromMap("operators[0]", tc.fields))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
		})
	}
}
