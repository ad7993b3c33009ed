// Package meter instruments a WebAssembly module so that the host can stop
// it: every function entry and every loop iteration spends one unit of
// "fuel" from a global the module cannot otherwise see, and when the fuel
// runs out the guest calls an imported host function, which may abort the
// call (deadline passed, task cancelled) or refill the fuel.
//
// Why not wazero's WithCloseOnContextDone: it makes every loop back-edge and
// function entry exit to Go to check whether the module was closed, which
// costs about 100 ns each time — more than the rest of a per-record loop.
// Metering costs a few instructions per back-edge and one host call per
// Fuel units. The host call is also a point where the Go scheduler can stop
// the goroutine, so a spinning guest never holds up the host's garbage
// collector for longer than Fuel loop iterations.
//
// The rewrite:
//   - adds the type () -> i32, the import ImportModule.ImportName of that
//     type (shifting every defined function's index by one), and a mutable
//     i32 global holding the fuel (after every existing global, so no
//     existing index moves);
//   - leaves as they are the functions that neither loop nor call any but
//     such functions: they run in time bounded by their size and their
//     callees' (no local, no check);
//   - gives every other function one more local, which holds the fuel while
//     the function runs: it is loaded from the global at entry and after
//     each call of a metered function, and stored back before each such
//     call and wherever the function returns (return, a branch out of the
//     body, its end). A loop iteration then spends fuel in a register
//     ("local.get; i32.const 1; i32.sub; local.tee; i32.eqz; if; call tick;
//     local.set; end" after the loop's block type) instead of a load and a
//     store of the global, which made every iteration of a short loop wait
//     for the previous one's store;
//   - spends one unit at the entry of every function that calls a metered
//     function (directly or through a table), so that recursion is metered;
//   - renumbers function indices in calls, ref.func, exports, the start
//     function, element segments and the name section.
//
// So fuel counts loop iterations and entries of functions that can recurse;
// a guest reaches the host within Fuel of them, plus a bounded amount of
// loop-free code between two.
//
// The input is trusted to be a module the host has already validated; the
// rewrite still refuses code that names the fuel global or anything it
// cannot decode, so a crafted module cannot reach the fuel.
package meter

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// ImportModule and ImportName name the host function metered code calls
// when its fuel runs out. It returns the new fuel, or aborts the call.
const (
	ImportModule = "freshet_meter"
	ImportName   = "tick"
)

// Fuel is how many loop iterations and entries of functions that call
// metered functions run between two host calls.
const Fuel = 10000

// ErrUnsupported: the module uses an instruction or section the rewriter
// does not know.
var ErrUnsupported = errors.New("cannot meter module")

// Instrument returns the metered version of module.
func Instrument(module []byte) ([]byte, error) {
	if len(module) < 8 || string(module[:4]) != "\x00asm" || binary.LittleEndian.Uint32(module[4:8]) != 1 {
		return nil, fmt.Errorf("%w: not a WebAssembly 1.0 binary", ErrUnsupported)
	}
	var sections []section
	r := &rd{b: module[8:]}
	for !r.done() {
		id := r.byte()
		n := r.u32()
		body := r.bytes(int(n))
		if r.err != nil {
			return nil, fmt.Errorf("%w: section %d: %v", ErrUnsupported, id, r.err)
		}
		sections = append(sections, section{id, body})
	}

	// First pass: counts that the rewrite needs.
	var nTypes, nFuncImports, nGlobalImports, nGlobals uint32
	var params, funcTypes []uint32 // parameter count per type; type per defined function
	has := map[byte]bool{}
	for _, s := range sections {
		has[s.id] = true
		r := &rd{b: s.body}
		switch s.id {
		case 1:
			nTypes = r.u32()
			params = make([]uint32, 0, min(nTypes, 1<<16))
			for i := uint32(0); i < nTypes && r.err == nil; i++ {
				if form := r.byte(); form != 0x60 {
					r.fail("type %d has form %#x, not func", i, form)
				}
				np := r.u32()
				r.bytes(int(np))
				params = append(params, np)
				r.bytes(int(r.u32()))
			}
		case 3:
			n := r.u32()
			funcTypes = make([]uint32, 0, min(n, 1<<16))
			for i := uint32(0); i < n && r.err == nil; i++ {
				t := r.u32()
				if int(t) >= len(params) {
					r.fail("function %d has type %d, the module has %d types", i, t, len(params))
				}
				funcTypes = append(funcTypes, t)
			}
		case 2:
			n := r.u32()
			for i := uint32(0); i < n && r.err == nil; i++ {
				r.name()
				r.name()
				switch kind := r.byte(); kind {
				case 0:
					r.u32()
					nFuncImports++
				case 1:
					r.byte()
					r.limits()
				case 2:
					r.limits()
				case 3:
					r.byte()
					r.byte()
					nGlobalImports++
				default:
					r.fail("import kind %d", kind)
				}
			}
		case 6:
			nGlobals = r.u32()
		}
		if r.err != nil {
			return nil, fmt.Errorf("%w: section %d: %v", ErrUnsupported, s.id, r.err)
		}
	}
	if !has[1] {
		return nil, fmt.Errorf("%w: no type section", ErrUnsupported)
	}
	m := &rewriter{tickFunc: nFuncImports, fuelGlobal: nGlobalImports + nGlobals, params: params, funcTypes: funcTypes}

	out := append([]byte(nil), module[:8]...)
	emit := func(id byte, body []byte) {
		out = append(out, id)
		out = binary.AppendUvarint(out, uint64(len(body)))
		out = append(out, body...)
	}
	tickImport := func(b []byte) []byte {
		b = appendName(b, ImportModule)
		b = appendName(b, ImportName)
		b = append(b, 0x00)
		return binary.AppendUvarint(b, uint64(nTypes))
	}
	fuelGlobal := func(b []byte) []byte {
		b = append(b, 0x7f, 0x01, 0x41) // i32, mutable, i32.const
		b = appendSleb(b, Fuel)
		return append(b, 0x0b)
	}
	importsDone, globalsDone := has[2], has[6]
	for _, s := range sections {
		if s.id != 0 && !importsDone && order(s.id) > order(2) {
			emit(2, tickImport(binary.AppendUvarint(nil, 1)))
			importsDone = true
		}
		if s.id != 0 && !globalsDone && order(s.id) > order(6) {
			emit(6, fuelGlobal(binary.AppendUvarint(nil, 1)))
			globalsDone = true
		}
		var err error
		body := s.body
		r := &rd{b: body}
		switch s.id {
		case 0:
			body, err = m.custom(body)
		case 1:
			r.u32()
			body = binary.AppendUvarint(nil, uint64(nTypes+1))
			body = append(body, r.b...)
			body = append(body, 0x60, 0x00, 0x01, 0x7f) // () -> i32
		case 2:
			n := r.u32()
			body = binary.AppendUvarint(nil, uint64(n+1))
			body = tickImport(append(body, r.b...))
		case 6:
			n := r.u32()
			if err = m.checkGlobals(r.b, n); err == nil {
				body = binary.AppendUvarint(nil, uint64(n+1))
				body = fuelGlobal(append(body, r.b...))
			}
		case 7:
			body, err = m.exports(body)
		case 8:
			body = binary.AppendUvarint(nil, uint64(m.fn(r.u32())))
			err = r.err
		case 9:
			body, err = m.elements(body)
		case 10:
			body, err = m.code(body)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: section %d: %v", ErrUnsupported, s.id, err)
		}
		emit(s.id, body)
	}
	if !importsDone {
		emit(2, tickImport(binary.AppendUvarint(nil, 1)))
	}
	if !globalsDone {
		emit(6, fuelGlobal(binary.AppendUvarint(nil, 1)))
	}
	return out, nil
}

type section struct {
	id   byte
	body []byte
}

// order is the position of a known section id in a module.
func order(id byte) int {
	switch id {
	case 12: // data count comes between element and code
		return 95
	case 10:
		return 100
	case 11:
		return 110
	}
	return int(id) * 10
}

type rewriter struct {
	tickFunc   uint32 // index of the tick import; defined functions at or above it move up one
	fuelGlobal uint32
	params     []uint32 // parameter count of each type
	funcTypes  []uint32 // type of each defined function

	// plain says, per defined function, that it is left unmetered: it
	// neither loops nor calls but plain functions (see Instrument).
	plain []bool

	// What the last expr saw: a loop, a call through a table or of a
	// metered function, and the defined functions it calls.
	sawLoop, sawCall, sawIndirect bool
	callees                       []uint32
}

// isPlain reports whether function idx (original numbering) is a defined
// function left unmetered.
func (m *rewriter) isPlain(idx uint32) bool {
	d := idx - m.tickFunc
	return idx >= m.tickFunc && int(d) < len(m.plain) && m.plain[d]
}

// fuelLocal is how expr meters a function body: the local that holds its
// fuel.
type fuelLocal struct{ idx uint32 }

func (m *rewriter) fn(idx uint32) uint32 {
	if idx >= m.tickFunc {
		return idx + 1
	}
	return idx
}

func (m *rewriter) exports(body []byte) ([]byte, error) {
	r := &rd{b: body}
	n := r.u32()
	out := binary.AppendUvarint(nil, uint64(n))
	for i := uint32(0); i < n && r.err == nil; i++ {
		name := r.name()
		kind := r.byte()
		idx := r.u32()
		if kind == 0 {
			idx = m.fn(idx)
		}
		out = appendName(out, string(name))
		out = append(out, kind)
		out = binary.AppendUvarint(out, uint64(idx))
	}
	return out, r.err
}

// checkGlobals walks the global section's initialisers.
func (m *rewriter) checkGlobals(b []byte, n uint32) error {
	r := &rd{b: b}
	for i := uint32(0); i < n && r.err == nil; i++ {
		r.byte()
		r.byte()
		if _, err := m.expr(r, nil, nil); err != nil {
			return err
		}
	}
	return r.err
}

func (m *rewriter) elements(body []byte) ([]byte, error) {
	r := &rd{b: body}
	n := r.u32()
	out := binary.AppendUvarint(nil, uint64(n))
	for i := uint32(0); i < n && r.err == nil; i++ {
		flags := r.u32()
		out = binary.AppendUvarint(out, uint64(flags))
		if flags > 7 {
			return nil, fmt.Errorf("element segment flags %d", flags)
		}
		if flags&2 != 0 && flags&1 == 0 { // explicit table index
			out = binary.AppendUvarint(out, uint64(r.u32()))
		}
		if flags&1 == 0 { // active: offset expression
			var err error
			if out, err = m.expr(r, out, nil); err != nil {
				return nil, err
			}
		}
		if flags&3 != 0 { // elemkind or reftype
			out = append(out, r.byte())
		}
		cnt := r.u32()
		out = binary.AppendUvarint(out, uint64(cnt))
		for j := uint32(0); j < cnt && r.err == nil; j++ {
			if flags&4 == 0 {
				out = binary.AppendUvarint(out, uint64(m.fn(r.u32())))
				continue
			}
			var err error
			if out, err = m.expr(r, out, nil); err != nil {
				return nil, err
			}
		}
	}
	return out, r.err
}

// body is one function of the code section.
type body struct {
	locals []byte // the local declarations, as encoded (count, groups)
	nl     uint32 // number of local groups
	n      uint64 // number of locals, parameters included
	code   []byte // the instructions
}

func (m *rewriter) code(section []byte) ([]byte, error) {
	r := &rd{b: section}
	n := r.u32()
	if r.err == nil && int(n) != len(m.funcTypes) {
		return nil, fmt.Errorf("%d function bodies for %d functions", n, len(m.funcTypes))
	}
	// First pass: each function's plain copy, whether it loops, and what it
	// calls.
	bodies := make([]body, 0, min(n, 1<<16))
	plain := make([][]byte, 0, min(n, 1<<16))
	candidate := make([]bool, 0, min(n, 1<<16)) // no loop, no call through a table
	callees := make([][]uint32, 0, min(n, 1<<16))
	for i := uint32(0); i < n && r.err == nil; i++ {
		size := r.u32()
		fr := &rd{b: r.bytes(int(size))}
		if r.err != nil {
			break
		}
		b := body{locals: fr.b, n: uint64(m.params[m.funcTypes[i]])}
		b.nl = fr.u32()
		for j := uint32(0); j < b.nl && fr.err == nil; j++ {
			b.n += uint64(fr.u32())
			fr.byte()
		}
		if fr.err != nil {
			return nil, fmt.Errorf("function %d locals: %v", i, fr.err)
		}
		if b.n >= 1<<32-1 {
			return nil, fmt.Errorf("function %d has %d locals", i, b.n)
		}
		b.locals, b.code = b.locals[:len(b.locals)-len(fr.b)], fr.b
		out, err := m.expr(&rd{b: b.code}, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("function %d: %v", i, err)
		}
		bodies = append(bodies, b)
		plain = append(plain, out)
		candidate = append(candidate, !m.sawLoop && !m.sawIndirect)
		callees = append(callees, slices.Clone(m.callees))
	}
	if r.err != nil {
		return nil, r.err
	}
	// A function is plain when it does not loop, calls nothing through a
	// table, and calls only plain functions: found bottom-up, so that a
	// cycle of calls is never plain.
	m.plain = make([]bool, len(bodies))
	for changed := true; changed; {
		changed = false
		for i := range bodies {
			if m.plain[i] || !candidate[i] {
				continue
			}
			ok := true
			for _, c := range callees[i] {
				ok = ok && m.isPlain(c)
			}
			if ok {
				m.plain[i], changed = true, true
			}
		}
	}
	// Second pass: meter the others.
	out := binary.AppendUvarint(nil, uint64(n))
	var fb []byte
	for i, b := range bodies {
		fb = fb[:0]
		if m.plain[i] {
			fb = append(append(fb, b.locals...), plain[i]...)
		} else {
			f := &fuelLocal{idx: uint32(b.n)}
			fb = binary.AppendUvarint(fb, uint64(b.nl)+1)
			fb = append(fb, skipU32(b.locals)...)
			fb = append(fb, 1, 0x7f) // one i32: the fuel
			fb = m.reload(fb, f)
			var err error
			m.expr(&rd{b: b.code}, nil, nil) // what it calls
			if m.sawCall {
				fb = m.charge(fb, f)
			}
			if fb, err = m.expr(&rd{b: b.code}, fb, f); err != nil {
				return nil, fmt.Errorf("function %d: %v", i, err)
			}
		}
		out = binary.AppendUvarint(out, uint64(len(fb)))
		out = append(out, fb...)
	}
	return out, nil
}

// skipU32 returns b after its leading unsigned LEB128.
func skipU32(b []byte) []byte {
	for i, c := range b {
		if c&0x80 == 0 {
			return b[i+1:]
		}
	}
	return nil
}

// charge appends the spending of one unit of f's fuel, and the call to the
// host that refills it when it runs out.
func (m *rewriter) charge(b []byte, f *fuelLocal) []byte {
	b = append(b, 0x20) // local.get
	b = binary.AppendUvarint(b, uint64(f.idx))
	b = append(b, 0x41, 0x01, 0x6b, 0x22) // i32.const 1; i32.sub; local.tee
	b = binary.AppendUvarint(b, uint64(f.idx))
	b = append(b, 0x45, 0x04, 0x40, 0x10) // i32.eqz; if (empty); call
	b = binary.AppendUvarint(b, uint64(m.tickFunc))
	b = append(b, 0x21) // local.set
	b = binary.AppendUvarint(b, uint64(f.idx))
	return append(b, 0x0b) // end
}

// sync appends the store of f's fuel into the global.
func (m *rewriter) sync(b []byte, f *fuelLocal) []byte {
	b = append(b, 0x20) // local.get
	b = binary.AppendUvarint(b, uint64(f.idx))
	b = append(b, 0x24) // global.set
	return binary.AppendUvarint(b, uint64(m.fuelGlobal))
}

// reload appends the load of the global into f's fuel.
func (m *rewriter) reload(b []byte, f *fuelLocal) []byte {
	b = append(b, 0x23) // global.get
	b = binary.AppendUvarint(b, uint64(m.fuelGlobal))
	b = append(b, 0x21) // local.set
	return binary.AppendUvarint(b, uint64(f.idx))
}

// expr copies instructions from r to out until the end that closes the
// expression, renumbering functions and, with f (function bodies), metering
// loops, calls and returns with the fuel local f. It records in m.sawLoop
// whether the expression has a loop, in m.sawCall whether it calls through
// a table (also m.sawIndirect) or calls a defined function that is not
// plain (any, until m.plain is known), and in m.callees the defined
// functions it calls.
func (m *rewriter) expr(r *rd, out []byte, f *fuelLocal) ([]byte, error) {
	m.sawLoop, m.sawCall, m.sawIndirect, m.callees = false, false, false, m.callees[:0]
	depth := uint32(0)
	// syncBefore stores the fuel before the instruction being copied, whose
	// opcode is the last byte of out.
	syncBefore := func() {
		if f != nil {
			op := out[len(out)-1]
			out = append(m.sync(out[:len(out)-1], f), op)
		}
	}
	var labels []byte
	for r.err == nil {
		if r.done() {
			return nil, errors.New("expression without end")
		}
		op := r.byte()
		out = append(out, op)
		switch {
		case op == 0x02 || op == 0x03 || op == 0x04: // block, loop, if
			out = r.blockType(out)
			depth++
			if op == 0x03 {
				m.sawLoop = true
				if f != nil {
					out = m.charge(out, f)
				}
			}
		case op == 0x0b: // end
			if depth == 0 {
				syncBefore() // the function returns
				return out, r.err
			}
			depth--
		case op == 0x0f: // return
			syncBefore()
		case op == 0x00 || op == 0x01 || op == 0x05 || op == 0x1a || op == 0x1b || op == 0xd1:
		case op == 0x0c || op == 0x0d: // br, br_if
			l := r.u32()
			if l == depth { // the function's own label: a return
				syncBefore()
			}
			out = binary.AppendUvarint(out, uint64(l))
		case op == 0x0e: // br_table
			n := r.u32()
			labels = binary.AppendUvarint(labels[:0], uint64(n))
			ret := false
			for i := uint32(0); i <= n && r.err == nil; i++ {
				l := r.u32()
				ret = ret || l == depth
				labels = binary.AppendUvarint(labels, uint64(l))
			}
			if ret {
				syncBefore()
			}
			out = append(out, labels...)
		case op == 0x10: // call
			idx := r.u32()
			metered := idx >= m.tickFunc && !m.isPlain(idx)
			if idx >= m.tickFunc {
				m.callees = append(m.callees, idx)
			}
			if metered {
				m.sawCall = true
				syncBefore()
			}
			out = binary.AppendUvarint(out, uint64(m.fn(idx)))
			if metered && f != nil {
				out = m.reload(out, f)
			}
		case op == 0x11: // call_indirect
			m.sawCall, m.sawIndirect = true, true
			syncBefore()
			out = r.copyU32(out)
			out = r.copyU32(out)
			if f != nil {
				out = m.reload(out, f)
			}
		case op == 0x1c: // select t*
			n := r.u32()
			out = binary.AppendUvarint(out, uint64(n))
			for i := uint32(0); i < n && r.err == nil; i++ {
				out = append(out, r.byte())
			}
		case op >= 0x20 && op <= 0x22: // local.*
			out = r.copyU32(out)
		case op == 0x23 || op == 0x24: // global.get, global.set
			g := r.u32()
			if g >= m.fuelGlobal {
				return nil, fmt.Errorf("global index %d is out of range", g)
			}
			out = binary.AppendUvarint(out, uint64(g))
		case op == 0x25 || op == 0x26: // table.get, table.set
			out = r.copyU32(out)
		case op >= 0x28 && op <= 0x3e: // loads and stores: memarg
			out = r.copyU32(out)
			out = r.copyU32(out)
		case op == 0x3f || op == 0x40: // memory.size, memory.grow
			out = r.copyU32(out)
		case op == 0x41: // i32.const
			out = r.copySleb(out)
		case op == 0x42: // i64.const
			out = r.copySleb(out)
		case op == 0x43:
			out = append(out, r.bytes(4)...)
		case op == 0x44:
			out = append(out, r.bytes(8)...)
		case op >= 0x45 && op <= 0xc4: // numeric, sign extension
		case op == 0xd0: // ref.null t
			out = append(out, r.byte())
		case op == 0xd2: // ref.func
			out = binary.AppendUvarint(out, uint64(m.fn(r.u32())))
		case op == 0xfc:
			sub := r.u32()
			out = binary.AppendUvarint(out, uint64(sub))
			switch {
			case sub <= 7: // saturating truncation
			case sub == 8: // memory.init dataidx memidx
				out = r.copyU32(out)
				out = r.copyU32(out)
			case sub == 9 || sub == 13 || (sub >= 15 && sub <= 17): // data.drop, elem.drop, table.grow/size/fill
				out = r.copyU32(out)
			case sub == 10 || sub == 12 || sub == 14: // memory.copy, table.init, table.copy
				out = r.copyU32(out)
				out = r.copyU32(out)
			case sub == 11: // memory.fill
				out = r.copyU32(out)
			default:
				return nil, fmt.Errorf("unknown instruction 0xfc %d", sub)
			}
		case op == 0xfd:
			sub := r.u32()
			out = binary.AppendUvarint(out, uint64(sub))
			switch {
			case sub <= 0x0b || sub == 0x5c || sub == 0x5d: // v128 loads and stores
				out = r.copyU32(out)
				out = r.copyU32(out)
			case sub == 0x0c || sub == 0x0d: // v128.const, i8x16.shuffle
				out = append(out, r.bytes(16)...)
			case sub >= 0x15 && sub <= 0x22: // extract_lane, replace_lane
				out = append(out, r.byte())
			case sub >= 0x54 && sub <= 0x5b: // load_lane, store_lane
				out = r.copyU32(out)
				out = r.copyU32(out)
				out = append(out, r.byte())
			case sub <= 0xff:
			default:
				return nil, fmt.Errorf("unknown instruction 0xfd %d", sub)
			}
		default:
			return nil, fmt.Errorf("unknown instruction %#x", op)
		}
	}
	return nil, r.err
}

// custom rewrites the function indices of the "name" section, and passes
// other custom sections through.
func (m *rewriter) custom(body []byte) ([]byte, error) {
	r := &rd{b: body}
	name := r.name()
	if r.err != nil || string(name) != "name" {
		return body, nil
	}
	out := appendName(nil, "name")
	for !r.done() && r.err == nil {
		id := r.byte()
		sub := r.bytes(int(r.u32()))
		if r.err != nil {
			break
		}
		if id == 1 || id == 2 {
			sr := &rd{b: sub}
			n := sr.u32()
			var nb []byte
			nb = binary.AppendUvarint(nb, uint64(n))
			for i := uint32(0); i < n && sr.err == nil; i++ {
				nb = binary.AppendUvarint(nb, uint64(m.fn(sr.u32())))
				if id == 1 {
					nb = appendName(nb, string(sr.name()))
					continue
				}
				k := sr.u32()
				nb = binary.AppendUvarint(nb, uint64(k))
				for j := uint32(0); j < k && sr.err == nil; j++ {
					nb = sr.copyU32(nb)
					nb = appendName(nb, string(sr.name()))
				}
			}
			if sr.err != nil {
				return body, nil // a malformed name section is only debug information: keep it as it was
			}
			sub = nb
		}
		out = append(out, id)
		out = binary.AppendUvarint(out, uint64(len(sub)))
		out = append(out, sub...)
	}
	if r.err != nil {
		return body, nil
	}
	return out, nil
}

func appendName(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendSleb(b []byte, v int64) []byte {
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

// rd reads the binary format; the first error sticks.
type rd struct {
	b   []byte
	err error
}

func (r *rd) done() bool { return len(r.b) == 0 }

func (r *rd) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, args...)
	}
}

func (r *rd) byte() byte {
	if r.err != nil || len(r.b) == 0 {
		r.fail("truncated")
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *rd) u32() uint32 {
	v, n := binary.Uvarint(r.b)
	if r.err != nil || n <= 0 || n > 5 || v > 0xffffffff {
		r.fail("bad unsigned LEB128")
		return 0
	}
	r.b = r.b[n:]
	return uint32(v)
}

func (r *rd) copyU32(out []byte) []byte { return binary.AppendUvarint(out, uint64(r.u32())) }

// copySleb copies a signed LEB128 (up to 10 bytes) verbatim.
func (r *rd) copySleb(out []byte) []byte {
	for i := 0; i < 10; i++ {
		c := r.byte()
		out = append(out, c)
		if c&0x80 == 0 || r.err != nil {
			return out
		}
	}
	r.fail("bad signed LEB128")
	return out
}

func (r *rd) bytes(n int) []byte {
	if r.err != nil || n < 0 || n > len(r.b) {
		r.fail("truncated")
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *rd) name() []byte { return r.bytes(int(r.u32())) }

func (r *rd) limits() {
	flags := r.byte()
	r.u32()
	if flags&1 != 0 {
		r.u32()
	}
}

// blockType copies a block type: 0x40, a value type, or a type index (s33).
func (r *rd) blockType(out []byte) []byte {
	if r.err != nil || len(r.b) == 0 {
		r.fail("truncated")
		return out
	}
	switch c := r.b[0]; c {
	case 0x40, 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f:
		r.b = r.b[1:]
		return append(out, c)
	}
	return r.copySleb(out)
}
