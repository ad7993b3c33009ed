package api

// chunkSize is the size of one arena chunk of a Batch.
const chunkSize = 64 << 10

// Batch is an ordered group of records with an arena that owns their bytes.
// Emit copies a record into the arena; Reset forgets every record but keeps
// the memory, so a batch reused across calls allocates nothing in steady state.
//
// Records appended with AppendView are not copied: they point at memory the
// caller owns (for example a network buffer) and must outlive the batch's use.
type Batch struct {
	Records []Record

	chunks  [][]byte // arena chunks; chunks[cur][:off] is in use
	cur     int
	off     int
	headers []Header
}

// NewBatch returns a batch with room for capacity records.
func NewBatch(capacity int) *Batch {
	return &Batch{Records: make([]Record, 0, capacity)}
}

// Len is the number of records in the batch.
func (b *Batch) Len() int { return len(b.Records) }

// Reset empties the batch, keeping its memory.
func (b *Batch) Reset() {
	clear(b.Records) // drop views so the GC can collect what they pointed at
	b.Records = b.Records[:0]
	b.cur, b.off = 0, 0
	b.headers = b.headers[:0]
}

// Alloc returns n bytes of arena memory that live as long as the batch's
// current records. Operators build output values in it without allocating.
func (b *Batch) Alloc(n int) []byte {
	if n > chunkSize/4 {
		// Oversized values get memory of their own.
		return make([]byte, n)
	}
	if len(b.chunks) == 0 {
		b.chunks = append(b.chunks, make([]byte, chunkSize))
	}
	if b.off+n > chunkSize {
		b.cur++
		b.off = 0
		if b.cur == len(b.chunks) {
			b.chunks = append(b.chunks, make([]byte, chunkSize))
		}
	}
	s := b.chunks[b.cur][b.off : b.off+n : b.off+n]
	b.off += n
	return s
}

func (b *Batch) copyBytes(p []byte) []byte {
	if len(p) == 0 {
		return nil
	}
	s := b.Alloc(len(p))
	copy(s, p)
	return s
}

// Emit appends a copy of r to the batch. It implements Output.
func (b *Batch) Emit(r *Record) {
	rec := Record{Key: b.copyBytes(r.Key), Value: b.copyBytes(r.Value), Timestamp: r.Timestamp}
	if len(r.Headers) > 0 {
		start := len(b.headers)
		for i := range r.Headers {
			b.headers = append(b.headers, Header{Key: b.copyBytes(r.Headers[i].Key), Value: b.copyBytes(r.Headers[i].Value)})
		}
		rec.Headers = b.headers[start:len(b.headers):len(b.headers)]
	}
	b.Records = append(b.Records, rec)
}

// Append appends a record with the given key, value and timestamp, copying
// key and value into the arena.
func (b *Batch) Append(key, value []byte, ts int64) {
	b.Records = append(b.Records, Record{Key: b.copyBytes(key), Value: b.copyBytes(value), Timestamp: ts})
}

// AppendView appends r without copying its bytes.
func (b *Batch) AppendView(r Record) {
	b.Records = append(b.Records, r)
}

// EmitView appends r without copying its bytes. It implements ViewEmitter.
func (b *Batch) EmitView(r *Record) { b.Records = append(b.Records, *r) }
