package codec

import (
	"encoding/binary"

	"github.com/freshet/freshet/engine/api"
)

// keepWholeFraction: a record that fits in one buffer is moved whole to the
// next buffer rather than split when the current one has at most
// 1/keepWholeFraction of its size left.
const keepWholeFraction = 8

// Writer serializes records into a sequence of buffers. The zero Writer is
// ready to use once it is given a buffer with SetBuffer. A Writer is used by
// one goroutine.
//
// The loop of a channel's sending side:
//
//	if w.Write(&rec) {
//		send(w.Filled())
//		for {
//			w.SetBuffer(nextBuffer())
//			if !w.Continue() {
//				break
//			}
//			send(w.Filled())
//		}
//	}
type Writer struct {
	buf []byte
	n   int // bytes of buf filled

	// The record being split across buffers.
	pending bool
	rec     api.Record
	body    int // its body size
	frame   int // its frame size
	done    int // frame bytes already written
	skip    int // scratch of spill: frame bytes still to skip
}

// SetBuffer gives the writer an empty buffer to fill; its whole length is
// usable. The buffer must not be empty. Filled of the previous buffer is no
// longer available.
func (w *Writer) SetBuffer(buf []byte) {
	w.buf = buf
	w.n = 0
}

// Filled is the part of the current buffer written so far.
func (w *Writer) Filled() []byte { return w.buf[:w.n] }

// Pending reports whether a record is still partly unwritten: the caller
// must give the writer a new buffer and call Continue.
func (w *Writer) Pending() bool { return w.pending }

// Write serializes r. It returns full = true when the buffer has no room
// left; then, if Pending, r is not completely written, and the caller sends
// Filled, gives a new buffer with SetBuffer and calls Continue until it
// returns false. Until Pending is false the writer keeps referring to r's
// bytes (not to r itself), which must not change.
//
// Calling Write while Pending is a bug in the caller, which would reorder or
// lose records; Write panics.
func (w *Writer) Write(r *api.Record) (full bool) {
	if w.pending {
		panic("codec: Writer.Write called while a record is pending; call Continue first")
	}
	body := bodySize(r)
	frame := uvarintLen(uint64(body)) + body
	rem := len(w.buf) - w.n
	if frame <= rem {
		w.encode(r, body)
		return w.n == len(w.buf)
	}
	w.pending = true
	w.rec = *r
	w.body, w.frame, w.done = body, frame, 0
	if frame <= len(w.buf) && rem*keepWholeFraction <= len(w.buf) {
		return true // whole, in the next buffer
	}
	w.spill()
	return true
}

// Continue writes more of the pending record into the current buffer, which
// the caller has just set. It returns true when the buffer is full again: the
// caller sends Filled, sets another buffer and calls Continue again. It
// returns false once the record is complete and the buffer has room left.
func (w *Writer) Continue() (full bool) {
	if !w.pending {
		return w.n == len(w.buf)
	}
	if w.done == 0 && w.frame <= len(w.buf)-w.n {
		w.encode(&w.rec, w.body)
		w.finish()
	} else if w.spill() {
		w.finish()
	}
	return w.pending || w.n == len(w.buf)
}

func (w *Writer) finish() {
	w.pending = false
	w.rec = api.Record{} // drop references to the caller's bytes
}

// encode writes the whole frame of r into the buffer, which has room for it.
func (w *Writer) encode(r *api.Record, body int) {
	b := w.buf[:w.n:len(w.buf)]
	b = appendHead(b, r, body)
	b = append(b, r.Key...)
	b = binary.AppendUvarint(b, uint64(len(r.Value)))
	b = append(b, r.Value...)
	if len(r.Headers) > 0 {
		b = binary.AppendUvarint(b, uint64(len(r.Headers)))
		for i := range r.Headers {
			h := &r.Headers[i]
			b = binary.AppendUvarint(b, uint64(len(h.Key)))
			b = append(b, h.Key...)
			b = binary.AppendUvarint(b, uint64(len(h.Value)))
			b = append(b, h.Value...)
		}
	}
	w.n = len(b)
}

// spill writes the pending frame from byte done on, as far as the buffer
// allows, and reports whether the frame is now complete.
func (w *Writer) spill() bool {
	w.skip = w.done
	start := w.n
	complete := w.pieces()
	w.done += w.n - start
	return complete
}

// pieces walks the pending frame piece by piece, writing what is past skip.
func (w *Writer) pieces() bool {
	r := &w.rec
	var tmp [3*binary.MaxVarintLen64 + 1]byte
	if !w.put(appendHead(tmp[:0], r, w.body)) || !w.put(r.Key) {
		return false
	}
	if !w.put(binary.AppendUvarint(tmp[:0], uint64(len(r.Value)))) || !w.put(r.Value) {
		return false
	}
	if len(r.Headers) == 0 {
		return true
	}
	if !w.put(binary.AppendUvarint(tmp[:0], uint64(len(r.Headers)))) {
		return false
	}
	for i := range r.Headers {
		h := &r.Headers[i]
		if !w.put(binary.AppendUvarint(tmp[:0], uint64(len(h.Key)))) || !w.put(h.Key) ||
			!w.put(binary.AppendUvarint(tmp[:0], uint64(len(h.Value)))) || !w.put(h.Value) {
			return false
		}
	}
	return true
}

// put writes p, less what remains of skip, and reports whether all of it fit.
func (w *Writer) put(p []byte) bool {
	if w.skip >= len(p) {
		w.skip -= len(p)
		return true
	}
	p = p[w.skip:]
	w.skip = 0
	c := copy(w.buf[w.n:], p)
	w.n += c
	return c == len(p)
}
