package codec

import (
	"bytes"
	"errors"
	"testing"

	"github.com/freshet/freshet/engine/api"
)

// decoded is a deep copy of what a Reader produced, so it outlives the views.
type decoded struct {
	recs    []api.Record
	err     error
	pending bool
}

// decodeSplit reads data in buffers of size bytes and copies every record.
func decodeSplit(data []byte, size int) decoded {
	var r Reader
	r.MaxRecordSize = 1 << 16 // keep the fuzzer's forged lengths cheap
	batch := api.NewBatch(0)
	var d decoded
	for len(data) > 0 && d.err == nil {
		n := min(size, len(data))
		buf := bytes.Clone(data[:n]) // the reader may keep nothing of it
		data = data[n:]
		batch.Reset()
		d.err = r.Read(buf, batch)
		for i := range batch.Records {
			var c api.Batch
			c.Emit(&batch.Records[i])
			d.recs = append(d.recs, c.Records[0])
		}
		clear(buf)
	}
	d.pending = r.Pending()
	return d
}

// FuzzReader feeds arbitrary bytes, cut into buffers of arbitrary size. The
// reader must not panic, must report only ErrCorrupt, and must decode the
// same records however the stream is cut.
func FuzzReader(f *testing.F) {
	var seeds [][]api.Record
	seeds = append(seeds,
		[]api.Record{{Key: []byte("k"), Value: []byte("v"), Timestamp: 1}},
		[]api.Record{{Timestamp: api.NoTimestamp}, {Value: pattern(300, 1), Timestamp: -3, Headers: []api.Header{{Key: []byte("h"), Value: []byte("x")}}}},
	)
	for _, recs := range seeds {
		stream := bytes.Join(writeAll(f, recs, 1<<20), nil)
		f.Add(stream, uint16(7))
		f.Add(stream[:len(stream)-1], uint16(1))
		f.Add(append(stream, 0xff, 0x80), uint16(300))
	}
	f.Add([]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, uint16(3))
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		whole := decodeSplit(data, len(data)+1)
		cut := decodeSplit(data, 1+int(split))
		for _, d := range []decoded{whole, cut} {
			if d.err != nil && !errors.Is(d.err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", d.err)
			}
		}
		if (whole.err == nil) != (cut.err == nil) || (whole.err == nil && whole.pending != cut.pending) || len(whole.recs) != len(cut.recs) {
			t.Fatalf("whole: %d records, err %v, pending %v; cut every %d: %d records, err %v, pending %v",
				len(whole.recs), whole.err, whole.pending, 1+int(split), len(cut.recs), cut.err, cut.pending)
		}
		for i := range whole.recs {
			if err := sameRecord(&cut.recs[i], &whole.recs[i]); err != nil {
				t.Fatalf("record %d differs when cut: %v", i, err)
			}
		}
	})
}

// FuzzRoundTrip writes one record between two others into buffers of
// arbitrary size and reads all three back.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("key"), []byte("value"), []byte("h"), []byte("hv"), int64(1), true, uint16(64))
	f.Add([]byte{}, []byte{}, []byte{}, []byte{}, int64(api.NoTimestamp), false, uint16(0))
	f.Add([]byte{}, bytes.Repeat([]byte("x"), 5000), []byte{}, []byte{}, int64(-1), true, uint16(100))
	f.Fuzz(func(t *testing.T, key, value, hk, hv []byte, ts int64, headers bool, seg uint16) {
		rec := api.Record{Key: key, Value: value, Timestamp: ts}
		if headers {
			rec.Headers = []api.Header{{Key: hk, Value: hv}, {Key: hv, Value: hk}}
		}
		recs := []api.Record{{Value: []byte("before"), Timestamp: 1}, rec, {Key: []byte("after"), Timestamp: api.NoTimestamp}}
		readAll(t, writeAll(t, recs, 1+int(seg)), recs)
	})
}
