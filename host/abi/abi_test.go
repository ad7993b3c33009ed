package abi_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/freshet/freshet/host/abi"
	"github.com/freshet/freshet/host/abi/internal/spec"
)

const root = "../.."

// TestGeneratedFilesMatchSpec is the drift check: every file generated from
// abi.json must be exactly what the generator renders now.
func TestGeneratedFilesMatchSpec(t *testing.T) {
	s, err := spec.Load(filepath.Join(root, spec.SpecFile))
	if err != nil {
		t.Fatal(err)
	}
	files, err := s.Render(root)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range files {
		got, err := os.ReadFile(filepath.Join(root, path))
		if err != nil {
			t.Errorf("%s: %v (run `go generate ./host/abi`)", path, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from host/abi/abi.json: run `go generate ./host/abi` and commit the result", path)
		}
	}
}

func TestSpecAgreesWithPackage(t *testing.T) {
	s, err := spec.Load(filepath.Join(root, spec.SpecFile))
	if err != nil {
		t.Fatal(err)
	}
	if s.Version != abi.Version || s.ImportModule != abi.ImportModule {
		t.Fatalf("spec version %d module %q, package %d %q", s.Version, s.ImportModule, abi.Version, abi.ImportModule)
	}
	if len(abi.HostFunctions) != len(s.HostFunctions) || len(abi.GuestExports) != len(s.GuestExports) {
		t.Fatal("function tables differ from the spec")
	}
	// Layout sanity: fields fit their structures.
	if abi.OffEntryTimestamp+8 != abi.EntryHeaderSize {
		t.Errorf("entry header: timestamp ends at %d, header size %d", abi.OffEntryTimestamp+8, abi.EntryHeaderSize)
	}
	if abi.OffCtrlCurrentEntry+4 != abi.ControlBlockSize {
		t.Errorf("control block: current_entry ends at %d, size %d", abi.OffCtrlCurrentEntry+4, abi.ControlBlockSize)
	}
}

func TestParseOperatorKindRoundTrips(t *testing.T) {
	for _, k := range abi.AllOperatorKinds {
		got, ok := abi.ParseOperatorKind(k.String())
		if !ok || got != k {
			t.Errorf("ParseOperatorKind(%q) = %v, %v", k.String(), got, ok)
		}
	}
	if _, ok := abi.ParseOperatorKind("reduce"); ok {
		t.Error("ParseOperatorKind accepted an unknown kind")
	}
	if got := abi.Status(-99).String(); got != "status(-99)" {
		t.Errorf("unknown status renders as %q", got)
	}
}
