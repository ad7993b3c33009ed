// Package codec serializes records into network buffers and reads them back
// without copying. It owns the wire format of records crossing a task
// boundary; the runtime owns the buffers (engine/memory segments), the
// channels that carry them and the control messages between them.
//
// # Format
//
// A channel carries a stream of frames, one per record. Buffers are slices of
// that stream: a frame may start in one buffer and end several buffers later,
// and a buffer boundary may fall anywhere, even inside a length prefix. A
// buffer carries no header of its own; its length is known from the channel.
//
//	frame   = uvarint(len(body)) body
//	body    = flags [ts] field(key) field(value) [headers]
//	flags   = 1 byte: bit 0 timestamp present, bit 1 headers present,
//	          bits 2-7 zero
//	ts      = zig-zag varint of the timestamp in ms; absent means NoTimestamp
//	headers = uvarint(n) n × (field(key) field(value)), n ≥ 1
//	field   = uvarint(len) len bytes
//
// Varints are those of encoding/binary (little-endian base 128). A record of
// 8-byte key, 80-byte value and a timestamp costs 6 bytes of framing beyond
// its payload plus the timestamp (6 bytes for current epoch milliseconds).
//
// The reader is strict: unknown flag bits, a header flag with zero headers, a
// field running past its body, bytes left over after the last field, a body
// shorter than 3 bytes or longer than the reader's MaxRecordSize are all
// corruption (ErrCorrupt). Empty keys, values and header fields decode as
// nil slices.
//
// # Buffers
//
// The Writer puts a record that fits in the rest of the buffer there whole.
// One that does not fit is split across buffers, except that a record small
// enough for one buffer is moved whole to the next buffer when splitting
// would leave only a small tail (at most 1/8 of the buffer) in this one: the
// reader reads unsplit records in place, split ones through a copy.
//
// The Reader returns records as views: into the buffer passed to Read for the
// records that lie entirely in it, into reader-owned scratch memory for the
// one record per buffer that began in earlier buffers. Both stay valid until
// the next Read call (or Reset), so a caller processes the batch fully before
// reading the next buffer, and recycles the buffer after that.
package codec

import (
	"encoding/binary"
	"errors"
	"math/bits"

	"github.com/freshet/freshet/engine/api"
)

// ErrCorrupt marks bytes that are not a valid record stream.
var ErrCorrupt = errors.New("corrupt record stream")

// DefaultMaxRecordSize is the largest record body a Reader accepts unless its
// MaxRecordSize says otherwise.
const DefaultMaxRecordSize = 64 << 20

const (
	flagTimestamp byte = 1 << 0
	flagHeaders   byte = 1 << 1
	knownFlags         = flagTimestamp | flagHeaders

	// minBody is flags plus two empty fields.
	minBody = 3
)

// uvarintLen is the encoded size of x as a uvarint.
func uvarintLen(x uint64) int { return (bits.Len64(x|1) + 6) / 7 }

// zigzag maps a signed value to the unsigned one binary.PutVarint encodes.
func zigzag(x int64) uint64 { return uint64(x<<1) ^ uint64(x>>63) }

// bodySize is the size of r's body.
func bodySize(r *api.Record) int {
	n := 1 + uvarintLen(uint64(len(r.Key))) + len(r.Key) + uvarintLen(uint64(len(r.Value))) + len(r.Value)
	if r.Timestamp != api.NoTimestamp {
		n += uvarintLen(zigzag(r.Timestamp))
	}
	if len(r.Headers) > 0 {
		n += uvarintLen(uint64(len(r.Headers)))
		for i := range r.Headers {
			h := &r.Headers[i]
			n += uvarintLen(uint64(len(h.Key))) + len(h.Key) + uvarintLen(uint64(len(h.Value))) + len(h.Value)
		}
	}
	return n
}

// FrameSize is the number of stream bytes r occupies, length prefix included.
// A runtime can compare it with the receiving side's MaxRecordSize before
// writing a record, to fail with a clear error rather than a corrupt stream.
func FrameSize(r *api.Record) int {
	b := bodySize(r)
	return uvarintLen(uint64(b)) + b
}

// BodySize is the size of r's body, the figure MaxRecordSize limits.
func BodySize(r *api.Record) int { return bodySize(r) }

// appendHead appends the frame's length prefix, flags, timestamp and key
// length to dst.
func appendHead(dst []byte, r *api.Record, body int) []byte {
	dst = binary.AppendUvarint(dst, uint64(body))
	var flags byte
	if r.Timestamp != api.NoTimestamp {
		flags |= flagTimestamp
	}
	if len(r.Headers) > 0 {
		flags |= flagHeaders
	}
	dst = append(dst, flags)
	if flags&flagTimestamp != 0 {
		dst = binary.AppendVarint(dst, r.Timestamp)
	}
	return binary.AppendUvarint(dst, uint64(len(r.Key)))
}
