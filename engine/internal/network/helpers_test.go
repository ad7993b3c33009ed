package network

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/internal/codec"
	"github.com/freshet/freshet/engine/memory"
)

// fixture is a memory manager with one producer pool and a network, checked
// at the end of the test for leaked segments and goroutines.
type fixture struct {
	t    *testing.T
	mem  *memory.Manager
	pool *memory.Pool
	net  *Network
	wg   sync.WaitGroup
}

// newFixture makes a pool of poolSegs segments of segSize bytes and a
// network granting credits per channel.
func newFixture(t *testing.T, segSize, poolSegs, credits int) *fixture {
	t.Helper()
	before := runtime.NumGoroutine()
	m, err := memory.NewManager(memory.Config{
		TotalBytes:  int64(segSize * poolSegs),
		SegmentSize: segSize,
		ArenaBytes:  int64(segSize * poolSegs),
	})
	if err != nil {
		t.Fatal(err)
	}
	pool, err := m.CreatePool("producer", poolSegs)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, mem: m, pool: pool, net: New(credits)}
	t.Cleanup(func() {
		// Every goroutine the test started has ended...
		done := make(chan struct{})
		go func() { f.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Errorf("test goroutines still running:\n%s", stacks())
			return
		}
		// ... and the package started none of its own.
		deadline := time.Now().Add(2 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			t.Errorf("%d goroutines before the test, %d after:\n%s", before, n, stacks())
		}
		// Every segment went back to its pool.
		if err := m.Close(); err != nil {
			t.Errorf("segments leaked: %v", err)
		}
	})
	return f
}

func stacks() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

// goroutine runs fn in a goroutine the fixture waits for.
func (f *fixture) goroutine(fn func()) {
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		fn()
	}()
}

// sent is the outcome of an asynchronous Send.
type sent struct {
	waited time.Duration
	err    error
}

// sendAsync sends b on c in a goroutine and reports the outcome.
func (f *fixture) sendAsync(ctx context.Context, c *Channel, b Buffer) <-chan sent {
	out := make(chan sent, 1)
	f.goroutine(func() {
		w, err := c.Send(ctx, b)
		out <- sent{w, err}
	})
	return out
}

// data returns a data buffer from the pool holding payload.
func (f *fixture) data(payload string) Buffer {
	f.t.Helper()
	seg := f.pool.TryRequest()
	if seg == nil {
		f.t.Fatalf("pool %q has no free segment", f.pool.Name())
	}
	n := copy(seg.Bytes(), payload)
	return Buffer{Kind: Data, Seg: seg, N: n}
}

// send sends b on c, failing the test if it does not return at once.
func (f *fixture) send(c *Channel, b Buffer) {
	f.t.Helper()
	select {
	case r := <-f.sendAsync(context.Background(), c, b):
		if r.err != nil {
			f.t.Fatalf("Send(%s): %v", show(b), r.err)
		}
	case <-time.After(5 * time.Second):
		f.t.Fatalf("Send(%s) blocked", show(b))
	}
}

func (f *fixture) inUse() int {
	for _, p := range f.mem.Stats().Pools {
		if p.Name == f.pool.Name() {
			return p.InUse
		}
	}
	return 0
}

// waitInUse waits until the pool has n segments out.
func (f *fixture) waitInUse(n int) {
	f.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for f.inUse() != n {
		if time.Now().After(deadline) {
			f.t.Fatalf("pool has %d segments out, want %d", f.inUse(), n)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

func (f *fixture) channels(job string, n int) []*Channel {
	out := make([]*Channel, n)
	for i := range out {
		out[i] = f.net.Channel(ChannelID{Job: job, Edge: 0, Producer: 0, Consumer: i})
	}
	return out
}

// show renders a buffer: "data:payload", "watermark:5", "barrier:7".
func show(b Buffer) string {
	if b.Kind == Data {
		return "data:" + string(b.Bytes())
	}
	return fmt.Sprintf("%s:%d", b.Kind, b.Value)
}

func event(k Kind, v int64) Buffer { return Buffer{Kind: k, Value: v} }

// pollAll polls g until it has nothing, recycling each buffer, and returns
// them as "channel/shown buffer".
func pollAll(g *InputGate) []string {
	var out []string
	for {
		ch, b, ok := g.Poll()
		if !ok {
			return out
		}
		out = append(out, fmt.Sprintf("%d/%s", ch, show(b)))
		g.Recycle(ch, b)
	}
}

// blocked reports whether nothing arrives on c within d.
func blocked[T any](c <-chan T, d time.Duration) bool {
	select {
	case <-c:
		return false
	case <-time.After(d):
		return true
	}
}

// rec is a decoded record, copied out of the network buffer.
type rec struct {
	Key, Value string
	TS         int64
	Headers    string
}

func recOf(r *api.Record) rec {
	var h []string
	for _, x := range r.Headers {
		h = append(h, string(x.Key)+"="+string(x.Value))
	}
	return rec{string(r.Key), string(r.Value), r.Timestamp, strings.Join(h, ",")}
}

func (r rec) record() api.Record {
	out := api.Record{Key: []byte(r.Key), Value: []byte(r.Value), Timestamp: r.TS}
	if r.Headers != "" {
		for _, kv := range strings.Split(r.Headers, ",") {
			k, v, _ := strings.Cut(kv, "=")
			out.Headers = append(out.Headers, api.Header{Key: []byte(k), Value: []byte(v)})
		}
	}
	return out
}

func batchOf(recs ...rec) *api.Batch {
	b := api.NewBatch(len(recs))
	for _, r := range recs {
		x := r.record()
		b.Emit(&x)
	}
	return b
}

func plain(values ...string) []rec {
	out := make([]rec, len(values))
	for i, v := range values {
		out[i] = rec{Value: v, TS: api.NoTimestamp}
	}
	return out
}

// consumer decodes what a gate delivers, per channel.
type consumer struct {
	g       *InputGate
	readers []codec.Reader
	batch   *api.Batch
	records [][]rec    // per channel
	events  [][]string // per channel, "data" for each data buffer
	ended   int
	err     error
}

func newConsumer(g *InputGate) *consumer {
	n := g.NumChannels()
	return &consumer{g: g, readers: make([]codec.Reader, n), batch: api.NewBatch(64), records: make([][]rec, n), events: make([][]string, n)}
}

// drain takes every buffer queued now.
func (c *consumer) drain() {
	for {
		ch, b, ok := c.g.Poll()
		if !ok {
			return
		}
		c.take(ch, b)
	}
}

func (c *consumer) take(ch int, b Buffer) {
	if b.Kind != Data {
		c.events[ch] = append(c.events[ch], show(b))
		if b.Kind == EndOfPartition {
			c.ended++
		}
		return
	}
	c.events[ch] = append(c.events[ch], "data")
	c.batch.Reset()
	if err := c.readers[ch].Read(b.Bytes(), c.batch); err != nil && c.err == nil {
		c.err = fmt.Errorf("channel %d: %w", ch, err)
	}
	for i := range c.batch.Records {
		c.records[ch] = append(c.records[ch], recOf(&c.batch.Records[i]))
	}
	c.g.Recycle(ch, b)
}

// run consumes until every channel has ended or ctx is done.
func (c *consumer) run(ctx context.Context) error {
	for c.ended < c.g.NumChannels() {
		c.drain()
		if c.ended == c.g.NumChannels() {
			break
		}
		select {
		case <-c.g.Notify():
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return c.err
}
