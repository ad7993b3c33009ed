// Package resttest provides what tests of the REST API and its clients
// need besides a cluster: the bytes of small WebAssembly modules the module
// store accepts, so tests can upload modules without building a guest with
// an SDK.
package resttest

import (
	"encoding/binary"
	"fmt"

	"github.com/freshet/freshet/host/abi"
)

// Memory layout of the module Module writes.
const (
	ctrlAddr  = 1024
	inAddr    = 64 << 10
	inCap     = 64 << 10
	outAddr   = inAddr + inCap
	outCap    = 64 << 10
	pages     = 3 // 192 KiB
	i32       = 0x7f
	funcName  = "f"
	sdkPrefix = "resttest "
)

// Module returns a module that passes the module store's validation: it
// speaks ABI version abi.Version and describes one function "f" of kind.
// variant changes the bytes (it is part of the SDK string the module
// reports), so variants are different modules with the same interface.
//
// The function does nothing useful: freshet_process returns no output. The
// module is for registry and API tests, not for running records through.
func Module(kind abi.OperatorKind, variant int) []byte {
	ctrl := make([]byte, abi.ControlBlockSize)
	binary.LittleEndian.PutUint32(ctrl[abi.OffCtrlInputPtr:], inAddr)
	binary.LittleEndian.PutUint32(ctrl[abi.OffCtrlInputCap:], inCap)
	binary.LittleEndian.PutUint32(ctrl[abi.OffCtrlOutputPtr:], outAddr)
	binary.LittleEndian.PutUint32(ctrl[abi.OffCtrlOutputCap:], outCap)
	binary.LittleEndian.PutUint32(ctrl[abi.OffCtrlCurrentEntry:], abi.NoEntry)

	sdk := fmt.Sprintf("%s%d", sdkPrefix, variant)
	var desc []byte
	desc = binary.LittleEndian.AppendUint32(desc, uint32(len(sdk)))
	desc = append(desc, sdk...)
	desc = binary.LittleEndian.AppendUint32(desc, 1)
	desc = binary.LittleEndian.AppendUint32(desc, uint32(kind))
	desc = binary.LittleEndian.AppendUint32(desc, uint32(len(funcName)))
	desc = append(desc, funcName...)

	funcs := []struct {
		export          string
		params, results []byte
		result          int32
	}{
		{abi.ExportABIVersion, nil, []byte{i32}, abi.Version},
		{abi.ExportInit, []byte{i32, i32}, []byte{i32}, ctrlAddr},
		{abi.ExportDescribe, nil, []byte{i32}, int32(len(desc))},
		{abi.ExportOpen, []byte{i32, i32}, []byte{i32}, 0},
		{abi.ExportProcess, []byte{i32, i32, i32}, []byte{i32}, 0},
	}
	var types, fns, exports, codes [][]byte
	for i, f := range funcs {
		types = append(types, cat([]byte{0x60}, vec(byteItems(f.params)), vec(byteItems(f.results))))
		fns = append(fns, uleb(uint32(i)))
		exports = append(exports, cat(name(f.export), []byte{0x00}, uleb(uint32(i))))
		body := cat([]byte{0x00, 0x41}, sleb(f.result), []byte{0x0b}) // no locals; i32.const; end
		codes = append(codes, cat(uleb(uint32(len(body))), body))
	}
	exports = append(exports, cat(name(abi.MemoryExport), []byte{0x02, 0x00}))
	data := [][]byte{segment(ctrlAddr, ctrl), segment(outAddr, desc)}

	return cat([]byte("\x00asm\x01\x00\x00\x00"),
		section(1, vec(types)),
		section(3, vec(fns)),
		section(5, vec([][]byte{cat([]byte{0x00}, uleb(pages))})),
		section(7, vec(exports)),
		section(10, vec(codes)),
		section(11, vec(data)),
	)
}

func segment(addr int32, b []byte) []byte {
	return cat([]byte{0x00, 0x41}, sleb(addr), []byte{0x0b}, uleb(uint32(len(b))), b)
}

func byteItems(b []byte) [][]byte {
	out := make([][]byte, len(b))
	for i := range b {
		out[i] = b[i : i+1]
	}
	return out
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func uleb(v uint32) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			b = append(b, c|0x80)
			continue
		}
		return append(b, c)
	}
}

func sleb(v int32) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func name(s string) []byte { return cat(uleb(uint32(len(s))), []byte(s)) }

func vec(items [][]byte) []byte { return cat(uleb(uint32(len(items))), cat(items...)) }

func section(id byte, content []byte) []byte {
	return cat([]byte{id}, uleb(uint32(len(content))), content)
}
