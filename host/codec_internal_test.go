package host

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/host/abi"
)

func TestEntryRoundTrip(t *testing.T) {
	recs := []api.Record{
		{Key: []byte("k"), Value: []byte("value"), Timestamp: 42},
		{Value: []byte("no key"), Timestamp: api.NoTimestamp},
		{Key: []byte("h"), Headers: []api.Header{{Key: []byte("a"), Value: []byte("1")}, {Key: []byte("b")}}},
	}
	var b []byte
	for i := range recs {
		r := &recs[i]
		buf := make([]byte, entrySize(r.Key, r.Value, r.Headers))
		if n := putEntry(buf, abi.EntryOutput, 0, r.Key, r.Value, r.Timestamp, r.Headers); n != len(buf) {
			t.Fatalf("putEntry wrote %d of %d bytes", n, len(buf))
		}
		b = append(b, buf...)
	}
	var got []api.Record
	_, err := decodeOutput(b, abi.KindFlatMap, 3, 0, nil, sinkFunc(func(e *outEntry) error {
		r := api.Record{Key: bytes.Clone(e.rec.Key), Value: bytes.Clone(e.rec.Value), Timestamp: e.rec.Timestamp}
		for _, h := range e.rec.Headers {
			r.Headers = append(r.Headers, api.Header{Key: bytes.Clone(h.Key), Value: bytes.Clone(h.Value)})
		}
		got = append(got, r)
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || string(got[0].Value) != "value" || got[0].Timestamp != 42 || got[1].Timestamp != api.NoTimestamp ||
		len(got[2].Headers) != 2 || string(got[2].Headers[0].Value) != "1" || len(got[2].Headers[1].Value) != 0 {
		t.Fatalf("got %+v", got)
	}
}

// FuzzDecodeOutput: guest output is untrusted. Decoding must never panic,
// and every entry it accepts must lie within the buffer.
func FuzzDecodeOutput(f *testing.F) {
	buf := make([]byte, entrySize([]byte("k"), []byte("v"), []api.Header{{Key: []byte("h")}}))
	putEntry(buf, abi.EntryOutput, 0, []byte("k"), []byte("v"), 1, []api.Header{{Key: []byte("h")}})
	f.Add(buf, uint8(abi.KindMap))
	fw := make([]byte, abi.EntryHeaderSize)
	putEntry(fw, abi.EntryForward, 1, nil, nil, 0, nil)
	f.Add(fw, uint8(abi.KindFilter))
	f.Fuzz(func(t *testing.T, b []byte, kind uint8) {
		_, _ = decodeOutput(b, abi.OperatorKind(kind%9), 4, 2, nil, sinkFunc(func(e *outEntry) error {
			total := len(e.rec.Key) + len(e.rec.Value)
			for _, h := range e.rec.Headers {
				total += len(h.Key) + len(h.Value)
			}
			if total > len(b) {
				t.Fatalf("entry of %d bytes from %d bytes of output", total, len(b))
			}
			return nil
		}))
	})
}

// FuzzDescriptor: the module descriptor comes from the guest.
func FuzzDescriptor(f *testing.F) {
	var d []byte
	d = binary.LittleEndian.AppendUint32(d, 3)
	d = append(d, "sdk"...)
	d = binary.LittleEndian.AppendUint32(d, 1)
	d = binary.LittleEndian.AppendUint32(d, uint32(abi.KindMap))
	d = binary.LittleEndian.AppendUint32(d, 1)
	d = append(d, 'f')
	f.Add(d)
	f.Fuzz(func(t *testing.T, b []byte) {
		m := &Module{}
		if err := m.parseDescriptor(b); err == nil {
			for _, fn := range m.Functions {
				if fn.Name == "" || fn.Kind == 0 {
					t.Fatalf("accepted %+v", fn)
				}
			}
		}
	})
}

// FuzzDecodeList: list_update's argument comes from the guest.
func FuzzDecodeList(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 'x', 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		items, err := decodeList(b)
		if err != nil {
			return
		}
		n := 0
		for _, it := range items {
			n += 4 + len(it)
		}
		if n != len(b) {
			t.Fatalf("decoded %d bytes of %d", n, len(b))
		}
	})
}

// sinkFunc is an outputSink that is a function.
type sinkFunc func(e *outEntry) error

func (f sinkFunc) emit(e *outEntry) error { return f(e) }
