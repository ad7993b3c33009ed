package host

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tetratelabs/wazero"
	wapi "github.com/tetratelabs/wazero/api"

	"github.com/freshet/freshet/host/abi"
	"github.com/freshet/freshet/host/internal/meter"
)

// Function is one operator function a module describes.
type Function struct {
	// Index identifies the function in calls to the guest.
	Index int
	Name  string
	Kind  abi.OperatorKind
}

// Module is a compiled and validated module. It is immutable and shared by
// every instance made from it.
type Module struct {
	rt       *Runtime
	compiled wazero.CompiledModule
	id       string

	// Hash is the SHA-256 of the module's bytes.
	Hash [32]byte
	// Name is the name the module was loaded under.
	Name string
	// Size is the module's size in bytes.
	Size int
	// ABIVersion is the version the guest reported.
	ABIVersion int
	// SDK is the guest's self-description, e.g. "freshet-sdk-go 0.1.0".
	SDK string
	// Functions lists what the module implements, in descriptor order.
	Functions []Function

	hasInitialize bool
	minPages      uint32
	metered       bool
}

// ID names the module in errors: its name and a hash prefix.
func (m *Module) ID() string { return m.id }

// Function finds the function to run. With an empty name the module must
// have exactly one function of kind (any kind when kind is 0).
func (m *Module) Function(name string, kind abi.OperatorKind) (Function, error) {
	var found []Function
	for _, f := range m.Functions {
		if (name == "" || f.Name == name) && (kind == 0 || f.Kind == kind) {
			found = append(found, f)
		}
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) > 1:
		names := make([]string, len(found))
		for i, f := range found {
			names[i] = f.Name
		}
		return Function{}, fmt.Errorf("module %s has several %s functions (%s): name one with `function`", m.id, kindName(kind), strings.Join(names, ", "))
	}
	if name != "" {
		for _, f := range m.Functions {
			if f.Name == name {
				return Function{}, fmt.Errorf("module %s: function %q is a %s, not a %s", m.id, name, f.Kind, kind)
			}
		}
		return Function{}, fmt.Errorf("module %s has no function %q (it has: %s)", m.id, name, m.functionList())
	}
	return Function{}, fmt.Errorf("module %s has no %s function (it has: %s)", m.id, kindName(kind), m.functionList())
}

func kindName(k abi.OperatorKind) string {
	if k == 0 {
		return "operator"
	}
	return k.String()
}

func (m *Module) functionList() string {
	if len(m.Functions) == 0 {
		return "none"
	}
	parts := make([]string, len(m.Functions))
	for i, f := range m.Functions {
		parts[i] = fmt.Sprintf("%s (%s)", f.Name, f.Kind)
	}
	return strings.Join(parts, ", ")
}

var wasiAllowed = func() map[string]bool {
	m := map[string]bool{}
	for _, n := range abi.WASIFunctions {
		m[n] = true
	}
	return m
}()

var hostSigs = func() map[string]abi.Func {
	m := map[string]abi.Func{}
	for _, f := range abi.HostFunctions {
		m[f.Name] = f
	}
	return m
}()

func sameSig(def wapi.FunctionDefinition, f abi.Func) bool {
	return slices.Equal(def.ParamTypes(), f.Params) && slices.Equal(def.ResultTypes(), f.Results)
}

func sigString(params, results []wapi.ValueType) string {
	str := func(ts []wapi.ValueType) string {
		parts := make([]string, len(ts))
		for i, t := range ts {
			parts[i] = wapi.ValueTypeName(t)
		}
		return strings.Join(parts, ", ")
	}
	return fmt.Sprintf("(%s) -> (%s)", str(params), str(results))
}

// checkImportsExports validates the module's interface without running it.
func (m *Module) checkImportsExports() error {
	var errs []error
	meterImports := 0
	for _, def := range m.compiled.ImportedFunctions() {
		mod, name, _ := def.Import()
		switch mod {
		case meter.ImportModule:
			// The metering rewrite adds exactly one; the guest may not.
			if meterImports++; meterImports > 1 || !m.metered {
				errs = append(errs, fmt.Errorf("imports %s.%s, which is reserved for the host", mod, name))
			}
		case abi.ImportModule:
			f, ok := hostSigs[name]
			if !ok {
				errs = append(errs, fmt.Errorf("imports %s.%s, which ABI v%d does not have", mod, name, abi.Version))
			} else if !sameSig(def, f) {
				errs = append(errs, fmt.Errorf("imports %s.%s with signature %s, the ABI has %s", mod, name,
					sigString(def.ParamTypes(), def.ResultTypes()), sigString(f.Params, f.Results)))
			}
		case abi.WASIModule:
			if !wasiAllowed[name] {
				errs = append(errs, fmt.Errorf("imports %s.%s, which the sandbox does not provide", mod, name))
			}
		default:
			errs = append(errs, fmt.Errorf("imports %s.%s: only modules %s and %s may be imported", mod, name, abi.ImportModule, abi.WASIModule))
		}
	}
	for _, def := range m.compiled.ImportedMemories() {
		mod, name, _ := def.Import()
		errs = append(errs, fmt.Errorf("imports memory %s.%s: a module must define its own memory", mod, name))
	}
	exports := m.compiled.ExportedFunctions()
	for _, f := range abi.GuestExports {
		def, ok := exports[f.Name]
		if !ok {
			if f.Required {
				errs = append(errs, fmt.Errorf("does not export %s (is it built with a Freshet SDK?)", f.Name))
			}
			continue
		}
		if !sameSig(def, f) {
			errs = append(errs, fmt.Errorf("exports %s with signature %s, the ABI has %s", f.Name,
				sigString(def.ParamTypes(), def.ResultTypes()), sigString(f.Params, f.Results)))
		}
	}
	if def, ok := exports["_initialize"]; ok {
		if len(def.ParamTypes()) != 0 || len(def.ResultTypes()) != 0 {
			errs = append(errs, errors.New("exports _initialize with parameters or results"))
		}
		m.hasInitialize = true
	}
	mem, ok := m.compiled.ExportedMemories()[abi.MemoryExport]
	if !ok {
		errs = append(errs, fmt.Errorf("does not export its memory as %q", abi.MemoryExport))
	} else {
		m.minPages = mem.Min()
		if limit := m.rt.cfg.MemoryLimit; int64(m.minPages)*wasmPage > limit {
			errs = append(errs, fmt.Errorf("%w: its memory starts at %d pages (%d bytes), more than the limit of %d bytes",
				ErrMemoryLimit, m.minPages, int64(m.minPages)*wasmPage, limit))
		}
	}
	return errors.Join(errs...)
}

// probe instantiates the module once to read its version and descriptor.
func (m *Module) probe(ctx context.Context) error {
	in, err := m.instantiate(ctx, instanceOptions{memoryLimit: m.rt.cfg.MemoryLimit, timeout: m.rt.cfg.BatchTimeout,
		inputSize: 4096, outputSize: 4096})
	if err != nil {
		return err
	}
	defer in.Close(ctx)
	m.ABIVersion = in.version
	desc, err := in.describe()
	if err != nil {
		return err
	}
	if err := m.parseDescriptor(desc); err != nil {
		return &Error{Module: m.id, Export: abi.ExportDescribe, Entry: -1, Kind: ErrABI, Err: err}
	}
	exports := m.compiled.ExportedFunctions()
	for _, f := range m.Functions {
		if f.Kind != abi.KindAggregate {
			continue
		}
		for _, name := range []string{abi.ExportAggCreate, abi.ExportAggAdd, abi.ExportAggMerge, abi.ExportAggResult} {
			if _, ok := exports[name]; !ok {
				return &Error{Module: m.id, Entry: -1, Kind: ErrABI,
					Err: fmt.Errorf("describes aggregate function %q but does not export %s", f.Name, name)}
			}
		}
	}
	return nil
}

func (m *Module) parseDescriptor(b []byte) error {
	r := reader{b: b}
	sdk := r.bytes()
	n := r.u32()
	if r.err != nil {
		return fmt.Errorf("descriptor: %w", r.err)
	}
	if n > 1024 {
		return fmt.Errorf("descriptor: %d functions is more than 1024", n)
	}
	m.SDK = string(sdk)
	seen := map[string]bool{}
	for i := 0; i < int(n); i++ {
		kind := abi.OperatorKind(r.u32())
		name := string(r.bytes())
		if r.err != nil {
			return fmt.Errorf("descriptor: function %d: %w", i, r.err)
		}
		if !slices.Contains(abi.AllOperatorKinds, kind) {
			return fmt.Errorf("descriptor: function %q has unknown kind %d", name, kind)
		}
		if name == "" || seen[name] {
			return fmt.Errorf("descriptor: function %d has an empty or duplicate name %q", i, name)
		}
		seen[name] = true
		m.Functions = append(m.Functions, Function{Index: i, Name: name, Kind: kind})
	}
	if len(r.b) != 0 {
		return fmt.Errorf("descriptor: %d bytes after the last function", len(r.b))
	}
	return nil
}

// reader decodes the little-endian, length-prefixed encodings of the ABI.
type reader struct {
	b   []byte
	err error
}

var errShort = errors.New("truncated")

func (r *reader) u32() uint32 {
	if r.err != nil || len(r.b) < 4 {
		r.err = errShort
		return 0
	}
	v := binary.LittleEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

func (r *reader) bytes() []byte {
	n := r.u32()
	if r.err != nil || uint64(n) > uint64(len(r.b)) {
		r.err = errShort
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}
