package host_test

import (
	"encoding/binary"

	"github.com/freshet/freshet/host/abi"
)

// A tiny WebAssembly binary writer for hand-made test modules: wazero does
// not parse the text format, and misbehaving modules are easiest to write
// instruction by instruction.

const (
	i32 = 0x7f
	i64 = 0x7e
)

type wfunc struct {
	params, results []byte
	body            []byte // instructions, without the final end
	export          string
}

type wimport struct {
	module, name    string
	params, results []byte
}

type wmodule struct {
	imports []wimport
	funcs   []wfunc
	pages   uint32
	data    map[uint32][]byte
	noMem   bool
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
func iconst(v int32) []byte         { return append([]byte{0x41}, sleb(int64(v))...) }
func lconst(v int64) []byte         { return append([]byte{0x42}, sleb(v)...) }
func call(idx int) []byte           { return append([]byte{0x10}, uleb(uint64(idx))...) }
func localGet(idx int) []byte       { return append([]byte{0x20}, uleb(uint64(idx))...) }
func i32store(offset uint32) []byte { return append([]byte{0x36, 0x02}, uleb(uint64(offset))...) }
func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

var (
	unreachable = []byte{0x00}
	drop        = []byte{0x1a}
	spinForever = []byte{0x03, 0x40, 0x0c, 0x00, 0x0b} // loop br 0 end
)

func (m *wmodule) bytes() []byte {
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
	for _, im := range m.imports {
		imps = append(imps, cat(name(im.module), name(im.name), []byte{0x00}, uleb(typeIdx(im.params, im.results))))
	}
	for i, f := range m.funcs {
		fns = append(fns, uleb(typeIdx(f.params, f.results)))
		if f.export != "" {
			exps = append(exps, cat(name(f.export), []byte{0x00}, uleb(uint64(len(m.imports)+i))))
		}
		body := cat([]byte{0x00}, f.body, []byte{0x0b}) // no locals
		codes = append(codes, append(uleb(uint64(len(body))), body...))
	}
	if !m.noMem {
		exps = append(exps, cat(name("memory"), []byte{0x02, 0x00}))
	}
	out = append(out, section(1, vec(types))...)
	if len(imps) > 0 {
		out = append(out, section(2, vec(imps))...)
	}
	out = append(out, section(3, vec(fns))...)
	if !m.noMem {
		out = append(out, section(5, vec([][]byte{cat([]byte{0x00}, uleb(uint64(m.pages)))}))...)
	}
	out = append(out, section(7, vec(exps))...)
	out = append(out, section(10, vec(codes))...)
	if len(m.data) > 0 {
		var segs [][]byte
		for off, d := range m.data {
			segs = append(segs, cat([]byte{0x00}, iconst(int32(off)), []byte{0x0b}, uleb(uint64(len(d))), d))
		}
		out = append(out, section(11, vec(segs))...)
	}
	return out
}

// Layout of rawGuest's memory.
const (
	rawCtrl   = 1024
	rawName   = 2048 // "s", a state name
	rawValue  = 2056 // "v", a state value
	rawIn     = 65536
	rawInCap  = 262144
	rawOut    = rawIn + rawInCap
	rawOutCap = 262144
)

// rawGuest returns a minimal ABI-conforming module describing one function
// "f" of kind, whose freshet_process runs process (params: function,
// input_len, entries; result: i32). Extra imports come first in the function
// index space, so imported function i is call(i).
func rawGuest(version int32, kind abi.OperatorKind, process []byte, imports ...wimport) *wmodule {
	ctrl := make([]byte, abi.ControlBlockSize)
	binary.LittleEndian.PutUint32(ctrl[abi.OffCtrlInputPtr:], rawIn)
	binary.LittleEndian.PutUint32(ctrl[abi.OffCtrlInputCap:], rawInCap)
	binary.LittleEndian.PutUint32(ctrl[abi.OffCtrlOutputPtr:], rawOut)
	binary.LittleEndian.PutUint32(ctrl[abi.OffCtrlOutputCap:], rawOutCap)
	binary.LittleEndian.PutUint32(ctrl[abi.OffCtrlCurrentEntry:], abi.NoEntry)
	var desc []byte
	desc = binary.LittleEndian.AppendUint32(desc, 3)
	desc = append(desc, "raw"...)
	desc = binary.LittleEndian.AppendUint32(desc, 1)
	desc = binary.LittleEndian.AppendUint32(desc, uint32(kind))
	desc = binary.LittleEndian.AppendUint32(desc, 1)
	desc = append(desc, 'f')
	return &wmodule{
		imports: imports,
		pages:   10,
		data:    map[uint32][]byte{rawCtrl: ctrl, rawOut: desc, rawName: []byte("s"), rawValue: []byte("v")},
		funcs: []wfunc{
			{export: abi.ExportABIVersion, results: []byte{i32}, body: iconst(version)},
			{export: abi.ExportInit, params: []byte{i32, i32}, results: []byte{i32}, body: iconst(rawCtrl)},
			{export: abi.ExportDescribe, results: []byte{i32}, body: iconst(int32(len(desc)))},
			{export: abi.ExportOpen, params: []byte{i32, i32}, results: []byte{i32}, body: iconst(0)},
			{export: abi.ExportProcess, params: []byte{i32, i32, i32}, results: []byte{i32}, body: process},
		},
	}
}

// hostImport declares an import of an ABI host function.
func hostImport(fn string) wimport {
	for _, f := range abi.HostFunctions {
		if f.Name == fn {
			return wimport{module: abi.ImportModule, name: fn, params: f.Params, results: f.Results}
		}
	}
	panic("no host function " + fn)
}

// writeOut returns instructions storing v (4 bytes) at output offset off.
func writeOut(off uint32, v int32) []byte {
	return cat(iconst(rawOut+int32(off)), iconst(v), i32store(0))
}
