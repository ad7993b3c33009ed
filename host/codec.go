package host

import (
	"encoding/binary"
	"fmt"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/host/abi"
)

// entrySize is the encoded size of a record entry.
func entrySize(key, value []byte, headers []api.Header) int {
	n := abi.EntryHeaderSize + len(key) + len(value)
	for i := range headers {
		n += abi.HeaderPrefixSize + len(headers[i].Key) + len(headers[i].Value)
	}
	return n
}

// putEntry encodes an entry at the start of b, which must have room for
// entrySize bytes, and returns its size.
func putEntry(b []byte, kind abi.EntryKind, extra uint32, key, value []byte, ts int64, headers []api.Header) int {
	b[abi.OffEntryKind] = byte(kind)
	b[abi.OffEntryFlags] = 0
	binary.LittleEndian.PutUint16(b[abi.OffEntryHeaderCount:], uint16(len(headers)))
	binary.LittleEndian.PutUint32(b[abi.OffEntryKeyLen:], uint32(len(key)))
	binary.LittleEndian.PutUint32(b[abi.OffEntryValueLen:], uint32(len(value)))
	binary.LittleEndian.PutUint32(b[abi.OffEntryExtra:], extra)
	binary.LittleEndian.PutUint64(b[abi.OffEntryTimestamp:], uint64(ts))
	off := abi.EntryHeaderSize
	off += copy(b[off:], key)
	off += copy(b[off:], value)
	for i := range headers {
		h := &headers[i]
		binary.LittleEndian.PutUint32(b[off:], uint32(len(h.Key)))
		binary.LittleEndian.PutUint32(b[off+4:], uint32(len(h.Value)))
		off += abi.HeaderPrefixSize
		off += copy(b[off:], h.Key)
		off += copy(b[off:], h.Value)
	}
	return off
}

// outEntry is one decoded output entry. Its slices are views of guest
// memory, valid until the guest runs again.
type outEntry struct {
	kind  abi.EntryKind
	extra uint32
	rec   api.Record
}

// outputSink receives the output entries of a call, in order. An error
// means the output breaks the ABI.
type outputSink interface {
	emit(e *outEntry) error
}

// allowedOutputs lists the output entry kinds each operator kind may write.
var allowedOutputs = map[abi.OperatorKind][]abi.EntryKind{
	abi.KindMap:           {abi.EntryOutput, abi.EntryForward, abi.EntryError, abi.EntrySideOutput},
	abi.KindFilter:        {abi.EntryForward, abi.EntryError, abi.EntrySideOutput},
	abi.KindFlatMap:       {abi.EntryOutput, abi.EntryForward, abi.EntryError, abi.EntrySideOutput},
	abi.KindKeySelector:   {abi.EntryKey, abi.EntryError},
	abi.KindProcess:       {abi.EntryOutput, abi.EntryForward, abi.EntryError, abi.EntrySideOutput},
	abi.KindProcessWindow: {abi.EntryOutput, abi.EntryError, abi.EntrySideOutput},
	abi.KindDeserializer:  {abi.EntryOutput, abi.EntryError, abi.EntrySideOutput},
}

// allowedMask is allowedOutputs as bit masks by entry kind.
var allowedMask = func() map[abi.OperatorKind]uint64 {
	m := map[abi.OperatorKind]uint64{}
	for k, kinds := range allowedOutputs {
		for _, e := range kinds {
			m[k] |= 1 << e
		}
	}
	return m
}()

// consume decodes the first n bytes of the output buffer and hands every
// entry to the call's sink. It runs inside flush_output (guest suspended)
// and after freshet_process returns.
func (in *Instance) consume(n uint32) error {
	ptr, capacity, ok := in.readOutputBuffer()
	if !ok {
		return fmt.Errorf("control block at %d is outside memory", in.ctrl)
	}
	if n > capacity {
		return fmt.Errorf("output length %d is larger than the output buffer (%d bytes)", n, capacity)
	}
	b, ok := in.mem.Read(ptr, n)
	if !ok {
		return fmt.Errorf("output buffer [%d, +%d) is outside memory", ptr, n)
	}
	var err error
	in.hdrs, err = decodeOutput(b, in.kind, uint32(len(in.call.keys)), len(in.sides), in.hdrs, in.call.sink)
	return err
}

// decodeOutput decodes and validates the output entries of a call of a
// function of kind over entries input entries, with sides side outputs
// declared, handing each to sink. hdrs is scratch space for headers.
func decodeOutput(b []byte, kind abi.OperatorKind, entries uint32, sides int, hdrs []api.Header, sink outputSink) ([]api.Header, error) {
	mask := allowedMask[kind]
	var e outEntry
	for off := 0; len(b) > 0; {
		if len(b) < abi.EntryHeaderSize {
			return hdrs, fmt.Errorf("output entry at offset %d: %d bytes left, an entry header has %d", off, len(b), abi.EntryHeaderSize)
		}
		ek := abi.EntryKind(b[abi.OffEntryKind])
		hc := int(binary.LittleEndian.Uint16(b[abi.OffEntryHeaderCount:]))
		kl := uint64(binary.LittleEndian.Uint32(b[abi.OffEntryKeyLen:]))
		vl := uint64(binary.LittleEndian.Uint32(b[abi.OffEntryValueLen:]))
		e.kind, e.extra = ek, binary.LittleEndian.Uint32(b[abi.OffEntryExtra:])
		e.rec.Timestamp = int64(binary.LittleEndian.Uint64(b[abi.OffEntryTimestamp:]))
		if ek >= 64 || mask&(1<<ek) == 0 {
			return hdrs, fmt.Errorf("output entry at offset %d: kind %s is not an output of a %s function", off, ek, kind)
		}
		if b[abi.OffEntryFlags] != 0 {
			return hdrs, fmt.Errorf("output entry at offset %d: flags %#x, must be 0", off, b[abi.OffEntryFlags])
		}
		p := b[abi.EntryHeaderSize:]
		if kl+vl > uint64(len(p)) {
			return hdrs, fmt.Errorf("output entry at offset %d: key (%d) and value (%d) run past the output (%d bytes left)", off, kl, vl, len(p))
		}
		e.rec.Key = p[:kl:kl]
		e.rec.Value = p[kl : kl+vl : kl+vl]
		p = p[kl+vl:]
		hdrs = hdrs[:0]
		for j := 0; j < hc; j++ {
			if len(p) < abi.HeaderPrefixSize {
				return hdrs, fmt.Errorf("output entry at offset %d: header %d is truncated", off, j)
			}
			hk := uint64(binary.LittleEndian.Uint32(p))
			hv := uint64(binary.LittleEndian.Uint32(p[4:]))
			p = p[abi.HeaderPrefixSize:]
			if hk+hv > uint64(len(p)) {
				return hdrs, fmt.Errorf("output entry at offset %d: header %d runs past the output", off, j)
			}
			hdrs = append(hdrs, api.Header{Key: p[:hk:hk], Value: p[hk : hk+hv : hk+hv]})
			p = p[hk+hv:]
		}
		e.rec.Headers = nil
		if hc > 0 {
			e.rec.Headers = hdrs
		}
		switch ek {
		case abi.EntrySideOutput:
			if int(e.extra) >= sides {
				return hdrs, fmt.Errorf("output entry at offset %d: unknown side output handle %d", off, e.extra)
			}
		case abi.EntryForward, abi.EntryKey, abi.EntryError:
			if e.extra >= entries {
				return hdrs, fmt.Errorf("output entry at offset %d: %s entry names input entry %d, the call has %d", off, ek, e.extra, entries)
			}
			if hc != 0 || (ek == abi.EntryForward && kl+vl != 0) || (ek == abi.EntryKey && vl != 0) || (ek == abi.EntryError && kl != 0) {
				return hdrs, fmt.Errorf("output entry at offset %d: a %s entry with unexpected key, value or headers", off, ek)
			}
		}
		if err := sink.emit(&e); err != nil {
			return hdrs, fmt.Errorf("output entry at offset %d: %w", off, err)
		}
		off += len(b) - len(p)
		b = p
	}
	return hdrs, nil
}

// run makes one freshet_process call over the entries already written to
// the input buffer (inLen bytes, n entries; in.call.keys set by the caller).
func (in *Instance) run(inLen, n int, sink outputSink) error {
	in.call.sink = sink
	defer func() {
		in.call.sink = nil
		in.call.cur = abi.NoEntry
	}()
	in.stack[0], in.stack[1], in.stack[2] = uint64(in.fn.Index), uint64(inLen), uint64(n)
	res, err := in.invoke(in.fProcess, abi.ExportProcess)
	if err != nil {
		return err
	}
	if st := int32(res); st < 0 {
		if abi.Status(st) == abi.StatusUserError {
			return &Error{Module: in.m.id, Export: abi.ExportProcess, Function: in.fnName(), Entry: -1, Kind: ErrUserFunction,
				Err: fmt.Errorf("the function failed for the whole batch%s", in.stderr.suffix())}
		}
		return in.abiError("returned %s", abi.Status(st))
	}
	if err := in.consume(uint32(res)); err != nil {
		return in.abiError("%v", err)
	}
	if err := in.call.stateErr; err != nil {
		return fmt.Errorf("wasm module %s: function %q: keyed state: %w", in.m.id, in.fnName(), err)
	}
	return in.call.sinkErr
}
