package api

import "math"

// NoTimestamp is the Timestamp of a record that carries no event time.
const NoTimestamp int64 = math.MinInt64

// MinWatermark is the watermark before any event time is known.
const MinWatermark int64 = math.MinInt64

// MaxWatermark is the watermark that ends event time: a bounded input sends it
// when it is exhausted, so every window and event-time timer fires.
const MaxWatermark int64 = math.MaxInt64

// Header is one record header, as in Kafka.
type Header struct {
	Key   []byte
	Value []byte
}

// Record is one element of a stream. Key is empty until a key selector
// (KeyBy) sets it. Its slices are views; see the package invariants.
type Record struct {
	Key       []byte
	Value     []byte
	Timestamp int64
	Headers   []Header
}

// HasTimestamp reports whether r carries event time.
func (r *Record) HasTimestamp() bool { return r.Timestamp != NoTimestamp }

// Size is the number of payload bytes of r (key, value and headers).
func (r *Record) Size() int {
	n := len(r.Key) + len(r.Value)
	for i := range r.Headers {
		n += len(r.Headers[i].Key) + len(r.Headers[i].Value)
	}
	return n
}
