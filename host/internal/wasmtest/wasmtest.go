// Package wasmtest writes small WebAssembly binaries for tests: a few
// instructions, sections and a minimal ABI-conforming guest whose
// freshet_process body the test chooses. wazero does not parse the text
// format, and misbehaving modules are easiest to write by hand.
package wasmtest

import (
	"encoding/binary"

	"github.com/freshet/freshet/host/abi"
)

const (
	I32 = 0x7f
	I64 = 0x7e
)

// Func is a function defined by the module.
type Func struct {
	Params, Results []byte
	Body            []byte // instructions, without the final end
	Export          string
}

// Import is an imported function.
type Import struct {
	Module, Name    string
	Params, Results []byte
}

// Module is a module under construction.
type Module struct {
	Imports []Import
	Funcs   []Func
	Pages   uint32
	Data    map[uint32][]byte
	NoMem   bool
}

func uleb(v uint64) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			c |= 0x80
		}
		b = append(b, c)
		if v == 0 {
			return b
		}
	}
}

func sleb(v int64) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		done := (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0)
		if !done {
			c |= 0x80
		}
		b = append(b, c)
		if done {
			return b
		}
	}
}

func name(s string) []byte { return append(uleb(uint64(len(s))), s...) }

func vec(items [][]byte) []byte {
	b := uleb(uint64(len(items)))
	for _, it := range items {
		b = append(b, it...)
	}
	return b
}

func section(id byte, content []byte) []byte {
	return append(append([]byte{id}, uleb(uint64(len(content)))...), content...)
}

func functype(params, results []byte) []byte {
	b := []byte{0x60}
	b = append(b, uleb(uint64(len(params)))...)
	b = append(b, params...)
	b = append(b, uleb(uint64(len(results)))...)
	return append(b, results...)
}

// Instructions.

// I32Const and the functions below encode one instruction each.
func I32Const(v int32) []byte       { return append([]byte{0x41}, sleb(int64(v))...) }
func I64Const(v int64) []byte       { return append([]byte{0x42}, sleb(v)...) }
func Call(idx int) []byte           { return append([]byte{0x10}, uleb(uint64(idx))...) }
func LocalGet(idx int) []byte       { return append([]byte{0x20}, uleb(uint64(idx))...) }
func I32Store(offset uint32) []byte { return append([]byte{0x36, 0x02}, uleb(uint64(offset))...) }
func Cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

var (
	Unreachable = []byte{0x00}
	Drop        = []byte{0x1a}
	SpinForever = []byte{0x03, 0x40, 0x0c, 0x00, 0x0b} // loop br 0 end
)

// Bytes encodes the module.
func (m *Module) Bytes() []byte {
	out := []byte("\x00asm\x01\x00\x00\x00")
	var types [][]byte
	typeIdx := func(p, r []byte) uint64 {
		t := functype(p, r)
		for i, x := range types {
			if string(x) == string(t) {
				return uint64(i)
			}
		}
		types = append(types, t)
		return uint64(len(types) - 1)
	}
	var imps, fns, exps, codes [][]byte
	for _, im := range m.Imports {
		imps = append(imps, Cat(name(im.Module), name(im.Name), []byte{0x00}, uleb(typeIdx(im.Params, im.Results))))
	}
	for i, f := range m.Funcs {
		fns = append(fns, uleb(typeIdx(f.Params, f.Results)))
		if f.Export != "" {
			exps = append(exps, Cat(name(f.Export), []byte{0x00}, uleb(uint64(len(m.Imports)+i))))
		}
		body := Cat([]byte{0x00}, f.Body, []byte{0x0b}) // no locals
		codes = append(codes, append(uleb(uint64(len(body))), body...))
	}
	if !m.NoMem {
		exps = append(exps, Cat(name("memory"), []byte{0x02, 0x00}))
	}
	out = append(out, section(1, vec(types))...)
	if len(imps) > 0 {
		out = append(out, section(2, vec(imps))...)
	}
	out = append(out, section(3, vec(fns))...)
	if !m.NoMem {
		out = append(out, section(5, vec([][]byte{Cat([]byte{0x00}, uleb(uint64(m.Pages)))}))...)
	}
	out = append(out, section(7, vec(exps))...)
	out = append(out, section(10, vec(codes))...)
	if len(m.Data) > 0 {
		var segs [][]byte
		for off, d := range m.Data {
			segs = append(segs, Cat([]byte{0x00}, I32Const(int32(off)), []byte{0x0b}, uleb(uint64(len(d))), d))
		}
		out = append(out, section(11, vec(segs))...)
	}
	return out
}

// Layout of RawGuest's memory.
const (
	RawCtrl   = 1024
	RawName   = 2048 // "s", a state name
	RawValue  = 2056 // "v", a state value
	RawIn     = 65536
	RawInCap  = 262144
	RawOut    = RawIn + RawInCap
	RawOutCap = 262144
)

// RawGuest returns a minimal ABI-conforming module describing one function
// "f" of kind, whose freshet_process runs process (params: function,
// input_len, entries; result: I32). Extra imports come first in the function
// index space, so imported function i is Call(i).
func RawGuest(version int32, kind abi.OperatorKind, process []byte, imports ...Import) *Module {
	ctrl := make([]byte, abi.ControlBlockSize)
	binary.LittleEndian.PutUint32(ctrl[abi.OffCtrlInputPtr:], RawIn)
	binary.LittleEndian.PutUint32(ctrl[abi.OffCtrlInputCap:], RawInCap)
	binary.LittleEndian.PutUint32(ctrl[abi.OffCtrlOutputPtr:], RawOut)
	binary.LittleEndian.PutUint32(ctrl[abi.OffCtrlOutputCap:], RawOutCap)
	binary.LittleEndian.PutUint32(ctrl[abi.OffCtrlCurrentEntry:], abi.NoEntry)
	var desc []byte
	desc = binary.LittleEndian.AppendUint32(desc, 3)
	desc = append(desc, "raw"...)
	desc = binary.LittleEndian.AppendUint32(desc, 1)
	desc = binary.LittleEndian.AppendUint32(desc, uint32(kind))
	desc = binary.LittleEndian.AppendUint32(desc, 1)
	desc = append(desc, 'f')
	return &Module{
		Imports: imports,
		Pages:   10,
		Data:    map[uint32][]byte{RawCtrl: ctrl, RawOut: desc, RawName: []byte("s"), RawValue: []byte("v")},
		Funcs: []Func{
			{Export: abi.ExportABIVersion, Results: []byte{I32}, Body: I32Const(version)},
			{Export: abi.ExportInit, Params: []byte{I32, I32}, Results: []byte{I32}, Body: I32Const(RawCtrl)},
			{Export: abi.ExportDescribe, Results: []byte{I32}, Body: I32Const(int32(len(desc)))},
			{Export: abi.ExportOpen, Params: []byte{I32, I32}, Results: []byte{I32}, Body: I32Const(0)},
			{Export: abi.ExportProcess, Params: []byte{I32, I32, I32}, Results: []byte{I32}, Body: process},
		},
	}
}

// HostImport declares an import of an ABI host function.
func HostImport(fn string) Import {
	for _, f := range abi.HostFunctions {
		if f.Name == fn {
			return Import{Module: abi.ImportModule, Name: fn, Params: f.Params, Results: f.Results}
		}
	}
	panic("no host function " + fn)
}

// WriteOut returns instructions storing v (4 bytes) at output offset off.
func WriteOut(off uint32, v int32) []byte {
	return Cat(I32Const(RawOut+int32(off)), I32Const(v), I32Store(0))
}

// OutputEntry returns instructions writing the header of an output entry
// of kind with extra, and empty key and value, at the start of the output
// buffer.
func OutputEntry(kind abi.EntryKind, extra uint32) []byte {
	return Cat(
		I32Const(RawOut), I32Const(int32(kind)), []byte{0x3a, 0x00, 0x00}, // i32.store8
		WriteOut(abi.OffEntryKeyLen, 0), WriteOut(abi.OffEntryValueLen, 0),
		WriteOut(abi.OffEntryExtra, int32(extra)),
	)
}

// More instructions, for loops.
var (
	I32Add = []byte{0x6a}
	I32Mul = []byte{0x6c}
	I32GeU = []byte{0x4f}
	Block  = []byte{0x02, 0x40}
	Loop   = []byte{0x03, 0x40}
	End    = []byte{0x0b}
)

// LocalSet sets local (or parameter) idx.
func LocalSet(idx int) []byte { return append([]byte{0x21}, uleb(uint64(idx))...) }

// Br and BrIf branch to the label depth levels out.
func Br(depth int) []byte   { return append([]byte{0x0c}, uleb(uint64(depth))...) }
func BrIf(depth int) []byte { return append([]byte{0x0d}, uleb(uint64(depth))...) }

// ForwardAll is a freshet_process body that emits a forward entry for every
// input entry: the cheapest guest there is, for measuring the boundary.
// It reuses its parameters as locals (0: index, 1: entry address).
func ForwardAll() []byte {
	const size = abi.EntryHeaderSize
	return Cat(
		I32Const(0), LocalSet(0),
		Block, Loop,
		LocalGet(0), LocalGet(2), I32GeU, BrIf(1),
		LocalGet(0), I32Const(size), I32Mul, I32Const(RawOut), I32Add, LocalSet(1),
		LocalGet(1), I32Const(int32(abi.EntryForward)), I32Store(0), // kind, flags 0, no headers
		LocalGet(1), I32Const(0), I32Store(abi.OffEntryKeyLen),
		LocalGet(1), I32Const(0), I32Store(abi.OffEntryValueLen),
		LocalGet(1), LocalGet(0), I32Store(abi.OffEntryExtra),
		LocalGet(0), I32Const(1), I32Add, LocalSet(0),
		Br(0),
		End, End,
		LocalGet(2), I32Const(size), I32Mul,
	)
}
