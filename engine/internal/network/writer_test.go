package network

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/graph"
	"github.com/freshet/freshet/engine/keygroup"
)

const maxPar = 128

// writerSetup is a writer over n channels of one edge, bound to a gate.
type writerSetup struct {
	*fixture
	w  *RecordWriter
	g  *InputGate
	bp *atomic.Int64
}

func newWriterSetup(t *testing.T, segs, credits, n int, part graph.Partitioning, keySel graph.KeySelector, producer int) *writerSetup {
	f := newFixture(t, segSize, segs, credits)
	cs := f.channels("j", n)
	bp := new(atomic.Int64)
	w := NewRecordWriter(cs, f.pool, part, keySel, maxPar, producer, bp)
	g := NewInputGate(cs, make([]int, n))
	t.Cleanup(func() { w.Close(); g.Close() }) // runs before the fixture's leak checks
	return &writerSetup{fixture: f, w: w, g: g, bp: bp}
}

func (s *writerSetup) emit(recs ...rec) {
	s.t.Helper()
	if err := s.w.EmitBatch(context.Background(), batchOf(recs...)); err != nil {
		s.t.Fatal(err)
	}
}

func (s *writerSetup) flush() {
	s.t.Helper()
	if err := s.w.Flush(context.Background()); err != nil {
		s.t.Fatal(err)
	}
}

// received drains the gate and returns the records per channel.
func (s *writerSetup) received() *consumer {
	s.t.Helper()
	c := newConsumer(s.g)
	c.drain()
	if c.err != nil {
		s.t.Fatal(c.err)
	}
	for ch := range c.readers {
		if c.readers[ch].Pending() {
			s.t.Errorf("channel %d ends inside a record", ch)
		}
	}
	return c
}

func values(rs []rec) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Value)
	}
	return out
}

func numbered(n int) []rec {
	var vs []string
	for i := range n {
		vs = append(vs, fmt.Sprint(i))
	}
	return plain(vs...)
}

func TestForward(t *testing.T) {
	s := newWriterSetup(t, 4, 4, 1, graph.Forward, nil, 3)
	recs := []rec{
		{Key: "k1", Value: "v1", TS: 1000},
		{Value: "no key, no time", TS: api.NoTimestamp},
		{Key: "k2", Value: "", TS: -5, Headers: "trace=abc,origin=test"},
	}
	s.emit(recs...)
	s.flush()
	c := s.received()
	if !reflect.DeepEqual(c.records[0], recs) {
		t.Errorf("received %+v, want %+v", c.records[0], recs)
	}
}

func TestRebalanceRoundRobin(t *testing.T) {
	tests := []struct {
		producer, n int
		first       int // channel of the first record
	}{
		{0, 3, 1},
		{1, 3, 2},
		{2, 3, 0},
		// Producers beyond the consumer count keep spreading their start.
		{3, 3, 1},
		{4, 3, 2},
		{7, 2, 0},
		{0, 1, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("producer %d of %d", tt.producer, tt.n), func(t *testing.T) {
			s := newWriterSetup(t, 2*tt.n, 2, tt.n, graph.Rebalance, nil, tt.producer)
			const total = 10
			s.emit(numbered(total)...)
			s.flush()
			c := s.received()
			want := make([][]string, tt.n)
			for i := range total {
				ch := (tt.first + i) % tt.n
				want[ch] = append(want[ch], fmt.Sprint(i))
			}
			for ch := range tt.n {
				if got := values(c.records[ch]); !reflect.DeepEqual(got, want[ch]) {
					t.Errorf("channel %d got %q, want %q", ch, got, want[ch])
				}
			}
		})
	}
}

// Round robin continues across batches.
func TestRebalanceAcrossBatches(t *testing.T) {
	s := newWriterSetup(t, 4, 2, 2, graph.Rebalance, nil, 0)
	s.emit(plain("a")...)
	s.emit(plain("b", "c")...)
	s.emit(plain("d")...)
	s.flush()
	c := s.received()
	if got := [][]string{values(c.records[0]), values(c.records[1])}; !reflect.DeepEqual(got, [][]string{{"b", "d"}, {"a", "c"}}) {
		t.Errorf("channels got %q", got)
	}
}

func TestHashByKeyGroup(t *testing.T) {
	const n = 4
	s := newWriterSetup(t, 32, 8, n, graph.Hash, nil, 0)
	var recs []rec
	for i := range 200 {
		recs = append(recs, rec{Key: fmt.Sprintf("user-%d", i%50), Value: fmt.Sprint(i), TS: int64(i)})
	}
	s.emit(recs...)
	s.flush()
	c := s.received()
	total := 0
	for ch := range n {
		if len(c.records[ch]) == 0 {
			t.Errorf("channel %d got nothing of 50 keys", ch)
		}
		for _, r := range c.records[ch] {
			if want := keygroup.SubtaskOf([]byte(r.Key), n, maxPar); want != ch {
				t.Errorf("key %q went to channel %d, its key group belongs to %d", r.Key, ch, want)
			}
		}
		total += len(c.records[ch])
	}
	if total != len(recs) {
		t.Errorf("%d records arrived, want %d", total, len(recs))
	}
	// Records of one key keep their order.
	last := map[string]int64{}
	for ch := range n {
		for _, r := range c.records[ch] {
			if prev, ok := last[r.Key]; ok && r.TS <= prev {
				t.Errorf("key %q: record %d after %d", r.Key, r.TS, prev)
			}
			last[r.Key] = r.TS
		}
	}
}

// splitKey selects the part of the value before ':' as the key.
func splitKey(r *api.Record, dst []byte) ([]byte, error) {
	k, _, ok := bytes.Cut(r.Value, []byte(":"))
	if !ok {
		return nil, fmt.Errorf("value %q has no key", r.Value)
	}
	return append(dst, k...), nil
}

func TestHashWithKeySelector(t *testing.T) {
	const n = 3
	s := newWriterSetup(t, 2*n, 2, n, graph.Hash, splitKey, 0)
	var recs []rec
	for i := range 60 {
		// The record's own key is ignored: the selector's replaces it.
		recs = append(recs, rec{Key: "ignored", Value: fmt.Sprintf("k%d:%d", i%7, i), TS: api.NoTimestamp})
	}
	s.emit(recs...)
	s.flush()
	c := s.received()
	total := 0
	for ch := range n {
		for _, r := range c.records[ch] {
			wantKey, _, _ := strings.Cut(r.Value, ":")
			if r.Key != wantKey {
				t.Errorf("record %q arrived with key %q, want the selected %q", r.Value, r.Key, wantKey)
			}
			if want := keygroup.SubtaskOf([]byte(wantKey), n, maxPar); want != ch {
				t.Errorf("key %q went to channel %d, want %d", wantKey, ch, want)
			}
		}
		total += len(c.records[ch])
	}
	if total != len(recs) {
		t.Errorf("%d records arrived, want %d", total, len(recs))
	}
}

func TestKeySelectorError(t *testing.T) {
	s := newWriterSetup(t, 2, 2, 2, graph.Hash, splitKey, 0)
	err := s.w.EmitBatch(context.Background(), batchOf(plain("a:1", "no colon", "b:2")...))
	var ke *KeyError
	if !errors.As(err, &ke) {
		t.Fatalf("EmitBatch = %v, want a *KeyError", err)
	}
	if want := `selecting the key: value "no colon" has no key`; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if errors.Unwrap(err) == nil {
		t.Error("KeyError does not unwrap to the selector's error")
	}
	s.flush()
	c := s.received()
	if got := len(c.records[0]) + len(c.records[1]); got != 1 {
		t.Errorf("%d records before the failing one arrived, want 1", got)
	}
}

func TestBroadcast(t *testing.T) {
	const n = 3
	s := newWriterSetup(t, 2*n, 2, n, graph.Broadcast, nil, 1)
	recs := []rec{{Key: "a", Value: "1", TS: 1}, {Key: "b", Value: "2", TS: 2}}
	s.emit(recs...)
	s.flush()
	c := s.received()
	for ch := range n {
		if !reflect.DeepEqual(c.records[ch], recs) {
			t.Errorf("channel %d got %+v, want every record", ch, c.records[ch])
		}
	}
}

func TestFlushSendsPartialBuffers(t *testing.T) {
	s := newWriterSetup(t, 4, 2, 3, graph.Rebalance, nil, 2)
	s.emit(plain("x", "y")...) // to channels 0 and 1
	if got := pollAll(s.g); got != nil {
		t.Fatalf("polled %q before Flush: small records wait for a full buffer", got)
	}
	s.flush()
	s.flush() // nothing new: sends nothing
	c := s.received()
	want := [][]string{{"data"}, {"data"}, nil}
	if !reflect.DeepEqual(c.events, want) {
		t.Errorf("buffers per channel %q, want one partial buffer on channels 0 and 1", c.events)
	}
	if got := [][]string{values(c.records[0]), values(c.records[1])}; !reflect.DeepEqual(got, [][]string{{"x"}, {"y"}}) {
		t.Errorf("records %q", got)
	}
}

func TestFullBuffersGoWithoutFlush(t *testing.T) {
	s := newWriterSetup(t, 4, 4, 1, graph.Forward, nil, 0)
	val := strings.Repeat("v", 100)
	s.emit(plain(val, val, val)...) // more than one 256-byte segment
	c := newConsumer(s.g)
	c.drain()
	if len(c.events[0]) == 0 || len(c.records[0]) < 2 {
		t.Errorf("before Flush: %d buffers with %d records, want the full ones", len(c.events[0]), len(c.records[0]))
	}
}

func TestBroadcastEventFlushesFirst(t *testing.T) {
	const n = 2
	s := newWriterSetup(t, 2*n, 2, n, graph.Rebalance, nil, 1)
	s.emit(plain("a", "b", "c")...)
	if err := s.w.BroadcastEvent(context.Background(), event(Barrier, 42)); err != nil {
		t.Fatal(err)
	}
	s.emit(plain("d")...)
	if err := s.w.BroadcastEvent(context.Background(), event(EndOfPartition, 0)); err != nil {
		t.Fatal(err)
	}
	c := s.received()
	want := [][]string{
		{"data", "barrier:42", "end-of-partition:0"},
		{"data", "barrier:42", "data", "end-of-partition:0"},
	}
	if !reflect.DeepEqual(c.events, want) {
		t.Errorf("per channel %q, want %q", c.events, want)
	}
	if got := [][]string{values(c.records[0]), values(c.records[1])}; !reflect.DeepEqual(got, [][]string{{"a", "c"}, {"b", "d"}}) {
		t.Errorf("records %q", got)
	}
}

// Records larger than a segment are split over several buffers and arrive
// intact, while a concurrent consumer returns credits and segments: few
// credits and a small pool force the writer to wait for it.
func TestRecordsSpanSegments(t *testing.T) {
	const n = 2
	s := newWriterSetup(t, 3, 1, n, graph.Broadcast, nil, 0)
	var recs []rec
	for i := range 40 {
		size := []int{0, 10, 250, 1000, 3000}[i%5]
		recs = append(recs, rec{
			Key:     fmt.Sprintf("key-%d", i),
			Value:   strings.Repeat(string(rune('a'+i%26)), size),
			TS:      int64(i) * 1000,
			Headers: fmt.Sprintf("n=%d,pad=%s", i, strings.Repeat("h", i*7)),
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := newConsumer(s.g)
	done := make(chan error, 1)
	s.goroutine(func() { done <- c.run(ctx) })

	start := time.Now()
	for i := 0; i < len(recs); i += 7 {
		if err := s.w.EmitBatch(ctx, batchOf(recs[i:min(i+7, len(recs))]...)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.w.BroadcastEvent(ctx, event(EndOfPartition, 0)); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for ch := range n {
		if !reflect.DeepEqual(c.records[ch], recs) {
			for i := range min(len(recs), len(c.records[ch])) {
				if c.records[ch][i] != recs[i] {
					t.Errorf("channel %d record %d: got %.60q…, want %.60q…", ch, i, fmt.Sprint(c.records[ch][i]), fmt.Sprint(recs[i]))
					break
				}
			}
			t.Errorf("channel %d: %d records, want %d", ch, len(c.records[ch]), len(recs))
		}
		if buffers := len(c.events[ch]); buffers < 60 {
			t.Errorf("channel %d: %d buffers, want the records split over many", ch, buffers)
		}
	}
	if bp := time.Duration(s.bp.Load()); bp > elapsed {
		t.Errorf("back pressure %v exceeds the %v spent writing", bp, elapsed)
	}
}

// A writer without credit waits, and counts the wait as back pressure.
func TestBackPressureOnCredit(t *testing.T) {
	s := newWriterSetup(t, 8, 1, 1, graph.Forward, nil, 0)
	val := strings.Repeat("x", 240) // one record per 256-byte buffer
	done := make(chan error, 1)
	start := time.Now()
	s.goroutine(func() { done <- s.w.EmitBatch(context.Background(), batchOf(plain(val, val, val)...)) })
	// One buffer queued on the only credit, the next one filled: the writer
	// is now waiting in Send.
	s.waitInUse(2)
	if !blocked(done, 50*time.Millisecond) {
		t.Fatal("the writer did not wait for credit")
	}
	c := newConsumer(s.g)
	for len(c.records[0]) < 2 {
		c.drain()
		time.Sleep(time.Millisecond)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	if bp := time.Duration(s.bp.Load()); bp < 25*time.Millisecond || bp > elapsed {
		t.Errorf("back pressure %v, want about 50ms and at most %v", bp, elapsed)
	}
	s.flush()
	c.drain()
	if len(c.records[0]) != 3 {
		t.Errorf("%d records arrived", len(c.records[0]))
	}
}

// A writer whose pool is exhausted waits for a segment, and counts that wait
// as back pressure too.
func TestBackPressureOnSegments(t *testing.T) {
	s := newWriterSetup(t, 2, 8, 1, graph.Forward, nil, 0)
	val := strings.Repeat("x", 240)
	done := make(chan error, 1)
	s.goroutine(func() { done <- s.w.EmitBatch(context.Background(), batchOf(plain(val, val, val)...)) })
	s.waitInUse(2)
	if !blocked(done, 50*time.Millisecond) {
		t.Fatal("the writer did not wait for a segment")
	}
	// Taking a buffer does not free its segment; recycling it does.
	ch, b, ok := s.g.Poll()
	if !ok {
		t.Fatal("nothing queued")
	}
	if !blocked(done, 10*time.Millisecond) {
		t.Fatal("the writer went on before a segment was recycled")
	}
	s.g.Recycle(ch, b)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if bp := time.Duration(s.bp.Load()); bp < 25*time.Millisecond {
		t.Errorf("back pressure %v, want about 60ms", bp)
	}
	s.flush()
	c := s.received()
	if len(c.records[0]) != 2 {
		t.Errorf("%d more records arrived, want 2", len(c.records[0]))
	}
}

func TestEmitContextEnds(t *testing.T) {
	s := newWriterSetup(t, 4, 1, 1, graph.Forward, nil, 0)
	val := strings.Repeat("x", 240)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	s.goroutine(func() { done <- s.w.EmitBatch(ctx, batchOf(plain(val, val, val)...)) })
	s.waitInUse(2)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("EmitBatch = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("EmitBatch did not return when its context ended")
	}
	if bp := s.bp.Load(); bp <= 0 {
		t.Errorf("back pressure %v, want the time blocked", bp)
	}
	// What was not sent went back to the pool; the queued buffer waits.
	s.waitInUse(1)
}

func TestCloseReturnsHeldBuffers(t *testing.T) {
	s := newWriterSetup(t, 4, 2, 3, graph.Broadcast, nil, 0)
	s.emit(plain("partial")...)
	s.waitInUse(3) // one partly filled buffer per channel
	s.w.Close()
	s.waitInUse(0)
	s.w.Close() // idempotent
	if got := pollAll(s.g); got != nil {
		t.Errorf("Close sent %q; it only releases", got)
	}
}

// The writer's per-record path allocates nothing once its buffers exist.
func TestEmitAllocatesNothing(t *testing.T) {
	for _, tt := range []struct {
		name   string
		part   graph.Partitioning
		keySel graph.KeySelector
	}{
		{"forward", graph.Forward, nil},
		{"rebalance", graph.Rebalance, nil},
		{"hash", graph.Hash, nil},
		{"hash with key selector", graph.Hash, splitKey},
		{"broadcast", graph.Broadcast, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newWriterSetup(t, 8, 4, 2, tt.part, tt.keySel, 0)
			b := batchOf(rec{Key: "k", Value: "key:value", TS: 1}, rec{Key: "j", Value: "other:value", TS: 2})
			ctx := context.Background()
			emitDrain := func() {
				if err := s.w.EmitBatch(ctx, b); err != nil {
					t.Fatal(err)
				}
				for {
					ch, buf, ok := s.g.Poll()
					if !ok {
						break
					}
					s.g.Recycle(ch, buf)
				}
			}
			for range 100 {
				emitDrain() // warm up: key buffer, queues
			}
			if allocs := testing.AllocsPerRun(200, emitDrain); allocs != 0 {
				t.Errorf("%v allocations per batch", allocs)
			}
		})
	}
}
