package modules_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/freshet/freshet/host"
	"github.com/freshet/freshet/host/abi"
	wt "github.com/freshet/freshet/host/internal/wasmtest"
	"github.com/freshet/freshet/host/modules"
)

func newStore(t *testing.T) *modules.Store {
	t.Helper()
	ctx := context.Background()
	rt, err := host.NewRuntime(ctx, host.Config{CompilationCacheDir: "off"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(ctx) })
	s, err := modules.Open(t.TempDir(), rt)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func guestBytes(kind abi.OperatorKind, ret int32) []byte {
	return wt.RawGuest(1, kind, wt.I32Const(ret)).Bytes()
}

func TestAddLoadListRemove(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	v1 := guestBytes(abi.KindMap, 0)
	info, err := s.Add(ctx, "upper@1.0.0", v1)
	if err != nil {
		t.Fatal(err)
	}
	if info.Ref() != "upper@1.0.0" || info.ABIVersion != 1 || len(info.Functions) != 1 || info.Functions[0].Kind != "map" || info.Size != int64(len(v1)) {
		t.Fatalf("info %+v", info)
	}
	if again, err := s.Add(ctx, "upper@1.0.0", v1); err != nil || again.SHA256 != info.SHA256 {
		t.Fatalf("re-adding the same bytes: %v", err)
	}
	if _, err := s.Add(ctx, "upper@1.0.0", guestBytes(abi.KindMap, 1)); !errors.Is(err, modules.ErrExists) {
		t.Fatalf("adding other bytes under the same version: %v", err)
	}
	if _, err := s.Add(ctx, "upper@1.1.0", v1); err != nil { // same blob, two versions
		t.Fatal(err)
	}
	m, err := s.Load(ctx, "upper@1.1.0")
	if err != nil || len(m.Functions) != 1 {
		t.Fatalf("Load: %v", err)
	}
	all, err := s.List()
	if err != nil || len(all) != 2 || all[0].Ref() != "upper@1.0.0" || all[1].Ref() != "upper@1.1.0" {
		t.Fatalf("List = %+v, %v", all, err)
	}
	if err := s.Remove("upper@1.0.0"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, "upper@1.1.0"); err != nil { // the shared blob stays
		t.Fatalf("after removing the other version: %v", err)
	}
	if err := s.Remove("upper@1.1.0"); err != nil {
		t.Fatal(err)
	}
	blobs, _ := os.ReadDir(filepath.Join(s.Dir(), "blobs", "sha256"))
	if len(blobs) != 0 {
		t.Fatalf("%d blobs left", len(blobs))
	}
	if _, err := s.Load(ctx, "upper@1.1.0"); !errors.Is(err, modules.ErrNotFound) {
		t.Fatalf("Load after remove: %v", err)
	}
}

func TestAddValidates(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	tests := []struct {
		ref  string
		wasm []byte
		want error
	}{
		{"bad@1", []byte("not wasm"), host.ErrInvalidModule},
		{"v2@1", wt.RawGuest(2, abi.KindMap, wt.I32Const(0)).Bytes(), host.ErrABI},
		{"Upper@1", guestBytes(abi.KindMap, 0), modules.ErrBadName},
		{"upper", guestBytes(abi.KindMap, 0), modules.ErrBadName},
		{"upper@", guestBytes(abi.KindMap, 0), modules.ErrBadName},
		{"../etc@1", guestBytes(abi.KindMap, 0), modules.ErrBadName},
		{"up@../../x", guestBytes(abi.KindMap, 0), modules.ErrBadName},
	}
	for _, tc := range tests {
		if _, err := s.Add(ctx, tc.ref, tc.wasm); !errors.Is(err, tc.want) {
			t.Errorf("Add(%q) = %v, want %v", tc.ref, err, tc.want)
		}
	}
	if all, _ := s.List(); len(all) != 0 {
		t.Fatalf("invalid modules were stored: %+v", all)
	}
}

func TestCorruptBlobIsDetected(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	info, err := s.Add(ctx, "m@1", guestBytes(abi.KindFilter, 0))
	if err != nil {
		t.Fatal(err)
	}
	blob := filepath.Join(s.Dir(), "blobs", "sha256", info.SHA256+".wasm")
	b, _ := os.ReadFile(blob)
	b[len(b)-1] ^= 0xff
	if err := os.WriteFile(blob, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, "m@1"); !errors.Is(err, modules.ErrCorrupt) {
		t.Fatalf("Load of a corrupt blob: %v", err)
	}
	os.Remove(blob)
	if _, err := s.Load(ctx, "m@1"); !errors.Is(err, modules.ErrCorrupt) {
		t.Fatalf("Load of a missing blob: %v", err)
	}
}

func TestLoadByPath(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	path := filepath.Join(t.TempDir(), "f.wasm")
	if err := os.WriteFile(path, guestBytes(abi.KindFlatMap, 0), 0o644); err != nil {
		t.Fatal(err)
	}
	if !modules.IsPath(path) || modules.IsPath("f@1") {
		t.Fatal("IsPath")
	}
	m, err := s.Load(ctx, path)
	if err != nil || m.Functions[0].Kind != abi.KindFlatMap {
		t.Fatalf("Load(%s) = %v", path, err)
	}
}
