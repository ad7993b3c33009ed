package codec

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/api"
)

// baselineNsPerRecord is measured by BenchmarkCodec/baseline and used by
// BenchmarkCodec/codec, which runs after it, to report the ratio.
var baselineNsPerRecord float64

// BenchmarkCodec writes 100-byte records (16-byte key, 84-byte value, a
// timestamp) into 32 KiB buffers and reads them back; one op is one record
// written and read. The baseline does the same work by hand: the same bytes
// appended with binary.AppendUvarint into a []byte, parsed back with
// binary.Uvarint into the same kind of batch, without spanning or checks.
func BenchmarkCodec(b *testing.B) {
	rec := api.Record{Key: pattern(16, 1), Value: pattern(84, 2), Timestamp: time.Now().UnixMilli()}
	const seg = 32 << 10

	b.Run("baseline", func(b *testing.B) {
		buf := make([]byte, 0, seg)
		batch := api.NewBatch(1024)
		sum := 0
		read := func() {
			for p := 0; p < len(buf); {
				body, n := binary.Uvarint(buf[p:])
				p += n
				end := p + int(body)
				r := api.Record{Timestamp: api.NoTimestamp}
				q := p + 1
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
				batch.AppendView(r)
				p = end
			}
			for i := range batch.Records {
				sum += len(batch.Records[i].Value)
			}
			batch.Reset()
			buf = buf[:0]
		}
		frame := FrameSize(&rec)
		b.ReportAllocs()
		for b.Loop() {
			if len(buf)+frame > cap(buf) {
				read()
			}
			buf = binary.AppendUvarint(buf, uint64(frame-1))
			buf = append(buf, flagTimestamp)
			buf = binary.AppendVarint(buf, rec.Timestamp)
			buf = binary.AppendUvarint(buf, uint64(len(rec.Key)))
			buf = append(buf, rec.Key...)
			buf = binary.AppendUvarint(buf, uint64(len(rec.Value)))
			buf = append(buf, rec.Value...)
		}
		read()
		if sum == 0 {
			b.Fatal("baseline read nothing")
		}
		report(b)
		baselineNsPerRecord = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})

	b.Run("codec", func(b *testing.B) {
		p := newPipe(seg)
		b.ReportAllocs()
		for b.Loop() {
			p.write(&rec)
		}
		p.flush()
		if p.err != nil || p.records != b.N {
			b.Fatalf("read %d of %d records, err %v", p.records, b.N, p.err)
		}
		report(b)
		if baselineNsPerRecord > 0 {
			ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			b.ReportMetric(ns/baselineNsPerRecord, "x-baseline")
		}
	})
}

func report(b *testing.B) {
	ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(ns, "ns/record")
	b.ReportMetric(1e9/ns, "records/s")
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
