package codec

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"unsafe"

	"github.com/freshet/freshet/engine/api"
)

// writeAll serializes recs into buffers of segSize bytes with the Writer loop
// a channel uses, and returns the filled part of each buffer (copied, as a
// receiver would get it).
func writeAll(t testing.TB, recs []api.Record, segSize int) [][]byte {
	t.Helper()
	var out [][]byte
	var w Writer
	buf := make([]byte, segSize)
	w.SetBuffer(buf)
	send := func() {
		out = append(out, bytes.Clone(w.Filled()))
		clear(buf)
		w.SetBuffer(buf)
	}
	for i := range recs {
		if !w.Write(&recs[i]) {
			continue
		}
		send()
		for w.Continue() {
			send()
			if len(out) > 1<<20 {
				t.Fatal("writer makes no progress")
			}
		}
	}
	if w.Pending() {
		t.Fatal("writer pending after the loop")
	}
	if len(w.Filled()) > 0 {
		out = append(out, bytes.Clone(w.Filled()))
	}
	return out
}

// readAll decodes bufs in order, checking each buffer's records against want
// before the buffer is scribbled over (recycled), and returns how many
// records it saw.
func readAll(t testing.TB, bufs [][]byte, want []api.Record) {
	t.Helper()
	var r Reader
	batch := api.NewBatch(0)
	next := 0
	for i, b := range bufs {
		batch.Reset()
		if err := r.Read(b, batch); err != nil {
			t.Fatalf("buffer %d: %v", i, err)
		}
		for j := range batch.Records {
			if next >= len(want) {
				t.Fatalf("buffer %d: more records than written", i)
			}
			if err := sameRecord(&batch.Records[j], &want[next]); err != nil {
				t.Fatalf("buffer %d, record %d: %v", i, next, err)
			}
			next++
		}
		for k := range b { // the channel recycles the buffer
			b[k] = 0xAA
		}
	}
	if next != len(want) {
		t.Fatalf("read %d records, wrote %d", next, len(want))
	}
	if r.Pending() {
		t.Fatal("reader pending at the end of the stream")
	}
}

func sameRecord(got, want *api.Record) error {
	if !bytes.Equal(got.Key, want.Key) {
		return fmt.Errorf("key %q, want %q", trim(got.Key), trim(want.Key))
	}
	if !bytes.Equal(got.Value, want.Value) {
		return fmt.Errorf("value %q, want %q", trim(got.Value), trim(want.Value))
	}
	if got.Timestamp != want.Timestamp {
		return fmt.Errorf("timestamp %d, want %d", got.Timestamp, want.Timestamp)
	}
	if len(got.Headers) != len(want.Headers) {
		return fmt.Errorf("%d headers, want %d", len(got.Headers), len(want.Headers))
	}
	for i := range got.Headers {
		g, w := got.Headers[i], want.Headers[i]
		if !bytes.Equal(g.Key, w.Key) || !bytes.Equal(g.Value, w.Value) {
			return fmt.Errorf("header %d = %q:%q, want %q:%q", i, g.Key, g.Value, w.Key, w.Value)
		}
	}
	return nil
}

func trim(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

// pattern returns n bytes that differ by position and seed, so misplaced
// bytes are noticed.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) ^ seed
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	const seg = 32 << 10
	many := make([]api.Record, 5000)
	for i := range many {
		many[i] = api.Record{Value: []byte{byte(i)}, Timestamp: int64(i)}
	}
	empties := make([]api.Record, 3000)
	for i := range empties {
		empties[i].Timestamp = api.NoTimestamp
	}
	tests := []struct {
		name string
		recs []api.Record
	}{
		{"empty key and value", []api.Record{{Timestamp: api.NoTimestamp}}},
		{"empty key", []api.Record{{Value: []byte("v"), Timestamp: 5}}},
		{"empty value", []api.Record{{Key: []byte("k"), Timestamp: 5}}},
		{"no timestamp", []api.Record{{Key: []byte("k"), Value: []byte("v"), Timestamp: api.NoTimestamp}}},
		{"timestamps", []api.Record{
			{Value: []byte("zero"), Timestamp: 0},
			{Value: []byte("negative"), Timestamp: -1},
			{Value: []byte("far negative"), Timestamp: -62135596800000},
			{Value: []byte("now"), Timestamp: 1_760_000_000_000},
			{Value: []byte("max"), Timestamp: math.MaxInt64},
			{Value: []byte("min+1"), Timestamp: math.MinInt64 + 1},
		}},
		{"headers", []api.Record{
			{Key: []byte("k"), Value: []byte("v"), Timestamp: 1, Headers: []api.Header{{Key: []byte("trace"), Value: []byte("abc")}, {Key: []byte("empty")}, {}}},
			{Key: []byte("k2"), Timestamp: api.NoTimestamp, Headers: []api.Header{{Key: []byte("h"), Value: pattern(300, 1)}}},
		}},
		{"one byte", []api.Record{{Value: []byte{42}, Timestamp: api.NoTimestamp}}},
		{"exactly one segment of frame", []api.Record{{Value: pattern(seg-4, 2), Timestamp: api.NoTimestamp}}},
		{"segment size value", []api.Record{{Key: []byte("k"), Value: pattern(seg, 3), Timestamp: 9}}},
		{"three segments", []api.Record{{Key: pattern(100, 4), Value: pattern(3*seg, 5), Timestamp: -7}}},
		{"three segments of headers", []api.Record{{Value: []byte("v"), Timestamp: 1, Headers: []api.Header{
			{Key: pattern(seg, 6), Value: pattern(seg, 7)}, {Key: []byte("x"), Value: pattern(seg, 8)}}}}},
		{"large between small", []api.Record{
			{Value: []byte("a"), Timestamp: 1},
			{Value: pattern(2*seg+17, 9), Timestamp: 2},
			{Value: []byte("b"), Timestamp: 3},
			{Value: pattern(seg/2, 10), Timestamp: 4},
			{Value: pattern(seg/2, 11), Timestamp: 5},
			{Value: pattern(seg/2, 12), Timestamp: 6},
		}},
		{"many tiny", many},
		{"many empty", empties},
	}
	for _, tt := range tests {
		for _, segSize := range []int{64, 100, 4096, seg} {
			t.Run(fmt.Sprintf("%s/%d", tt.name, segSize), func(t *testing.T) {
				bufs := writeAll(t, tt.recs, segSize)
				for i, b := range bufs[:len(bufs)-1] {
					if len(b) == 0 {
						t.Fatalf("buffer %d sent empty", i)
					}
				}
				readAll(t, bufs, tt.recs)
			})
		}
	}
}

// TestSmallRecordsStayWhole checks the split policy: records much smaller
// than a buffer are never split, so the reader reads all of them in place.
func TestSmallRecordsStayWhole(t *testing.T) {
	recs := make([]api.Record, 2000)
	for i := range recs {
		recs[i] = api.Record{Key: pattern(16, byte(i)), Value: pattern(84, byte(i)), Timestamp: int64(i)}
	}
	bufs := writeAll(t, recs, 32<<10)
	var r Reader
	batch := api.NewBatch(0)
	for i, b := range bufs {
		batch.Reset()
		if err := r.Read(b, batch); err != nil {
			t.Fatal(err)
		}
		if r.Pending() {
			t.Fatalf("buffer %d ends inside a record", i)
		}
		if i < len(bufs)-1 && len(b) < 32<<10-FrameSize(&recs[0]) {
			t.Errorf("buffer %d sent with %d bytes, room was left", i, len(b))
		}
		for j := range batch.Records {
			v := batch.Records[j].Value
			if !within(v, b) {
				t.Fatalf("buffer %d record %d: value is not a view into the buffer", i, j)
			}
		}
	}
}

func within(v, b []byte) bool {
	p, lo := uintptr(unsafe.Pointer(unsafe.SliceData(v))), uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return p >= lo && p+uintptr(len(v)) <= lo+uintptr(len(b))
}

// TestSplitTail checks the other half of the policy: a record that fits in a
// buffer but not in a large remainder is split, not moved.
func TestSplitTail(t *testing.T) {
	recs := []api.Record{
		{Value: pattern(600, 1), Timestamp: api.NoTimestamp},
		{Value: pattern(600, 2), Timestamp: api.NoTimestamp},
	}
	bufs := writeAll(t, recs, 1000)
	if len(bufs) != 2 || len(bufs[0]) != 1000 {
		t.Fatalf("buffers of %d bytes, want the first one filled", lens(bufs))
	}
	readAll(t, bufs, recs)

	// With a small remainder the record moves whole.
	recs[0].Value = pattern(900, 3)
	bufs = writeAll(t, recs, 1000)
	if len(bufs) != 2 || len(bufs[0]) != FrameSize(&recs[0]) {
		t.Fatalf("buffers of %d bytes, want the second record moved whole", lens(bufs))
	}
	readAll(t, bufs, recs)
}

func lens(bufs [][]byte) []int {
	var n []int
	for _, b := range bufs {
		n = append(n, len(b))
	}
	return n
}

// randomRecord draws a record with sizes spread over several magnitudes.
func randomRecord(rng *rand.Rand) api.Record {
	size := func() int {
		switch rng.IntN(10) {
		case 0:
			return 0
		case 1, 2, 3, 4, 5:
			return rng.IntN(64)
		case 6, 7, 8:
			return rng.IntN(4096)
		default:
			return rng.IntN(200 << 10)
		}
	}
	bytesOf := func(n int) []byte {
		if n == 0 {
			return nil
		}
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	r := api.Record{Key: bytesOf(size() / 8), Value: bytesOf(size()), Timestamp: api.NoTimestamp}
	switch rng.IntN(4) {
	case 0:
	case 1:
		r.Timestamp = -rng.Int64()
	default:
		r.Timestamp = rng.Int64()
	}
	if rng.IntN(3) == 0 {
		for range 1 + rng.IntN(4) {
			r.Headers = append(r.Headers, api.Header{Key: bytesOf(rng.IntN(20)), Value: bytesOf(size() / 4)})
		}
	}
	return r
}

func TestRandomRoundTrip(t *testing.T) {
	rounds := 200
	if testing.Short() {
		rounds = 20
	}
	for round := range rounds {
		seed := uint64(round)
		rng := rand.New(rand.NewPCG(seed, 99))
		segSize := 64 + rng.IntN(64<<10-64+1)
		if round%4 == 0 {
			segSize = 64 + rng.IntN(200) // tiny buffers: prefixes split too
		}
		recs := make([]api.Record, 1+rng.IntN(60))
		for i := range recs {
			recs[i] = randomRecord(rng)
		}
		t.Run(fmt.Sprintf("seed%d-seg%d", seed, segSize), func(t *testing.T) {
			readAll(t, writeAll(t, recs, segSize), recs)
		})
	}
}

// TestSplitAnywhere re-slices one stream at every possible point: a buffer
// boundary may fall inside any prefix or field.
func TestSplitAnywhere(t *testing.T) {
	recs := []api.Record{
		{Key: []byte("key"), Value: pattern(200, 1), Timestamp: 1_760_000_000_000, Headers: []api.Header{{Key: []byte("h"), Value: []byte("v")}}},
		{Value: []byte("x"), Timestamp: api.NoTimestamp},
		{Key: pattern(130, 2), Value: pattern(20000, 3), Timestamp: -5},
	}
	stream := bytes.Join(writeAll(t, recs, 1<<20), nil)
	for cut := 0; cut <= len(stream); cut += 1 + cut/50 {
		for cut2 := cut; cut2 <= len(stream); cut2 += 1 + cut2/7 {
			bufs := [][]byte{bytes.Clone(stream[:cut]), bytes.Clone(stream[cut:cut2]), bytes.Clone(stream[cut2:])}
			readAll(t, bufs, recs)
		}
	}
}

func TestReaderCorrupt(t *testing.T) {
	valid := writeAll(t, []api.Record{{Key: []byte("k"), Value: []byte("v"), Timestamp: 1}}, 100)[0]
	tests := []struct {
		name  string
		bytes []byte
		want  string
	}{
		{"unknown flags", []byte{3, 0x04, 0, 0}, "unknown flags"},
		{"body too short", []byte{2, 0, 0}, "shorter than the minimum"},
		{"zero body", []byte{0}, "shorter than the minimum"},
		{"body over limit", []byte{0x80, 0x80, 0x80, 0x80, 0x01}, "exceeds the 1048576-byte limit"},
		{"prefix overflow", bytes.Repeat([]byte{0xff}, 11), "overflows"},
		{"key past body", []byte{3, 0, 5, 0}, "key runs past"},
		{"value past body", []byte{4, 0, 1, 'k', 9}, "value runs past"},
		{"trailing bytes", []byte{5, 0, 0, 0, 'x', 'y'}, "left over"},
		{"zero headers", []byte{4, 0x02, 0, 0, 0}, "header count 0"},
		{"too many headers", []byte{5, 0x02, 0, 0, 9, 0}, "header count 9"},
		{"header past body", []byte{6, 0x02, 0, 0, 1, 7, 0}, "header key runs past"},
		{"bad timestamp", []byte{4, 0x01, 0xff, 0xff, 0xff}, "timestamp"},
		{"garbage after valid", append(bytes.Clone(valid), 1), "shorter than the minimum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Reader{MaxRecordSize: 1 << 20}
			batch := api.NewBatch(0)
			err := r.Read(tt.bytes, batch)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrCorrupt mentioning %q", err, tt.want)
			}
			// Sticky until Reset.
			if err2 := r.Read(valid, batch); err2 != err {
				t.Errorf("Read after corruption: %v, want the same error", err2)
			}
			r.Reset()
			batch.Reset()
			if err := r.Read(valid, batch); err != nil || batch.Len() != 1 {
				t.Errorf("Read after Reset: %v, %d records", err, batch.Len())
			}
		})
	}
}

func TestReaderOffsetInError(t *testing.T) {
	var r Reader
	bufs := writeAll(t, []api.Record{{Value: pattern(150, 1), Timestamp: 1}, {Value: []byte("x"), Timestamp: 2}}, 100)
	stream := append(bytes.Join(bufs, nil), 2, 9, 9) // a bad frame at the end
	batch := api.NewBatch(0)
	if err := r.Read(stream[:120], batch); err != nil {
		t.Fatal(err)
	}
	err := r.Read(stream[120:], batch)
	want := fmt.Sprintf("offset %d:", len(stream)-3)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want it at %q", err, want)
	}
	if batch.Len() != 2 {
		t.Errorf("%d records before the fault, want 2", batch.Len())
	}
}

func TestReaderPendingAndReset(t *testing.T) {
	stream := writeAll(t, []api.Record{{Value: pattern(500, 1), Timestamp: 1}}, 1000)[0]
	var r Reader
	batch := api.NewBatch(0)
	if err := r.Read(stream[:300], batch); err != nil {
		t.Fatal(err)
	}
	if !r.Pending() || batch.Len() != 0 {
		t.Fatalf("Pending %v with %d records after half a record", r.Pending(), batch.Len())
	}
	r.Reset()
	if r.Pending() {
		t.Fatal("Pending after Reset")
	}
	// After Reset the stream starts afresh: the tail alone is garbage...
	if err := r.Read(stream[300:], batch); !errors.Is(err, ErrCorrupt) {
		t.Errorf("tail after Reset: %v", err)
	}
	// ...and a whole stream reads fine.
	r.Reset()
	if err := r.Read(stream, batch); err != nil || batch.Len() != 1 {
		t.Errorf("after Reset: %v, %d records", err, batch.Len())
	}
}

func TestWriteWhilePendingPanics(t *testing.T) {
	var w Writer
	w.SetBuffer(make([]byte, 64))
	big := api.Record{Value: pattern(500, 1)}
	if !w.Write(&big) || !w.Pending() {
		t.Fatal("a record larger than the buffer did not leave the writer pending")
	}
	defer func() {
		if recover() == nil {
			t.Error("Write while pending did not panic")
		}
	}()
	w.Write(&big)
}

func TestFrameSize(t *testing.T) {
	for _, r := range []api.Record{
		{Timestamp: api.NoTimestamp},
		{Key: pattern(200, 1), Value: pattern(20000, 2), Timestamp: -1, Headers: []api.Header{{Key: []byte("a")}}},
	} {
		if got, want := FrameSize(&r), len(bytes.Join(writeAll(t, []api.Record{r}, 1<<20), nil)); got != want {
			t.Errorf("FrameSize = %d, wrote %d", got, want)
		}
	}
}

// TestZeroAllocs writes and reads 100-byte records (with and without
// headers) in steady state without allocating.
func TestZeroAllocs(t *testing.T) {
	for _, headers := range []bool{false, true} {
		t.Run(fmt.Sprintf("headers=%v", headers), func(t *testing.T) {
			rec := api.Record{Key: pattern(16, 1), Value: pattern(84, 2), Timestamp: 1_760_000_000_000}
			if headers {
				rec.Headers = []api.Header{{Key: []byte("trace"), Value: []byte("0123456789")}, {Key: []byte("x"), Value: []byte("y")}}
			}
			p := newPipe(32 << 10)
			run := func() {
				for range 1000 {
					p.write(&rec)
				}
			}
			run() // warm up: batch and header arena reach their size
			run()
			if a := testing.AllocsPerRun(20, run); a != 0 {
				t.Errorf("%v allocations per 1000 records", a)
			}
			if p.records == 0 || p.err != nil {
				t.Fatalf("pipe read %d records, err %v", p.records, p.err)
			}
		})
	}
}

// pipe is a writer and reader joined by two recycled buffers, the way a
// local channel uses them.
type pipe struct {
	w       Writer
	r       Reader
	bufs    [2][]byte
	cur     int
	batch   *api.Batch
	records int
	sum     int
	err     error
}

func newPipe(segSize int) *pipe {
	p := &pipe{batch: api.NewBatch(1024)}
	p.bufs[0], p.bufs[1] = make([]byte, segSize), make([]byte, segSize)
	p.w.SetBuffer(p.bufs[0])
	return p
}

func (p *pipe) write(rec *api.Record) {
	if !p.w.Write(rec) {
		return
	}
	p.flush()
	for p.w.Continue() {
		p.flush()
	}
}

// flush reads the filled buffer and hands the writer the other one.
func (p *pipe) flush() {
	if err := p.r.Read(p.w.Filled(), p.batch); err != nil && p.err == nil {
		p.err = err
	}
	for i := range p.batch.Records {
		p.sum += len(p.batch.Records[i].Value)
	}
	p.records += p.batch.Len()
	p.batch.Reset()
	p.cur ^= 1
	p.w.SetBuffer(p.bufs[p.cur])
}

// TestLongPrefixAcrossBuffers: ten continuation bytes that end a buffer are
// already too long a prefix; the next buffer must not extend it.
func TestLongPrefixAcrossBuffers(t *testing.T) {
	for cut := 1; cut <= 11; cut++ {
		stream := append(bytes.Repeat([]byte{0xff}, 10), 0x01, 0, 0, 0)
		var r Reader
		batch := api.NewBatch(0)
		err := r.Read(stream[:cut], batch)
		if err == nil {
			err = r.Read(stream[cut:], batch)
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("cut at %d: err = %v, want ErrCorrupt", cut, err)
		}
	}
}
