package network

import (
	"context"
	"testing"

	"github.com/freshet/freshet/engine/memory"
)

const benchCredits = 8

func benchPool(b *testing.B) *memory.Pool {
	b.Helper()
	const segs = benchCredits + 1
	m, err := memory.NewManager(memory.Config{TotalBytes: segs << 15, SegmentSize: 32 << 10, ArenaBytes: segs << 15})
	if err != nil {
		b.Fatal(err)
	}
	p, err := m.CreatePool("bench", segs)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := m.Close(); err != nil {
			b.Error(err)
		}
	})
	return p
}

// BenchmarkSendPollRecycle measures the cost of moving one buffer through a
// channel: Send, Poll and Recycle (which returns the segment and the credit).
// The baselines move the same Buffer values through a buffered Go channel
// and release the segment, with no credits, gate or round robin.
func BenchmarkSendPollRecycle(b *testing.B) {
	ctx := context.Background()

	b.Run("network/one-goroutine", func(b *testing.B) {
		pool := benchPool(b)
		c := New(benchCredits).Channel(ChannelID{Job: "bench"})
		g := NewInputGate([]*Channel{c}, []int{0})
		b.ReportAllocs()
		for b.Loop() {
			seg := pool.TryRequest()
			if _, err := c.Send(ctx, Buffer{Kind: Data, Seg: seg, N: 100}); err != nil {
				b.Fatal(err)
			}
			ch, buf, ok := g.Poll()
			if !ok {
				b.Fatal("nothing to poll")
			}
			g.Recycle(ch, buf)
		}
	})

	b.Run("baseline-go-channel/one-goroutine", func(b *testing.B) {
		pool := benchPool(b)
		q := make(chan Buffer, benchCredits)
		b.ReportAllocs()
		for b.Loop() {
			q <- Buffer{Kind: Data, Seg: pool.TryRequest(), N: 100}
			buf := <-q
			buf.Seg.Release()
		}
	})

	b.Run("network/two-goroutines", func(b *testing.B) {
		pool := benchPool(b)
		c := New(benchCredits).Channel(ChannelID{Job: "bench"})
		g := NewInputGate([]*Channel{c}, []int{0})
		n := b.N
		done := make(chan error, 1)
		b.ReportAllocs()
		b.ResetTimer()
		go func() {
			for range n {
				seg, err := pool.Request(ctx)
				if err == nil {
					_, err = c.Send(ctx, Buffer{Kind: Data, Seg: seg, N: 100})
				}
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		for got := 0; got < n; {
			ch, buf, ok := g.Poll()
			if !ok {
				<-g.Notify()
				continue
			}
			g.Recycle(ch, buf)
			got++
		}
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	})

	b.Run("baseline-go-channel/two-goroutines", func(b *testing.B) {
		pool := benchPool(b)
		q := make(chan Buffer, benchCredits)
		n := b.N
		done := make(chan error, 1)
		b.ReportAllocs()
		b.ResetTimer()
		go func() {
			for range n {
				seg, err := pool.Request(ctx)
				if err != nil {
					done <- err
					return
				}
				q <- Buffer{Kind: Data, Seg: seg, N: 100}
			}
			done <- nil
		}()
		for range n {
			buf := <-q
			buf.Seg.Release()
		}
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	})
}
