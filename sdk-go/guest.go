package freshet

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"unsafe"

	"github.com/freshet/freshet/sdk-go/internal/abi"
)

// The guest side of ABI v1. The exported functions (exports_wasip1.go) call
// the do* functions below, which are plain Go so that they can be tested on
// any platform.

// guest is the SDK's state in the instance: buffers, the control block and
// the function the host opened.
var guest struct {
	ctrl    [abi.ControlBlockSize / 4]uint32
	in      []byte
	out     []byte
	outLen  int
	flushes int // output flushes to the host during the current call
	fn      *function
	ctx     Context
	elems   []Record
	aggBuf  []byte
}

// addr is the address of p in linear memory (32-bit on wasm).
func addr(p unsafe.Pointer) uint32 { return uint32(uintptr(p)) }

func ptr(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }

func setBuffers() {
	guest.ctrl[abi.OffCtrlInputPtr/4] = addr(ptr(guest.in))
	guest.ctrl[abi.OffCtrlInputCap/4] = uint32(len(guest.in))
	guest.ctrl[abi.OffCtrlOutputPtr/4] = addr(ptr(guest.out))
	guest.ctrl[abi.OffCtrlOutputCap/4] = uint32(len(guest.out))
}

func setEntry(i uint32) { guest.ctrl[abi.OffCtrlCurrentEntry/4] = i }

func doInit(inCap, outCap int32) int32 {
	if inCap < 0 || outCap < 0 {
		return int32(abi.StatusInvalidArgument)
	}
	if int(inCap) > len(guest.in) {
		guest.in = make([]byte, inCap)
	}
	if int(outCap) > len(guest.out) {
		guest.out = make([]byte, outCap)
	}
	setBuffers()
	setEntry(abi.NoEntry)
	return int32(addr(unsafe.Pointer(&guest.ctrl)))
}

func doDescribe() int32 {
	if regErr != nil {
		logError(regErr.Error())
		return int32(abi.StatusInternal)
	}
	b := guest.out[:0]
	b = appendBytes(b, []byte("freshet-sdk-go "+Version))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(functions)))
	for _, f := range functions {
		b = binary.LittleEndian.AppendUint32(b, uint32(f.kind))
		b = appendBytes(b, []byte(f.name))
	}
	return int32(setOutput(b))
}

func appendBytes(b, v []byte) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
	return append(b, v...)
}

// setOutput makes b the content of the output buffer (moving the buffer
// when b outgrew it) and returns its length.
func setOutput(b []byte) int {
	if len(b) > 0 && unsafe.SliceData(b) != unsafe.SliceData(guest.out) {
		if len(b) > len(guest.out) {
			guest.out = make([]byte, len(b))
			setBuffers()
		}
		copy(guest.out, b)
	} else if len(b) > len(guest.out) {
		guest.out = b[:cap(b)]
		setBuffers()
	}
	return len(b)
}

func doOpen(fi, cfgLen int32) int32 {
	if fi < 0 || int(fi) >= len(functions) {
		return int32(abi.StatusUnknownFunction)
	}
	if cfgLen < 0 || int(cfgLen) > len(guest.in) {
		return int32(abi.StatusBadInput)
	}
	f := functions[fi]
	guest.fn = f
	if f.open != nil {
		config := append([]byte(nil), guest.in[:cfgLen]...)
		if err := f.open(config); err != nil {
			logError(fmt.Sprintf("opening %s: %v", f.name, err))
			return int32(abi.StatusInvalidArgument)
		}
	}
	return int32(abi.StatusOK)
}

// doProcess runs the opened function over a batch of entries.
func doProcess(fi, inLen, n int32) int32 {
	f := guest.fn
	if f == nil || fi < 0 || int(fi) >= len(functions) || functions[fi] != f {
		return int32(abi.StatusUnknownFunction)
	}
	if inLen < 0 || int(inLen) > len(guest.in) || n < 0 {
		return int32(abi.StatusBadInput)
	}
	guest.outLen = 0
	st := processBatch(f, guest.in[:inLen], int(n))
	setEntry(abi.NoEntry)
	guest.ctx = Context{}
	// Let the Go scheduler run the garbage collector's background work once
	// per batch; without it the guest heap grows without bound.
	runtime.Gosched()
	if st != abi.StatusOK {
		return int32(st)
	}
	return int32(guest.outLen)
}

func processBatch(f *function, b []byte, n int) abi.Status {
	c := &guest.ctx
	var e entry
	for i := 0; i < n; i++ {
		if !decodeEntry(b, &e) {
			return abi.StatusBadInput
		}
		b = b[e.size:]
		idx := uint32(i)
		setEntry(idx)
		markLen, markFlushes := guest.outLen, guest.flushes
		*c = Context{entry: idx, key: e.rec.Key, ts: e.rec.Timestamp, scratch: c.scratch[:0]}
		var err error
		switch {
		case e.kind == abi.EntryData && f.kind != KindProcessWindow:
			c.rec = &e.rec
			err = f.element(c, &e.rec)
		case e.kind == abi.EntryTimer && f.kind == KindProcess:
			t := Timer{Key: e.rec.Key, Namespace: e.rec.Value, Timestamp: e.rec.Timestamp,
				ProcessingTime: e.extra == uint32(abi.DomainProcessingTime)}
			err = f.process.OnTimer(c, t)
		case e.kind == abi.EntryWindow && f.kind == KindProcessWindow:
			if len(e.rec.Value) != 16 || int(e.extra) > n-i-1 {
				return abi.StatusBadInput
			}
			w := Window{Start: int64(binary.LittleEndian.Uint64(e.rec.Value)), End: int64(binary.LittleEndian.Uint64(e.rec.Value[8:]))}
			key := e.rec.Key
			elems := guest.elems[:0]
			var el entry
			for j := 0; j < int(e.extra); j++ {
				if !decodeEntry(b, &el) || el.kind != abi.EntryData {
					return abi.StatusBadInput
				}
				b = b[el.size:]
				elems = append(elems, el.rec)
			}
			guest.elems = elems
			err = f.windowFn(c, key, w, elems)
			clear(elems)
			i += int(e.extra)
		default:
			return abi.StatusBadInput
		}
		if err != nil {
			// A failed record's outputs are taken back (an error entry
			// replaces them, as the ABI says); those already flushed to
			// the host cannot be, the rest of the buffer is.
			if markFlushes == guest.flushes {
				guest.outLen = markLen
			} else {
				guest.outLen = 0
			}
			writeEntry(abi.EntryError, idx, nil, []byte(err.Error()), NoTimestamp, 0, nil)
		}
	}
	return abi.StatusOK
}

// element runs a record function on one data entry.
func (f *function) element(c *Context, r *Record) error {
	switch f.kind {
	case KindMap:
		v, err := f.mapFn(c, r)
		if err != nil {
			return err
		}
		if len(v) == len(r.Value) && unsafe.SliceData(v) == unsafe.SliceData(r.Value) {
			c.Forward()
			return nil
		}
		writeEntry(abi.EntryOutput, 0, r.Key, v, r.Timestamp, r.nHeaders, r.rawHeaders)
	case KindFilter:
		keep, err := f.filterFn(c, r)
		if err != nil {
			return err
		}
		if keep {
			c.Forward()
		}
	case KindFlatMap, KindDeserializer:
		return f.flatMapFn(c, r)
	case KindKeySelector:
		k, err := f.keyFn(c, r)
		if err != nil {
			return err
		}
		writeEntry(abi.EntryKey, c.entry, k, nil, r.Timestamp, 0, nil)
	case KindProcess:
		return f.process.ProcessElement(c, r)
	default:
		return fmt.Errorf("a %s function does not process records", f.kind)
	}
	return nil
}

// writeRef appends a forward or key-less entry that names input entry
// extra: a fixed 24-byte header.
func writeRef(kind abi.EntryKind, extra uint32) {
	if guest.outLen+abi.EntryHeaderSize > len(guest.out) {
		flushOutput()
	}
	b := guest.out[guest.outLen : guest.outLen+abi.EntryHeaderSize]
	binary.LittleEndian.PutUint64(b, uint64(kind)) // kind, flags 0, no headers, key_len 0
	binary.LittleEndian.PutUint64(b[8:], uint64(extra)<<32)
	binary.LittleEndian.PutUint64(b[16:], 0)
	guest.outLen += abi.EntryHeaderSize
}

// writeEntry appends an output entry, flushing the output buffer to the
// host (or growing it, for an entry larger than the buffer) when full.
func writeEntry(kind abi.EntryKind, extra uint32, key, value []byte, ts int64, nHeaders int, rawHeaders []byte) {
	size := abi.EntryHeaderSize + len(key) + len(value) + len(rawHeaders)
	if guest.outLen+size > len(guest.out) {
		flushOutput()
		if size > len(guest.out) {
			guest.out = make([]byte, max(size, 2*len(guest.out)))
			setBuffers()
		}
	}
	b := guest.out[guest.outLen:]
	b[abi.OffEntryKind] = byte(kind)
	b[abi.OffEntryFlags] = 0
	binary.LittleEndian.PutUint16(b[abi.OffEntryHeaderCount:], uint16(nHeaders))
	binary.LittleEndian.PutUint32(b[abi.OffEntryKeyLen:], uint32(len(key)))
	binary.LittleEndian.PutUint32(b[abi.OffEntryValueLen:], uint32(len(value)))
	binary.LittleEndian.PutUint32(b[abi.OffEntryExtra:], extra)
	binary.LittleEndian.PutUint64(b[abi.OffEntryTimestamp:], uint64(ts))
	off := abi.EntryHeaderSize
	off += copy(b[off:], key)
	off += copy(b[off:], value)
	off += copy(b[off:], rawHeaders)
	guest.outLen += off
}

func flushOutput() {
	if guest.outLen == 0 {
		return
	}
	guest.flushes++
	if st := abi.Status(abi.FlushOutput(int32(guest.outLen))); st != abi.StatusOK {
		panic(fmt.Sprintf("freshet: host refused flush_output: %s", st))
	}
	guest.outLen = 0
}

func encodeHeaders(dst []byte, hs []Header) []byte {
	for _, h := range hs {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(h.Key)))
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(h.Value)))
		dst = append(dst, h.Key...)
		dst = append(dst, h.Value...)
	}
	return dst
}

// Aggregate calls.

const (
	aggCreate = iota
	aggAdd
	aggMerge
	aggResult
)

func doAgg(op int, fi, aLen, bLen int32) int32 {
	f := guest.fn
	if f == nil || fi < 0 || int(fi) >= len(functions) || functions[fi] != f || f.kind != KindAggregate {
		return int32(abi.StatusUnknownFunction)
	}
	if aLen < 0 || bLen < 0 || int(aLen)+int(bLen) > len(guest.in) {
		return int32(abi.StatusBadInput)
	}
	a := guest.in[:aLen]
	b := guest.in[aLen : aLen+bLen]
	dst := guest.aggBuf[:0]
	var err error
	switch op {
	case aggCreate:
		dst = f.agg.CreateAccumulator(dst)
	case aggAdd:
		dst, err = f.agg.Add(a, b, dst)
	case aggMerge:
		dst, err = f.agg.Merge(a, b, dst)
	case aggResult:
		dst, err = f.agg.Result(a, dst)
	}
	if err != nil {
		logError(fmt.Sprintf("%s: %v", f.name, err))
		return int32(abi.StatusUserError)
	}
	guest.aggBuf = dst
	return int32(setOutput(dst))
}
