package network

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

const segSize = 256

func TestSendWaitsForCredit(t *testing.T) {
	f := newFixture(t, segSize, 4, 2)
	c := f.net.Channel(ChannelID{Job: "j"})
	g := NewInputGate([]*Channel{c}, []int{0})

	f.send(c, f.data("one"))
	f.send(c, f.data("two"))
	third := f.sendAsync(context.Background(), c, f.data("three"))
	if !blocked(third, 50*time.Millisecond) {
		t.Fatal("a third data buffer was accepted with 2 credits")
	}
	// Polling alone returns no credit: the consumer still holds the buffer.
	ch, b, ok := g.Poll()
	if !ok || show(b) != "data:one" {
		t.Fatalf("Poll = %d, %s, %v", ch, show(b), ok)
	}
	if !blocked(third, 20*time.Millisecond) {
		t.Fatal("Send resumed before the buffer was recycled")
	}
	start := time.Now()
	g.Recycle(ch, b)
	var r sent
	select {
	case r = <-third:
	case <-time.After(5 * time.Second):
		t.Fatal("Send did not resume after Recycle")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.waited < 10*time.Millisecond || r.waited > time.Since(start)+time.Minute {
		t.Errorf("Send reported %v of back pressure, want about 70ms", r.waited)
	}
	if got, want := pollAll(g), []string{"0/data:two", "0/data:three"}; !reflect.DeepEqual(got, want) {
		t.Errorf("then polled %q, want %q", got, want)
	}
}

func TestSendWithCreditDoesNotWait(t *testing.T) {
	f := newFixture(t, segSize, 3, 3)
	c := f.net.Channel(ChannelID{Job: "j"})
	g := NewInputGate([]*Channel{c}, []int{0})
	for range 10 { // credits come back, so this never blocks
		for _, p := range []string{"a", "b", "c"} {
			waited, err := c.Send(context.Background(), f.data(p))
			if err != nil || waited != 0 {
				t.Fatalf("Send with credit = %v, %v", waited, err)
			}
		}
		if got := pollAll(g); len(got) != 3 {
			t.Fatalf("polled %q", got)
		}
	}
}

func TestSendContextEnds(t *testing.T) {
	f := newFixture(t, segSize, 2, 1)
	c := f.net.Channel(ChannelID{Job: "j"})
	g := NewInputGate([]*Channel{c}, []int{0})
	f.send(c, f.data("one"))

	ctx, cancel := context.WithCancel(context.Background())
	second := f.sendAsync(ctx, c, f.data("two"))
	if !blocked(second, 20*time.Millisecond) {
		t.Fatal("Send without credit returned")
	}
	cancel()
	r := <-second
	if !errors.Is(r.err, context.Canceled) {
		t.Errorf("Send = %v, want context.Canceled", r.err)
	}
	if r.waited <= 0 {
		t.Errorf("waited %v, want the time blocked", r.waited)
	}
	// The buffer that was not sent went back to the pool.
	f.waitInUse(1)
	if got := pollAll(g); !reflect.DeepEqual(got, []string{"0/data:one"}) {
		t.Errorf("polled %q", got)
	}
}

func TestEventsNeedNoCredit(t *testing.T) {
	f := newFixture(t, segSize, 2, 1)
	c := f.net.Channel(ChannelID{Job: "j"})
	g := NewInputGate([]*Channel{c}, []int{0})
	f.send(c, f.data("d1")) // the only credit
	for _, e := range []Buffer{event(Barrier, 7), event(Watermark, 100), event(Idle, 1), event(Idle, 0), event(EndOfPartition, 0)} {
		f.send(c, e) // fails the test if it blocks
	}
	want := []string{"0/data:d1", "0/barrier:7", "0/watermark:100", "0/idle:1", "0/idle:0", "0/end-of-partition:0"}
	if got := pollAll(g); !reflect.DeepEqual(got, want) {
		t.Errorf("polled %q, want %q", got, want)
	}
}

func TestEventsStayInOrderWithData(t *testing.T) {
	f := newFixture(t, segSize, 4, 4)
	c := f.net.Channel(ChannelID{Job: "j"})
	g := NewInputGate([]*Channel{c}, []int{0})
	f.send(c, event(Watermark, 1))
	f.send(c, f.data("a"))
	f.send(c, event(Barrier, 1))
	f.send(c, f.data("b"))
	f.send(c, f.data("c"))
	f.send(c, event(Watermark, 2))
	f.send(c, f.data("d"))
	f.send(c, event(EndOfPartition, 0))
	want := []string{"0/watermark:1", "0/data:a", "0/barrier:1", "0/data:b", "0/data:c", "0/watermark:2", "0/data:d", "0/end-of-partition:0"}
	if got := pollAll(g); !reflect.DeepEqual(got, want) {
		t.Errorf("polled %q, want %q", got, want)
	}
}

func TestWatermarksCoalesce(t *testing.T) {
	tests := []struct {
		name string
		send []string // "wm:N", "data", "barrier", "idle"
		want []string
	}{
		{"consecutive watermarks keep the latest", []string{"wm:1", "wm:2", "wm:3"}, []string{"watermark:3"}},
		{"after data", []string{"data", "wm:1", "wm:2"}, []string{"data:x", "watermark:2"}},
		{"data between", []string{"wm:1", "data", "wm:2"}, []string{"watermark:1", "data:x", "watermark:2"}},
		{"barrier between", []string{"wm:1", "barrier", "wm:2", "wm:3"}, []string{"watermark:1", "barrier:9", "watermark:3"}},
		{"idle between", []string{"wm:1", "idle", "wm:2"}, []string{"watermark:1", "idle:1", "watermark:2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, segSize, 2, 2)
			c := f.net.Channel(ChannelID{Job: "j"})
			g := NewInputGate([]*Channel{c}, []int{0})
			for _, s := range tt.send {
				switch s {
				case "data":
					f.send(c, f.data("x"))
				case "barrier":
					f.send(c, event(Barrier, 9))
				case "idle":
					f.send(c, event(Idle, 1))
				default:
					var v int64
					for _, d := range s[len("wm:"):] {
						v = v*10 + int64(d-'0')
					}
					f.send(c, event(Watermark, v))
				}
			}
			var got []string
			for _, s := range pollAll(g) {
				got = append(got, s[len("0/"):])
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("polled %q, want %q", got, tt.want)
			}
		})
	}
}

// A watermark the consumer already took is not replaced: the next one queues.
func TestWatermarkAfterPollIsNotCoalesced(t *testing.T) {
	f := newFixture(t, segSize, 1, 1)
	c := f.net.Channel(ChannelID{Job: "j"})
	g := NewInputGate([]*Channel{c}, []int{0})
	f.send(c, event(Watermark, 1))
	if got := pollAll(g); !reflect.DeepEqual(got, []string{"0/watermark:1"}) {
		t.Fatalf("polled %q", got)
	}
	f.send(c, event(Watermark, 2))
	f.send(c, event(Watermark, 3))
	if got := pollAll(g); !reflect.DeepEqual(got, []string{"0/watermark:3"}) {
		t.Errorf("polled %q", got)
	}
}

// A producer may start before its consumer: what it sends waits in the
// channel and is delivered once the gate binds it.
func TestChannelBeforeGate(t *testing.T) {
	f := newFixture(t, segSize, 3, 2)
	id := ChannelID{Job: "j", Edge: 3, Producer: 1, Consumer: 0}
	producerSide := f.net.Channel(id)
	f.send(producerSide, f.data("early"))
	f.send(producerSide, event(Watermark, 5))
	f.send(producerSide, f.data("also early"))
	late := f.sendAsync(context.Background(), producerSide, f.data("waits for credit"))

	consumerSide := f.net.Channel(id)
	if consumerSide != producerSide {
		t.Fatal("Network.Channel returned two channels for one ID")
	}
	other := f.net.Channel(ChannelID{Job: "j", Edge: 3, Producer: 0, Consumer: 0})
	g := NewInputGate([]*Channel{other, consumerSide}, []int{0, 1})
	select {
	case <-g.Notify():
	default:
		t.Error("binding a channel with queued buffers did not notify")
	}
	if g.NumChannels() != 2 || g.Input(0) != 0 || g.Input(1) != 1 {
		t.Errorf("gate has %d channels with inputs %d, %d", g.NumChannels(), g.Input(0), g.Input(1))
	}
	// Hold the buffers so that no credit returns while checking.
	var got []string
	var held []Buffer
	for {
		ch, b, ok := g.Poll()
		if !ok {
			break
		}
		got = append(got, fmt.Sprintf("%d/%s", ch, show(b)))
		held = append(held, b)
	}
	want := []string{"1/data:early", "1/watermark:5", "1/data:also early"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("polled %q, want %q", got, want)
	}
	for _, b := range held {
		g.Recycle(1, b)
	}
	if r := <-late; r.err != nil {
		t.Fatal(r.err)
	}
	if got := pollAll(g); !reflect.DeepEqual(got, []string{"1/data:waits for credit"}) {
		t.Errorf("polled %q", got)
	}
}

func TestChannelIdentity(t *testing.T) {
	n := New(0)
	if n.Credits() != 1 {
		t.Errorf("Credits of New(0) = %d, want at least 1", n.Credits())
	}
	a := ChannelID{Job: "j", Edge: 1, Producer: 2, Consumer: 3}
	if n.Channel(a) != n.Channel(a) {
		t.Error("same ID, different channels")
	}
	for _, b := range []ChannelID{{Job: "k", Edge: 1, Producer: 2, Consumer: 3}, {Job: "j", Edge: 2, Producer: 2, Consumer: 3}, {Job: "j", Edge: 1, Producer: 3, Consumer: 3}, {Job: "j", Edge: 1, Producer: 2, Consumer: 4}} {
		if n.Channel(a) == n.Channel(b) {
			t.Errorf("%v and %v share a channel", a, b)
		}
	}
	if got := n.Channel(a).ID(); got != a {
		t.Errorf("ID = %v", got)
	}
	if got := a.String(); got != "j/edge-1/2->3" {
		t.Errorf("String = %q", got)
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{Data: "data", Watermark: "watermark", Barrier: "barrier", EndOfPartition: "end-of-partition", Idle: "idle", Kind(42): "unknown"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", k, got, want)
		}
	}
}

func TestPollRoundRobin(t *testing.T) {
	f := newFixture(t, segSize, 8, 4)
	cs := f.channels("j", 3)
	g := NewInputGate(cs, []int{0, 0, 0})
	if _, _, ok := g.Poll(); ok {
		t.Fatal("Poll of an empty gate returned a buffer")
	}
	for _, p := range []string{"a1", "a2", "a3"} {
		f.send(cs[0], f.data(p))
	}
	f.send(cs[1], f.data("b1"))
	f.send(cs[2], f.data("c1"))
	f.send(cs[2], event(Watermark, 1))
	f.send(cs[1], f.data("b2"))
	// Channels take turns in the order they first had data; one with
	// nothing left drops out.
	want := []string{"0/data:a1", "1/data:b1", "2/data:c1", "0/data:a2", "1/data:b2", "2/watermark:1", "0/data:a3"}
	if got := pollAll(g); !reflect.DeepEqual(got, want) {
		t.Errorf("polled %q, want %q", got, want)
	}
	if _, _, ok := g.Poll(); ok {
		t.Error("Poll after draining returned a buffer")
	}
}

func TestNotify(t *testing.T) {
	f := newFixture(t, segSize, 1, 1)
	cs := f.channels("j", 2)
	g := NewInputGate(cs, []int{0, 0})
	select {
	case <-g.Notify():
		t.Fatal("Notify fired on an empty gate")
	default:
	}
	f.goroutine(func() {
		time.Sleep(10 * time.Millisecond)
		_, _ = cs[1].Send(context.Background(), event(Barrier, 3))
	})
	select {
	case <-g.Notify():
	case <-time.After(5 * time.Second):
		t.Fatal("Notify did not fire for a buffer sent by another goroutine")
	}
	if got := pollAll(g); !reflect.DeepEqual(got, []string{"1/barrier:3"}) {
		t.Errorf("polled %q", got)
	}
}

func TestBlockUnblock(t *testing.T) {
	f := newFixture(t, segSize, 6, 4)
	cs := f.channels("j", 2)
	g := NewInputGate(cs, []int{0, 0})

	// Channel 0 delivered its barrier: alignment blocks it until channel 1's
	// barrier arrives. Data queued before and after Block waits.
	f.send(cs[0], f.data("a-before"))
	g.Block(0)
	f.send(cs[0], f.data("a-after"))
	f.send(cs[1], f.data("b1"))
	f.send(cs[1], event(Barrier, 1))
	if got, want := pollAll(g), []string{"1/data:b1", "1/barrier:1"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("polled %q while channel 0 is blocked, want %q", got, want)
	}
	f.send(cs[0], event(Watermark, 4))
	if got := pollAll(g); got != nil {
		t.Fatalf("polled %q from a blocked channel", got)
	}
	for len(g.Notify()) > 0 {
		<-g.Notify()
	}
	g.Unblock(0)
	select {
	case <-g.Notify():
	default:
		t.Error("Unblock of a channel with queued buffers did not notify")
	}
	want := []string{"0/data:a-before", "0/data:a-after", "0/watermark:4"}
	if got := pollAll(g); !reflect.DeepEqual(got, want) {
		t.Errorf("after Unblock polled %q, want %q", got, want)
	}

	// Unblocking an empty channel changes nothing; new data flows.
	g.Block(1)
	g.Unblock(1)
	f.send(cs[1], f.data("b2"))
	if got := pollAll(g); !reflect.DeepEqual(got, []string{"1/data:b2"}) {
		t.Errorf("polled %q", got)
	}
}

func TestGateClose(t *testing.T) {
	f := newFixture(t, segSize, 4, 1)
	cs := f.channels("j", 2)
	g := NewInputGate(cs, []int{0, 0})
	f.send(cs[0], f.data("queued"))
	f.send(cs[0], event(Watermark, 1))
	f.send(cs[1], f.data("queued too"))
	blockedSend := f.sendAsync(context.Background(), cs[1], f.data("blocked"))
	if !blocked(blockedSend, 20*time.Millisecond) {
		t.Fatal("Send without credit returned")
	}
	// The consumer is processing one buffer when it closes.
	ch, inHand, ok := g.Poll()
	if !ok || show(inHand) != "data:queued" {
		t.Fatalf("Poll = %s, %v", show(inHand), ok)
	}
	g.Close()

	// The blocked producer is let go, and what it sent is dropped.
	select {
	case r := <-blockedSend:
		if r.err != nil {
			t.Errorf("blocked Send after Close = %v, want nil", r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock the producer")
	}
	// Later sends are dropped at once, data and events alike.
	for range 3 {
		f.send(cs[0], f.data("late"))
	}
	f.send(cs[1], event(EndOfPartition, 0))
	if got := pollAll(g); got != nil {
		t.Errorf("polled %q after Close", got)
	}
	// Only the buffer in the consumer's hand is still out.
	f.waitInUse(1)
	g.Recycle(ch, inHand)
	f.waitInUse(0)
}

func TestNetworkRelease(t *testing.T) {
	f := newFixture(t, segSize, 6, 1)
	a := f.channels("a", 2)
	b := f.channels("b", 1)
	ga := NewInputGate(a, []int{0, 0})
	gb := NewInputGate(b, []int{0})
	f.send(a[0], f.data("a0"))
	f.send(a[1], f.data("a1"))
	f.send(b[0], f.data("b0"))
	stuck := f.sendAsync(context.Background(), a[0], f.data("a0 again"))
	if !blocked(stuck, 20*time.Millisecond) {
		t.Fatal("Send without credit returned")
	}

	f.net.Release("a")
	if r := <-stuck; r.err != nil {
		t.Errorf("Send blocked on a released channel = %v", r.err)
	}
	f.waitInUse(1) // only job b's buffer
	if got := pollAll(ga); got != nil {
		t.Errorf("polled %q from released channels", got)
	}
	if got := pollAll(gb); !reflect.DeepEqual(got, []string{"0/data:b0"}) {
		t.Errorf("job b polled %q, want its buffer", got)
	}
	// The ID names a fresh channel now, for a restarted job.
	id := ChannelID{Job: "a", Edge: 0, Producer: 0, Consumer: 0}
	if f.net.Channel(id) == a[0] {
		t.Error("Release kept the channel")
	}
	fresh := f.net.Channel(id)
	g := NewInputGate([]*Channel{fresh}, []int{0})
	f.send(fresh, f.data("new"))
	if got := pollAll(g); !reflect.DeepEqual(got, []string{"0/data:new"}) {
		t.Errorf("fresh channel polled %q", got)
	}
	f.net.Release("nothing") // no such job: no effect
}

// Recycle of an event returns nothing: events never took a credit.
func TestRecycleEvent(t *testing.T) {
	f := newFixture(t, segSize, 2, 1)
	c := f.net.Channel(ChannelID{Job: "j"})
	g := NewInputGate([]*Channel{c}, []int{0})
	f.send(c, event(Barrier, 1))
	ch, b, _ := g.Poll()
	g.Recycle(ch, b)
	f.send(c, f.data("one"))
	second := f.sendAsync(context.Background(), c, f.data("two"))
	if !blocked(second, 20*time.Millisecond) {
		t.Error("recycling an event granted a credit")
	}
	pollAll(g)
	if r := <-second; r.err != nil {
		t.Fatal(r.err)
	}
	pollAll(g)
}

// One producer and one consumer goroutine over several channels: every
// buffer arrives once, in order per channel, with credits bounding what is
// queued.
func TestConcurrentProducerConsumer(t *testing.T) {
	const channels, perChannel, credits = 3, 200, 2
	f := newFixture(t, segSize, channels*credits+1, credits)
	cs := f.channels("j", channels)
	g := NewInputGate(cs, []int{0, 0, 0})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f.goroutine(func() {
		for i := range perChannel {
			for c := range cs {
				seg, err := f.pool.Request(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				seg.Bytes()[0], seg.Bytes()[1] = byte(i), byte(i>>8)
				if _, err := cs[c].Send(ctx, Buffer{Kind: Data, Seg: seg, N: 2}); err != nil {
					t.Error(err)
					return
				}
				if i%50 == 0 {
					_, _ = cs[c].Send(ctx, event(Watermark, int64(i)))
				}
			}
		}
		for _, c := range cs {
			_, _ = c.Send(ctx, event(EndOfPartition, 0))
		}
	})
	next := make([]int, channels)
	ended := 0
	for ended < channels {
		ch, b, ok := g.Poll()
		if !ok {
			select {
			case <-g.Notify():
				continue
			case <-ctx.Done():
				t.Fatalf("consumer: %v after %v buffers", ctx.Err(), next)
			}
		}
		switch b.Kind {
		case Data:
			if got := int(b.Bytes()[0]) | int(b.Bytes()[1])<<8; got != next[ch] {
				t.Fatalf("channel %d: buffer %d, want %d", ch, got, next[ch])
			}
			next[ch]++
		case EndOfPartition:
			ended++
		}
		g.Recycle(ch, b)
	}
	for ch, n := range next {
		if n != perChannel {
			t.Errorf("channel %d delivered %d buffers, want %d", ch, n, perChannel)
		}
	}
}

// Moving a buffer through a channel allocates nothing, whether the consumer
// keeps up or runs a steady backlog.
func TestSendPollRecycleAllocatesNothing(t *testing.T) {
	for _, backlog := range []int{0, 3} {
		f := newFixture(t, segSize, backlog+1, backlog+1)
		c := f.net.Channel(ChannelID{Job: "j", Edge: backlog})
		g := NewInputGate([]*Channel{c}, []int{0})
		ctx := context.Background()
		for range backlog {
			f.send(c, f.data("queued"))
			f.send(c, event(Watermark, 1))
		}
		step := func() {
			if _, err := c.Send(ctx, Buffer{Kind: Data, Seg: f.pool.TryRequest(), N: 1}); err != nil {
				t.Fatal(err)
			}
			_, _ = c.Send(ctx, event(Barrier, 1))
			for range 2 {
				ch, b, ok := g.Poll()
				if !ok {
					t.Fatal("nothing to poll")
				}
				g.Recycle(ch, b)
			}
		}
		for range 10 {
			step()
		}
		// Count every allocation of 1000 steps: AllocsPerRun would round
		// an occasional regrowth of the queue down to zero.
		if allocs := testing.AllocsPerRun(1, func() {
			for range 1000 {
				step()
			}
		}); allocs != 0 {
			t.Errorf("backlog %d: %v allocations in 1000 Send+Poll+Recycle", backlog, allocs)
		}
		g.Close()
	}
}

// The channel queue against a plain slice model over a long random mix of
// sends and polls: same buffers, same order, watermarks coalesced the same
// way, while the queue's array is reused.
func TestQueueMatchesModel(t *testing.T) {
	const credits = 4
	f := newFixture(t, segSize, credits, credits)
	c := f.net.Channel(ChannelID{Job: "j"})
	g := NewInputGate([]*Channel{c}, []int{0})
	rng := rand.New(rand.NewPCG(1, 2))
	var model []string
	inFlight := 0 // data buffers queued: credits in use
	next := 0
	for step := range 20000 {
		switch op := rng.IntN(10); {
		case op < 4 && inFlight < credits:
			next++
			b := f.data(strconv.Itoa(next))
			if _, err := c.Send(context.Background(), b); err != nil {
				t.Fatal(err)
			}
			model = append(model, show(b))
			inFlight++
		case op < 6:
			next++
			e := event(Watermark, int64(next))
			f.send(c, e)
			if n := len(model); n > 0 && strings.HasPrefix(model[n-1], "watermark:") {
				model[n-1] = show(e)
			} else {
				model = append(model, show(e))
			}
		case op < 7:
			next++
			e := event(Barrier, int64(next))
			f.send(c, e)
			model = append(model, show(e))
		default:
			_, b, ok := g.Poll()
			if ok != (len(model) > 0) {
				t.Fatalf("step %d: Poll ok=%v with %d queued in the model", step, ok, len(model))
			}
			if !ok {
				continue
			}
			if got := show(b); got != model[0] {
				t.Fatalf("step %d: polled %s, model says %s", step, got, model[0])
			}
			model = model[1:]
			if b.Kind == Data {
				inFlight--
			}
			g.Recycle(0, b)
		}
	}
	for _, s := range pollAll(g) {
		if s[len("0/"):] != model[0] {
			t.Fatalf("draining: polled %s, model says %s", s, model[0])
		}
		model = model[1:]
	}
	if len(model) != 0 {
		t.Errorf("the model still has %q", model)
	}
}
