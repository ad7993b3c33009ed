package freshet

import (
	"encoding/binary"
	"iter"
	"math"

	"github.com/freshet/freshet/sdk-go/internal/abi"
)

// NoTimestamp is the Timestamp of a record without event time.
const NoTimestamp int64 = math.MinInt64

// Header is one record header.
type Header struct {
	Key, Value []byte
}

// Record is an input record. Its slices are views into the host's batch,
// valid only until the function returns: copy what you keep.
type Record struct {
	Key       []byte
	Value     []byte
	Timestamp int64

	nHeaders   int
	rawHeaders []byte // header_count × (u32 klen, u32 vlen, key, value)
}

// HasTimestamp reports whether r carries event time.
func (r *Record) HasTimestamp() bool { return r.Timestamp != NoTimestamp }

// NumHeaders is the number of headers of r.
func (r *Record) NumHeaders() int { return r.nHeaders }

// Headers iterates over r's headers in order.
func (r *Record) Headers() iter.Seq2[[]byte, []byte] {
	return func(yield func(k, v []byte) bool) {
		b := r.rawHeaders
		for i := 0; i < r.nHeaders; i++ {
			kl := int(binary.LittleEndian.Uint32(b))
			vl := int(binary.LittleEndian.Uint32(b[4:]))
			b = b[abi.HeaderPrefixSize:]
			if !yield(b[:kl:kl], b[kl:kl+vl:kl+vl]) {
				return
			}
			b = b[kl+vl:]
		}
	}
}

// Header returns the value of the first header named key.
func (r *Record) Header(key string) ([]byte, bool) {
	for k, v := range r.Headers() {
		if string(k) == key {
			return v, true
		}
	}
	return nil, false
}

// Timer is a timer that fired.
type Timer struct {
	// Key is the key the timer was registered for.
	Key []byte
	// Namespace is empty for process functions.
	Namespace []byte
	Timestamp int64
	// ProcessingTime is true for processing-time timers, false for
	// event-time timers.
	ProcessingTime bool
}

// entry is one decoded input entry.
type entry struct {
	kind  abi.EntryKind
	extra uint32
	rec   Record
	size  int
}

// decodeEntry decodes the entry at the start of b.
func decodeEntry(b []byte, e *entry) bool {
	if len(b) < abi.EntryHeaderSize {
		return false
	}
	e.kind = abi.EntryKind(b[abi.OffEntryKind])
	hc := int(binary.LittleEndian.Uint16(b[abi.OffEntryHeaderCount:]))
	kl := uint64(binary.LittleEndian.Uint32(b[abi.OffEntryKeyLen:]))
	vl := uint64(binary.LittleEndian.Uint32(b[abi.OffEntryValueLen:]))
	e.extra = binary.LittleEndian.Uint32(b[abi.OffEntryExtra:])
	e.rec.Timestamp = int64(binary.LittleEndian.Uint64(b[abi.OffEntryTimestamp:]))
	p := b[abi.EntryHeaderSize:]
	if kl+vl > uint64(len(p)) {
		return false
	}
	e.rec.Key = p[:kl:kl]
	e.rec.Value = p[kl : kl+vl : kl+vl]
	p = p[kl+vl:]
	h := p
	for i := 0; i < hc; i++ {
		if len(p) < abi.HeaderPrefixSize {
			return false
		}
		hk := uint64(binary.LittleEndian.Uint32(p))
		hv := uint64(binary.LittleEndian.Uint32(p[4:]))
		p = p[abi.HeaderPrefixSize:]
		if hk+hv > uint64(len(p)) {
			return false
		}
		p = p[hk+hv:]
	}
	e.rec.nHeaders = hc
	e.rec.rawHeaders = h[:len(h)-len(p)]
	e.size = len(b) - len(p)
	return true
}
