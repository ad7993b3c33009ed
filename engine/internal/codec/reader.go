package codec

import (
	"encoding/binary"
	"fmt"

	"github.com/freshet/freshet/engine/api"
)

// Reader states between buffers.
const (
	idle     uint8 = iota // at a frame boundary
	inPrefix              // inside a length prefix
	inBody                // inside a body
)

const (
	// eagerScratch: a spanning body up to this size gets its scratch memory
	// in one allocation; larger ones grow as their bytes arrive, so a forged
	// length costs memory only as fast as bytes come in.
	eagerScratch = 1 << 20
	// keptScratch: scratch memory larger than this is dropped after use
	// rather than kept for the next spanning record.
	keptScratch = 1 << 20
)

// Reader decodes the buffers of one channel, in order, into batches. The zero
// Reader is ready to use. A Reader is used by one goroutine.
type Reader struct {
	// MaxRecordSize is the largest body accepted; a larger length prefix is
	// corruption. Zero means DefaultMaxRecordSize.
	MaxRecordSize int

	state   uint8
	prefix  [binary.MaxVarintLen64]byte // a length prefix split across buffers
	prefixN int
	body    int    // length of the body being assembled
	partial []byte // the body being assembled
	done    []byte // the last assembled body; its records' views point here
	hdrs    []api.Header
	pos     int64 // stream offset of the current buffer's first byte
	err     error // sticky
}

// Pending reports whether the reader holds part of a record: a stream that
// ends now is truncated.
func (r *Reader) Pending() bool { return r.state != idle }

// Reset drops any partial record and a previous error, for reading a new
// stream (after a channel failure, say). Views returned earlier become
// invalid.
func (r *Reader) Reset() {
	r.state, r.prefixN, r.body = idle, 0, 0
	r.partial, r.done = r.partial[:0], r.done[:0]
	clear(r.hdrs)
	r.hdrs = r.hdrs[:0]
	r.pos, r.err = 0, nil
}

func (r *Reader) maxRecord() int {
	if r.MaxRecordSize > 0 {
		return r.MaxRecordSize
	}
	return DefaultMaxRecordSize
}

// Read appends every record that ends in buf to out, as views into buf or,
// for a record that began in an earlier buffer, into the reader's scratch
// memory. The views stay valid until the next Read or Reset. Bytes of a
// record that continues in the next buffer are kept by the reader.
//
// Malformed bytes give an error wrapping ErrCorrupt that says where in the
// stream they are. Records before the fault are in out. The error is sticky:
// every later Read returns it until Reset.
func (r *Reader) Read(buf []byte, out *api.Batch) error {
	if r.err != nil {
		return r.err
	}
	r.hdrs = r.hdrs[:0]
	if cap(r.done) > keptScratch {
		r.done = nil
	}
	p := 0
	if r.state == inPrefix {
		for p < len(buf) && r.state == inPrefix {
			c := buf[p]
			p++
			r.prefix[r.prefixN] = c
			r.prefixN++
			if c < 0x80 {
				v, n := binary.Uvarint(r.prefix[:r.prefixN])
				if n <= 0 {
					return r.fail(p-r.prefixN, "length prefix overflows 64 bits")
				}
				if err := r.checkBody(v, p-r.prefixN); err != nil {
					return err
				}
				r.body = int(v)
				r.state = idle
			} else if r.prefixN == len(r.prefix) {
				return r.fail(p-r.prefixN, "length prefix longer than %d bytes", len(r.prefix))
			}
		}
		if r.state == inPrefix {
			r.pos += int64(len(buf))
			return nil
		}
		if len(buf)-p >= r.body {
			if err := r.decodeInto(buf[p:p+r.body:p+r.body], out, p); err != nil {
				return err
			}
			p += r.body
		} else {
			r.startBody(r.body)
		}
	}
	if r.state == inBody {
		c := min(r.body-len(r.partial), len(buf)-p)
		r.appendPartial(buf[p : p+c])
		p += c
		if len(r.partial) < r.body {
			r.pos += int64(len(buf))
			return nil
		}
		if err := r.decodeInto(r.partial, out, p-r.body); err != nil {
			return err
		}
		r.partial, r.done = r.done[:0], r.partial
		r.state = idle
	}
	for p < len(buf) {
		v, n := binary.Uvarint(buf[p:])
		if n == 0 && len(buf)-p >= len(r.prefix) {
			return r.fail(p, "length prefix longer than %d bytes", len(r.prefix))
		}
		if n == 0 { // the prefix continues in the next buffer
			r.prefixN = copy(r.prefix[:], buf[p:])
			r.state = inPrefix
			break
		}
		if n < 0 {
			return r.fail(p, "length prefix overflows 64 bits")
		}
		if err := r.checkBody(v, p); err != nil {
			return err
		}
		start := p
		p += n
		if body := int(v); len(buf)-p >= body {
			if err := r.decodeInto(buf[p:p+body:p+body], out, start); err != nil {
				return err
			}
			p += body
			continue
		}
		r.startBody(int(v))
		r.appendPartial(buf[p:])
		break
	}
	r.pos += int64(len(buf))
	return nil
}

// checkBody validates a decoded body length.
func (r *Reader) checkBody(v uint64, at int) error {
	if v < minBody {
		return r.fail(at, "record body of %d bytes is shorter than the minimum %d", v, minBody)
	}
	if max := r.maxRecord(); v > uint64(max) {
		return r.fail(at, "record body of %d bytes exceeds the %d-byte limit", v, max)
	}
	return nil
}

// startBody begins assembling a body of n bytes in scratch memory.
func (r *Reader) startBody(n int) {
	r.state = inBody
	r.body = n
	r.partial = r.partial[:0]
	if n <= eagerScratch && cap(r.partial) < n {
		r.partial = make([]byte, 0, n)
	}
}

// appendPartial adds b to the body being assembled, growing the scratch at
// most to the body's size.
func (r *Reader) appendPartial(b []byte) {
	if need := len(r.partial) + len(b); need > cap(r.partial) {
		grown := make([]byte, len(r.partial), min(r.body, max(need, 2*cap(r.partial))))
		copy(grown, r.partial)
		r.partial = grown
	}
	r.partial = append(r.partial, b...)
}

// fail records and returns a corruption error at offset at of the current
// buffer.
func (r *Reader) fail(at int, format string, args ...any) error {
	r.err = fmt.Errorf("codec: reading record stream at offset %d: %s: %w", r.pos+int64(at), fmt.Sprintf(format, args...), ErrCorrupt)
	return r.err
}

// decodeInto decodes one body (whose frame starts at offset at of the current
// buffer) and appends it to out.
func (r *Reader) decodeInto(b []byte, out *api.Batch, at int) error {
	rec := api.Record{Timestamp: api.NoTimestamp}
	flags := b[0]
	if flags&^knownFlags != 0 {
		return r.fail(at, "unknown flags %#02x", flags)
	}
	i := 1
	if flags&flagTimestamp != 0 {
		ts, n := binary.Varint(b[i:])
		if n <= 0 {
			return r.fail(at, "bad timestamp")
		}
		rec.Timestamp = ts
		i += n
	}
	var ok bool
	if rec.Key, i, ok = field(b, i); !ok {
		return r.fail(at, "key runs past the %d-byte record body", len(b))
	}
	if rec.Value, i, ok = field(b, i); !ok {
		return r.fail(at, "value runs past the %d-byte record body", len(b))
	}
	if flags&flagHeaders != 0 {
		cnt, n := binary.Uvarint(b[i:])
		if n <= 0 {
			return r.fail(at, "bad header count")
		}
		i += n
		if cnt == 0 || cnt > uint64(len(b)-i)/2 {
			return r.fail(at, "header count %d does not fit the %d bytes left", cnt, len(b)-i)
		}
		start := len(r.hdrs)
		for range cnt {
			var h api.Header
			if h.Key, i, ok = field(b, i); !ok {
				return r.fail(at, "header key runs past the record body")
			}
			if h.Value, i, ok = field(b, i); !ok {
				return r.fail(at, "header value runs past the record body")
			}
			r.hdrs = append(r.hdrs, h)
		}
		rec.Headers = r.hdrs[start:len(r.hdrs):len(r.hdrs)]
	}
	if i != len(b) {
		return r.fail(at, "%d bytes left over after the record's last field", len(b)-i)
	}
	out.AppendView(rec)
	return nil
}

// field decodes a length-prefixed field of b at i. An empty field is nil.
func field(b []byte, i int) ([]byte, int, bool) {
	l, n := binary.Uvarint(b[i:])
	if n <= 0 {
		return nil, i, false
	}
	i += n
	if l > uint64(len(b)-i) {
		return nil, i, false
	}
	if l == 0 {
		return nil, i, true
	}
	end := i + int(l)
	return b[i:end:end], end, true
}
