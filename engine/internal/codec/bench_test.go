package codec

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/api"
)

// handPipe is the baseline: the same bytes appended by hand with
// binary.AppendUvarint into a 32 KiB []byte and parsed back with
// binary.Uvarint into a batch of views, with no spanning and no checks.
type handPipe struct {
	buf   []byte
	batch *api.Batch
	sum   int
}

func (h *handPipe) write(rec *api.Record, frame int) {
	if len(h.buf)+frame > cap(h.buf) {
		h.read()
	}
	b := binary.AppendUvarint(h.buf, uint64(frame-1))
	b = append(b, flagTimestamp)
	b = binary.AppendVarint(b, rec.Timestamp)
	b = binary.AppendUvarint(b, uint64(len(rec.Key)))
	b = append(b, rec.Key...)
	b = binary.AppendUvarint(b, uint64(len(rec.Value)))
	h.buf = append(b, rec.Value...)
}

func (h *handPipe) read() {
	buf := h.buf
	for p := 0; p < len(buf); {
		body, n := binary.Uvarint(buf[p:])
		p += n
		end := p + int(body)
		q := p + 1
		var r api.Record
		ts, n := binary.Varint(buf[q:])
		r.Timestamp = ts
		q += n
		kl, n := binary.Uvarint(buf[q:])
		q += n
		r.Key = buf[q : q+int(kl)]
		q += int(kl)
		vl, n := binary.Uvarint(buf[q:])
		q += n
		r.Value = buf[q : q+int(vl)]
		h.batch.AppendView(r)
		p = end
	}
	for i := range h.batch.Records {
		h.sum += len(h.batch.Records[i].Value)
	}
	h.batch.Reset()
	h.buf = h.buf[:0]
}

// BenchmarkCodec writes 100-byte records (16-byte key, 84-byte value, a
// timestamp) into 32 KiB buffers and reads them back. One op is 1000 records
// through the codec and, interleaved so that both see the same machine load,
// 1000 records through the hand-written baseline (handPipe). Metrics:
// ns/record and records/s of the codec, base-ns/record of the baseline, and
// x-baseline, the codec's time over the baseline's.
func BenchmarkCodec(b *testing.B) {
	const seg, per = 32 << 10, 1000
	rec := api.Record{Key: pattern(16, 1), Value: pattern(84, 2), Timestamp: time.Now().UnixMilli()}
	frame := FrameSize(&rec)
	p := newPipe(seg)
	h := &handPipe{buf: make([]byte, 0, seg), batch: api.NewBatch(1024)}
	var codecNs, baseNs time.Duration
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		for range per {
			p.write(&rec)
		}
		t1 := time.Now()
		for range per {
			h.write(&rec, frame)
		}
		t2 := time.Now()
		codecNs += t1.Sub(t0)
		baseNs += t2.Sub(t1)
	}
	p.flush()
	h.read()
	if p.err != nil || p.records != b.N*per || h.sum != p.sum {
		b.Fatalf("codec read %d of %d records (err %v); value bytes %d, baseline %d", p.records, b.N*per, p.err, p.sum, h.sum)
	}
	n := float64(b.N * per)
	b.ReportMetric(float64(codecNs.Nanoseconds())/n, "ns/record")
	b.ReportMetric(n/codecNs.Seconds(), "records/s")
	b.ReportMetric(float64(baseNs.Nanoseconds())/n, "base-ns/record")
	b.ReportMetric(float64(codecNs)/float64(baseNs), "x-baseline")
}

// BenchmarkCodecSpanning writes and reads 96 KiB records, each spanning four
// 32 KiB buffers and assembled in the reader's scratch memory.
func BenchmarkCodecSpanning(b *testing.B) {
	rec := api.Record{Key: pattern(16, 1), Value: pattern(96<<10, 2), Timestamp: 1}
	p := newPipe(32 << 10)
	b.SetBytes(int64(FrameSize(&rec)))
	b.ReportAllocs()
	for b.Loop() {
		p.write(&rec)
	}
	p.flush()
	if p.err != nil || p.records != b.N {
		b.Fatalf("read %d of %d records, err %v", p.records, b.N, p.err)
	}
}
